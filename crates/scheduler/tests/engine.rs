//! The scheduler and store together on real Postgres: executions advance through tasks,
//! timers and branches with dense history, and concurrent schedulers never apply an
//! event twice.

use std::time::Duration;

use cairn_asl::interpreter::Event;
use cairn_asl::ExecutionStatus;
use cairn_scheduler::{Scheduler, SchedulerConfig};
use cairn_store::postgres::PgStore;
use cairn_store::prelude::*;
use cairn_store::tasks::Completion;
use cairn_store::testing;
use serde_json::{json, Value};

mod support;
use support::{machine, start};

/// Ticks until no execution has due work.
async fn settle(scheduler: &Scheduler<PgStore>) {
    while scheduler.tick().await.expect("tick") > 0 {}
}

/// Answers every leased task by echoing its input under `"done"`.
async fn answer_tasks(store: &PgStore) -> usize {
    let (completions, recorded) =
        support::answer_tasks(store, |input| json!({"done": input})).await;
    assert!(recorded.iter().all(|r| *r), "every leased task is recorded");
    // A second recording of the same outcomes finds the tasks gone and changes nothing.
    let again = store.complete_tasks(&completions).await.expect("complete");
    assert!(again.iter().all(|r| !*r), "a task completes once");
    completions.len()
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
async fn tasks_choice_and_parallel_run_to_completion_with_dense_history() {
    let (store, _) = testing::fresh_store("engine_flow", 8)
        .await
        .expect("database");
    let scheduler = Scheduler::new(store.clone(), SchedulerConfig::default());
    let machine = machine(
        &store,
        "flow",
        json!({"StartAt": "T1", "States": {
            "T1": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "ResultPath": "$.t1", "Next": "C"},
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.go", "BooleanEquals": true, "Next": "P"}], "Default": "Skip"},
            "Skip": {"Type": "Succeed"},
            "P": {"Type": "Parallel", "ResultPath": "$.branches", "End": true, "Branches": [
                {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true}}},
                {"StartAt": "B", "States": {"B": {"Type": "Pass", "Result": "b", "End": true}}}
            ]}
        }}),
    )
    .await;
    let arn = start(&store, &machine, "one", json!({"go": true})).await;

    settle(&scheduler).await;
    assert_eq!(
        store
            .describe_execution(&arn)
            .await
            .expect("describe")
            .status,
        ExecutionStatus::Running
    );
    assert_eq!(answer_tasks(&store).await, 1, "T1 is the only task");
    settle(&scheduler).await;
    assert_eq!(answer_tasks(&store).await, 1, "branch A's task");
    settle(&scheduler).await;

    let row = store.describe_execution(&arn).await.expect("describe");
    assert_eq!(row.status, ExecutionStatus::Succeeded);
    let output: Value = serde_json::from_str(row.output.as_deref().expect("output")).expect("json");
    assert_eq!(output["branches"][1], json!("b"));
    assert_eq!(output["t1"]["done"], json!({"go": true}));
    let types = assert_dense_history(&store, &arn).await;
    assert_eq!(types.first().map(String::as_str), Some("ExecutionStarted"));
    assert_eq!(types.last().map(String::as_str), Some("ExecutionSucceeded"));
    assert!(types.iter().any(|t| t == "TaskStarted"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_is_one_timer_row_that_fires_when_due() {
    let (store, _) = testing::fresh_store("engine_wait", 8)
        .await
        .expect("database");
    let scheduler = Scheduler::new(store.clone(), SchedulerConfig::default());
    let machine = machine(
        &store,
        "wait",
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "Next": "Long"},
               "Long": {"Type": "Wait", "Seconds": 31536000, "End": true}}}),
    )
    .await;
    let arn = start(&store, &machine, "w", json!({})).await;
    settle(&scheduler).await;
    let due = store
        .next_due()
        .await
        .expect("due")
        .expect("a timer is pending");
    assert!(due > chrono::Utc::now(), "the 1 s wait is in the future");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    settle(&scheduler).await;
    // Now the year-long wait: exactly one inbox row, due in a year.
    let due = store
        .next_due()
        .await
        .expect("due")
        .expect("the long wait is pending");
    assert!(due - chrono::Utc::now() > chrono::Duration::days(364));
    let types = assert_dense_history(&store, &arn).await;
    assert_eq!(
        types,
        [
            "ExecutionStarted",
            "WaitStateEntered",
            "WaitStateExited",
            "WaitStateEntered"
        ]
    );
    store
        .stop_execution(&arn, Some("Enough"), None)
        .await
        .expect("stop");
    settle(&scheduler).await;
    assert_eq!(
        store
            .describe_execution(&arn)
            .await
            .expect("describe")
            .status,
        ExecutionStatus::Aborted
    );
    assert_eq!(
        store.next_due().await.expect("due"),
        None,
        "the stop cancelled the timer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_the_same_name_twice_is_idempotent_only_for_the_same_input() {
    let (store, _) = testing::fresh_store("engine_idem", 4)
        .await
        .expect("database");
    let machine = machine(
        &store,
        "m",
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}),
    )
    .await;
    let arn = start(&store, &machine, "same", json!({"a": 1})).await;
    let again = store
        .start_execution(&cairn_store::testing::new_execution(
            &machine,
            "same",
            &json!({"a": 1}).to_string(),
        ))
        .await
        .expect("same input is idempotent")
        .expect("a STANDARD machine");
    assert_eq!(again.arn, arn);
    assert!(!again.created);
    let conflict = store
        .start_execution(&cairn_store::testing::new_execution(
            &machine,
            "same",
            &json!({"a": 2}).to_string(),
        ))
        .await;
    assert!(matches!(
        conflict,
        Err(cairn_store::StoreError::ExecutionAlreadyExists(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_schedulers_never_apply_an_event_twice() {
    let (store, _) = testing::fresh_store("engine_race", 16)
        .await
        .expect("database");
    let machine = machine(
        &store,
        "race",
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "P"},
            "P": {"Type": "Pass", "End": true}}}),
    )
    .await;
    let mut arns = Vec::new();
    for i in 0..100 {
        arns.push(start(&store, &machine, &format!("e{i}"), json!({"i": i})).await);
    }
    let config = SchedulerConfig {
        batch_size: 8,
        ..SchedulerConfig::default()
    };
    let run_all = |store: PgStore| {
        let config = config.clone();
        tokio::spawn(async move {
            let scheduler = Scheduler::new(store.clone(), config);
            for _ in 0..400 {
                let advanced = scheduler.tick().await.expect("tick");
                let answered = answer_tasks(&store).await;
                if advanced == 0 && answered == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        })
    };
    let a = run_all(store.clone());
    let b = run_all(store.clone());
    let c = run_all(store.clone());
    let (a, b, c) = tokio::join!(a, b, c);
    a.expect("scheduler a");
    b.expect("scheduler b");
    c.expect("scheduler c");
    for arn in &arns {
        let types = assert_dense_history(&store, arn).await;
        assert_eq!(
            store
                .describe_execution(arn)
                .await
                .expect("describe")
                .status,
            ExecutionStatus::Succeeded,
            "{arn}"
        );
        assert_eq!(
            types.iter().filter(|t| *t == "TaskSucceeded").count(),
            1,
            "{arn}: {types:?}"
        );
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_taken_after_expiry_is_a_takeover_and_a_released_one_is_not() {
    let (store, _) = testing::fresh_store("engine_takeover", 4)
        .await
        .expect("database");
    let scheduler = Scheduler::new(store.clone(), SchedulerConfig::default());
    let machine = machine(
        &store,
        "takeover",
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true}
        }}),
    )
    .await;
    start(&store, &machine, "one", json!({})).await;
    settle(&scheduler).await;

    let first = store
        .lease_tasks("worker-a", 10, Duration::from_millis(200))
        .await
        .expect("lease");
    assert_eq!(first.len(), 1);
    assert!(!first[0].taken_over, "a first lease takes nothing over");
    // While the lease is live nobody else gets the task.
    let during = store
        .lease_tasks("worker-b", 10, Duration::from_secs(30))
        .await
        .expect("lease");
    assert!(during.is_empty());
    // Poll until the short lease has run out (a hang guard, not a timing claim).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let second = loop {
        let leased = store
            .lease_tasks("worker-b", 10, Duration::from_secs(30))
            .await
            .expect("lease");
        if !leased.is_empty() {
            break leased;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the lease never expired"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(second.len(), 1);
    assert!(second[0].taken_over, "worker-a's lease had expired");

    // A lease given back at a graceful stop is not taken over: it was released.
    assert_eq!(store.release_leases("worker-b").await.expect("release"), 1);
    let third = store
        .lease_tasks("worker-c", 10, Duration::from_secs(30))
        .await
        .expect("lease");
    assert_eq!(third.len(), 1);
    assert!(!third[0].taken_over, "a released lease is not a takeover");
}

