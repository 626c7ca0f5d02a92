//! Executions started under a test case of the mock configuration (`CAIRN_MOCK_CONFIG`,
//! `StartExecution` on `…:stateMachine:NAME#CASE`, as Step Functions Local does), and
//! how many times each mocked state of such an execution has been invoked.
//!
//! Kept beside the executions, not in them: the API records the test case before it
//! starts the execution (so no worker can lease one of its tasks without seeing it), and
//! forgets it again if the start did not create an execution. The worker that leases a
//! task of such an execution counts the state's invocation here, shared by every
//! replica, and answers with the mocked response of that number.

use std::future::Future;

use crate::Result;

/// The test cases of executions, and their mocked invocations.
pub trait TestCases: Send + Sync {
    /// Records that `execution_arn` runs `test_case`; `false` when it already had one
    /// (which is kept).
    fn attach_test_case(
        &self,
        execution_arn: &str,
        test_case: &str,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Forgets the test case of `execution_arn` (its start created nothing).
    fn detach_test_case(&self, execution_arn: &str) -> impl Future<Output = Result<()>> + Send;

    /// The test case `execution_arn` runs, if any.
    fn test_case_of(
        &self,
        execution_arn: &str,
    ) -> impl Future<Output = Result<Option<String>>> + Send;

    /// Counts one more invocation of `state_name` in `execution_arn`; returns its number
    /// (0 for the first).
    fn next_mocked_invocation(
        &self,
        execution_arn: &str,
        state_name: &str,
    ) -> impl Future<Output = Result<u64>> + Send;
}
