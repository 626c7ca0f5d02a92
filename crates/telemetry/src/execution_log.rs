//! Execution logging as a state machine's `loggingConfiguration` asks: the history events
//! its `level` includes, written to standard output as JSON lines in the shape of AWS's
//! CloudWatch Logs execution events, one event a line:
//!
//! ```json
//! {"id":"1","type":"ExecutionStarted","details":{"input":"{}","inputDetails":{"truncated":false},"roleArn":"arn:…"},
//!  "previous_event_id":"0","event_timestamp":"1765112400123","execution_arn":"arn:…"}
//! ```
//!
//! Which events each level includes is AWS's table ("Log levels for Step Functions
//! execution events"): `ALL` every event; `ERROR` the failures, aborts and time-outs of
//! executions, states, iterations, tasks, activities and Lambda functions, and
//! `FailStateEntered`; `FATAL` only `ExecutionFailed`, `ExecutionAborted` and
//! `ExecutionTimedOut`; `OFF` none. Without `includeExecutionData` the payloads (`input`,
//! `output`, a task's `parameters`, and their `…Details`) are left out of `details`.
//!
//! When an OTLP collector is configured, the same lines are also exported as OTLP log
//! records (`crate::otlp_logs`).
//!
//! Lines are written after the events they show have committed (Standard) or as they
//! happen (Express). Like AWS's delivery to CloudWatch Logs, this is best effort: a
//! process killed between a commit and its write loses those lines; the history of a
//! Standard execution keeps every event.

use std::io::Write;

use cairn_asl::history::HistoryEvent;
use serde_json::{Map, Value};

/// A machine's `loggingConfiguration.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogLevel {
    All,
    Error,
    Fatal,
    #[default]
    Off,
}

/// What a machine's `loggingConfiguration` asks to be logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoggingConfig {
    pub level: LogLevel,
    pub include_execution_data: bool,
}

/// The payload fields `includeExecutionData: false` leaves out.
const EXECUTION_DATA: &[&str] = &[
    "input",
    "inputDetails",
    "output",
    "outputDetails",
    "parameters",
];

impl LoggingConfig {
    /// The configuration stored for a machine (the API's canonical JSON: `level`,
    /// `includeExecutionData`, `destinations`); off when there is none or it cannot be
    /// read.
    pub fn from_stored(text: Option<&str>) -> LoggingConfig {
        let Some(value) = text.and_then(|t| serde_json::from_str::<Value>(t).ok()) else {
            return LoggingConfig::default();
        };
        let level = match value.get("level").and_then(Value::as_str) {
            Some("ALL") => LogLevel::All,
            Some("ERROR") => LogLevel::Error,
            Some("FATAL") => LogLevel::Fatal,
            _ => LogLevel::Off,
        };
        LoggingConfig {
            level,
            include_execution_data: value
                .get("includeExecutionData")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }
    }

    /// Whether nothing is logged.
    pub fn is_off(&self) -> bool {
        self.level == LogLevel::Off
    }

    /// Whether an event of `event_type` is logged at this level.
    pub fn logs(&self, event_type: &str) -> bool {
        match self.level {
            LogLevel::All => true,
            LogLevel::Error => is_error(event_type),
            LogLevel::Fatal => matches!(
                event_type,
                "ExecutionFailed" | "ExecutionAborted" | "ExecutionTimedOut"
            ),
            LogLevel::Off => false,
        }
    }

