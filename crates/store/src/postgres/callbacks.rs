//! Callbacks in Postgres: task tokens (stored as SHA-256 hashes), `SendTask*`,
//! heartbeats, and the activity task queue `GetActivityTask` takes from.
//!
//! Lock order. Callbacks never lock the execution row: that would make every
//! SendTask* wait for whichever scheduler batch holds it. Instead every transaction here
//! takes row locks in the order the scheduler's commit does — `tasks`, then
//! `activity_tasks`, then the heartbeat timer in `inbox`, then `task_tokens` last — so no
//! two can wait on each other. (The scheduler also deletes a fired heartbeat timer
//! first, among the consumed inbox rows; a heartbeat timer exists only once the task's
//! `tasks`/`activity_tasks` row is gone, so that cannot close a cycle.) Closing a token is
//! `update … where closed_at is null`: of two concurrent callbacks, one wins.
//!
//! A heartbeat timer is an inbox timer row whose `timer_id` is the task id negated, so it
//! never collides with the interpreter's own (positive) timer ids; it carries
//! `TaskHeartbeatTimedOut` and is moved by `SendTaskHeartbeat`.

use cairn_asl::callback::token_hash;
use cairn_asl::interpreter::{Event, TaskRequest};

use super::{enqueue_for, to_json_text, PgStore};
use crate::callbacks::{answer_events, ActivityTask, Callbacks, TokenAnswer, TokenOutcome};
use crate::engine::heartbeat_timer;
use crate::signals::Channel;
use crate::Result;

/// The callback rows one commit writes: token hashes of new callback tasks, activity
/// tasks (which go to `activity_tasks`, never to `tasks`), and the closing of tokens
/// whose task was cancelled. Gathered in column arrays like the rest of the commit.
#[derive(Default)]
pub(super) struct CallbackWrites {
    token_execution: Vec<String>,
    token_task: Vec<i64>,
    token_hash: Vec<String>,
    token_heartbeat: Vec<Option<i64>>,

    activity_execution: Vec<String>,
    activity_task: Vec<i64>,
    activity_arn: Vec<String>,
    activity_input: Vec<String>,
    activity_token: Vec<String>,
    activity_heartbeat: Vec<Option<i64>>,
}

impl CallbackWrites {
    /// Notes `task`'s token's hash, if it has one.
    pub(super) fn add_token(&mut self, arn: &str, task: &TaskRequest) {
        let Some(token) = &task.token else {
            return;
        };
        self.token_execution.push(arn.to_string());
        self.token_task.push(task.task as i64);
        self.token_hash.push(token_hash(token));
        self.token_heartbeat
            .push(task.heartbeat_seconds.map(|h| h as i64));
    }

    /// Queues activity task `task` (and notes its token) for `GetActivityTask`.
    pub(super) fn add_activity(&mut self, arn: &str, task: &TaskRequest) -> Result<()> {
        self.add_token(arn, task);
        self.activity_execution.push(arn.to_string());
        self.activity_task.push(task.task as i64);
        self.activity_arn.push(task.resource.clone());
        self.activity_input.push(to_json_text(&task.input)?);
        self.activity_token
            .push(task.token.clone().unwrap_or_default());
        self.activity_heartbeat
            .push(task.heartbeat_seconds.map(|h| h as i64));
        Ok(())
    }

