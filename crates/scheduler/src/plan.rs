//! One claimed execution's events through the interpreter, turned into the [`Plan`] the
//! store writes. Pure: no I/O, no clock, no randomness of its own — the moment, the
//! entropy for task tokens and the local worker's free slots come in [`Context`]. So a
//! plan is unit-tested without Postgres, and the store decides nothing.
//!
//! Where a Task's work goes is decided here, once per task, from its route
//! ([`cairn_asl::task::Route`]): a task row for a worker, an activity task, or a
//! nested execution ([`route`]).

use cairn_asl::history::{Details, HistoryEvent};
use cairn_asl::interpreter::{
    self, Clock, Command, Event, ExecutionInfo, Finish, Limits, Output, Snapshot, StateVisit,
    StoredValue, TaskRequest,
};
use cairn_asl::task::Route;
use cairn_asl::timestamp::Timestamp;
use cairn_asl::{ExecutionStatus, StateMachine};
use cairn_store::engine::{
    Claimed, Effect, Ending, ExecutionUpdate, InboxEvent, NewTask, ParentTask, Plan,
};
use cairn_store::executions::ExecutionRecord;
use cairn_store::time::{from_time, to_micros, to_time};
use cairn_store::Time;
use cairn_telemetry::trace::{ExecutionSpans, Finished};
use serde_json::Value;

/// What a plan is made with, besides the claimed execution.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    pub limits: Limits,
    /// The moment of the advance.
    pub now: Time,
    /// Most state transitions to make (`None`: no bound); the rest wait in the snapshot
    /// for an `Event::Resume` (see [`Planned::paused`]).
    pub budget: Option<u64>,
    /// How many of the tasks this advance creates the local worker can take: those are
    /// started in this advance and their rows inserted leased ([`NewTask::leased`]).
    pub local_slots: usize,
    /// Fresh bytes task tokens are made from ([`cairn_asl::callback`]).
    pub entropy: [u8; 32],
    /// Whether spans are drawn (for traced executions).
    pub tracing: bool,
}

/// A plan and what happens once it has committed.
#[derive(Debug, Default)]
pub struct Planned {
    pub plan: Plan,
    /// The spans to export once the plan has committed, when traced.
    pub spans: Option<ExecutionSpans>,
    /// How this advance ended the execution, for the metrics.
    pub finished: Option<ExecutionStatus>,
    /// State transitions made (states entered, retries run).
    pub transitions: u64,
    /// Transitions were held back because the budget ran out: the execution must be
    /// given `Event::Resume` later (the caller adds an [`Effect::Resume`]).
    pub paused: bool,
    /// Tasks started here for the local worker.
    pub leased: usize,
}

/// Parses a stored definition (it passed validation when it was created).
pub fn parse(text: &str) -> Result<StateMachine, String> {
    cairn_asl::validate::validate(text, &cairn_asl::validate::ValidateOptions::default())
        .map(|(machine, _)| machine)
        .map_err(|d| cairn_asl::diagnostic::invalid_definition_message(&d))
}

/// Applies `claimed`'s events in order. `machine` is `Err` when the stored definition can
/// no longer be read: the execution then fails rather than stalling.
pub fn plan(machine: Result<&StateMachine, &str>, claimed: &Claimed, context: &Context) -> Planned {
    let mut planned = match machine {
        _ if ended_unreadable(claimed) => return Planned::default(),
        Err(problem) => fail(
            claimed,
            context,
            &format!("the definition cannot be run: {problem}"),
        ),
        Ok(machine) => match run(machine, claimed, context) {
            Ok(planned) => planned,
            Err(problem) => fail(
                claimed,
                context,
                &format!("the stored snapshot is unreadable: {problem}"),
            ),
        },
    };
    if let (Some(parent), Some(update)) = (&claimed.parent, &planned.plan.execution) {
        if let Some(ending) = &update.ending {
            planned
                .plan
                .effects
                .push(tell_parent(claimed, parent, ending));
        }
    }
    planned
}

/// Replaces the plan's pending resume, if any, with one due at `at`.
pub fn resume_at(plan: &mut Plan, at: Time) {
    plan.effects.retain(|e| !matches!(e, Effect::Resume { .. }));
    plan.effects.push(Effect::Resume { at });
}

