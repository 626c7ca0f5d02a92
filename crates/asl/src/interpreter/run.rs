//! [`Run`], the work of one `start` or `step` call: apply the event, then advance every
//! ready frame (`drain` → `advance` → `enter`, `run_state`) until all block or end.
//!
//! `Run`'s methods are spread over the sibling modules, one idea each; this one holds
//! the loop.

use serde_json::{json, Map as JsonMap, Value};

use crate::error::{names, Failure};
use crate::model::{State, StateKind, StateMachine};
use crate::payload;
use crate::random::SplitMix64;
use crate::status::ExecutionStatus;
use crate::timestamp::Timestamp;

use super::frame::{machine_at, Frame, TimerPurpose, Waiting};
use super::join::Join;
use super::record::{details, entered_event};
use super::{Clock, Command, Event, FrameId, Output, Snapshot, TimerId};

/// The work of one `start` or `step` call.
pub(super) struct Run<'a> {
    pub(super) machine: &'a StateMachine,
    pub(super) snapshot: &'a mut Snapshot,
    pub(super) now: Timestamp,
    pub(super) random: SplitMix64,
    pub(super) entropy: [u8; 32],
    /// The token `$$.Task.Token` shows while a callback task's Parameters are evaluated.
    pub(super) task_token: Option<String>,
    pub(super) output: Output,
    /// Frames to advance, in order.
    pub(super) ready: std::collections::VecDeque<FrameId>,
    /// States entered or resumed during this step.
    states_run: u64,
    /// States each quiet frame (a Distributed Map iteration) entered or resumed
    /// during this step.
    quiet_states_run: std::collections::HashMap<FrameId, u64>,
    /// Most state transitions this step may make; `None`: no bound.
    pub(super) budget: Option<u64>,
    /// The join of a Parallel or Map frame whose failure is being handled, by the
    /// frame's id: frozen with the frame if nothing retries or catches the failure
    /// (module `redrive`).
    pub(super) failing_join: Option<(FrameId, Box<Join>)>,
    /// Child executions this step started (module `children`).
    pub(super) children_started: usize,
    /// The execution's own `$$.Execution` and `$$.StateMachine` while the context shows
    /// an EXPRESS Distributed Map iteration's child (module `context`).
    pub(super) shown_child: Option<super::context::ShownChild>,
    /// An EXPRESS Distributed Map iteration began or was restored during this step: its
    /// cap timer is set when the step ends (module `express_cap`). Without one, the step
    /// does not look through the frames for iterations to cap.
    pub(super) express_iterations_begun: bool,
}

/// Why a frame stopped advancing.
pub(super) enum Progress {
    Blocked,
    Ended,
}

pub(super) enum StepResult {
    Progress(Progress),
    Failed(Failure),
}

impl<'a> Run<'a> {
    pub(super) fn new(machine: &'a StateMachine, snapshot: &'a mut Snapshot, clock: Clock) -> Self {
        Run {
            machine,
            snapshot,
            now: clock.now,
            random: SplitMix64::new(clock.seed),
            entropy: clock.entropy,
            task_token: None,
            output: Output {
                history: Vec::with_capacity(32),
                commands: Vec::with_capacity(4),
                states: Vec::new(),
                transitions: 0,
                paused: false,
            },
            ready: Default::default(),
            states_run: 0,
            quiet_states_run: Default::default(),
            budget: None,
            failing_join: None,
            children_started: 0,
            shown_child: None,
            express_iterations_begun: false,
        }
    }

    pub(super) fn finish(mut self) -> Output {
        self.start_express_caps();
        self.show_own_execution();
        self.collect_frozen();
        self.output
    }

    pub(super) fn begin(&mut self, input: Value) {
        let id = self.record(
            None,
            "ExecutionStarted",
            details([
                ("input", Value::String(payload::to_text(&input))),
                (
                    "roleArn",
                    Value::String(self.snapshot.info.role_arn.clone()),
                ),
            ]),
        );
        if payload::json_size_exceeds(&input, self.snapshot.limits.max_payload_bytes) {
            self.end_execution(Err(Failure::new(
                names::DATA_LIMIT_EXCEEDED,
                "The input to the execution exceeds the maximum number of bytes service limit.",
            )));
            return;
        }
        self.start_execution_timeout();
        let root = self.root_frame(input, id);
        self.ready.push_back(root);
        self.drain();
    }

