//! The engine through the scheduler: claim, plan, commit. Flows run to their end with
//! dense history, timers fire when due and not before, concurrent schedulers apply each
//! event once, and a batch that is not committed changes nothing.

use std::time::{Duration, Instant};

use cairn_asl::interpreter::Event;
use cairn_asl::ExecutionStatus;
use cairn_scheduler::{Handoff, Scheduler, SchedulerConfig, STORE_MAP_ITEMS_OVER};
use cairn_store::engine::{InboxEvent, Plan};
use cairn_store::executions::ExecutionsOf;
use cairn_store::tasks::{Completion, TaskLease};
use cairn_store::testing::ROLE_ARN;
use serde_json::{json, Value};

use super::common::*;

pub async fn pass_choice_parallel_map_and_tasks_succeed_with_dense_history<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let machine = machine(
        &store,
        "flow",
        json!({"StartAt": "T1", "States": {
            "T1": {"Type": "Task", "Resource": LAMBDA, "ResultPath": "$.t1", "Next": "C"},
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.go", "BooleanEquals": true, "Next": "P"}], "Default": "Skip"},
            "Skip": {"Type": "Succeed"},
            "P": {"Type": "Parallel", "ResultPath": "$.branches", "Next": "M", "Branches": [
                {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": LAMBDA, "InputPath": "$.items", "End": true}}},
                {"StartAt": "B", "States": {"B": {"Type": "Pass", "Result": "b", "End": true}}}
            ]},
            "M": {"Type": "Map", "ItemsPath": "$.items", "ResultPath": "$.mapped", "Next": "Done",
                  "ItemProcessor": {"StartAt": "D", "States": {
                      "D": {"Type": "Pass", "Parameters": {"double.$": "States.MathAdd($, $)"}, "End": true}}}},
            "Done": {"Type": "Pass", "End": true}
        }}),
    )
    .await;
    let go = start(
        &store,
        &machine,
        "go",
        json!({"go": true, "items": [1, 2, 3]}),
    )
    .await;
    let skip = start(&store, &machine, "skip", json!({"go": false})).await;

    settle(&scheduler).await;
    assert_eq!(status(&store, &go).await, ExecutionStatus::Running);
    assert_eq!(
        answer(&store, |input| json!({"done": input})).await,
        2,
        "each execution's T1"
    );
    settle(&scheduler).await;
    assert_eq!(status(&store, &skip).await, ExecutionStatus::Succeeded);
    assert_eq!(
        answer(&store, |input| json!({"done": input})).await,
        1,
        "branch A's task"
    );
    settle(&scheduler).await;
    assert_eq!(answer(&store, |input| input).await, 0, "no task is left");

    let row = describe(&store, &go).await;
    assert_eq!(row.status, ExecutionStatus::Succeeded);
    let out = output(&row);
    assert_eq!(out["t1"], json!({"done": {"go": true, "items": [1, 2, 3]}}));
    assert_eq!(out["branches"], json!([{"done": [1, 2, 3]}, "b"]));
    assert_eq!(
        out["mapped"],
        json!([{"double": 2}, {"double": 4}, {"double": 6}])
    );
    let types = event_types(&store, &go).await;
    assert_eq!(types.first().map(String::as_str), Some("ExecutionStarted"));
    assert_eq!(types.last().map(String::as_str), Some("ExecutionSucceeded"));
    for (event, times) in [
        ("TaskScheduled", 2),
        ("TaskStarted", 2),
        ("TaskSucceeded", 2),
        ("ChoiceStateEntered", 1),
        ("ParallelStateSucceeded", 1),
        ("MapIterationSucceeded", 3),
        ("MapStateSucceeded", 1),
    ] {
        assert_eq!(count(&types, event), times, "{event}: {types:?}");
    }

    let skipped = describe(&store, &skip).await;
    assert_eq!(
        output(&skipped),
        json!({"go": false, "t1": {"done": {"go": false}}})
    );
    let types = event_types(&store, &skip).await;
    assert!(
        types.contains(&"SucceedStateEntered".to_string()),
        "{types:?}"
    );
    assert_eq!(count(&types, "ParallelStateEntered"), 0);
}

