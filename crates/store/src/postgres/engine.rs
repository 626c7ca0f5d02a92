//! [`Engine`] for [`PgStore`]: the claim (`FOR UPDATE SKIP LOCKED`) and the commit that
//! writes a batch's plans, gathered into column arrays so each table takes one
//! statement however many executions advanced.

use std::collections::HashMap;

use cairn_asl::interpreter::{Event, MapRunStatus};
use chrono::Utc;
use sqlx::{Postgres, Transaction};

use super::callbacks::CallbackWrites;
use super::map_children::MapChildWrites;
use super::map_runs::MapRunWrites;
use super::nested::{start_children, stop_children, waits_of, NestedStart};
use super::stored::{self, StoredWrites};
use super::{enqueue_now, from_json_text, status_of, to_json_text, PgStore};
use crate::engine::{
    Batch, Claimed, Committed, Effect, Engine, ExecutionUpdate, InboxEvent, NewTask, ParentTask,
    Plan, RESUME_TIMER_ID,
};
use crate::executions::TraceContext;
use crate::map_children::{self, MapChild};
use crate::signals::Channel;
use crate::tasks::{LeasedTask, TaskLease};
use crate::{Result, StoreError, Time};

/// Executions claimed in an open transaction; dropping it rolls back.
pub struct PgBatch {
    store: PgStore,
    /// `None` when nothing was claimed (the transaction is over already).
    tx: Option<Transaction<'static, Postgres>>,
    claimed: Vec<Claimed>,
    /// The claimed executions' inbox rows, consumed by the commit.
    consumed: Vec<i64>,
}

impl Engine for PgStore {
    type Batch = PgBatch;

    async fn claim(&self, limit: i64, known_definitions: &[i64]) -> Result<PgBatch> {
        let mut tx = self.pool.begin().await?;
        // Executions with a due event, earliest due first; rows another scheduler holds
        // are skipped, not waited for. Reading only a window of the due index keeps a
        // batch's cost independent of how long the queue is.
        let rows = sqlx::query!(
            r#"select e.arn, e.name, e.state_machine_arn, e.role_arn, e.definition_id,
                      e.input::text as "input!", e.started_at, e.snapshot::text as snapshot,
                      e.history_length, e.status, e.trace_parent, e.trace_caller_span,
                      e.trace_state, e.wanted::text as wanted, e.parent_arn,
                      e.parent_task_id, e.parent_waits, e.map_run_arn, e.map_index,
                      e.map_processor::text as map_processor,
                      case when e.definition_id = any($2) then null else d.body end as definition
               from executions e join definitions d on d.id = e.definition_id
               where e.arn in (select execution_arn from inbox where due_at <= now()
                               order by due_at limit 2 * $1::int8)
               limit $1
               for update of e skip locked"#,
            limit,
            known_definitions
        )
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(PgBatch {
                store: self.clone(),
                tx: None,
                claimed: Vec::new(),
                consumed: Vec::new(),
            });
        }
        let arns: Vec<String> = rows.iter().map(|c| c.arn.clone()).collect();
        let inbox = sqlx::query!(
            r#"select id, execution_arn, event::text as "event!" from inbox
               where execution_arn = any($1) and due_at <= now()
               order by id"#,
            &arns
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut consumed: Vec<i64> = Vec::with_capacity(inbox.len());
        let mut events: HashMap<String, Vec<InboxEvent>> = HashMap::new();
        for row in inbox {
            consumed.push(row.id);
            events
                .entry(row.execution_arn)
                .or_default()
                .push(from_json_text(&row.event)?);
        }

        let wanted: Vec<(String, Vec<cairn_asl::interpreter::Wanted>)> = rows
            .iter()
            .filter(|row| row.wanted.is_some())
            .map(|row| (row.arn.clone(), stored::wanted_of(row.wanted.as_deref())))
            .collect();
        let mut values = stored::load(&mut tx, &wanted).await?;
        let mut wanted: HashMap<_, _> = wanted.into_iter().collect();

        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            let map_child = match (&row.parent_arn, row.map_run_arn.clone(), row.map_index) {
                (Some(parent_arn), Some(map_run_arn), Some(index)) => Some(MapChild {
                    parent_arn: parent_arn.clone(),
                    map_run_arn,
                    index: index as u64,
                    // An unreadable place fails the child (`plan`), not the batch.
                    processor: row
                        .map_processor
                        .as_deref()
                        .and_then(map_children::processor_of)
                        .unwrap_or_default(),
                }),
                _ => None,
            };
            let parent = match (row.parent_arn, row.parent_task_id, row.parent_waits) {
                (Some(execution_arn), Some(task), Some(waits)) => {
                    waits_of(&waits).map(|waits| ParentTask {
                        execution_arn,
                        task: task as u64,
                        waits,
                    })
                }
                _ => None,
            };
            claimed.push(Claimed {
                map_child,
                events: events.remove(&row.arn).unwrap_or_default(),
                wanted: wanted.remove(&row.arn).unwrap_or_default(),
                stored: values.remove(&row.arn).unwrap_or_default(),
                status: status_of(&row.status)?,
                trace: row.trace_parent.map(|traceparent| TraceContext {
                    traceparent,
                    caller_span: row.trace_caller_span,
                    tracestate: row.trace_state,
                }),
                arn: row.arn,
                name: row.name,
                state_machine_arn: row.state_machine_arn,
                role_arn: row.role_arn,
                definition_id: row.definition_id,
                definition: row.definition,
                input: row.input,
                started_at: row.started_at,
                snapshot: row.snapshot,
                history_length: row.history_length,
                parent,
            });
        }
        Ok(PgBatch {
            store: self.clone(),
            tx: Some(tx),
            claimed,
            consumed,
        })
    }

    async fn next_due(&self) -> Result<Option<Time>> {
        let due = sqlx::query_scalar!("select min(due_at) from inbox")
            .fetch_one(&self.pool)
            .await?;
        Ok(due)
    }
}

