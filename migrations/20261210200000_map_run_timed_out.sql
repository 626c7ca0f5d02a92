-- DescribeMapRun's `timedOut`: the items whose child timed out (a STANDARD child
-- execution that ended TIMED_OUT, an EXPRESS iteration past its five minutes). They are
-- not counted in `failed` (AWS counts them apart; total is the sum). Rows written before
-- this column read 0, with their timed-out children still in `failed`.
alter table map_runs add column timed_out bigint not null default 0;
