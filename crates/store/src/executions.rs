//! Executions as the API sees them: start one, describe it, list a machine's, read its
//! history a page at a time, ask it to stop, redrive it ([`redrivability`] decides when
//! it may be, for both stores and DescribeExecution alike).

use std::future::Future;

use cairn_asl::ExecutionStatus;

use crate::{Result, Time};

/// A StartExecution of a STANDARD machine, named by its ARN.
#[derive(Debug, Clone)]
pub struct NewExecution {
    /// The machine's own ARN (unqualified).
    pub machine_arn: String,
    /// Run this version of the machine instead of its current revision.
    pub version: Option<i64>,
    /// The alias the start came through (it chose `version`).
    pub alias_arn: Option<String>,
    /// The execution's ARN: the machine's prefix, `execution`, the machine's name and
    /// the execution's.
    pub arn: String,
    pub name: String,
    /// The input exactly as the caller sent it (JSON text).
    pub input: String,
    pub started_at: Time,
    /// The execution's trace; `None` when tracing is off.
    pub trace: Option<TraceContext>,
}

impl NewExecution {
    /// The machine's name: the last part of its ARN.
    pub fn machine_name(&self) -> &str {
        self.machine_arn.rsplit(':').next().unwrap_or_default()
    }
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

/// The answer to [`Executions::start_execution`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub arn: String,
    pub started_at: Time,
    /// False when an execution with this name and input already existed.
    pub created: bool,
}

/// An execution as DescribeExecution shows it.
#[derive(Debug, Clone)]
pub struct ExecutionRecord {
    pub arn: String,
    pub state_machine_arn: String,
    pub name: String,
    pub status: ExecutionStatus,
    pub input: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub started_at: Time,
    pub stopped_at: Option<Time>,
    pub history_length: i64,
    /// The version that ran, when it was started through one.
    pub version_arn: Option<String>,
    /// The alias it was started through.
    pub alias_arn: Option<String>,
    /// How many times it was redriven, and when last.
    pub redrive_count: i64,
    pub redrive_date: Option<Time>,
    /// Its state machine is being deleted (or is gone): it cannot be redriven.
    pub machine_deleting: bool,
    /// The Map Run that started it, for a Distributed Map's child execution.
    pub map_run_arn: Option<String>,
}

impl ExecutionRecord {
    /// Whether a RedriveExecution at `now` may redrive it.
    pub fn redrivability(&self, now: Time) -> Result<(), NotRedrivable> {
        redrivability(
            self.status,
            self.started_at,
            self.stopped_at,
            self.history_length,
            self.machine_deleting,
            now,
        )
    }
}

/// How long after its end an execution may be redriven (AWS: 14 days).
pub const REDRIVABLE_FOR_DAYS: i64 = 14;
/// How long an execution may stay open, redrives included (AWS: one year).
pub const MAX_OPEN_DAYS: i64 = 365;
/// A redrive needs room in the history for `ExecutionRedriven` and at least one more
/// event (AWS's 25,000-event limit, less one).
pub const REDRIVABLE_BELOW_EVENTS: i64 = 24_999;

/// Why an execution cannot be redriven now: AWS's `redriveStatusReason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRedrivable {
    Running,
    Succeeded,
    MachineDeleting,
    HistoryLimit,
    MaxExecutionTime,
    PeriodExceeded,
}

impl NotRedrivable {
    /// AWS's `redriveStatusReason` text.
    pub fn reason(self) -> &'static str {
        match self {
            NotRedrivable::Running => "Execution is RUNNING and cannot be redriven",
            NotRedrivable::Succeeded => "Execution is SUCCEEDED and cannot be redriven",
            NotRedrivable::MachineDeleting => "State machine is in DELETING status",
            NotRedrivable::HistoryLimit => "Execution history event limit exceeded",
            NotRedrivable::MaxExecutionTime => "Execution has exceeded the max execution time",
            NotRedrivable::PeriodExceeded => "Execution redrivable period exceeded",
        }
    }
}

/// Whether an execution with these facts may be redriven at `now`: FAILED, TIMED_OUT
/// or ABORTED, ended within [`REDRIVABLE_FOR_DAYS`], started within [`MAX_OPEN_DAYS`],
/// with room in its history, and its machine not being deleted.
pub fn redrivability(
    status: ExecutionStatus,
    started_at: Time,
    stopped_at: Option<Time>,
    history_length: i64,
    machine_deleting: bool,
    now: Time,
) -> Result<(), NotRedrivable> {
    match status {
        ExecutionStatus::Running => return Err(NotRedrivable::Running),
        ExecutionStatus::Succeeded => return Err(NotRedrivable::Succeeded),
        ExecutionStatus::Failed | ExecutionStatus::TimedOut | ExecutionStatus::Aborted => {}
    }
    if machine_deleting {
        return Err(NotRedrivable::MachineDeleting);
    }
    if history_length >= REDRIVABLE_BELOW_EVENTS {
        return Err(NotRedrivable::HistoryLimit);
    }
    if now - started_at > chrono::TimeDelta::days(MAX_OPEN_DAYS) {
        return Err(NotRedrivable::MaxExecutionTime);
    }
    if stopped_at
        .is_some_and(|stopped| now - stopped > chrono::TimeDelta::days(REDRIVABLE_FOR_DAYS))
    {
        return Err(NotRedrivable::PeriodExceeded);
    }
    Ok(())
}

