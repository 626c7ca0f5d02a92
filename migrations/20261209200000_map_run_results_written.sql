-- DescribeMapRun's `resultsWritten`: the items whose results a ResultWriter wrote to
-- S3, set by the commit that takes in the write's end (0 until then, and for a Map
-- without a writer).
alter table map_runs add column results_written bigint not null default 0;
