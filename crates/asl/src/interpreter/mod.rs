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

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map as JsonMap, Value};

use crate::error::{names, Failure};
use crate::history::{Details, HistoryEvent};
use crate::model::{State, StateKind, StateMachine, Transition};
use crate::payload;
use crate::status::ExecutionStatus;
use crate::template::{Scope, Template};
use crate::timestamp::Timestamp;
use crate::variables::Assign;

use frame::{variables_of, Frame, TimerPurpose, Waiting};
use run::{Progress, Run};

mod frame;
mod join;
mod retry;
mod run;
mod states;
mod stored;

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
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_payload_bytes: 256 * 1024,
            max_history_events: 25_000,
            store_map_items_over: None,
        }
    }
}

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
    /// The `$$` object; `State` and `Map` are rewritten before each evaluation.
    context: Value,
    /// The execution's input is left out (`input` and `$$.Execution.Input`): the driver
    /// keeps it and gives it back (see [`Snapshot::detach_input`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    input_detached: bool,
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
    // Keys in the order AWS shows them.
    let mut execution = JsonMap::new();
    execution.insert("Id".into(), json!(info.execution_arn));
    execution.insert("Input".into(), input.clone());
    execution.insert(
        "StartTime".into(),
        json!(info.start_time.to_rfc3339_millis()),
    );
    execution.insert("Name".into(), json!(info.execution_name));
    execution.insert("RoleArn".into(), json!(info.role_arn));
    if let Some(count) = info.redrive_count {
        execution.insert("RedriveCount".into(), json!(count));
    }
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
    }
    run.finish()
}

