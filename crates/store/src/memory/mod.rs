//! The in-memory [`Store`], for `cairn dev`: the same contract as
//! [`crate::postgres::PgStore`] in one process's memory, so a person without Postgres can
//! run Cairn. **Nothing survives a restart**: every execution, task and token lives only
//! here. One contract test suite (`crates/scheduler/tests/contract.rs`) runs against both
//! stores, so they cannot drift.
//!
//! One mutex guards the tables, and every operation takes it once, so each is atomic as
//! a transaction is; it is never held across an `.await`. A claimed execution is marked
//! as held by its batch until the batch commits or is dropped, as a row lock would hold
//! it. Times are kept at microsecond precision, as Postgres keeps them, so both stores
//! answer the same times.
//!
//! | module | what |
//! |---|---|
//! | `executions` | starts, reads, history pages, stops |
//! | `engine` | the claim and the batch commit |
//! | `tasks` | leases and outcomes |
//! | `callbacks` | tokens and the activity queue |
//! | `nested` | child executions started inside a commit |
//! | `catalog` | state machines (with their deletion), activities, tags |
//! | `versions` | published versions and aliases |
//! | `rules` | EventBridge buses, rules, targets, deliveries; Scheduler groups and schedules |
//! | `retention` | deleting closed executions and what belongs to them |
//! | `test_cases` | executions under a mock configuration's test case |
//! | `express_runs` | asynchronous Express runs in flight and their leases |

mod callbacks;
mod catalog;
mod engine;
mod executions;
mod express_runs;
mod map_children;
mod map_runs;
mod nested;
mod retention;
mod rules;
mod tasks;
mod test_cases;
mod versions;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use cairn_asl::interpreter::{Event, Wanted};
use cairn_asl::task::Nested;
use cairn_asl::ExecutionStatus;
use serde_json::Value;
use tokio::sync::Notify;

pub use engine::MemoryBatch;

use crate::catalog::{ActivityRecord, StateMachineRecord};
use crate::engine::InboxEvent;
use crate::executions::TraceContext;
use crate::map_runs::MapRunRecord;
use crate::observe::{Backlog, Connections, Readiness};
use crate::signals::Channel;
use crate::versions::{AliasRecord, VersionRecord};
use crate::{Result, Store, Time};

