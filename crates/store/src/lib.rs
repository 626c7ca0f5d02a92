//! `cairn-store`: everything Cairn persists, behind one trait.
//!
//! The scheduler, the workers and the API talk to [`Store`]; [`postgres::PgStore`] is the
//! implementation. Every change to an execution commits in one transaction together with
//! the event that caused it: [`Store::advance`] claims executions that have due events,
//! hands each to a pure function (the interpreter) and writes what it returns —
//! snapshot, history, tasks, timers, the consumption of the events — in one commit.

pub mod catalog;
pub mod postgres;
mod postgres_catalog;
mod types;

pub use types::*;

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
    /// `ExecutionDoesNotExist`.
    #[error("Execution Does Not Exist: '{0}'")]
    ExecutionDoesNotExist(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The persistence Cairn's services share.
#[allow(async_fn_in_trait)]
pub trait Store: Send + Sync {
    /// Applies pending migrations.
    async fn migrate(&self) -> Result<()>;

    /// Stores a definition text once; returns its id.
    async fn put_definition(&self, body: &str) -> Result<i64>;
    async fn definition(&self, id: i64) -> Result<String>;

    async fn create_state_machine(&self, machine: &NewStateMachine) -> Result<StateMachineRow>;
    async fn describe_state_machine(&self, arn: &str) -> Result<StateMachineRow>;

    /// Inserts the execution and its start event in one transaction. Starting the same
    /// name again with the same input returns the existing execution, as AWS does.
    async fn start_execution(&self, execution: &NewExecution) -> Result<Started>;
    async fn describe_execution(&self, arn: &str) -> Result<ExecutionRow>;
    /// Events with id greater than `after`, in order, at most `limit`.
    async fn history(&self, arn: &str, after: i64, limit: i64) -> Result<Vec<StoredEvent>>;
    /// Asks a running execution to stop; a no-op on a finished one.
    async fn stop_execution(
        &self,
        arn: &str,
        error: Option<&str>,
        cause: Option<&str>,
    ) -> Result<()>;

    /// Claims up to `limit` executions with due events (`FOR UPDATE SKIP LOCKED`), calls
    /// `step` for each and commits all results in ONE transaction. Returns how many
    /// executions advanced. `known_definitions` lists definition ids the caller has
    /// parsed already; their text is not sent again.
    async fn advance<F>(&self, limit: i64, known_definitions: &[i64], step: F) -> Result<usize>
    where
        F: FnMut(Claimed) -> Advance + Send;

    /// When the next timer falls due, if any is pending.
    async fn next_due(&self) -> Result<Option<chrono::DateTime<chrono::Utc>>>;

    /// Leases up to `limit` tasks whose lease is free or expired.
    async fn lease_tasks(
        &self,
        owner: &str,
        limit: i64,
        lease: std::time::Duration,
    ) -> Result<Vec<LeasedTask>>;
    /// Extends the leases `owner` holds on `tasks`.
    async fn renew_leases(
        &self,
        owner: &str,
        tasks: &[i64],
        lease: std::time::Duration,
    ) -> Result<()>;
    /// Records a task's outcome as an event for its execution and removes the task, in
    /// one transaction. `false` when the task is gone (cancelled, or completed by a
    /// worker that took over an expired lease): the outcome is dropped.
    async fn complete_task(
        &self,
        task: &LeasedTask,
        event: &cairn_asl::interpreter::Event,
    ) -> Result<bool>;
    /// Gives back every lease `owner` holds (graceful shutdown).
    async fn release_leases(&self, owner: &str) -> Result<u64>;
}
