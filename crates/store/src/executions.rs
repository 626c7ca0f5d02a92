//! Executions as the API sees them: start one, describe it, list a machine's, read its
//! history a page at a time, ask it to stop.

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
    /// time, then ARN), after `after` when given.
    fn list_executions(
        &self,
        of: &ExecutionsOf,
        status: Option<ExecutionStatus>,
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

    /// Asks a running execution to stop (an `Event::Stop` in its inbox); a no-op on a
    /// finished one; `ExecutionDoesNotExist` when there is none.
    fn stop_execution(
        &self,
        arn: &str,
        error: Option<&str>,
        cause: Option<&str>,
    ) -> impl Future<Output = Result<()>> + Send;
}
