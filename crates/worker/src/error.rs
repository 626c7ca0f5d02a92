//! Why an invocation did not succeed, and the ASL error each reason becomes.

use cairn_asl::error::names;
use cairn_asl::task::TaskOutcome;

/// A failed invocation. [`InvokeError::into_outcome`] turns it into what the interpreter
/// sees; the error names are the ones AWS reports, so `Retry` and `Catch` written for AWS
/// match the same failures here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvokeError {
    /// The invocation ran past its time limit: `States.Timeout` (via
    /// [`TaskOutcome::TimedOut`]).
    #[error("timed out after {seconds} s invoking {target}")]
    TimedOut { target: String, seconds: u64 },

    /// The response body was larger than the configured limit:
    /// `States.DataLimitExceeded`.
    #[error("the response from {url} is larger than the limit of {limit} bytes")]
    DataLimitExceeded { url: String, limit: usize },

    /// The request could not be sent or its response not read (refused connection,
    /// DNS, TLS, reset): `States.TaskFailed`.
    #[error("request to {url} failed: {reason}")]
    Transport { url: String, reason: String },

    /// The task's parameters are unusable (missing `FunctionName`, a bad `Method`, a
    /// connection Cairn does not know): `States.TaskFailed`, nothing was sent.
    #[error("{0}")]
    BadParameters(String),

    /// The target answered, but not in a way Cairn can use (a function URL's 2xx body
    /// that is not JSON, for example): `States.TaskFailed`.
    #[error("{0}")]
    BadResponse(String),

    /// The resource names nothing Cairn invokes: `States.TaskFailed`.
    #[error("resource not supported: {0}")]
    UnsupportedResource(String),

    /// The target reported an error of its own: a function's `errorType`,
    /// `Lambda.<Exception>` from the Lambda service, `States.Http.StatusCode.<code>` from
    /// an HTTP Task. The name is the ASL error verbatim.
    #[error("{error}: {}", cause.as_deref().unwrap_or(""))]
    Named {
        error: String,
        cause: Option<String>,
    },
}

impl InvokeError {
    /// A named error with a cause.
    pub fn named(error: impl Into<String>, cause: impl Into<String>) -> Self {
        InvokeError::Named {
            error: error.into(),
            cause: Some(cause.into()),
        }
    }

    /// The ASL error name a state machine sees (`States.Timeout` for a time-out).
    pub fn error_name(&self) -> &str {
        match self {
            InvokeError::TimedOut { .. } => names::TIMEOUT,
            InvokeError::DataLimitExceeded { .. } => names::DATA_LIMIT_EXCEEDED,
            InvokeError::Transport { .. }
            | InvokeError::BadParameters(_)
            | InvokeError::BadResponse(_)
            | InvokeError::UnsupportedResource(_) => names::TASK_FAILED,
            InvokeError::Named { error, .. } => error,
        }
    }

    /// The cause a state machine sees.
    pub fn cause(&self) -> Option<String> {
        match self {
            InvokeError::Named { cause, .. } => cause.clone(),
            other => Some(other.to_string()),
        }
    }

    /// What the interpreter is told.
    pub fn into_outcome(self) -> TaskOutcome {
        match self {
            InvokeError::TimedOut { .. } => TaskOutcome::TimedOut,
            InvokeError::Named { error, cause } => TaskOutcome::Failed { error, cause },
            other => TaskOutcome::Failed {
                error: other.error_name().to_string(),
                cause: other.cause(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_carry_aws_names() {
        let t = InvokeError::TimedOut {
            target: "u".into(),
            seconds: 1,
        };
        assert_eq!(t.error_name(), "States.Timeout");
        assert_eq!(t.into_outcome(), TaskOutcome::TimedOut);

        let d = InvokeError::DataLimitExceeded {
            url: "http://x/".into(),
            limit: 10,
        };
        assert_eq!(
            d.into_outcome(),
            TaskOutcome::Failed {
                error: "States.DataLimitExceeded".into(),
                cause: Some(
                    "the response from http://x/ is larger than the limit of 10 bytes".into()
                ),
            }
        );

        let n = InvokeError::named("PaymentDeclined", "card expired");
        assert_eq!(
            n.into_outcome(),
            TaskOutcome::Failed {
                error: "PaymentDeclined".into(),
                cause: Some("card expired".into()),
            }
        );

        let u = InvokeError::UnsupportedResource("arn:aws:states:::sqs:receiveMessage".into());
        assert_eq!(u.error_name(), "States.TaskFailed");
    }
}
