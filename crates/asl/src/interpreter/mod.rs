//! The sans-IO core: `start` and `step`.
//!
//! How a driver runs an execution, in order:
//!
//! 1. [`start`] (or [`start_within`], under a transition budget) records
//!    `ExecutionStarted`, runs until the execution blocks or ends, and returns its
//!    [`Snapshot`] and a first [`Output`]. Later calls begin from the snapshot the driver
//!    kept: it is `Serialize`/`Deserialize`, so a durable driver stores it as JSON and
//!    reads it back.
//! 2. [`Snapshot::attach_input`]: give back the execution's input, if the snapshot was
//!    stored without it (step 8).
//! 3. [`Snapshot::restore`]: give back the large-Map values the last
//!    [`Snapshot::wanted`] asked for, with that list (see
//!    [`Limits::store_map_items_over`]).
//! 4. [`step`] (or [`step_within`]) for each [`Event`]: `step(machine, &mut snapshot,
//!    event, clock)`, the [`Clock`] bringing the time and the entropy.
//! 5. Carry out [`Output::commands`] in order (invoke tasks, start and cancel timers,
//!    keep what [`Command::Store`] hands over until [`Command::ReleaseStored`], and
//!    [`Command::Finish`]) and append [`Output::history`] to the execution's history;
//!    [`Output::states`] is for tracing.
//! 6. [`Snapshot::needs_resume`]: a large Map waits for stored values; queue
//!    [`Event::Resume`], and give the values back (step 3) before stepping with it.
//!    Likewise [`Snapshot::is_paused`]: a step's budget ran out ([`Output::paused`]) and
//!    its transitions wait for `Event::Resume`.
//! 7. [`Snapshot::wanted`]: the stored values to load, and give back with
//!    `Snapshot::restore`, before the next step.
//! 8. [`Snapshot::detach_input`] before persisting the snapshot: the driver keeps the
//!    execution's input anyway, and gives it back with `Snapshot::attach_input`.
//!
//! This module holds that vocabulary and `start`/`step`. The work of one call is a
//! `Run` (module `run`: apply the event, then advance every ready frame until all block
//! or end), whose methods are spread over one module per idea: `frame` (the tree of
//! frames and what each waits for), `states` (one module per state type), `data`
//! (InputPath to OutputPath, and Assign), `jsonata` (a JSONata state's `$states`,
//! Assign, Output and `EvaluationFailed`), `context` (`$$`), `join` (the children of
//! Parallel and Map states), `retry` (Retry and Catch), `record` (history events and the
//! visits reported for tracing), `end` (ending frames and the execution), `express_cap`
//! (the five minutes an EXPRESS Distributed Map iteration may run) and `stored` (large
//! Maps kept out of the snapshot).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::history::HistoryEvent;
use crate::model::StateMachine;
use crate::status::ExecutionStatus;
use crate::timestamp::Timestamp;

use frame::{Frame, TimerPurpose, Waiting};
use run::Run;

mod children;
mod context;
mod data;
mod end;
mod express_cap;
mod frame;
mod internal_task;
mod item_selector;
mod item_source;
mod join;
mod jsonata;
mod map_run;
mod record;
mod redrive;
mod result_writer;
mod retry;
mod run;
mod states;
mod stored;

pub use children::{
    ChildDates, MapChildOutcome, MapChildRedrive, MapChildStart, MAX_CHILD_STARTS_PER_STEP,
};
pub use frame::{machine_at, ScopeStep};
pub use item_source::{ItemRows, ReadItemsRequest, READ_ITEMS_RESOURCE};
pub use map_run::{MapRunState, MapRunStatus, MapRunUpdate};
pub(crate) use retry::{error_output, matches_error};
pub use states::task::resource_parts;
pub use stored::{StoredKind, StoredValue, Wanted};

/// Facts about an execution that the context object (`$$.Execution`, `$$.StateMachine`)
/// exposes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionInfo {
    pub execution_arn: String,
    pub execution_name: String,
    pub state_machine_arn: String,
    pub state_machine_name: String,
    pub role_arn: String,
    pub start_time: Timestamp,
    /// `None` for Express executions, which cannot be redriven and show no count.
    pub redrive_count: Option<u64>,
}

