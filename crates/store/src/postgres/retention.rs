//! [`Retention`] for [`PgStore`]: one short transaction per batch. The executions are
//! chosen and deleted by one statement (`FOR UPDATE SKIP LOCKED`, through the partial
//! index `executions_closed`), then the rows that belong to them are deleted by their
//! execution ARN, which leads every one of those tables' keys.
//!
//! Lock order: the execution row first, as the scheduler's commit and RedriveExecution
//! take it; then the rows that belong to it. Callbacks never lock the execution row, and
//! on a closed execution they only read its tokens' tombstones.

use super::PgStore;
use crate::retention::Retention;
use crate::{Result, Time};

impl Retention for PgStore {
    async fn purge_closed(&self, closed_before: Time, limit: i64) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let arns: Vec<String> = sqlx::query_scalar!(
            "delete from executions
             where arn in (select arn from executions
                           where status <> 'RUNNING' and stopped_at < $1
                           order by stopped_at
                           limit $2
                           for update skip locked)
             returning arn",
            closed_before,
            limit
        )
        .fetch_all(&mut *tx)
        .await?;
        if arns.is_empty() {
            tx.rollback().await?;
            return Ok(0);
        }
        sqlx::query!(
            "delete from history_batches where execution_arn = any($1)",
            &arns
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!("delete from inbox where execution_arn = any($1)", &arns)
            .execute(&mut *tx)
            .await?;
        sqlx::query!("delete from tasks where execution_arn = any($1)", &arns)
            .execute(&mut *tx)
            .await?;
        sqlx::query!(
            "delete from task_tokens where execution_arn = any($1)",
            &arns
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "delete from activity_tasks where execution_arn = any($1)",
            &arns
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "delete from stored_map_values where execution_arn = any($1)",
            &arns
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "delete from execution_redrives where execution_arn = any($1)",
            &arns
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "delete from execution_test_cases where execution_arn = any($1)",
            &arns
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "delete from mocked_invocations where execution_arn = any($1)",
            &arns
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!("delete from map_runs where execution_arn = any($1)", &arns)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(arns.len() as u64)
    }
}
