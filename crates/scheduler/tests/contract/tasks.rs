//! Task rows as workers see them: leases, takeovers, renewals, releases, and the
//! recording of outcomes and `.waitForTaskToken` submissions.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use cairn_asl::interpreter::Event;
use cairn_asl::ExecutionStatus;
use cairn_store::callbacks::{TokenAnswer, TokenOutcome};
use cairn_store::tasks::{Completion, LeasedTask};
use serde_json::{json, Value};

use super::common::*;

fn one_task(resource: &str, extra: Value) -> Value {
    let mut task = json!({"Type": "Task", "Resource": resource, "End": true});
    if let (Some(t), Some(extra)) = (task.as_object_mut(), extra.as_object()) {
        t.extend(extra.clone());
    }
    json!({"StartAt": "T", "States": {"T": task}})
}

/// Leases as `owner` until a task comes (its lease ran out), with a hang guard.
async fn lease_when_free<S: Store>(store: &S, owner: &str) -> Vec<LeasedTask> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let leased = store
            .lease_tasks(owner, 10, Duration::from_secs(30))
            .await
            .expect("lease");
        if !leased.is_empty() {
            return leased;
        }
        assert!(Instant::now() < deadline, "no lease ever ran out");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub async fn a_live_lease_is_exclusive_and_the_first_lease_records_task_started<S: Store>(
    store: S,
) {
    let scheduler = scheduler(&store);
    let machine = machine(
        &store,
        "leases",
        one_task(
            LAMBDA,
            json!({"TimeoutSeconds": 60, "HeartbeatSeconds": 10, "Parameters": {"n.$": "$.n"}}),
        ),
    )
    .await;
    let mut arns = Vec::new();
    for n in 0..3 {
        arns.push(
            start(
                &store,
                &machine,
                &format!("e{n}"),
                json!({"n": n, "x": "y"}),
            )
            .await,
        );
    }
    settle(&scheduler).await;
    assert_eq!(store.backlog().await.expect("backlog").tasks_waiting, 3);

    let first = store
        .lease_tasks("worker-a", 2, Duration::from_secs(30))
        .await
        .expect("lease");
    assert_eq!(first.len(), 2, "at most the limit");
    let rest = lease(&store, "worker-b").await;
    assert_eq!(rest.len(), 1, "the others are leased already");
    assert!(lease(&store, "worker-c").await.is_empty());
    let all: Vec<&LeasedTask> = first.iter().chain(&rest).collect();
    let ids: HashSet<i64> = all.iter().map(|t| t.id).collect();
    assert_eq!(ids.len(), 3, "each task once");
    let executions: HashSet<&str> = all.iter().map(|t| t.execution_arn.as_str()).collect();
    assert_eq!(
        executions,
        arns.iter().map(String::as_str).collect::<HashSet<&str>>()
    );
    for task in &all {
        let n: usize = task
            .execution_arn
            .rsplit('e')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("the execution's number");
        assert_eq!(input_of(task), json!({"n": n}), "the effective Parameters");
        assert_eq!(task.state_name, "T");
        assert_eq!(task.resource, LAMBDA);
        assert_eq!(task.timeout_seconds, Some(60));
        assert_eq!(task.heartbeat_seconds, Some(10));
        assert_eq!(task.attempt, 0);
        assert!(!task.taken_over);
    }
    let backlog = store.backlog().await.expect("backlog");
    assert_eq!((backlog.tasks_waiting, backlog.tasks_leased), (0, 3));

    settle(&scheduler).await;
    for arn in &arns {
        let types = event_types(&store, arn).await;
        assert_eq!(
            types.last().map(String::as_str),
            Some("TaskStarted"),
            "{types:?}"
        );
        assert_eq!(count(&types, "TaskStarted"), 1);
    }
    // Answering every task ends every execution, each with its own output.
    let completions: Vec<Completion> = all
        .iter()
        .map(|task| Completion {
            task: (*task).clone(),
            event: succeeded(task, json!({"from": task.execution_arn})),
        })
        .collect();
    assert_eq!(
        store.complete_tasks(&completions).await.expect("complete"),
        [true, true, true]
    );
    settle(&scheduler).await;
    for arn in &arns {
        let row = describe(&store, arn).await;
        assert_eq!(row.status, ExecutionStatus::Succeeded);
        assert_eq!(output(&row), json!({"from": arn}));
        assert_eq!(count(&event_types(&store, arn).await, "TaskStarted"), 1);
    }
    assert!(lease(&store, "worker-d").await.is_empty(), "no rows left");
}

