//! What operators and loops read of a store: the backlog, readiness, doorbells.

use std::sync::Arc;
use std::time::Duration;

use cairn_store::observe::{Backlog, Readiness};
use cairn_store::Channel;
use serde_json::json;
use tokio::sync::Notify;

use super::common::*;

pub async fn the_backlog_counts_ready_events_and_waiting_tasks<S: Store>(store: S) {
    assert_eq!(
        store.backlog().await.expect("backlog"),
        Backlog::default(),
        "an empty store has no backlog"
    );
    let scheduler = scheduler(&store);
    let machine = machine(
        &store,
        "observed",
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": LAMBDA, "Next": "W"},
            "W": {"Type": "Wait", "Seconds": 300, "End": true}}}),
    )
    .await;
    start(&store, &machine, "one", json!({})).await;
    let backlog = store.backlog().await.expect("backlog");
    assert_eq!(backlog.ready_events, 1, "the start: {backlog:?}");
    assert!(backlog.ready_age_seconds >= 0.0);
    assert_eq!(backlog.due_timers, 0);
    assert_eq!(backlog.tasks_waiting, 0);

    settle(&scheduler).await;
    let backlog = store.backlog().await.expect("backlog");
    assert_eq!(backlog.ready_events, 0, "{backlog:?}");
    assert_eq!(
        (
            backlog.tasks_waiting,
            backlog.tasks_leased,
            backlog.tasks_lease_expired
        ),
        (1, 0, 0),
        "{backlog:?}"
    );
    assert!(backlog.task_age_seconds >= 0.0);

    let task = lease_one(&store).await;
    let backlog = store.backlog().await.expect("backlog");
    assert_eq!(
        (backlog.tasks_waiting, backlog.tasks_leased),
        (0, 1),
        "{backlog:?}"
    );
    assert_eq!(backlog.ready_events, 1, "the task's start: {backlog:?}");
    assert!(complete(&store, &task, succeeded(&task, json!({}))).await);
    settle(&scheduler).await;
    // Only the five-minute Wait is left: a timer, not yet due.
    let backlog = store.backlog().await.expect("backlog");
    assert_eq!(
        backlog,
        Backlog::default(),
        "a timer not yet due is no backlog"
    );
    assert!(store.next_due().await.expect("due").is_some());
}

pub async fn a_migrated_store_is_ready<S: Store>(store: S) {
    // A database answers `Current`, a store in memory `InMemory`: both serve.
    let readiness = store.readiness().await.expect("readiness");
    assert!(
        matches!(readiness, Readiness::Current { .. } | Readiness::InMemory),
        "a fresh store can serve: {readiness:?}"
    );
}

/// Waits for `bell` to ring once by itself (a store may ring its doorbells when it
/// starts listening), so that the next ring is news.
async fn quiet(bell: &Arc<Notify>) {
    let _ = tokio::time::timeout(Duration::from_millis(300), bell.notified()).await;
}

/// Whether `bell` rings within a generous time after `write`, subscribed before it.
async fn rings_after<F: std::future::Future>(bell: &Arc<Notify>, write: F) -> F::Output {
    let notified = bell.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    let written = write.await;
    assert!(
        tokio::time::timeout(PATIENCE, notified).await.is_ok(),
        "the doorbell did not ring"
    );
    written
}

pub async fn doorbells_ring_after_the_writes_that_concern_them<S: Store>(store: S) {
    let inbox = store.doorbell(Channel::Inbox);
    let tasks = store.doorbell(Channel::Tasks);
    quiet(&inbox).await;
    quiet(&tasks).await;
    let scheduler = scheduler(&store);
    let machine = machine(
        &store,
        "rung",
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": LAMBDA, "End": true}}}),
    )
    .await;

    // A start: a new due event for the schedulers.
    let arn = rings_after(&inbox, start(&store, &machine, "one", json!({}))).await;
    // The advance that creates a task: news for the workers.
    rings_after(&tasks, settle(&scheduler)).await;
    let task = lease_one(&store).await;
    settle(&scheduler).await;
    // The task's outcome: a new due event again.
    let recorded = rings_after(&inbox, complete(&store, &task, succeeded(&task, json!({})))).await;
    assert!(recorded);
    // A stop of a running execution.
    let other = start(&store, &machine, "two", json!({})).await;
    settle(&scheduler).await;
    rings_after(&inbox, async {
        store
            .stop_execution(&other, None, None)
            .await
            .expect("stop")
    })
    .await;
    settle(&scheduler).await;
    assert_eq!(
        status(&store, &arn).await,
        cairn_asl::ExecutionStatus::Succeeded
    );
}
