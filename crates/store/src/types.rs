//! The rows and messages that cross the store's boundary.

use cairn_asl::history::HistoryEvent;
use cairn_asl::interpreter::{Event, TaskRequest};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub type Time = DateTime<Utc>;

#[derive(Debug, Clone)]
pub struct NewStateMachine {
    pub arn: String,
    pub name: String,
    /// `STANDARD` or `EXPRESS`.
    pub machine_type: String,
    pub definition: String,
    pub role_arn: String,
}

#[derive(Debug, Clone)]
pub struct StateMachineRow {
    pub arn: String,
    pub name: String,
    pub machine_type: String,
    pub definition_id: i64,
    pub definition: String,
    pub role_arn: String,
    pub status: String,
    pub revision_id: String,
    pub created_at: Time,
}

#[derive(Debug, Clone)]
pub struct NewExecution {
    pub arn: String,
    pub state_machine_arn: String,
    pub name: String,
    pub definition_id: i64,
    pub role_arn: String,
    /// The input exactly as the caller sent it (JSON text).
    pub input: String,
    pub started_at: Time,
    /// The execution's trace; `None` when tracing is off.
    pub trace: Option<TraceContext>,
}

/// An execution's place in a distributed trace, kept on its row so that every replica
/// that advances it, before or after a restart, draws its spans in the same trace.
/// Plain W3C Trace Context text: `cairn-telemetry` reads and writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// The W3C `traceparent` of the execution's own span.
    pub traceparent: String,
    /// The span id (16 hex digits) of the caller that StartExecution continued.
    pub caller_span: Option<String>,
    /// The caller's W3C `tracestate`, passed on to targets.
    pub tracestate: Option<String>,
}

/// A StartExecution that names its machine by ARN, for
/// [`crate::PgStore::start_standard_execution`].
#[derive(Debug, Clone)]
pub struct StartStandard<'a> {
    pub machine_arn: &'a str,
    /// The machine's name, the last part of its ARN.
    pub machine_name: &'a str,
    /// The execution's ARN.
    pub arn: &'a str,
    pub name: &'a str,
    /// The input exactly as the caller sent it (JSON text).
    pub input: &'a str,
    pub started_at: Time,
    pub trace: Option<TraceContext>,
}

/// The answer to `start_execution`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub arn: String,
    pub started_at: Time,
    /// False when an execution with this name and input already existed.
    pub created: bool,
}

#[derive(Debug, Clone)]
pub struct ExecutionRow {
    pub arn: String,
    pub state_machine_arn: String,
    pub name: String,
    pub status: String,
    pub input: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub started_at: Time,
    pub stopped_at: Option<Time>,
    pub history_length: i64,
}

#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub id: i64,
    pub previous_event_id: i64,
    pub at: Time,
    pub event_type: String,
    /// JSON text of the details object.
    pub details: String,
}

/// An event waiting in an execution's inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum InboxEvent {
    /// Run the interpreter's `start` with the execution's input.
    Start,
    /// Apply an interpreter event.
    Step(Event),
}

/// An execution claimed by [`crate::Store::advance`], with its due events in order.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub arn: String,
    pub name: String,
    pub state_machine_arn: String,
    pub role_arn: String,
    pub definition_id: i64,
    /// The definition's text, unless the caller said it knows this definition.
    pub definition: Option<String>,
    pub input: String,
    pub started_at: Time,
    /// JSON text of the interpreter's snapshot; `None` before the first step.
    pub snapshot: Option<String>,
    /// How many history events the execution has recorded.
    pub history_length: i64,
    /// `RUNNING`, or how it ended.
    pub status: String,
    pub events: Vec<InboxEvent>,
    /// The execution's trace, when it is traced.
    pub trace: Option<TraceContext>,
    /// What the last advance said the next one needs of the stored Map values
    /// ([`cairn_asl::interpreter::Snapshot::wanted`]), and those values.
    pub wanted: Vec<cairn_asl::interpreter::Wanted>,
    pub stored: Vec<cairn_asl::interpreter::StoredValue>,
}

/// What applying a claimed execution's events produced: written in the same
/// transaction that consumes the events.
#[derive(Debug, Clone, Default)]
pub struct Advance {
    /// JSON text of the new snapshot; `None` leaves the execution untouched (its events
    /// are still consumed).
    pub snapshot: Option<String>,
    pub status: Option<String>,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub history: Vec<HistoryEvent>,
    pub tasks: Vec<TaskRequest>,
    /// For each of `tasks` (same order; missing entries mean none), the W3C
    /// `traceparent` its attempts are children of.
    pub task_trace_parents: Vec<Option<String>>,
    pub timers: Vec<(u64, Time)>,
    pub cancelled_timers: Vec<u64>,
    pub cancelled_tasks: Vec<u64>,
    /// The advance held transitions back (a transition rate limit): queue
    /// `Event::Resume` for this time. An execution has at most one pending resume; one
    /// already queued is kept. Written even when `snapshot` is `None`.
    pub resume_at: Option<Time>,
    /// Those of `tasks` (by task id) whose `TaskStarted` this advance applied: their rows
    /// are inserted leased to the advance's [`crate::handoff::TaskLease`] and returned
    /// in [`Advanced::leased`] for the local worker.
    pub leased: Vec<u64>,
    /// Map values to keep outside the snapshot, and Map runs whose values can go.
    pub stored: Vec<cairn_asl::interpreter::StoredValue>,
    pub released_maps: Vec<u64>,
    /// What the next advance must load of the stored values.
    pub wanted: Vec<cairn_asl::interpreter::Wanted>,
}

/// What one [`crate::Store::advance`] did.
#[derive(Debug, Default)]
pub struct Advanced {
    /// Executions advanced.
    pub executions: usize,
    /// Tasks inserted already leased (see [`Advance::leased`]), committed.
    pub leased: Vec<LeasedTask>,
}

/// A task a worker holds the lease of.
#[derive(Debug, Clone)]
pub struct LeasedTask {
    /// The row id.
    pub id: i64,
    pub execution_arn: String,
    /// The interpreter's task id within the execution.
    pub task_id: i64,
    pub state_name: String,
    pub resource: String,
    /// JSON text.
    pub input: String,
    pub timeout_seconds: Option<i64>,
    pub heartbeat_seconds: Option<i64>,
    pub attempt: i64,
    /// The W3C `traceparent` (and `tracestate`) the attempt's span is a child of, when
    /// the execution is traced.
    pub trace_parent: Option<String>,
    pub trace_state: Option<String>,
    /// This lease took the task over from a worker whose lease had expired.
    pub taken_over: bool,
}

/// A task's outcome, ready to be recorded.
#[derive(Debug, Clone)]
pub struct Completion {
    pub task: LeasedTask,
    pub event: cairn_asl::interpreter::Event,
}
