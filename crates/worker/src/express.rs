//! Express executions: a machine run to completion in memory, on the real clock, with
//! real task invocations.
//!
//! This is the durable path without the database: the same `interpreter::start`/`step`
//! and the same [`Targets::invoke`] the lease loop calls, but every event is applied as
//! soon as it happens and nothing is written anywhere. A process that dies mid-run loses
//! the run, which is AWS's at-most-once contract for synchronous Express workflows.
//!
//! Timers (Wait, retry back-offs, task and execution `TimeoutSeconds`) are tokio sleeps;
//! the tasks a Parallel or Map asks for at once run concurrently; a task whose result no
//! longer matters (`CancelTask`) is aborted. A run lasts at most
//! [`ExpressOptions::max_duration`] (AWS: five minutes), after which it ends `TIMED_OUT`
//! with `States.Timeout`.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cairn_asl::error::names;
use cairn_asl::interpreter::{
    self, Clock, Command, Event, ExecutionInfo, Finish, Limits, Output, Snapshot, TaskId, TimerId,
};
use cairn_asl::random::{Random, SplitMix64};
use cairn_asl::timestamp::Timestamp;
use cairn_asl::{ExecutionStatus, StateMachine};
use cairn_telemetry::execution_log::{self, LoggingConfig};
use serde_json::Value;
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;

use crate::{Invocation, Targets};

/// AWS's limit on an Express execution's duration: the same five minutes that cap an
/// EXPRESS Distributed Map iteration ([`interpreter::EXPRESS_MAX_SECONDS`]).
pub const MAX_DURATION: Duration = Duration::from_secs(interpreter::EXPRESS_MAX_SECONDS);

/// How to run one Express execution.
#[derive(Debug, Clone)]
pub struct ExpressOptions {
    /// The context object's facts; `start_time` is when the run begins.
    pub info: ExecutionInfo,
    pub limits: Limits,
    /// The run ends `TIMED_OUT` after this long, unless the machine's own
    /// `TimeoutSeconds` ends it sooner. [`MAX_DURATION`] in production.
    pub max_duration: Duration,
    /// How much of `max_duration` was used before this run began: zero for a new run;
    /// for a run taken over after its replica died, the time since its original start
    /// (the cap counts from StartExecution, not from the takeover).
    pub already_elapsed: Duration,
    /// Which of its history events are written as log lines (the machine's
    /// `loggingConfiguration`); its history is kept nowhere else.
    pub logging: LoggingConfig,
}

/// How an Express execution ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpressOutcome {
    /// `Succeeded`, `Failed` or `TimedOut`.
    pub status: ExecutionStatus,
    /// The output, for a succeeded execution.
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    /// When the run ended (real time).
    pub stopped_at: Timestamp,
    /// How long the run took, measured on a monotonic clock.
    pub duration: Duration,
}

/// The wall clock as the interpreter reads it.
pub fn now() -> Timestamp {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0);
    Timestamp(nanos)
}

/// Runs `machine` on `input` to the end. Never panics on what the machine or a target
/// does; the tasks still running when the run ends are aborted.
pub async fn run(
    machine: &StateMachine,
    input: Value,
    options: ExpressOptions,
    targets: Arc<Targets>,
) -> ExpressOutcome {
    let span = tracing::info_span!("express", execution = %options.info.execution_arn);
    tracing::Instrument::instrument(drive(machine, input, options, targets), span).await
}