    /// Writes the rows inside `advance`'s transaction. `cancelled` are the
    /// (execution, task id) columns of the tasks the interpreter cancelled: their
    /// heartbeat timers and queued activity tasks go, and their tokens close.
    pub(super) async fn commit(
        self,
        tx: &mut sqlx::PgConnection,
        cancelled_execution: &[String],
        cancelled_task: &[i64],
    ) -> Result<Option<Channel>> {
        if !cancelled_execution.is_empty() {
            sqlx::query!(
                r#"delete from activity_tasks t using unnest($1::text[], $2::int8[]) as u(a, i)
                   where t.execution_arn = u.a and t.task_id = u.i"#,
                cancelled_execution,
                cancelled_task,
            )
            .execute(&mut *tx)
            .await?;
            let timers: Vec<i64> = cancelled_task.iter().map(|t| heartbeat_timer(*t)).collect();
            sqlx::query!(
                r#"delete from inbox x using unnest($1::text[], $2::int8[]) as u(a, i)
                   where x.execution_arn = u.a and x.timer_id = u.i"#,
                cancelled_execution,
                &timers,
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query!(
                r#"update task_tokens t set closed_at = now()
                   from unnest($1::text[], $2::int8[]) as u(a, i)
                   where t.execution_arn = u.a and t.task_id = u.i and t.closed_at is null"#,
                cancelled_execution,
                cancelled_task,
            )
            .execute(&mut *tx)
            .await?;
        }
        if !self.token_execution.is_empty() {
            sqlx::query!(
                r#"insert into task_tokens (token_hash, execution_arn, task_id, heartbeat_seconds)
                   select h, a, i, s from unnest($1::text[], $2::text[], $3::int8[], $4::int8[])
                        as u(h, a, i, s)
                   on conflict do nothing"#,
                &self.token_hash,
                &self.token_execution,
                &self.token_task,
                &self.token_heartbeat as &[Option<i64>],
            )
            .execute(&mut *tx)
            .await?;
        }
        if !self.activity_execution.is_empty() {
            sqlx::query!(
                r#"insert into activity_tasks (execution_arn, task_id, activity_arn, input, token,
                                               heartbeat_seconds)
                   select a, i, r, inp::json, t, h
                   from unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[],
                               $6::int8[]) as u(a, i, r, inp, t, h)
                   on conflict do nothing"#,
                &self.activity_execution,
                &self.activity_task,
                &self.activity_arn,
                &self.activity_input,
                &self.activity_token,
                &self.activity_heartbeat as &[Option<i64>],
            )
            .execute(&mut *tx)
            .await?;
            // Wakes long-polling GetActivityTask calls once committed.
            return Ok(Some(Channel::Tasks));
        }
        Ok(None)
    }
}