/// A scheduler with a local worker starts the tasks it creates in the same advance: the
/// row is leased to that worker, `TaskStarted` is recorded once, the worker receives the
/// task once the advance committed, and no other worker can lease it while the lease
/// lasts. When it expires (the process died), another worker takes it over without a
/// second `TaskStarted`. Tasks beyond the worker's free slots are left for any worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_handed_to_the_local_worker_start_in_their_advance_and_survive_its_death() {
    use cairn_scheduler::Handoff;
    use cairn_store::tasks::TaskLease;

    let (store, _) = testing::fresh_store("engine_handoff", 4)
        .await
        .expect("database");
    let lease = TaskLease {
        owner: "local-worker".to_string(),
        duration: Duration::from_secs(1),
    };
    // One slot: of two executions' first tasks, one is handed over, one is not.
    let (handoff, slots, mut tasks) = Handoff::new(lease, 1);
    let scheduler = Scheduler::new(store.clone(), SchedulerConfig::default()).with_handoff(handoff);
    let machine = machine(
        &store,
        "handoff",
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:echo", "End": true}}}),
    )
    .await;
    let first = start(&store, &machine, "first", json!({"n": 1})).await;
    let second = start(&store, &machine, "second", json!({"n": 2})).await;
    settle(&scheduler).await;

    let (handed, slot) = tasks.try_recv().expect("one task was handed over");
    assert!(tasks.try_recv().is_err(), "only one slot was free");
    assert_eq!(
        slots.available_permits(),
        0,
        "the handed task holds the slot"
    );
    let (mine, other) = if handed.execution_arn == first {
        (first, second)
    } else {
        (second, first)
    };
    assert_eq!(handed.execution_arn, mine);
    assert!(!handed.taken_over);
    let started = |events: &[String]| events.iter().filter(|e| e.ends_with("Started")).count();
    let mine_events = assert_dense_history(&store, &mine).await;
    assert_eq!(
        mine_events.last().map(String::as_str),
        Some("LambdaFunctionStarted"),
        "the handed task started in its advance: {mine_events:?}"
    );
    let other_events = assert_dense_history(&store, &other).await;
    assert_eq!(
        other_events.last().map(String::as_str),
        Some("LambdaFunctionScheduled"),
        "the task without a slot waits for a lease: {other_events:?}"
    );

    // Another worker leases only the task that was not handed over.
    let leased = store
        .lease_tasks("other-worker", 10, Duration::from_secs(30))
        .await
        .expect("lease");
    assert_eq!(
        leased.iter().map(|t| &t.execution_arn).collect::<Vec<_>>(),
        vec![&other]
    );
    // The local worker "dies": its slot is gone with it, and its lease runs out.
    drop((handed, slot));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let taken = store
        .lease_tasks("other-worker", 10, Duration::from_secs(30))
        .await
        .expect("lease");
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].execution_arn, mine);
    assert!(taken[0].taken_over, "an expired lease is a takeover");

    let completions: Vec<Completion> = leased
        .into_iter()
        .chain(taken)
        .map(|task| Completion {
            event: Event::TaskSucceeded {
                task: task.task_id as u64,
                output: json!({"ok": true}),
            },
            task,
        })
        .collect();
    assert!(store
        .complete_tasks(&completions)
        .await
        .expect("complete")
        .iter()
        .all(|r| *r));
    settle(&scheduler).await;
    for arn in [&mine, &other] {
        let events = assert_dense_history(&store, arn).await;
        assert_eq!(
            started(&events),
            2,
            "ExecutionStarted and one task start: {events:?}"
        );
        assert_eq!(
            events.last().map(String::as_str),
            Some("ExecutionSucceeded")
        );
    }
}
