//! History events, shaped as AWS's `GetExecutionHistory` shows them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::timestamp::Timestamp;

/// One event of an execution's history. `details` is the object AWS puts under the
/// event type's details key (see [`HistoryEvent::details_key`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    /// Dense, from 1.
    pub id: u64,
    /// The event this one follows from (0 for the first).
    pub previous_event_id: u64,
    pub timestamp: Timestamp,
    /// AWS's event type, e.g. `PassStateEntered`, `TaskScheduled`, `ExecutionFailed`.
    pub event_type: String,
    pub details: Map<String, Value>,
}

impl HistoryEvent {
    /// The key AWS uses for this event's details, e.g. `stateEnteredEventDetails` for
    /// `PassStateEntered`; `None` for events that carry none.
    pub fn details_key(&self) -> Option<String> {
        details_key(&self.event_type)
    }
}

/// The details key for an event type, following AWS's naming.
pub fn details_key(event_type: &str) -> Option<String> {
    let key = if event_type.ends_with("StateEntered") {
        "stateEnteredEventDetails".to_string()
    } else if event_type.ends_with("StateExited") {
        "stateExitedEventDetails".to_string()
    } else {
        match event_type {
            "ParallelStateStarted"
            | "ParallelStateSucceeded"
            | "ParallelStateFailed"
            | "ParallelStateAborted"
            | "MapStateStarted"
            | "MapStateSucceeded"
            | "MapStateAborted"
            | "WaitStateAborted" => return None,
            "MapStateFailed" => return None,
            _ => {
                let mut chars = event_type.chars();
                let first = chars.next()?.to_ascii_lowercase();
                format!("{first}{}EventDetails", chars.as_str())
            }
        }
    };
    Some(key)
}