impl Batch for PgBatch {
    fn claimed(&self) -> &[Claimed] {
        &self.claimed
    }

    async fn commit(self, plans: Vec<Plan>, lease: Option<&TaskLease>) -> Result<Committed> {
        let Some(mut tx) = self.tx else {
            return Ok(Committed::default());
        };
        if plans.len() != self.claimed.len() {
            return Err(StoreError::Corrupt(format!(
                "{} plans for {} claimed executions",
                plans.len(),
                self.claimed.len()
            )));
        }
        // Each stored value and history event is written out as JSON text here.
        let items: usize = plans
            .iter()
            .map(|p| p.effects.len() + p.history.len())
            .sum();
        let writes = crate::heavy::run(items > HEAVY_ITEMS, || {
            let mut writes = Writes::default();
            for (claimed, plan) in self.claimed.iter().zip(plans) {
                writes.add(&claimed.arn, plan)?;
            }
            Ok::<_, StoreError>(writes)
        })?;
        let (news, leased) = writes.commit(&mut tx, &self.consumed, lease).await?;
        tx.commit().await?;
        for channel in news {
            self.store.announce(channel);
        }
        Ok(Committed { leased })
    }
}

/// More effects and events than this in one commit are written out off the runtime's
/// worker threads (crate::heavy).
const HEAVY_ITEMS: usize = 4096;

/// Everything one commit writes, by table, in column arrays.
#[derive(Default)]
struct Writes {
    executions: ExecutionWrites,
    history: HistoryWrites,
    tasks: TaskWrites,
    timers: TimerWrites,
    cancelled_timers: Pairs,
    cancelled_tasks: Pairs,
    callbacks: CallbackWrites,
    nested: Vec<NestedStart>,
    /// Events for other executions (a `.sync` child's end, for its parent).
    notified_execution: Vec<String>,
    notified_event: Vec<InboxEvent>,
    stored: StoredWrites,
    map_runs: MapRunWrites,
    map_children: MapChildWrites,
}

/// (execution, id) columns.
#[derive(Default)]
struct Pairs {
    execution: Vec<String>,
    id: Vec<i64>,
}

impl Pairs {
    fn push(&mut self, execution: &str, id: u64) {
        self.execution.push(execution.to_string());
        self.id.push(id as i64);
    }
}

