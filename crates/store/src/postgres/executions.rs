//! [`Executions`] for [`PgStore`].

use cairn_asl::interpreter::Event;
use cairn_asl::ExecutionStatus;

use super::{status_of, to_json_text, PgStore};
use crate::engine::InboxEvent;
use crate::executions::{
    redrivability, ExecutionCursor, ExecutionDefinition, ExecutionRecord, ExecutionSummary,
    Executions, ExecutionsOf, NewExecution, Redriven, Started, StoredEvent, REDRIVE_TOKENS_KEPT,
    REDRIVE_TOKEN_MINUTES,
};
use crate::history::{decode, Page};
use crate::signals::Channel;
use crate::{Result, StoreError, Time};

/// A row of `list_executions` / `list_executions_by_status`.
struct SummaryRow {
    arn: String,
    state_machine_arn: String,
    name: String,
    status: String,
    started_at: crate::Time,
    stopped_at: Option<crate::Time>,
    state_machine_version_arn: Option<String>,
    state_machine_alias_arn: Option<String>,
    redrive_count: i32,
    redrive_date: Option<crate::Time>,
}

impl PgStore {
    /// The answer to a start whose execution name is taken: AWS's idempotent start when
    /// the input is the same and the execution still runs, `ExecutionAlreadyExists`
    /// otherwise.
    pub(super) async fn already_started(&self, arn: &str, input: &str) -> Result<Started> {
        let existing = sqlx::query!(
            r#"select input::text as "input!", status, started_at from executions where arn = $1"#,
            arn
        )
        .fetch_one(&self.pool)
        .await?;
        if existing.input == input && status_of(&existing.status)? == ExecutionStatus::Running {
            return Ok(Started {
                arn: arn.to_string(),
                started_at: existing.started_at,
                created: false,
            });
        }
        Err(StoreError::ExecutionAlreadyExists(arn.to_string()))
    }
}

/// The events of `page` from `execution_arn`'s history batches, at most `limit` (a
/// batch holds at least one event, so `limit` batches hold the page).
pub(super) async fn read_history(
    conn: &mut sqlx::PgConnection,
    execution_arn: &str,
    page: Page,
    limit: i64,
) -> Result<Vec<StoredEvent>> {
    let batches = match page {
        Page::Before(before) => {
            sqlx::query_scalar!(
                r#"select events::text as "events!" from history_batches
                   where execution_arn = $1 and first_id < $2
                   order by first_id desc limit $3"#,
                execution_arn,
                before,
                limit
            )
            .fetch_all(&mut *conn)
            .await?
        }
        Page::After(after) => {
            sqlx::query_scalar!(
                r#"select events::text as "events!" from history_batches
                   where execution_arn = $1 and last_id > $2
                   order by first_id limit $3"#,
                execution_arn,
                after,
                limit
            )
            .fetch_all(&mut *conn)
            .await?
        }
    };
    decode(&batches, page, limit)
}

impl Executions for PgStore {
    /// The machine's lookup, the execution's insert and its start event in one statement,
    /// shared with the starts that arrive meanwhile (see `starts`).
    async fn start_execution(&self, execution: &NewExecution) -> Result<Option<Started>> {
        self.starts
            .get_or_init(|| {
                // The writer's own handle has no queue of its own: no cycle keeps it alive.
                super::starts::StartQueue::new(PgStore {
                    pool: self.pool.clone(),
                    signals: self.signals.clone(),
                    starts: Default::default(),
                    express_records: Default::default(),
                })
            })
            .start(execution)
            .await
    }

    async fn describe_execution(&self, arn: &str) -> Result<ExecutionRecord> {
        let row = sqlx::query!(
            r#"select e.arn, e.state_machine_arn, e.name, e.status, e.input::text as "input!",
                      e.output::text as output, e.error, e.cause, e.started_at, e.stopped_at,
                      e.history_length, e.state_machine_version_arn, e.state_machine_alias_arn,
                      e.redrive_count, e.redrive_date, e.map_run_arn,
                      -- A Map Run's child names a labelled machine that has no row: it is
                      -- redriven through its parent, never on its own.
                      coalesce(m.status <> 'ACTIVE', true) as "machine_deleting!"
               from executions e left join state_machines m on m.arn = e.state_machine_arn
               where e.arn = $1"#,
            arn
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::ExecutionDoesNotExist(arn.to_string()))?;
        Ok(ExecutionRecord {
            arn: row.arn,
            state_machine_arn: row.state_machine_arn,
            name: row.name,
            status: status_of(&row.status)?,
            input: row.input,
            output: row.output,
            error: row.error,
            cause: row.cause,
            started_at: row.started_at,
            stopped_at: row.stopped_at,
            history_length: row.history_length,
            version_arn: row.state_machine_version_arn,
            alias_arn: row.state_machine_alias_arn,
            redrive_count: i64::from(row.redrive_count),
            redrive_date: row.redrive_date,
            machine_deleting: row.machine_deleting,
            map_run_arn: row.map_run_arn,
        })
    }