impl Run<'_> {
    fn select_for(
        &self,
        frame: &Frame,
        path: &crate::path::Path,
        effective: &Value,
    ) -> Result<Value, Failure> {
        self.lookup(frame, path, effective)
            .ok_or_else(|| self.with_prefix(frame, payload::no_results(path)))
    }

    /// What `path` selects for `frame`: from `input`, the context object or a variable.
    fn lookup(&self, frame: &Frame, path: &crate::path::Path, input: &Value) -> Option<Value> {
        let variables = variables_of(&self.snapshot.frames, frame);
        let scope = Scope {
            input,
            context: &self.snapshot.context,
            variables: &variables,
        };
        scope.select(path).map(std::borrow::Cow::into_owned)
    }

    /// Evaluates an `Assign` field for `frame` with `dollar` as `$`, against the
    /// variables as they are before the state; [`Self::output_of`] makes the values
    /// take effect when the state is left.
    fn assign(
        &mut self,
        frame: &Frame,
        assign: Option<&Assign>,
        dollar: &Value,
    ) -> Result<Option<JsonMap<String, Value>>, Failure> {
        let Some(assign) = assign else {
            return Ok(None);
        };
        self.update_context(frame, None);
        let variables = variables_of(&self.snapshot.frames, frame);
        let scope = Scope {
            input: dollar,
            context: &self.snapshot.context,
            variables: &variables,
        };
        let values = assign.evaluate(scope, &mut self.random);
        self.prefix(frame, values).map(Some)
    }

    /// A state's work produced `result`: ResultSelector → ResultPath → OutputPath, then
    /// the transition.
    fn complete(
        &mut self,
        frame: &mut Frame,
        state: &State,
        result: Value,
        result_selector: Option<&Template>,
        result_path: &crate::model::ResultPath,
        next: &Transition,
    ) -> Result<Progress, Failure> {
        let result = match result_selector {
            Some(selector) => {
                self.update_context(frame, None);
                let variables = variables_of(&self.snapshot.frames, frame);
                let scope = Scope {
                    input: &result,
                    context: &self.snapshot.context,
                    variables: &variables,
                };
                selector
                    .evaluate(scope, &mut self.random, "ResultSelector")
                    .map_err(|f| self.with_prefix(frame, f))?
            }
            None => result,
        };
        if payload::json_size_exceeds(&result, self.snapshot.limits.max_payload_bytes) {
            return Err(data_limit(&frame.state));
        }
        // `$` in Assign is the result after ResultSelector.
        let assigned = self.assign(frame, state.assign.as_ref(), &result)?;
        let input = std::mem::take(&mut frame.input);
        let placed = payload::place_result(input, result, result_path);
        let placed = self.prefix(frame, placed)?;
        self.output_of(frame, state, placed, next, assigned)
    }

    /// Applies OutputPath, makes the state's `assigned` variables take effect, records
    /// the Exited event and follows the transition. OutputPath still sees the variables
    /// as they were before the state.
    fn output_of(
        &mut self,
        frame: &mut Frame,
        state: &State,
        value: Value,
        next: &Transition,
        assigned: Option<JsonMap<String, Value>>,
    ) -> Result<Progress, Failure> {
        if state.output_path.as_ref().is_some_and(|p| p.is_context()) {
            self.update_context(frame, None);
        }
        let selected = payload::select(
            value,
            state.output_path.as_ref(),
            &self.snapshot.context,
            &variables_of(&self.snapshot.frames, frame),
        );
        let output = self.prefix(frame, selected)?;
        let limit = self.snapshot.limits.max_payload_bytes;
        // The output's text serves the size check, this Exited event and the next
        // state's Entered event.
        let text = if frame.quiet {
            if payload::json_size_exceeds(&output, limit) {
                return Err(data_limit(&frame.state));
            }
            None
        } else {
            let text = payload::to_text(&output);
            if text.len() > limit {
                return Err(data_limit(&frame.state));
            }
            let assigned_texts = assigned.as_ref().map(assigned_texts);
            self.exited_with_text(frame, state, text.clone(), assigned_texts);
            Some(text)
        };
        if let Some(assigned) = assigned {
            frame.variables.extend(assigned);
        }
        match next {
            Transition::Next(name) => {
                frame.state = name.clone();
                frame.input = output;
                frame.input_text = text;
                frame.waiting = Waiting::Enter;
                Ok(Progress::Blocked)
            }
            Transition::End => Ok(self.frame_ended(frame, Ok(output))),
        }
    }

    fn exited(
        &mut self,
        frame: &mut Frame,
        state: &State,
        output: &Value,
        assigned: Option<&JsonMap<String, Value>>,
    ) {
        if frame.quiet {
            return;
        }
        let text = payload::to_text(output);
        self.exited_with_text(frame, state, text, assigned.map(assigned_texts));
    }

    fn exited_with_text(
        &mut self,
        frame: &mut Frame,
        state: &State,
        output_text: String,
        assigned: Option<JsonMap<String, Value>>,
    ) {
        let mut d = details([
            ("name", Value::String(frame.state.clone())),
            ("output", Value::String(output_text)),
        ]);
        d.assigned_variables = assigned;
        let id = self.record_quiet(frame.quiet, Some(frame.last_event), exited_event(state), d);
        if !frame.quiet {
            frame.last_event = id;
            self.visit_ended(frame, state, None);
        }
    }

    /// Reports the end of `frame`'s visit to `state` in [`Output::states`].
    fn visit_ended(&mut self, frame: &Frame, state: &State, error: Option<String>) {
        let visit = self.visit_of(frame, state, error);
        self.output.states.push(visit);
    }

    fn visit_of(&self, frame: &Frame, state: &State, error: Option<String>) -> StateVisit {
        let parent_entered_event = frame
            .parent
            .and_then(|(parent, _)| self.snapshot.frames.get(&parent))
            .map(|parent| parent.entered_event);
        StateVisit {
            state: frame.state.clone(),
            state_type: entered_event(state).trim_end_matches("StateEntered"),
            entered_event: frame.entered_event,
            entered_at: frame.entered_time,
            parent_entered_event,
            error,
        }
    }

    /// Appends an event; returns its id.
    fn record(&mut self, previous: Option<u64>, event_type: &str, details: Details) -> u64 {
        let id = self.snapshot.next_event_id;
        self.snapshot.next_event_id += 1;
        self.output.history.push(HistoryEvent {
            id,
            previous_event_id: previous.unwrap_or(id - 1),
            timestamp: self.now,
            event_type: event_type.to_string(),
            details: details.with_payload_details(),
        });
        id
    }

    fn record_quiet(
        &mut self,
        quiet: bool,
        previous: Option<u64>,
        event_type: &str,
        details: Details,
    ) -> u64 {
        if quiet {
            return 0;
        }
        self.record(previous, event_type, details)
    }

    fn record_for_frame(&mut self, frame: &mut Frame, event_type: &str, details: Details) {
        let id = self.record_quiet(frame.quiet, Some(frame.last_event), event_type, details);
        if !frame.quiet {
            frame.last_event = id;
        }
    }

    fn record_for(&mut self, frame_id: FrameId, event_type: &str, details: Details) {
        let Some(mut frame) = self.snapshot.frames.remove(&frame_id) else {
            return;
        };
        self.record_for_frame(&mut frame, event_type, details);
        self.snapshot.frames.insert(frame_id, frame);
    }

    fn fail_history_limit(&mut self) {
        let limit = self.snapshot.limits.max_history_events;
        self.end_execution(Err(Failure::runtime(format!(
            "The execution reached the maximum number of history events ({limit})."
        ))));
    }

    fn history_exceeded(&self) -> bool {
        self.snapshot.history_len() > self.snapshot.limits.max_history_events as u64
    }

    /// Rewrites `$$.State` (and `$$.Map`) for the frame about to evaluate something.
    fn update_context(&mut self, frame: &Frame, item: Option<(usize, &Value)>) {
        let mut state = JsonMap::new();
        state.insert("Name".into(), json!(frame.state));
        state.insert(
            "EnteredTime".into(),
            json!(frame.entered_time.to_rfc3339_millis()),
        );
        // Only states that can retry have a retry count.
        if matches!(
            self.state_of(frame).map(|s| &s.kind),
            Some(StateKind::Task(_) | StateKind::Parallel(_) | StateKind::Map(_))
        ) {
            state.insert(
                "RetryCount".into(),
                json!(frame.retries.iter().sum::<u64>()),
            );
        }
        let Value::Object(context) = &mut self.snapshot.context else {
            return;
        };
        context.insert("State".into(), Value::Object(state));
        // `$$.Task` exists only while a callback task's Parameters are evaluated.
        match &self.task_token {
            Some(token) => {
                context.insert("Task".into(), json!({ "Token": token }));
            }
            None => {
                context.shift_remove("Task");
            }
        }
        match item {
            Some((index, value)) => {
                context.insert(
                    "Map".into(),
                    json!({"Item": {"Index": index, "Value": value}}),
                );
            }
            None => {
                context.shift_remove("Map");
            }
        }
    }

    /// The state's input after InputPath.
    fn effective_input(&mut self, frame: &Frame, state: &State) -> Result<Value, Failure> {
        if state.input_path.as_ref().is_some_and(|p| p.is_context()) {
            self.update_context(frame, None);
        }
        let selected = payload::select_ref(
            &frame.input,
            state.input_path.as_ref(),
            &self.snapshot.context,
            &variables_of(&self.snapshot.frames, frame),
        );
        self.prefix(frame, selected)
    }

    fn evaluate(
        &mut self,
        frame: &Frame,
        template: &Template,
        input: &Value,
        field: &str,
    ) -> Result<Value, Failure> {
        self.update_context(frame, None);
        let variables = variables_of(&self.snapshot.frames, frame);
        let scope = Scope {
            input,
            context: &self.snapshot.context,
            variables: &variables,
        };
        let value = template.evaluate(scope, &mut self.random, field);
        self.prefix(frame, value)
    }

    fn prefix<T>(&self, frame: &Frame, result: Result<T, Failure>) -> Result<T, Failure> {
        result.map_err(|f| self.with_prefix(frame, f))
    }

    /// AWS prefixes the cause of a `States.Runtime` error with the state and the id of
    /// its Entered event.
    fn with_prefix(&self, frame: &Frame, failure: Failure) -> Failure {
        if failure.error != names::RUNTIME {
            return failure;
        }
        let cause = failure.cause.unwrap_or_default();
        if cause.starts_with("An error occurred while executing the state") {
            return Failure {
                error: failure.error,
                cause: Some(cause),
            };
        }
        Failure {
            error: failure.error,
            cause: Some(format!(
                "An error occurred while executing the state '{}' (entered at the event id #{}). {}",
                frame.state, frame.entered_event, cause
            )),
        }
    }

    /// A frame reached its end (`End`, Succeed, Fail, or an uncaught error).
    fn frame_ended(&mut self, frame: &mut Frame, result: Result<Value, Failure>) -> Progress {
        if let Err(failure) = &result {
            if !frame.quiet && !matches!(frame.waiting, Waiting::Enter) {
                if let Some(state) = self.state_of(frame) {
                    self.visit_ended(frame, state, Some(failure.error.clone()));
                }
            }
        }
        match frame.parent {
            Some((parent, index)) => self.child_ended(parent, index, result, frame.last_event),
            None => {
                let last = frame.last_event;
                self.end_execution_after(last, result);
            }
        }
        Progress::Ended
    }

    fn end_execution(&mut self, result: Result<Value, Failure>) {
        let previous = self.snapshot.next_event_id - 1;
        self.end_execution_after(previous, result);
    }

    fn end_execution_after(&mut self, previous: u64, result: Result<Value, Failure>) {
        if self.snapshot.status != ExecutionStatus::Running {
            return;
        }
        match result {
            Ok(output) => {
                self.record(
                    Some(previous),
                    "ExecutionSucceeded",
                    details([("output", Value::String(payload::to_text(&output)))]),
                );
                self.finish_with(Finish {
                    status: ExecutionStatus::Succeeded,
                    output: Some(output),
                    error: None,
                    cause: None,
                });
            }
            Err(failure) => {
                let d = Details {
                    error: Some(failure.error.clone()),
                    cause: failure.cause.clone(),
                    ..Details::default()
                };
                self.record(Some(previous), "ExecutionFailed", d);
                self.finish_with(Finish {
                    status: ExecutionStatus::Failed,
                    output: None,
                    error: Some(failure.error),
                    cause: failure.cause,
                });
            }
        }
    }

    /// Timed out or aborted from outside.
    fn end_with_status(
        &mut self,
        status: ExecutionStatus,
        error: Option<String>,
        cause: Option<String>,
    ) {
        if self.snapshot.status != ExecutionStatus::Running {
            return;
        }
        let event_type = match status {
            ExecutionStatus::TimedOut => "ExecutionTimedOut",
            _ => "ExecutionAborted",
        };
        let (error, cause) = match status {
            ExecutionStatus::TimedOut => (Some(names::TIMEOUT.to_string()), cause),
            _ => (error, cause),
        };
        let mut d = Details::default();
        if let Some(e) = &error {
            d.error = Some(e.clone());
        }
        if let Some(c) = &cause {
            d.cause = Some(c.clone());
        }
        self.record(None, event_type, d);
        self.finish_with(Finish {
            status,
            output: None,
            error,
            cause,
        });
    }

    /// Ends the execution: everything still pending is cancelled.
    fn finish_with(&mut self, finish: Finish) {
        self.snapshot.status = finish.status;
        // Visits still open end with the execution.
        let error = finish.error.clone().or_else(|| match finish.status {
            ExecutionStatus::Aborted => Some("ABORTED".to_string()),
            ExecutionStatus::TimedOut => Some(names::TIMEOUT.to_string()),
            _ => None,
        });
        let open: Vec<StateVisit> = self
            .snapshot
            .frames
            .values()
            .filter(|f| !f.quiet && f.entered_event > 0 && !matches!(f.waiting, Waiting::Enter))
            .filter_map(|f| Some(self.visit_of(f, self.state_of(f)?, error.clone())))
            .collect();
        self.output.states.extend(open);
        for task in std::mem::take(&mut self.snapshot.tasks).into_keys() {
            self.output.commands.push(Command::CancelTask { task });
        }
        for timer in std::mem::take(&mut self.snapshot.timers).into_keys() {
            self.output.commands.push(Command::CancelTimer { timer });
        }
        for frame in self.snapshot.frames.values() {
            if let Waiting::Children(join) = &frame.waiting {
                if let Some(map) = join.stored_key() {
                    self.output.commands.push(Command::ReleaseStored { map });
                }
            }
        }
        self.snapshot.frames.clear();
        self.ready.clear();
        self.output.commands.push(Command::Finish(finish));
    }
}

