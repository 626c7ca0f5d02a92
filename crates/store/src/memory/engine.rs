//! [`Engine`] for [`MemoryStore`]: the claim marks executions as held by the batch, and
//! the commit writes the batch's plans in the order the Postgres commit does (see
//! `postgres/engine.rs`), under one lock.

use std::collections::BTreeSet;

use cairn_asl::interpreter::{Event, MapRunStatus, StoredKind, StoredValue, Wanted};

use super::{now, ActivityTaskRow, MemoryStore, ParentLink, Tables, TaskRow, TokenRow};
use crate::engine::{
    heartbeat_timer, Batch, Claimed, Committed, Effect, Engine, InboxEvent, NewTask, ParentTask,
    Plan, RESUME_TIMER_ID,
};
use crate::map_runs::MapRunRecord;
use crate::signals::Channel;
use crate::tasks::{LeasedTask, TaskLease};
use crate::time::after_seconds;
use crate::{Result, StoreError, Time};

/// Executions a batch holds until it commits or is dropped.
pub struct MemoryBatch {
    store: MemoryStore,
    claimed: Vec<Claimed>,
    /// The claimed executions' inbox rows, consumed by the commit.
    consumed: Vec<u64>,
}

impl Drop for MemoryBatch {
    fn drop(&mut self) {
        if self.claimed.is_empty() {
            return;
        }
        let mut tables = self.store.tables();
        for claimed in &self.claimed {
            tables.claimed.remove(&claimed.arn);
        }
    }
}

pub(super) fn kind_code(kind: StoredKind) -> u8 {
    match kind {
        StoredKind::Item => 0,
        StoredKind::Result => 1,
        StoredKind::Input => 2,
    }
}

impl Tables {
    /// The stored values of `arn` that `wanted` asks for.
    fn load_stored(&self, arn: &str, wanted: &[Wanted]) -> Vec<StoredValue> {
        let mut values = Vec::new();
        for want in wanted {
            let key = |kind: u8, index: u64| (arn.to_string(), want.map, kind, index);
            let items = want.items_from..want.items_from.saturating_add(want.items);
            let kinds: &[StoredKind] = if want.results_and_input && want.input_only {
                &[StoredKind::Item, StoredKind::Input]
            } else if want.results_and_input {
                &[StoredKind::Item, StoredKind::Result, StoredKind::Input]
            } else {
                &[StoredKind::Item]
            };
            for &kind in kinds {
                let code = kind_code(kind);
                let range = match kind {
                    StoredKind::Item => key(code, items.start)..key(code, items.end),
                    StoredKind::Result | StoredKind::Input => key(code, 0)..key(code + 1, 0),
                };
                values.extend(self.stored.range(range).map(|((_, map, _, index), value)| {
                    StoredValue {
                        map: *map,
                        kind,
                        index: *index,
                        value: value.clone(),
                    }
                }));
            }
        }
        values
    }
}

impl Engine for MemoryStore {
    type Batch = MemoryBatch;

