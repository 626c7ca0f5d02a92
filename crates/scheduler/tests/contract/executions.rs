//! Executions as the API sees them: StartExecution's answers, DescribeExecution,
//! ListExecutions, GetExecutionHistory and StopExecution.

use std::collections::HashSet;

use cairn_asl::ExecutionStatus;
use cairn_store::catalog::MachineType;
use cairn_store::executions::{ExecutionCursor, ExecutionSummary, ExecutionsOf, NewExecution};
use cairn_store::testing::{self, new_execution, ROLE_ARN};
use cairn_store::time::to_micros;
use cairn_store::{StoreError, Time};
use serde_json::{json, Value};

use super::common::*;

fn pass() -> Value {
    json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}})
}

fn long_wait() -> Value {
    json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 300, "End": true}}})
}

/// A start of `name` at `started_at`.
fn start_at(machine: &str, name: &str, input: &str, started_at: Time) -> NewExecution {
    NewExecution {
        started_at,
        ..new_execution(machine, name, input)
    }
}

/// A time with nanoseconds, which no store keeps.
fn with_nanos(time: Time) -> Time {
    to_micros(time) + chrono::Duration::nanoseconds(789)
}

pub async fn start_creates_then_repeats_only_while_running_with_the_same_input<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let machine = machine(&store, "starts", long_wait()).await;
    let input = "{ \"b\": 1,\n  \"a\": [1, 2] }";
    let at = with_nanos(chrono::Utc::now());
    let request = start_at(&machine, "first", input, at);
    let started = store
        .start_execution(&request)
        .await
        .expect("start")
        .expect("a STANDARD machine");
    assert!(started.created);
    assert_eq!(started.arn, request.arn);
    assert_eq!(
        started.started_at,
        to_micros(at),
        "start times are kept to the microsecond"
    );

    // The same name and input while it runs: the running execution, as first started.
    let later = start_at(&machine, "first", input, at + chrono::Duration::seconds(5));
    let repeat = store
        .start_execution(&later)
        .await
        .expect("an idempotent start")
        .expect("a STANDARD machine");
    assert!(!repeat.created);
    assert_eq!(repeat.arn, started.arn);
    assert_eq!(repeat.started_at, started.started_at);
    settle(&scheduler).await;
    let again = store
        .start_execution(&later)
        .await
        .expect("still idempotent once it has advanced")
        .expect("a STANDARD machine");
    assert_eq!(
        (again.created, again.started_at),
        (false, started.started_at)
    );

    // Another input, even one that is the same JSON written otherwise: refused.
    for other in [r#"{"b":1,"a":[1,2]}"#, r#"{"c": 3}"#] {
        let refused = store
            .start_execution(&new_execution(&machine, "first", other))
            .await;
        assert!(
            matches!(&refused, Err(StoreError::ExecutionAlreadyExists(arn)) if *arn == started.arn),
            "{other}: {refused:?}"
        );
    }
    assert_eq!(
        store
            .list_executions(
                &ExecutionsOf::Machine(machine.clone()),
                None,
                None,
                None,
                10
            )
            .await
            .expect("list")
            .len(),
        1,
        "no second execution"
    );

    // Starts of one new name at once: one creates it, the others are told it runs.
    let racers: Vec<_> = (0..6)
        .map(|_| {
            let store = store.clone();
            let request = new_execution(&machine, "raced", "{}");
            tokio::spawn(async move { store.start_execution(&request).await })
        })
        .collect();
    let mut created = 0;
    let mut times = HashSet::new();
    for racer in racers {
        let started = racer
            .await
            .expect("task")
            .expect("started")
            .expect("machine");
        assert_eq!(started.arn, execution_arn(&machine, "raced"));
        created += usize::from(started.created);
        times.insert(started.started_at);
    }
    assert_eq!(created, 1, "created exactly once");
    assert_eq!(times.len(), 1, "every answer has the one start date");
    assert_eq!(
        store
            .list_executions(
                &ExecutionsOf::Machine(machine.clone()),
                None,
                None,
                None,
                10
            )
            .await
            .expect("list")
            .len(),
        2
    );

    // Once it has ended, its name is taken for good, whatever the input.
    store
        .stop_execution(&started.arn, None, None)
        .await
        .expect("stop");
    settle(&scheduler).await;
    assert_eq!(status(&store, &started.arn).await, ExecutionStatus::Aborted);
    let ended = store
        .start_execution(&new_execution(&machine, "first", input))
        .await;
    assert!(
        matches!(&ended, Err(StoreError::ExecutionAlreadyExists(arn)) if *arn == started.arn),
        "{ended:?}"
    );

    // A succeeded execution's name too.
    let quick = machine_named(&store, "quick").await;
    let arn = testing::start(&store, &quick, "done", "{}").await;
    settle(&scheduler).await;
    assert_eq!(status(&store, &arn).await, ExecutionStatus::Succeeded);
    let refused = store
        .start_execution(&new_execution(&quick, "done", "{}"))
        .await;
    assert!(
        matches!(refused, Err(StoreError::ExecutionAlreadyExists(_))),
        "{refused:?}"
    );
}

