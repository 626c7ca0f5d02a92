//! [`MapRuns`] for [`PgStore`], and the commit's writes to `map_runs`.

use cairn_asl::interpreter::{Event, MapRunState, MapRunStatus, MapRunUpdate};

use super::{enqueue_now, PgStore};
use crate::engine::InboxEvent;
use crate::map_runs::{MapRunCursor, MapRunRecord, MapRuns, UpdateOutcome};
use crate::signals::Channel;
use crate::{Result, StoreError, Time};

/// The Map Runs one commit writes, in column arrays, and the executions that ended in
/// it (their runs still `RUNNING` are aborted).
#[derive(Default)]
pub(super) struct MapRunWrites {
    arn: Vec<String>,
    execution_arn: Vec<String>,
    status: Vec<String>,
    max_concurrency: Vec<i64>,
    tolerated_failure_count: Vec<i64>,
    tolerated_failure_percentage: Vec<f64>,
    total: Vec<i64>,
    running: Vec<i64>,
    succeeded: Vec<i64>,
    failed: Vec<i64>,
    timed_out: Vec<i64>,
    redrive_count: Vec<i64>,
    results_written: Vec<i64>,
    ended: Vec<String>,
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl MapRunWrites {
    pub(super) fn add(&mut self, execution_arn: &str, state: MapRunState) {
        self.arn.push(state.arn);
        self.execution_arn.push(execution_arn.to_string());
        self.status.push(state.status.as_str().to_string());
        self.max_concurrency.push(count(state.max_concurrency));
        self.tolerated_failure_count
            .push(count(state.tolerated_failure_count));
        self.tolerated_failure_percentage
            .push(state.tolerated_failure_percentage);
        self.total.push(count(state.total));
        self.running.push(count(state.running));
        self.succeeded.push(count(state.succeeded));
        // As `MapRunRecord::apply`: timed-out children are kept apart from `failed`.
        self.failed
            .push(count(state.failed.saturating_sub(state.timed_out)));
        self.timed_out.push(count(state.timed_out));
        self.redrive_count.push(count(state.redrive_count));
        self.results_written.push(count(state.results_written));
    }

    pub(super) fn ended(&mut self, execution_arn: &str) {
        self.ended.push(execution_arn.to_string());
    }

    /// Upserts the runs (started now the first time, stopped now once ended), then
    /// aborts the running runs of the executions that ended.
    pub(super) async fn commit(self, tx: &mut sqlx::PgConnection) -> Result<()> {
        if !self.arn.is_empty() {
            sqlx::query!(
                r#"-- query: write_map_runs
                insert into map_runs (arn, execution_arn, status, started_at, stopped_at,
                    max_concurrency, tolerated_failure_count, tolerated_failure_percentage,
                    total, running, succeeded, failed, timed_out, redrive_count, results_written)
                select u.arn, u.execution_arn, u.status, now(),
                       case when u.status = 'RUNNING' then null else now() end,
                       u.mc, u.tc, u.tp, u.total, u.running, u.succeeded, u.failed, u.tout,
                       u.rc, u.rw
                from unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[],
                            $6::float8[], $7::int8[], $8::int8[], $9::int8[], $10::int8[],
                            $11::int8[], $12::int8[], $13::int8[])
                     as u(arn, execution_arn, status, mc, tc, tp, total, running, succeeded,
                          failed, tout, rc, rw)
                on conflict (arn) do update set
                    status = excluded.status,
                    stopped_at = case when excluded.status = 'RUNNING' then null
                                      else coalesce(map_runs.stopped_at, excluded.stopped_at) end,
                    redrive_count = excluded.redrive_count,
                    redrive_date = case when excluded.redrive_count > map_runs.redrive_count
                                        then now() else map_runs.redrive_date end,
                    aborted = case when excluded.redrive_count > map_runs.redrive_count
                                   then 0 else map_runs.aborted end,
                    max_concurrency = excluded.max_concurrency,
                    tolerated_failure_count = excluded.tolerated_failure_count,
                    tolerated_failure_percentage = excluded.tolerated_failure_percentage,
                    total = excluded.total,
                    running = excluded.running,
                    succeeded = excluded.succeeded,
                    failed = excluded.failed,
                    timed_out = excluded.timed_out,
                    results_written = excluded.results_written"#,
                &self.arn,
                &self.execution_arn,
                &self.status,
                &self.max_concurrency,
                &self.tolerated_failure_count,
                &self.tolerated_failure_percentage,
                &self.total,
                &self.running,
                &self.succeeded,
                &self.failed,
                &self.timed_out,
                &self.redrive_count,
                &self.results_written,
            )
            .execute(&mut *tx)
            .await?;
        }
        if !self.ended.is_empty() {
            sqlx::query!(
                r#"-- query: abort_map_runs
                update map_runs set status = 'ABORTED', aborted = aborted + running,
                    running = 0, stopped_at = now()
                where execution_arn = any($1) and status = 'RUNNING'"#,
                &self.ended
            )
            .execute(&mut *tx)
            .await?;
        }
        Ok(())
    }
}

