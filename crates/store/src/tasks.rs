//! Task rows as the workers see them: lease, renew while the target runs, record the
//! outcome, give back on shutdown.

use std::future::Future;
use std::time::Duration;

use cairn_asl::interpreter::{Event, StoredKind, TaskRequest};
use serde_json::Value;

use crate::Result;

/// A task a worker holds the lease of.
#[derive(Debug, Clone, PartialEq)]
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

impl LeasedTask {
    /// The row of the interpreter's `request`, as it is inserted: row `id` of
    /// `execution_arn`.
    pub fn of_request(
        id: i64,
        execution_arn: &str,
        request: &TaskRequest,
        trace_parent: Option<String>,
        trace_state: Option<String>,
    ) -> LeasedTask {
        LeasedTask {
            id,
            execution_arn: execution_arn.to_string(),
            task_id: request.task as i64,
            state_name: request.state_name.clone(),
            resource: request.resource.clone(),
            input: request.input.to_string(),
            timeout_seconds: request.timeout_seconds.map(|t| t as i64),
            heartbeat_seconds: request.heartbeat_seconds.map(|t| t as i64),
            attempt: request.attempt as i64,
            trace_parent,
            trace_state,
            taken_over: false,
        }
    }
}

/// A task's outcome, ready to be recorded.
#[derive(Debug, Clone)]
pub struct Completion {
    pub task: LeasedTask,
    pub event: Event,
}

/// The lease a commit gives the tasks it inserts leased (see
/// [`crate::engine::NewTask::leased`]).
#[derive(Debug, Clone)]
pub struct TaskLease {
    /// The worker's name in lease rows.
    pub owner: String,
    pub duration: Duration,
}

/// Task rows, as the workers use them.
pub trait Tasks: Send + Sync {
    /// Leases up to `limit` tasks whose lease is free or expired, oldest first. A task's
    /// first lease records its `TaskStarted` event, in the same transaction.
    fn lease_tasks(
        &self,
        owner: &str,
        limit: i64,
        lease: Duration,
    ) -> impl Future<Output = Result<Vec<LeasedTask>>> + Send;

    /// Extends the leases `owner` holds on `tasks` (row ids).
    fn renew_leases(
        &self,
        owner: &str,
        tasks: &[i64],
        lease: Duration,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Records each task's outcome as an event for its execution and removes the task
    /// rows, all in one transaction. One flag per completion: `false` when the task was
    /// gone (cancelled, or completed by a worker that took over an expired lease) and
    /// its outcome was dropped.
    fn complete_tasks(
        &self,
        completions: &[Completion],
    ) -> impl Future<Output = Result<Vec<bool>>> + Send;

    /// Records the invocation of a `.waitForTaskToken` task: `TaskSubmitted` and its
    /// heartbeat timer (it then waits for `SendTaskSuccess`/`SendTaskFailure`), or the
    /// failure, which closes its token. `false` when the task row is gone, as for
    /// [`Tasks::complete_tasks`].
    fn record_submission(
        &self,
        task: &LeasedTask,
        event: &Event,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Gives back every lease `owner` holds (graceful shutdown); how many there were.
    fn release_leases(&self, owner: &str) -> impl Future<Output = Result<u64>> + Send;

    /// Writes `values` as the stored values of kind `kind` of the Map keyed `map` in
    /// execution `execution_arn` (see `cairn_asl::interpreter::StoredValue`), at indexes
    /// `first`, `first + 1`, …, in one transaction. A value written again replaces the
    /// one there, so a task that writes them (a Map's item reader) may run again.
    fn store_map_values(
        &self,
        execution_arn: &str,
        map: u64,
        kind: StoredKind,
        first: u64,
        values: &[Value],
    ) -> impl Future<Output = Result<()>> + Send;

    /// Up to `limit` stored values of kind `kind` of the Map keyed `map`, from index
    /// `from` on, in index order, with their indexes.
    fn map_values(
        &self,
        execution_arn: &str,
        map: u64,
        kind: StoredKind,
        from: u64,
        limit: u64,
    ) -> impl Future<Output = Result<Vec<(u64, Value)>>> + Send;
}

/// The event [`Tasks::record_submission`] records for the invocation's `event`: a
/// target's success is the task's submission; anything else ends the task.
pub(crate) fn submission_of(task: u64, event: &Event) -> Event {
    match event {
        Event::TaskSucceeded { output, .. } => Event::TaskSubmitted {
            task,
            output: output.clone(),
        },
        other => other.clone(),
    }
}
