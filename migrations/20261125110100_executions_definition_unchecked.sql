-- The foreign key from executions to definitions made every StartExecution lock the
-- definition's row (FOR KEY SHARE). Executions of one machine all share that row, so
-- concurrent starts queued on it and turned each lock into a new multixact: the most
-- expensive part of a start. Definitions are never deleted or re-keyed (a body is stored
-- once and only ever inserted), and a start takes definition_id from the machine's row
-- in the same statement, so the reference holds without the check.
alter table executions drop constraint executions_definition_id_fkey;