async fn machine_named<S: Store>(store: &S, name: &str) -> String {
    machine(store, name, pass()).await
}

pub async fn start_answers_none_for_a_missing_or_express_machine<S: Store>(store: S) {
    let missing = format!("{}:stateMachine:nobody", testing::ARN_PREFIX);
    let answer = store
        .start_execution(&new_execution(&missing, "e", "{}"))
        .await
        .expect("no error");
    assert_eq!(answer, None);

    let express = testing::machine_spec("fast", MachineType::Express, &pass().to_string());
    store
        .create_state_machine(&express)
        .await
        .expect("an EXPRESS machine");
    let answer = store
        .start_execution(&new_execution(&express.arn, "e", "{}"))
        .await
        .expect("no error");
    assert_eq!(answer, None, "EXPRESS executions are not stored");
    assert!(store
        .list_executions(
            &ExecutionsOf::Machine(express.arn.clone()),
            None,
            None,
            None,
            10
        )
        .await
        .expect("list")
        .is_empty());
    let arn = execution_arn(&express.arn, "e");
    assert!(matches!(
        store.describe_execution(&arn).await,
        Err(StoreError::ExecutionDoesNotExist(_))
    ));
    assert_eq!(
        store.next_due().await.expect("next due"),
        None,
        "nothing was queued"
    );
}

