//! One claimed execution's events through the interpreter, turned into the rows to write.

use cairn_asl::history::{Details, HistoryEvent};
use cairn_asl::interpreter::{
    self, Clock, Command, Event, ExecutionInfo, Limits, Output, Snapshot,
};
use cairn_asl::interpreter::{StateVisit, TaskRequest};
use cairn_asl::timestamp::Timestamp;
use cairn_asl::validate::{validate, ValidateOptions};
use cairn_asl::StateMachine;
use cairn_store::postgres::{from_time, to_time};
use cairn_store::{Advance, Claimed, InboxEvent, Time};
use cairn_telemetry::trace::{ExecutionSpans, Finished};
use serde_json::Value;

pub(crate) fn parse(text: &str) -> Result<StateMachine, String> {
    validate(text, &ValidateOptions::default())
        .map(|(machine, _)| machine)
        .map_err(|d| cairn_asl::diagnostic::invalid_definition_message(&d))
}

/// Applies `claimed`'s events in order. `machine` is `Err` when the stored definition can
/// no longer be read: the execution then fails rather than stalling.
pub fn apply(
    machine: Result<&StateMachine, &String>,
    claimed: Claimed,
    limits: Limits,
    now: Time,
) -> Advance {
    apply_traced(machine, claimed, limits, now).0
}

/// [`apply`], and the spans the advance draws when the execution is traced: export
/// them once the advance has committed.
pub fn apply_traced(
    machine: Result<&StateMachine, &String>,
    claimed: Claimed,
    limits: Limits,
    now: Time,
) -> (Advance, Option<ExecutionSpans>) {
    let applied = apply_within(machine, claimed, limits, now, None, &mut |_| false);
    (applied.advance, applied.spans)
}

/// What [`apply_within`] made of a claimed execution.
pub struct Applied {
    pub advance: Advance,
    /// The spans to export once the advance has committed, when traced.
    pub spans: Option<ExecutionSpans>,
    /// State transitions made (states entered, retries run).
    pub transitions: u64,
    /// Transitions were held back because the budget ran out: the execution must be
    /// given `Event::Resume` later (the caller sets `advance.resume_at`).
    pub paused: bool,
}

/// [`apply_traced`] with at most `budget` state transitions (`None`: no bound). The
/// tasks `hand_off` accepts are started in this advance (see [`Advance::leased`]).
pub fn apply_within(
    machine: Result<&StateMachine, &String>,
    claimed: Claimed,
    limits: Limits,
    now: Time,
    budget: Option<u64>,
    hand_off: &mut dyn FnMut(&TaskRequest) -> bool,
) -> Applied {
    let (mut advance, states, transitions, paused) =
        apply_untraced(machine, &claimed, limits, now, budget, hand_off);
    let trace = claimed.trace.as_ref();
    let (Some(states), true) = (states, trace.is_some() && cairn_telemetry::trace::enabled())
    else {
        return Applied {
            advance,
            spans: None,
            transitions,
            paused,
        };
    };
    advance.task_trace_parents = advance
        .tasks
        .iter()
        .map(|task| cairn_telemetry::trace::task_parent(trace, task.entered_event))
        .collect();
    let finished = advance
        .status
        .as_ref()
        .filter(|s| *s != "RUNNING")
        .map(|status| Finished {
            status: status.clone(),
            error: advance.error.clone(),
            cause: advance.cause.clone(),
        });
    let spans = ExecutionSpans::new(
        trace,
        &claimed.arn,
        &claimed.state_machine_arn,
        claimed.started_at.into(),
        now.into(),
        states,
        finished,
    );
    Applied {
        advance,
        spans,
        transitions,
        paused,
    }
}

