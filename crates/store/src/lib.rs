//! `cairn-store`: everything Cairn persists, behind one trait.
//!
//! The scheduler, the workers and the API talk to [`Store`]; [`postgres::PgStore`] is the
//! implementation. Every change to an execution commits in one transaction together with
//! the event that caused it: [`Store::advance`] claims executions that have due events,
//! hands each to a pure function (the interpreter) and writes what it returns —
//! snapshot, history, tasks, timers, the consumption of the events — in one commit.

pub mod backlog;
pub mod catalog;
pub mod handoff;
mod history;
mod nodelay;
pub mod postgres;
pub mod postgres_callbacks;
mod postgres_catalog;
pub mod postgres_nested;
mod postgres_starts;
mod postgres_stored;
pub mod schema;
pub mod signals;
pub mod testing;
mod types;

pub use types::*;

use std::future::Future;

/// What can go wrong in the store. API-facing variants carry AWS's error names.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// `ExecutionAlreadyExists`: the name is taken by an execution with another input.
    #[error("Execution Already Exists: '{0}'")]
    ExecutionAlreadyExists(String),
    /// `StateMachineDoesNotExist`.
    #[error("State Machine Does Not Exist: '{0}'")]
    StateMachineDoesNotExist(String),
    /// `StateMachineAlreadyExists`.
    #[error("State Machine Already Exists: '{0}'")]
    StateMachineAlreadyExists(String),
    /// A write shared by several callers failed; each is told why.
    #[error("database error: {0}")]
    Unavailable(String),
    /// `ExecutionDoesNotExist`.
    #[error("Execution Does Not Exist: '{0}'")]
    ExecutionDoesNotExist(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The persistence Cairn's services share.
pub trait Store: Send + Sync {
    /// Applies pending migrations.
    fn migrate(&self) -> impl Future<Output = Result<()>> + Send;

    /// Stores a definition text once; returns its id.
    fn put_definition(&self, body: &str) -> impl Future<Output = Result<i64>> + Send;
    fn definition(&self, id: i64) -> impl Future<Output = Result<String>> + Send;

    fn create_state_machine(
        &self,
        machine: &NewStateMachine,
    ) -> impl Future<Output = Result<StateMachineRow>> + Send;
    fn describe_state_machine(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<StateMachineRow>> + Send;

    /// Inserts the execution and its start event in one transaction. Starting the same
    /// name again with the same input returns the existing execution, as AWS does.
    fn start_execution(
        &self,
        execution: &NewExecution,
    ) -> impl Future<Output = Result<Started>> + Send;
    fn describe_execution(&self, arn: &str) -> impl Future<Output = Result<ExecutionRow>> + Send;
    /// Events with id greater than `after`, in order, at most `limit`.
    fn history(
        &self,
        arn: &str,
        after: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<StoredEvent>>> + Send;
    /// Asks a running execution to stop; a no-op on a finished one.
    fn stop_execution(
        &self,
        arn: &str,
        error: Option<&str>,
        cause: Option<&str>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Claims up to `limit` executions with due events (`FOR UPDATE SKIP LOCKED`), calls
    /// `step` for each and commits all results in ONE transaction. `known_definitions`
    /// lists definition ids the caller has parsed already; their text is not sent again.
    /// Tasks an advance marks [`Advance::leased`] are inserted started and with `lease`
    /// (without one, any worker may lease them; their start is not recorded again).
    fn advance<F>(
        &self,
        limit: i64,
        known_definitions: &[i64],
        lease: Option<&handoff::TaskLease>,
        step: F,
    ) -> impl Future<Output = Result<Advanced>> + Send
    where
        F: FnMut(Claimed) -> Advance + Send;

    /// When the next timer falls due, if any is pending.
    fn next_due(
        &self,
    ) -> impl Future<Output = Result<Option<chrono::DateTime<chrono::Utc>>>> + Send;

    /// Leases up to `limit` tasks whose lease is free or expired. A task's first lease
    /// records its `TaskStarted` event, in the same transaction.
    fn lease_tasks(
        &self,
        owner: &str,
        limit: i64,
        lease: std::time::Duration,
    ) -> impl Future<Output = Result<Vec<LeasedTask>>> + Send;
    /// Extends the leases `owner` holds on `tasks`.
    fn renew_leases(
        &self,
        owner: &str,
        tasks: &[i64],
        lease: std::time::Duration,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Records each task's outcome as events for its execution and removes the task rows,
    /// all in one transaction. One flag per completion: `false` when the task was gone
    /// (cancelled, or completed by a worker that took over an expired lease) and its
    /// outcome was dropped.
    fn complete_tasks(
        &self,
        completions: &[Completion],
    ) -> impl Future<Output = Result<Vec<bool>>> + Send;
    /// Records the invocation of a `.waitForTaskToken` task: `TaskSubmitted` (it then
    /// waits for `SendTaskSuccess`/`SendTaskFailure`), or the failure. `false` when the task row is gone, as for [`Store::complete_tasks`].
    fn record_callback_invocation(
        &self,
        task: &LeasedTask,
        event: &cairn_asl::interpreter::Event,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Gives back every lease `owner` holds (graceful shutdown).
    fn release_leases(&self, owner: &str) -> impl Future<Output = Result<u64>> + Send;
}