/// A client token's redrive is answered again, rather than redriving anew, for this long
/// after it was first used (AWS: 15 minutes, the last 10 tokens).
pub const REDRIVE_TOKEN_MINUTES: i64 = 15;
pub const REDRIVE_TOKENS_KEPT: i64 = 10;

/// The answer to [`Executions::redrive_execution`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redriven {
    pub state_machine_arn: String,
    /// When the execution was redriven (the first time, for a repeated client token).
    pub redrive_date: Time,
    /// False when the client token's earlier redrive was answered again.
    pub redriven: bool,
}

#[derive(Debug, Clone)]
pub struct ExecutionSummary {
    pub arn: String,
    pub state_machine_arn: String,
    pub name: String,
    pub status: ExecutionStatus,
    pub started_at: Time,
    pub stopped_at: Option<Time>,
    pub version_arn: Option<String>,
    pub alias_arn: Option<String>,
    pub redrive_count: i64,
    pub redrive_date: Option<Time>,
}

/// Which executions a listing is of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutionsOf {
    /// Every execution of the machine (this ARN).
    Machine(String),
    /// Those that ran this version (its ARN).
    Version(String),
    /// Those started through this alias (its ARN).
    Alias(String),
    /// The child executions of this Map Run (its ARN).
    MapRun(String),
}

/// Where a page of `ListExecutions` (newest first) resumes: after this execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionCursor {
    pub started_at: Time,
    pub arn: String,
}

/// The definition and role an execution runs with (fixed when it started).
#[derive(Debug, Clone)]
pub struct ExecutionDefinition {
    pub arn: String,
    pub state_machine_arn: String,
    pub role_arn: String,
    pub definition_id: i64,
    pub definition: String,
    pub started_at: Time,
    /// The version that ran, when it was started through one.
    pub version_arn: Option<String>,
}

/// One history event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub id: i64,
    pub previous_event_id: i64,
    pub at: Time,
    pub event_type: String,
    /// JSON text of the details object.
    pub details: String,
}

/// Executions, as the API reads and writes them.
pub trait Executions: Send + Sync {
    /// Inserts the execution and its start event together. Starting the same name again
    /// with the same input while it runs returns the existing execution, as AWS does;
    /// with another input, or once it has ended, `ExecutionAlreadyExists`. `Ok(None)`
    /// when no STANDARD machine has `machine_arn`: the caller then looks the machine up
    /// to answer as it must (an EXPRESS machine, or none).
    fn start_execution(
        &self,
        execution: &NewExecution,
    ) -> impl Future<Output = Result<Option<Started>>> + Send;

    /// `ExecutionDoesNotExist` when there is none.
    fn describe_execution(&self, arn: &str)
        -> impl Future<Output = Result<ExecutionRecord>> + Send;

    fn execution_definition(
        &self,
        execution_arn: &str,
    ) -> impl Future<Output = Result<Option<ExecutionDefinition>>> + Send;

    /// A machine's executions (or a version's, or an alias's), newest first (by start
    /// time, then ARN), after `after` when given; `redriven`: only those redriven at
    /// least once (`Some(true)`) or never (`Some(false)`).
    fn list_executions(
        &self,
        of: &ExecutionsOf,
        status: Option<ExecutionStatus>,
        redriven: Option<bool>,
        after: Option<&ExecutionCursor>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<ExecutionSummary>>> + Send;

    /// Up to `limit` events after event `after` (ascending), or before it when
    /// `reverse` (descending; `None` starts from the last event). `None` when the
    /// execution does not exist.
    fn history_page(
        &self,
        execution_arn: &str,
        after: Option<i64>,
        limit: i64,
        reverse: bool,
    ) -> impl Future<Output = Result<Option<Vec<StoredEvent>>>> + Send;

    /// RedriveExecution at `now`, in one transaction: if [`redrivability`] allows it,
    /// the execution runs again (`RUNNING`, its end cleared, `redrive_count` up by one)
    /// with an `Event::Redrive` in its inbox. A `client_token` used for a redrive of
    /// this execution within [`REDRIVE_TOKEN_MINUTES`] (among its last
    /// [`REDRIVE_TOKENS_KEPT`]) gets that redrive's answer again and changes nothing.
    /// `ExecutionDoesNotExist`, or `ExecutionNotRedrivable` with the reason.
    fn redrive_execution(
        &self,
        arn: &str,
        client_token: Option<&str>,
        now: Time,
    ) -> impl Future<Output = Result<Redriven>> + Send;

    /// Asks a running execution to stop (an `Event::Stop` in its inbox); a no-op on a
    /// finished one; `ExecutionDoesNotExist` when there is none.
    fn stop_execution(
        &self,
        arn: &str,
        error: Option<&str>,
        cause: Option<&str>,
    ) -> impl Future<Output = Result<()>> + Send;
}