/// An execution that ended without a readable snapshot (see [`fail`]) has nothing left
/// to apply its late events to: they are consumed and change nothing.
fn ended_unreadable(claimed: &Claimed) -> bool {
    claimed.status.is_closed()
        && claimed
            .snapshot
            .as_deref()
            .is_none_or(|s| serde_json::from_str::<Snapshot>(s).is_err())
}

/// The interpreter's run over the claimed events; `Err` when the snapshot is unreadable.
fn run(
    machine: &StateMachine,
    claimed: &Claimed,
    context: &Context,
) -> Result<Planned, serde_json::Error> {
    let input = || serde_json::from_str(&claimed.input).unwrap_or(Value::Null);
    let mut snapshot: Option<Snapshot> = match claimed.snapshot.as_deref() {
        None => None,
        Some(text) => {
            let mut snapshot: Snapshot = serde_json::from_str(text)?;
            snapshot.attach_input(input());
            snapshot.restore(&claimed.wanted, claimed.stored.clone());
            Some(snapshot)
        }
    };
    let now = from_time(context.now);
    let mut clocks = Clocks::new(&claimed.arn, now, context.entropy);
    let mut output = Output::default();
    // Each event's step spends what the steps before it left of the budget.
    let mut left = context.budget;
    for event in claimed.events.iter().cloned() {
        let clock = clocks.next();
        let step = match (event, snapshot.as_mut()) {
            (InboxEvent::Start, None) => {
                let (s, out) = interpreter::start_within(
                    machine,
                    execution_info(claimed),
                    input(),
                    context.limits,
                    clock,
                    left,
                );
                snapshot = Some(s);
                out
            }
            (InboxEvent::Step(event), Some(s)) => {
                interpreter::step_within(machine, s, event, clock, left)
            }
            // A second start, or an event before the start: nothing to apply.
            _ => continue,
        };
        left = left.map(|l| l.saturating_sub(step.transitions));
        absorb_output(&mut output, step);
    }
    let Some(mut snapshot) = snapshot else {
        return Ok(Planned::default());
    };
    // Under a budget, transitions an earlier event of this batch held back go now if
    // budget remains; whatever is still held back waits for a resume.
    let mut paused = false;
    if let Some(left) = left {
        if left > 0 && snapshot.is_paused() {
            let step = interpreter::step_within(
                machine,
                &mut snapshot,
                Event::Resume,
                clocks.next(),
                Some(left),
            );
            absorb_output(&mut output, step);
        }
        paused = snapshot.is_paused();
    }
    let mut effects = Effects::default();
    effects.absorb(std::mem::take(&mut output.commands));
    // Tasks the local worker takes at once start now: no lease loop, no second advance.
    let handed: Vec<u64> = effects
        .tasks
        .iter()
        .filter(|task| Route::of(&task.resource).runs_on_worker())
        .take(context.local_slots)
        .map(|task| task.task)
        .collect();
    for &task in &handed {
        let step = interpreter::step(
            machine,
            &mut snapshot,
            Event::TaskStarted { task },
            clocks.next(),
        );
        output.history.extend(step.history);
        output.states.extend(step.states);
        effects.absorb(step.commands);
    }
    // A large Map waiting for values it stored: the next advance loads them (`wanted`)
    // and goes on at once.
    if snapshot.needs_resume() {
        effects.resume = true;
    }
    let wanted = snapshot.wanted();
    snapshot.detach_input();
    let ending = effects
        .finish
        .take()
        .map(|finish| ending_of(finish, &output.history, context.now));
    let spans = spans_of(claimed, context, output.states, ending.as_ref());
    let trace = claimed.trace.as_ref().filter(|_| context.tracing);
    let plan = Plan {
        execution: Some(ExecutionUpdate {
            snapshot: serde_json::to_string(&snapshot)?,
            wanted,
            ending: ending.clone(),
        }),
        history: output.history,
        effects: effects.into_effects(&handed, context.now, |task| {
            let parent = trace.and_then(|t| cairn_telemetry::trace::task_parent(Some(t), task));
            let state = parent
                .as_ref()
                .and_then(|_| trace.and_then(|t| t.tracestate.clone()));
            (parent, state)
        }),
    };
    Ok(Planned {
        plan,
        spans,
        finished: ending.map(|e| e.status),
        transitions: output.transitions,
        paused,
        leased: handed.len(),
    })
}

