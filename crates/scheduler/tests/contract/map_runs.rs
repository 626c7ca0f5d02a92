//! Map Runs: a Distributed Map's run keeps one row, written in the commits that change
//! it — its counts as iterations start and end, its end, and ABORTED when its execution
//! ends first.

use cairn_asl::interpreter::MapRunStatus;
use cairn_asl::ExecutionStatus;
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
