-- Cairn's schema. Payloads are `json`, never `jsonb`: jsonb reorders keys and drops
-- duplicates, which would change what users see.

-- Definitions are stored once and shared by every execution that ran them.
create table definitions (
    id bigserial primary key,
    digest text not null unique,
    body text not null
);

create table state_machines (
    arn text primary key,
    name text not null,
    type text not null check (type in ('STANDARD', 'EXPRESS')),
    definition_id bigint not null references definitions (id),
    role_arn text not null,
    status text not null default 'ACTIVE',
    revision_id text not null,
    description text,
    logging_configuration json,
    tracing_configuration json,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table tags (
    resource_arn text not null,
    key text not null,
    value text not null,
    primary key (resource_arn, key)
);

create table executions (
    arn text primary key,
    state_machine_arn text not null,
    name text not null,
    -- the definition as it was when the execution started
    definition_id bigint not null references definitions (id),
    role_arn text not null,
    status text not null check (status in ('RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED')),
    input json not null,
    output json,
    error text,
    cause text,
    started_at timestamptz not null,
    stopped_at timestamptz,
    -- the interpreter's snapshot; null until the first step has run
    snapshot json,
    version bigint not null default 0,
    history_length bigint not null default 0
);
create index executions_by_machine on executions (state_machine_arn, started_at desc, arn);

-- Dense per execution, from 1, as GetExecutionHistory shows them.
create table history_events (
    execution_arn text not null,
    id bigint not null,
    previous_event_id bigint not null,
    at timestamptz not null,
    type text not null,
    details json not null,
    primary key (execution_arn, id)
);

-- Events waiting to be applied to an execution: its start, task results, stops, and
-- timers (a row whose due_at is in the future). The scheduler consumes a row in the same
-- transaction that applies it.
create table inbox (
    id bigserial primary key,
    execution_arn text not null,
    due_at timestamptz not null,
    timer_id bigint,
    event json not null
);
create index inbox_by_due on inbox (due_at);
create index inbox_by_execution on inbox (execution_arn, id);
create unique index inbox_timer on inbox (execution_arn, timer_id) where timer_id is not null;

-- Task invocations to carry out. A worker leases a row (lease_until); an expired lease
-- is taken over by another worker.
create table tasks (
    id bigserial primary key,
    execution_arn text not null,
    task_id bigint not null,
    state_name text not null,
    resource text not null,
    input json not null,
    timeout_seconds bigint,
    heartbeat_seconds bigint,
    attempt bigint not null,
    lease_owner text,
    lease_until timestamptz,
    created_at timestamptz not null default now(),
    unique (execution_arn, task_id)
);
create index tasks_by_lease on tasks (lease_until nulls first, id);

create table activities (
    arn text primary key,
    name text not null unique,
    created_at timestamptz not null default now()
);

-- Callback tokens (.waitForTaskToken, activities). Only a hash of the token is kept.
create table task_tokens (
    token_hash text primary key,
    execution_arn text not null,
    task_id bigint not null,
    created_at timestamptz not null default now(),
    heartbeat_at timestamptz
);
create index task_tokens_by_task on task_tokens (execution_arn, task_id);
