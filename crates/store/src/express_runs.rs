//! Asynchronous Express executions in flight, kept so that a crash runs them again:
//! AWS's at-least-once contract for asynchronous Express workflows.
//!
//! StartExecution on an EXPRESS machine records the run with a lease held by the replica
//! that accepted it ([`ExpressRuns::record_express_run`]) before it answers. That replica
//! runs it in memory and renews the leases of all its runs with one call per renew
//! period ([`ExpressRuns::renew_express_leases`]); once the run has ended its row is
//! deleted, with the others that ended in the same period
//! ([`ExpressRuns::finish_express_runs`]) — the deletion is the only trace of it, as AWS
//! keeps no history of Express executions. A replica that dies stops renewing; once
//! the lease has expired, any replica takes the run over
//! ([`ExpressRuns::take_over_express_runs`]) and runs it again from the start, with the
//! same ARN, input and start time. A run may therefore execute twice (at least once).
//!
//! Any number of replicas may take over at once: each call takes only runs no other
//! transaction holds (Postgres: `FOR UPDATE SKIP LOCKED`), so one expired run goes to
//! exactly one of them. StartSyncExecution records nothing (at most once, as AWS).

use std::future::Future;

use crate::{Result, Time};

/// One asynchronous Express run: what is needed to run it again from the start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpressRun {
    /// `arn:…:express:MACHINE:NAME:UUID`.
    pub arn: String,
    /// The machine (or version) that was started, as the context object names it.
    pub state_machine_arn: String,
    pub state_machine_name: String,
    /// The definition the run started with.
    pub definition_id: i64,
    pub role_arn: String,
    /// The machine's `loggingConfiguration`, JSON text.
    pub logging: Option<String>,
    /// The machine's `tracingConfiguration`, JSON text.
    pub tracing: Option<String>,
    pub name: String,
    /// The execution's input, JSON text.
    pub input: String,
    /// When StartExecution accepted it: the duration cap counts from here.
    pub started_at: Time,
}

/// A run taken over from a replica whose lease expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenOver {
    pub run: ExpressRun,
    /// The definition's text.
    pub definition: String,
    /// How many times it has been taken over, this time included (1 the first time).
    pub takeovers: i32,
}

/// Recording asynchronous Express runs and their leases.
pub trait ExpressRuns: Send + Sync {
    /// Records `run`, leased to `owner` until `lease_until`.
    fn record_express_run(
        &self,
        run: &ExpressRun,
        owner: &str,
        lease_until: Time,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Extends to `lease_until` the leases `owner` still holds on the runs `arns`, in
    /// one statement. Returns how many were renewed: fewer than `arns.len()` means some
    /// were taken over by another replica (their lease had expired) or have ended.
    fn renew_express_leases(
        &self,
        owner: &str,
        arns: &[String],
        lease_until: Time,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Takes over, in one transaction, at most `limit` runs whose lease expired before
    /// `now`, oldest lease first: each is leased to `owner` until `lease_until` and its
    /// takeover count goes up by one. Runs another transaction holds are skipped.
    fn take_over_express_runs(
        &self,
        owner: &str,
        now: Time,
        lease_until: Time,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<TakenOver>>> + Send;

    /// Deletes the runs `arns`, which have ended, in one statement. Returns how many
    /// were there.
    fn finish_express_runs(&self, arns: &[String]) -> impl Future<Output = Result<u64>> + Send;

    /// How many runs are recorded (running or waiting to be taken over), for tests and
    /// operators.
    fn express_runs_in_flight(&self) -> impl Future<Output = Result<i64>> + Send;
}
