//! Task tokens as `SendTaskSuccess`/`SendTaskFailure`/`SendTaskHeartbeat` use them, and
//! the activity queue `GetActivityTask` takes from.

use std::sync::Arc;
use std::time::Duration;

use cairn_asl::ExecutionStatus;
use cairn_store::callbacks::{TokenAnswer, TokenOutcome};
use cairn_store::tasks::LeasedTask;
use cairn_store::testing::ARN_PREFIX;
use serde_json::{json, Value};

use super::common::*;

/// One `.waitForTaskToken` task whose Parameters carry the token, with `extra` fields;
/// its Catch takes `Rejected` only.
fn callback_machine(extra: Value) -> Value {
    let mut task = json!({
        "Type": "Task",
        "Resource": CALLBACK,
        "Parameters": {"token.$": "$$.Task.Token", "order.$": "$.order"},
        "ResultPath": "$.approval",
        "Catch": [{"ErrorEquals": ["Rejected"], "ResultPath": "$.problem", "Next": "Handled"}],
        "End": true
    });
    if let (Some(t), Some(extra)) = (task.as_object_mut(), extra.as_object()) {
        t.extend(extra.clone());
    }
    json!({"StartAt": "Notify", "States": {
        "Notify": task,
        "Handled": {"Type": "Pass", "End": true}
    }})
}

fn activity_machine(activity: &str, extra: Value) -> Value {
    let mut task =
        json!({"Type": "Task", "Resource": activity, "ResultPath": "$.result", "End": true});
    if let (Some(t), Some(extra)) = (task.as_object_mut(), extra.as_object()) {
        t.extend(extra.clone());
    }
    json!({"StartAt": "Work", "States": {"Work": task}})
}

/// The token `arn`'s task was scheduled with, as its `TaskScheduled` parameters show it.
async fn scheduled_token<S: Store>(store: &S, arn: &str) -> String {
    let events = checked_history(store, arn).await;
    let parameters = details(&events, "TaskScheduled")["parameters"]
        .as_str()
        .expect("parameters text")
        .to_string();
    let parameters: Value = serde_json::from_str(&parameters).expect("json");
    parameters["token"].as_str().expect("a token").to_string()
}

fn token_of(task: &LeasedTask) -> String {
    input_of(task)["token"]
        .as_str()
        .expect("the task's input carries its token")
        .to_string()
}

/// Leases every due task and records each invocation as accepted: they then wait for
/// their tokens, which are returned in the order of `arns` (one task each).
async fn submitted<S: Store>(store: &S, arns: &[&str]) -> Vec<String> {
    let tasks = lease(store, "worker").await;
    assert_eq!(tasks.len(), arns.len(), "one task each: {tasks:?}");
    let mut tokens = Vec::new();
    for arn in arns {
        let task = tasks
            .iter()
            .find(|t| t.execution_arn == *arn)
            .expect("the execution's task");
        let event = succeeded(task, json!({"accepted": true}));
        assert!(store
            .record_submission(task, &event)
            .await
            .expect("submission"));
        tokens.push(token_of(task));
    }
    tokens
}

async fn complete_by<S: Store>(store: &S, token: &str, answer: TokenAnswer) -> TokenOutcome {
    store
        .complete_by_token(token, answer)
        .await
        .expect("complete by token")
}

async fn heartbeat<S: Store>(store: &S, token: &str) -> TokenOutcome {
    store.heartbeat_by_token(token).await.expect("heartbeat")
}

async fn token_state<S: Store>(store: &S, token: &str) -> TokenOutcome {
    store.token_state(token).await.expect("token state")
}

fn rejected() -> TokenAnswer {
    TokenAnswer::Failure {
        error: "Rejected".to_string(),
        cause: Some("out of stock".to_string()),
    }
}