/// Starts task `task`'s heartbeat timer, `seconds` from now.
pub(super) async fn start_heartbeat(
    tx: &mut sqlx::PgConnection,
    arn: &str,
    task: i64,
    seconds: i64,
) -> Result<()> {
    let event = to_json_text(&crate::engine::InboxEvent::Step(
        Event::TaskHeartbeatTimedOut { task: task as u64 },
    ))?;
    sqlx::query!(
        r#"insert into inbox (execution_arn, timer_id, due_at, event)
           values ($1, $2, now() + make_interval(secs => $3), $4::text::json)
           on conflict do nothing"#,
        arn,
        heartbeat_timer(task),
        seconds as f64,
        event,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A token row and whether its task can still take a callback.
struct TokenRow {
    execution_arn: String,
    task_id: i64,
    heartbeat_seconds: Option<i64>,
    open: bool,
}

/// Finds the token, without locking anything (see the module's lock order).
async fn find_token(tx: &mut sqlx::PgConnection, token: &str) -> Result<Option<TokenRow>> {
    let row = sqlx::query!(
        r#"select t.execution_arn, t.task_id, t.heartbeat_seconds,
                  (t.closed_at is null and e.status = 'RUNNING') as "open!"
           from task_tokens t join executions e on e.arn = t.execution_arn
           where t.token_hash = $1"#,
        token_hash(token),
    )
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row.map(|r| TokenRow {
        execution_arn: r.execution_arn,
        task_id: r.task_id,
        heartbeat_seconds: r.heartbeat_seconds,
        open: r.open,
    }))
}

impl Callbacks for PgStore {
    /// Whether `token` could still complete its task, changing nothing: `Done` when it
    /// is open, else what `complete_by_token` would answer. A hint only (the task can end
    /// a moment later); `complete_by_token` decides.
    async fn token_state(&self, token: &str) -> Result<TokenOutcome> {
        let mut conn = self.pool.acquire().await?;
        Ok(match find_token(&mut conn, token).await? {
            None => TokenOutcome::Unknown,
            Some(row) if row.open => TokenOutcome::Done,
            Some(_) => TokenOutcome::Closed,
        })
    }

    /// `SendTaskSuccess` / `SendTaskFailure`: in one transaction, the task's outcome goes
    /// to its execution's inbox and the token closes, so it works once.
    async fn complete_by_token(&self, token: &str, answer: TokenAnswer) -> Result<TokenOutcome> {
        let mut tx = self.pool.begin().await?;
        let Some(row) = find_token(&mut tx, token).await? else {
            return Ok(TokenOutcome::Unknown);
        };
        if !row.open {
            return Ok(TokenOutcome::Closed);
        }
        let id = row.task_id as u64;
        // The callback can beat the worker that invoked the target (a fast Lambda), or
        // come for an activity task no poller took: the task starts now, and the
        // worker's own record will find its row gone.
        let unstarted_task = sqlx::query_scalar!(
            "delete from tasks where execution_arn = $1 and task_id = $2 returning started",
            row.execution_arn,
            row.task_id,
        )
        .fetch_optional(&mut *tx)
        .await?
        .is_some_and(|started| !started);
        let unstarted_activity = sqlx::query!(
            "delete from activity_tasks where execution_arn = $1 and task_id = $2",
            row.execution_arn,
            row.task_id,
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let events = answer_events(id, unstarted_task, unstarted_activity > 0, answer);
        sqlx::query!(
            "delete from inbox where execution_arn = $1 and timer_id = $2",
            row.execution_arn,
            heartbeat_timer(row.task_id),
        )
        .execute(&mut *tx)
        .await?;
        let closed = sqlx::query!(
            "update task_tokens set closed_at = now() where token_hash = $1 and closed_at is null",
            token_hash(token),
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if closed == 0 {
            // Another callback, or the task's timeout, closed it first.
            tx.rollback().await?;
            return Ok(TokenOutcome::Closed);
        }
        enqueue_for(&mut tx, &row.execution_arn, events).await?;
        tx.commit().await?;
        self.announce(Channel::Inbox);
        Ok(TokenOutcome::Done)
    }

    /// `SendTaskHeartbeat`: moves the task's heartbeat timer a full `HeartbeatSeconds`
    /// into the future.
    async fn heartbeat_by_token(&self, token: &str) -> Result<TokenOutcome> {
        let mut tx = self.pool.begin().await?;
        let Some(row) = find_token(&mut tx, token).await? else {
            return Ok(TokenOutcome::Unknown);
        };
        if !row.open {
            return Ok(TokenOutcome::Closed);
        }
        if let Some(seconds) = row.heartbeat_seconds {
            sqlx::query!(
                r#"update inbox set due_at = now() + make_interval(secs => $3)
                   where execution_arn = $1 and timer_id = $2"#,
                row.execution_arn,
                heartbeat_timer(row.task_id),
                seconds as f64,
            )
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query!(
            "update task_tokens set heartbeat_at = now() where token_hash = $1",
            token_hash(token),
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(TokenOutcome::Done)
    }

    /// Takes the oldest queued task of `activity_arn`, if any, for one poller: the row is
    /// locked with `SKIP LOCKED` and deleted, so two pollers never get the same task.
    /// Records `ActivityStarted` and starts the heartbeat timer in the same transaction.
    async fn claim_activity_task(
        &self,
        activity_arn: &str,
        worker_name: Option<&str>,
    ) -> Result<Option<ActivityTask>> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query!(
            r#"delete from activity_tasks
               where (execution_arn, task_id) = (
                   select execution_arn, task_id from activity_tasks where activity_arn = $1
                   order by created_at limit 1 for update skip locked)
               returning execution_arn, task_id, input::text as "input!", token,
                         heartbeat_seconds"#,
            activity_arn,
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let started = Event::ActivityStarted {
            task: row.task_id as u64,
            worker_name: worker_name.map(str::to_string),
        };
        enqueue_for(&mut tx, &row.execution_arn, vec![started]).await?;
        if let Some(seconds) = row.heartbeat_seconds {
            start_heartbeat(&mut tx, &row.execution_arn, row.task_id, seconds).await?;
        }
        tx.commit().await?;
        self.announce(Channel::Inbox);
        Ok(Some(ActivityTask {
            token: row.token,
            input: row.input,
        }))
    }
}
