-- Tracing (OpenTelemetry): one trace per execution, continued by every replica that
-- advances it, even after a restart. Null when tracing was off at StartExecution.
--
-- trace_parent: the W3C traceparent of the execution's own span (its trace id and
--   span id, and whether the trace is sampled);
-- trace_caller_span: the span id of the caller whose traceparent StartExecution
--   carried, the execution span's parent; null when the execution began its own trace;
-- trace_state: the caller's W3C tracestate, passed on to targets.
alter table executions add column trace_parent text;
alter table executions add column trace_caller_span text;
alter table executions add column trace_state text;
-- The traceparent a worker's task attempt span takes as its parent: the span of the
-- state visit the task belongs to. Null when the execution is not traced.
alter table tasks add column trace_parent text;
alter table tasks add column trace_state text;
