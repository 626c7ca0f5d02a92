//! `cairn-telemetry`: Cairn's metrics.
//!
//! Instruments are OpenTelemetry's (the SDK's meter provider is the model); a Prometheus
//! reader renders them at `GET /metrics` in the text exposition format. The execution
//! metrics carry AWS's `AWS/States` names, per state machine, so a CloudWatch dashboard
//! or alarm translates one to one (the table is in `docs/operations.md`):
//!
//! | AWS/States | Prometheus |
//! |---|---|
//! | ExecutionsStarted | `cairn_executions_started_total` |
//! | ExecutionsSucceeded / Failed / Aborted / TimedOut | `cairn_executions_{succeeded,failed,aborted,timed_out}_total` |
//! | ExecutionThrottled | `cairn_execution_throttled_total` |
//! | ExecutionTime | `cairn_execution_time_seconds` (histogram) |
//!
//! Call sites are one line each ([`execution_started`], [`execution_finished`],
//! [`timed_task`], [`task_results_dropped`]); the instruments live in one process-wide
//! value created on first use. Queue depth and age, timer lag and the Postgres pool are
//! read when Prometheus scrapes ([`render`]), not kept up to date between scrapes.

pub mod execution_log;
mod exposition;
mod http;
mod instruments;
pub mod otlp_env;
pub mod otlp_logs;
pub mod otlp_metrics;
pub mod trace;

use std::future::Future;
use std::time::Instant;

pub use exposition::render;
pub use http::router;

/// What can go wrong while rendering `/metrics`.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The Prometheus reader could not be set up; no instrument records anything.
    #[error("the metrics exporter is unavailable: {0}")]
    Unavailable(String),
    /// The gathered metrics could not be encoded as text.
    #[error("encoding metrics failed: {0}")]
    Encode(#[from] prometheus::Error),
}

/// `ExecutionsStarted`: a new execution of `state_machine_arn` was created (not an
/// idempotent repeat of StartExecution). Also creates the machine's other execution
/// series at zero, so `increase()` and alerts see their first event.
pub fn execution_started(state_machine_arn: &str) {
    instruments::get().execution_started(state_machine_arn);
}

/// An execution of `state_machine_arn` ended with `status` (`SUCCEEDED`, `FAILED`,
/// `ABORTED`, `TIMED_OUT`) after running since `started_at`: counts it and records its
/// `ExecutionTime`. Any other status is ignored.
/// A RedriveExecution committed (AWS/States ExecutionsRedriven).
pub fn execution_redriven(state_machine_arn: &str) {
    instruments::get().execution_redriven(state_machine_arn);
}

pub fn execution_finished(
    state_machine_arn: &str,
    status: cairn_asl::ExecutionStatus,
    started_at: chrono::DateTime<chrono::Utc>,
) {
    let seconds = (chrono::Utc::now() - started_at)
        .to_std()
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    instruments::get().execution_finished(state_machine_arn, status, seconds);
}

/// Runs one task invocation and records how long it took, by its `Resource`.
pub async fn timed_task<F: Future>(resource: &str, invocation: F) -> F::Output {
    let started = Instant::now();
    let outcome = invocation.await;
    instruments::get().task_finished(resource, started.elapsed().as_secs_f64());
    outcome
}

/// A worker leased `count` tasks whose previous lease had expired: the worker that held
/// them died or stalled, and their invocations run again (at least once).
pub fn task_lease_takeovers(count: u64) {
    instruments::get().task_lease_takeovers(count);
}

/// A replica took over `count` asynchronous Express runs whose lease had expired: the
/// replica running them died or stalled, and they run again from the start (at least
/// once).
pub fn express_takeovers(count: u64) {
    instruments::get().express_takeovers(count);
}

/// StartExecution of `state_machine_arn` was refused with `ThrottlingException`, or an
/// execution of it had state transitions held back by the transition bucket: AWS's
/// `ExecutionThrottled`.
pub fn execution_throttled(state_machine_arn: &str) {
    instruments::get().execution_throttled(state_machine_arn);
}

/// The retention loop deleted `count` closed executions.
pub fn executions_purged(count: u64) {
    instruments::get().executions_purged(count);
}

/// Worker task results were not recorded because the task row was gone: cancelled,
/// or completed by a worker that took over this one's expired lease.
pub fn task_results_dropped(count: u64) {
    instruments::get().task_results_dropped(count);
}