    async fn claim(&self, limit: i64, known_definitions: &[i64]) -> Result<MemoryBatch> {
        let now = now();
        let limit = usize::try_from(limit).unwrap_or(0);
        let mut tables = self.tables();
        // Executions with a due event, earliest due first; those another batch holds
        // are skipped, not waited for.
        let mut arns: Vec<String> = Vec::new();
        for (_, id) in tables.inbox.by_due.range(..=(now, u64::MAX)) {
            if arns.len() == limit {
                break;
            }
            let Some(row) = tables.inbox.rows.get(id) else {
                continue;
            };
            if !tables.claimed.contains(&row.execution)
                && tables.executions.contains_key(&row.execution)
                && !arns.contains(&row.execution)
            {
                arns.push(row.execution.clone());
            }
        }
        let wanted_arns: BTreeSet<&String> = arns.iter().collect();
        let mut consumed = Vec::new();
        let mut events: std::collections::HashMap<String, Vec<InboxEvent>> = Default::default();
        for (id, row) in &tables.inbox.rows {
            if row.due <= now && wanted_arns.contains(&row.execution) {
                consumed.push(*id);
                events
                    .entry(row.execution.clone())
                    .or_default()
                    .push(row.event.clone());
            }
        }
        let mut claimed = Vec::with_capacity(arns.len());
        for arn in &arns {
            let Some(e) = tables.executions.get(arn) else {
                continue;
            };
            let definition = if known_definitions.contains(&e.definition_id) {
                None
            } else {
                Some(tables.definition(e.definition_id).cloned().ok_or_else(|| {
                    StoreError::Corrupt(format!("definition {} is missing", e.definition_id))
                })?)
            };
            let parent = e.parent.as_ref().and_then(|p: &ParentLink| {
                p.waits.map(|waits| ParentTask {
                    execution_arn: p.execution_arn.clone(),
                    task: p.task as u64,
                    waits,
                })
            });
            claimed.push(Claimed {
                arn: e.arn.clone(),
                name: e.name.clone(),
                state_machine_arn: e.state_machine_arn.clone(),
                role_arn: e.role_arn.clone(),
                definition_id: e.definition_id,
                definition,
                input: e.input.clone(),
                started_at: e.started_at,
                snapshot: e.snapshot.clone(),
                history_length: e.history_length,
                status: e.status,
                events: events.remove(arn).unwrap_or_default(),
                trace: e.trace.clone(),
                parent,
                map_child: e.map_child.clone(),
                stored: tables.load_stored(arn, &e.wanted),
                wanted: e.wanted.clone(),
            });
        }
        for claimed in &claimed {
            tables.claimed.insert(claimed.arn.clone());
        }
        drop(tables);
        Ok(MemoryBatch {
            store: self.clone(),
            claimed,
            consumed,
        })
    }

    async fn next_due(&self) -> Result<Option<Time>> {
        Ok(self.tables().inbox.by_due.first().map(|(due, _)| *due))
    }
}

impl Batch for MemoryBatch {
    fn claimed(&self) -> &[Claimed] {
        &self.claimed
    }

    async fn commit(mut self, plans: Vec<Plan>, lease: Option<&TaskLease>) -> Result<Committed> {
        if plans.len() != self.claimed.len() {
            return Err(StoreError::Corrupt(format!(
                "{} plans for {} claimed executions",
                plans.len(),
                self.claimed.len()
            )));
        }
        let claimed = std::mem::take(&mut self.claimed);
        let mut tables = self.store.tables();
        let mut news = Vec::new();
        for id in &self.consumed {
            tables.inbox.remove(*id);
        }
        let mut leased = Vec::new();
        for (claimed, plan) in claimed.iter().zip(plans) {
            tables.claimed.remove(&claimed.arn);
            let written = tables.write(&claimed.arn, plan, lease);
            news.extend(written.news);
            leased.extend(written.leased);
        }
        drop(tables);
        news.sort_by_key(|c| c.name());
        news.dedup();
        for channel in news {
            self.store.announce(channel);
        }
        Ok(Committed { leased })
    }
}

/// What writing one plan did.
#[derive(Default)]
struct Written {
    news: Vec<Channel>,
    leased: Vec<LeasedTask>,
}