pub async fn describe_shows_the_input_exactly_and_the_history_length<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let definition = pass().to_string();
    let machine = testing::create_machine(&store, "described", &definition).await;
    let input = "{\n  \"zebra\": 1,   \"apple\": {\"x\" : [true, null]} }";
    let at = with_nanos(chrono::Utc::now());
    let started = store
        .start_execution(&start_at(&machine, "one", input, at))
        .await
        .expect("start")
        .expect("a STANDARD machine");

    let before = describe(&store, &started.arn).await;
    assert_eq!(before.arn, started.arn);
    assert_eq!(before.state_machine_arn, machine);
    assert_eq!(before.name, "one");
    assert_eq!(before.status, ExecutionStatus::Running);
    assert_eq!(before.input, input, "the input exactly as it was sent");
    assert_eq!(before.started_at, to_micros(at));
    assert_eq!(
        (before.output, before.error, before.cause, before.stopped_at),
        (None, None, None, None)
    );
    assert_eq!(before.history_length, 0, "nothing has run yet");
    assert_eq!(
        store
            .history_page(&started.arn, None, 100, false)
            .await
            .expect("history"),
        Some(Vec::new())
    );

    let definition_row = store
        .execution_definition(&started.arn)
        .await
        .expect("definition")
        .expect("the execution's definition");
    assert_eq!(definition_row.arn, started.arn);
    assert_eq!(definition_row.state_machine_arn, machine);
    assert_eq!(definition_row.role_arn, ROLE_ARN);
    assert_eq!(definition_row.definition, definition);
    assert_eq!(definition_row.started_at, to_micros(at));
    let unknown = execution_arn(&machine, "nobody");
    assert!(store
        .execution_definition(&unknown)
        .await
        .expect("lookup")
        .is_none());

    settle(&scheduler).await;
    let after = describe(&store, &started.arn).await;
    assert_eq!(after.status, ExecutionStatus::Succeeded);
    assert_eq!(
        after.input, input,
        "the input is kept as sent after the run"
    );
    let out = output(&after);
    assert_eq!(out, serde_json::from_str::<Value>(input).expect("json"));
    let stopped = after.stopped_at.expect("a stop date");
    assert!(stopped >= after.started_at);
    let events = checked_history(&store, &started.arn).await;
    assert_eq!(after.history_length, 4, "{events:?}");
    let started_details = details(&events, "ExecutionStarted");
    // The interpreter writes the event (the same for every store): the same JSON.
    let recorded: Value = serde_json::from_str(
        started_details["input"]
            .as_str()
            .expect("the input as text"),
    )
    .expect("json");
    assert_eq!(
        recorded,
        serde_json::from_str::<Value>(input).expect("json")
    );
    assert_eq!(started_details["roleArn"], json!(ROLE_ARN));
    assert_eq!(
        events.last().map(|e| e.event_type.as_str()),
        Some("ExecutionSucceeded")
    );

    match store.describe_execution(&unknown).await {
        Err(StoreError::ExecutionDoesNotExist(arn)) => assert_eq!(arn, unknown),
        other => panic!("an unknown execution: {other:?}"),
    }
}

/// Every page of `machine`'s executions with `status`, `limit` at a time.
async fn every_page<S: Store>(
    store: &S,
    machine: &str,
    status: Option<ExecutionStatus>,
    limit: i64,
) -> Vec<ExecutionSummary> {
    let mut all: Vec<ExecutionSummary> = Vec::new();
    let mut cursor: Option<ExecutionCursor> = None;
    for _ in 0..100 {
        let page = store
            .list_executions(
                &ExecutionsOf::Machine(machine.to_string()),
                status,
                None,
                cursor.as_ref(),
                limit,
            )
            .await
            .expect("list");
        assert!(page.len() as i64 <= limit, "a page holds at most its limit");
        let Some(last) = page.last() else {
            return all;
        };
        cursor = Some(ExecutionCursor {
            started_at: last.started_at,
            arn: last.arn.clone(),
        });
        all.extend(page);
    }
    panic!("the pages never ended");
}

fn names(executions: &[ExecutionSummary]) -> Vec<&str> {
    executions.iter().map(|e| e.name.as_str()).collect()
}

