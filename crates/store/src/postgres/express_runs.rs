//! [`ExpressRuns`] for [`PgStore`]: one statement per call. A takeover picks expired
//! leases through `express_runs_by_lease` with `FOR UPDATE SKIP LOCKED`, so replicas
//! scanning at once split the expired runs and never wait on each other.

use super::PgStore;
use crate::express_runs::{ExpressRun, ExpressRuns, TakenOver};
use crate::{Result, Time};

impl ExpressRuns for PgStore {
    async fn record_express_run(
        &self,
        run: &ExpressRun,
        owner: &str,
        lease_until: Time,
    ) -> Result<()> {
        sqlx::query!(
            "insert into express_runs (arn, state_machine_arn, state_machine_name,
                 definition_id, role_arn, logging, tracing, name, input, started_at,
                 owner, lease_until)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9::text::json, $10, $11, $12)",
            run.arn,
            run.state_machine_arn,
            run.state_machine_name,
            run.definition_id,
            run.role_arn,
            run.logging,
            run.tracing,
            run.name,
            run.input,
            run.started_at,
            owner,
            lease_until
        )
        .execute(&self.pool)
        .await?;
        Ok(())
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

    async fn finish_express_run(&self, arn: &str) -> Result<bool> {
        let deleted = sqlx::query!("delete from express_runs where arn = $1", arn)
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    async fn express_runs_in_flight(&self) -> Result<i64> {
        let count = sqlx::query_scalar!(r#"select count(*) as "count!" from express_runs"#)
            .fetch_one(&self.pool)
            .await?;
        Ok(count)
    }
}