/// The in-memory store. Cheap to clone: clones share the tables.
#[derive(Clone, Default)]
pub struct MemoryStore {
    tables: Arc<Mutex<Tables>>,
    inbox_bell: Arc<Notify>,
    tasks_bell: Arc<Notify>,
    catalog_bell: Arc<Notify>,
    events_bell: Arc<Notify>,
    /// Counts catalog changes: one process, so every change is seen at once.
    catalog_generation: Arc<AtomicU64>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// The tables, locked. A panic while they were held leaves them as the panicking
    /// operation left them: every operation checks what it reads, so carry on.
    fn tables(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes this process's loops waiting on `channel`.
    fn announce(&self, channel: Channel) {
        match channel {
            Channel::Inbox => self.inbox_bell.notify_waiters(),
            Channel::Tasks => self.tasks_bell.notify_waiters(),
            Channel::Catalog => {
                self.catalog_generation.fetch_add(1, Ordering::SeqCst);
                self.catalog_bell.notify_waiters()
            }
            Channel::Events => self.events_bell.notify_waiters(),
        }
    }
}

/// The moment of an operation, as Postgres's `now()` would give it.
fn now() -> Time {
    crate::time::to_micros(chrono::Utc::now())
}

/// Every table of the store.
#[derive(Default)]
struct Tables {
    /// Definition texts by id (from 1), and ids by text: a text is stored once.
    definitions: Vec<String>,
    definition_ids: HashMap<String, i64>,
    machines: BTreeMap<String, StateMachineRecord>,
    /// Published versions by (machine, number), and the number each machine gives next.
    versions: BTreeMap<(String, i64), VersionRecord>,
    next_version: HashMap<String, i64>,
    aliases: BTreeMap<String, AliasRecord>,
    activities: BTreeMap<String, ActivityRecord>,
    /// Tags by resource ARN, in key order.
    tags: HashMap<String, BTreeMap<String, String>>,
    executions: HashMap<String, Execution>,
    inbox: Inbox,
    tasks: BTreeMap<i64, TaskRow>,
    next_task_row: i64,
    /// Queued activity tasks by (creation, insertion) order.
    activity_tasks: BTreeMap<(Time, u64), ActivityTaskRow>,
    next_activity_task: u64,
    /// Task tokens by their hash.
    tokens: HashMap<String, TokenRow>,
    /// Large Maps' values by (execution, map, kind, index).
    stored: BTreeMap<(String, u64, u8, u64), Value>,
    /// Executions a batch holds.
    claimed: HashSet<String>,
    /// EventBridge and the Scheduler.
    events: rules::EventTables,
    /// The test case each execution started under one runs.
    test_cases: HashMap<String, String>,
    /// Mocked invocations so far, by (execution, state).
    mocked_invocations: HashMap<(String, String), u64>,
    /// Distributed Maps' Map Runs by ARN.
    map_runs: HashMap<String, MapRunRecord>,
    /// Asynchronous Express runs in flight, by ARN.
    express_runs: HashMap<String, ExpressRunRow>,
}

/// An asynchronous Express run in flight and its lease.
struct ExpressRunRow {
    run: crate::express_runs::ExpressRun,
    owner: String,
    lease_until: Time,
    takeovers: i32,
}

struct Execution {
    arn: String,
    state_machine_arn: String,
    name: String,
    definition_id: i64,
    role_arn: String,
    status: ExecutionStatus,
    input: String,
    output: Option<String>,
    error: Option<String>,
    cause: Option<String>,
    started_at: Time,
    stopped_at: Option<Time>,
    snapshot: Option<String>,
    history_length: i64,
    /// One batch per advance that recorded events: (first id, last id, events as
    /// [`crate::history::encode`] writes them).
    history: Vec<(i64, i64, String)>,
    wanted: Vec<Wanted>,
    trace: Option<TraceContext>,
    parent: Option<ParentLink>,
    /// Set for a Map Run's child execution.
    map_child: Option<crate::map_children::MapChild>,
    version_arn: Option<String>,
    alias_arn: Option<String>,
    redrives: Redrives,
}

/// An execution's redrives: how many, when last, and the client tokens of the recent
/// ones, newest last.
#[derive(Default)]
struct Redrives {
    count: i64,
    date: Option<Time>,
    tokens: Vec<(String, Time)>,
}

/// The parent task that started a child execution.
struct ParentLink {
    execution_arn: String,
    task: i64,
    /// Set when the parent waits for the child's end (`.sync`, `.sync:2`).
    waits: Option<Nested>,
}

/// The inbox: events due for executions, and timers.
#[derive(Default)]
struct Inbox {
    rows: BTreeMap<u64, InboxRow>,
    next_id: u64,
    /// Row ids by due time.
    by_due: BTreeSet<(Time, u64)>,
    /// Timer rows by (execution, timer id): one each.
    timers: HashMap<(String, i64), u64>,
}

struct InboxRow {
    execution: String,
    timer: Option<i64>,
    due: Time,
    event: InboxEvent,
}

impl Inbox {
    /// Queues `event` for `execution` at `due`. A timer row whose (execution, timer id)
    /// is taken is not queued (`false`), as the unique index refuses it.
    fn push(&mut self, execution: &str, timer: Option<i64>, due: Time, event: InboxEvent) -> bool {
        if let Some(timer) = timer {
            if self.timers.contains_key(&(execution.to_string(), timer)) {
                return false;
            }
        }
        self.next_id += 1;
        let id = self.next_id;
        if let Some(timer) = timer {
            self.timers.insert((execution.to_string(), timer), id);
        }
        self.by_due.insert((due, id));
        self.rows.insert(
            id,
            InboxRow {
                execution: execution.to_string(),
                timer,
                due,
                event,
            },
        );
        true
    }

    /// Queues `event` for `execution`, due now.
    fn push_now(&mut self, execution: &str, event: Event) {
        self.push(execution, None, now(), InboxEvent::Step(event));
    }

    fn remove(&mut self, id: u64) -> Option<InboxRow> {
        let row = self.rows.remove(&id)?;
        self.by_due.remove(&(row.due, id));
        if let Some(timer) = row.timer {
            self.timers.remove(&(row.execution.clone(), timer));
        }
        Some(row)
    }

    /// Removes `execution`'s timer row `timer`, if any.
    fn remove_timer(&mut self, execution: &str, timer: i64) {
        if let Some(id) = self.timers.get(&(execution.to_string(), timer)).copied() {
            self.remove(id);
        }
    }

