-- History is written as one row per advance instead of one row per event: a run of
-- events that commit together (a Task's `TaskStateExited`, the next state's
-- `TaskStateEntered`, `TaskScheduled`, `TaskStarted`, ...) shares one heap tuple and one
-- index entry. `tasks3` records 17 events in 4 advances; inserting them as 4 rows instead
-- of 17 takes about a third of the time and half the disk (docs/benchmarks.md).
--
-- `events` is a JSON array of [id, previous_event_id, at, type, details], ids dense and
-- ascending from `first_id` to `last_id`.
create table history_batches (
    execution_arn text not null,
    first_id bigint not null,
    last_id bigint not null,
    events json not null,
    primary key (execution_arn, first_id)
);

insert into history_batches (execution_arn, first_id, last_id, events)
select execution_arn, id, id,
       json_build_array(json_build_array(id, previous_event_id,
                                         to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                                         type, details))
from history_events;

drop table history_events;
