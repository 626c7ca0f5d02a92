-- Retention (CAIRN_RETENTION): the purge finds closed executions oldest end first. A
-- partial index holds only closed executions, so running ones cost it nothing; an
-- execution enters it in the update that ends it, which already writes a new entry into
-- `executions_by_machine_status` (the steps before it stay HOT updates).
create index executions_closed on executions (stopped_at) where status <> 'RUNNING';
