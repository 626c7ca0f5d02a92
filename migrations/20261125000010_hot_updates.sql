-- Every step of an execution rewrites its row (snapshot, version, history length), and
-- none of those columns is indexed. Free space on each page lets Postgres keep the new
-- version on the same page (a HOT update) instead of writing a new index entry per step.
alter table executions set (fillfactor = 70);
-- Task rows change their lease columns once between insert and delete.
alter table tasks set (fillfactor = 70);
