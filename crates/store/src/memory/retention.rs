//! [`Retention`] for [`MemoryStore`]: the same purge under the one lock. An execution a
//! batch holds is skipped, as `SKIP LOCKED` skips it.

use std::collections::HashSet;

use cairn_asl::ExecutionStatus;

use super::MemoryStore;
use crate::retention::Retention;
use crate::{Result, Time};

impl Retention for MemoryStore {
    async fn purge_closed(&self, closed_before: Time, limit: i64) -> Result<u64> {
        let mut tables = self.tables();
        let mut due: Vec<(Time, String)> = tables
            .executions
            .values()
            .filter(|e| e.status != ExecutionStatus::Running)
            .filter_map(|e| e.stopped_at.map(|at| (at, e.arn.clone())))
            .filter(|(at, arn)| *at < closed_before && !tables.claimed.contains(arn))
            .collect();
        due.sort();
        due.truncate(usize::try_from(limit).unwrap_or(0));
        let doomed: HashSet<String> = due.into_iter().map(|(_, arn)| arn).collect();
        if doomed.is_empty() {
            return Ok(0);
        }
        for arn in &doomed {
            tables.executions.remove(arn);
            tables.test_cases.remove(arn);
        }
        let inbox: Vec<u64> = tables
            .inbox
            .rows
            .iter()
            .filter(|(_, row)| doomed.contains(&row.execution))
            .map(|(id, _)| *id)
            .collect();
        for id in inbox {
            tables.inbox.remove(id);
        }
        tables.tasks.retain(|_, t| !doomed.contains(&t.execution));
        tables
            .activity_tasks
            .retain(|_, t| !doomed.contains(&t.execution));
        tables.tokens.retain(|_, t| !doomed.contains(&t.execution));
        tables
            .stored
            .retain(|(execution, ..), _| !doomed.contains(execution));
        tables
            .mocked_invocations
            .retain(|(execution, _), _| !doomed.contains(execution));
        tables
            .map_runs
            .retain(|_, run| !doomed.contains(&run.execution_arn));
        Ok(doomed.len() as u64)
    }
}
