//! How an execution stands: AWS's `ExecutionStatus`, the one status type every layer
//! uses (the interpreter's snapshot, the in-memory driver, the store's rows, the API).

use serde::{Deserialize, Serialize};

/// An execution's status. Serialized in snapshots by variant name (`Running`); shown to
/// users, and stored in rows, in AWS's spelling (`RUNNING`, see [`ExecutionStatus::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

impl ExecutionStatus {
    /// Every status, in AWS's order.
    pub const ALL: [ExecutionStatus; 5] = [
        ExecutionStatus::Running,
        ExecutionStatus::Succeeded,
        ExecutionStatus::Failed,
        ExecutionStatus::TimedOut,
        ExecutionStatus::Aborted,
    ];

    /// AWS's spelling: `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Aborted => "ABORTED",
        }
    }

    /// The status AWS's spelling names, if any.
    pub fn parse(text: &str) -> Option<ExecutionStatus> {
        ExecutionStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
    }

    /// Whether the execution has ended.
    pub fn is_closed(self) -> bool {
        self != ExecutionStatus::Running
    }
}

impl std::fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ExecutionStatus;

    #[test]
    fn aws_spelling_round_trips() {
        for status in ExecutionStatus::ALL {
            assert_eq!(ExecutionStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(ExecutionStatus::parse("running"), None);
        assert_eq!(ExecutionStatus::TimedOut.to_string(), "TIMED_OUT");
    }

    #[test]
    fn snapshots_keep_the_variant_names() {
        let text = serde_json::to_string(&ExecutionStatus::TimedOut).expect("serialize");
        assert_eq!(text, "\"TimedOut\"");
    }
}
