//! [`MapRuns`] for [`MemoryStore`]: the rows the engine's commits keep.

use super::MemoryStore;
use crate::map_runs::{MapRunCursor, MapRunRecord, MapRuns};
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
}
