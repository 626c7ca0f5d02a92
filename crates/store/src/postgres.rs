//! The Postgres implementation of [`Store`].

use std::sync::Arc;
use std::time::Duration;

use cairn_asl::interpreter::Event;
use chrono::Utc;
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::handoff::TaskLease;
use crate::signals::{Channel, Signals};
use crate::{
    Advance, Advanced, Claimed, Completion, ExecutionRow, InboxEvent, LeasedTask, NewExecution,
    NewStateMachine, Result, StartStandard, Started, StateMachineRow, Store, StoreError,
    StoredEvent, Time,
};

/// The channel that tells schedulers an execution has a new due event.
pub const INBOX_CHANNEL: &str = "cairn_inbox";
/// The channel that tells workers a task is ready.
pub const TASKS_CHANNEL: &str = "cairn_tasks";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// A pool of Postgres connections, and the doorbells its writes ring.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    signals: Arc<Signals>,
    /// StartExecution's batches (see `postgres_starts`), begun at the first start.
    starts: Arc<std::sync::OnceLock<crate::postgres_starts::StartQueue>>,
}

impl PgStore {
    /// Connects to `url`, creating the database first if it does not exist.
    pub async fn connect(url: &str, max_connections: u32) -> Result<PgStore> {
        use sqlx::migrate::MigrateDatabase;
        if !sqlx::Postgres::database_exists(url).await? {
            sqlx::Postgres::create_database(url).await?;
        }
        let port = url.parse::<sqlx::postgres::PgConnectOptions>()?.get_port();
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |_, _| {
                Box::pin(async move {
                    crate::nodelay::on_sockets_to(port);
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        Ok(PgStore::from_pool(pool))
    }

    pub fn from_pool(pool: PgPool) -> PgStore {
        PgStore {
            pool,
            signals: Arc::default(),
            starts: Arc::default(),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Rung when `channel` has news: by this store's own commits at once, and by other
    /// processes' through `LISTEN`. Loops sleep on it between polls.
    pub fn doorbell(&self, channel: Channel) -> Arc<tokio::sync::Notify> {
        self.signals.doorbell(&self.pool, channel)
    }

    /// Tells loops here and elsewhere that `channel` has news; call after the commit.
    pub(crate) fn announce(&self, channel: Channel) {
        self.signals.announce(&self.pool, channel);
    }

    /// StartExecution of a STANDARD machine: the machine's lookup, the execution's
    /// insert and its start event in one statement, shared with the starts that arrive
    /// meanwhile (see `postgres_starts`). `Ok(None)` when `start.machine_arn` names no
    /// STANDARD machine called `start.machine_name`; the caller then looks the machine
    /// up to answer as it must (an EXPRESS machine, or none).
    pub async fn start_standard_execution(
        &self,
        start: &StartStandard<'_>,
    ) -> Result<Option<Started>> {
        self.starts
            .get_or_init(|| {
                // The writer's own handle has no queue of its own: no cycle keeps it alive.
                crate::postgres_starts::StartQueue::new(PgStore {
                    pool: self.pool.clone(),
                    signals: self.signals.clone(),
                    starts: Arc::default(),
                })
            })
            .start(start)
            .await
    }

    /// The answer to a start whose execution name is taken.
    pub(crate) async fn already_started(&self, arn: &str, input: &str) -> Result<Started> {
        let existing = sqlx::query!(
            r#"select input::text as "input!", status, started_at from executions where arn = $1"#,
            arn
        )
        .fetch_one(&self.pool)
        .await?;
        // AWS: the same name and input while the execution runs is idempotent.
        if existing.input == input && existing.status == "RUNNING" {
            return Ok(Started {
                arn: arn.to_string(),
                started_at: existing.started_at,
                created: false,
            });
        }
        Err(StoreError::ExecutionAlreadyExists(arn.to_string()))
    }
}

/// Queues events due now, in order: `events[i]` (inbox JSON text) for `executions[i]`.
pub(crate) async fn enqueue_now(
    tx: &mut sqlx::PgConnection,
    executions: &[String],
    events: &[String],
) -> Result<()> {
    sqlx::query!(
        r#"insert into inbox (execution_arn, due_at, event)
           select a, now(), e::json
           from unnest($1::text[], $2::text[]) with ordinality as u(a, e, n)
           order by n"#,
        executions,
        events,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub(crate) fn to_json_text<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_json_text<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Nanoseconds since the epoch → a database time (microsecond precision).
pub fn to_time(timestamp: cairn_asl::timestamp::Timestamp) -> Time {
    let nanos = timestamp.0;
    let seconds = nanos.div_euclid(1_000_000_000) as i64;
    let sub = nanos.rem_euclid(1_000_000_000) as u32;
    chrono::DateTime::from_timestamp(seconds, sub).unwrap_or_default()
}

/// A database time → the interpreter's timestamp.
pub fn from_time(time: Time) -> cairn_asl::timestamp::Timestamp {
    let nanos = time.timestamp() as i128 * 1_000_000_000 + time.timestamp_subsec_nanos() as i128;
    cairn_asl::timestamp::Timestamp(nanos)
}

impl Store for PgStore {
    async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn put_definition(&self, body: &str) -> Result<i64> {
        let id = sqlx::query_scalar!(
            r#"insert into definitions (digest, body) values (md5($1), $1)
               on conflict (digest) do update set digest = excluded.digest
               returning id"#,
            body
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    async fn definition(&self, id: i64) -> Result<String> {
        let body = sqlx::query_scalar!("select body from definitions where id = $1", id)
            .fetch_optional(&self.pool)
            .await?;
        body.ok_or_else(|| StoreError::Corrupt(format!("definition {id} is missing")))
    }

    async fn create_state_machine(&self, machine: &NewStateMachine) -> Result<StateMachineRow> {
        let definition_id = self.put_definition(&machine.definition).await?;
        let revision_id = format!("{definition_id}");
        let row = sqlx::query!(
            r#"insert into state_machines (arn, name, type, definition_id, role_arn, revision_id)
               values ($1, $2, $3, $4, $5, $6)
               on conflict (arn) do nothing
               returning created_at"#,
            machine.arn,
            machine.name,
            machine.machine_type,
            definition_id,
            machine.role_arn,
            revision_id,
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::StateMachineAlreadyExists(machine.arn.clone()));
        };
        Ok(StateMachineRow {
            arn: machine.arn.clone(),
            name: machine.name.clone(),
            machine_type: machine.machine_type.clone(),
            definition_id,
            definition: machine.definition.clone(),
            role_arn: machine.role_arn.clone(),
            status: "ACTIVE".to_string(),
            revision_id,
            created_at: row.created_at,
        })
    }

    async fn describe_state_machine(&self, arn: &str) -> Result<StateMachineRow> {
        let row = sqlx::query!(
            r#"select m.arn, m.name, m.type, m.definition_id, d.body, m.role_arn, m.status,
                      m.revision_id, m.created_at
               from state_machines m join definitions d on d.id = m.definition_id
               where m.arn = $1"#,
            arn
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::StateMachineDoesNotExist(arn.to_string()))?;
        Ok(StateMachineRow {
            arn: row.arn,
            name: row.name,
            machine_type: row.r#type,
            definition_id: row.definition_id,
            definition: row.body,
            role_arn: row.role_arn,
            status: row.status,
            revision_id: row.revision_id,
            created_at: row.created_at,
        })
    }

    async fn start_execution(&self, execution: &NewExecution) -> Result<Started> {
        let start = to_json_text(&InboxEvent::Start)?;
        // One statement, so one round trip: the execution and its start event together.
        let inserted = sqlx::query_scalar!(
            r#"with started as (
                   insert into executions (arn, state_machine_arn, name, definition_id, role_arn,
                                           status, input, started_at, trace_parent,
                                           trace_caller_span, trace_state)
                   values ($1, $2, $3, $4, $5, 'RUNNING', $6::text::json, $7, $9, $10, $11)
                   on conflict (arn) do nothing
                   returning arn, started_at),
               queued as (
                   insert into inbox (execution_arn, due_at, event)
                   select arn, now(), $8::text::json from started)
               select started_at from started"#,
            execution.arn,
            execution.state_machine_arn,
            execution.name,
            execution.definition_id,
            execution.role_arn,
            execution.input,
            execution.started_at,
            start,
            execution.trace.as_ref().map(|t| t.traceparent.as_str()),
            execution
                .trace
                .as_ref()
                .and_then(|t| t.caller_span.as_deref()),
            execution
                .trace
                .as_ref()
                .and_then(|t| t.tracestate.as_deref()),
        )
        .fetch_optional(&self.pool)
        .await?;
        if let Some(started_at) = inserted {
            self.announce(Channel::Inbox);
            return Ok(Started {
                arn: execution.arn.clone(),
                started_at,
                created: true,
            });
        }
        self.already_started(&execution.arn, &execution.input).await
    }

    async fn describe_execution(&self, arn: &str) -> Result<ExecutionRow> {
        let row = sqlx::query!(
            r#"select arn, state_machine_arn, name, status, input::text as "input!",
                      output::text as output, error, cause, started_at, stopped_at, history_length
               from executions where arn = $1"#,
            arn
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::ExecutionDoesNotExist(arn.to_string()))?;
        Ok(ExecutionRow {
            arn: row.arn,
            state_machine_arn: row.state_machine_arn,
            name: row.name,
            status: row.status,
            input: row.input,
            output: row.output,
            error: row.error,
            cause: row.cause,
            started_at: row.started_at,
            stopped_at: row.stopped_at,
            history_length: row.history_length,
        })
    }

    async fn history(&self, arn: &str, after: i64, limit: i64) -> Result<Vec<StoredEvent>> {
        // Every batch holds at least one event: `limit` batches hold the page.
        let batches = sqlx::query_scalar!(
            r#"select events::text as "events!" from history_batches
               where execution_arn = $1 and last_id > $2
               order by first_id limit $3"#,
            arn,
            after,
            limit
        )
        .fetch_all(&self.pool)
        .await?;
        crate::history::decode(&batches, crate::history::Page::After(after), limit)
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
        if status == "RUNNING" {
            sqlx::query!(
                r#"insert into inbox (execution_arn, due_at, event) values ($1, now(), $2::text::json)"#,
                arn,
                event
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        if status == "RUNNING" {
            self.announce(Channel::Inbox);
        }
        Ok(())
    }

    async fn advance<F>(
        &self,
        limit: i64,
        known_definitions: &[i64],
        lease: Option<&TaskLease>,
        mut step: F,
    ) -> Result<Advanced>
    where
        F: FnMut(Claimed) -> Advance + Send,
    {
        let mut tx = self.pool.begin().await?;
        // Executions with a due event, earliest due first; rows another scheduler holds
        // are skipped, not waited for. Reading only a window of the due index keeps a
        // batch's cost independent of how long the queue is.
        let claimed = sqlx::query!(
            r#"select e.arn, e.name, e.state_machine_arn, e.role_arn, e.definition_id,
                      e.input::text as "input!", e.started_at, e.snapshot::text as snapshot,
                      e.history_length, e.status, e.trace_parent, e.trace_caller_span,
                      e.trace_state, e.wanted::text as wanted,
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
        if claimed.is_empty() {
            tx.commit().await?;
            return Ok(Advanced::default());
        }
        let arns: Vec<String> = claimed.iter().map(|c| c.arn.clone()).collect();
        let inbox = sqlx::query!(
            r#"select id, execution_arn, event::text as "event!" from inbox
               where execution_arn = any($1) and due_at <= now()
               order by id"#,
            &arns
        )
        .fetch_all(&mut *tx)
        .await?;

        let mut consumed: Vec<i64> = Vec::with_capacity(inbox.len());
        let mut by_execution: std::collections::HashMap<String, Vec<InboxEvent>> =
            Default::default();
        for row in inbox {
            consumed.push(row.id);
            by_execution
                .entry(row.execution_arn)
                .or_default()
                .push(from_json_text(&row.event)?);
        }

        let wanted: Vec<(String, Vec<cairn_asl::interpreter::Wanted>)> = claimed
            .iter()
            .filter(|row| row.wanted.is_some())
            .map(|row| {
                let wanted = crate::postgres_stored::wanted_of(row.wanted.as_deref());
                (row.arn.clone(), wanted)
            })
            .collect();
        let mut stored = crate::postgres_stored::load(&mut tx, &wanted).await?;
        let mut wanted: std::collections::HashMap<_, _> = wanted.into_iter().collect();

        let mut writes = Writes::default();
        for row in claimed {
            let events = by_execution.remove(&row.arn).unwrap_or_default();
            let arn = row.arn.clone();
            let trace_state = row.trace_state.clone();
            let advance = step(Claimed {
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
                status: row.status,
                events,
                trace: row.trace_parent.map(|traceparent| crate::TraceContext {
                    traceparent,
                    caller_span: row.trace_caller_span,
                    tracestate: row.trace_state,
                }),
                wanted: wanted.remove(&arn).unwrap_or_default(),
                stored: stored.remove(&arn).unwrap_or_default(),
            });
            writes.add(&arn, advance, trace_state)?;
        }
        let executions = writes.executions.len();
        let (news, leased) = writes.commit(&mut tx, &consumed, lease).await?;
        tx.commit().await?;
        for channel in news {
            self.announce(channel);
        }
        Ok(Advanced { executions, leased })
    }

    async fn next_due(&self) -> Result<Option<Time>> {
        let due = sqlx::query_scalar!("select min(due_at) from inbox")
            .fetch_one(&self.pool)
            .await?;
        Ok(due)
    }

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
        let mut started_execution = Vec::new();
        let mut started_event = Vec::new();
        for row in rows.iter().filter(|r| !r.was_started) {
            started_execution.push(row.execution_arn.clone());
            started_event.push(to_json_text(&InboxEvent::Step(Event::TaskStarted {
                task: row.task_id as u64,
            }))?);
        }
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

    async fn record_callback_invocation(&self, task: &LeasedTask, event: &Event) -> Result<bool> {
        PgStore::record_callback_invocation(self, task, event).await
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
}

/// The `inbox.timer_id` of an execution's pending `Event::Resume` (see
/// [`Advance::resume_at`]).
const RESUME_TIMER_ID: i64 = 0;

/// Everything one `advance` writes, gathered into column arrays so each table takes one
/// statement however many executions advanced.
#[derive(Default)]
struct Writes {
    executions: Vec<String>,
    snapshots: Vec<String>,
    wanted: Vec<Option<String>>,
    statuses: Vec<Option<String>>,
    outputs: Vec<Option<String>>,
    errors: Vec<Option<String>>,
    causes: Vec<Option<String>>,
    history_added: Vec<i64>,
    /// When an execution that ended did so: its last event's time, as AWS's stopDate.
    stopped: Vec<Option<Time>>,

    /// One history batch per advance that recorded events (see [`crate::history`]).
    batch_execution: Vec<String>,
    batch_first: Vec<i64>,
    batch_last: Vec<i64>,
    batch_events: Vec<String>,

    task_execution: Vec<String>,
    task_id: Vec<i64>,
    task_state: Vec<String>,
    task_resource: Vec<String>,
    task_input: Vec<String>,
    task_timeout: Vec<Option<i64>>,
    task_heartbeat: Vec<Option<i64>>,
    task_attempt: Vec<i64>,
    task_trace_parent: Vec<Option<String>>,
    task_trace_state: Vec<Option<String>>,
    /// `TaskStarted` is applied already: inserted started, and leased when the advance
    /// has a lease to give.
    task_leased: Vec<bool>,

    timer_execution: Vec<String>,
    timer_id: Vec<i64>,
    timer_due: Vec<Time>,
    timer_event: Vec<String>,

    cancel_timer_execution: Vec<String>,
    cancel_timer_id: Vec<i64>,
    cancel_task_execution: Vec<String>,
    cancel_task_id: Vec<i64>,

    // callbacks: tokens, activity tasks, closing tokens of cancelled tasks
    callbacks: crate::postgres_callbacks::CallbackWrites,
    // nested executions: children to start; executions that ended (their waiting parents
    // hear of it in this transaction)
    nested: crate::postgres_nested::NestedWrites,
    ended: Vec<String>,
    // large Maps' values kept outside the snapshot
    stored: crate::postgres_stored::StoredWrites,
}

impl Writes {
    fn add(&mut self, arn: &str, advance: Advance, trace_state: Option<String>) -> Result<()> {
        if let Some(snapshot) = advance.snapshot {
            if advance.status.as_deref().is_some_and(|s| s != "RUNNING") {
                self.ended.push(arn.to_string());
            }
            self.executions.push(arn.to_string());
            self.snapshots.push(snapshot);
            self.wanted
                .push(crate::postgres_stored::wanted_text(&advance.wanted)?);
            self.statuses.push(advance.status);
            self.outputs.push(advance.output);
            self.errors.push(advance.error);
            self.causes.push(advance.cause);
            self.history_added.push(advance.history.len() as i64);
            self.stopped
                .push(advance.history.last().map(|e| to_time(e.timestamp)));
        }
        if let (Some(first), Some(last)) = (advance.history.first(), advance.history.last()) {
            self.batch_execution.push(arn.to_string());
            self.batch_first.push(first.id as i64);
            self.batch_last.push(last.id as i64);
            self.batch_events
                .push(crate::history::encode(&advance.history)?);
        }
        let trace_state = advance
            .task_trace_parents
            .iter()
            .any(Option::is_some)
            .then_some(trace_state)
            .flatten();
        let mut trace_parents = advance.task_trace_parents.into_iter();
        for task in advance.tasks {
            let trace_parent = trace_parents.next().flatten();
            // callbacks: activity tasks are queued for GetActivityTask, not leased
            if self.callbacks.add(arn, &task)? {
                continue;
            }
            // nested executions start inside this transaction, not through a worker
            if self.nested.add(arn, &task) {
                continue;
            }
            self.task_trace_state
                .push(trace_parent.as_ref().and(trace_state.clone()));
            self.task_trace_parent.push(trace_parent);
            self.task_execution.push(arn.to_string());
            self.task_id.push(task.task as i64);
            self.task_state.push(task.state_name);
            self.task_resource.push(task.resource);
            self.task_input.push(to_json_text(&task.input)?);
            self.task_timeout
                .push(task.timeout_seconds.map(|t| t as i64));
            self.task_heartbeat
                .push(task.heartbeat_seconds.map(|t| t as i64));
            self.task_attempt.push(task.attempt as i64);
            self.task_leased.push(advance.leased.contains(&task.task));
        }
        for (timer, due) in advance.timers {
            self.timer_execution.push(arn.to_string());
            self.timer_id.push(timer as i64);
            self.timer_due.push(due);
            self.timer_event
                .push(to_json_text(&InboxEvent::Step(Event::TimerFired {
                    timer,
                }))?);
        }
        if let Some(due) = advance.resume_at {
            // Timer id 0 is no interpreter timer (they count from 1) nor a heartbeat
            // timer (minus a task id): the unique index keeps one resume per execution.
            self.timer_execution.push(arn.to_string());
            self.timer_id.push(RESUME_TIMER_ID);
            self.timer_due.push(due);
            self.timer_event
                .push(to_json_text(&InboxEvent::Step(Event::Resume))?);
        }
        self.stored
            .add(arn, advance.stored, advance.released_maps)?;
        for timer in advance.cancelled_timers {
            self.cancel_timer_execution.push(arn.to_string());
            self.cancel_timer_id.push(timer as i64);
        }
        for task in advance.cancelled_tasks {
            self.cancel_task_execution.push(arn.to_string());
            self.cancel_task_id.push(task as i64);
        }
        Ok(())
    }

    /// Writes everything; returns the channels whose loops have news once it commits, and
    /// the tasks inserted leased to `lease`.
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
        if !self.executions.is_empty() {
            sqlx::query!(
                r#"update executions e set
                       snapshot = u.snapshot::json,
                       version = e.version + 1,
                       status = coalesce(u.status, e.status),
                       output = coalesce(u.output::json, e.output),
                       error = coalesce(u.error, e.error),
                       cause = coalesce(u.cause, e.cause),
                       stopped_at = case when u.status is not null and u.status <> 'RUNNING'
                                         then coalesce(u.stopped, now()) else e.stopped_at end,
                       history_length = e.history_length + u.added,
                       wanted = u.wanted::json
                   from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int8[], $8::timestamptz[], $9::text[])
                        as u(arn, snapshot, status, output, error, cause, added, stopped, wanted)
                   where e.arn = u.arn"#,
                &self.executions,
                &self.snapshots,
                &self.statuses as &[Option<String>],
                &self.outputs as &[Option<String>],
                &self.errors as &[Option<String>],
                &self.causes as &[Option<String>],
                &self.history_added,
                &self.stopped as &[Option<Time>],
                &self.wanted as &[Option<String>],
            )
            .execute(&mut *tx)
            .await?;
        }
        if !self.batch_execution.is_empty() {
            sqlx::query!(
                r#"insert into history_batches (execution_arn, first_id, last_id, events)
                   select a, f, l, e::json
                   from unnest($1::text[], $2::int8[], $3::int8[], $4::text[]) as u(a, f, l, e)"#,
                &self.batch_execution,
                &self.batch_first,
                &self.batch_last,
                &self.batch_events,
            )
            .execute(&mut *tx)
            .await?;
        }
        if !self.cancel_task_execution.is_empty() {
            sqlx::query!(
                r#"delete from tasks t using unnest($1::text[], $2::int8[]) as u(a, i)
                   where t.execution_arn = u.a and t.task_id = u.i"#,
                &self.cancel_task_execution,
                &self.cancel_task_id,
            )
            .execute(&mut *tx)
            .await?;
        }
        if !self.cancel_timer_execution.is_empty() {
            sqlx::query!(
                r#"delete from inbox x using unnest($1::text[], $2::int8[]) as u(a, i)
                   where x.execution_arn = u.a and x.timer_id = u.i"#,
                &self.cancel_timer_execution,
                &self.cancel_timer_id,
            )
            .execute(&mut *tx)
            .await?;
        }
        if !self.timer_execution.is_empty() {
            sqlx::query!(
                r#"insert into inbox (execution_arn, timer_id, due_at, event)
                   select a, i, d, e::json
                   from unnest($1::text[], $2::int8[], $3::timestamptz[], $4::text[]) as u(a, i, d, e)
                   on conflict do nothing"#,
                &self.timer_execution,
                &self.timer_id,
                &self.timer_due,
                &self.timer_event,
            )
            .execute(&mut *tx)
            .await?;
            // A timer already due (a zero back-off) must wake a scheduler now.
            if self.timer_due.iter().any(|d| *d <= Utc::now()) {
                news.push(Channel::Inbox);
            }
        }
        self.stored.commit(tx).await?;
        let mut leased = Vec::new();
        if !self.task_execution.is_empty() {
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
                &self.task_execution,
                &self.task_id,
                &self.task_state,
                &self.task_resource,
                &self.task_input,
                &self.task_timeout as &[Option<i64>],
                &self.task_heartbeat as &[Option<i64>],
                &self.task_attempt,
                &self.task_trace_parent as &[Option<String>],
                &self.task_trace_state as &[Option<String>],
                &self.task_leased,
                owner,
                seconds,
            )
            .fetch_all(&mut *tx)
            .await?;
            if inserted.len() < self.task_execution.len() {
                news.push(Channel::Tasks);
            }
            let mut row_ids: std::collections::HashMap<(&str, i64), i64> = inserted
                .iter()
                .map(|r| ((r.execution_arn.as_str(), r.task_id), r.id))
                .collect();
            for i in 0..self.task_execution.len() {
                let Some(id) = row_ids.remove(&(self.task_execution[i].as_str(), self.task_id[i]))
                else {
                    continue;
                };
                leased.push(LeasedTask {
                    id,
                    execution_arn: self.task_execution[i].clone(),
                    task_id: self.task_id[i],
                    state_name: self.task_state[i].clone(),
                    resource: self.task_resource[i].clone(),
                    input: self.task_input[i].clone(),
                    timeout_seconds: self.task_timeout[i],
                    heartbeat_seconds: self.task_heartbeat[i],
                    attempt: self.task_attempt[i],
                    trace_parent: self.task_trace_parent[i].clone(),
                    trace_state: self.task_trace_state[i].clone(),
                    taken_over: false,
                });
            }
        }
        // callbacks
        if let Some(channel) = self
            .callbacks
            .commit(tx, &self.cancel_task_execution, &self.cancel_task_id)
            .await?
        {
            news.push(channel);
        }
        // nested executions: after the callback writes, so a token row exists to close
        let started = self.nested.commit(tx).await?;
        let notified = crate::postgres_nested::notify_parents(tx, &self.ended).await?;
        let stopped = crate::postgres_nested::stop_children(
            tx,
            &self.cancel_task_execution,
            &self.cancel_task_id,
        )
        .await?;
        if started || notified || stopped {
            news.push(Channel::Inbox);
        }
        Ok((news, leased))
    }
}