pub async fn tokens_complete_once_with_success_or_a_caught_failure<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let machine = machine(&store, "tokens", callback_machine(json!({}))).await;
    let yes = start(&store, &machine, "yes", json!({"order": 1})).await;
    let no = start(&store, &machine, "no", json!({"order": 2})).await;
    let boom = start(&store, &machine, "boom", json!({"order": 3})).await;
    settle(&scheduler).await;
    let tokens = submitted(&store, &[&yes, &no, &boom]).await;
    let (yes_token, no_token, boom_token) =
        (tokens[0].clone(), tokens[1].clone(), tokens[2].clone());
    assert_eq!(
        yes_token,
        scheduled_token(&store, &yes).await,
        "the token is the one $$.Task.Token gave the task"
    );
    settle(&scheduler).await;
    for token in [&yes_token, &no_token, &boom_token] {
        assert_eq!(token_state(&store, token).await, TokenOutcome::Done);
    }

    let random = random_token();
    assert_eq!(token_state(&store, &random).await, TokenOutcome::Unknown);
    assert_eq!(
        complete_by(&store, &random, TokenAnswer::Success(json!({}))).await,
        TokenOutcome::Unknown
    );
    assert_eq!(heartbeat(&store, &random).await, TokenOutcome::Unknown);

    assert_eq!(
        complete_by(
            &store,
            &yes_token,
            TokenAnswer::Success(json!({"approved": true}))
        )
        .await,
        TokenOutcome::Done
    );
    assert_eq!(token_state(&store, &yes_token).await, TokenOutcome::Closed);
    assert_eq!(
        complete_by(&store, &yes_token, TokenAnswer::Success(json!({}))).await,
        TokenOutcome::Closed,
        "a token works once"
    );
    assert_eq!(heartbeat(&store, &yes_token).await, TokenOutcome::Closed);

    assert_eq!(
        complete_by(&store, &no_token, rejected()).await,
        TokenOutcome::Done
    );
    assert_eq!(
        complete_by(&store, &no_token, rejected()).await,
        TokenOutcome::Closed
    );
    let other = TokenAnswer::Failure {
        error: "Other.Problem".to_string(),
        cause: None,
    };
    assert_eq!(
        complete_by(&store, &boom_token, other).await,
        TokenOutcome::Done
    );
    settle(&scheduler).await;

    let row = describe(&store, &yes).await;
    assert_eq!(row.status, ExecutionStatus::Succeeded);
    assert_eq!(
        output(&row),
        json!({"order": 1, "approval": {"approved": true}})
    );
    let types = event_types(&store, &yes).await;
    assert_eq!(count(&types, "TaskSucceeded"), 1, "{types:?}");

    let row = describe(&store, &no).await;
    assert_eq!(row.status, ExecutionStatus::Succeeded, "caught: {row:?}");
    assert_eq!(
        output(&row),
        json!({"order": 2, "problem": {"Error": "Rejected", "Cause": "out of stock"}})
    );
    let events = checked_history(&store, &no).await;
    let failed = details(&events, "TaskFailed");
    assert_eq!(failed["error"], "Rejected");
    assert_eq!(failed["cause"], "out of stock");
    assert!(events
        .iter()
        .any(|e| e.event_type == "PassStateEntered" && e.details.contains("Handled")));

    let row = describe(&store, &boom).await;
    assert_eq!(row.status, ExecutionStatus::Failed);
    assert_eq!(row.error.as_deref(), Some("Other.Problem"));
    assert_eq!(row.cause, None);
    for token in [&yes_token, &no_token, &boom_token] {
        assert_eq!(token_state(&store, token).await, TokenOutcome::Closed);
    }
}