impl Writes {
    /// Takes one execution's plan apart by table.
    fn add(&mut self, arn: &str, plan: Plan) -> Result<()> {
        if let Some(update) = plan.execution {
            if update.ending.is_some() {
                self.map_runs.ended(arn);
                self.map_children.parent_ended(arn);
            }
            self.executions.add(arn, update, plan.history.len())?;
        }
        self.history.add(arn, &plan.history)?;
        for effect in plan.effects {
            match effect {
                Effect::Task(task) => {
                    self.callbacks.add_token(arn, &task.request);
                    self.tasks.add(arn, task)?;
                }
                Effect::Activity(task) => self.callbacks.add_activity(arn, &task)?,
                Effect::StartExecution { task, nested } => {
                    self.callbacks.add_token(arn, &task);
                    self.nested.push(NestedStart {
                        parent_arn: arn.to_string(),
                        task,
                        nested,
                    });
                }
                Effect::Timer { timer, due } => {
                    self.timers
                        .add(arn, timer as i64, due, Event::TimerFired { timer })?
                }
                Effect::Resume { at } => {
                    self.timers.add(arn, RESUME_TIMER_ID, at, Event::Resume)?
                }
                Effect::CancelTimer { timer } => self.cancelled_timers.push(arn, timer),
                Effect::CancelTask { task } => self.cancelled_tasks.push(arn, task),
                Effect::Store(value) => self.stored.store(arn, &value)?,
                Effect::ReleaseStored { map } => self.stored.release(arn, map),
                Effect::Notify {
                    execution_arn,
                    event,
                } => {
                    self.notified_execution.push(execution_arn);
                    self.notified_event.push(InboxEvent::Step(event));
                }
                Effect::MapRun(state) => {
                    if matches!(state.status, MapRunStatus::Failed | MapRunStatus::Aborted) {
                        self.map_children.run_stopped(state.arn.clone());
                    }
                    self.map_runs.add(arn, state)
                }
                Effect::StartMapChild(start) => self.map_children.start(arn, start)?,
                Effect::RedriveMapChild(redrive) => self.map_children.redrive(arn, redrive),
            }
        }
        Ok(())
    }

    /// Writes everything inside `tx`; returns the channels whose loops have news once it
    /// commits, and the tasks inserted leased to `lease`. The order:
    /// 1. the consumed inbox rows go;
    /// 2. the execution rows, then their history batches;
    /// 3. cancelled tasks' rows, then cancelled timers, then new timers;
    /// 4. stored Map values, inserted before released (a value stored and released in
    ///    one advance is not kept); Map Runs, then the ended executions' runs aborted;
    ///    Map Runs' children started, then those of runs that ended stopped;
    /// 5. new task rows;
    /// 6. callbacks: cancelled tasks' activity tasks, heartbeat timers and tokens, then
    ///    new tokens and activity tasks — `tasks` before `activity_tasks` before the
    ///    heartbeat timers before `task_tokens`, the lock order `callbacks` keeps too;
    /// 7. nested executions: children started after the token rows (so a refused
    ///    `.waitForTaskToken` start has a token to close), parents told of ended
    ///    children, cancelled tasks' `.sync` children stopped.
    async fn commit(
        self,
        tx: &mut sqlx::PgConnection,
        consumed: &[i64],
        lease: Option<&TaskLease>,
    ) -> Result<(Vec<Channel>, Vec<LeasedTask>)> {
        let mut news = Vec::new();
        sqlx::query!("delete from inbox where id = any($1)", consumed)
            .execute(&mut *tx)
            .await?;
        self.executions.commit(tx).await?;
        self.history.commit(tx).await?;
        if !self.cancelled_tasks.execution.is_empty() {
            sqlx::query!(
                r#"delete from tasks t using unnest($1::text[], $2::int8[]) as u(a, i)
                   where t.execution_arn = u.a and t.task_id = u.i"#,
                &self.cancelled_tasks.execution,
                &self.cancelled_tasks.id,
            )
            .execute(&mut *tx)
            .await?;
        }
        if !self.cancelled_timers.execution.is_empty() {
            sqlx::query!(
                r#"delete from inbox x using unnest($1::text[], $2::int8[]) as u(a, i)
                   where x.execution_arn = u.a and x.timer_id = u.i"#,
                &self.cancelled_timers.execution,
                &self.cancelled_timers.id,
            )
            .execute(&mut *tx)
            .await?;
        }
        if self.timers.commit(tx).await? {
            news.push(Channel::Inbox);
        }
        self.stored.commit(tx).await?;
        self.map_runs.commit(tx).await?;
        if self.map_children.commit(tx).await? {
            news.push(Channel::Inbox);
        }
        let leased = self.tasks.commit(tx, lease).await?;
        if leased.len() < self.tasks.len() {
            news.push(Channel::Tasks);
        }
        let cancelled = &self.cancelled_tasks;
        if let Some(channel) = self
            .callbacks
            .commit(tx, &cancelled.execution, &cancelled.id)
            .await?
        {
            news.push(channel);
        }
        let started = start_children(tx, self.nested).await?;
        let notified = !self.notified_execution.is_empty();
        if notified {
            enqueue_now(tx, &self.notified_execution, &self.notified_event).await?;
        }
        let stopped = stop_children(tx, &cancelled.execution, &cancelled.id).await?;
        if started || notified || stopped {
            news.push(Channel::Inbox);
        }
        Ok((news, leased))
    }
}

