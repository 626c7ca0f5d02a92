//! The scheduler and store together on real Postgres, where a scenario needs SQL to set
//! up what the store's API cannot: an execution whose stored snapshot is unreadable, a
//! timer brought forward so that five minutes need not pass.
//! Everything the `Store` trait alone can drive is in the contract suite
//! (`tests/contract.rs`), which runs against every store.

use std::time::Duration;

use cairn_asl::ExecutionStatus;
use cairn_scheduler::{Scheduler, SchedulerConfig};
use cairn_store::postgres::PgStore;
use cairn_store::prelude::*;
use cairn_store::testing;
use serde_json::json;

// Each test crate uses part of the shared support.
#[allow(dead_code)]
mod support;
use support::{machine, start};

/// Ticks until no execution has due work.
async fn settle(scheduler: &Scheduler<PgStore>) {
    while scheduler.tick().await.expect("tick") > 0 {}
}

async fn assert_dense_history(store: &PgStore, arn: &str) -> Vec<String> {
    let events = support::history(store, arn).await;
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    assert_eq!(
        ids,
        (1..=events.len() as i64).collect::<Vec<_>>(),
        "dense history for {arn}"
    );
    let row = store.describe_execution(arn).await.expect("describe");
    assert_eq!(row.history_length, events.len() as i64);
    events.into_iter().map(|e| e.event_type).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_snapshot_fails_the_execution_with_an_execution_failed_event() {
    let (store, _) = testing::fresh_store("corrupt_snapshot", 4)
        .await
        .expect("database");
    let scheduler = Scheduler::new(store.clone(), SchedulerConfig::default());
    let m = machine(
        &store,
        "corrupt",
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "End": true}}}),
    )
    .await;
    let arn = start(&store, &m, "e1", json!({})).await;
    settle(&scheduler).await;
    let before = store.describe_execution(&arn).await.expect("describe");
    assert_eq!(before.status, ExecutionStatus::Running);
    sqlx::query(
        "update executions set snapshot = '{\"not\": \"a snapshot\"}'::json where arn = $1",
    )
    .bind(&arn)
    .execute(store.pool())
    .await
    .expect("corrupt the snapshot");
    // The Wait's timer fires: the scheduler cannot read the snapshot and fails the run.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store
        .describe_execution(&arn)
        .await
        .expect("describe")
        .status
        == ExecutionStatus::Running
    {
        assert!(std::time::Instant::now() < deadline, "the execution ended");
        settle(&scheduler).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = store.describe_execution(&arn).await.expect("describe");
    assert_eq!(after.status, ExecutionStatus::Failed);
    assert_eq!(after.error.as_deref(), Some("States.Runtime"));
    let types = assert_dense_history(&store, &arn).await;
    assert_eq!(types.last().map(String::as_str), Some("ExecutionFailed"));
    assert_eq!(after.history_length, types.len() as i64);
    // A late event for the failed execution is consumed and records nothing more.
    store
        .stop_execution(&arn, None, None)
        .await
        .expect("stop is a no-op on a finished execution");
    sqlx::query("insert into inbox (execution_arn, due_at, event) values ($1, now(), '{\"Step\":{\"TimerFired\":{\"timer\":99}}}'::json)")
        .bind(&arn)
        .execute(store.pool())
        .await
        .expect("a late event");
    settle(&scheduler).await;
    assert_eq!(assert_dense_history(&store, &arn).await, types);
    let left: i64 = sqlx::query_scalar("select count(*) from inbox where execution_arn = $1")
        .bind(&arn)
        .fetch_one(store.pool())
        .await
        .expect("count");
    assert_eq!(left, 0, "the late event was consumed");
}

async fn inbox_rows(store: &PgStore, arn: &str) -> i64 {
    sqlx::query_scalar("select count(*) from inbox where execution_arn = $1")
        .bind(arn)
        .fetch_one(store.pool())
        .await
        .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_express_iteration_past_its_five_minutes_times_out_and_leaves_no_timer() {
    let (store, _) = testing::fresh_store("express_cap", 4)
        .await
        .expect("database");
    let scheduler = Scheduler::new(store.clone(), SchedulerConfig::default());
    // Item 0 waits longer than an Express child may run; the others end at once.
    let m = machine(
        &store,
        "capped",
        json!({"StartAt": "M", "States": {"M": {
            "Type": "Map", "End": true, "ItemsPath": "$.items", "ToleratedFailureCount": 1,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                "StartAt": "Slow?", "States": {
                    "Slow?": {"Type": "Choice", "Default": "Quick", "Choices": [
                        {"Variable": "$", "NumericEquals": 0, "Next": "Wait"}]},
                    "Wait": {"Type": "Wait", "Seconds": 400, "Next": "Quick"},
                    "Quick": {"Type": "Pass", "End": true}}}}}}),
    )
    .await;
    let arn = start(&store, &m, "e1", json!({"items": [0, 1, 2]})).await;
    settle(&scheduler).await;
    assert_eq!(
        store
            .describe_execution(&arn)
            .await
            .expect("describe")
            .status,
        ExecutionStatus::Running
    );
    // The Wait's timer and item 0's cap; the iterations that ended at once set none.
    assert_eq!(inbox_rows(&store, &arn).await, 2);
    // The cap is due first (start + 300 s, the Wait at start + 400 s): bring it now.
    sqlx::query(
        "update inbox set due_at = now() where id = \
         (select id from inbox where execution_arn = $1 order by due_at limit 1)",
    )
    .bind(&arn)
    .execute(store.pool())
    .await
    .expect("the cap is due");
    settle(&scheduler).await;
    let ended = store.describe_execution(&arn).await.expect("describe");
    assert_eq!(ended.status, ExecutionStatus::Succeeded, "{ended:?}");
    let output: serde_json::Value =
        serde_json::from_str(ended.output.as_deref().expect("output")).expect("JSON");
    assert_eq!(output[0]["Error"], "States.Timeout", "{output}");
    assert_eq!(output[1], 1);
    assert_eq!(output[2], 2);
    // The Wait's timer went with the iteration.
    assert_eq!(inbox_rows(&store, &arn).await, 0);
    let runs = store.list_map_runs(&arn, None, 10).await.expect("map runs");
    assert_eq!(runs.len(), 1);
    // The timed-out iteration is counted apart from `failed`, as AWS counts it.
    assert_eq!(
        (
            runs[0].succeeded,
            runs[0].failed,
            runs[0].timed_out,
            runs[0].running,
            runs[0].pending()
        ),
        (2, 0, 1, 0, 0)
    );
}
