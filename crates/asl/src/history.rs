//! History events, shaped as AWS's `GetExecutionHistory` shows them.

use serde::{Deserialize, Serialize};

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
    pub details: Details,
}

/// The fields of AWS's event details objects that Cairn's events use. Absent fields are
/// left out of the JSON, so each event serializes to exactly the object AWS shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Details {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// JSON text of a task's parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_in_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_in_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// JSON text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_details: Option<PayloadDetails>,
    /// JSON text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_details: Option<PayloadDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// A Map iteration's index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// A Map state's item count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    /// `*StateExited` of a state with `Assign`: each variable's new value as JSON text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_variables: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_variables_details: Option<PayloadDetails>,
    /// `EvaluationFailed`: where the failed JSONata expression is (`Output/result`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// `EvaluationFailed`: the state it failed in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The `workerName` an activity worker gave `GetActivityTask`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_name: Option<String>,
    /// `ExecutionRedriven`: how many times the execution has been redriven, this one
    /// included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redrive_count: Option<u64>,
    /// `MapRunStarted`: the Map Run's ARN (`distributed::map_run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_run_arn: Option<String>,
}

/// `inputDetails` / `outputDetails`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadDetails {
    pub truncated: bool,
}

impl Details {
    /// Fills `inputDetails`/`outputDetails` beside a present input/output, as AWS does.
    pub fn with_payload_details(mut self) -> Self {
        if self.input.is_some() {
            self.input_details = Some(PayloadDetails::default());
        }
        if self.output.is_some() {
            self.output_details = Some(PayloadDetails::default());
        }
        if self.assigned_variables.is_some() {
            self.assigned_variables_details = Some(PayloadDetails::default());
        }
        self
    }
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
            | "WaitStateAborted"
            | "LambdaFunctionStarted" => return None,
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