pub async fn a_wait_is_a_timer_and_stopping_cancels_a_year_long_one<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let machine = machine(
        &store,
        "wait",
        json!({"StartAt": "W", "States": {
            "W": {"Type": "Wait", "Seconds": 1, "Next": "Long"},
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
    assert!(due - chrono::Utc::now() <= chrono::Duration::seconds(1));
    assert_eq!(
        scheduler.tick().await.expect("tick"),
        0,
        "nothing is due yet"
    );
    assert_eq!(
        event_types(&store, &arn).await,
        ["ExecutionStarted", "WaitStateEntered"]
    );

    let events = wait_for_event(&store, &scheduler, &arn, "WaitStateExited").await;
    let exited = events
        .iter()
        .find(|e| e.event_type == "WaitStateExited")
        .expect("exited");
    assert!(
        exited.at >= due - chrono::Duration::milliseconds(1),
        "the timer fired at {} before its due time {due}",
        exited.at
    );
    // Now the year-long wait: pending, due in a year.
    let due = store
        .next_due()
        .await
        .expect("due")
        .expect("the long wait is pending");
    assert!(due - chrono::Utc::now() > chrono::Duration::days(364));
    assert!(due - chrono::Utc::now() <= chrono::Duration::days(365));
    assert_eq!(
        event_types(&store, &arn).await,
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
    assert_eq!(status(&store, &arn).await, ExecutionStatus::Aborted);
    assert_eq!(
        store.next_due().await.expect("due"),
        None,
        "the stop cancelled the timer"
    );
}

pub async fn retries_wait_their_interval_before_the_next_attempt<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let machine = machine(
        &store,
        "retry",
        json!({"StartAt": "T", "States": {"T": {
            "Type": "Task", "Resource": LAMBDA, "End": true,
            "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 2.0}]
        }}}),
    )
    .await;
    let arn = start(&store, &machine, "r", json!({"try": true})).await;
    settle(&scheduler).await;
    let first = lease_one(&store).await;
    assert_eq!(first.attempt, 0);
    let failed = Event::TaskFailed {
        task: first.task_id as u64,
        error: "Flaky".to_string(),
        cause: Some("try again".to_string()),
    };
    assert!(complete(&store, &first, failed).await);
    settle(&scheduler).await;
    assert_eq!(status(&store, &arn).await, ExecutionStatus::Running);
    let due = store
        .next_due()
        .await
        .expect("due")
        .expect("the back-off timer");
    assert!(due > chrono::Utc::now(), "the retry waits");
    assert!(lease(&store, "eager").await.is_empty(), "no attempt yet");

    let deadline = Instant::now() + PATIENCE;
    let second = loop {
        settle(&scheduler).await;
        let mut tasks = lease(&store, "contract-worker").await;
        if let Some(task) = tasks.pop() {
            break task;
        }
        assert!(Instant::now() < deadline, "the retry never came");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(second.attempt, 1);
    assert_eq!(input_of(&second), json!({"try": true}));
    assert!(complete(&store, &second, succeeded(&second, json!({"ok": 2}))).await);
    settle(&scheduler).await;
    let row = describe(&store, &arn).await;
    assert_eq!(row.status, ExecutionStatus::Succeeded);
    assert_eq!(output(&row), json!({"ok": 2}));

    let events = checked_history(&store, &arn).await;
    let types: Vec<String> = events.iter().map(|e| e.event_type.clone()).collect();
    assert_eq!(count(&types, "TaskScheduled"), 2, "{types:?}");
    assert_eq!(count(&types, "TaskFailed"), 1, "{types:?}");
    assert_eq!(count(&types, "TaskSucceeded"), 1, "{types:?}");
    let failed_at = events
        .iter()
        .find(|e| e.event_type == "TaskFailed")
        .map(|e| e.at)
        .expect("TaskFailed");
    let rescheduled_at = events
        .iter()
        .filter(|e| e.event_type == "TaskScheduled")
        .nth(1)
        .map(|e| e.at)
        .expect("the second TaskScheduled");
    assert!(
        rescheduled_at - failed_at >= chrono::Duration::milliseconds(990),
        "the retry came {} after the failure",
        rescheduled_at - failed_at
    );
}

pub async fn a_task_never_answered_times_out_with_states_timeout<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let machine = machine(
        &store,
        "timeout",
        json!({"StartAt": "T", "States": {"T": {
            "Type": "Task", "Resource": LAMBDA, "TimeoutSeconds": 1, "End": true}}}),
    )
    .await;
    let arn = start(&store, &machine, "slow", json!({})).await;
    settle(&scheduler).await;
    // A worker takes the task and never answers.
    let held = lease_one(&store).await;
    assert_eq!(held.timeout_seconds, Some(1));
    let row = wait_for_end(&store, &scheduler, &arn).await;
    assert_eq!(row.status, ExecutionStatus::Failed);
    assert_eq!(row.error.as_deref(), Some("States.Timeout"));
    let types = event_types(&store, &arn).await;
    assert_eq!(count(&types, "TaskTimedOut"), 1, "{types:?}");
    assert_eq!(types.last().map(String::as_str), Some("ExecutionFailed"));
    // The late answer finds the task gone.
    assert!(!complete(&store, &held, succeeded(&held, json!({}))).await);
    settle(&scheduler).await;
    assert_eq!(event_types(&store, &arn).await, types);
}

pub async fn concurrent_schedulers_never_apply_an_event_twice<S: Store>(store: S) {
    let machine = machine(
        &store,
        "race",
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": LAMBDA, "Next": "P"},
            "P": {"Type": "Pass", "End": true}}}),
    )
    .await;
    let mut arns = Vec::new();
    for i in 0..60 {
        arns.push(start(&store, &machine, &format!("e{i}"), json!({"i": i})).await);
    }
    let config = SchedulerConfig {
        batch_size: 8,
        ..SchedulerConfig::default()
    };
    let run = |store: S, machine: String| {
        let config = config.clone();
        tokio::spawn(async move {
            let scheduler = Scheduler::new(store.clone(), config);
            let deadline = Instant::now() + PATIENCE;
            loop {
                let advanced = scheduler.tick().await.expect("tick");
                let answered = answer(&store, |input| json!({"done": input})).await;
                if advanced == 0 && answered == 0 {
                    let running = store
                        .list_executions(
                            &ExecutionsOf::Machine(machine.clone()),
                            Some(ExecutionStatus::Running),
                            None,
                            None,
                            1,
                        )
                        .await
                        .expect("list");
                    if running.is_empty() {
                        return;
                    }
                    assert!(Instant::now() < deadline, "executions never finished");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        })
    };
    let (a, b, c) = tokio::join!(
        run(store.clone(), machine.clone()),
        run(store.clone(), machine.clone()),
        run(store.clone(), machine.clone())
    );
    a.expect("scheduler a");
    b.expect("scheduler b");
    c.expect("scheduler c");
    for (i, arn) in arns.iter().enumerate() {
        let types = event_types(&store, arn).await;
        let row = describe(&store, arn).await;
        assert_eq!(row.status, ExecutionStatus::Succeeded, "{arn}");
        assert_eq!(output(&row), json!({"done": {"i": i}}));
        for once in [
            "ExecutionStarted",
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "ExecutionSucceeded",
        ] {
            assert_eq!(count(&types, once), 1, "{arn} {once}: {types:?}");
        }
    }
}

pub async fn a_large_inline_map_joins_its_results_in_order<S: Store>(store: S) {
    let items = STORE_MAP_ITEMS_OVER as i64 + 44;
    let machine = machine(
        &store,
        "big",
        json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items",
            "MaxConcurrency": 40, "ResultPath": "$.doubled",
            "ItemSelector": {"n.$": "$$.Map.Item.Value.n", "index.$": "$$.Map.Item.Index"},
            "ItemProcessor": {"StartAt": "T", "States": {
                "T": {"Type": "Task", "Resource": LAMBDA, "Next": "Tag"},
                "Tag": {"Type": "Pass", "Parameters": {"n.$": "$.n", "at.$": "$.index"}, "End": true}}},
            "End": true}}}),
    )
    .await;
    let input: Vec<Value> = (0..items)
        .map(|i| json!({"n": i, "pad": "x".repeat(40)}))
        .collect();
    let arn = start(
        &store,
        &machine,
        "run",
        json!({"items": input, "keep": true}),
    )
    .await;
    // Two schedulers take turns: nothing of the Map may live in either.
    let schedulers = [scheduler(&store), scheduler(&store)];
    let double =
        |task: Value| json!({"n": task["n"].as_i64().unwrap_or(-1) * 2, "index": task["index"]});
    for turn in 0..10_000 {
        settle(&schedulers[turn % 2]).await;
        if answer(&store, double).await == 0 {
            break;
        }
    }
    let row = describe(&store, &arn).await;
    assert_eq!(row.status, ExecutionStatus::Succeeded, "{row:?}");
    let out = output(&row);
    let expected: Vec<Value> = (0..items).map(|i| json!({"n": 2 * i, "at": i})).collect();
    assert_eq!(out["doubled"], Value::Array(expected));
    assert_eq!(out["keep"], json!(true));
    assert_eq!(out["items"].as_array().map(Vec::len), Some(items as usize));
    let types = event_types(&store, &arn).await;
    assert_eq!(count(&types, "MapIterationStarted"), items as usize);
    assert_eq!(count(&types, "MapIterationSucceeded"), items as usize);
    assert_eq!(count(&types, "TaskSucceeded"), items as usize);
    assert_eq!(count(&types, "MapStateSucceeded"), 1);
}