pub async fn a_callback_that_beats_the_worker_starts_the_task_itself<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let machine = machine(&store, "fast", callback_machine(json!({}))).await;
    let unleased = start(&store, &machine, "unleased", json!({"order": 1})).await;
    settle(&scheduler).await;
    // The target answered through the API before any worker leased the task.
    let token = scheduled_token(&store, &unleased).await;
    assert_eq!(
        complete_by(&store, &token, TokenAnswer::Success(json!({"fast": 1}))).await,
        TokenOutcome::Done
    );
    assert!(
        lease(&store, "worker").await.is_empty(),
        "the task is over: no worker invokes it"
    );

    // The worker leased the task, but the callback came before its own record.
    let leased = start(&store, &machine, "leased", json!({"order": 2})).await;
    settle(&scheduler).await;
    let task = lease_one(&store).await;
    assert_eq!(task.execution_arn, leased);
    assert_eq!(
        complete_by(
            &store,
            &token_of(&task),
            TokenAnswer::Success(json!({"fast": 2}))
        )
        .await,
        TokenOutcome::Done
    );
    let invoked = succeeded(&task, json!({"accepted": true}));
    assert!(
        !store
            .record_submission(&task, &invoked)
            .await
            .expect("submission"),
        "the worker's record finds the task over"
    );

    settle(&scheduler).await;
    for (arn, n) in [(&unleased, 1), (&leased, 2)] {
        let row = describe(&store, arn).await;
        assert_eq!(row.status, ExecutionStatus::Succeeded);
        assert_eq!(output(&row), json!({"order": n, "approval": {"fast": n}}));
        assert_eq!(
            event_types(&store, arn).await,
            [
                "ExecutionStarted",
                "TaskStateEntered",
                "TaskScheduled",
                "TaskStarted",
                "TaskSucceeded",
                "TaskStateExited",
                "ExecutionSucceeded"
            ],
            "{arn}"
        );
    }
}

pub async fn heartbeats_keep_a_task_alive_and_silence_times_it_out<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let machine = machine(
        &store,
        "heartbeat",
        callback_machine(json!({"HeartbeatSeconds": 1})),
    )
    .await;
    let arn = start(&store, &machine, "beating", json!({"order": 7})).await;
    settle(&scheduler).await;
    let token = submitted(&store, &[&arn]).await.remove(0);
    settle(&scheduler).await;

    // Twice the heartbeat period, kept alive by a heartbeat every 250 ms.
    let alive_until = std::time::Instant::now() + Duration::from_millis(2000);
    let mut last_beat = chrono::Utc::now();
    while std::time::Instant::now() < alive_until {
        last_beat = chrono::Utc::now();
        assert_eq!(heartbeat(&store, &token).await, TokenOutcome::Done);
        settle(&scheduler).await;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    settle(&scheduler).await;
    assert_eq!(status(&store, &arn).await, ExecutionStatus::Running);
    let types = event_types(&store, &arn).await;
    assert_eq!(count(&types, "TaskTimedOut"), 0, "{types:?}");

    // Silence: States.HeartbeatTimeout.
    let row = wait_for_end(&store, &scheduler, &arn).await;
    assert_eq!(row.status, ExecutionStatus::Failed, "{row:?}");
    assert_eq!(row.error.as_deref(), Some("States.HeartbeatTimeout"));
    let events = checked_history(&store, &arn).await;
    let timed_out = events
        .iter()
        .find(|e| e.event_type == "TaskTimedOut")
        .expect("a TaskTimedOut event");
    let timed_out_details: Value = serde_json::from_str(&timed_out.details).expect("json");
    assert_eq!(timed_out_details["error"], "States.HeartbeatTimeout");
    assert!(
        timed_out.at - last_beat >= chrono::Duration::milliseconds(990),
        "timed out {} after the last heartbeat",
        timed_out.at - last_beat
    );
    assert_eq!(token_state(&store, &token).await, TokenOutcome::Closed);
    assert_eq!(heartbeat(&store, &token).await, TokenOutcome::Closed);
    assert_eq!(
        complete_by(&store, &token, TokenAnswer::Success(json!({}))).await,
        TokenOutcome::Closed
    );
}

