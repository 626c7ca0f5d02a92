//! Large inline Maps through the scheduler on real Postgres: items, results and input
//! live in `stored_map_values`, the snapshot stays the size of the running iterations,
//! results join in order across scheduler instances, and every row goes when the Map or
//! the execution ends.

use cairn_asl::ExecutionStatus;
use cairn_scheduler::{Scheduler, SchedulerConfig};
use cairn_store::postgres::PgStore;
use cairn_store::prelude::*;
use cairn_store::testing;
use serde_json::{json, Value};

mod support;

async fn start_map(store: &PgStore, name: &str, definition: Value, input: Value) -> String {
    let machine = support::machine(store, name, definition).await;
    support::start(store, &machine, "run", input).await
}

/// Answers every leased task with `{"n": 2n}`; how many it answered.
async fn answer_tasks(store: &PgStore) -> usize {
    let (completions, _) = support::answer_tasks(
        store,
        |input| json!({"n": input["n"].as_i64().unwrap_or(-1) * 2}),
    )
    .await;
    completions.len()
}

async fn stored_rows(store: &PgStore, arn: &str) -> i64 {
    sqlx::query_scalar::<_, i64>("select count(*) from stored_map_values where execution_arn = $1")
        .bind(arn)
        .fetch_one(store.pool())
        .await
        .expect("count")
}

async fn snapshot_len(store: &PgStore, arn: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(
        "select coalesce(length(snapshot::text), 0)::int8 from executions where arn = $1",
    )
    .bind(arn)
    .fetch_one(store.pool())
    .await
    .expect("snapshot")
}

fn map_of_tasks() -> Value {
    json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items",
        "MaxConcurrency": 7, "ResultPath": "$.doubled",
        "ItemSelector": {"n.$": "$$.Map.Item.Value.n", "pad.$": "$$.Map.Item.Value.pad"},
        "ItemProcessor": {"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true}}},
        "End": true}}})
}

fn items(n: i64) -> Vec<Value> {
    // ≈ 100 bytes each: all of them would be ≈ 30 KB in every snapshot.
    (0..n)
        .map(|i| json!({"n": i, "pad": "x".repeat(80)}))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_map_joins_its_results_in_order_from_rows_with_a_small_snapshot() {
    let (store, _) = testing::fresh_store("stored_map_run", 8)
        .await
        .expect("database");
    let arn = start_map(
        &store,
        "big",
        map_of_tasks(),
        json!({"items": items(300), "keep": true}),
    )
    .await;
    // Two scheduler instances take turns: nothing of the Map lives in either.
    let schedulers = [
        Scheduler::new(store.clone(), SchedulerConfig::default()),
        Scheduler::new(store.clone(), SchedulerConfig::default()),
    ];
    let mut largest_snapshot = 0;
    let mut turn = 0;
    for _ in 0..1_000 {
        while schedulers[turn % 2].tick().await.expect("tick") > 0 {
            turn += 1;
        }
        largest_snapshot = largest_snapshot.max(snapshot_len(&store, &arn).await);
        if answer_tasks(&store).await == 0 {
            break;
        }
    }
    let row = store.describe_execution(&arn).await.expect("describe");
    assert_eq!(row.status, ExecutionStatus::Succeeded);
    let output: Value = serde_json::from_str(row.output.as_deref().expect("output")).expect("json");
    let expected: Vec<Value> = (0..300).map(|i| json!({"n": 2 * i})).collect();
    assert_eq!(output["doubled"], Value::Array(expected));
    assert_eq!(output["keep"], json!(true));
    assert_eq!(output["items"].as_array().map(Vec::len), Some(300));
    assert!(
        largest_snapshot < 12_000,
        "the snapshot reached {largest_snapshot} bytes"
    );

    let events = support::history(&store, &arn).await;
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    assert_eq!(ids, (1..=events.len() as i64).collect::<Vec<_>>());
    let count = |t: &str| events.iter().filter(|e| e.event_type == t).count();
    assert_eq!(count("MapIterationStarted"), 300);
    assert_eq!(count("MapIterationSucceeded"), 300);
    assert_eq!(count("MapStateSucceeded"), 1);
    assert_eq!(
        stored_rows(&store, &arn).await,
        0,
        "the Map's rows are gone"
    );
    let wanted: Option<String> =
        sqlx::query_scalar("select wanted::text from executions where arn = $1")
            .bind(&arn)
            .fetch_one(store.pool())
            .await
            .expect("wanted");
    assert_eq!(wanted, None);
}

/// A stopped execution keeps its Map's stored values: a redrive resumes the Map from
/// them, and they go once it succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_mid_map_keeps_its_stored_values_for_a_redrive() {
    let (store, _) = testing::fresh_store("stored_map_stop", 8)
        .await
        .expect("database");
    let arn = start_map(
        &store,
        "stopped",
        map_of_tasks(),
        json!({"items": items(300)}),
    )
    .await;
    let scheduler = Scheduler::new(store.clone(), SchedulerConfig::default());
    while scheduler.tick().await.expect("tick") > 0 {}
    answer_tasks(&store).await;
    while scheduler.tick().await.expect("tick") > 0 {}
    let stored = stored_rows(&store, &arn).await;
    // The items past the first iterations and the buffer, the input, 7 results.
    assert!(stored > 250, "{stored} rows stored");

    store
        .stop_execution(&arn, Some("Enough"), None)
        .await
        .expect("stop");
    while scheduler.tick().await.expect("tick") > 0 {}
    let row = store.describe_execution(&arn).await.expect("describe");
    assert_eq!(row.status, ExecutionStatus::Aborted);
    assert_eq!(
        stored_rows(&store, &arn).await,
        stored,
        "kept for a redrive"
    );

    store
        .redrive_execution(&arn, None, chrono::Utc::now())
        .await
        .expect("redrive");
    loop {
        while scheduler.tick().await.expect("tick") > 0 {}
        if answer_tasks(&store).await == 0 {
            break;
        }
    }
    let row = store.describe_execution(&arn).await.expect("describe");
    assert_eq!(row.status, ExecutionStatus::Succeeded);
    let output: Value = serde_json::from_str(row.output.as_deref().expect("output")).expect("JSON");
    let doubled: Vec<Value> = (0..300).map(|i| json!({"n": i * 2})).collect();
    assert_eq!(
        output["doubled"],
        json!(doubled),
        "every result, in item order"
    );
    assert_eq!(stored_rows(&store, &arn).await, 0, "gone once it succeeded");
    let events = support::history(&store, &arn).await;
    let mut succeeded: Vec<u64> = events
        .iter()
        .filter(|e| e.event_type == "MapIterationSucceeded")
        .filter_map(|e| serde_json::from_str::<Value>(&e.details).ok()?["index"].as_u64())
        .collect();
    succeeded.sort_unstable();
    assert_eq!(
        succeeded,
        (0..300).collect::<Vec<u64>>(),
        "each item succeeded once"
    );
}