impl ExecutionInfo {
    /// An execution named `name` of machine `machine` in the default region and account.
    pub fn example(machine: &str, name: &str, start_time: Timestamp) -> ExecutionInfo {
        let prefix = "arn:aws:states:us-east-1:123456789012";
        ExecutionInfo {
            execution_arn: format!("{prefix}:execution:{machine}:{name}"),
            execution_name: name.to_string(),
            state_machine_arn: format!("{prefix}:stateMachine:{machine}"),
            state_machine_name: machine.to_string(),
            role_arn: "arn:aws:iam::123456789012:role/cairn".to_string(),
            start_time,
            redrive_count: Some(0),
        }
    }
}

/// Limits AWS enforces on an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest input/output of a state, in bytes of JSON text (AWS: 256 KiB).
    pub max_payload_bytes: usize,
    /// Most history events of one execution (AWS: 25,000).
    pub max_history_events: usize,
    /// Not an AWS limit but a durable driver's choice: an inline Map with more items
    /// than this keeps its items, results and input out of the snapshot, as values the
    /// driver stores ([`Command::Store`]) and gives back when asked
    /// ([`Snapshot::wanted`]). Each step then rewrites a snapshot the size of the
    /// Map's running iterations, not of all its items. `None`: everything stays in the
    /// snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_map_items_over: Option<usize>,
    /// How long an execution may run, from its start, redrives included (AWS: one
    /// year for Standard executions). Past it the execution times out with
    /// `States.Timeout`, as past its machine's `TimeoutSeconds`. `None`: no cap (the
    /// in-memory driver's default; the durable scheduler sets one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_execution_seconds: Option<u64>,
    /// A durable driver's choice: a STANDARD Distributed Map runs each iteration as a
    /// child execution ([`Command::StartMapChild`], module `children`), as AWS does.
    /// `false`: its iterations are quiet frames of this execution (the in-memory
    /// driver, Express executions).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub map_child_executions: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_payload_bytes: 256 * 1024,
            max_history_events: 25_000,
            store_map_items_over: None,
            max_execution_seconds: None,
            map_child_executions: false,
        }
    }
}

/// How long an Express execution may run, in seconds (AWS: five minutes). The Express
/// execution path ends a run past it, and an EXPRESS Distributed Map iteration, which
/// stands for an Express child execution, times out past it (module `express_cap`).
pub const EXPRESS_MAX_SECONDS: u64 = 300;

/// Identifies a task invocation the interpreter asked for.
pub type TaskId = u64;

/// Identifies a timer the interpreter asked for.
pub type TimerId = u64;

type FrameId = u64;

/// Something that happened outside the interpreter, fed to [`step`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// A worker began the task (AWS's `TaskStarted`).
    TaskStarted {
        task: TaskId,
    },
    TaskSucceeded {
        task: TaskId,
        output: Value,
    },
    TaskFailed {
        task: TaskId,
        error: String,
        cause: Option<String>,
    },
    /// The driver's heartbeat clock ran out (`States.HeartbeatTimeout`).
    TaskHeartbeatTimedOut {
        task: TaskId,
    },
    /// A `.waitForTaskToken` target accepted the task (AWS's `TaskSubmitted`); the task
    /// now waits for its token.
    TaskSubmitted {
        task: TaskId,
        output: Value,
    },
    /// An activity worker took the task with `GetActivityTask` (`ActivityStarted`).
    ActivityStarted {
        task: TaskId,
        worker_name: Option<String>,
    },
    TimerFired {
        timer: TimerId,
    },
    /// `StopExecution`.
    Stop {
        error: Option<String>,
        cause: Option<String>,
    },
    /// Continue the transitions an earlier step held back because its budget ran out
    /// ([`Output::paused`]). Harmless when nothing is held back.
    Resume,
    /// `RedriveExecution`: a failed, timed-out or aborted execution runs again from the
    /// states that did not succeed (see module `redrive`). Ignored while it runs or once
    /// it succeeded.
    Redrive,
    /// `UpdateMapRun`: a running Map Run changes its concurrency or tolerance. Ignored
    /// when no running Map of the execution has that run.
    UpdateMapRun(MapRunUpdate),
    /// A child execution a STANDARD Distributed Map started
    /// ([`Command::StartMapChild`]) ended. Ignored when no running Map waits for it.
    MapChildEnded {
        map_run_arn: String,
        index: u64,
        outcome: MapChildOutcome,
        /// When the child started and stopped (its `startDate` and `stopDate`), for the
        /// records a ResultWriter writes; `None` when the child's end is not its own
        /// (a redrive that could not be).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dates: Option<ChildDates>,
    },
}

