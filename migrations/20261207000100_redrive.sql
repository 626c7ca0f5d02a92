-- RedriveExecution: how many times an execution was redriven and when last, and the
-- client tokens of its recent redrives, which are answered again rather than redriving
-- anew (AWS keeps the last 10, for 15 minutes).
alter table executions
    add column redrive_count integer not null default 0,
    add column redrive_date timestamptz;

create table execution_redrives (
    execution_arn text not null,
    client_token text not null,
    redriven_at timestamptz not null,
    primary key (execution_arn, client_token)
);
