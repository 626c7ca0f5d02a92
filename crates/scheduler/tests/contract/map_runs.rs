//! Map Runs: a Distributed Map's run keeps one row, written in the commits that change
//! it — its counts as iterations start and end, its end, and ABORTED when its execution
//! ends first.

use cairn_asl::interpreter::{Event, MapRunStatus, MapRunUpdate};
use cairn_asl::ExecutionStatus;
use cairn_scheduler::{Scheduler, SchedulerConfig};
use cairn_store::map_runs::UpdateOutcome;
use serde_json::{json, Value};

use super::common::*;

fn distributed_map() -> Value {
    json!({"StartAt": "Fan", "States": {"Fan": {"Type": "Map", "Label": "fan",
        "MaxConcurrency": 2, "ToleratedFailureCount": 1,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "Check", "States": {
                "Check": {"Type": "Choice", "Choices": [{"Variable": "$.fail", "IsPresent": true, "Next": "Broken"}], "Default": "Work"},
                "Broken": {"Type": "Fail", "Error": "Broken"},
                "Work": {"Type": "Task", "Resource": LAMBDA, "End": true}}},
        "End": true}}})
}

async fn map_run_arn<S: Store>(store: &S, execution: &str) -> String {
    let events = checked_history(store, execution).await;
    let started = details(&events, "MapRunStarted");
    started["mapRunArn"]
        .as_str()
        .unwrap_or_else(|| panic!("MapRunStarted names its run: {started}"))
        .to_string()
}

pub async fn a_map_run_counts_its_items_and_ends_with_its_map<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let machine = machine(&store, "fanout", distributed_map()).await;
    let arn = start(
        &store,
        &machine,
        "run",
        json!([{"fail": true}, {"n": 1}, {"n": 2}]),
    )
    .await;
    settle(&scheduler).await;
    let run_arn = map_run_arn(&store, &arn).await;
    assert!(
        run_arn.starts_with("arn:aws:states:us-east-1:123456789012:mapRun:fanout/fan:"),
        "{run_arn}"
    );
    let run = store
        .describe_map_run(&run_arn)
        .await
        .expect("describe")
        .expect("the run's row is written with MapRunStarted");
    assert_eq!(run.execution_arn, arn);
    assert_eq!(run.status, MapRunStatus::Running);
    assert_eq!(run.max_concurrency, 2);
    assert_eq!(run.tolerated_failure_count, 1);
    assert_eq!(run.total, 3);
    assert_eq!(
        (run.failed, run.running, run.succeeded, run.pending()),
        (1, 2, 0, 0),
        "the first item failed at once (tolerated) and the third took its place: {run:?}"
    );
    assert_eq!(run.stopped_at, None);

    drive(&store, &scheduler, |input| json!({"done": input})).await;
    assert_eq!(status(&store, &arn).await, ExecutionStatus::Succeeded);
    let run = store
        .describe_map_run(&run_arn)
        .await
        .expect("describe")
        .expect("kept");
    assert_eq!(run.status, MapRunStatus::Succeeded);
    assert_eq!(
        (run.failed, run.running, run.succeeded, run.pending()),
        (1, 0, 2, 0)
    );
    assert!(run.stopped_at.is_some_and(|s| s >= run.started_at));

    let listed = store.list_map_runs(&arn, None, 10).await.expect("list");
    assert_eq!(listed, vec![run.clone()]);
    let other = start(&store, &machine, "other", json!([])).await;
    settle(&scheduler).await;
    let empty_run = map_run_arn(&store, &other).await;
    assert_ne!(empty_run, run_arn, "each execution's run has its own id");
    let listed = store.list_map_runs(&other, None, 10).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].status,
        MapRunStatus::Succeeded,
        "no items: done at once"
    );
    assert_eq!(listed[0].total, 0);
    assert_eq!(
        store
            .describe_map_run(&format!("{run_arn}x"))
            .await
            .expect("describe"),
        None
    );
}