impl Tables {
    /// Writes one execution's plan, in the order the Postgres commit writes a batch:
    /// the row and its history; cancelled tasks, cancelled timers, new timers; stored
    /// values (released after stored); new tasks; callbacks (what cancelled tasks held,
    /// then new tokens and activity tasks); nested executions (children started after
    /// the tokens, parents told, cancelled tasks' children stopped).
    fn write(&mut self, arn: &str, plan: Plan, lease: Option<&TaskLease>) -> Written {
        let now = now();
        let mut written = Written::default();
        let Plan {
            execution,
            history,
            effects,
        } = plan;
        let mut ended = false;
        if let Some(update) = execution {
            ended = update.ending.is_some();
            if let Some(e) = self.executions.get_mut(arn) {
                e.snapshot = Some(update.snapshot);
                e.wanted = update.wanted;
                if let Some(ending) = update.ending {
                    e.status = ending.status;
                    e.output = ending.output.or(e.output.take());
                    e.error = ending.error.or(e.error.take());
                    e.cause = ending.cause.or(e.cause.take());
                    e.stopped_at = Some(crate::time::to_micros(ending.stopped_at));
                }
                e.history_length += history.len() as i64;
            }
        }
        if let (Some(first), Some(last)) = (history.first(), history.last()) {
            if let (Some(e), Ok(text)) = (
                self.executions.get_mut(arn),
                crate::history::encode(&history),
            ) {
                e.history.push((first.id as i64, last.id as i64, text));
            }
        }
        let cancelled_tasks: Vec<u64> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::CancelTask { task } => Some(*task),
                _ => None,
            })
            .collect();
        for task in &cancelled_tasks {
            if let Some(row) = self.task_row(arn, *task as i64) {
                self.tasks.remove(&row);
            }
        }
        let mut tasks = Vec::new();
        let mut activities = Vec::new();
        let mut children = Vec::new();
        let mut notified = Vec::new();
        let mut stored = Vec::new();
        let mut released = Vec::new();
        let mut timers = Vec::new();
        let mut map_children = Vec::new();
        let mut map_redrives = Vec::new();
        let mut stopped_runs = Vec::new();
        for effect in effects {
            match effect {
                Effect::Task(task) => tasks.push(task),
                Effect::Activity(task) => activities.push(task),
                Effect::StartExecution { task, nested } => children.push((task, nested)),
                Effect::Timer { timer, due } => {
                    timers.push((timer as i64, due, Event::TimerFired { timer }))
                }
                Effect::Resume { at } => timers.push((RESUME_TIMER_ID, at, Event::Resume)),
                Effect::CancelTimer { timer } => self.inbox.remove_timer(arn, timer as i64),
                Effect::CancelTask { .. } => {}
                Effect::Store(value) => stored.push(value),
                Effect::ReleaseStored { map } => released.push(map),
                Effect::Notify {
                    execution_arn,
                    event,
                } => notified.push((execution_arn, event)),
                Effect::MapRun(state) => {
                    if matches!(state.status, MapRunStatus::Failed | MapRunStatus::Aborted) {
                        stopped_runs.push(state.arn.clone());
                    }
                    match self.map_runs.get_mut(&state.arn) {
                        Some(run) => run.apply(&state, now),
                        None => {
                            let run = MapRunRecord::new(arn, &state, now);
                            self.map_runs.insert(state.arn.clone(), run);
                        }
                    }
                }
                Effect::StartMapChild(start) => map_children.push(start),
                Effect::RedriveMapChild(redrive) => map_redrives.push(redrive),
            }
        }
        if ended {
            for run in self.map_runs.values_mut() {
                if run.execution_arn == arn {
                    run.abort(now);
                }
            }
        }
        for (timer, due, event) in timers {
            let due = crate::time::to_micros(due);
            self.inbox
                .push(arn, Some(timer), due, InboxEvent::Step(event));
            // A timer already due (a zero back-off, a resume now) must wake a scheduler.
            if due <= now {
                written.news.push(Channel::Inbox);
            }
        }
        // A value stored again replaces the old one: a redriven Map iteration's result
        // takes the place of the failure it had.
        for value in stored {
            self.stored.insert(
                (
                    arn.to_string(),
                    value.map,
                    kind_code(value.kind),
                    value.index,
                ),
                value.value,
            );
        }
        for map in released {
            self.stored
                .retain(|(execution, key, _, _), _| !(execution == arn && *key == map));
        }
        let inserted = tasks.len();
        for task in tasks {
            if let Some(task) = self.insert_task(arn, task, lease, now) {
                written.leased.push(task);
            }
        }
        if written.leased.len() < inserted {
            written.news.push(Channel::Tasks);
        }
        for task in &cancelled_tasks {
            let task = *task as i64;
            self.activity_tasks
                .retain(|_, a| !(a.execution == arn && a.task_id == task));
            self.inbox.remove_timer(arn, heartbeat_timer(task));
            self.close_token(arn, task);
        }
        for (task, _) in &children {
            self.add_token(arn, task);
        }
        if !activities.is_empty() {
            written.news.push(Channel::Tasks);
        }
        for task in activities {
            self.add_token(arn, &task);
            self.queue_activity(arn, task, now);
        }
        let mut queued = !children.is_empty() || !notified.is_empty();
        for (task, nested) in children {
            self.start_child(arn, &task, nested);
        }
        for (execution, event) in notified {
            self.inbox.push_now(&execution, event);
        }
        for task in cancelled_tasks {
            queued |= self.stop_children(arn, task);
        }
        queued |= !map_children.is_empty() || !map_redrives.is_empty();
        for start in map_children {
            self.start_map_child(arn, start);
        }
        for redrive in map_redrives {
            self.redrive_map_child(arn, redrive);
        }
        let ended_parents: Vec<String> = if ended {
            vec![arn.to_string()]
        } else {
            Vec::new()
        };
        queued |= self.stop_map_children(&stopped_runs, &ended_parents);
        if queued {
            written.news.push(Channel::Inbox);
        }
        written
    }

    /// Inserts a task row (none if the execution has one for this task id already);
    /// returns it when it is inserted leased to `lease`.
    fn insert_task(
        &mut self,
        arn: &str,
        task: NewTask,
        lease: Option<&TaskLease>,
        now: Time,
    ) -> Option<LeasedTask> {
        let NewTask {
            request,
            trace_parent,
            trace_state,
            leased,
        } = task;
        self.add_token(arn, &request);
        if self.task_row(arn, request.task as i64).is_some() {
            return None;
        }
        let lease = lease.filter(|_| leased);
        self.next_task_row += 1;
        let id = self.next_task_row;
        let handed = lease.map(|_| {
            LeasedTask::of_request(id, arn, &request, trace_parent.clone(), trace_state.clone())
        });
        let row = TaskRow {
            execution: arn.to_string(),
            task_id: request.task as i64,
            state_name: request.state_name,
            resource: request.resource,
            input: request.input.to_string(),
            timeout_seconds: request.timeout_seconds.map(|t| t as i64),
            heartbeat_seconds: request.heartbeat_seconds.map(|t| t as i64),
            attempt: request.attempt as i64,
            trace_parent,
            trace_state,
            started: leased,
            lease_owner: lease.map(|l| l.owner.clone()),
            lease_until: lease.map(|l| after_seconds(now, l.duration.as_secs_f64())),
            created_at: now,
        };
        self.tasks.insert(id, row);
        handed
    }

    /// Keeps the hash of `task`'s token, if it has one.
    fn add_token(&mut self, arn: &str, task: &cairn_asl::interpreter::TaskRequest) {
        let Some(token) = &task.token else {
            return;
        };
        self.tokens
            .entry(cairn_asl::callback::token_hash(token))
            .or_insert(TokenRow {
                execution: arn.to_string(),
                task_id: task.task as i64,
                heartbeat_seconds: task.heartbeat_seconds.map(|h| h as i64),
                closed: false,
            });
    }

    /// Queues activity task `task` for `GetActivityTask` pollers.
    fn queue_activity(&mut self, arn: &str, task: cairn_asl::interpreter::TaskRequest, now: Time) {
        let queued = self
            .activity_tasks
            .values()
            .any(|a| a.execution == arn && a.task_id == task.task as i64);
        if queued {
            return;
        }
        self.next_activity_task += 1;
        self.activity_tasks.insert(
            (now, self.next_activity_task),
            ActivityTaskRow {
                execution: arn.to_string(),
                task_id: task.task as i64,
                input: task.input.to_string(),
                token: task.token.unwrap_or_default(),
                heartbeat_seconds: task.heartbeat_seconds.map(|h| h as i64),
                activity_arn: task.resource,
            },
        );
    }
}