    /// The log line of one event, or `None` when this level leaves it out. `details`
    /// is the event's details object as the history shows it.
    pub fn line(&self, execution_arn: &str, event: &Event<'_>, details: &Value) -> Option<String> {
        if !self.logs(event.event_type) {
            return None;
        }
        let details = match details {
            Value::Object(fields) if !self.include_execution_data => {
                let kept: Map<String, Value> = fields
                    .iter()
                    .filter(|(k, _)| !EXECUTION_DATA.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                Value::Object(kept)
            }
            Value::Object(_) => details.clone(),
            _ => Value::Object(Map::new()),
        };
        // Keys in the order AWS writes them; numbers as strings, as AWS writes them.
        let mut line = Map::new();
        line.insert("id".into(), Value::String(event.id.to_string()));
        line.insert("type".into(), Value::String(event.event_type.to_string()));
        line.insert("details".into(), details);
        line.insert(
            "previous_event_id".into(),
            Value::String(event.previous_event_id.to_string()),
        );
        line.insert(
            "event_timestamp".into(),
            Value::String(event.timestamp_millis.to_string()),
        );
        line.insert(
            "execution_arn".into(),
            Value::String(execution_arn.to_string()),
        );
        Some(Value::Object(line).to_string())
    }
}

impl LoggingConfig {
    /// The lines of those of `events` this level includes.
    pub fn lines(&self, execution_arn: &str, events: &[HistoryEvent]) -> Vec<String> {
        if self.is_off() {
            return Vec::new();
        }
        events
            .iter()
            .filter(|e| self.logs(&e.event_type))
            .filter_map(|e| {
                let details = serde_json::to_value(&e.details).ok()?;
                let event = Event {
                    id: e.id,
                    previous_event_id: e.previous_event_id,
                    event_type: &e.event_type,
                    timestamp_millis: e.timestamp.unix_millis(),
                };
                self.line(execution_arn, &event, &details)
            })
            .collect()
    }
}

/// The facts of one history event a log line shows besides its details.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    pub id: u64,
    pub previous_event_id: u64,
    pub event_type: &'a str,
    /// Milliseconds since the epoch.
    pub timestamp_millis: i64,
}

/// Whether AWS's `ERROR` level includes `event_type`.
pub(crate) fn is_error(event_type: &str) -> bool {
    event_type == "FailStateEntered"
        || event_type.ends_with("Failed")
        || event_type.ends_with("Aborted")
        || event_type.ends_with("TimedOut")
}

/// Writes `lines` to standard output, each whole, in order, and queues them for the
/// OTLP logs exporter when one runs (`crate::otlp_logs`). A write that fails (a closed
/// pipe) loses the lines: logging never stops an execution.
pub fn write(lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    crate::otlp_logs::offer(lines);
    let mut text = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(level: &str, data: bool) -> LoggingConfig {
        LoggingConfig::from_stored(Some(
            &json!({"level": level, "includeExecutionData": data}).to_string(),
        ))
    }

    #[test]
    fn levels_include_the_events_of_aws_table() {
        let all = config("ALL", true);
        let error = config("ERROR", true);
        let fatal = config("FATAL", true);
        let off = config("OFF", true);
        for t in [
            "ExecutionStarted",
            "PassStateEntered",
            "TaskSucceeded",
            "MapIterationStarted",
        ] {
            assert!(
                all.logs(t) && !error.logs(t) && !fatal.logs(t) && !off.logs(t),
                "{t}"
            );
        }
        for t in [
            "FailStateEntered",
            "TaskFailed",
            "TaskTimedOut",
            "TaskStateAborted",
            "LambdaFunctionScheduleFailed",
            "MapIterationFailed",
            "ParallelStateAborted",
            "WaitStateAborted",
            "TaskSubmitFailed",
        ] {
            assert!(
                all.logs(t) && error.logs(t) && !fatal.logs(t) && !off.logs(t),
                "{t}"
            );
        }
        for t in ["ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"] {
            assert!(
                all.logs(t) && error.logs(t) && fatal.logs(t) && !off.logs(t),
                "{t}"
            );
        }
        assert_eq!(LoggingConfig::from_stored(None), LoggingConfig::default());
        assert!(LoggingConfig::from_stored(Some("not json")).is_off());
    }

    #[test]
    fn a_line_has_aws_fields_and_leaves_data_out_unless_asked() {
        let event = Event {
            id: 1,
            previous_event_id: 0,
            event_type: "ExecutionStarted",
            timestamp_millis: 1_765_112_400_123,
        };
        let details = json!({"input": "{\"a\":1}", "inputDetails": {"truncated": false},
                             "roleArn": "arn:aws:iam::1:role/r"});
        let with = config("ALL", true)
            .line("arn:x", &event, &details)
            .expect("logged");
        assert_eq!(
            with,
            r#"{"id":"1","type":"ExecutionStarted","details":{"input":"{\"a\":1}","inputDetails":{"truncated":false},"roleArn":"arn:aws:iam::1:role/r"},"previous_event_id":"0","event_timestamp":"1765112400123","execution_arn":"arn:x"}"#
        );
        let without: Value = serde_json::from_str(
            &config("ALL", false)
                .line("arn:x", &event, &details)
                .expect("logged"),
        )
        .expect("json");
        assert_eq!(
            without["details"],
            json!({"roleArn": "arn:aws:iam::1:role/r"})
        );
        assert_eq!(config("FATAL", true).line("arn:x", &event, &details), None);
    }
}