pub async fn an_expired_lease_is_taken_over_and_a_released_one_is_not<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let machine = machine(&store, "takeover", one_task(LAMBDA, json!({}))).await;
    let arn = start(&store, &machine, "one", json!({})).await;
    settle(&scheduler).await;

    let first = store
        .lease_tasks("worker-a", 10, Duration::from_millis(600))
        .await
        .expect("lease");
    assert_eq!(first.len(), 1);
    assert!(!first[0].taken_over, "a first lease takes nothing over");
    // While the lease is live nobody else gets the task.
    assert!(lease(&store, "worker-b").await.is_empty());
    let second = lease_when_free(&store, "worker-b").await;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].id, first[0].id);
    assert!(second[0].taken_over, "worker-a's lease had expired");

    // A lease given back at a graceful stop is not taken over: it was released.
    assert_eq!(store.release_leases("worker-b").await.expect("release"), 1);
    assert_eq!(store.release_leases("worker-b").await.expect("release"), 0);
    assert_eq!(store.release_leases("worker-a").await.expect("release"), 0);
    let third = lease(&store, "worker-c").await;
    assert_eq!(third.len(), 1);
    assert!(!third[0].taken_over, "a released lease is not a takeover");

    // The first worker to record an outcome wins; the stale one is dropped.
    assert!(complete(&store, &third[0], succeeded(&third[0], json!({"by": "c"}))).await);
    assert!(!complete(&store, &first[0], succeeded(&first[0], json!({"by": "a"}))).await);
    settle(&scheduler).await;
    let row = describe(&store, &arn).await;
    assert_eq!(output(&row), json!({"by": "c"}));
    let types = event_types(&store, &arn).await;
    assert_eq!(count(&types, "TaskStarted"), 1, "started once: {types:?}");
    assert_eq!(count(&types, "TaskSucceeded"), 1);
}

pub async fn renewing_keeps_a_lease_alive_past_its_first_expiry<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let machine = machine(&store, "renew", one_task(LAMBDA, json!({}))).await;
    let kept = start(&store, &machine, "kept", json!({})).await;
    let lapsed = start(&store, &machine, "lapsed", json!({})).await;
    settle(&scheduler).await;

    let leased = store
        .lease_tasks("worker-a", 10, Duration::from_millis(500))
        .await
        .expect("lease");
    assert_eq!(leased.len(), 2);
    let task = |arn: &str| {
        leased
            .iter()
            .find(|t| t.execution_arn == arn)
            .cloned()
            .expect("leased")
    };
    let (kept_task, lapsed_task) = (task(&kept), task(&lapsed));
    store
        .renew_leases("worker-a", &[kept_task.id], Duration::from_secs(10))
        .await
        .expect("renew");
    // Only the holder renews: another worker's renewal changes nothing.
    store
        .renew_leases("worker-b", &[lapsed_task.id], Duration::from_secs(10))
        .await
        .expect("renew");

    // Both leases would have run out together; only the renewed one is still held.
    let taken = lease_when_free(&store, "worker-b").await;
    assert_eq!(
        taken.iter().map(|t| t.id).collect::<Vec<_>>(),
        [lapsed_task.id]
    );
    assert!(taken[0].taken_over);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        lease(&store, "worker-c").await.is_empty(),
        "the renewed lease is live past its first expiry"
    );
    assert_eq!(store.backlog().await.expect("backlog").tasks_leased, 2);
    assert!(complete(&store, &kept_task, succeeded(&kept_task, json!({}))).await);
    settle(&scheduler).await;
    assert_eq!(status(&store, &kept).await, ExecutionStatus::Succeeded);
}

pub async fn completing_a_cancelled_or_completed_task_records_nothing<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let machine = machine(&store, "gone", one_task(LAMBDA, json!({}))).await;
    let stopped = start(&store, &machine, "stopped", json!({})).await;
    let live = start(&store, &machine, "live", json!({})).await;
    settle(&scheduler).await;
    let leased = lease(&store, "worker").await;
    assert_eq!(leased.len(), 2);
    let of = |arn: &str| {
        leased
            .iter()
            .find(|t| t.execution_arn == arn)
            .cloned()
            .expect("leased")
    };
    let (stopped_task, live_task) = (of(&stopped), of(&live));

    store
        .stop_execution(&stopped, None, Some("cancelled"))
        .await
        .expect("stop");
    settle(&scheduler).await;
    assert_eq!(status(&store, &stopped).await, ExecutionStatus::Aborted);
    let stopped_types = event_types(&store, &stopped).await;

    // One call, one flag per completion in order: the cancelled task's outcome is dropped.
    let completions = [
        Completion {
            event: succeeded(&stopped_task, json!({"late": true})),
            task: stopped_task.clone(),
        },
        Completion {
            event: succeeded(&live_task, json!({"ok": true})),
            task: live_task.clone(),
        },
    ];
    assert_eq!(
        store.complete_tasks(&completions).await.expect("complete"),
        [false, true]
    );
    assert_eq!(
        store.complete_tasks(&completions).await.expect("complete"),
        [false, false],
        "a completed task completes once"
    );
    assert_eq!(
        store.complete_tasks(&[]).await.expect("complete"),
        Vec::<bool>::new()
    );
    settle(&scheduler).await;
    assert_eq!(event_types(&store, &stopped).await, stopped_types);
    let row = describe(&store, &live).await;
    assert_eq!(row.status, ExecutionStatus::Succeeded);
    assert_eq!(output(&row), json!({"ok": true}));
    assert_eq!(count(&event_types(&store, &live).await, "TaskSucceeded"), 1);
}

