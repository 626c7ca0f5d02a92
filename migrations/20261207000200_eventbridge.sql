-- EventBridge and EventBridge Scheduler: buses, rules, targets, events, the deliveries
-- PutEvents and schedules queue, schedule groups and schedules. Definitions a client
-- sent are kept as it sent them (text: targets and schedules are answered back as given).

create table event_buses (
    name text primary key,
    arn text not null unique,
    description text,
    created_at timestamptz not null,
    modified_at timestamptz not null
);

create table event_rules (
    arn text primary key,
    bus text not null,
    name text not null,
    event_pattern text,
    schedule_expression text,
    state text not null,
    description text,
    role_arn text,
    created_at timestamptz not null,
    -- a scheduled rule's next fire; null when it has none
    next_fire_at timestamptz,
    unique (bus, name)
);
create index event_rules_due on event_rules (next_fire_at) where next_fire_at is not null;

create table event_targets (
    rule_arn text not null,
    id text not null,
    arn text not null,
    spec text not null,
    position bigserial,
    primary key (rule_arn, id)
);

-- Accepted events, as delivered (the envelope).
create table events (
    id text primary key,
    bus text not null,
    event json not null,
    arrived_at timestamptz not null
);

-- One execution to start per row: a rule's target matched by an event, or a schedule's
-- fire whose start was refused. A row is removed by the transaction that starts its
-- execution; one that gave up is `dead` until its dead-letter queue has it.
create table event_deliveries (
    id bigserial primary key,
    source_arn text not null,
    target_id text not null,
    machine_arn text not null,
    execution_name text not null,
    input text not null,
    dead_letter_arn text,
    dead_letter_body text not null,
    max_retries bigint not null,
    max_age_seconds bigint not null,
    arrived_at timestamptz not null,
    retries bigint not null default 0,
    due_at timestamptz not null,
    dead boolean not null default false,
    error text not null default '',
    cause text not null default '',
    exhausted text,
    lease_until timestamptz
);
create index event_deliveries_due on event_deliveries (due_at) where not dead;
create index event_deliveries_dead on event_deliveries (id) where dead;

create table schedule_groups (
    name text primary key,
    arn text not null unique,
    created_at timestamptz not null,
    modified_at timestamptz not null
);

create table schedules (
    arn text primary key,
    group_name text not null,
    name text not null,
    state text not null,
    spec text not null,
    created_at timestamptz not null,
    modified_at timestamptz not null,
    -- the occurrence the next fire is for, and when that fire happens
    next_occurrence timestamptz,
    fire_at timestamptz,
    unique (group_name, name)
);
create index schedules_due on schedules (fire_at) where fire_at is not null and state = 'ENABLED';
