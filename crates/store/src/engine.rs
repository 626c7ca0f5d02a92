//! The scheduler's side of the store: claim, plan, commit.
//!
//! ```text
//! let batch = store.claim(limit, &known).await?;          // executions with due events, locked
//! let plans = batch.claimed().iter().map(plan).collect(); // the scheduler: pure
//! let committed = batch.commit(plans, lease).await?;      // ONE transaction
//! // only now: metrics, spans, handing leased tasks to the local worker
//! ```
//!
//! A [`Plan`] says everything that happens to one execution: its new row, the history
//! events it recorded and a list of typed [`Effect`]s. The store decides nothing: it
//! writes what the plan says, matching on each effect, and consumes the execution's
//! claimed events whatever the plan holds. A batch dropped without `commit` changes
//! nothing; its executions' events stay due.

use std::future::Future;

use cairn_asl::history::HistoryEvent;
use cairn_asl::interpreter::{Event, MapRunState, StoredValue, TaskRequest, Wanted};
use cairn_asl::task::Nested;
use cairn_asl::ExecutionStatus;
use serde::{Deserialize, Serialize};

use crate::executions::TraceContext;
use crate::tasks::{LeasedTask, TaskLease};
use crate::{Result, Time};

/// An event waiting in an execution's inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum InboxEvent {
    /// Run the interpreter's `start` with the execution's input.
    Start,
    /// Apply an interpreter event.
    Step(Event),
}

/// An execution claimed for one batch, with its due events in order.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub arn: String,
    pub name: String,
    pub state_machine_arn: String,
    pub role_arn: String,
    pub definition_id: i64,
    /// The definition's text, unless the caller said it knows this definition.
    pub definition: Option<String>,
    pub input: String,
    pub started_at: Time,
    /// JSON text of the interpreter's snapshot; `None` before the first step.
    pub snapshot: Option<String>,
    /// How many history events the execution has recorded.
    pub history_length: i64,
    pub status: ExecutionStatus,
    pub events: Vec<InboxEvent>,
    /// The execution's trace, when it is traced.
    pub trace: Option<TraceContext>,
    /// The `.sync` task of a parent execution that waits for this one to end.
    pub parent: Option<ParentTask>,
    /// Set when this execution is a child of a STANDARD Distributed Map's Map Run: it
    /// runs the ItemProcessor there, and tells its parent when it ends.
    pub map_child: Option<crate::map_children::MapChild>,
    /// What the last advance said the next one needs of the stored Map values
    /// ([`cairn_asl::interpreter::Snapshot::wanted`]), and those values.
    pub wanted: Vec<Wanted>,
    pub stored: Vec<StoredValue>,
}

/// A parent's Task state that started this execution and waits for its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentTask {
    pub execution_arn: String,
    pub task: u64,
    /// `Nested::Sync` or `Nested::Sync2`: how the parent wants the answer.
    pub waits: Nested,
}

/// What the scheduler decided for one claimed execution.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The execution row's new state; `None` leaves the row as it is.
    pub execution: Option<ExecutionUpdate>,
    /// Events to append (dense ids, continuing the execution's history).
    pub history: Vec<HistoryEvent>,
    /// Everything else the advance does, in the order the interpreter asked.
    pub effects: Vec<Effect>,
}

/// An execution row after an advance.
#[derive(Debug, Clone)]
pub struct ExecutionUpdate {
    /// JSON text of the snapshot.
    pub snapshot: String,
    /// What the next advance must load of the stored Map values.
    pub wanted: Vec<Wanted>,
    /// Set when this advance ended the execution.
    pub ending: Option<Ending>,
}

/// How an execution ended.
#[derive(Debug, Clone)]
pub struct Ending {
    /// Never `Running`.
    pub status: ExecutionStatus,
    /// JSON text, for a succeeded execution.
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
    /// The time of its last event, as AWS's `stopDate`.
    pub stopped_at: Time,
}