    /// Starts the timer that times the execution out: at the machine's `TimeoutSeconds`
    /// from now, or at the execution's start plus the limits' cap
    /// (`Limits::max_execution_seconds`), whichever comes first. Called at the start
    /// and at each redrive (AWS restarts `TimeoutSeconds` with a redrive, but the cap
    /// counts from the first start).
    pub(super) fn start_execution_timeout(&mut self) {
        let by_machine = self
            .machine
            .timeout_seconds
            .map(|seconds| self.now.plus_seconds(seconds as f64));
        let by_cap = self
            .snapshot
            .limits
            .max_execution_seconds
            .map(|seconds| self.snapshot.info.start_time.plus_seconds(seconds as f64));
        let due = match (by_machine, by_cap) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(due) = due {
            let timer = self.new_timer(TimerPurpose::ExecutionTimeout);
            self.output
                .commands
                .push(Command::StartTimer { timer, due });
        }
    }

    /// The execution's root frame, about to enter `StartAt` with `input`.
    pub(super) fn root_frame(&mut self, input: Value, last_event: u64) -> FrameId {
        self.add_frame(Frame {
            id: 0,
            scope: Vec::new(),
            parent: None,
            quiet: false,
            announce_iteration: None,
            state: self.machine.start_at.clone(),
            input,
            input_text: None,
            entered_event: 0,
            entered_time: self.now,
            last_event,
            retries: Vec::new(),
            waiting: Waiting::Enter,
            variables: JsonMap::new(),
            child: None,
        })
    }

    pub(super) fn apply(&mut self, event: Event) {
        if self.results_event(&event) || self.items_event(&event) {
            self.drain();
            return;
        }
        match event {
            Event::TaskStarted { task } => self.task_started(task, None),
            Event::ActivityStarted { task, worker_name } => {
                self.task_started(task, Some(worker_name.unwrap_or_default()))
            }
            Event::TaskSubmitted { task, output } => {
                if let Some(&frame_id) = self.snapshot.tasks.get(&task) {
                    let resource = self.current_resource(frame_id);
                    self.record_for(
                        frame_id,
                        "TaskSubmitted",
                        details([
                            ("resourceType", resource.0),
                            ("resource", resource.1),
                            ("output", Value::String(payload::to_text(&output))),
                        ]),
                    );
                }
            }
            Event::TaskSucceeded { task, output } => {
                if let Some(frame_id) = self.take_task(task) {
                    let (events, mut d) = self.task_details(frame_id);
                    d.output = Some(payload::to_text(&output));
                    self.record_for(frame_id, &events.named("Succeeded"), d);
                    self.resume_task(frame_id, Ok(output));
                }
            }
            Event::TaskFailed { task, error, cause } => {
                if let Some(frame_id) = self.take_task(task) {
                    let (events, mut d) = self.task_details(frame_id);
                    d.error = Some(error.clone());
                    if let Some(c) = &cause {
                        d.cause = Some(c.clone());
                    }
                    self.record_for(frame_id, &events.named("Failed"), d);
                    self.resume_task(frame_id, Err(Failure { error, cause }));
                }
            }
            Event::TaskHeartbeatTimedOut { task } => {
                if let Some(frame_id) = self.take_task(task) {
                    // Tells the driver the task is over, so its token stops working.
                    self.output.commands.push(Command::CancelTask { task });
                    self.task_timed_out(frame_id, names::HEARTBEAT_TIMEOUT);
                }
            }
            Event::TimerFired { timer } => match self.snapshot.timers.remove(&timer) {
                Some(TimerPurpose::Resume(frame_id)) => {
                    self.ready.push_back(frame_id);
                }
                Some(TimerPurpose::Retry(frame_id)) => {
                    if let Some(frame) = self.snapshot.frames.get_mut(&frame_id) {
                        frame.waiting = Waiting::Retry;
                        self.ready.push_back(frame_id);
                    }
                }
                Some(TimerPurpose::TaskTimeout(frame_id, task))
                    if self.snapshot.tasks.remove(&task).is_some() =>
                {
                    self.output.commands.push(Command::CancelTask { task });
                    self.task_timed_out(frame_id, names::TIMEOUT);
                }
                Some(TimerPurpose::ExecutionTimeout) => {
                    self.end_with_status(ExecutionStatus::TimedOut, None, None);
                }
                Some(TimerPurpose::ExpressCap(frame_id)) => self.express_cap_reached(frame_id),
                Some(TimerPurpose::TaskTimeout(..)) | None => {}
            },
            Event::Stop { error, cause } => {
                self.end_with_status(ExecutionStatus::Aborted, error, cause);
            }
            Event::Resume => {
                // At rest only a paused frame is about to enter or retry a state.
                let held: Vec<FrameId> = self
                    .snapshot
                    .frames
                    .iter()
                    .filter(|(_, f)| matches!(f.waiting, Waiting::Enter | Waiting::Retry))
                    .map(|(id, _)| *id)
                    .collect();
                self.ready.extend(held);
                self.resume_stored_maps();
                self.resume_map_children();
            }
            // Only an execution that ended is redriven (`step_within`).
            Event::Redrive => {}
            Event::UpdateMapRun(update) => self.update_map_run(&update),
            Event::MapChildEnded {
                map_run_arn,
                index,
                outcome,
                dates,
            } => self.map_child_ended(&map_run_arn, index, outcome, dates),
        }
        self.drain();
    }