async fn drive(
    machine: &StateMachine,
    input: Value,
    options: ExpressOptions,
    targets: Arc<Targets>,
) -> ExpressOutcome {
    let began = Instant::now();
    let options_max = options.max_duration;
    let deadline = began + options_max.saturating_sub(options.already_elapsed);
    let execution_arn = options.info.execution_arn.clone();
    let mut entropy = Entropy::new();
    let clock = Clock {
        now: options.info.start_time,
        seed: entropy.next_u64(),
        entropy: entropy.bytes(),
    };
    let logging = options.logging;
    let (snapshot, output) =
        interpreter::start(machine, options.info, input, options.limits, clock);
    let mut driver = Driver {
        logging,
        machine,
        snapshot,
        targets,
        execution_arn,
        entropy,
        tasks: JoinSet::new(),
        running: HashMap::new(),
        timers: BTreeSet::new(),
        finish: None,
    };
    driver.log(&output);
    driver.carry_out(output);
    let finish = loop {
        if let Some(finish) = driver.finish.take() {
            break finish;
        }
        let Some(event) = driver.next_event(deadline).await else {
            break stalled_or_timed_out(&driver, deadline, options_max);
        };
        let out = driver.step(event);
        driver.carry_out(out);
    };
    // Whatever is still in flight belongs to an execution that has ended.
    driver.tasks.abort_all();
    let status = finish.status;
    tracing::info!(status = status.as_str(), error = ?finish.error, "express execution ended");
    ExpressOutcome {
        status,
        output: finish.output,
        error: finish.error,
        cause: finish.cause,
        stopped_at: now(),
        duration: began.elapsed(),
    }
}

/// The end of a run that has nothing left to wait for, or has used up its time.
fn stalled_or_timed_out(driver: &Driver<'_>, deadline: Instant, max: Duration) -> Finish {
    if Instant::now() >= deadline {
        Finish {
            status: ExecutionStatus::TimedOut,
            output: None,
            error: Some(names::TIMEOUT.to_string()),
            cause: Some(format!(
                "The execution ran longer than the {} seconds an Express execution may last",
                max.as_secs_f64()
            )),
        }
    } else {
        // The interpreter always leaves a running execution waiting on a task, a timer
        // or its end; if it ever did not, failing beats hanging the caller.
        tracing::error!(status = ?driver.snapshot.status, "express execution stalled");
        Finish {
            status: ExecutionStatus::Failed,
            output: None,
            error: Some(names::RUNTIME.to_string()),
            cause: Some("The execution has nothing left to wait for but has not ended".into()),
        }
    }
}

/// A fresh seed per step from the operating system's generator, as the durable path
/// draws a fresh one per step; SplitMix64 stands in should the OS ever refuse.
struct Entropy(SplitMix64);

impl Entropy {
    fn new() -> Self {
        let fallback = now().0 as u64 ^ u64::from(std::process::id()).rotate_left(32);
        Entropy(SplitMix64::new(fallback))
    }

    fn next_u64(&mut self) -> u64 {
        getrandom::u64().unwrap_or_else(|_| self.0.next_u64())
    }

    fn bytes(&mut self) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        for chunk in bytes.chunks_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        bytes
    }
}

/// One run's moving parts.
struct Driver<'a> {
    logging: LoggingConfig,
    machine: &'a StateMachine,
    snapshot: Snapshot,
    targets: Arc<Targets>,
    execution_arn: String,
    entropy: Entropy,
    /// Invocations in flight; each yields its task id with the outcome's event.
    tasks: JoinSet<Event>,
    running: HashMap<TaskId, AbortHandle>,
    /// Ordered by (due, id): timers due at the same instant fire in the order they were set.
    timers: BTreeSet<(Timestamp, TimerId)>,
    finish: Option<Finish>,
}