/// What the driver must carry out after a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    InvokeTask(TaskRequest),
    /// Feed `Event::TimerFired { timer }` once `due` has passed.
    StartTimer {
        timer: TimerId,
        due: Timestamp,
    },
    /// The timer no longer matters; firing it anyway is harmless.
    CancelTimer {
        timer: TimerId,
    },
    /// The task's result no longer matters (its branch was aborted or it timed out).
    CancelTask {
        task: TaskId,
    },
    /// The execution ended.
    Finish(Finish),
    /// Keep this value of a large Map outside the snapshot, until the Map is released
    /// (see [`Limits::store_map_items_over`]).
    Store(StoredValue),
    /// The Map whose values `map` names is over: its stored values can go.
    ReleaseStored {
        map: u64,
    },
    /// A Distributed Map's Map Run as it stands now: started, an iteration ended, or
    /// the run ended. The driver keeps the last one per ARN.
    MapRun(MapRunState),
    /// Start a child execution for a Map iteration, in the same commit as this step;
    /// feed [`Event::MapChildEnded`] when it ends.
    StartMapChild(MapChildStart),
    /// Redrive a Map iteration's failed or aborted child execution, in the same commit
    /// as this step; feed [`Event::MapChildEnded`] when it ends again.
    RedriveMapChild(MapChildRedrive),
}

/// A task to invoke.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRequest {
    pub task: TaskId,
    pub state_name: String,
    pub resource: String,
    pub input: Value,
    pub timeout_seconds: Option<u64>,
    pub heartbeat_seconds: Option<u64>,
    /// 0 for the first try.
    pub attempt: u64,
    /// The task token (`$$.Task.Token`) of a `.waitForTaskToken` or activity task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The id of the Task state's `TaskStateEntered` event: every attempt of one visit
    /// to the state shares it (a tracer parents the attempts to the state's span).
    #[serde(default)]
    pub entered_event: u64,
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finish {
    pub status: ExecutionStatus,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// The result of `start` or `step`: history to append and commands to carry out, in order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Output {
    pub history: Vec<HistoryEvent>,
    pub commands: Vec<Command>,
    /// Visits to states that ended in this step (exited, failed, or cut short by the
    /// end of the execution), for tracing. Quiet frames (Distributed Map children)
    /// report none.
    pub states: Vec<StateVisit>,
    /// State transitions this step made: states entered and retries run (what AWS's
    /// StateTransition quota counts).
    pub transitions: u64,
    /// The step's transition budget ran out (see [`step_within`]) with frames still
    /// ready to enter a state or retry one; they wait, in the snapshot, for
    /// [`Event::Resume`].
    pub paused: bool,
}

/// One visit to a state, from its `*StateEntered` event to the step that ended it
/// (whose clock gives the end time): what a tracer draws as one span.
#[derive(Debug, Clone, PartialEq)]
pub struct StateVisit {
    pub state: String,
    /// The state's type as AWS names it: `Task`, `Pass`, `Choice`, …
    pub state_type: &'static str,
    /// The id of the visit's `*StateEntered` event (unique within the execution).
    pub entered_event: u64,
    pub entered_at: Timestamp,
    /// The Entered event of the Parallel or Map state this visit runs inside, if any.
    pub parent_entered_event: Option<u64>,
    /// `None` when the state exited; the error that ended it otherwise.
    pub error: Option<String>,
}

/// When and with what entropy a step happens. Both come from the driver.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub now: Timestamp,
    pub seed: u64,
    /// Unpredictable bytes that task tokens are made from (see [`crate::callback`]). A
    /// durable driver draws them from the operating system; `seed` is not enough, since
    /// a token must not be guessable.
    pub entropy: [u8; 32],
}