fn absorb_output(output: &mut Output, step: Output) {
    output.history.extend(step.history);
    output.commands.extend(step.commands);
    output.states.extend(step.states);
    output.transitions += step.transitions;
}

/// The context object's facts about the execution.
fn execution_info(claimed: &Claimed) -> ExecutionInfo {
    ExecutionInfo {
        execution_arn: claimed.arn.clone(),
        execution_name: claimed.name.clone(),
        state_machine_arn: claimed.state_machine_arn.clone(),
        state_machine_name: claimed
            .state_machine_arn
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .to_string(),
        role_arn: claimed.role_arn.clone(),
        start_time: from_time(claimed.started_at),
        redrive_count: Some(0),
    }
}

/// The clock of each step of one advance: the advance's moment, a seed different per
/// execution, moment and step, and the advance's entropy.
struct Clocks {
    now: Timestamp,
    seed: u64,
    entropy: [u8; 32],
}

impl Clocks {
    fn new(arn: &str, now: Timestamp, entropy: [u8; 32]) -> Clocks {
        // Recorded nowhere: its effects (UUIDs, jitter) are recorded in history and
        // snapshot.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in arn.bytes() {
            hash = (hash ^ byte as u64).wrapping_mul(0x0100_0000_01b3);
        }
        Clocks {
            now,
            seed: hash ^ (now.0 as u64),
            entropy,
        }
    }

    fn next(&mut self) -> Clock {
        self.seed = self
            .seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(1);
        Clock {
            now: self.now,
            seed: self.seed,
            entropy: self.entropy,
        }
    }
}

/// The interpreter's commands of one advance, netted: a timer set and cancelled in the
/// same advance is never written, nor a task created and cancelled.
#[derive(Default)]
struct Effects {
    tasks: Vec<TaskRequest>,
    timers: Vec<(u64, Timestamp)>,
    cancelled_timers: Vec<u64>,
    cancelled_tasks: Vec<u64>,
    stored: Vec<StoredValue>,
    released_maps: Vec<u64>,
    finish: Option<Finish>,
    resume: bool,
}

impl Effects {
    fn absorb(&mut self, commands: Vec<Command>) {
        for command in commands {
            match command {
                Command::InvokeTask(task) => self.tasks.push(task),
                Command::StartTimer { timer, due } => self.timers.push((timer, due)),
                Command::CancelTimer { timer } => {
                    let before = self.timers.len();
                    self.timers.retain(|(t, _)| *t != timer);
                    if self.timers.len() == before {
                        self.cancelled_timers.push(timer);
                    }
                }
                Command::CancelTask { task } => {
                    let before = self.tasks.len();
                    self.tasks.retain(|t| t.task != task);
                    if self.tasks.len() == before {
                        self.cancelled_tasks.push(task);
                    }
                }
                Command::Store(value) => self.stored.push(value),
                Command::ReleaseStored { map } => {
                    self.stored.retain(|value| value.map != map);
                    self.released_maps.push(map);
                }
                Command::Finish(finish) => self.finish = Some(finish),
            }
        }
    }

    /// The typed effects; `leased` are the tasks started for the local worker, and
    /// `trace` gives a task's `traceparent`/`tracestate` from its state's Entered event.
    fn into_effects(
        self,
        leased: &[u64],
        now: Time,
        trace: impl Fn(u64) -> (Option<String>, Option<String>),
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        for task in self.tasks {
            effects.push(route(task, leased, &trace));
        }
        for (timer, due) in self.timers {
            effects.push(Effect::Timer {
                timer,
                due: to_time(due),
            });
        }
        effects.extend(
            self.cancelled_timers
                .into_iter()
                .map(|timer| Effect::CancelTimer { timer }),
        );
        effects.extend(
            self.cancelled_tasks
                .into_iter()
                .map(|task| Effect::CancelTask { task }),
        );
        effects.extend(self.stored.into_iter().map(Effect::Store));
        effects.extend(
            self.released_maps
                .into_iter()
                .map(|map| Effect::ReleaseStored { map }),
        );
        if self.resume {
            effects.push(Effect::Resume { at: now });
        }
        effects
    }
}

