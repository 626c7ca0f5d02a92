-- A lease changes lease_owner, lease_until and started. With lease_until indexed, every
-- lease wrote a new entry into each of the table's indexes; without it the lease is a HOT
-- update (fillfactor 70 leaves the room). Workers find leasable rows by scanning the
-- primary key in id order: the table holds only tasks not yet done, and the leased ones a
-- scan passes over are at most the workers' concurrency.
drop index tasks_by_lease;