    /// Advances every ready frame until all block or end.
    pub(super) fn drain(&mut self) {
        while let Some(frame_id) = self.ready.pop_front() {
            if self.snapshot.status != ExecutionStatus::Running {
                return;
            }
            if self.history_exceeded() {
                self.fail_history_limit();
                return;
            }
            let Some(mut frame) = self.snapshot.frames.remove(&frame_id) else {
                continue;
            };
            let progress = self.advance(frame_id, &mut frame);
            self.put_back(frame_id, frame, progress);
        }
    }

    pub(super) fn put_back(&mut self, frame_id: FrameId, frame: Frame, progress: Progress) {
        match progress {
            Progress::Blocked => {
                // A paused frame stays out of the queue until `Event::Resume`.
                if matches!(frame.waiting, Waiting::Enter | Waiting::Retry) && !self.output.paused {
                    self.ready.push_back(frame_id);
                }
                self.snapshot.frames.insert(frame_id, frame);
            }
            Progress::Ended => {}
        }
    }

    /// Runs states of one frame until it blocks or ends.
    fn advance(&mut self, frame_id: FrameId, frame: &mut Frame) -> Progress {
        if let Some((name, index)) = frame.announce_iteration.take() {
            let parent_event = frame.last_event;
            let id = self.record(
                Some(parent_event),
                "MapIterationStarted",
                details([("name", Value::String(name)), ("index", json!(index))]),
            );
            frame.last_event = id;
        }
        loop {
            if self.snapshot.status != ExecutionStatus::Running {
                return Progress::Ended;
            }
            if matches!(frame.waiting, Waiting::Enter | Waiting::Retry) {
                if self
                    .budget
                    .is_some_and(|budget| self.output.transitions >= budget)
                {
                    self.output.paused = true;
                    return Progress::Blocked;
                }
                self.output.transitions += 1;
            }
            // A loop of non-blocking states never returns to `drain`: check here. Quiet
            // frames (Distributed Map iterations) record no history, so each has a budget
            // of states it may run in a step (as each child execution on AWS has its own
            // history limit): a Map of 100,000 one-state iterations run in one step is
            // no loop. Other frames share the step's budget.
            let max_states = self.snapshot.limits.max_history_events as u64;
            let looping = if frame.quiet {
                let run = self.quiet_states_run.entry(frame_id).or_insert(0);
                *run += 1;
                *run > max_states
            } else {
                self.states_run += 1;
                self.states_run > max_states
            };
            if self.history_exceeded() || looping {
                self.fail_history_limit();
                return Progress::Ended;
            }
            let resuming = std::mem::replace(&mut frame.waiting, Waiting::Enter);
            let Some(state) = self.state_of(frame) else {
                let failure = Failure::runtime(format!("State '{}' does not exist", frame.state));
                return self.frame_ended(frame, Err(failure));
            };
            let step = match resuming {
                Waiting::Enter => {
                    frame.retries.clear();
                    self.enter(frame, state);
                    self.run_state(frame_id, frame, state)
                }
                Waiting::Retry => self.run_state(frame_id, frame, state),
                Waiting::ItemsRead(result) => match (&state.kind, result) {
                    (StateKind::Map(map), Ok(read)) => {
                        match self.run_map(frame_id, frame, state, map, Some(read)) {
                            Ok(p) => StepResult::Progress(p),
                            Err(f) => StepResult::Failed(f),
                        }
                    }
                    (_, Err(failure)) => StepResult::Failed(failure),
                    _ => StepResult::Progress(Progress::Blocked),
                },
                Waiting::ResultsWritten(result) => {
                    match result.and_then(|output| self.results_written(frame, state, output)) {
                        Ok(p) => StepResult::Progress(p),
                        Err(f) => StepResult::Failed(f),
                    }
                }
                Waiting::FailedResultsWritten(failed) => {
                    StepResult::Progress(self.failed_results_written(frame, *failed))
                }
                Waiting::Children(join) if join.redriven => {
                    StepResult::Progress(self.join_redriven(frame_id, frame, join))
                }
                Waiting::Timer(_) => {
                    // A Wait state's time has come.
                    match &state.kind {
                        StateKind::Wait(wait) => {
                            match self
                                .effective_input(frame, state)
                                .and_then(|input| self.leave_wait(frame, state, input, &wait.next))
                            {
                                Ok(p) => StepResult::Progress(p),
                                Err(f) => StepResult::Failed(f),
                            }
                        }
                        _ => StepResult::Progress(Progress::Blocked),
                    }
                }
                other => {
                    frame.waiting = other;
                    return Progress::Blocked;
                }
            };
            match step {
                StepResult::Progress(Progress::Blocked) => {
                    if matches!(frame.waiting, Waiting::Enter | Waiting::Retry) {
                        continue;
                    }
                    return Progress::Blocked;
                }
                StepResult::Progress(Progress::Ended) => return Progress::Ended,
                StepResult::Failed(failure) => match self.handle_error(frame, failure) {
                    Progress::Blocked
                        if matches!(frame.waiting, Waiting::Enter | Waiting::Retry) =>
                    {
                        continue
                    }
                    progress => return progress,
                },
            }
        }
    }

