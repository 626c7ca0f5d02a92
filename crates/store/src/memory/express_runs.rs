//! [`ExpressRuns`] for [`MemoryStore`]: the runs in a map under the one lock, so a
//! takeover is atomic as `SKIP LOCKED` makes it. Nothing survives a restart, so under
//! `cairn dev` a run lost with the process is lost for good.

use super::{ExpressRunRow, MemoryStore};
use crate::express_runs::{ExpressRun, ExpressRuns, TakenOver};
use crate::time::to_micros;
use crate::{Result, StoreError, Time};

impl ExpressRuns for MemoryStore {
    async fn record_express_run(
        &self,
        run: &ExpressRun,
        owner: &str,
        lease_until: Time,
    ) -> Result<()> {
        let mut tables = self.tables();
        if tables.express_runs.contains_key(&run.arn) {
            // The primary key Postgres would refuse.
            return Err(StoreError::Unavailable(format!(
                "express run {} is already recorded",
                run.arn
            )));
        }
        let mut run = run.clone();
        run.started_at = to_micros(run.started_at);
        tables.express_runs.insert(
            run.arn.clone(),
            ExpressRunRow {
                run,
                owner: owner.to_string(),
                lease_until: to_micros(lease_until),
                takeovers: 0,
            },
        );
        Ok(())
    }

    async fn renew_express_leases(
        &self,
        owner: &str,
        arns: &[String],
        lease_until: Time,
    ) -> Result<u64> {
        let mut tables = self.tables();
        let mut renewed = 0;
        for arn in arns {
            if let Some(row) = tables.express_runs.get_mut(arn) {
                if row.owner == owner {
                    row.lease_until = to_micros(lease_until);
                    renewed += 1;
                }
            }
        }
        Ok(renewed)
    }

    async fn take_over_express_runs(
        &self,
        owner: &str,
        now: Time,
        lease_until: Time,
        limit: i64,
    ) -> Result<Vec<TakenOver>> {
        let mut tables = self.tables();
        let mut due: Vec<(Time, String)> = tables
            .express_runs
            .values()
            .filter(|row| row.lease_until < now)
            .map(|row| (row.lease_until, row.run.arn.clone()))
            .collect();
        due.sort();
        due.truncate(usize::try_from(limit).unwrap_or(0));
        let mut taken = Vec::with_capacity(due.len());
        for (_, arn) in due {
            let Some(row) = tables.express_runs.get(&arn) else {
                continue;
            };
            // Checked before the row changes: a failed call changes nothing.
            let definition = tables
                .definition(row.run.definition_id)
                .cloned()
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "express run {} names definition {}, which is not stored",
                        row.run.arn, row.run.definition_id
                    ))
                })?;
            let Some(row) = tables.express_runs.get_mut(&arn) else {
                continue;
            };
            row.owner = owner.to_string();
            row.lease_until = to_micros(lease_until);
            row.takeovers += 1;
            taken.push(TakenOver {
                run: row.run.clone(),
                definition,
                takeovers: row.takeovers,
            });
        }
        Ok(taken)
    }

    async fn finish_express_runs(&self, arns: &[String]) -> Result<u64> {
        let mut tables = self.tables();
        Ok(arns
            .iter()
            .filter(|arn| tables.express_runs.remove(*arn).is_some())
            .count() as u64)
    }

    async fn express_runs_in_flight(&self) -> Result<i64> {
        Ok(self.tables().express_runs.len() as i64)
    }
}
