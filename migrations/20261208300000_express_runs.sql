-- Asynchronous Express executions in flight (StartExecution on an EXPRESS machine),
-- kept so that a replica's crash runs them again elsewhere: AWS's at-least-once
-- contract for asynchronous Express workflows. A row is written before StartExecution
-- answers and deleted when the run ends; AWS keeps no history of Express executions,
-- and neither does Cairn, so the table only ever holds the runs in flight.
--
-- `owner` is the replica running it; it renews `lease_until` while it runs (one
-- statement per renew period for all its runs). A replica finding a lease expired
-- takes the run over (`takeovers` + 1) and runs it again from the start.
create table express_runs (
    arn text primary key,
    state_machine_arn text not null,
    state_machine_name text not null,
    -- The definition the run started with: an update of the machine does not change it.
    definition_id bigint not null references definitions (id),
    role_arn text not null,
    -- The machine's loggingConfiguration and tracingConfiguration, as JSON text.
    logging text,
    tracing text,
    name text not null,
    input json not null,
    started_at timestamptz not null,
    owner text not null,
    lease_until timestamptz not null,
    takeovers integer not null default 0
);

-- The takeover loop's scan: the oldest expired leases first.
create index express_runs_by_lease on express_runs (lease_until);
