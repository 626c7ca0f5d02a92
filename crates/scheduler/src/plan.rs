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
    self, Clock, Command, Event, ExecutionInfo, Finish, Limits, MapChildRedrive, MapChildStart,
    MapRunState, Output, Snapshot, StateVisit, StoredValue, TaskRequest,
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
    // A Map Run's child runs the ItemProcessor its row points at.
    let machine = match (machine, &claimed.map_child) {
        (Ok(root), Some(child)) => interpreter::machine_at(root, &child.processor)
            .ok_or("the Map state whose ItemProcessor it runs is not in the definition"),
        (machine, _) => machine,
    };
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
    if let (Some(child), Some(update)) = (&claimed.map_child, &planned.plan.execution) {
        if let Some(ending) = &update.ending {
            planned.plan.effects.push(Effect::Notify {
                execution_arn: child.parent_arn.clone(),
                event: cairn_store::map_children::ended_event(child, ending, claimed.started_at),
            });
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
    // A child's own Distributed Maps sit under its ItemProcessor in the definition it
    // shares with its parent.
    if let Some(child) = &claimed.map_child {
        for start in &mut effects.map_children {
            let mut processor = child.processor.clone();
            processor.append(&mut start.processor);
            start.processor = processor;
        }
    }
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
    /// The last state of each Map Run the advance changed.
    map_runs: Vec<MapRunState>,
    /// Map iterations' child executions to start, and to redrive.
    map_children: Vec<MapChildStart>,
    map_redrives: Vec<MapChildRedrive>,
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
                Command::MapRun(run) => {
                    self.map_runs.retain(|known| known.arn != run.arn);
                    self.map_runs.push(run);
                }
                Command::StartMapChild(start) => self.map_children.push(start),
                Command::RedriveMapChild(redrive) => self.map_redrives.push(redrive),
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
        effects.extend(self.map_runs.into_iter().map(Effect::MapRun));
        effects.extend(self.map_children.into_iter().map(Effect::StartMapChild));
        effects.extend(self.map_redrives.into_iter().map(Effect::RedriveMapChild));
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
        version_arn: None,
        alias_arn: None,
        redrive_count: 0,
        redrive_date: None,
        machine_deleting: false,
        map_run_arn: None,
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

#[cfg(test)]
mod tests {
    use cairn_asl::task::Nested;
    use cairn_store::engine::ParentTask;
    use serde_json::json;

    use super::*;

    const ARN: &str = "arn:aws:states:us-east-1:123456789012:execution:m:e";

    fn context() -> Context {
        Context {
            limits: Limits::default(),
            now: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default(),
            budget: None,
            local_slots: 0,
            entropy: [7; 32],
            tracing: false,
        }
    }

    fn claimed(events: Vec<InboxEvent>) -> Claimed {
        Claimed {
            arn: ARN.to_string(),
            name: "e".to_string(),
            state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:m".to_string(),
            role_arn: "arn:aws:iam::123456789012:role/r".to_string(),
            definition_id: 1,
            definition: None,
            input: r#"{"x": 1}"#.to_string(),
            started_at: chrono::DateTime::from_timestamp(1_799_999_990, 0).unwrap_or_default(),
            snapshot: None,
            history_length: 0,
            status: ExecutionStatus::Running,
            events,
            trace: None,
            parent: None,
            map_child: None,
            wanted: Vec::new(),
            stored: Vec::new(),
        }
    }

    fn machine(definition: serde_json::Value) -> StateMachine {
        parse(&definition.to_string()).expect("a valid definition")
    }

    fn task_machine(resource: &str) -> StateMachine {
        // Only a task that waits for its token has one to pass on.
        let parameters = if Route::of(resource).uses_token() {
            json!({"token.$": "$$.Task.Token"})
        } else {
            json!({"StateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:c"})
        };
        machine(
            json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": resource,
            "Parameters": parameters, "End": true}}}),
        )
    }

    fn types(plan: &Plan) -> Vec<&str> {
        plan.history.iter().map(|e| e.event_type.as_str()).collect()
    }

    #[test]
    fn a_map_child_runs_its_item_processor_and_tells_its_parent_its_end() {
        let m = machine(
            json!({"StartAt": "Fan", "States": {"Fan": {"Type": "Map", "End": true,
            "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"},
                "StartAt": "Inner", "States": {"Inner": {"Type": "Pass", "Result": "ok", "End": true}}}}}}),
        );
        let children_on = Context {
            limits: Limits::default().with_map_child_executions(),
            ..context()
        };
        let mut fan = claimed(vec![InboxEvent::Start]);
        fan.input = "[1, 2]".into();
        let parent = plan(Ok(&m), &fan, &children_on);
        let starts: Vec<_> = parent
            .plan
            .effects
            .iter()
            .filter_map(|e| match e {
                Effect::StartMapChild(start) => Some(start.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(starts.len(), 2, "one child per item, in the parent's plan");
        assert_eq!(
            starts[1].processor,
            vec![interpreter::ScopeStep {
                state: "Fan".into(),
                branch: 0
            }]
        );
        assert_eq!(starts[1].input, json!(2));
        let mut child = claimed(vec![InboxEvent::Start]);
        child.map_child = Some(cairn_store::map_children::MapChild {
            parent_arn: "arn:aws:states:us-east-1:123456789012:execution:m:parent".into(),
            map_run_arn: "arn:aws:states:us-east-1:123456789012:mapRun:m/Fan:id".into(),
            index: 4,
            processor: vec![interpreter::ScopeStep {
                state: "Fan".into(),
                branch: 0,
            }],
        });
        let planned = plan(Ok(&m), &child, &context());
        assert_eq!(
            types(&planned.plan),
            [
                "ExecutionStarted",
                "PassStateEntered",
                "PassStateExited",
                "ExecutionSucceeded"
            ],
            "the child ran the ItemProcessor, not the parent's machine"
        );
        let notified = planned.plan.effects.iter().find_map(|e| match e {
            Effect::Notify {
                execution_arn,
                event,
            } => Some((execution_arn.clone(), event.clone())),
            _ => None,
        });
        assert_eq!(
            notified,
            Some((
                "arn:aws:states:us-east-1:123456789012:execution:m:parent".to_string(),
                Event::MapChildEnded {
                    map_run_arn: "arn:aws:states:us-east-1:123456789012:mapRun:m/Fan:id".into(),
                    index: 4,
                    outcome: interpreter::MapChildOutcome::Succeeded {
                        output: json!("ok")
                    },
                    // The child's own start and stop, for a ResultWriter's records.
                    dates: Some(interpreter::ChildDates {
                        start: cairn_store::time::from_time(child.started_at),
                        stop: planned
                            .plan
                            .execution
                            .as_ref()
                            .and_then(|u| u.ending.as_ref())
                            .map(|e| cairn_store::time::from_time(e.stopped_at))
                            .unwrap_or(cairn_asl::timestamp::Timestamp(0)),
                    }),
                }
            ))
        );
        // A child whose Map state is gone from the definition fails rather than stalls.
        if let Some(c) = child.map_child.as_mut() {
            c.processor[0].state = "Gone".into();
        }
        let failed = plan(Ok(&m), &child, &context());
        assert_eq!(failed.finished, Some(ExecutionStatus::Failed));
    }

    #[test]
    fn a_pass_machine_ends_in_its_first_advance() {
        let m = machine(
            json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 2, "ResultPath": "$.two", "End": true}}}),
        );
        let planned = plan(Ok(&m), &claimed(vec![InboxEvent::Start]), &context());
        assert_eq!(
            types(&planned.plan),
            [
                "ExecutionStarted",
                "PassStateEntered",
                "PassStateExited",
                "ExecutionSucceeded"
            ]
        );
        let update = planned.plan.execution.expect("the row changes");
        let ending = update.ending.expect("it ended");
        assert_eq!(ending.status, ExecutionStatus::Succeeded);
        assert_eq!(ending.output.as_deref(), Some(r#"{"x":1,"two":2}"#));
        assert_eq!(ending.stopped_at, context().now);
        assert!(planned.plan.effects.is_empty());
        assert_eq!(planned.finished, Some(ExecutionStatus::Succeeded));
        assert_eq!(planned.transitions, 1);
        // The execution's input is left out of the snapshot: the row holds it.
        assert!(!update.snapshot.contains(r#""x":1"#), "{}", update.snapshot);
    }

    #[test]
    fn each_route_becomes_its_own_effect() {
        let route = |resource: &str| {
            let planned = plan(
                Ok(&task_machine(resource)),
                &claimed(vec![InboxEvent::Start]),
                &context(),
            );
            assert_eq!(planned.plan.effects.len(), 1, "{resource}");
            planned.plan.effects.into_iter().next()
        };
        let Some(Effect::Task(task)) = route("arn:aws:states:::lambda:invoke") else {
            panic!("a worker's task");
        };
        assert!(!task.leased);
        assert_eq!(task.request.token, None);
        let Some(Effect::Task(task)) = route("arn:aws:states:::lambda:invoke.waitForTaskToken")
        else {
            panic!("a worker's task, then a wait");
        };
        let token = task.request.token.expect("a token");
        assert_eq!(task.request.input["token"], json!(token));
        let Some(Effect::Activity(task)) =
            route("arn:aws:states:us-east-1:123456789012:activity:approve")
        else {
            panic!("an activity task");
        };
        assert!(task.token.is_some());
        let Some(Effect::StartExecution { task, nested }) =
            route("arn:aws:states:::states:startExecution.sync:2")
        else {
            panic!("a nested execution");
        };
        assert_eq!(nested, Nested::Sync2);
        assert_eq!(task.token, None);
    }

    #[test]
    fn a_free_local_slot_starts_the_task_in_its_advance() {
        let m = task_machine("arn:aws:lambda:us-east-1:123456789012:function:f");
        let planned = plan(
            Ok(&m),
            &claimed(vec![InboxEvent::Start]),
            &Context {
                local_slots: 4,
                ..context()
            },
        );
        assert_eq!(planned.leased, 1);
        assert_eq!(types(&planned.plan).last(), Some(&"LambdaFunctionStarted"));
        assert!(matches!(&planned.plan.effects[..], [Effect::Task(t)] if t.leased));
        // An activity is never handed to a worker, slot or not.
        let activity = task_machine("arn:aws:states:us-east-1:123456789012:activity:a");
        let planned = plan(
            Ok(&activity),
            &claimed(vec![InboxEvent::Start]),
            &Context {
                local_slots: 4,
                ..context()
            },
        );
        assert_eq!(planned.leased, 0);
        assert_eq!(types(&planned.plan).last(), Some(&"ActivityScheduled"));
    }

    #[test]
    fn a_task_cancelled_in_the_same_batch_writes_neither_its_row_nor_its_timeout() {
        let m = machine(json!({"StartAt": "T", "States": {"T": {"Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke", "TimeoutSeconds": 30, "End": true}}}));
        let first = plan(Ok(&m), &claimed(vec![InboxEvent::Start]), &context());
        assert!(matches!(first.plan.effects[0], Effect::Task(_)));
        let due = first.plan.effects.iter().find_map(|e| match e {
            Effect::Timer { due, .. } => Some(*due),
            _ => None,
        });
        assert_eq!(due, Some(context().now + chrono::Duration::seconds(30)));
        // Started and stopped in one batch: the task and its timer never reach the store.
        let both = plan(
            Ok(&m),
            &claimed(vec![
                InboxEvent::Start,
                InboxEvent::Step(Event::Stop {
                    error: None,
                    cause: None,
                }),
            ]),
            &context(),
        );
        assert!(both.plan.effects.is_empty(), "{:?}", both.plan.effects);
        assert_eq!(types(&both.plan).last(), Some(&"ExecutionAborted"));
    }

    #[test]
    fn a_waiting_parent_is_told_of_the_end_in_the_same_plan() {
        let m = machine(
            json!({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Nope", "Cause": "because"}}}),
        );
        let mut child = claimed(vec![InboxEvent::Start]);
        child.parent = Some(ParentTask {
            execution_arn: "arn:parent".to_string(),
            task: 3,
            waits: Nested::Sync,
        });
        let planned = plan(Ok(&m), &child, &context());
        let Some(Effect::Notify {
            execution_arn,
            event: Event::TaskFailed { task, error, cause },
        }) = planned.plan.effects.last()
        else {
            panic!("the parent's task fails: {:?}", planned.plan.effects);
        };
        assert_eq!((execution_arn.as_str(), *task), ("arn:parent", 3));
        assert_eq!(error, "States.TaskFailed");
        let described: serde_json::Value =
            serde_json::from_str(cause.as_deref().unwrap_or_default()).expect("json");
        assert_eq!(described["Status"], json!("FAILED"));
        assert_eq!(described["Error"], json!("Nope"));
        assert_eq!(
            described["Input"],
            json!(r#"{"x": 1}"#),
            "the input as sent"
        );
    }

    #[test]
    fn a_budget_holds_transitions_back() {
        let m = machine(json!({"StartAt": "A", "States": {
            "A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "C"},
            "C": {"Type": "Pass", "End": true}}}));
        let planned = plan(
            Ok(&m),
            &claimed(vec![InboxEvent::Start]),
            &Context {
                budget: Some(1),
                ..context()
            },
        );
        assert!(planned.paused);
        assert_eq!(planned.transitions, 1);
        assert_eq!(planned.finished, None);
        let mut held = planned.plan;
        resume_at(&mut held, context().now);
        resume_at(&mut held, context().now + chrono::Duration::seconds(1));
        let resumes: Vec<&Effect> = held
            .effects
            .iter()
            .filter(|e| matches!(e, Effect::Resume { .. }))
            .collect();
        assert_eq!(resumes.len(), 1, "one pending resume, the later one");
    }

    #[test]
    fn an_unreadable_definition_or_snapshot_fails_the_execution() {
        let broken = plan(
            Err("not a machine"),
            &claimed(vec![InboxEvent::Start]),
            &context(),
        );
        assert_eq!(types(&broken.plan), ["ExecutionFailed"]);
        assert_eq!(broken.finished, Some(ExecutionStatus::Failed));
        let ending = broken.plan.execution.and_then(|u| u.ending).expect("ended");
        assert_eq!(ending.error.as_deref(), Some("States.Runtime"));
        assert!(ending.cause.is_some_and(|c| c.contains("not a machine")));

        let m = machine(json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}));
        let mut garbled = claimed(vec![InboxEvent::Step(Event::Resume)]);
        garbled.snapshot = Some(r#"{"not": "a snapshot"}"#.to_string());
        garbled.history_length = 4;
        let failed = plan(Ok(&m), &garbled, &context());
        assert_eq!(failed.plan.history[0].id, 5, "after the last event");
        // Once it ended that way, late events change nothing.
        garbled.status = ExecutionStatus::Failed;
        let late = plan(Ok(&m), &garbled, &context());
        assert!(late.plan.execution.is_none() && late.plan.history.is_empty());
    }
}
