//! The in-memory driver: runs a machine to completion with a pluggable task handler and
//! a virtual clock. Tests, the conformance runner and Express executions use it.

use serde_json::Value;

use crate::history::HistoryEvent;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::interpreter::{
    self, Clock, Command, Event, ExecutionInfo, Limits, StoredKind, StoredValue, TaskRequest,
    TimerId,
};
use crate::model::StateMachine;
use crate::random::{Random, SplitMix64};
use crate::status::ExecutionStatus;
use crate::task::TaskOutcome;
use crate::timestamp::Timestamp;

/// Answers Task states. Called once per attempt.
pub trait TaskHandler {
    fn invoke(&mut self, task: &TaskRequest) -> TaskOutcome;
}

/// A handler for machines without Task states: every task fails with `States.TaskFailed`.
pub struct NoTasks;

impl TaskHandler for NoTasks {
    fn invoke(&mut self, task: &TaskRequest) -> TaskOutcome {
        TaskOutcome::Failed {
            error: crate::error::names::TASK_FAILED.to_string(),
            cause: Some(format!("no task handler for resource '{}'", task.resource)),
        }
    }
}

/// The end of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: ExecutionStatus,
    /// The output, for a succeeded execution.
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub history: Vec<HistoryEvent>,
    /// Virtual time at the end.
    pub finished_at: Timestamp,
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub info: ExecutionInfo,
    pub limits: Limits,
    /// Seeds every step's randomness (UUIDs, MathRandom without a seed, jitter).
    pub seed: u64,
}

/// Runs `machine` on `input` to the end. Waits and retry back-offs advance the virtual
/// clock instantly.
pub fn run(
    machine: &StateMachine,
    input: Value,
    options: &RunOptions,
    tasks: &mut dyn TaskHandler,
) -> Outcome {
    let mut now = options.info.start_time;
    let mut seeds = SplitMix64::new(options.seed);
    let clock = Clock {
        now,
        seed: seeds.next_u64(),
        entropy: entropy(&mut seeds),
    };
    let (mut snapshot, output) =
        interpreter::start(machine, options.info.clone(), input, options.limits, clock);
    let mut history = output.history;
    // What large Maps keep out of the snapshot (`Limits::store_map_items_over`).
    let mut stored: BTreeMap<(u64, StoredKind, u64), StoredValue> = BTreeMap::new();
    let mut pending: VecDeque<Command> = VecDeque::new();
    keep(&mut stored, &mut pending, output.commands);
    // Ordered by (due, id): timers due at the same instant fire in the order they were set.
    let mut timers: BTreeSet<(Timestamp, TimerId)> = BTreeSet::new();
    let mut finish = None;
    loop {
        while let Some(command) = pending.pop_front() {
            let event = match command {
                Command::InvokeTask(request) => {
                    let task = request.task;
                    let clock = Clock {
                        now,
                        seed: seeds.next_u64(),
                        entropy: entropy(&mut seeds),
                    };
                    give_back(&mut snapshot, &stored);
                    let started = interpreter::step(
                        machine,
                        &mut snapshot,
                        Event::TaskStarted { task },
                        clock,
                    );
                    history.extend(started.history);
                    keep(&mut stored, &mut pending, started.commands);
                    Some(tasks.invoke(&request).into_event(task))
                }
                Command::StartTimer { timer, due } => {
                    timers.insert((due, timer));
                    None
                }
                Command::CancelTimer { timer } => {
                    timers.retain(|&(_, t)| t != timer);
                    None
                }
                Command::CancelTask { .. } => None,
                // Kept as soon as the step that made them returned (`keep`).
                // No Map Run resource in memory: its history events are all there is.
                Command::Store(_) | Command::ReleaseStored { .. } | Command::MapRun(_) => None,
                // Never asked for: this driver's limits keep Map iterations as frames
                // (`Limits::map_child_executions` is off).
                Command::StartMapChild(_) | Command::RedriveMapChild(_) => None,
                Command::Finish(f) => {
                    finish = Some(f);
                    None
                }
            };
            if let Some(event) = event {
                let clock = Clock {
                    now,
                    seed: seeds.next_u64(),
                    entropy: entropy(&mut seeds),
                };
                give_back(&mut snapshot, &stored);
                let out = interpreter::step(machine, &mut snapshot, event, clock);
                history.extend(out.history);
                keep(&mut stored, &mut pending, out.commands);
            }
        }
        if finish.is_some() {
            break;
        }
        if snapshot.needs_resume() {
            give_back(&mut snapshot, &stored);
            let clock = Clock {
                now,
                seed: seeds.next_u64(),
                entropy: entropy(&mut seeds),
            };
            let out = interpreter::step(machine, &mut snapshot, Event::Resume, clock);
            history.extend(out.history);
            keep(&mut stored, &mut pending, out.commands);
            continue;
        }
        let Some((due, timer)) = timers.pop_first() else {
            break;
        };
        now = now.max(due);
        let clock = Clock {
            now,
            seed: seeds.next_u64(),
            entropy: entropy(&mut seeds),
        };
        give_back(&mut snapshot, &stored);
        let out = interpreter::step(machine, &mut snapshot, Event::TimerFired { timer }, clock);
        history.extend(out.history);
        keep(&mut stored, &mut pending, out.commands);
    }
    let status = finish
        .as_ref()
        .map_or(ExecutionStatus::Running, |f| f.status);
    let (output, error, cause) = match finish {
        Some(f) => (f.output, f.error, f.cause),
        None => (None, None, None),
    };
    Outcome {
        status,
        output,
        error,
        cause,
        history,
        finished_at: now,
    }
}

/// Queues a step's commands, keeping what it stores at once: the durable driver's
/// stored values are written in the same transaction as the step.
fn keep(
    stored: &mut BTreeMap<(u64, StoredKind, u64), StoredValue>,
    pending: &mut VecDeque<Command>,
    commands: Vec<Command>,
) {
    for command in commands {
        match command {
            Command::Store(value) => {
                stored.insert((value.map, value.kind, value.index), value);
            }
            Command::ReleaseStored { map } => stored.retain(|key, _| key.0 != map),
            other => pending.push_back(other),
        }
    }
}

/// Gives the snapshot the stored values it wants before a step, as a durable driver
/// does before each advance.
fn give_back(
    snapshot: &mut interpreter::Snapshot,
    stored: &BTreeMap<(u64, StoredKind, u64), StoredValue>,
) {
    let wanted = snapshot.wanted();
    if wanted.is_empty() {
        return;
    }
    let values = wanted
        .iter()
        .flat_map(|w| {
            let items = w.items_from..w.items_from + w.items;
            stored.values().filter(move |v| {
                v.map == w.map
                    && match v.kind {
                        StoredKind::Item => items.contains(&v.index),
                        StoredKind::Result => w.results_and_input && !w.input_only,
                        StoredKind::Input => w.results_and_input,
                    }
            })
        })
        .cloned()
        .collect();
    snapshot.restore(&wanted, values);
}

/// Token entropy for an in-memory run: drawn from the run's seeded generator, so a run
/// replays exactly. Nothing outside the process ever sees these tokens.
fn entropy(seeds: &mut impl Random) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_mut(8) {
        chunk.copy_from_slice(&seeds.next_u64().to_le_bytes());
    }
    bytes
}
