-- A STANDARD Distributed Map's iterations are child executions: each row names its Map
-- Run and item index, and where in the parent's definition (the row's definition_id)
-- the ItemProcessor it runs sits, as a list of {"state", "branch"} steps. `parent_arn`
-- holds the parent execution (without a parent task: no `.sync` link).
alter table executions add column map_run_arn text;
alter table executions add column map_index bigint;
alter table executions add column map_processor json;

-- ListExecutions(mapRunArn), newest first as for a machine, and the children a
-- stopped run stops.
create index executions_by_map_run on executions (map_run_arn, started_at desc, arn)
    where map_run_arn is not null;
