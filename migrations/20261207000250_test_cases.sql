-- Executions started under a test case of the mock configuration (CAIRN_MOCK_CONFIG;
-- StartExecution on `…:stateMachine:NAME#CASE`, as Step Functions Local does).
create table execution_test_cases (
    execution_arn text primary key,
    test_case text not null
);

-- How many times each mocked state of such an execution has been invoked: the next
-- invocation's number, which picks its mocked response.
create table mocked_invocations (
    execution_arn text not null,
    state_name text not null,
    invocations bigint not null,
    primary key (execution_arn, state_name)
);
