//! [`MapRuns`] for [`MemoryStore`]: the rows the engine's commits keep.

use cairn_asl::interpreter::{Event, MapRunStatus, MapRunUpdate};

use super::MemoryStore;
use crate::map_runs::{MapRunCursor, MapRunRecord, MapRuns, UpdateOutcome};
use crate::signals::Channel;
use crate::Result;

impl MapRuns for MemoryStore {
    async fn describe_map_run(&self, arn: &str) -> Result<Option<MapRunRecord>> {
        Ok(self.tables().map_runs.get(arn).cloned())
    }

    async fn list_map_runs(
        &self,
        execution_arn: &str,
        after: Option<&MapRunCursor>,
        limit: i64,
    ) -> Result<Vec<MapRunRecord>> {
        let tables = self.tables();
        let mut runs: Vec<&MapRunRecord> = tables
            .map_runs
            .values()
            .filter(|run| run.execution_arn == execution_arn)
            .filter(|run| {
                after.is_none_or(|c| (run.started_at, run.arn.as_str()) < (c.started_at, &c.arn))
            })
            .collect();
        runs.sort_by(|a, b| (b.started_at, &b.arn).cmp(&(a.started_at, &a.arn)));
        Ok(runs
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(0))
            .cloned()
            .collect())
    }

    async fn update_map_run(&self, update: &MapRunUpdate) -> Result<UpdateOutcome> {
        let mut tables = self.tables();
        let execution = match tables.map_runs.get(&update.map_run_arn) {
            None => return Ok(UpdateOutcome::Missing),
            Some(run) if run.status != MapRunStatus::Running => {
                return Ok(UpdateOutcome::NotRunning)
            }
            Some(run) => run.execution_arn.clone(),
        };
        tables
            .inbox
            .push_now(&execution, Event::UpdateMapRun(update.clone()));
        drop(tables);
        self.announce(Channel::Inbox);
        Ok(UpdateOutcome::Queued)
    }
}