pub async fn a_map_run_is_aborted_when_its_execution_stops<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let machine = machine(&store, "fanout", distributed_map()).await;
    let arn = start(
        &store,
        &machine,
        "stopped",
        json!([{"n": 1}, {"n": 2}, {"n": 3}]),
    )
    .await;
    settle(&scheduler).await;
    let run_arn = map_run_arn(&store, &arn).await;
    store
        .stop_execution(&arn, Some("Operator.Stop"), None)
        .await
        .expect("stop");
    settle(&scheduler).await;
    assert_eq!(status(&store, &arn).await, ExecutionStatus::Aborted);
    let run = store
        .describe_map_run(&run_arn)
        .await
        .expect("describe")
        .expect("kept");
    assert_eq!(run.status, MapRunStatus::Aborted);
    assert_eq!(
        (run.aborted, run.running, run.succeeded, run.pending()),
        (2, 0, 0, 1),
        "{run:?}"
    );
    assert!(run.stopped_at.is_some());
}

pub async fn an_update_raises_the_concurrency_of_a_running_map_run<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let machine = machine(&store, "fanout", distributed_map()).await;
    let items = json!([{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}, {"n": 5}]);
    let arn = start(&store, &machine, "updated", items).await;
    settle(&scheduler).await;
    let run_arn = map_run_arn(&store, &arn).await;
    let update = MapRunUpdate {
        map_run_arn: run_arn.clone(),
        max_concurrency: Some(4),
        tolerated_failure_count: None,
        tolerated_failure_percentage: Some(40.0),
    };
    assert_eq!(
        store.update_map_run(&update).await.expect("update"),
        UpdateOutcome::Queued
    );
    settle(&scheduler).await;
    let run = store
        .describe_map_run(&run_arn)
        .await
        .expect("describe")
        .expect("kept");
    assert_eq!(run.max_concurrency, 4);
    assert_eq!(run.tolerated_failure_percentage, 40.0);
    assert_eq!(run.tolerated_failure_count, 1, "unchanged");
    assert_eq!(
        (run.running, run.pending()),
        (4, 1),
        "two more iterations started at once: {run:?}"
    );
    let missing = MapRunUpdate {
        map_run_arn: format!("{run_arn}x"),
        ..update.clone()
    };
    assert_eq!(
        store.update_map_run(&missing).await.expect("update"),
        UpdateOutcome::Missing
    );
    drive(&store, &scheduler, |input| json!({"done": input})).await;
    assert_eq!(status(&store, &arn).await, ExecutionStatus::Succeeded);
    let run = store
        .describe_map_run(&run_arn)
        .await
        .expect("describe")
        .expect("kept");
    assert_eq!(
        (run.succeeded, run.failed, run.status),
        (5, 0, MapRunStatus::Succeeded)
    );
    assert_eq!(
        output(&describe(&store, &arn).await)
            .as_array()
            .map(Vec::len),
        Some(5),
        "each item's result, once"
    );
    assert_eq!(
        store.update_map_run(&update).await.expect("update"),
        UpdateOutcome::NotRunning,
        "an ended run changes no more"
    );
}

