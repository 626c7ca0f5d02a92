//! What a Task state asks of the outside world, decided once from its `Resource`: where
//! its work goes ([`Route`]), and how the answer comes back as an interpreter event
//! ([`TaskOutcome::into_event`]).
//!
//! Every driver asks here: the scheduler turns each route into the effect the store
//! writes (a task row for a worker, an activity task, a nested execution), the worker
//! records an invocation's answer by the route, and the in-memory drivers use the same
//! conversion of outcomes, so a task ends with the same history on every path.
//!
//! | `Resource` | route |
//! |---|---|
//! | `arn:aws:states:REGION:ACCOUNT:activity:NAME` | [`Route::Activity`] |
//! | `arn:aws:states:::states:startExecution[.sync\|.sync:2\|.waitForTaskToken]` | [`Route::StartExecution`] |
//! | anything else ending in `.waitForTaskToken` | [`Route::InvokeThenWait`] |
//! | anything else (Lambda, `http:invoke`, service integrations) | [`Route::Invoke`] |

use serde_json::Value;

use crate::error::names;
use crate::interpreter::{Event, TaskId};

/// The suffix of integrations that wait for `SendTaskSuccess`/`SendTaskFailure`.
pub const WAIT_FOR_TASK_TOKEN: &str = ".waitForTaskToken";

/// Where a Task state's work goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// A worker invokes the target; its answer ends the task.
    Invoke,
    /// `….waitForTaskToken`: a worker invokes the target, whose answer is recorded as
    /// `TaskSubmitted`; the task then waits for its token.
    InvokeThenWait,
    /// An activity: the task waits for a `GetActivityTask` poller, then for its token.
    Activity,
    /// A nested execution, started in the same transaction as the task is scheduled.
    StartExecution(Nested),
}

/// How a nested-execution Task state (`arn:aws:states:::states:startExecution…`) finishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nested {
    /// `states:startExecution`: the task's result is StartExecution's answer.
    RequestResponse,
    /// `states:startExecution.sync`: waits; `Input`/`Output` of the result are JSON text.
    Sync,
    /// `states:startExecution.sync:2`: waits; `Input`/`Output` are JSON values.
    Sync2,
    /// `states:startExecution.waitForTaskToken`: waits for SendTaskSuccess/Failure.
    WaitForTaskToken,
}

impl Route {
    /// The route `resource` names.
    pub fn of(resource: &str) -> Route {
        if is_activity(resource) {
            Route::Activity
        } else if let Some(nested) = Nested::of(resource) {
            Route::StartExecution(nested)
        } else if resource.ends_with(WAIT_FOR_TASK_TOKEN) {
            Route::InvokeThenWait
        } else {
            Route::Invoke
        }
    }

    /// Whether the task is completed through a task token (`$$.Task.Token`).
    pub fn uses_token(self) -> bool {
        match self {
            Route::Invoke => false,
            Route::InvokeThenWait | Route::Activity => true,
            Route::StartExecution(nested) => nested == Nested::WaitForTaskToken,
        }
    }

    /// Whether a worker invokes the task's target.
    pub fn runs_on_worker(self) -> bool {
        matches!(self, Route::Invoke | Route::InvokeThenWait)
    }
}

impl Nested {
    /// The nested-execution form `resource` names, if it is one.
    pub fn of(resource: &str) -> Option<Nested> {
        let fields: Vec<&str> = resource.splitn(7, ':').collect();
        let ["arn", partition, "states", "", "", "states", action] = fields.as_slice() else {
            return None;
        };
        if partition.is_empty() {
            return None;
        }
        match *action {
            "startExecution" => Some(Nested::RequestResponse),
            "startExecution.sync" => Some(Nested::Sync),
            "startExecution.sync:2" => Some(Nested::Sync2),
            "startExecution.waitForTaskToken" => Some(Nested::WaitForTaskToken),
            _ => None,
        }
    }

    /// Whether the parent waits for the child's end (`.sync`, `.sync:2`).
    pub fn waits_for_end(self) -> bool {
        matches!(self, Nested::Sync | Nested::Sync2)
    }
}

/// `arn:PARTITION:states:REGION:ACCOUNT:activity:NAME`.
pub fn is_activity(resource: &str) -> bool {
    let fields: Vec<&str> = resource.split(':').collect();
    matches!(
        fields.as_slice(),
        ["arn", partition, "states", region, account, "activity", name]
            if !partition.is_empty() && !region.is_empty() && !account.is_empty() && !name.is_empty()
    )
}