    /// Moves `execution`'s timer row `timer`, if any, to `due`.
    fn move_timer(&mut self, execution: &str, timer: i64, due: Time) {
        let Some(id) = self.timers.get(&(execution.to_string(), timer)).copied() else {
            return;
        };
        if let Some(row) = self.rows.get_mut(&id) {
            self.by_due.remove(&(row.due, id));
            row.due = due;
            self.by_due.insert((due, id));
        }
    }
}

struct TaskRow {
    execution: String,
    task_id: i64,
    state_name: String,
    resource: String,
    input: String,
    timeout_seconds: Option<i64>,
    heartbeat_seconds: Option<i64>,
    attempt: i64,
    trace_parent: Option<String>,
    trace_state: Option<String>,
    started: bool,
    lease_owner: Option<String>,
    lease_until: Option<Time>,
    created_at: Time,
}

impl Tables {
    /// The row id of `execution`'s task `task_id`, if it has a row.
    fn task_row(&self, execution: &str, task_id: i64) -> Option<i64> {
        self.tasks
            .iter()
            .find(|(_, t)| t.execution == execution && t.task_id == task_id)
            .map(|(id, _)| *id)
    }

    /// Closes `execution`'s task `task_id`'s token, if it has an open one.
    fn close_token(&mut self, execution: &str, task_id: i64) {
        for token in self.tokens.values_mut() {
            if token.execution == execution && token.task_id == task_id {
                token.closed = true;
            }
        }
    }

    /// The definition `text`'s id, storing it the first time.
    fn put_definition(&mut self, text: &str) -> i64 {
        if let Some(id) = self.definition_ids.get(text) {
            return *id;
        }
        self.definitions.push(text.to_string());
        let id = self.definitions.len() as i64;
        self.definition_ids.insert(text.to_string(), id);
        id
    }

    fn definition(&self, id: i64) -> Option<&String> {
        usize::try_from(id - 1)
            .ok()
            .and_then(|i| self.definitions.get(i))
    }
}

struct ActivityTaskRow {
    execution: String,
    task_id: i64,
    activity_arn: String,
    input: String,
    token: String,
    heartbeat_seconds: Option<i64>,
}

struct TokenRow {
    execution: String,
    task_id: i64,
    heartbeat_seconds: Option<i64>,
    closed: bool,
}

impl Store for MemoryStore {
    fn doorbell(&self, channel: Channel) -> Arc<Notify> {
        match channel {
            Channel::Inbox => self.inbox_bell.clone(),
            Channel::Tasks => self.tasks_bell.clone(),
            Channel::Catalog => self.catalog_bell.clone(),
            Channel::Events => self.events_bell.clone(),
        }
    }

    fn catalog_generation(&self) -> Option<u64> {
        Some(self.catalog_generation.load(Ordering::SeqCst))
    }

    async fn backlog(&self) -> Result<Backlog> {
        let now = now();
        let tables = self.tables();
        let age = |since: Option<Time>| {
            since.map_or(0.0, |t| {
                (now - t).to_std().map(|d| d.as_secs_f64()).unwrap_or(0.0)
            })
        };
        let due: Vec<&InboxRow> = tables
            .inbox
            .by_due
            .range(..=(now, u64::MAX))
            .filter_map(|(_, id)| tables.inbox.rows.get(id))
            .collect();
        let due_timers: Vec<&&InboxRow> = due.iter().filter(|r| r.timer.is_some()).collect();
        let free = |t: &&TaskRow| t.lease_until.is_none_or(|until| until < now);
        Ok(Backlog {
            ready_events: due.len() as i64,
            ready_age_seconds: age(due.iter().map(|r| r.due).min()),
            due_timers: due_timers.len() as i64,
            timer_lag_seconds: age(due_timers.iter().map(|r| r.due).min()),
            tasks_waiting: tables
                .tasks
                .values()
                .filter(|t| t.lease_until.is_none())
                .count() as i64,
            tasks_lease_expired: tables
                .tasks
                .values()
                .filter(|t| t.lease_until.is_some_and(|u| u < now))
                .count() as i64,
            tasks_leased: tables
                .tasks
                .values()
                .filter(|t| t.lease_until.is_some_and(|u| u >= now))
                .count() as i64,
            task_age_seconds: age(tables
                .tasks
                .values()
                .filter(free)
                .map(|t| t.created_at)
                .min()),
        })
    }

    async fn readiness(&self) -> Result<Readiness> {
        Ok(Readiness::InMemory)
    }

    fn connections(&self) -> Option<Connections> {
        None
    }
}
