//! What a Distributed Map tells the driver of its Map Run ([`Command::MapRun`]): after
//! every step that changed it, the whole of its state, so the driver can keep one row
//! per run (DescribeMapRun, ListMapRuns) by overwriting it.

use serde::{Deserialize, Serialize};

use super::frame::Waiting;
use super::join::Join;
use super::run::Run;
use super::Command;
use crate::model::StateKind;

/// A Map Run's status, as DescribeMapRun spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MapRunStatus {
    Running,
    Succeeded,
    Failed,
    Aborted,
}

impl MapRunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MapRunStatus::Running => "RUNNING",
            MapRunStatus::Succeeded => "SUCCEEDED",
            MapRunStatus::Failed => "FAILED",
            MapRunStatus::Aborted => "ABORTED",
        }
    }

    pub fn parse(text: &str) -> Option<MapRunStatus> {
        [
            MapRunStatus::Running,
            MapRunStatus::Succeeded,
            MapRunStatus::Failed,
            MapRunStatus::Aborted,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// What a Map Run was started with: kept in its join.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct MapRunConfig {
    pub(super) arn: String,
    /// 0: no limit.
    pub(super) max_concurrency: u64,
    pub(super) tolerated_failure_count: u64,
    pub(super) tolerated_failure_percentage: f64,
    /// How many times a redrive of the execution ran the run's failed iterations again.
    #[serde(default)]
    pub(super) redrive_count: u64,
}

/// What `UpdateMapRun` changes of a running Map Run; `None` leaves a setting as it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapRunUpdate {
    pub map_run_arn: String,
    /// 0: no limit.
    pub max_concurrency: Option<u64>,
    pub tolerated_failure_count: Option<u64>,
    /// 0 to 100.
    pub tolerated_failure_percentage: Option<f64>,
}

/// A Map Run as it stands after a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapRunState {
    pub arn: String,
    pub status: MapRunStatus,
    /// 0: no limit.
    pub max_concurrency: u64,
    pub tolerated_failure_count: u64,
    pub tolerated_failure_percentage: f64,
    /// Items in all.
    pub total: u64,
    pub running: u64,
    pub succeeded: u64,
    /// Items whose iteration failed or timed out: what the tolerance counts.
    pub failed: u64,
    /// Of `failed`, the children that timed out (AWS's `timedOut`, which AWS does not
    /// count in `failed`): STANDARD child executions, and EXPRESS iterations past their
    /// five minutes.
    #[serde(default)]
    pub timed_out: u64,
    /// How many times the run was redriven.
    #[serde(default)]
    pub redrive_count: u64,
    /// Items whose results a `ResultWriter` wrote (AWS's `resultsWritten`): 0 until
    /// the files are written, and for a Map without a writer.
    #[serde(default)]
    pub results_written: u64,
}

impl MapRunState {
    /// Items not started yet (AWS's `pending`).
    pub fn pending(&self) -> u64 {
        self.total
            .saturating_sub(self.running + self.succeeded + self.failed)
    }
}

impl Run<'_> {
    /// Tells the driver where `join`'s Map Run stands (nothing for a Map without one).
    pub(super) fn report_map_run(&mut self, join: &Join, status: MapRunStatus) {
        if let Some(state) = map_run_state(join, status) {
            self.output.commands.push(Command::MapRun(state));
        }
    }
}

/// Where `join`'s Map Run stands (`None` for a Map without one).
pub(super) fn map_run_state(join: &Join, status: MapRunStatus) -> Option<MapRunState> {
    let config = join.map_run.as_ref()?;
    let failed = join.failures;
    Some(MapRunState {
        arn: config.arn.clone(),
        status,
        max_concurrency: config.max_concurrency,
        tolerated_failure_count: config.tolerated_failure_count,
        tolerated_failure_percentage: config.tolerated_failure_percentage,
        total: join.total() as u64,
        running: if status == MapRunStatus::Running {
            join.running.len() as u64
        } else {
            0
        },
        succeeded: (join.done as u64).saturating_sub(failed),
        failed,
        timed_out: join.timed_out,
        redrive_count: config.redrive_count,
        results_written: 0,
    })
}

impl Run<'_> {
    /// Applies `UpdateMapRun` to the Map whose run it names: the new concurrency starts
    /// more iterations at once when it grew (fewer start as others end when it shrank);
    /// the new tolerance applies to the failures still to come.
    pub(super) fn update_map_run(&mut self, update: &MapRunUpdate) {
        let found = self
            .snapshot
            .frames
            .iter()
            .find_map(|(id, frame)| match &frame.waiting {
                Waiting::Children(join)
                    if join
                        .map_run
                        .as_ref()
                        .is_some_and(|run| run.arn == update.map_run_arn) =>
                {
                    Some(*id)
                }
                _ => None,
            });
        let Some(frame_id) = found else {
            return;
        };
        let Some(mut frame) = self.snapshot.frames.remove(&frame_id) else {
            return;
        };
        let Waiting::Children(mut join) = std::mem::replace(&mut frame.waiting, Waiting::Enter)
        else {
            self.snapshot.frames.insert(frame_id, frame);
            return;
        };
        let total = join.total() as f64;
        let tolerance_changed = update.tolerated_failure_count.is_some()
            || update.tolerated_failure_percentage.is_some();
        if let Some(run) = join.map_run.as_deref_mut() {
            if let Some(n) = update.max_concurrency {
                run.max_concurrency = n;
                join.max_concurrency = if n == 0 { usize::MAX } else { n as usize };
            }
            if let Some(n) = update.tolerated_failure_count {
                run.tolerated_failure_count = n;
            }
            if let Some(p) = update.tolerated_failure_percentage {
                run.tolerated_failure_percentage = p;
            }
            if tolerance_changed {
                let by_percentage =
                    ((run.tolerated_failure_percentage / 100.0) * total).floor() as u64;
                join.tolerated_failures = Some(run.tolerated_failure_count.max(by_percentage));
            }
        }
        let Some(StateKind::Map(map)) = self.state_of(&frame).map(|s| &s.kind) else {
            frame.waiting = Waiting::Children(join);
            self.snapshot.frames.insert(frame_id, frame);
            return;
        };
        let progress = self.map_continue(frame_id, &mut frame, join, map);
        self.put_back(frame_id, frame, progress);
    }
}