/// The executions' new rows.
#[derive(Default)]
struct ExecutionWrites {
    arn: Vec<String>,
    snapshot: Vec<String>,
    wanted: Vec<Option<String>>,
    /// Set only for executions that ended: otherwise the row keeps what it has.
    status: Vec<Option<String>>,
    output: Vec<Option<String>>,
    error: Vec<Option<String>>,
    cause: Vec<Option<String>>,
    stopped: Vec<Option<Time>>,
    history_added: Vec<i64>,
}

impl ExecutionWrites {
    fn add(&mut self, arn: &str, update: ExecutionUpdate, added: usize) -> Result<()> {
        self.arn.push(arn.to_string());
        self.snapshot.push(update.snapshot);
        self.wanted.push(stored::wanted_text(&update.wanted)?);
        let ending = update.ending;
        self.status
            .push(ending.as_ref().map(|e| e.status.as_str().to_string()));
        self.stopped.push(ending.as_ref().map(|e| e.stopped_at));
        let (output, error, cause) = match ending {
            Some(e) => (e.output, e.error, e.cause),
            None => (None, None, None),
        };
        self.output.push(output);
        self.error.push(error);
        self.cause.push(cause);
        self.history_added.push(added as i64);
        Ok(())
    }

    async fn commit(self, tx: &mut sqlx::PgConnection) -> Result<()> {
        if self.arn.is_empty() {
            return Ok(());
        }
        sqlx::query!(
            r#"update executions e set
                   snapshot = u.snapshot::json,
                   version = e.version + 1,
                   status = coalesce(u.status, e.status),
                   output = coalesce(u.output::json, e.output),
                   error = coalesce(u.error, e.error),
                   cause = coalesce(u.cause, e.cause),
                   stopped_at = coalesce(u.stopped, e.stopped_at),
                   history_length = e.history_length + u.added,
                   wanted = u.wanted::json
               from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int8[], $8::timestamptz[], $9::text[])
                    as u(arn, snapshot, status, output, error, cause, added, stopped, wanted)
               where e.arn = u.arn"#,
            &self.arn,
            &self.snapshot,
            &self.status as &[Option<String>],
            &self.output as &[Option<String>],
            &self.error as &[Option<String>],
            &self.cause as &[Option<String>],
            &self.history_added,
            &self.stopped as &[Option<Time>],
            &self.wanted as &[Option<String>],
        )
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

/// One history batch per advance that recorded events (see [`crate::history`]).
#[derive(Default)]
struct HistoryWrites {
    execution: Vec<String>,
    first: Vec<i64>,
    last: Vec<i64>,
    events: Vec<String>,
}

impl HistoryWrites {
    fn add(&mut self, arn: &str, history: &[cairn_asl::history::HistoryEvent]) -> Result<()> {
        let (Some(first), Some(last)) = (history.first(), history.last()) else {
            return Ok(());
        };
        self.execution.push(arn.to_string());
        self.first.push(first.id as i64);
        self.last.push(last.id as i64);
        self.events.push(crate::history::encode(history)?);
        Ok(())
    }

