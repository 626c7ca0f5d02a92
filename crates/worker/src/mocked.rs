//! Tasks of executions started under a test case of the mock configuration
//! (`CAIRN_MOCK_CONFIG`, `StartExecution` on `…:stateMachine:NAME#CASE`): a state the
//! test case mocks is answered by its mocked response and invokes nothing; the lease
//! loop records the answer as it records a target's, so the history reads as if the
//! service had answered.
//!
//! The response is picked by the state's invocation number in the execution (every
//! retry, loop visit and Map iteration counts, as in Step Functions Local), counted in
//! the store so that every replica's worker shares it. Invocation is at least once: a
//! worker that dies after counting and before recording leaves a number unused, and the
//! task's next lease takes the next one.

use std::time::Duration;

use cairn_asl::error::names;
use cairn_asl::task::TaskOutcome;
use cairn_store::tasks::LeasedTask;
use cairn_store::Store;

use crate::Targets;

/// How often a store call is tried before the task fails.
const TRIES: u32 = 3;

/// The mocked answer to `task`, or `None` when it is not mocked (no mock configuration,
/// an execution without a test case, or a state its test case does not mock).
pub(crate) async fn answer<S: Store>(
    store: &S,
    targets: &Targets,
    task: &LeasedTask,
) -> Option<TaskOutcome> {
    let mocks = targets.mock_config()?;
    let case_name = match retried(|| store.test_case_of(&task.execution_arn)).await {
        Ok(case) => case?,
        Err(error) => return Some(unreadable(task, &error.to_string())),
    };
    // `arn:PARTITION:states:REGION:ACCOUNT:execution:MACHINE:NAME`.
    let machine = task.execution_arn.split(':').nth(6).unwrap_or_default();
    let Some(case) = mocks.test_case(machine, &case_name) else {
        // The configuration changed since the execution started: say so rather than
        // call what the test meant to mock.
        return Some(TaskOutcome::Failed {
            error: names::RUNTIME.to_string(),
            cause: Some(format!(
                "Test case '{case_name}' of state machine '{machine}' is no longer in the mock configuration"
            )),
        });
    };
    if !case.mocks(&task.state_name) {
        return None;
    }
    let number =
        match retried(|| store.next_mocked_invocation(&task.execution_arn, &task.state_name)).await
        {
            Ok(number) => number,
            Err(error) => return Some(unreadable(task, &error.to_string())),
        };
    tracing::debug!(
        execution = %task.execution_arn,
        state = %task.state_name,
        test_case = %case_name,
        invocation = number,
        "mocked task answered"
    );
    case.outcome(&task.state_name, number)
}

fn unreadable(task: &LeasedTask, error: &str) -> TaskOutcome {
    TaskOutcome::Failed {
        error: names::RUNTIME.to_string(),
        cause: Some(format!(
            "Cannot read the test case of {} for state '{}': {error}",
            task.execution_arn, task.state_name
        )),
    }
}

async fn retried<T, F>(call: impl Fn() -> F) -> cairn_store::Result<T>
where
    F: std::future::Future<Output = cairn_store::Result<T>>,
{
    let mut tried = 1;
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(error) if tried >= TRIES => return Err(error),
            Err(error) => {
                tracing::warn!(%error, "reading a test case failed; trying again");
                tokio::time::sleep(Duration::from_millis(100 * u64::from(tried))).await;
                tried += 1;
            }
        }
    }
}
