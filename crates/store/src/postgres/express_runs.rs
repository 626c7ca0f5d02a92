//! [`ExpressRuns`] for [`PgStore`]: one statement per call (records are batched across
//! concurrent callers by `express_records`). A takeover picks expired
//! leases through `express_runs_by_lease` with `FOR UPDATE SKIP LOCKED`, so replicas
//! scanning at once split the expired runs and never wait on each other.

use super::PgStore;
use crate::express_runs::{ExpressRun, ExpressRuns, TakenOver};
use crate::{Result, Time};

impl ExpressRuns for PgStore {
    /// Batched with the records that arrive meanwhile (see `express_records`).
    async fn record_express_run(
        &self,
        run: &ExpressRun,
        owner: &str,
        lease_until: Time,
    ) -> Result<()> {
        self.express_records
            .get_or_init(|| {
                // The writer's own handle has no queue of its own: no cycle keeps it alive.
                super::express_records::RecordQueue::new(PgStore {
                    pool: self.pool.clone(),
                    signals: self.signals.clone(),
                    starts: Default::default(),
                    express_records: Default::default(),
                })
            })
            .record(run, owner, lease_until)
            .await
    }

    async fn renew_express_leases(
        &self,
        owner: &str,
        arns: &[String],
        lease_until: Time,
    ) -> Result<u64> {
        if arns.is_empty() {
            return Ok(0);
        }
        let renewed = sqlx::query!(
            "update express_runs set lease_until = $3
             where arn = any($2) and owner = $1",
            owner,
            arns,
            lease_until
        )
        .execute(&self.pool)
        .await?;
        Ok(renewed.rows_affected())
    }

    async fn take_over_express_runs(
        &self,
        owner: &str,
        now: Time,
        lease_until: Time,
        limit: i64,
    ) -> Result<Vec<TakenOver>> {
        let rows = sqlx::query!(
            r#"with due as (
                   select arn from express_runs
                   where lease_until < $2
                   order by lease_until
                   limit $4
                   for update skip locked),
               taken as (
                   update express_runs r
                   set owner = $1, lease_until = $3, takeovers = r.takeovers + 1
                   from due where r.arn = due.arn
                   returning r.*)
               select t.arn, t.state_machine_arn, t.state_machine_name, t.definition_id,
                      t.role_arn, t.logging, t.tracing, t.name, t.input::text as "input!",
                      t.started_at, t.takeovers, d.body as definition
               from taken t join definitions d on d.id = t.definition_id
               order by t.lease_until"#,
            owner,
            now,
            lease_until,
            limit
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| TakenOver {
                run: ExpressRun {
                    arn: row.arn,
                    state_machine_arn: row.state_machine_arn,
                    state_machine_name: row.state_machine_name,
                    definition_id: row.definition_id,
                    role_arn: row.role_arn,
                    logging: row.logging,
                    tracing: row.tracing,
                    name: row.name,
                    input: row.input,
                    started_at: row.started_at,
                },
                definition: row.definition,
                takeovers: row.takeovers,
            })
            .collect())
    }

    async fn finish_express_runs(&self, arns: &[String]) -> Result<u64> {
        if arns.is_empty() {
            return Ok(0);
        }
        let deleted = sqlx::query!("delete from express_runs where arn = any($1)", arns)
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected())
    }

    async fn express_runs_in_flight(&self) -> Result<i64> {
        let count = sqlx::query_scalar!(r#"select count(*) as "count!" from express_runs"#)
            .fetch_one(&self.pool)
            .await?;
        Ok(count)
    }
}
