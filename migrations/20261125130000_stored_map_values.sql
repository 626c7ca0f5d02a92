-- Large inline Maps keep their items, results and input here rather than in the
-- execution's snapshot (`Limits::store_map_items_over`), so each advance rewrites a
-- snapshot the size of the running iterations instead of all the Map's data.
--
-- `map_key` is the id of the Map run's MapStateStarted event; `kind` is 0 for an item
-- not started yet, 1 for an iteration's result, 2 for the state's input. Rows are
-- written once and deleted when the Map run or the execution ends.
create table stored_map_values (
    execution_arn text not null,
    map_key bigint not null,
    kind smallint not null,
    idx bigint not null,
    value json not null,
    primary key (execution_arn, map_key, kind, idx)
);

-- What the next advance must load of those rows (`Snapshot::wanted`), as JSON; null
-- when nothing.
alter table executions add column wanted json;