/// Everything needed to resume an execution. Serializable; the store persists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub info: ExecutionInfo,
    pub limits: Limits,
    pub status: ExecutionStatus,
    pub input: Value,
    next_event_id: u64,
    next_task: TaskId,
    next_timer: TimerId,
    next_frame: FrameId,
    frames: BTreeMap<FrameId, Frame>,
    /// Timers that still matter, and what each is for.
    timers: BTreeMap<TimerId, TimerPurpose>,
    /// Tasks awaited, by the frame that waits.
    tasks: BTreeMap<TaskId, FrameId>,
    /// The `$$` object; `State` and `Map` are rewritten before each evaluation, and
    /// `Execution` and `StateMachine` shown as an EXPRESS Distributed Map iteration's
    /// child's while its frames evaluate (module `context`; never so when stored).
    context: Value,
    /// The execution's input is left out (`input` and `$$.Execution.Input`): the driver
    /// keeps it and gives it back (see [`Snapshot::detach_input`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    input_detached: bool,
    /// Frames that did not succeed, kept for a redrive to run again (module `redrive`):
    /// the frame of a state that failed or was cut short, reset to enter that state
    /// again, and the Parallel and Map frames above them with their joins.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    frozen: BTreeMap<FrameId, Frame>,
    /// Once the execution ended without succeeding: the frozen root frame a redrive
    /// resumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    redrive_from: Option<FrameId>,
}

impl Snapshot {
    /// How many history events the execution has.
    pub fn history_len(&self) -> u64 {
        self.next_event_id - 1
    }

    /// Whether transitions are held back for [`Event::Resume`]: a step's budget ran out
    /// (see [`step_within`]) before every ready frame entered its next state.
    pub fn is_paused(&self) -> bool {
        self.status == ExecutionStatus::Running
            && self
                .frames
                .values()
                .any(|f| matches!(f.waiting, Waiting::Enter | Waiting::Retry))
    }
}

/// Starts an execution: records `ExecutionStarted` and runs until it blocks or ends.
pub fn start(
    machine: &StateMachine,
    info: ExecutionInfo,
    input: Value,
    limits: Limits,
    clock: Clock,
) -> (Snapshot, Output) {
    start_within(machine, info, input, limits, clock, None)
}

/// [`start`], making at most `budget` state transitions (`None`: no bound); the rest
/// wait for [`Event::Resume`] (`Output::paused`). `ExecutionStarted` is recorded even
/// with a budget of 0.
pub fn start_within(
    machine: &StateMachine,
    info: ExecutionInfo,
    input: Value,
    limits: Limits,
    clock: Clock,
    budget: Option<u64>,
) -> (Snapshot, Output) {
    let execution = context::execution_context(
        &info.execution_arn,
        input.clone(),
        info.start_time,
        &info.execution_name,
        &info.role_arn,
        info.redrive_count,
    );
    let context = json!({
        "Execution": execution,
        "StateMachine": { "Id": info.state_machine_arn, "Name": info.state_machine_name },
        "State": { "Name": "", "EnteredTime": "" },
    });
    let mut snapshot = Snapshot {
        info,
        limits,
        status: ExecutionStatus::Running,
        input: input.clone(),
        next_event_id: 1,
        next_task: 1,
        next_timer: 1,
        next_frame: 1,
        frames: BTreeMap::new(),
        timers: BTreeMap::new(),
        tasks: BTreeMap::new(),
        context,
        input_detached: false,
        frozen: BTreeMap::new(),
        redrive_from: None,
    };
    let mut run = Run::new(machine, &mut snapshot, clock);
    run.budget = budget;
    run.begin(input);
    let output = run.finish();
    (snapshot, output)
}

/// Applies one event to an execution and runs until it blocks or ends. Events that no
/// longer matter (a result for an aborted task, a cancelled timer) change nothing.
pub fn step(machine: &StateMachine, snapshot: &mut Snapshot, event: Event, clock: Clock) -> Output {
    step_within(machine, snapshot, event, clock, None)
}

/// [`step`], making at most `budget` state transitions (`None`: no bound). The event
/// itself is always applied (a task's result and its state's exit are recorded); the
/// transitions past the budget wait in the snapshot for [`Event::Resume`], and
/// `Output::paused` says so. This is how a driver paces executions under a
/// transition rate limit without failing them, as AWS's StateTransition quota does.
pub fn step_within(
    machine: &StateMachine,
    snapshot: &mut Snapshot,
    event: Event,
    clock: Clock,
    budget: Option<u64>,
) -> Output {
    let mut run = Run::new(machine, snapshot, clock);
    run.budget = budget;
    if run.snapshot.status == ExecutionStatus::Running {
        run.apply(event);
    } else if event == Event::Redrive {
        run.redrive();
    }
    run.finish()
}
