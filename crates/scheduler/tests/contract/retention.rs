//! Retention: executions closed before the cut-off are deleted with everything that
//! belongs to them, oldest first and a batch at a time; running ones and those closed
//! after it stay untouched.

use cairn_asl::ExecutionStatus;
use cairn_store::callbacks::TokenOutcome;
use cairn_store::StoreError;
use chrono::TimeDelta;
use serde_json::{json, Value};

use super::common::*;

fn pass() -> Value {
    json!({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": true}}})
}

fn wait_for_token() -> Value {
    json!({"StartAt": "Notify", "States": {"Notify": {
        "Type": "Task", "Resource": CALLBACK,
        "Parameters": {"token.$": "$$.Task.Token"}, "End": true}}})
}

fn a_task() -> Value {
    json!({"StartAt": "Charge", "States": {"Charge": {
        "Type": "Task", "Resource": LAMBDA, "End": true}}})
}

fn gone<T: std::fmt::Debug>(result: Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::ExecutionDoesNotExist(_)))
}

pub async fn closed_executions_are_purged_oldest_first_with_all_they_own<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let passes = machine(&store, "passes", pass()).await;
    let callbacks = machine(&store, "callbacks", wait_for_token()).await;
    let tasks = machine(&store, "tasks", a_task()).await;

    let succeeded = start(&store, &passes, "succeeded", json!({"n": 1})).await;
    settle(&scheduler).await;
    // A token whose execution is stopped: it stays as a tombstone (TaskTimedOut).
    let stopped = start(&store, &callbacks, "stopped", json!({})).await;
    settle(&scheduler).await;
    let task = lease_one(&store).await;
    let token = input_of(&task)["token"]
        .as_str()
        .expect("the task's input carries its token")
        .to_string();
    store
        .stop_execution(&stopped, Some("Stop"), None)
        .await
        .expect("stop");
    settle(&scheduler).await;
    let running = start(&store, &tasks, "running", json!({"n": 3})).await;
    settle(&scheduler).await;

    assert_eq!(status(&store, &succeeded).await, ExecutionStatus::Succeeded);
    assert_eq!(status(&store, &stopped).await, ExecutionStatus::Aborted);
    assert_eq!(status(&store, &running).await, ExecutionStatus::Running);
    assert_eq!(
        store.token_state(&token).await.expect("token"),
        TokenOutcome::Closed
    );
    let first_end = describe(&store, &succeeded)
        .await
        .stopped_at
        .expect("ended");
    let last_end = describe(&store, &stopped).await.stopped_at.expect("ended");
    assert!(first_end <= last_end);

    // Nothing closed before the first end: nothing to delete.
    assert_eq!(
        store
            .purge_closed(first_end, 10)
            .await
            .expect("purge before any end"),
        0
    );

    // A batch of one takes the oldest end first.
    let later = last_end + TimeDelta::seconds(1);
    assert_eq!(store.purge_closed(later, 1).await.expect("purge one"), 1);
    assert!(gone(store.describe_execution(&succeeded).await));
    assert_eq!(
        store
            .history_page(&succeeded, None, 100, false)
            .await
            .expect("history"),
        None
    );
    assert_eq!(status(&store, &stopped).await, ExecutionStatus::Aborted);

    assert_eq!(store.purge_closed(later, 10).await.expect("purge rest"), 1);
    assert_eq!(store.purge_closed(later, 10).await.expect("purge again"), 0);
    assert!(gone(store.describe_execution(&stopped).await));
    assert!(gone(
        store
            .redrive_execution(&stopped, None, chrono::Utc::now())
            .await
    ));
    assert_eq!(
        store.token_state(&token).await.expect("token"),
        TokenOutcome::Unknown,
        "the tombstone went with its execution"
    );

    // The running execution keeps its row, its history and its task.
    assert_eq!(status(&store, &running).await, ExecutionStatus::Running);
    let history = checked_history(&store, &running).await;
    assert_eq!(
        history.last().map(|e| e.event_type.as_str()),
        Some("TaskScheduled")
    );
    let charge = lease_one(&store).await;
    assert_eq!(charge.execution_arn, running);

    // The name of a deleted execution may be used again.
    let again = store
        .start_execution(&cairn_store::testing::new_execution(
            &passes,
            "succeeded",
            "{\"n\": 1}",
        ))
        .await
        .expect("start")
        .expect("a STANDARD machine");
    assert!(again.created);
}

/// Replicas purging at once split the work: every closed execution is deleted once,
/// by exactly one of them.
pub async fn concurrent_purges_delete_each_execution_once<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let passes = machine(&store, "many", pass()).await;
    let mut arns = Vec::new();
    for i in 0..12 {
        arns.push(start(&store, &passes, &format!("e{i}"), json!({"i": i})).await);
    }
    settle(&scheduler).await;
    let later = chrono::Utc::now() + TimeDelta::seconds(1);
    let purger = |store: S| async move {
        let mut deleted = 0;
        loop {
            let n = store.purge_closed(later, 2).await.expect("purge");
            deleted += n;
            if n == 0 {
                return deleted;
            }
        }
    };
    let (a, b, c) = tokio::join!(
        tokio::spawn(purger(store.clone())),
        tokio::spawn(purger(store.clone())),
        tokio::spawn(purger(store.clone())),
    );
    let total = a.expect("a") + b.expect("b") + c.expect("c");
    assert_eq!(total, 12, "each execution deleted exactly once");
    for arn in &arns {
        assert!(gone(store.describe_execution(arn).await), "{arn}");
    }
}

/// A Distributed Map's runs are the execution's too: they go with it.
pub async fn a_purged_execution_takes_its_map_runs_along<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let mapped = machine(
        &store,
        "mapped",
        json!({"StartAt": "Each", "States": {"Each": {
            "Type": "Map",
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": true}}},
            "End": true}}}),
    )
    .await;
    let arn = start(&store, &mapped, "mapped", json!([1, 2, 3])).await;
    settle(&scheduler).await;
    assert_eq!(status(&store, &arn).await, ExecutionStatus::Succeeded);
    let runs = store.list_map_runs(&arn, None, 10).await.expect("runs");
    assert_eq!(runs.len(), 1, "the Map kept its run");

    let later = chrono::Utc::now() + TimeDelta::seconds(1);
    assert_eq!(
        store.purge_closed(later, 10).await.expect("purge"),
        4,
        "the execution and its three child executions, each closed"
    );
    assert!(gone(store.describe_execution(&arn).await));
    assert_eq!(
        store
            .describe_map_run(&runs[0].arn)
            .await
            .expect("describe run"),
        None,
        "the run went with its execution"
    );
    assert!(store
        .list_map_runs(&arn, None, 10)
        .await
        .expect("runs")
        .is_empty());
}