    async fn execution_definition(
        &self,
        execution_arn: &str,
    ) -> Result<Option<ExecutionDefinition>> {
        let row = sqlx::query!(
            r#"select e.arn, e.state_machine_arn, e.role_arn, e.definition_id, d.body, e.started_at,
                      e.state_machine_version_arn
               from executions e join definitions d on d.id = e.definition_id
               where e.arn = $1"#,
            execution_arn
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| ExecutionDefinition {
            arn: r.arn,
            state_machine_arn: r.state_machine_arn,
            role_arn: r.role_arn,
            definition_id: r.definition_id,
            definition: r.body,
            started_at: r.started_at,
            version_arn: r.state_machine_version_arn,
        }))
    }

    async fn list_executions(
        &self,
        of: &ExecutionsOf,
        status: Option<ExecutionStatus>,
        redriven: Option<bool>,
        after: Option<&ExecutionCursor>,
        limit: i64,
    ) -> Result<Vec<ExecutionSummary>> {
        // No cursor is the start of the list: every stored time is before infinity.
        let (after_time, after_arn) = match after {
            Some(c) => (c.started_at, c.arn.as_str()),
            None => (chrono::DateTime::<chrono::Utc>::MAX_UTC, ""),
        };
        let (kind, arn) = match of {
            ExecutionsOf::Machine(arn) => ("machine", arn),
            ExecutionsOf::Version(arn) => ("version", arn),
            ExecutionsOf::Alias(arn) => ("alias", arn),
            ExecutionsOf::MapRun(arn) => ("mapRun", arn),
        };
        // Each page is a range of an index read in order, however deep it is (100,000
        // executions of a machine page like the first 100): one branch per kind, each
        // with its own index, and one query with a status and one without, so that a
        // generic plan (sqlx prepares its statements) still has every condition as an
        // index condition. `crates/store/tests/listing_plans.rs` EXPLAINs both.
        let rows = match status {
            None => sqlx::query_as!(
                SummaryRow,
                r#"-- query: list_executions
               select arn as "arn!", state_machine_arn as "state_machine_arn!", name as "name!",
                      status as "status!", started_at as "started_at!", stopped_at,
                      state_machine_version_arn, state_machine_alias_arn,
                      redrive_count as "redrive_count!", redrive_date
               from (
                   (select arn, state_machine_arn, name, status, started_at, stopped_at, state_machine_version_arn, state_machine_alias_arn, redrive_count, redrive_date
                    from executions
                    where $5 = 'machine' and state_machine_arn = $1 and (started_at, arn) < ($2, $3)
                      and ($6::bool is null or (redrive_count > 0) = $6)
                    order by started_at desc, arn desc limit $4)
                   union all
                   (select arn, state_machine_arn, name, status, started_at, stopped_at, state_machine_version_arn, state_machine_alias_arn, redrive_count, redrive_date
                    from executions
                    where $5 = 'version' and state_machine_version_arn = $1 and (started_at, arn) < ($2, $3)
                      and ($6::bool is null or (redrive_count > 0) = $6)
                    order by started_at desc, arn desc limit $4)
                   union all
                   (select arn, state_machine_arn, name, status, started_at, stopped_at, state_machine_version_arn, state_machine_alias_arn, redrive_count, redrive_date
                    from executions
                    where $5 = 'alias' and state_machine_alias_arn = $1 and (started_at, arn) < ($2, $3)
                      and ($6::bool is null or (redrive_count > 0) = $6)
                    order by started_at desc, arn desc limit $4)
                   union all
                   (select arn, state_machine_arn, name, status, started_at, stopped_at, state_machine_version_arn, state_machine_alias_arn, redrive_count, redrive_date
                    from executions
                    where $5 = 'mapRun' and map_run_arn = $1 and (started_at, arn) < ($2, $3)
                      and ($6::bool is null or (redrive_count > 0) = $6)
                    order by started_at desc, arn desc limit $4)
               ) e
               order by started_at desc, arn desc
               limit $4"#,
                arn,
                after_time,
                after_arn,
                limit,
                kind,
                redriven,
            )
            .fetch_all(&self.pool)
            .await?,
            Some(status) => sqlx::query_as!(
                SummaryRow,
                r#"-- query: list_executions_by_status
               select arn as "arn!", state_machine_arn as "state_machine_arn!", name as "name!",
                      status as "status!", started_at as "started_at!", stopped_at,
                      state_machine_version_arn, state_machine_alias_arn,
                      redrive_count as "redrive_count!", redrive_date
               from (
                   (select arn, state_machine_arn, name, status, started_at, stopped_at, state_machine_version_arn, state_machine_alias_arn, redrive_count, redrive_date
                    from executions
                    where $5 = 'machine' and state_machine_arn = $1 and status = $6
                      and (started_at, arn) < ($2, $3)
                      and ($7::bool is null or (redrive_count > 0) = $7)
                    order by started_at desc, arn desc limit $4)
                   union all
                   (select arn, state_machine_arn, name, status, started_at, stopped_at, state_machine_version_arn, state_machine_alias_arn, redrive_count, redrive_date
                    from executions
                    where $5 = 'version' and state_machine_version_arn = $1 and status = $6
                      and (started_at, arn) < ($2, $3)
                      and ($7::bool is null or (redrive_count > 0) = $7)
                    order by started_at desc, arn desc limit $4)
                   union all
                   (select arn, state_machine_arn, name, status, started_at, stopped_at, state_machine_version_arn, state_machine_alias_arn, redrive_count, redrive_date
                    from executions
                    where $5 = 'alias' and state_machine_alias_arn = $1 and status = $6
                      and (started_at, arn) < ($2, $3)
                      and ($7::bool is null or (redrive_count > 0) = $7)
                    order by started_at desc, arn desc limit $4)
                   union all
                   (select arn, state_machine_arn, name, status, started_at, stopped_at, state_machine_version_arn, state_machine_alias_arn, redrive_count, redrive_date
                    from executions
                    where $5 = 'mapRun' and map_run_arn = $1 and status = $6
                      and (started_at, arn) < ($2, $3)
                      and ($7::bool is null or (redrive_count > 0) = $7)
                    order by started_at desc, arn desc limit $4)
               ) e
               order by started_at desc, arn desc
               limit $4"#,
                arn,
                after_time,
                after_arn,
                limit,
                kind,
                status.as_str(),
                redriven,
            )
            .fetch_all(&self.pool)
            .await?,
        };
        rows.into_iter()
            .map(|r| {
                Ok(ExecutionSummary {
                    arn: r.arn,
                    state_machine_arn: r.state_machine_arn,
                    name: r.name,
                    status: status_of(&r.status)?,
                    started_at: r.started_at,
                    stopped_at: r.stopped_at,
                    version_arn: r.state_machine_version_arn,
                    alias_arn: r.state_machine_alias_arn,
                    redrive_count: i64::from(r.redrive_count),
                    redrive_date: r.redrive_date,
                })
            })
            .collect()
    }

    async fn history_page(
        &self,
        execution_arn: &str,
        after: Option<i64>,
        limit: i64,
        reverse: bool,
    ) -> Result<Option<Vec<StoredEvent>>> {
        let mut tx = self.pool.begin().await?;
        let exists = sqlx::query_scalar!(
            r#"select exists (select 1 from executions where arn = $1) as "exists!""#,
            execution_arn
        )
        .fetch_one(&mut *tx)
        .await?;
        if !exists {
            tx.commit().await?;
            return Ok(None);
        }
        let page = if reverse {
            Page::Before(after.unwrap_or(i64::MAX))
        } else {
            Page::After(after.unwrap_or(0))
        };
        let events = read_history(&mut tx, execution_arn, page, limit).await?;
        tx.commit().await?;
        Ok(Some(events))
    }

    /// Locks the execution's row, so that two redrives cannot both find it redrivable.
    async fn redrive_execution(
        &self,
        arn: &str,
        client_token: Option<&str>,
        now: Time,
    ) -> Result<Redriven> {
        let now = crate::time::to_micros(now);
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query!(
            r#"select e.state_machine_arn, e.status, e.started_at, e.stopped_at, e.history_length,
                      coalesce(m.status <> 'ACTIVE', true) as "machine_deleting!"
               from executions e left join state_machines m on m.arn = e.state_machine_arn
               where e.arn = $1
               for update of e"#,
            arn
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::ExecutionDoesNotExist(arn.to_string()))?;
        if let Some(token) = client_token {
            let earlier = sqlx::query_scalar!(
                r#"select redriven_at from (
                       select client_token, redriven_at from execution_redrives
                       where execution_arn = $1 order by redriven_at desc limit $4
                   ) recent
                   where client_token = $2 and redriven_at > $3"#,
                arn,
                token,
                now - chrono::TimeDelta::minutes(REDRIVE_TOKEN_MINUTES),
                REDRIVE_TOKENS_KEPT,
            )
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(redrive_date) = earlier {
                tx.commit().await?;
                return Ok(Redriven {
                    state_machine_arn: row.state_machine_arn,
                    redrive_date,
                    redriven: false,
                });
            }
        }
        let allowed = redrivability(
            status_of(&row.status)?,
            row.started_at,
            row.stopped_at,
            row.history_length,
            row.machine_deleting,
            now,
        );
        if let Err(why) = allowed {
            // Now, not when the dropped transaction's rollback reaches the server: until
            // then the row stays locked, and schedulers skip the execution.
            tx.rollback().await?;
            return Err(StoreError::ExecutionNotRedrivable(arn.to_string(), why));
        }
        let event = to_json_text(&InboxEvent::Step(Event::Redrive))?;
        sqlx::query!(
            r#"update executions
               set status = 'RUNNING', stopped_at = null, output = null, error = null,
                   cause = null, redrive_count = redrive_count + 1, redrive_date = $2
               where arn = $1"#,
            arn,
            now
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            r#"insert into inbox (execution_arn, due_at, event) values ($1, now(), $2::text::json)"#,
            arn,
            event
        )
        .execute(&mut *tx)
        .await?;
        if let Some(token) = client_token {
            sqlx::query!(
                r#"insert into execution_redrives (execution_arn, client_token, redriven_at)
                   values ($1, $2, $3)
                   on conflict (execution_arn, client_token) do update set redriven_at = $3"#,
                arn,
                token,
                now
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query!(
                r#"delete from execution_redrives
                   where execution_arn = $1 and client_token not in (
                       select client_token from execution_redrives
                       where execution_arn = $1 order by redriven_at desc limit $2)"#,
                arn,
                REDRIVE_TOKENS_KEPT
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.announce(Channel::Inbox);
        Ok(Redriven {
            state_machine_arn: row.state_machine_arn,
            redrive_date: now,
            redriven: true,
        })
    }

    async fn stop_execution(
        &self,
        arn: &str,
        error: Option<&str>,
        cause: Option<&str>,
    ) -> Result<()> {
        let event = to_json_text(&InboxEvent::Step(Event::Stop {
            error: error.map(str::to_string),
            cause: cause.map(str::to_string),
        }))?;
        let mut tx = self.pool.begin().await?;
        let status = sqlx::query_scalar!("select status from executions where arn = $1", arn)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::ExecutionDoesNotExist(arn.to_string()))?;
        let running = status_of(&status)? == ExecutionStatus::Running;
        if running {
            sqlx::query!(
                r#"insert into inbox (execution_arn, due_at, event) values ($1, now(), $2::text::json)"#,
                arn,
                event
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        if running {
            self.announce(Channel::Inbox);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::SecondsFormat;

    use super::*;

    /// Events recorded before history was batched are still there after the upgrade,
    /// each a batch of its own, read back the same.
    #[tokio::test]
    async fn the_upgrade_keeps_events_recorded_one_row_each() {
        const BATCHED_FROM: i64 = 20261125120000;
        let url = crate::testing::fresh_database_url("history_upgrade");
        let store = PgStore::connect(&url, 2).await.expect("database");
        let mut before = sqlx::migrate!("../../migrations");
        before.migrations = std::borrow::Cow::Owned(
            before
                .iter()
                .filter(|m| m.version < BATCHED_FROM)
                .cloned()
                .collect(),
        );
        before.run(store.pool()).await.expect("older migrations");
        let arn = "arn:aws:states:us-east-1:123456789012:execution:m:old";
        for (id, event_type, details) in [
            (1, "ExecutionStarted", r#"{"input":"{}","roleArn":"r"}"#),
            (2, "PassStateEntered", r#"{"name":"P","input":"{}"}"#),
        ] {
            sqlx::query(
                "insert into history_events (execution_arn, id, previous_event_id, at, type, details)
                 values ($1, $2, $2 - 1, '2026-11-25T10:00:00.123456Z', $3, $4::json)",
            )
            .bind(arn)
            .bind(id as i64)
            .bind(event_type)
            .bind(details)
            .execute(store.pool())
            .await
            .expect("an event the old way");
        }
        store.migrate().await.expect("the upgrade");

        let mut conn = store.pool().acquire().await.expect("connection");
        let events = read_history(&mut conn, arn, Page::After(0), 10)
            .await
            .expect("history");
        assert_eq!(events.len(), 2);
        assert_eq!(
            (
                events[1].id,
                events[1].previous_event_id,
                events[1].event_type.as_str()
            ),
            (2, 1, "PassStateEntered")
        );
        assert_eq!(events[1].details, r#"{"name":"P","input":"{}"}"#);
        assert_eq!(
            events[0].at.to_rfc3339_opts(SecondsFormat::Micros, true),
            "2026-11-25T10:00:00.123456Z"
        );
    }
}
