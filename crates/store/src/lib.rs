//! `cairn-store`: everything Cairn persists, behind one trait.
//!
//! The API, the schedulers and the workers talk to [`Store`]; nothing outside the
//! binary's wiring names an implementation. There are two:
//! - [`postgres::PgStore`], the durable one (`cairn server`): every change to an
//!   execution commits in one transaction together with the event that caused it;
//! - [`memory::MemoryStore`], for `cairn dev`: the same contract in one process's
//!   memory, so nothing survives a restart.
//!
//! The trait is made of parts, one module each, which callers never name separately
//! (a `S: Store` bound brings every method):
//!
//! | part | what | who calls it |
//! |---|---|---|
//! | [`catalog::Catalog`] | state machines, activities, tags | the API |
//! | [`versions::Versions`] | versions and aliases of state machines | the API |
//! | [`executions::Executions`] | start, describe, list, history pages, stop | the API |
//! | [`map_runs::MapRuns`] | Distributed Maps' Map Runs: describe, list | the API |
//! | [`engine::Engine`] | claim a batch of executions with due events, commit what the scheduler planned | the scheduler |
//! | [`tasks::Tasks`] | lease task rows, renew, record outcomes, release | the workers |
//! | [`callbacks::Callbacks`] | task tokens (`SendTask*`), the activity queue | the API |
//! | [`rules::Rules`] | EventBridge buses, rules, targets, events and deliveries; Scheduler groups and schedules | the API, the delivery and schedule loops |
//! | [`test_cases::TestCases`] | executions run under a mock configuration's test case, their mocked invocations | the API, the workers |
//! | [`retention::Retention`] | deleting executions closed longer than they are kept | the retention loop |
//! | [`express_runs::ExpressRuns`] | asynchronous Express runs in flight and their leases (at least once) | the API, the Express takeover loop |
//! | [`Store`] itself | wake-ups, the queues' backlog, readiness | loops, `/metrics`, `/readyz` |
//!
//! One contract test suite (`crates/scheduler/tests/contract.rs`) runs against both
//! implementations.

pub mod callbacks;
pub mod catalog;
pub mod engine;
pub mod executions;
pub mod express_runs;
pub mod heavy;
mod history;
pub mod map_children;
pub mod map_runs;
pub mod memory;
pub mod nested;
pub mod observe;
pub mod postgres;
pub mod retention;
pub mod rules;
pub mod signals;
pub mod tasks;
pub mod test_cases;
pub mod testing;
pub mod time;
pub mod versions;

use std::future::Future;
use std::sync::Arc;

pub use callbacks::Callbacks;
pub use catalog::Catalog;
pub use engine::{Batch, Engine};
pub use executions::Executions;
pub use express_runs::ExpressRuns;
pub use map_runs::MapRuns;
pub use retention::Retention;
pub use rules::Rules;
pub use signals::Channel;
pub use tasks::Tasks;
pub use test_cases::TestCases;
pub use time::Time;
pub use versions::Versions;

/// What can go wrong in the store. API-facing variants carry AWS's error names.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A bad `DATABASE_URL`, told at start-up.
    #[error("invalid database URL: {0}")]
    ConnectString(#[from] postgres::ConnectStringError),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// `ExecutionAlreadyExists`: the name is taken by an execution with another input.
    #[error("Execution Already Exists: '{0}'")]
    ExecutionAlreadyExists(String),
    /// A write shared by several callers failed; each is told why.
    #[error("database error: {0}")]
    Unavailable(String),
    /// `ExecutionDoesNotExist`.
    #[error("Execution Does Not Exist: '{0}'")]
    ExecutionDoesNotExist(String),
    /// `ExecutionNotRedrivable`: the execution's ARN, and why.
    #[error("Execution '{0}' cannot be redriven: {reason}", reason = .1.reason())]
    ExecutionNotRedrivable(String, executions::NotRedrivable),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The persistence Cairn's services share: every part above, plus what the loops and
/// the operators' endpoints need.
pub trait Store:
    Catalog
    + Versions
    + Executions
    + MapRuns
    + Engine
    + Tasks
    + Callbacks
    + Rules
    + TestCases
    + Retention
    + ExpressRuns
    + Clone
    + 'static
{
    /// Rung when `channel` has news: by this store's own commits at once, and (for a
    /// shared database) by other processes' soon after. Loops sleep on it between polls.
    fn doorbell(&self, channel: Channel) -> Arc<tokio::sync::Notify>;

    /// A number that changes whenever a state machine, version or alias may have
    /// changed, here or in another process sharing the database. What was read from the
    /// catalog while it had one value may be reused while it keeps it. `None` while
    /// changes cannot be followed (the listener is reconnecting): read the catalog.
    fn catalog_generation(&self) -> Option<u64>;

    /// What is waiting for the engine, for `/metrics`.
    fn backlog(&self) -> impl Future<Output = Result<observe::Backlog>> + Send;

    /// Whether this store can serve, for `/readyz`.
    fn readiness(&self) -> impl Future<Output = Result<observe::Readiness>> + Send;

    /// The connection pool's figures, for `/metrics`; `None` for a store without one.
    fn connections(&self) -> Option<observe::Connections>;
}

/// Every part of [`Store`], for code that calls a concrete store's methods.
pub mod prelude {
    pub use crate::{
        Batch, Callbacks, Catalog, Engine, Executions, ExpressRuns, MapRuns, Retention, Rules,
        Store, Tasks, TestCases, Versions,
    };
}