/// A scheduler with a local worker starts the tasks it creates in the same advance: the
/// row is leased to that worker, `TaskStarted` is recorded once, the worker receives the
/// task once the advance committed, and no other worker can lease it while the lease
/// lasts. When it expires (the process died), another worker takes it over without a
/// second `TaskStarted`. Tasks beyond the worker's free slots are left for any worker.
pub async fn the_local_worker_gets_its_tasks_in_their_advance_and_they_survive_its_death<
    S: Store,
>(
    store: S,
) {
    let local = TaskLease {
        owner: "local-worker".to_string(),
        duration: Duration::from_secs(2),
    };
    // One slot: of two executions' first tasks, one is handed over, one is not.
    let (handoff, slots, mut tasks) = Handoff::new(local, 1);
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
    assert!(!handed.taken_over);
    assert_eq!(handed.state_name, "T");
    let started = |events: &[String]| events.iter().filter(|e| e.ends_with("Started")).count();
    let mine_events = event_types(&store, &mine).await;
    assert_eq!(
        mine_events.last().map(String::as_str),
        Some("LambdaFunctionStarted"),
        "the handed task started in its advance: {mine_events:?}"
    );
    let other_events = event_types(&store, &other).await;
    assert_eq!(
        other_events.last().map(String::as_str),
        Some("LambdaFunctionScheduled"),
        "the task without a slot waits for a lease: {other_events:?}"
    );

    // Another worker leases only the task that was not handed over.
    let leased = lease(&store, "other-worker").await;
    assert_eq!(
        leased.iter().map(|t| &t.execution_arn).collect::<Vec<_>>(),
        vec![&other]
    );
    // The local worker "dies": its slot is gone with it, and its lease runs out.
    drop((handed, slot));
    let deadline = Instant::now() + PATIENCE;
    let taken = loop {
        let taken = lease(&store, "other-worker").await;
        if !taken.is_empty() {
            break taken;
        }
        assert!(Instant::now() < deadline, "the lease never ran out");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].execution_arn, mine);
    assert!(taken[0].taken_over, "an expired lease is a takeover");

    let completions: Vec<Completion> = leased
        .into_iter()
        .chain(taken)
        .map(|task| Completion {
            event: succeeded(&task, json!({"ok": true})),
            task,
        })
        .collect();
    assert_eq!(
        store.complete_tasks(&completions).await.expect("complete"),
        [true, true]
    );
    settle(&scheduler).await;
    for arn in [&mine, &other] {
        let events = event_types(&store, arn).await;
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

pub async fn a_dropped_batch_changes_nothing_and_an_empty_plan_consumes_its_events<S: Store>(
    store: S,
) {
    let definition = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}});
    let machine = machine(&store, "claims", definition.clone()).await;
    let input = "{ \"x\": 1 }";
    let arn = cairn_store::testing::start(&store, &machine, "held", input).await;

    let batch = store.claim(10, &[]).await.expect("claim");
    assert_eq!(batch.claimed().len(), 1);
    let claimed = batch.claimed()[0].clone();
    assert_eq!(claimed.arn, arn);
    assert_eq!(claimed.name, "held");
    assert_eq!(claimed.state_machine_arn, machine);
    assert_eq!(claimed.role_arn, ROLE_ARN);
    assert_eq!(claimed.input, input);
    assert_eq!(claimed.events, [InboxEvent::Start]);
    assert_eq!(claimed.snapshot, None);
    assert_eq!(claimed.history_length, 0);
    assert_eq!(claimed.status, ExecutionStatus::Running);
    assert!(claimed.parent.is_none());
    let text = claimed
        .definition
        .as_deref()
        .expect("the definition's text");
    assert_eq!(
        serde_json::from_str::<Value>(text).expect("json"),
        definition
    );
    // While one batch holds the execution, another claim skips it.
    let other = store.claim(10, &[]).await.expect("claim");
    assert!(other.claimed().is_empty(), "a held execution is skipped");
    drop(other);
    drop(batch);

    // Dropped: nothing changed, the event is still due; a known definition is not sent.
    assert_eq!(describe(&store, &arn).await.history_length, 0);
    let due = store.next_due().await.expect("due").expect("still due");
    assert!(due <= chrono::Utc::now());
    // (A dropped batch lets go of its executions soon, not necessarily at once: a
    // database's rollback reaches the server after the drop.)
    let deadline = Instant::now() + PATIENCE;
    let again = loop {
        let batch = store
            .claim(10, &[claimed.definition_id])
            .await
            .expect("claim");
        if !batch.claimed().is_empty() {
            break batch;
        }
        drop(batch);
        assert!(Instant::now() < deadline, "the dropped batch never let go");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(again.claimed().len(), 1);
    assert_eq!(again.claimed()[0].events, [InboxEvent::Start]);
    assert_eq!(again.claimed()[0].definition_id, claimed.definition_id);
    assert_eq!(again.claimed()[0].definition, None, "known: not sent again");
    drop(again);

    let scheduler = scheduler(&store);
    let row = wait_for_end(&store, &scheduler, &arn).await;
    assert_eq!(row.status, ExecutionStatus::Succeeded);
    assert_eq!(output(&row), json!({"x": 1}));
    let types = event_types(&store, &arn).await;
    assert_eq!(count(&types, "ExecutionStarted"), 1, "{types:?}");
    assert_eq!(store.next_due().await.expect("due"), None);

    // A committed plan that says nothing still consumes the claimed events.
    let idle = cairn_store::testing::start(&store, &machine, "idle", "{}").await;
    let batch = store.claim(10, &[]).await.expect("claim");
    assert_eq!(batch.claimed().len(), 1);
    assert_eq!(batch.claimed()[0].arn, idle);
    let committed = batch
        .commit(vec![Plan::default()], None)
        .await
        .expect("commit");
    assert!(committed.leased.is_empty());
    assert!(store
        .claim(10, &[])
        .await
        .expect("claim")
        .claimed()
        .is_empty());
    assert_eq!(store.next_due().await.expect("due"), None);
    let row = describe(&store, &idle).await;
    assert_eq!(
        (row.status, row.history_length),
        (ExecutionStatus::Running, 0)
    );
}
