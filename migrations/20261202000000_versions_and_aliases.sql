-- Versions and aliases. A version is an immutable snapshot of a machine's revision,
-- numbered per machine from 1 and never renumbered (a deleted number is not reused); an
-- alias routes starts to one or two versions by weight.

-- AWS gives a machine a revision id only once it is updated; a machine never updated has
-- none. A revision changes only when an update changes something.
alter table state_machines alter column revision_id drop not null;
update state_machines set revision_id = null where updated_at = created_at;
-- The number the next published version takes.
alter table state_machines add column next_version bigint not null default 1;

create table state_machine_versions (
    machine_arn text not null,
    version bigint not null,
    definition_id bigint not null,
    role_arn text not null,
    logging_configuration json,
    tracing_configuration json,
    -- the machine's revision the version was published from; null for a machine not yet
    -- updated
    revision_id text,
    description text,
    created_at timestamptz not null default now(),
    primary key (machine_arn, version)
);

create table state_machine_aliases (
    arn text primary key,
    machine_arn text not null,
    name text not null,
    description text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index state_machine_aliases_by_machine on state_machine_aliases (machine_arn, arn);

-- An alias's routing configuration: one or two versions, weights summing to 100.
create table state_machine_alias_routes (
    alias_arn text not null,
    position int not null,
    version_arn text not null,
    weight int not null,
    primary key (alias_arn, position)
);
create index state_machine_alias_routes_by_version on state_machine_alias_routes (version_arn);

-- What an execution was started through: the version that ran, and the alias that chose it.
alter table executions add column state_machine_version_arn text;
alter table executions add column state_machine_alias_arn text;
create index executions_by_version on executions (state_machine_version_arn, started_at desc, arn)
    where state_machine_version_arn is not null;
create index executions_by_alias on executions (state_machine_alias_arn, started_at desc, arn)
    where state_machine_alias_arn is not null;