pub async fn list_is_newest_first_filtered_and_paged_without_gaps<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let other = machine(&store, "other", pass()).await;
    let machine = machine(&store, "lister", pass()).await;
    let base = with_nanos(chrono::Utc::now() - chrono::Duration::hours(1));
    let second = |n: i64| base + chrono::Duration::seconds(n);
    // Three starts in one microsecond: ordered by ARN among themselves.
    for (name, at) in [
        ("e1", second(0)),
        ("e2", second(1)),
        ("e4", second(2)),
        ("e3", second(2)),
    ] {
        store
            .start_execution(&start_at(&machine, name, "{}", at))
            .await
            .expect("start")
            .expect("machine");
    }
    store
        .start_execution(&start_at(&other, "elsewhere", "{}", second(2)))
        .await
        .expect("start")
        .expect("machine");
    settle(&scheduler).await;
    // Two that stay RUNNING: not advanced yet.
    for (name, at) in [("e5", second(2)), ("e6", second(3))] {
        store
            .start_execution(&start_at(&machine, name, "{}", at))
            .await
            .expect("start")
            .expect("machine");
    }

    let expected = ["e6", "e5", "e4", "e3", "e2", "e1"];
    let all = store
        .list_executions(
            &ExecutionsOf::Machine(machine.clone()),
            None,
            None,
            None,
            100,
        )
        .await
        .expect("list");
    assert_eq!(names(&all), expected, "newest first, then by ARN");
    for summary in &all {
        assert_eq!(summary.state_machine_arn, machine);
        assert_eq!(summary.arn, execution_arn(&machine, &summary.name));
        let record = describe(&store, &summary.arn).await;
        assert_eq!(summary.started_at, record.started_at);
        assert_eq!(summary.stopped_at, record.stopped_at);
        assert_eq!(summary.status, record.status);
    }
    assert_eq!(all[2].started_at, to_micros(second(2)));
    for limit in [1, 2, 4] {
        let paged = every_page(&store, &machine, None, limit).await;
        assert_eq!(names(&paged), expected, "pages of {limit}");
        let distinct: HashSet<&str> = paged.iter().map(|e| e.arn.as_str()).collect();
        assert_eq!(distinct.len(), expected.len(), "no duplicates");
    }

    let running = every_page(&store, &machine, Some(ExecutionStatus::Running), 1).await;
    assert_eq!(names(&running), ["e6", "e5"]);
    assert!(running.iter().all(|e| e.stopped_at.is_none()));
    let done = every_page(&store, &machine, Some(ExecutionStatus::Succeeded), 3).await;
    assert_eq!(names(&done), ["e4", "e3", "e2", "e1"]);
    assert!(done.iter().all(|e| e.stopped_at.is_some()));
    for status in [ExecutionStatus::Failed, ExecutionStatus::Aborted] {
        assert!(store
            .list_executions(
                &ExecutionsOf::Machine(machine.clone()),
                Some(status),
                None,
                None,
                10
            )
            .await
            .expect("list")
            .is_empty());
    }
    assert_eq!(
        names(&every_page(&store, &other, None, 1).await),
        ["elsewhere"]
    );
    let nobody = format!("{}:stateMachine:nobody", testing::ARN_PREFIX);
    assert!(every_page(&store, &nobody, None, 10).await.is_empty());
}

pub async fn history_pages_forward_and_backward_across_advances<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    // A task in the middle: the history is written by several advances.
    let machine = machine(
        &store,
        "pages",
        json!({"StartAt": "A", "States": {
            "A": {"Type": "Pass", "Next": "B"},
            "B": {"Type": "Pass", "Next": "T"},
            "T": {"Type": "Task", "Resource": LAMBDA, "Next": "C"},
            "C": {"Type": "Pass", "Next": "D"},
            "D": {"Type": "Pass", "End": true}
        }}),
    )
    .await;
    let arn = start(&store, &machine, "paged", json!({"k": "v"})).await;
    drive(&store, &scheduler, |input| input).await;
    assert_eq!(status(&store, &arn).await, ExecutionStatus::Succeeded);
    let full = checked_history(&store, &arn).await;
    let n = full.len() as i64;
    assert!(n >= 14, "{full:?}");
    assert_eq!(full[0].event_type, "ExecutionStarted");
    assert_eq!(full[0].previous_event_id, 0);
    assert!(full.windows(2).all(|w| w[0].at <= w[1].at), "times ascend");

    let ids = |events: &[cairn_store::executions::StoredEvent]| -> Vec<i64> {
        events.iter().map(|e| e.id).collect()
    };
    for limit in [1, 3, 5] {
        let mut forward = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .history_page(&arn, after, limit, false)
                .await
                .expect("page")
                .expect("the execution exists");
            assert!(page.len() as i64 <= limit);
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            forward.extend(page);
        }
        assert_eq!(forward, full, "forward pages of {limit}");

        let mut backward = Vec::new();
        let mut before = None;
        loop {
            let page = store
                .history_page(&arn, before, limit, true)
                .await
                .expect("page")
                .expect("the execution exists");
            assert!(page.len() as i64 <= limit);
            let Some(last) = page.last() else { break };
            before = Some(last.id);
            backward.extend(page);
        }
        backward.reverse();
        assert_eq!(backward, full, "reverse pages of {limit}");
    }
    let middle = store
        .history_page(&arn, Some(4), 3, false)
        .await
        .expect("page")
        .expect("exists");
    assert_eq!(ids(&middle), [5, 6, 7]);
    let middle = store
        .history_page(&arn, Some(8), 3, true)
        .await
        .expect("page")
        .expect("exists");
    assert_eq!(ids(&middle), [7, 6, 5]);
    let last = store
        .history_page(&arn, None, 2, true)
        .await
        .expect("page")
        .expect("exists");
    assert_eq!(ids(&last), [n, n - 1]);
    assert_eq!(last[0].event_type, "ExecutionSucceeded");
    for (after, reverse) in [(Some(n), false), (Some(1), true)] {
        assert_eq!(
            store
                .history_page(&arn, after, 10, reverse)
                .await
                .expect("page"),
            Some(Vec::new())
        );
    }

    let unknown = execution_arn(&machine, "nobody");
    for reverse in [false, true] {
        assert_eq!(
            store
                .history_page(&unknown, None, 10, reverse)
                .await
                .expect("page"),
            None
        );
    }
}