/// Where a task's work goes: the one place a Task's route becomes a store effect.
fn route(
    task: TaskRequest,
    leased: &[u64],
    trace: impl Fn(u64) -> (Option<String>, Option<String>),
) -> Effect {
    match Route::of(&task.resource) {
        Route::Invoke | Route::InvokeThenWait => {
            let (trace_parent, trace_state) = trace(task.entered_event);
            Effect::Task(NewTask {
                leased: leased.contains(&task.task),
                request: task,
                trace_parent,
                trace_state,
            })
        }
        Route::Activity => Effect::Activity(task),
        Route::StartExecution(nested) => Effect::StartExecution { task, nested },
    }
}

fn ending_of(finish: Finish, history: &[HistoryEvent], now: Time) -> Ending {
    Ending {
        status: finish.status,
        output: finish.output.map(|o| o.to_string()),
        error: finish.error,
        cause: finish.cause,
        stopped_at: history.last().map_or(now, |e| to_time(e.timestamp)),
    }
}

/// The spans of this advance, when tracing is on and the execution traced.
fn spans_of(
    claimed: &Claimed,
    context: &Context,
    visits: Vec<StateVisit>,
    ending: Option<&Ending>,
) -> Option<ExecutionSpans> {
    if !context.tracing {
        return None;
    }
    let trace = claimed.trace.as_ref()?;
    ExecutionSpans::new(
        Some(trace),
        &claimed.arn,
        &claimed.state_machine_arn,
        claimed.started_at.into(),
        context.now.into(),
        visits,
        ending.map(|e| Finished {
            status: e.status,
            error: e.error.clone(),
            cause: e.cause.clone(),
        }),
    )
}

/// The event for the parent that waits for this execution, which `ending` ended.
fn tell_parent(claimed: &Claimed, parent: &ParentTask, ending: &Ending) -> Effect {
    // As DescribeExecution will show the child once this plan has committed (a row
    // keeps its times at microsecond precision).
    let child = ExecutionRecord {
        arn: claimed.arn.clone(),
        state_machine_arn: claimed.state_machine_arn.clone(),
        name: claimed.name.clone(),
        status: ending.status,
        input: claimed.input.clone(),
        output: ending.output.clone(),
        error: ending.error.clone(),
        cause: ending.cause.clone(),
        started_at: claimed.started_at,
        stopped_at: Some(to_micros(ending.stopped_at)),
        history_length: claimed.history_length,
    };
    Effect::Notify {
        execution_arn: parent.execution_arn.clone(),
        event: cairn_store::nested::parent_event(&child, parent.task, parent.waits),
    }
}

/// Ends an execution the interpreter cannot run (its definition or snapshot is
/// unreadable) as `FAILED` with `States.Runtime`, recording `ExecutionFailed` after its
/// last event, so that it does not stay RUNNING forever.
fn fail(claimed: &Claimed, context: &Context, cause: &str) -> Planned {
    let now = context.now;
    tracing::error!(execution = %claimed.arn, cause, "failing an execution that cannot advance");
    let last = claimed.history_length.max(0) as u64;
    let error = cairn_asl::error::names::RUNTIME.to_string();
    let failed = HistoryEvent {
        id: last + 1,
        previous_event_id: last,
        timestamp: from_time(now),
        event_type: "ExecutionFailed".to_string(),
        details: Details {
            error: Some(error.clone()),
            cause: Some(cause.to_string()),
            ..Details::default()
        },
    };
    let ending = Ending {
        status: ExecutionStatus::Failed,
        output: None,
        error: Some(error),
        cause: Some(cause.to_string()),
        stopped_at: now,
    };
    let spans = spans_of(claimed, context, Vec::new(), Some(&ending));
    let plan = Plan {
        execution: Some(ExecutionUpdate {
            snapshot: claimed
                .snapshot
                .clone()
                .unwrap_or_else(|| "null".to_string()),
            wanted: Vec::new(),
            ending: Some(ending),
        }),
        history: vec![failed],
        effects: Vec::new(),
    };
    Planned {
        plan,
        spans,
        finished: Some(ExecutionStatus::Failed),
        ..Planned::default()
    }
}
