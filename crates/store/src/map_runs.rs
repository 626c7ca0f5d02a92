//! Map Runs: one row per run of a Distributed Map, as DescribeMapRun and ListMapRuns
//! read them. The scheduler's commit writes them ([`crate::engine::Effect::MapRun`]):
//! each advance that changes a run overwrites its row, in the advance's transaction; an
//! execution that ends leaves none of its runs `RUNNING` (they become `ABORTED`).

use std::future::Future;

use cairn_asl::interpreter::{MapRunState, MapRunStatus, MapRunUpdate};

use crate::{Result, Time};

/// A Map Run as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct MapRunRecord {
    pub arn: String,
    /// The execution whose Distributed Map it is.
    pub execution_arn: String,
    pub status: MapRunStatus,
    pub started_at: Time,
    pub stopped_at: Option<Time>,
    /// 0: no limit.
    pub max_concurrency: u64,
    pub tolerated_failure_count: u64,
    pub tolerated_failure_percentage: f64,
    pub total: u64,
    pub running: u64,
    pub succeeded: u64,
    /// Items whose child failed (not those that timed out: AWS counts them apart).
    pub failed: u64,
    /// Items whose child timed out (DescribeMapRun's `timedOut`): a STANDARD child
    /// execution that ended `TIMED_OUT`, an EXPRESS iteration past its five minutes.
    pub timed_out: u64,
    /// Items whose iteration was cut short when the run was aborted.
    pub aborted: u64,
    /// How many times a redrive ran the run's failed iterations again, and when last.
    pub redrive_count: u64,
    pub redrive_date: Option<Time>,
    /// Items whose results a ResultWriter wrote (DescribeMapRun's `resultsWritten`).
    pub results_written: u64,
}

impl MapRunRecord {
    /// The row for `state` of a run first seen at `now`.
    pub fn new(execution_arn: &str, state: &MapRunState, now: Time) -> MapRunRecord {
        let mut record = MapRunRecord {
            arn: state.arn.clone(),
            execution_arn: execution_arn.to_string(),
            status: state.status,
            started_at: now,
            stopped_at: None,
            max_concurrency: 0,
            tolerated_failure_count: 0,
            tolerated_failure_percentage: 0.0,
            total: 0,
            running: 0,
            succeeded: 0,
            failed: 0,
            timed_out: 0,
            aborted: 0,
            redrive_count: 0,
            redrive_date: None,
            results_written: 0,
        };
        record.apply(state, now);
        record
    }

    /// Overwrites what `state` says, stopping the run at `now` once it has ended (a
    /// redriven run runs again: no stop time, and its redrive dated `now`).
    pub fn apply(&mut self, state: &MapRunState, now: Time) {
        if state.redrive_count > self.redrive_count {
            self.redrive_count = state.redrive_count;
            self.redrive_date = Some(now);
            self.aborted = 0;
        }
        if state.status == MapRunStatus::Running {
            self.stopped_at = None;
        }
        self.status = state.status;
        self.max_concurrency = state.max_concurrency;
        self.tolerated_failure_count = state.tolerated_failure_count;
        self.tolerated_failure_percentage = state.tolerated_failure_percentage;
        self.total = state.total;
        self.running = state.running;
        self.succeeded = state.succeeded;
        // The interpreter counts timed-out children among the failures (the tolerance
        // counts both); the row keeps them apart, as AWS reports them.
        self.failed = state.failed.saturating_sub(state.timed_out);
        self.timed_out = state.timed_out;
        self.results_written = state.results_written;
        if state.status != MapRunStatus::Running && self.stopped_at.is_none() {
            self.stopped_at = Some(now);
        }
    }

    /// The execution ended while the run was running: its running items are aborted.
    pub fn abort(&mut self, now: Time) {
        if self.status == MapRunStatus::Running {
            self.status = MapRunStatus::Aborted;
            self.aborted += self.running;
            self.running = 0;
            self.stopped_at = Some(now);
        }
    }

    /// Items not started.
    pub fn pending(&self) -> u64 {
        self.total.saturating_sub(
            self.running + self.succeeded + self.failed + self.timed_out + self.aborted,
        )
    }
}

/// Where a page of ListMapRuns (newest first) resumes: after this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapRunCursor {
    pub started_at: Time,
    pub arn: String,
}

/// What became of an `UpdateMapRun`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// Queued for the run's execution, which applies it in its next advance.
    Queued,
    /// No such run.
    Missing,
    /// The run has ended: nothing changes.
    NotRunning,
}

/// Map Runs, as the API reads and changes them.
pub trait MapRuns: Send + Sync {
    /// `None` when there is no such run.
    fn describe_map_run(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<Option<MapRunRecord>>> + Send;

    /// An execution's Map Runs, newest first (by start time, then ARN), after `after`.
    fn list_map_runs(
        &self,
        execution_arn: &str,
        after: Option<&MapRunCursor>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<MapRunRecord>>> + Send;

    /// `UpdateMapRun`: queues `update` for the run's execution, in one transaction with
    /// the check that the run is running.
    fn update_map_run(
        &self,
        update: &MapRunUpdate,
    ) -> impl Future<Output = Result<UpdateOutcome>> + Send;
}