    fn enter(&mut self, frame: &mut Frame, state: &State) {
        let input_text = match frame.input_text.take() {
            Some(text) if !frame.quiet => text,
            _ if frame.quiet => String::new(),
            _ => payload::to_text(&frame.input),
        };
        let id = self.record_quiet(
            frame.quiet,
            Some(frame.last_event),
            entered_event(state),
            details([
                ("name", Value::String(frame.state.clone())),
                ("input", Value::String(input_text)),
            ]),
        );
        frame.entered_event = id;
        frame.entered_time = self.now;
        if !frame.quiet {
            frame.last_event = id;
        }
    }

    pub(super) fn state_of(&self, frame: &Frame) -> Option<&'a State> {
        machine_at(self.machine, &frame.scope)?.state(&frame.state)
    }

    pub(super) fn add_frame(&mut self, mut frame: Frame) -> FrameId {
        let id = self.snapshot.next_frame;
        self.snapshot.next_frame += 1;
        frame.id = id;
        self.snapshot.frames.insert(id, frame);
        id
    }

    pub(super) fn new_timer(&mut self, purpose: TimerPurpose) -> TimerId {
        let id = self.snapshot.next_timer;
        self.snapshot.next_timer += 1;
        self.snapshot.timers.insert(id, purpose);
        id
    }
}