fn details<const N: usize>(fields: [(&str, Value); N]) -> Details {
    fn text(value: Value) -> Option<String> {
        Some(match value {
            Value::String(s) => s,
            other => other.to_string(),
        })
    }
    let mut d = Details::default();
    for (key, value) in fields {
        match key {
            "name" => d.name = text(value),
            "input" => d.input = text(value),
            "output" => d.output = text(value),
            "roleArn" => d.role_arn = text(value),
            "resourceType" => d.resource_type = text(value),
            "resource" => d.resource = text(value),
            "region" => d.region = text(value),
            "parameters" => d.parameters = text(value),
            "index" => d.index = value.as_u64(),
            _ => {}
        }
    }
    d
}

fn entered_event(state: &State) -> &'static str {
    match state.kind {
        StateKind::Pass(_) => "PassStateEntered",
        StateKind::Task(_) => "TaskStateEntered",
        StateKind::Choice(_) => "ChoiceStateEntered",
        StateKind::Wait(_) => "WaitStateEntered",
        StateKind::Succeed => "SucceedStateEntered",
        StateKind::Fail(_) => "FailStateEntered",
        StateKind::Parallel(_) => "ParallelStateEntered",
        StateKind::Map(_) => "MapStateEntered",
    }
}

fn exited_event(state: &State) -> &'static str {
    match state.kind {
        StateKind::Pass(_) => "PassStateExited",
        StateKind::Task(_) => "TaskStateExited",
        StateKind::Choice(_) => "ChoiceStateExited",
        StateKind::Wait(_) => "WaitStateExited",
        StateKind::Succeed => "SucceedStateExited",
        StateKind::Fail(_) => "FailStateExited",
        StateKind::Parallel(_) => "ParallelStateExited",
        StateKind::Map(_) => "MapStateExited",
    }
}

/// A value as AWS prints it inside error causes: strings bare, everything else as JSON.
fn display_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => payload::to_text(other),
    }
}

fn data_limit(state: &str) -> Failure {
    Failure::new(
        names::DATA_LIMIT_EXCEEDED,
        format!("The state/task '{state}' returned a result with a size exceeding the maximum number of bytes service limit."),
    )
}

/// AWS's `assignedVariables`: each assigned variable's value as JSON text.
fn assigned_texts(assigned: &JsonMap<String, Value>) -> JsonMap<String, Value> {
    assigned
        .iter()
        .map(|(name, value)| (name.clone(), Value::String(payload::to_text(value))))
        .collect()
}
