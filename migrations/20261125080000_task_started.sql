-- A task's start (TaskStarted) is recorded when a worker first leases it, as AWS records
-- it when the task begins — not with its outcome, which a time-out or a stop may never
-- bring. The flag keeps a takeover after an expired lease from recording it twice.
alter table tasks add column started boolean not null default false;
