//! What the scenarios share: machines and executions, a scheduler driven to rest, a
//! worker's answers, history read back and checked, and polls with a hang guard.

use std::time::{Duration, Instant};

use cairn_asl::interpreter::Event;
use cairn_asl::ExecutionStatus;
use cairn_scheduler::{Scheduler, SchedulerConfig};
use cairn_store::executions::{ExecutionRecord, StoredEvent};
pub use cairn_store::prelude::*;
use cairn_store::tasks::{Completion, LeasedTask};
use cairn_store::testing;
use serde_json::Value;

pub use crate::support::{machine, start};

/// A task that only a worker would answer.
pub const LAMBDA: &str = "arn:aws:states:::lambda:invoke";
/// A task that waits for its token after its invocation.
pub const CALLBACK: &str = "arn:aws:states:::lambda:invoke.waitForTaskToken";
/// The longest any poll waits: reached only when something hangs.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A scheduler on `store` as a `cairn server` runs it.
pub fn scheduler<S: Store>(store: &S) -> Scheduler<S> {
    Scheduler::new(store.clone(), SchedulerConfig::default())
}

/// Ticks until no execution has due work.
pub async fn settle<S: Store>(scheduler: &Scheduler<S>) {
    for _ in 0..100_000 {
        if scheduler.tick().await.expect("tick") == 0 {
            return;
        }
    }
    panic!("the scheduler never came to rest");
}

pub async fn describe<S: Store>(store: &S, arn: &str) -> ExecutionRecord {
    store.describe_execution(arn).await.expect("describe")
}

pub async fn status<S: Store>(store: &S, arn: &str) -> ExecutionStatus {
    describe(store, arn).await.status
}

/// An ended execution's output, parsed.
pub fn output(record: &ExecutionRecord) -> Value {
    let text = record
        .output
        .as_deref()
        .unwrap_or_else(|| panic!("{} has no output: {record:?}", record.arn));
    serde_json::from_str(text).expect("the output is JSON")
}

/// `arn`'s history, checked dense (ids 1..n, `history_length` n).
pub async fn checked_history<S: Store>(store: &S, arn: &str) -> Vec<StoredEvent> {
    let events = crate::support::history(store, arn).await;
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    assert_eq!(
        ids,
        (1..=events.len() as i64).collect::<Vec<_>>(),
        "dense history for {arn}"
    );
    assert_eq!(
        describe(store, arn).await.history_length,
        events.len() as i64,
        "history_length of {arn}"
    );
    events
}

/// The event types of `arn`'s history, checked dense.
pub async fn event_types<S: Store>(store: &S, arn: &str) -> Vec<String> {
    checked_history(store, arn)
        .await
        .into_iter()
        .map(|e| e.event_type)
        .collect()
}

pub fn count(types: &[String], wanted: &str) -> usize {
    types.iter().filter(|t| *t == wanted).count()
}

/// The details object of the first event of `event_type` in `events`.
pub fn details(events: &[StoredEvent], event_type: &str) -> Value {
    let event = events
        .iter()
        .find(|e| e.event_type == event_type)
        .unwrap_or_else(|| panic!("no {event_type} in {events:?}"));
    serde_json::from_str(&event.details).expect("details are JSON")
}

/// Leases every due task and answers it with `answer(input)`; how many it answered.
/// Each is recorded once: a second recording of the same outcomes records nothing.
pub async fn answer<S: Store>(store: &S, answer: impl Fn(Value) -> Value) -> usize {
    let (completions, recorded) = crate::support::answer_tasks(store, answer).await;
    assert!(
        recorded.iter().all(|r| *r),
        "every leased task is recorded: {recorded:?}"
    );
    let again = store.complete_tasks(&completions).await.expect("complete");
    assert!(
        again.iter().all(|r| !*r),
        "a task completes once: {again:?}"
    );
    completions.len()
}

/// Settles, answers with `answer`, and again, until no task is left to answer.
pub async fn drive<S: Store>(
    store: &S,
    scheduler: &Scheduler<S>,
    respond: impl Fn(Value) -> Value + Copy,
) {
    for _ in 0..10_000 {
        settle(scheduler).await;
        if answer(store, respond).await == 0 {
            return;
        }
    }
    panic!("tasks kept coming");
}

/// Leases every due task for `owner` with a 30 s lease.
pub async fn lease<S: Store>(store: &S, owner: &str) -> Vec<LeasedTask> {
    store
        .lease_tasks(owner, 100, Duration::from_secs(30))
        .await
        .expect("lease")
}

/// Leases the one due task.
pub async fn lease_one<S: Store>(store: &S) -> LeasedTask {
    let mut tasks = lease(store, "contract-worker").await;
    assert_eq!(tasks.len(), 1, "one task is due: {tasks:?}");
    tasks.remove(0)
}

/// Records `event` as `task`'s outcome; whether it was recorded.
pub async fn complete<S: Store>(store: &S, task: &LeasedTask, event: Event) -> bool {
    let recorded = store
        .complete_tasks(&[Completion {
            task: task.clone(),
            event,
        }])
        .await
        .expect("complete");
    assert_eq!(recorded.len(), 1);
    recorded[0]
}

pub fn succeeded(task: &LeasedTask, output: Value) -> Event {
    Event::TaskSucceeded {
        task: task.task_id as u64,
        output,
    }
}

/// A task's input, parsed.
pub fn input_of(task: &LeasedTask) -> Value {
    serde_json::from_str(&task.input).expect("task input is JSON")
}

/// Settles and sleeps until `arn` has ended; its record.
pub async fn wait_for_end<S: Store>(
    store: &S,
    scheduler: &Scheduler<S>,
    arn: &str,
) -> ExecutionRecord {
    let deadline = Instant::now() + PATIENCE;
    loop {
        settle(scheduler).await;
        let record = describe(store, arn).await;
        if record.status != ExecutionStatus::Running {
            return record;
        }
        assert!(Instant::now() < deadline, "{arn} never ended: {record:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Settles and sleeps until `arn`'s history has an event of `event_type`.
pub async fn wait_for_event<S: Store>(
    store: &S,
    scheduler: &Scheduler<S>,
    arn: &str,
    event_type: &str,
) -> Vec<StoredEvent> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        settle(scheduler).await;
        let events = testing::history(store, arn).await;
        if events.iter().any(|e| e.event_type == event_type) {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "{arn} never recorded {event_type}: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// `machine`'s execution named `name`, as StartExecution names it.
pub fn execution_arn(machine: &str, name: &str) -> String {
    format!(
        "{}:{name}",
        machine.replace(":stateMachine:", ":execution:")
    )
}

/// A hash of nothing in particular: no task ever had it as its token.
pub fn random_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("not-a-token-{nanos:x}-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
}
