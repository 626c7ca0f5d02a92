-- Map Runs: one row per run of a Distributed Map, overwritten by each advance that
-- changes it (DescribeMapRun, ListMapRuns, UpdateMapRun). Counts are of items;
-- `pending` is what the others leave of `total`. A redrive of the execution runs the
-- run's failed iterations again: `redrive_count` up, `redrive_date` then.
create table map_runs (
    arn text primary key,
    execution_arn text not null,
    status text not null,
    started_at timestamptz not null,
    stopped_at timestamptz,
    max_concurrency bigint not null,
    tolerated_failure_count bigint not null,
    tolerated_failure_percentage double precision not null,
    total bigint not null,
    running bigint not null,
    succeeded bigint not null,
    failed bigint not null,
    aborted bigint not null default 0,
    redrive_count bigint not null default 0,
    redrive_date timestamptz
);

create index map_runs_by_execution on map_runs (execution_arn, started_at, arn);