pub async fn a_wait_for_task_token_submission_then_its_token_ends_the_task<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let machine = machine(
        &store,
        "submit",
        one_task(
            CALLBACK,
            json!({"Parameters": {"token.$": "$$.Task.Token", "order.$": "$.order"}, "ResultPath": "$.approval"}),
        ),
    )
    .await;
    let accepted = start(&store, &machine, "accepted", json!({"order": 1})).await;
    let refused = start(&store, &machine, "refused", json!({"order": 2})).await;
    settle(&scheduler).await;
    let leased = lease(&store, "worker").await;
    assert_eq!(leased.len(), 2);
    let of = |arn: &str| {
        leased
            .iter()
            .find(|t| t.execution_arn == arn)
            .cloned()
            .expect("leased")
    };
    let (task, refused_task) = (of(&accepted), of(&refused));
    let token = input_of(&task)["token"]
        .as_str()
        .expect("the task's input carries its token")
        .to_string();
    assert_eq!(input_of(&task)["order"], json!(1));
    assert_eq!(
        store.token_state(&token).await.expect("state"),
        TokenOutcome::Done
    );

    // The invocation answered: the task is submitted and waits for its token.
    let invoked = succeeded(&task, json!({"accepted": true}));
    assert!(store
        .record_submission(&task, &invoked)
        .await
        .expect("submit"));
    assert!(
        !store
            .record_submission(&task, &invoked)
            .await
            .expect("submit"),
        "a submission is recorded once"
    );
    settle(&scheduler).await;
    assert_eq!(status(&store, &accepted).await, ExecutionStatus::Running);
    let events = checked_history(&store, &accepted).await;
    assert_eq!(
        events.last().map(|e| e.event_type.as_str()),
        Some("TaskSubmitted")
    );
    let submitted: Value = serde_json::from_str(
        details(&events, "TaskSubmitted")["output"]
            .as_str()
            .expect("output text"),
    )
    .expect("json");
    assert_eq!(submitted, json!({"accepted": true}));
    assert!(
        lease(&store, "worker").await.is_empty(),
        "a submitted task is no worker's"
    );

    assert_eq!(
        store
            .complete_by_token(&token, TokenAnswer::Success(json!({"approved": true})))
            .await
            .expect("complete"),
        TokenOutcome::Done
    );
    settle(&scheduler).await;
    let row = describe(&store, &accepted).await;
    assert_eq!(row.status, ExecutionStatus::Succeeded);
    assert_eq!(
        output(&row),
        json!({"order": 1, "approval": {"approved": true}})
    );
    assert_eq!(
        event_types(&store, &accepted).await,
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskSubmitted",
            "TaskSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded"
        ]
    );

    // The invocation failed: the task fails at once and its token closes.
    let refused_token = input_of(&refused_task)["token"]
        .as_str()
        .expect("token")
        .to_string();
    assert_ne!(refused_token, token, "each task its own token");
    let failure = Event::TaskFailed {
        task: refused_task.task_id as u64,
        error: "Refused".to_string(),
        cause: Some("no".to_string()),
    };
    assert!(store
        .record_submission(&refused_task, &failure)
        .await
        .expect("submit"));
    assert_eq!(
        store.token_state(&refused_token).await.expect("state"),
        TokenOutcome::Closed
    );
    settle(&scheduler).await;
    let row = describe(&store, &refused).await;
    assert_eq!(row.status, ExecutionStatus::Failed);
    assert_eq!(row.error.as_deref(), Some("Refused"));
    assert_eq!(row.cause.as_deref(), Some("no"));
    let types = event_types(&store, &refused).await;
    assert_eq!(count(&types, "TaskSubmitted"), 0, "{types:?}");
    assert_eq!(count(&types, "TaskFailed"), 1, "{types:?}");
    assert_eq!(
        store
            .complete_by_token(&refused_token, TokenAnswer::Success(json!({})))
            .await
            .expect("complete"),
        TokenOutcome::Closed
    );
}
