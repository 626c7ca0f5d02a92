//! The sans-IO core: `start` and `step`.

use serde::{Deserialize, Serialize};

use crate::timestamp::Timestamp;

/// Facts about an execution that the context object (`$$.Execution`, `$$.StateMachine`)
/// exposes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionInfo {
    pub execution_arn: String,
    pub execution_name: String,
    pub state_machine_arn: String,
    pub state_machine_name: String,
    pub role_arn: String,
    pub start_time: Timestamp,
    pub redrive_count: u64,
}

impl ExecutionInfo {
    /// An execution named `name` of machine `machine` in the default region and account.
    pub fn example(machine: &str, name: &str, start_time: Timestamp) -> ExecutionInfo {
        let prefix = "arn:aws:states:us-east-1:123456789012";
        ExecutionInfo {
            execution_arn: format!("{prefix}:execution:{machine}:{name}"),
            execution_name: name.to_string(),
            state_machine_arn: format!("{prefix}:stateMachine:{machine}"),
            state_machine_name: machine.to_string(),
            role_arn: "arn:aws:iam::123456789012:role/cairn".to_string(),
            start_time,
            redrive_count: 0,
        }
    }
}

/// Limits AWS enforces on an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest input/output of a state, in bytes of JSON text (AWS: 256 KiB).
    pub max_payload_bytes: usize,
    /// Most history events of one execution (AWS: 25,000).
    pub max_history_events: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_payload_bytes: 256 * 1024,
            max_history_events: 25_000,
        }
    }
}
