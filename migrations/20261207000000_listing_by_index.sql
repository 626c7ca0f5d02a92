-- ListExecutions (and the console's executions list) pages newest first: by
-- (started_at, arn) descending, resuming after the last row of the previous page. With
-- both columns descending in the index, a page is one range of it read in order, however
-- deep the page; the old indexes had `arn` ascending, so each page read every execution
-- of the machine and sorted them. A status filter has an index of its own: without it,
-- listing the FAILED among 100,000 SUCCEEDED reads them all. Indexing `status` costs one
-- index entry when an execution ends (the steps before it stay HOT updates: they change
-- neither column).
drop index executions_by_machine;
create index executions_by_machine on executions (state_machine_arn, started_at desc, arn desc);
create index executions_by_machine_status
    on executions (state_machine_arn, status, started_at desc, arn desc);
drop index executions_by_version;
create index executions_by_version on executions (state_machine_version_arn, started_at desc, arn desc)
    where state_machine_version_arn is not null;
drop index executions_by_alias;
create index executions_by_alias on executions (state_machine_alias_arn, started_at desc, arn desc)
    where state_machine_alias_arn is not null;