    async fn commit(self, tx: &mut sqlx::PgConnection) -> Result<()> {
        if self.execution.is_empty() {
            return Ok(());
        }
        sqlx::query!(
            r#"insert into history_batches (execution_arn, first_id, last_id, events)
               select a, f, l, e::json
               from unnest($1::text[], $2::int8[], $3::int8[], $4::text[]) as u(a, f, l, e)"#,
            &self.execution,
            &self.first,
            &self.last,
            &self.events,
        )
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

/// New inbox timer rows: interpreter timers and resumes.
#[derive(Default)]
struct TimerWrites {
    execution: Vec<String>,
    id: Vec<i64>,
    due: Vec<Time>,
    event: Vec<String>,
}

impl TimerWrites {
    fn add(&mut self, arn: &str, timer: i64, due: Time, event: Event) -> Result<()> {
        self.execution.push(arn.to_string());
        self.id.push(timer);
        self.due.push(due);
        self.event.push(to_json_text(&InboxEvent::Step(event))?);
        Ok(())
    }

    /// `true` when a timer is already due (a zero back-off, a resume now): a scheduler
    /// must wake now.
    async fn commit(self, tx: &mut sqlx::PgConnection) -> Result<bool> {
        if self.execution.is_empty() {
            return Ok(false);
        }
        // `on conflict do nothing`: one resume per execution, the first queued kept.
        sqlx::query!(
            r#"insert into inbox (execution_arn, timer_id, due_at, event)
               select a, i, d, e::json
               from unnest($1::text[], $2::int8[], $3::timestamptz[], $4::text[]) as u(a, i, d, e)
               on conflict do nothing"#,
            &self.execution,
            &self.id,
            &self.due,
            &self.event,
        )
        .execute(&mut *tx)
        .await?;
        Ok(self.due.iter().any(|d| *d <= Utc::now()))
    }
}

/// New task rows, some leased to the commit's worker.
#[derive(Default)]
struct TaskWrites {
    execution: Vec<String>,
    id: Vec<i64>,
    state: Vec<String>,
    resource: Vec<String>,
    input: Vec<String>,
    timeout: Vec<Option<i64>>,
    heartbeat: Vec<Option<i64>>,
    attempt: Vec<i64>,
    trace_parent: Vec<Option<String>>,
    trace_state: Vec<Option<String>>,
    /// `TaskStarted` is applied already: inserted started, and leased when the commit
    /// has a lease to give.
    leased: Vec<bool>,
}

impl TaskWrites {
    fn len(&self) -> usize {
        self.execution.len()
    }

    fn add(&mut self, arn: &str, task: NewTask) -> Result<()> {
        let NewTask {
            request,
            trace_parent,
            trace_state,
            leased,
        } = task;
        self.execution.push(arn.to_string());
        self.id.push(request.task as i64);
        self.input.push(to_json_text(&request.input)?);
        self.state.push(request.state_name);
        self.resource.push(request.resource);
        self.timeout.push(request.timeout_seconds.map(|t| t as i64));
        self.heartbeat
            .push(request.heartbeat_seconds.map(|t| t as i64));
        self.attempt.push(request.attempt as i64);
        self.trace_parent.push(trace_parent);
        self.trace_state.push(trace_state);
        self.leased.push(leased);
        Ok(())
    }

    /// Inserts the rows; returns those inserted leased to `lease`.
    async fn commit(
        &self,
        tx: &mut sqlx::PgConnection,
        lease: Option<&TaskLease>,
    ) -> Result<Vec<LeasedTask>> {
        if self.execution.is_empty() {
            return Ok(Vec::new());
        }
        let (owner, seconds) = lease
            .map(|l| (Some(l.owner.as_str()), l.duration.as_secs_f64()))
            .unwrap_or((None, 0.0));
        let inserted = sqlx::query!(
            r#"with inserted as (
                   insert into tasks (execution_arn, task_id, state_name, resource, input,
                                      timeout_seconds, heartbeat_seconds, attempt,
                                      trace_parent, trace_state, started, lease_owner,
                                      lease_until)
                   select a, i, s, r, inp::json, t, h, at, tp, ts, l,
                          case when l then $12::text end,
                          case when l and $12::text is not null
                               then now() + make_interval(secs => $13) end
                   from unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[],
                               $6::int8[], $7::int8[], $8::int8[], $9::text[], $10::text[],
                               $11::bool[])
                        as u(a, i, s, r, inp, t, h, at, tp, ts, l)
                   on conflict do nothing
                   returning id, execution_arn, task_id, lease_owner is not null as held)
               select id as "id!", execution_arn as "execution_arn!", task_id as "task_id!"
               from inserted where held"#,
            &self.execution,
            &self.id,
            &self.state,
            &self.resource,
            &self.input,
            &self.timeout as &[Option<i64>],
            &self.heartbeat as &[Option<i64>],
            &self.attempt,
            &self.trace_parent as &[Option<String>],
            &self.trace_state as &[Option<String>],
            &self.leased,
            owner,
            seconds,
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut row_ids: HashMap<(&str, i64), i64> = inserted
            .iter()
            .map(|r| ((r.execution_arn.as_str(), r.task_id), r.id))
            .collect();
        let mut leased = Vec::new();
        for i in 0..self.execution.len() {
            let Some(id) = row_ids.remove(&(self.execution[i].as_str(), self.id[i])) else {
                continue;
            };
            leased.push(LeasedTask {
                id,
                execution_arn: self.execution[i].clone(),
                task_id: self.id[i],
                state_name: self.state[i].clone(),
                resource: self.resource[i].clone(),
                input: self.input[i].clone(),
                timeout_seconds: self.timeout[i],
                heartbeat_seconds: self.heartbeat[i],
                attempt: self.attempt[i],
                trace_parent: self.trace_parent[i].clone(),
                trace_state: self.trace_state[i].clone(),
                taken_over: false,
            });
        }
        Ok(leased)
    }
}
