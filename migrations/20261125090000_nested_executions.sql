-- Nested executions (`arn:aws:states:::states:startExecution…`): the execution whose Task
-- state started this one, and whether that task waits for this one's end.
alter table executions add column parent_arn text;
-- The interpreter's task id of the parent's Task state that started this execution.
alter table executions add column parent_task_id bigint;
-- 'sync' or 'sync:2' when the parent's task waits for this execution to end (its end then
-- enqueues the parent's task outcome in the same transaction); null otherwise.
alter table executions add column parent_waits text check (parent_waits in ('sync', 'sync:2'));
create index executions_by_parent on executions (parent_arn, parent_task_id)
    where parent_arn is not null;