/// Results whose array would pass the payload limit fail the Map with
/// States.DataLimitExceeded from the running count: only the input is loaded back for
/// the Catch, and the rows go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_over_the_payload_limit_fail_the_map_and_are_caught_with_the_input() {
    let (store, _) = testing::fresh_store("stored_map_limit", 8)
        .await
        .expect("database");
    let mut definition = map_of_tasks();
    definition["States"]["M"]["Catch"] = json!([{"ErrorEquals": ["States.DataLimitExceeded"],
        "ResultPath": "$.error", "Next": "After"}]);
    definition["States"]["M"]
        .as_object_mut()
        .map(|m| m.remove("End"));
    definition["States"]["M"]["Next"] = json!("After");
    definition["States"]["After"] = json!({"Type": "Pass", "End": true});
    let arn = start_map(
        &store,
        "limit",
        definition,
        json!({"items": items(300), "keep": true}),
    )
    .await;
    let scheduler = Scheduler::new(store.clone(), SchedulerConfig::default());
    for _ in 0..1_000 {
        while scheduler.tick().await.expect("tick") > 0 {}
        // ≈ 1 KB per result: ≈ 300 KB in all, over 256 KiB.
        let (completions, _) = support::answer_tasks(
            &store,
            |input| json!({"n": input["n"].as_i64().unwrap_or(-1), "pad": "y".repeat(1_000)}),
        )
        .await;
        if completions.is_empty() {
            break;
        }
    }
    let row = store.describe_execution(&arn).await.expect("describe");
    assert_eq!(row.status, ExecutionStatus::Succeeded);
    let output: Value = serde_json::from_str(row.output.as_deref().expect("output")).expect("json");
    assert_eq!(output["error"]["Error"], json!("States.DataLimitExceeded"));
    assert_eq!(output["keep"], json!(true));
    assert_eq!(output["items"].as_array().map(Vec::len), Some(300));
    assert_eq!(
        stored_rows(&store, &arn).await,
        0,
        "the Map's rows are gone"
    );
}

/// A Map whose last advance gives back more results than a batch plans in place: the
/// scheduler loads, joins and commits them off the runtime's worker threads
/// (`cairn_store::heavy`), from a task on a worker as `cairn server` runs it, and the
/// output is every result in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_map_of_thousands_of_results_is_joined_off_the_worker_threads() {
    let (store, _) = testing::fresh_store("stored_map_heavy", 8)
        .await
        .expect("database");
    let total = 5_000;
    let definition = json!({"StartAt": "M", "States": {"M": {"Type": "Map",
        "ItemsPath": "$.items", "MaxConcurrency": 1000,
        "ItemProcessor": {
            "StartAt": "P", "States": {"P": {"Type": "Pass",
                "Parameters": {"twice.$": "States.MathAdd($, $)"}, "End": true}}},
        "End": true}}});
    let items: Vec<i64> = (0..total).collect();
    let arn = start_map(&store, "heavy", definition, json!({"items": items})).await;
    let scheduler = std::sync::Arc::new(Scheduler::new(store.clone(), SchedulerConfig::default()));
    let mut most_rows = 0;
    for _ in 0..1_000 {
        let on_a_worker = scheduler.clone();
        let advanced = tokio::spawn(async move { on_a_worker.tick().await })
            .await
            .expect("the tick's task")
            .expect("tick");
        most_rows = most_rows.max(stored_rows(&store, &arn).await);
        if advanced == 0 {
            break;
        }
    }
    assert!(
        most_rows > 4096,
        "the results were rows: {most_rows} at most"
    );
    let row = store.describe_execution(&arn).await.expect("describe");
    assert_eq!(row.status, ExecutionStatus::Succeeded);
    let output: Value = serde_json::from_str(row.output.as_deref().expect("output")).expect("json");
    let expected: Vec<Value> = (0..total).map(|i| json!({"twice": 2 * i})).collect();
    assert_eq!(output, Value::Array(expected));
    assert_eq!(
        stored_rows(&store, &arn).await,
        0,
        "the Map's rows are gone"
    );
}
