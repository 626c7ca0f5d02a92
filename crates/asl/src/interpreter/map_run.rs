//! What a Distributed Map tells the driver of its Map Run ([`Command::MapRun`]): after
//! every step that changed it, the whole of its state, so the driver can keep one row
//! per run (DescribeMapRun, ListMapRuns) by overwriting it.

use serde::{Deserialize, Serialize};

use super::join::Join;
use super::run::Run;
use super::Command;

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
    pub failed: u64,
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
        let Some(config) = &join.map_run else {
            return;
        };
        let failed = join.failures;
        let state = MapRunState {
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
        };
        self.output.commands.push(Command::MapRun(state));
    }
}
