-- Callbacks: task tokens that can be closed, heartbeats, and activity task queues.

-- A token row outlives its task as a tombstone (closed_at set), so that a used or
-- expired token answers TaskTimedOut, as AWS does, rather than InvalidToken.
alter table task_tokens add column closed_at timestamptz;
-- The task's HeartbeatSeconds: SendTaskHeartbeat moves the heartbeat timer by this much.
alter table task_tokens add column heartbeat_seconds bigint;

-- Activity tasks waiting for a GetActivityTask. Workers never lease these: they are not
-- in `tasks`. The token is kept in clear only until a poller takes the row (it must be
-- handed to the poller); task_tokens keeps only its hash.
create table activity_tasks (
    execution_arn text not null,
    task_id bigint not null,
    activity_arn text not null,
    input json not null,
    token text not null,
    heartbeat_seconds bigint,
    created_at timestamptz not null default now(),
    primary key (execution_arn, task_id)
);
create index activity_tasks_by_activity on activity_tasks (activity_arn, created_at);