impl Driver<'_> {
    fn step(&mut self, event: Event) -> Output {
        let clock = Clock {
            now: now(),
            seed: self.entropy.next_u64(),
            entropy: self.entropy.bytes(),
        };
        let output = interpreter::step(self.machine, &mut self.snapshot, event, clock);
        self.log(&output);
        output
    }

    /// Writes the log lines of a step's events, as the machine's logging asks.
    fn log(&self, output: &Output) {
        if !self.logging.is_off() {
            execution_log::write(&self.logging.lines(&self.execution_arn, &output.history));
        }
    }

    /// Carries out a step's commands, and those of the steps they cause (a task's
    /// `TaskStarted` is a step of its own).
    fn carry_out(&mut self, output: Output) {
        let mut pending: std::collections::VecDeque<Command> = output.commands.into();
        while let Some(command) = pending.pop_front() {
            match command {
                Command::InvokeTask(request) => {
                    let started = self.step(Event::TaskStarted { task: request.task });
                    pending.extend(started.commands);
                    let invocation = Invocation::from_request(&self.execution_arn, &request);
                    let targets = self.targets.clone();
                    let task = request.task;
                    // In the run's span and trace context: the attempt is the run's child.
                    let attempt = cairn_telemetry::trace::in_current_context(async move {
                        targets.invoke(&invocation).await.into_event(task)
                    });
                    // Boxed, so that spawning moves a pointer rather than the future.
                    let handle = self
                        .tasks
                        .spawn(Box::pin(tracing::Instrument::in_current_span(attempt)));
                    self.running.insert(task, handle);
                }
                Command::StartTimer { timer, due } => {
                    self.timers.insert((due, timer));
                }
                Command::CancelTimer { timer } => {
                    self.timers.retain(|&(_, t)| t != timer);
                }
                Command::CancelTask { task } => {
                    if let Some(handle) = self.running.remove(&task) {
                        handle.abort();
                    }
                }
                Command::Finish(finish) => self.finish = Some(finish),
                // An Express run keeps its Maps in memory: its limits store nothing.
                // Nor does it keep Map Runs: no Map Run resource for Express executions.
                Command::Store(_) | Command::ReleaseStored { .. } | Command::MapRun(_) => {}
                // Never asked for: its limits keep a Distributed Map's iterations as
                // frames (`Limits::map_child_executions` is off).
                Command::StartMapChild(_) | Command::RedriveMapChild(_) => {}
            }
        }
    }

    /// Waits for the next task outcome or due timer; `None` when there is nothing to
    /// wait for or the deadline has passed.
    async fn next_event(&mut self, deadline: Instant) -> Option<Event> {
        loop {
            let next_timer = self.timers.first().copied();
            if self.tasks.is_empty() && next_timer.is_none() {
                return None;
            }
            let timer_at = next_timer.map(|(due, _)| instant_of(due));
            tokio::select! {
                joined = self.tasks.join_next(), if !self.tasks.is_empty() => {
                    match joined {
                        Some(Ok(event)) => {
                            if let Some(task) = task_of(&event) {
                                self.running.remove(&task);
                            }
                            return Some(event);
                        }
                        // Aborted (cancelled) invocations end here; nothing to apply.
                        Some(Err(error)) if error.is_cancelled() => continue,
                        Some(Err(error)) => {
                            // `Targets::invoke` does not panic; should it, the task is lost
                            // and its TimeoutSeconds (if any) still ends the wait.
                            tracing::error!(%error, "a task invocation panicked");
                            continue;
                        }
                        None => continue,
                    }
                }
                _ = sleep_until(timer_at), if timer_at.is_some() => {
                    if let Some((_, timer)) = self.timers.pop_first() {
                        return Some(Event::TimerFired { timer });
                    }
                }
                _ = tokio::time::sleep_until(deadline) => return None,
            }
        }
    }
}

fn task_of(event: &Event) -> Option<TaskId> {
    match event {
        Event::TaskSucceeded { task, .. }
        | Event::TaskFailed { task, .. }
        | Event::TaskHeartbeatTimedOut { task }
        | Event::TaskStarted { task }
        | Event::TaskSubmitted { task, .. }
        | Event::ActivityStarted { task, .. } => Some(*task),
        Event::TimerFired { .. }
        | Event::Stop { .. }
        | Event::Resume
        | Event::Redrive
        | Event::UpdateMapRun(_)
        | Event::MapChildEnded { .. } => None,
    }
}

/// The monotonic instant at which the wall clock reads `due` (now, if it already has).
fn instant_of(due: Timestamp) -> Instant {
    let ahead = due.0.saturating_sub(now().0);
    let nanos = u64::try_from(ahead.max(0)).unwrap_or(u64::MAX);
    Instant::now() + Duration::from_nanos(nanos)
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_times_in_the_past_are_now() {
        let before = Instant::now();
        let at = instant_of(Timestamp(0));
        assert!(at >= before && at <= Instant::now());
    }

    #[test]
    fn due_times_ahead_are_ahead() {
        let at = instant_of(now().plus_seconds(2.0));
        let ahead = at.saturating_duration_since(Instant::now());
        assert!(ahead > Duration::from_millis(1500) && ahead <= Duration::from_secs(2));
    }

    #[test]
    fn seeds_differ_per_step() {
        let mut entropy = Entropy::new();
        let a = entropy.next_u64();
        let b = entropy.next_u64();
        assert_ne!(a, b);
    }
}