/// The advance, the state visits that ended in it (`None` when nothing ran), the
/// transitions made and whether some were held back for want of budget.
fn apply_untraced(
    machine: Result<&StateMachine, &String>,
    claimed: &Claimed,
    limits: Limits,
    now: Time,
    budget: Option<u64>,
    hand_off: &mut dyn FnMut(&TaskRequest) -> bool,
) -> (Advance, Option<Vec<StateVisit>>, u64, bool) {
    // An execution that ended without a readable snapshot (see `fail`) has nothing left
    // to apply its late events to: they are consumed and change nothing.
    if claimed.status != "RUNNING"
        && claimed
            .snapshot
            .as_deref()
            .is_none_or(|s| serde_json::from_str::<Snapshot>(s).is_err())
    {
        return (Advance::default(), None, 0, false);
    }
    let machine = match machine {
        Ok(m) => m,
        Err(problem) => {
            return (
                fail(
                    claimed,
                    now,
                    &format!("the definition cannot be run: {problem}"),
                ),
                Some(Vec::new()),
                0,
                false,
            )
        }
    };
    let mut snapshot: Option<Snapshot> = match claimed.snapshot.as_deref().map(serde_json::from_str)
    {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            return (
                fail(
                    claimed,
                    now,
                    &format!("the stored snapshot is unreadable: {e}"),
                ),
                Some(Vec::new()),
                0,
                false,
            )
        }
    };
    if let Some(snapshot) = snapshot.as_mut() {
        snapshot.attach_input(serde_json::from_str(&claimed.input).unwrap_or(Value::Null));
        snapshot.restore(&claimed.wanted, claimed.stored.clone());
    }
    let now_time = now;
    let now = from_time(now);
    let mut seed = seed_of(&claimed.arn, now);
    let entropy = crate::entropy::fresh(); // callbacks: task tokens
    let mut output = Output::default();
    // Each event's step spends what the steps before it left of the budget.
    let mut left = budget;
    for event in claimed.events.iter().cloned() {
        seed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
        let clock = Clock { now, seed, entropy };
        let step = match (event, snapshot.as_mut()) {
            (InboxEvent::Start, None) => {
                let input: Value = serde_json::from_str(&claimed.input).unwrap_or(Value::Null);
                let info = ExecutionInfo {
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
                };
                let (s, out) = interpreter::start_within(machine, info, input, limits, clock, left);
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
        output.history.extend(step.history);
        output.commands.extend(step.commands);
        output.states.extend(step.states);
        output.transitions += step.transitions;
    }
    let Some(mut snapshot) = snapshot else {
        return (Advance::default(), None, 0, false);
    };
    // Under a budget, transitions an earlier event of this batch held back go now if
    // budget remains; whatever is still held back waits for a resume.
    let mut paused = false;
    if let Some(left) = left {
        if left > 0 && snapshot.is_paused() {
            seed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
            let clock = Clock { now, seed, entropy };
            let step =
                interpreter::step_within(machine, &mut snapshot, Event::Resume, clock, Some(left));
            output.history.extend(step.history);
            output.commands.extend(step.commands);
            output.states.extend(step.states);
            output.transitions += step.transitions;
        }
        paused = snapshot.is_paused();
    }
    let mut advance = Advance::default();
    absorb(&mut advance, output.commands, claimed);
    // Tasks the local worker takes at once start now: no lease loop, no second advance.
    let handed: Vec<u64> = advance
        .tasks
        .iter()
        .filter(|task| hand_off(task))
        .map(|task| task.task)
        .collect();
    for task in handed {
        seed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
        let clock = Clock { now, seed, entropy };
        let step = interpreter::step(machine, &mut snapshot, Event::TaskStarted { task }, clock);
        output.history.extend(step.history);
        output.states.extend(step.states);
        absorb(&mut advance, step.commands, claimed);
        advance.leased.push(task);
    }
    // A large Map waiting for values it stored: the next advance loads them (`wanted`)
    // and goes on at once.
    if snapshot.needs_resume() {
        advance.resume_at = Some(now_time);
    }
    advance.wanted = snapshot.wanted();
    snapshot.detach_input();
    advance.snapshot = serde_json::to_string(&snapshot).ok();
    advance.history = output.history;
    (advance, Some(output.states), output.transitions, paused)
}

/// Turns the interpreter's commands into the advance's writes.
fn absorb(advance: &mut Advance, commands: Vec<Command>, claimed: &Claimed) {
    for command in commands {
        match command {
            Command::InvokeTask(task) => advance.tasks.push(task),
            Command::StartTimer { timer, due } => advance.timers.push((timer, to_time(due))),
            Command::CancelTimer { timer } => {
                // A timer set and cancelled in this same batch is simply never written.
                let before = advance.timers.len();
                advance.timers.retain(|(t, _)| *t != timer);
                if advance.timers.len() == before {
                    advance.cancelled_timers.push(timer);
                }
            }
            Command::CancelTask { task } => {
                let before = advance.tasks.len();
                advance.tasks.retain(|t| t.task != task);
                if advance.tasks.len() == before {
                    advance.cancelled_tasks.push(task);
                }
            }
            Command::Store(value) => advance.stored.push(value),
            Command::ReleaseStored { map } => {
                advance.stored.retain(|value| value.map != map);
                advance.released_maps.push(map);
            }
            Command::Finish(finish) => {
                advance.status = Some(finish.status.as_str().to_string());
                cairn_telemetry::execution_finished(
                    &claimed.state_machine_arn,
                    finish.status.as_str(),
                    claimed.started_at,
                );
                advance.output = finish.output.map(|o| o.to_string());
                advance.error = finish.error;
                advance.cause = finish.cause;
            }
        }
    }
}

/// The entropy for a step: different per execution and per moment, recorded nowhere
/// because its effects (UUIDs, jitter) are recorded in history and snapshot.
fn seed_of(arn: &str, now: Timestamp) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in arn.bytes() {
        hash = (hash ^ byte as u64).wrapping_mul(0x0100_0000_01b3);
    }
    hash ^ (now.0 as u64)
}

/// Ends an execution that cannot be advanced, so it does not stay RUNNING forever.
/// Ends an execution the interpreter cannot run (its definition or snapshot is unreadable)
/// as `FAILED` with `States.Runtime`, recording `ExecutionFailed` after its last event.
fn fail(claimed: &Claimed, now: Time, cause: &str) -> Advance {
    tracing::error!(execution = %claimed.arn, cause, "failing an execution that cannot advance");
    cairn_telemetry::execution_finished(&claimed.state_machine_arn, "FAILED", claimed.started_at);
    let last = claimed.history_length.max(0) as u64;
    let failed = HistoryEvent {
        id: last + 1,
        previous_event_id: last,
        timestamp: from_time(now),
        event_type: "ExecutionFailed".to_string(),
        details: Details {
            error: Some(cairn_asl::error::names::RUNTIME.to_string()),
            cause: Some(cause.to_string()),
            ..Details::default()
        },
    };
    Advance {
        history: vec![failed],
        snapshot: Some(
            claimed
                .snapshot
                .clone()
                .unwrap_or_else(|| "null".to_string()),
        ),
        status: Some("FAILED".to_string()),
        error: Some(cairn_asl::error::names::RUNTIME.to_string()),
        cause: Some(cause.to_string()),
        ..Advance::default()
    }
}
