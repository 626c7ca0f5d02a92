//! [`Tasks`] for [`PgStore`]: leases on task rows, and the recording of outcomes.
//!
//! A lease is a HOT update (`lease_until` is not indexed): a worker finds free rows by
//! the primary key, the table holding only tasks not yet done.

use std::time::Duration;

use cairn_asl::interpreter::{Event, StoredKind};
use serde_json::Value;

use super::callbacks::start_heartbeat;
use super::stored::kind_code;
use super::{enqueue_for, enqueue_now, from_json_text, to_json_text, PgStore};
use crate::engine::InboxEvent;
use crate::signals::Channel;
use crate::tasks::{submission_of, Completion, LeasedTask, Tasks};
use crate::Result;

impl Tasks for PgStore {
    async fn lease_tasks(
        &self,
        owner: &str,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<LeasedTask>> {
        let seconds = lease.as_secs_f64();
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query!(
            r#"with picked as (
                   select id, started, lease_until is not null as held from tasks
                   where lease_until is null or lease_until < now()
                   order by id limit $2 for update skip locked)
               update tasks t set lease_owner = $1,
                                  lease_until = now() + make_interval(secs => $3),
                                  started = true
               from picked where t.id = picked.id
               returning t.id, t.execution_arn, t.task_id, t.state_name, t.resource,
                         t.input::text as "input!", t.timeout_seconds, t.heartbeat_seconds,
                         t.attempt, picked.started as was_started, t.trace_parent,
                         t.trace_state, picked.held as "was_held!""#,
            owner,
            limit,
            seconds
        )
        .fetch_all(&mut *tx)
        .await?;
        // The first lease of a task is its start: recorded now, in this transaction.
        let (started_execution, started_event): (Vec<String>, Vec<InboxEvent>) = rows
            .iter()
            .filter(|r| !r.was_started)
            .map(|row| {
                (
                    row.execution_arn.clone(),
                    InboxEvent::Step(Event::TaskStarted {
                        task: row.task_id as u64,
                    }),
                )
            })
            .unzip();
        if !started_execution.is_empty() {
            enqueue_now(&mut tx, &started_execution, &started_event).await?;
        }
        tx.commit().await?;
        if !started_execution.is_empty() {
            self.announce(Channel::Inbox);
        }
        Ok(rows
            .into_iter()
            .map(|r| LeasedTask {
                id: r.id,
                execution_arn: r.execution_arn,
                task_id: r.task_id,
                state_name: r.state_name,
                resource: r.resource,
                input: r.input,
                timeout_seconds: r.timeout_seconds,
                heartbeat_seconds: r.heartbeat_seconds,
                attempt: r.attempt,
                trace_parent: r.trace_parent,
                trace_state: r.trace_state,
                // Started and still carrying a lease: its holder's lease ran out.
                taken_over: r.was_started && r.was_held,
            })
            .collect())
    }

    async fn renew_leases(&self, owner: &str, tasks: &[i64], lease: Duration) -> Result<()> {
        sqlx::query!(
            r#"update tasks set lease_until = now() + make_interval(secs => $3)
               where id = any($2) and lease_owner = $1"#,
            owner,
            tasks,
            lease.as_secs_f64()
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn complete_tasks(&self, completions: &[Completion]) -> Result<Vec<bool>> {
        if completions.is_empty() {
            return Ok(Vec::new());
        }
        // The task's start was recorded when it was first leased.
        let event_body = completions
            .iter()
            .map(|c| to_json_text(&InboxEvent::Step(c.event.clone())))
            .collect::<Result<Vec<String>>>()?;
        let event_execution: Vec<String> = completions
            .iter()
            .map(|c| c.task.execution_arn.clone())
            .collect();
        let ids: Vec<i64> = completions.iter().map(|c| c.task.id).collect();
        // One statement: a task already gone (cancelled, or completed by a worker that
        // took over an expired lease) records nothing.
        let done = sqlx::query_scalar!(
            r#"with done as (delete from tasks where id = any($1) returning id),
                    queued as (
                        insert into inbox (execution_arn, due_at, event)
                        select u.a, now(), u.e::json
                        from unnest($1::int8[], $2::text[], $3::text[]) with ordinality as u(t, a, e, n)
                        where u.t in (select id from done)
                        order by u.n)
               select id as "id!" from done"#,
            &ids,
            &event_execution,
            &event_body,
        )
        .fetch_all(&self.pool)
        .await?;
        if !done.is_empty() {
            self.announce(Channel::Inbox);
        }
        let done: std::collections::HashSet<i64> = done.into_iter().collect();
        Ok(ids.iter().map(|id| done.contains(id)).collect())
    }

    /// Its `TaskStarted` was recorded at lease; a failure closes the token.
    async fn record_submission(&self, task: &LeasedTask, event: &Event) -> Result<bool> {
        let outcome = submission_of(task.task_id as u64, event);
        let submitted = matches!(outcome, Event::TaskSubmitted { .. });
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query!("delete from tasks where id = $1", task.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        enqueue_for(&mut tx, &task.execution_arn, vec![outcome]).await?;
        if submitted {
            if let Some(seconds) = task.heartbeat_seconds {
                start_heartbeat(&mut tx, &task.execution_arn, task.task_id, seconds).await?;
            }
        } else {
            sqlx::query!(
                r#"update task_tokens set closed_at = now()
                   where execution_arn = $1 and task_id = $2 and closed_at is null"#,
                task.execution_arn,
                task.task_id,
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.announce(Channel::Inbox);
        Ok(true)
    }

    async fn release_leases(&self, owner: &str) -> Result<u64> {
        let released = sqlx::query!(
            "update tasks set lease_owner = null, lease_until = null where lease_owner = $1",
            owner
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(released)
    }

    async fn store_map_values(
        &self,
        execution_arn: &str,
        map: u64,
        kind: StoredKind,
        first: u64,
        values: &[Value],
    ) -> Result<()> {
        if values.is_empty() {
            return Ok(());
        }
        let mut texts = Vec::with_capacity(values.len());
        for value in values {
            texts.push(to_json_text(value)?);
        }
        sqlx::query!(
            r#"insert into stored_map_values (execution_arn, map_key, kind, idx, value)
               select $1, $2, $3, $4 + u.o - 1, u.v::json
               from unnest($5::text[]) with ordinality as u(v, o)
               on conflict (execution_arn, map_key, kind, idx) do update set value = excluded.value"#,
            execution_arn,
            map as i64,
            kind_code(kind),
            first as i64,
            &texts,
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn map_values(
        &self,
        execution_arn: &str,
        map: u64,
        kind: StoredKind,
        from: u64,
        limit: u64,
    ) -> Result<Vec<(u64, Value)>> {
        let rows = sqlx::query!(
            r#"select idx as "idx!", value::text as "value!" from stored_map_values
               where execution_arn = $1 and map_key = $2 and kind = $3 and idx >= $4
               order by idx limit $5"#,
            execution_arn,
            map as i64,
            kind_code(kind),
            from as i64,
            limit.min(i64::MAX as u64) as i64,
        )
        .fetch_all(&self.pool)
        .await?;
        let mut values = Vec::with_capacity(rows.len());
        for row in rows {
            values.push((row.idx as u64, from_json_text(&row.value)?));
        }
        Ok(values)
    }
}
