//! The in-memory driver: runs a machine to completion with a pluggable task handler and
//! a virtual clock. Tests, the conformance runner and Express executions use it.

use serde_json::Value;

use crate::history::HistoryEvent;
use crate::interpreter::{ExecutionInfo, Limits};
use crate::model::StateMachine;
use crate::timestamp::Timestamp;

/// What a Task state asks the outside world to do.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskInvocation {
    pub state_name: String,
    pub resource: String,
    pub input: Value,
    pub timeout_seconds: Option<u64>,
    pub heartbeat_seconds: Option<u64>,
    /// 0 for the first try, 1 for the first retry, …
    pub attempt: u64,
}

/// How a task ended.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskOutcome {
    Succeeded(Value),
    Failed {
        error: String,
        cause: Option<String>,
    },
    TimedOut,
    HeartbeatTimedOut,
}

/// Answers Task states. Called once per attempt.
pub trait TaskHandler {
    fn invoke(&mut self, task: &TaskInvocation) -> TaskOutcome;
}

/// A handler for machines without Task states: every task fails with `States.TaskFailed`.
pub struct NoTasks;

impl TaskHandler for NoTasks {
    fn invoke(&mut self, task: &TaskInvocation) -> TaskOutcome {
        TaskOutcome::Failed {
            error: crate::error::names::TASK_FAILED.to_string(),
            cause: Some(format!("no task handler for resource '{}'", task.resource)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

impl ExecutionStatus {
    /// AWS's spelling: `SUCCEEDED`, `FAILED`, …
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Aborted => "ABORTED",
        }
    }
}

/// The end of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: ExecutionStatus,
    /// The output, for a succeeded execution.
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub history: Vec<HistoryEvent>,
    /// Virtual time at the end.
    pub finished_at: Timestamp,
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub info: ExecutionInfo,
    pub limits: Limits,
    /// Seeds every step's randomness (UUIDs, MathRandom without a seed, jitter).
    pub seed: u64,
}

/// Runs `machine` on `input` to the end. Waits and retry back-offs advance the virtual
/// clock instantly.
pub fn run(
    machine: &StateMachine,
    input: Value,
    options: &RunOptions,
    tasks: &mut dyn TaskHandler,
) -> Outcome {
    let _ = (machine, input, options, tasks);
    todo!("driver::run")
}