pub async fn stop_aborts_a_running_execution_and_is_a_no_op_once_ended<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let waiting = machine(&store, "stoppable", long_wait()).await;
    let arn = start(&store, &waiting, "halt", json!({})).await;
    settle(&scheduler).await;
    assert_eq!(status(&store, &arn).await, ExecutionStatus::Running);
    assert!(store.next_due().await.expect("due").is_some(), "the Wait");

    store
        .stop_execution(&arn, Some("Operator.Stop"), Some("enough waiting"))
        .await
        .expect("stop");
    settle(&scheduler).await;
    let stopped = describe(&store, &arn).await;
    assert_eq!(stopped.status, ExecutionStatus::Aborted);
    assert_eq!(stopped.error.as_deref(), Some("Operator.Stop"));
    assert_eq!(stopped.cause.as_deref(), Some("enough waiting"));
    assert_eq!(stopped.output, None);
    assert!(stopped.stopped_at.is_some());
    let events = checked_history(&store, &arn).await;
    assert_eq!(
        events.last().map(|e| e.event_type.as_str()),
        Some("ExecutionAborted")
    );
    let aborted = details(&events, "ExecutionAborted");
    assert_eq!(aborted["error"], "Operator.Stop");
    assert_eq!(aborted["cause"], "enough waiting");
    assert_eq!(
        store.next_due().await.expect("due"),
        None,
        "the Wait's timer went with the execution"
    );

    // Once ended, a stop changes nothing and queues nothing.
    store
        .stop_execution(&arn, Some("Again"), None)
        .await
        .expect("a no-op");
    assert_eq!(store.next_due().await.expect("due"), None);
    assert_eq!(scheduler.tick().await.expect("tick"), 0);
    let after = describe(&store, &arn).await;
    assert_eq!(after.error.as_deref(), Some("Operator.Stop"));
    assert_eq!(after.history_length, stopped.history_length);

    let quick = machine(&store, "quick", pass()).await;
    let done = start(&store, &quick, "done", json!({})).await;
    settle(&scheduler).await;
    store
        .stop_execution(&done, None, None)
        .await
        .expect("a no-op");
    settle(&scheduler).await;
    assert_eq!(status(&store, &done).await, ExecutionStatus::Succeeded);

    let unknown = execution_arn(&waiting, "nobody");
    match store.stop_execution(&unknown, None, None).await {
        Err(StoreError::ExecutionDoesNotExist(arn)) => assert_eq!(arn, unknown),
        other => panic!("stopping an unknown execution: {other:?}"),
    }
}