/// One thing an advance does besides rewriting the execution row and appending history.
#[derive(Debug, Clone)]
pub enum Effect {
    /// A task for a worker ([`cairn_asl::task::Route::Invoke`] or `InvokeThenWait`): a
    /// task row, and its token's hash when it has one.
    Task(NewTask),
    /// An activity task, queued for `GetActivityTask` pollers, and its token's hash.
    Activity(TaskRequest),
    /// A nested execution, started in this transaction: the child's row and start
    /// event, and the parent's `TaskStarted` with the start's outcome. Its token's hash
    /// (`.waitForTaskToken`) is written first.
    StartExecution { task: TaskRequest, nested: Nested },
    /// Queue `Event::TimerFired { timer }`, due at `due`.
    Timer { timer: u64, due: Time },
    /// Queue `Event::Resume`, due at `at`. An execution has at most one pending resume;
    /// one already queued is kept.
    Resume { at: Time },
    /// The timer no longer matters: its row goes.
    CancelTimer { timer: u64 },
    /// The task no longer matters: its row or queued activity task and its heartbeat
    /// timer go, its token closes, and its running `.sync` children are asked to stop.
    CancelTask { task: u64 },
    /// Keep a large Map's value outside the snapshot.
    Store(StoredValue),
    /// The Map run keyed `map` is over: its stored values go (after this plan's
    /// `Store`s, so a value stored and released in one advance is not kept).
    ReleaseStored { map: u64 },
    /// Queue `event` for another execution, due now: a `.sync` child's end, for the
    /// parent that waits (see [`Claimed::parent`]).
    Notify { execution_arn: String, event: Event },
    /// Keep the Map Run's row as it now stands (inserted the first time, started now;
    /// stopped now once its status is no longer `RUNNING`).
    MapRun(MapRunState),
    /// A Map iteration's child execution, started in this transaction: its row (the
    /// parent's definition and role) and its `Start` event (see
    /// [`crate::map_children`]). `processor` is its place in the parent's definition.
    StartMapChild(crate::map_children::MapChildStart),
    /// A Map iteration's failed or aborted child execution, redriven in this
    /// transaction because its parent was (see [`crate::map_children`]).
    RedriveMapChild(crate::map_children::MapChildRedrive),
}

/// A task row to insert.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub request: TaskRequest,
    /// The W3C `traceparent` (and `tracestate`) its attempts are children of, when the
    /// execution is traced.
    pub trace_parent: Option<String>,
    pub trace_state: Option<String>,
    /// The plan applied the task's `TaskStarted` already: the row is inserted started
    /// and leased to the commit's [`TaskLease`], and comes back in
    /// [`Committed::leased`] for the local worker.
    pub leased: bool,
}

/// What a batch's commit did.
#[derive(Debug, Default)]
pub struct Committed {
    /// Tasks inserted leased (see [`NewTask::leased`]), committed.
    pub leased: Vec<LeasedTask>,
}

/// Executions claimed for one batch. Dropped without [`Batch::commit`], it changes
/// nothing.
pub trait Batch: Send {
    /// The claimed executions, each with its due events in order.
    fn claimed(&self) -> &[Claimed];

    /// Writes `plans` — one per claimed execution, in [`Batch::claimed`]'s order — and
    /// consumes every claimed event, in ONE transaction. Tasks planned `leased` are
    /// leased to `lease` (without one, they are inserted free for any worker).
    fn commit(
        self,
        plans: Vec<Plan>,
        lease: Option<&TaskLease>,
    ) -> impl Future<Output = Result<Committed>> + Send;
}

/// Claiming work for the scheduler.
pub trait Engine: Send + Sync {
    type Batch: Batch;

    /// Claims up to `limit` executions that have due events, earliest due first,
    /// skipping those another batch holds. `known_definitions` lists definition ids the
    /// caller has parsed already; their text is not sent again.
    fn claim(
        &self,
        limit: i64,
        known_definitions: &[i64],
    ) -> impl Future<Output = Result<Self::Batch>> + Send;

    /// When the next inbox event falls due, if any is queued.
    fn next_due(&self) -> impl Future<Output = Result<Option<Time>>> + Send;
}

/// The `timer_id` of an execution's pending `Event::Resume`: no interpreter timer (they
/// count from 1) nor a heartbeat timer (minus a task id).
pub(crate) const RESUME_TIMER_ID: i64 = 0;

/// The `timer_id` of task `task`'s heartbeat timer: the task id negated, so it never
/// collides with the interpreter's own (positive) timer ids.
pub(crate) fn heartbeat_timer(task: i64) -> i64 {
    -task
}
