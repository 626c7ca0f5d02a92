//! One attempt at one Task, as the lease loop hands it to [`crate::Targets::invoke`]: the
//! worker's shape of a task, made from the interpreter's request (Express runs) or from
//! the store's leased row (the lease loop).

use cairn_asl::interpreter::TaskRequest;
use cairn_store::tasks::LeasedTask;
use serde_json::Value;

/// The name of the header that carries [`Invocation::idempotency_key`] on every request
/// Cairn sends to a target (function URLs, the Lambda API, HTTP Tasks).
///
/// Invocation is at-least-once: a worker that dies after calling a target but before
/// recording the result is replaced by another, which calls the target again with the
/// same key. A target that must not act twice keeps the keys it has served.
pub const IDEMPOTENCY_HEADER: &str = "X-Cairn-Idempotency-Key";

/// One attempt to run a Task state.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// The execution the task belongs to.
    pub execution_arn: String,
    /// The Task state's name.
    pub state_name: String,
    /// The interpreter's id of the task (unique within the execution).
    pub task_id: u64,
    /// 0 for the first try, 1 for the first retry, …
    pub attempt: u64,
    /// The state's `Resource`.
    pub resource: String,
    /// The effective input: the Lambda payload for a function ARN, the integration's
    /// parameters (`FunctionName`, `Payload`, `ApiEndpoint`, …) otherwise.
    pub input: Value,
    /// The state's `TimeoutSeconds`; `None` uses the configured default for the target.
    pub timeout_seconds: Option<u64>,
}

impl Invocation {
    /// The invocation of an interpreter's task request.
    pub fn from_request(execution_arn: impl Into<String>, request: &TaskRequest) -> Self {
        Invocation {
            execution_arn: execution_arn.into(),
            state_name: request.state_name.clone(),
            task_id: request.task,
            attempt: request.attempt,
            resource: request.resource.clone(),
            input: request.input.clone(),
            timeout_seconds: request.timeout_seconds,
        }
    }

    /// `<execution ARN>/<state name>/<task id>/<attempt>`: the same for every delivery of
    /// one attempt, different for each retry and for each time a loop enters the state
    /// again (the task id tells those apart: the seed's order workflow goes through
    /// CheckInventory twice, with attempt 0 both times). So that it fits in an HTTP header, `%` and
    /// every byte outside visible ASCII (a space, a non-ASCII letter in a state name) are
    /// percent-encoded.
    pub fn idempotency_key(&self) -> String {
        let raw = format!(
            "{}/{}/{}/{}",
            self.execution_arn, self.state_name, self.task_id, self.attempt
        );
        let mut key = String::with_capacity(raw.len());
        for byte in raw.bytes() {
            if byte.is_ascii_graphic() && byte != b'%' {
                key.push(char::from(byte));
            } else {
                key.push_str(&format!("%{byte:02X}"));
            }
        }
        key
    }
}

impl From<&LeasedTask> for Invocation {
    /// The invocation of a task row a worker leased.
    fn from(task: &LeasedTask) -> Self {
        Invocation {
            execution_arn: task.execution_arn.clone(),
            state_name: task.state_name.clone(),
            task_id: task.task_id as u64,
            attempt: task.attempt as u64,
            resource: task.resource.clone(),
            // The row's input is the JSON text the scheduler wrote.
            input: serde_json::from_str(&task.input).unwrap_or(Value::Null),
            timeout_seconds: task.timeout_seconds.map(|t| t as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation(state: &str, attempt: u64) -> Invocation {
        Invocation {
            execution_arn: "arn:aws:states:us-east-1:123456789012:execution:m:e1".into(),
            state_name: state.into(),
            task_id: 3,
            attempt,
            resource: String::new(),
            input: Value::Null,
            timeout_seconds: None,
        }
    }

    #[test]
    fn key_is_arn_state_task_attempt() {
        assert_eq!(
            invocation("Charge", 2).idempotency_key(),
            "arn:aws:states:us-east-1:123456789012:execution:m:e1/Charge/3/2"
        );
        let again = Invocation {
            task_id: 7,
            ..invocation("Charge", 2)
        };
        assert_ne!(
            again.idempotency_key(),
            invocation("Charge", 2).idempotency_key()
        );
    }

    #[test]
    fn key_is_header_safe() {
        let key = invocation("Charge card 100% — é", 0).idempotency_key();
        assert_eq!(
            key,
            "arn:aws:states:us-east-1:123456789012:execution:m:e1/Charge%20card%20100%25%20%E2%80%94%20%C3%A9/3/0"
        );
        assert!(http::HeaderValue::from_str(&key).is_ok());
    }
}