struct MapRunRow {
    arn: String,
    execution_arn: String,
    status: String,
    started_at: Time,
    stopped_at: Option<Time>,
    max_concurrency: i64,
    tolerated_failure_count: i64,
    tolerated_failure_percentage: f64,
    total: i64,
    running: i64,
    succeeded: i64,
    failed: i64,
    timed_out: i64,
    aborted: i64,
    redrive_count: i64,
    redrive_date: Option<Time>,
    results_written: i64,
}

impl TryFrom<MapRunRow> for MapRunRecord {
    type Error = StoreError;

    fn try_from(row: MapRunRow) -> Result<MapRunRecord> {
        let status = MapRunStatus::parse(&row.status)
            .ok_or_else(|| StoreError::Corrupt(format!("map run status {}", row.status)))?;
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(MapRunRecord {
            arn: row.arn,
            execution_arn: row.execution_arn,
            status,
            started_at: row.started_at,
            stopped_at: row.stopped_at,
            max_concurrency: n(row.max_concurrency),
            tolerated_failure_count: n(row.tolerated_failure_count),
            tolerated_failure_percentage: row.tolerated_failure_percentage,
            total: n(row.total),
            running: n(row.running),
            succeeded: n(row.succeeded),
            failed: n(row.failed),
            timed_out: n(row.timed_out),
            aborted: n(row.aborted),
            redrive_count: n(row.redrive_count),
            redrive_date: row.redrive_date,
            results_written: n(row.results_written),
        })
    }
}

impl MapRuns for PgStore {
    async fn describe_map_run(&self, arn: &str) -> Result<Option<MapRunRecord>> {
        let row = sqlx::query_as!(
            MapRunRow,
            r#"-- query: describe_map_run
            select arn, execution_arn, status, started_at, stopped_at, max_concurrency,
                   tolerated_failure_count, tolerated_failure_percentage, total, running,
                   succeeded, failed, timed_out, aborted, redrive_count, redrive_date, results_written
            from map_runs where arn = $1"#,
            arn
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(MapRunRecord::try_from).transpose()
    }

    async fn list_map_runs(
        &self,
        execution_arn: &str,
        after: Option<&MapRunCursor>,
        limit: i64,
    ) -> Result<Vec<MapRunRecord>> {
        let (after_time, after_arn) = match after {
            Some(c) => (c.started_at, c.arn.as_str()),
            None => (chrono::DateTime::<chrono::Utc>::MAX_UTC, ""),
        };
        let rows = sqlx::query_as!(
            MapRunRow,
            r#"-- query: list_map_runs
            select arn, execution_arn, status, started_at, stopped_at, max_concurrency,
                   tolerated_failure_count, tolerated_failure_percentage, total, running,
                   succeeded, failed, timed_out, aborted, redrive_count, redrive_date, results_written
            from map_runs
            where execution_arn = $1 and (started_at, arn) < ($2, $3)
            order by started_at desc, arn desc limit $4"#,
            execution_arn,
            after_time,
            after_arn,
            limit
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(MapRunRecord::try_from).collect()
    }

    async fn update_map_run(&self, update: &MapRunUpdate) -> Result<UpdateOutcome> {
        let mut tx = self.pool.begin().await?;
        // The row is locked until the event is queued: a commit that ends the run
        // waits, so an update is never queued for a run that had already ended.
        let row = sqlx::query!(
            r#"-- query: lock_map_run
            select execution_arn, status from map_runs where arn = $1 for update"#,
            update.map_run_arn
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(UpdateOutcome::Missing);
        };
        if row.status != MapRunStatus::Running.as_str() {
            return Ok(UpdateOutcome::NotRunning);
        }
        let event = InboxEvent::Step(Event::UpdateMapRun(update.clone()));
        enqueue_now(&mut tx, &[row.execution_arn], &[event]).await?;
        tx.commit().await?;
        self.announce(Channel::Inbox);
        Ok(UpdateOutcome::Queued)
    }
}