/// How one attempt at a task ended, as a target's invoker reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskOutcome {
    Succeeded(Value),
    Failed {
        error: String,
        cause: Option<String>,
    },
    /// The target did not answer within the task's time limit (its `TimeoutSeconds`, or
    /// the worker's default for the target).
    TimedOut,
    /// The target stopped sending heartbeats.
    HeartbeatTimedOut,
}

impl TaskOutcome {
    /// The interpreter event for this outcome of task `task`: the one conversion every
    /// driver uses.
    pub fn into_event(self, task: TaskId) -> Event {
        match self {
            TaskOutcome::Succeeded(output) => Event::TaskSucceeded { task, output },
            TaskOutcome::Failed { error, cause } => Event::TaskFailed { task, error, cause },
            TaskOutcome::TimedOut => Event::TaskFailed {
                task,
                error: names::TIMEOUT.to_string(),
                cause: Some("The target did not answer within the task's time limit".to_string()),
            },
            TaskOutcome::HeartbeatTimedOut => Event::TaskHeartbeatTimedOut { task },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let cases = [
            (
                "arn:aws:lambda:us-east-1:123456789012:function:f",
                Route::Invoke,
            ),
            ("arn:aws:states:::lambda:invoke", Route::Invoke),
            ("arn:aws:states:::http:invoke", Route::Invoke),
            (
                "arn:aws:states:::lambda:invoke.waitForTaskToken",
                Route::InvokeThenWait,
            ),
            (
                "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                Route::InvokeThenWait,
            ),
            (
                "arn:aws:states:us-east-1:123456789012:activity:Pay",
                Route::Activity,
            ),
            (
                "arn:aws:states:::states:startExecution",
                Route::StartExecution(Nested::RequestResponse),
            ),
            (
                "arn:aws:states:::states:startExecution.sync",
                Route::StartExecution(Nested::Sync),
            ),
            (
                "arn:aws:states:::states:startExecution.sync:2",
                Route::StartExecution(Nested::Sync2),
            ),
            (
                "arn:aws-cn:states:::states:startExecution.waitForTaskToken",
                Route::StartExecution(Nested::WaitForTaskToken),
            ),
            // Not nested executions: invoked by a worker, which refuses what it lacks.
            (
                "arn:aws:states:::states:startExecution.sync:3",
                Route::Invoke,
            ),
            ("arn:aws:states:::states:startSyncExecution", Route::Invoke),
            ("arn::states:::states:startExecution", Route::Invoke),
            ("arn:aws:states:::activity:x", Route::Invoke),
            ("", Route::Invoke),
        ];
        for (resource, route) in cases {
            assert_eq!(Route::of(resource), route, "{resource}");
        }
    }

    #[test]
    fn tokens_and_workers_by_route() {
        let token = |r: &str| Route::of(r).uses_token();
        assert!(token("arn:aws:states:::lambda:invoke.waitForTaskToken"));
        assert!(token("arn:aws:states:us-east-1:123456789012:activity:Pay"));
        assert!(token(
            "arn:aws:states:::states:startExecution.waitForTaskToken"
        ));
        assert!(!token("arn:aws:states:::states:startExecution.sync"));
        assert!(!token("arn:aws:states:::lambda:invoke"));
        let worker = |r: &str| Route::of(r).runs_on_worker();
        assert!(worker("arn:aws:states:::lambda:invoke"));
        assert!(worker("arn:aws:states:::sns:publish.waitForTaskToken"));
        assert!(!worker(
            "arn:aws:states:us-east-1:123456789012:activity:Pay"
        ));
        assert!(!worker("arn:aws:states:::states:startExecution"));
    }

    #[test]
    fn outcomes_become_events() {
        assert_eq!(
            TaskOutcome::Succeeded(Value::Bool(true)).into_event(4),
            Event::TaskSucceeded {
                task: 4,
                output: Value::Bool(true)
            }
        );
        let Event::TaskFailed { error, cause, .. } = TaskOutcome::TimedOut.into_event(1) else {
            panic!("a time-out fails the task");
        };
        assert_eq!(error, names::TIMEOUT);
        assert!(cause.is_some_and(|c| c.contains("time limit")));
        assert_eq!(
            TaskOutcome::HeartbeatTimedOut.into_event(2),
            Event::TaskHeartbeatTimedOut { task: 2 }
        );
    }
}
