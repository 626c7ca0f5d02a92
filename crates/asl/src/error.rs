//! Runtime errors as ASL sees them: an error name (`States.Runtime`, a task's own
//! `PaymentDeclined`, …) and an optional cause. These are what Retry and Catch match
//! and what `ExecutionFailed` reports.

use serde::{Deserialize, Serialize};

/// The predefined error names of the States language.
pub mod names {
    pub const ALL: &str = "States.ALL";
    pub const TASK_FAILED: &str = "States.TaskFailed";
    pub const TIMEOUT: &str = "States.Timeout";
    pub const HEARTBEAT_TIMEOUT: &str = "States.HeartbeatTimeout";
    pub const RUNTIME: &str = "States.Runtime";
    pub const BRANCH_FAILED: &str = "States.BranchFailed";
    pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
    pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
    pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
    pub const PARAMETER_PATH_FAILURE: &str = "States.ParameterPathFailure";
    pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
    pub const EXCEED_TOLERATED_FAILURE_THRESHOLD: &str = "States.ExceedToleratedFailureThreshold";
    pub const ITEM_READER_FAILED: &str = "States.ItemReaderFailed";
    pub const RESULT_WRITER_FAILED: &str = "States.ResultWriterFailed";
    pub const PERMISSIONS: &str = "States.Permissions";
    pub const QUERY_EVALUATION_ERROR: &str = "States.QueryEvaluationError";
}

/// An ASL error: what a state failed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The error name matched by `ErrorEquals`.
    pub error: String,
    /// Free text; AWS omits it from history when absent.
    pub cause: Option<String>,
}

impl Failure {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Failure {
            error: error.into(),
            cause: Some(cause.into()),
        }
    }

    /// `States.Runtime` with a cause: the error of a path that does not match and of
    /// most other data problems at run time.
    pub fn runtime(cause: impl Into<String>) -> Self {
        Failure::new(names::RUNTIME, cause)
    }

    /// `States.IntrinsicFailure` with a cause.
    pub fn intrinsic(cause: impl Into<String>) -> Self {
        Failure::new(names::INTRINSIC_FAILURE, cause)
    }

    /// Whether `States.ALL` can catch this error. AWS documents that `States.ALL` does
    /// not match `States.DataLimitExceeded` and `States.Runtime`.
    pub fn is_catchable_by_all(&self) -> bool {
        self.error != names::DATA_LIMIT_EXCEEDED && self.error != names::RUNTIME
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.cause {
            Some(cause) => write!(f, "{}: {}", self.error, cause),
            None => f.write_str(&self.error),
        }
    }
}

impl std::error::Error for Failure {}