pub async fn an_activity_task_goes_to_exactly_one_poller_oldest_first<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let activity = format!("{ARN_PREFIX}:activity:work");
    store
        .create_activity(&activity, "work", &[])
        .await
        .expect("activity");
    let machine = machine(
        &store,
        "activity",
        activity_machine(&activity, json!({"HeartbeatSeconds": 30})),
    )
    .await;
    let first = start(&store, &machine, "first", json!({"n": 1})).await;
    settle(&scheduler).await;
    assert_eq!(
        event_types(&store, &first).await,
        ["ExecutionStarted", "TaskStateEntered", "ActivityScheduled"]
    );
    assert!(
        lease(&store, "worker").await.is_empty(),
        "activity tasks are for pollers, not workers"
    );
    let elsewhere = format!("{ARN_PREFIX}:activity:elsewhere");
    assert_eq!(
        store
            .claim_activity_task(&elsewhere, Some("x"))
            .await
            .expect("claim"),
        None
    );

    // Four pollers at once: one gets the task.
    let gate = Arc::new(tokio::sync::Barrier::new(4));
    let pollers: Vec<_> = (0..4)
        .map(|i| {
            let (store, gate, activity) = (store.clone(), gate.clone(), activity.clone());
            tokio::spawn(async move {
                let worker = format!("poller-{i}");
                gate.wait().await;
                let task = store
                    .claim_activity_task(&activity, Some(&worker))
                    .await
                    .expect("claim");
                (worker, task)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for poller in pollers {
        let (worker, task) = poller.await.expect("poller");
        if let Some(task) = task {
            winners.push((worker, task));
        }
    }
    assert_eq!(winners.len(), 1, "exactly one poller gets the task");
    let (worker, task) = winners.remove(0);
    assert_eq!(
        serde_json::from_str::<Value>(&task.input).expect("json"),
        json!({"n": 1})
    );
    assert_eq!(token_state(&store, &task.token).await, TokenOutcome::Done);
    assert_eq!(
        store
            .claim_activity_task(&activity, None)
            .await
            .expect("claim"),
        None
    );

    settle(&scheduler).await;
    let events = checked_history(&store, &first).await;
    assert_eq!(
        details(&events, "ActivityStarted")["workerName"],
        json!(worker)
    );
    let scheduled = details(&events, "ActivityScheduled");
    assert_eq!(scheduled["resource"], json!(activity));
    assert_eq!(scheduled["heartbeatInSeconds"], 30);
    assert_eq!(heartbeat(&store, &task.token).await, TokenOutcome::Done);
    assert_eq!(
        complete_by(
            &store,
            &task.token,
            TokenAnswer::Success(json!({"doubled": 2}))
        )
        .await,
        TokenOutcome::Done
    );
    settle(&scheduler).await;
    let row = describe(&store, &first).await;
    assert_eq!(row.status, ExecutionStatus::Succeeded);
    assert_eq!(output(&row), json!({"n": 1, "result": {"doubled": 2}}));
    assert_eq!(
        event_types(&store, &first).await,
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "ActivityScheduled",
            "ActivityStarted",
            "ActivitySucceeded",
            "TaskStateExited",
            "ExecutionSucceeded"
        ]
    );
    assert_eq!(token_state(&store, &task.token).await, TokenOutcome::Closed);

    // Queued one after the other: taken oldest first.
    let second = start(&store, &machine, "second", json!({"n": 2})).await;
    settle(&scheduler).await;
    let third = start(&store, &machine, "third", json!({"n": 3})).await;
    settle(&scheduler).await;
    let mut tokens = Vec::new();
    for n in [2, 3] {
        let task = store
            .claim_activity_task(&activity, None)
            .await
            .expect("claim")
            .expect("a queued task");
        assert_eq!(
            serde_json::from_str::<Value>(&task.input).expect("json"),
            json!({"n": n})
        );
        tokens.push(task.token);
    }
    assert_ne!(tokens[0], tokens[1]);
    assert_eq!(
        complete_by(&store, &tokens[0], rejected()).await,
        TokenOutcome::Done
    );
    assert_eq!(
        complete_by(&store, &tokens[1], TokenAnswer::Success(json!(3))).await,
        TokenOutcome::Done
    );
    settle(&scheduler).await;
    let row = describe(&store, &second).await;
    assert_eq!(row.status, ExecutionStatus::Failed);
    assert_eq!(row.error.as_deref(), Some("Rejected"));
    assert!(event_types(&store, &second)
        .await
        .contains(&"ActivityFailed".to_string()));
    assert_eq!(
        output(&describe(&store, &third).await),
        json!({"n": 3, "result": 3})
    );
}

pub async fn an_activity_task_nobody_takes_times_out_and_is_withdrawn<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let activity = format!("{ARN_PREFIX}:activity:slow");
    store
        .create_activity(&activity, "slow", &[])
        .await
        .expect("activity");
    let machine = machine(
        &store,
        "unpolled",
        activity_machine(&activity, json!({"TimeoutSeconds": 1})),
    )
    .await;
    let arn = start(&store, &machine, "late", json!({})).await;
    let row = wait_for_end(&store, &scheduler, &arn).await;
    assert_eq!(row.status, ExecutionStatus::Failed);
    assert_eq!(row.error.as_deref(), Some("States.Timeout"));
    let types = event_types(&store, &arn).await;
    assert_eq!(count(&types, "ActivityTimedOut"), 1, "{types:?}");
    assert_eq!(
        store
            .claim_activity_task(&activity, Some("late-poller"))
            .await
            .expect("claim"),
        None,
        "a timed-out task is withdrawn, not handed out late"
    );
}

pub async fn stopping_an_execution_closes_its_tokens_and_withdraws_activity_tasks<S: Store>(
    store: S,
) {
    let scheduler = scheduler(&store);
    let callbacks = machine(&store, "stopped", callback_machine(json!({}))).await;
    let waiting = start(&store, &callbacks, "waiting", json!({"order": 1})).await;
    settle(&scheduler).await;
    let waiting_token = submitted(&store, &[&waiting]).await.remove(0);
    let unleased = start(&store, &callbacks, "unleased", json!({"order": 2})).await;
    settle(&scheduler).await;
    let unleased_token = scheduled_token(&store, &unleased).await;

    let activity = format!("{ARN_PREFIX}:activity:stoppable");
    store
        .create_activity(&activity, "stoppable", &[])
        .await
        .expect("activity");
    let worked = machine(
        &store,
        "worked",
        activity_machine(&activity, json!({"HeartbeatSeconds": 60})),
    )
    .await;
    let claimed = start(&store, &worked, "claimed", json!({})).await;
    settle(&scheduler).await;
    let claimed_task = store
        .claim_activity_task(&activity, Some("w"))
        .await
        .expect("claim")
        .expect("a task");
    let queued = start(&store, &worked, "queued", json!({})).await;
    settle(&scheduler).await;

    for arn in [&waiting, &unleased, &claimed, &queued] {
        store
            .stop_execution(arn, Some("Stop"), None)
            .await
            .expect("stop");
    }
    settle(&scheduler).await;
    for arn in [&waiting, &unleased, &claimed, &queued] {
        assert_eq!(status(&store, arn).await, ExecutionStatus::Aborted, "{arn}");
    }
    for token in [&waiting_token, &unleased_token, &claimed_task.token] {
        assert_eq!(token_state(&store, token).await, TokenOutcome::Closed);
        assert_eq!(
            complete_by(&store, token, TokenAnswer::Success(json!({}))).await,
            TokenOutcome::Closed
        );
        assert_eq!(heartbeat(&store, token).await, TokenOutcome::Closed);
    }
    assert!(
        lease(&store, "worker").await.is_empty(),
        "the unleased task was cancelled"
    );
    assert_eq!(
        store
            .claim_activity_task(&activity, None)
            .await
            .expect("claim"),
        None,
        "the queued activity task was withdrawn"
    );
    assert_eq!(
        store.next_due().await.expect("due"),
        None,
        "no heartbeat timer is left"
    );
    // Nothing that came late changed the ended executions.
    settle(&scheduler).await;
    let types = event_types(&store, &claimed).await;
    assert_eq!(types.last().map(String::as_str), Some("ExecutionAborted"));
}