pub async fn a_redrive_runs_the_failed_map_run_again_and_counts_it<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let definition = json!({"StartAt": "Fan", "States": {"Fan": {"Type": "Map",
        "MaxConcurrency": 1,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": LAMBDA, "End": true}}},
        "End": true}}});
    let machine = machine(&store, "redriven", definition).await;
    let arn = start(&store, &machine, "once", json!([{"n": 1}, {"n": 2}])).await;
    settle(&scheduler).await;
    let run_arn = map_run_arn(&store, &arn).await;
    let task = lease_one(&store).await;
    let failure = Event::TaskFailed {
        task: task.task_id as u64,
        error: "Declined".to_string(),
        cause: None,
    };
    assert!(complete(&store, &task, failure).await);
    settle(&scheduler).await;
    assert_eq!(status(&store, &arn).await, ExecutionStatus::Failed);
    let run = store
        .describe_map_run(&run_arn)
        .await
        .expect("describe")
        .expect("kept");
    assert_eq!(run.status, MapRunStatus::Failed);
    assert_eq!((run.failed, run.pending(), run.redrive_count), (1, 1, 0));
    assert!(run.stopped_at.is_some());

    store
        .redrive_execution(&arn, None, chrono::Utc::now())
        .await
        .expect("redrivable");
    settle(&scheduler).await;
    let run = store
        .describe_map_run(&run_arn)
        .await
        .expect("describe")
        .expect("kept");
    assert_eq!(run.status, MapRunStatus::Running, "{run:?}");
    assert_eq!((run.failed, run.running, run.redrive_count), (0, 1, 1));
    assert_eq!(run.stopped_at, None);
    assert!(run.redrive_date.is_some());
    let redriven = details(&checked_history(&store, &arn).await, "MapRunRedriven");
    assert_eq!(redriven, json!({"mapRunArn": run_arn, "redriveCount": 1}));

    drive(&store, &scheduler, |input| json!({"done": input})).await;
    assert_eq!(status(&store, &arn).await, ExecutionStatus::Succeeded);
    let run = store
        .describe_map_run(&run_arn)
        .await
        .expect("describe")
        .expect("kept");
    assert_eq!(
        (run.status, run.succeeded, run.failed, run.redrive_count),
        (MapRunStatus::Succeeded, 2, 0, 1)
    );
    assert_eq!(
        store
            .list_map_runs(&arn, None, 10)
            .await
            .expect("list")
            .len(),
        1,
        "the redrive ran the same Map Run again"
    );
}

/// A STANDARD child that times out is counted as timed out, not failed, in both stores,
/// while the tolerance still counts it with the failures.
pub async fn a_timed_out_child_is_counted_apart_from_the_failed<S: Store>(store: S) {
    let machine = machine(
        &store,
        "slowfan",
        json!({"StartAt": "Fan", "States": {"Fan": {"Type": "Map", "Label": "fan",
            "ToleratedFailureCount": 2,
            "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "Kind", "States": {
                    "Kind": {"Type": "Choice", "Default": "Done", "Choices": [
                        {"Variable": "$", "StringEquals": "slow", "Next": "Slow"},
                        {"Variable": "$", "StringEquals": "bad", "Next": "Broken"}]},
                    "Slow": {"Type": "Wait", "Seconds": 5, "Next": "Done"},
                    "Broken": {"Type": "Fail", "Error": "Broken"},
                    "Done": {"Type": "Pass", "End": true}}},
            "End": true}}}),
    )
    .await;
    let arn = start(&store, &machine, "run", json!(["slow", "bad", "fine"])).await;
    // A child times out only at the execution cap (an ItemProcessor takes no
    // TimeoutSeconds; AWS's cap is a year): the parent starts under the default limits
    // and starts its children in that commit; a scheduler capping executions at one
    // second then starts the children, so only they are capped.
    assert_eq!(scheduler(&store).tick().await.expect("tick"), 1);
    let capped = Scheduler::new(
        store.clone(),
        SchedulerConfig {
            limits: SchedulerConfig::default().limits.capping_executions_at(1),
            ..SchedulerConfig::default()
        },
    );
    let ended = wait_for_end(&store, &capped, &arn).await;
    assert_eq!(ended.status, ExecutionStatus::Succeeded, "{ended:?}");
    let run_arn = map_run_arn(&store, &arn).await;
    let run = store
        .describe_map_run(&run_arn)
        .await
        .expect("describe")
        .expect("kept");
    assert_eq!(run.status, MapRunStatus::Succeeded);
    assert_eq!(
        (
            run.total,
            run.succeeded,
            run.failed,
            run.timed_out,
            run.aborted,
            run.pending()
        ),
        (3, 1, 1, 1, 0, 0),
        "{run:?}"
    );
    let listed = store.list_map_runs(&arn, None, 10).await.expect("list");
    assert_eq!(listed, vec![run]);
}
