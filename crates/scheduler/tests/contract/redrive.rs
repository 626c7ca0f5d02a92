//! RedriveExecution: when an execution may be redriven, what a redrive changes (its row,
//! its history, its inbox), and a client token's redrive answered again.

use cairn_asl::interpreter::Event;
use cairn_asl::ExecutionStatus;
use cairn_store::executions::{ExecutionsOf, NotRedrivable};
use cairn_store::StoreError;
use serde_json::{json, Value};

use super::common::*;

/// A Pass, then a Task only a worker answers, then a Pass that shows the redrive count.
fn prepare_then_charge() -> Value {
    json!({"StartAt": "Prepare", "States": {
        "Prepare": {"Type": "Pass", "Result": "ready", "ResultPath": "$.prepared", "Next": "Charge"},
        "Charge": {"Type": "Task", "Resource": LAMBDA, "ResultPath": "$.charged", "Next": "Report"},
        "Report": {"Type": "Pass", "Parameters": {
            "prepared.$": "$.prepared", "charged.$": "$.charged",
            "redrives.$": "$$.Execution.RedriveCount"}, "End": true}}})
}

/// Fails the one due task with `error`.
async fn fail_task<S: Store>(store: &S, error: &str) {
    let task = lease_one(store).await;
    assert!(
        complete(
            store,
            &task,
            Event::TaskFailed {
                task: task.task_id as u64,
                error: error.to_string(),
                cause: Some("declined".to_string()),
            },
        )
        .await
    );
}

fn not_redrivable(result: Result<impl std::fmt::Debug, StoreError>) -> NotRedrivable {
    match result {
        Err(StoreError::ExecutionNotRedrivable(_, why)) => why,
        other => panic!("expected ExecutionNotRedrivable, got {other:?}"),
    }
}

pub async fn a_redrive_runs_the_failed_task_again_and_not_the_states_before_it<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let machine = machine(&store, "charges", prepare_then_charge()).await;
    let arn = start(&store, &machine, "order-1", json!({"order": 1})).await;
    settle(&scheduler).await;
    fail_task(&store, "CardDeclined").await;
    settle(&scheduler).await;
    let failed = describe(&store, &arn).await;
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert_eq!((failed.redrive_count, failed.redrive_date), (0, None));
    let now = chrono::Utc::now();
    assert_eq!(failed.redrivability(now), Ok(()));

    let redriven = store
        .redrive_execution(&arn, Some("token-1"), now)
        .await
        .expect("redrive");
    assert!(redriven.redriven);
    assert_eq!(redriven.state_machine_arn, machine);
    let running = describe(&store, &arn).await;
    assert_eq!(running.status, ExecutionStatus::Running);
    assert_eq!(running.redrive_count, 1);
    assert_eq!(running.redrive_date, Some(redriven.redrive_date));
    assert_eq!(
        (
            running.stopped_at,
            running.error.as_deref(),
            running.cause.as_deref()
        ),
        (None, None, None),
        "the first attempt's end is cleared"
    );
    assert_eq!(running.redrivability(now), Err(NotRedrivable::Running));

    // The same token again: the same answer, and no second redrive.
    let again = store
        .redrive_execution(&arn, Some("token-1"), now + chrono::TimeDelta::seconds(5))
        .await
        .expect("the same redrive");
    assert_eq!(
        (again.redriven, again.redrive_date),
        (false, redriven.redrive_date)
    );
    assert_eq!(describe(&store, &arn).await.redrive_count, 1);
    // Another token while it runs: refused.
    assert_eq!(
        not_redrivable(store.redrive_execution(&arn, Some("token-2"), now).await),
        NotRedrivable::Running
    );

    settle(&scheduler).await;
    let task = lease_one(&store).await;
    assert_eq!(task.state_name, "Charge");
    assert_eq!(
        serde_json::from_str::<Value>(&task.input).expect("JSON input"),
        json!({"order": 1, "prepared": "ready"}),
        "the Task gets the input it had"
    );
    complete(
        &store,
        &task,
        Event::TaskSucceeded {
            task: task.task_id as u64,
            output: json!("charged"),
        },
    )
    .await;
    settle(&scheduler).await;
    let done = describe(&store, &arn).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(
        output(&done),
        json!({"prepared": "ready", "charged": "charged", "redrives": 1})
    );
    assert_eq!(done.redrive_count, 1);
    assert_eq!(done.redrivability(now), Err(NotRedrivable::Succeeded));

    let events = checked_history(&store, &arn).await;
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        count_of(&types, "PassStateEntered"),
        2,
        "Prepare once, Report once"
    );
    assert_eq!(count_of(&types, "TaskStateEntered"), 2);
    let failed_at = types
        .iter()
        .position(|t| *t == "ExecutionFailed")
        .expect("the first attempt's end");
    assert_eq!(types[failed_at + 1], "ExecutionRedriven");
    assert_eq!(
        details(&events, "ExecutionRedriven"),
        json!({"redriveCount": 1})
    );
    assert_eq!(types.last(), Some(&"ExecutionSucceeded"));

    let of = ExecutionsOf::Machine(machine.clone());
    let redriven = store
        .list_executions(&of, None, Some(true), None, 10)
        .await
        .expect("list");
    assert_eq!(redriven.len(), 1);
    assert_eq!(redriven[0].redrive_count, 1);
    assert!(redriven[0].redrive_date.is_some());
    let never = store
        .list_executions(&of, None, Some(false), None, 10)
        .await
        .expect("list");
    assert!(never.is_empty(), "{never:?}");
}

pub async fn a_redrive_is_refused_unless_the_execution_may_be_redriven<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let charges = machine(&store, "refusals", prepare_then_charge()).await;
    let now = chrono::Utc::now();

    let running = start(&store, &charges, "running", json!({})).await;
    settle(&scheduler).await;
    assert_eq!(
        not_redrivable(store.redrive_execution(&running, None, now).await),
        NotRedrivable::Running
    );
    // Stopped, it may be redriven: it waits for its task again.
    store
        .stop_execution(&running, None, None)
        .await
        .expect("stop");
    settle(&scheduler).await;
    assert_eq!(status(&store, &running).await, ExecutionStatus::Aborted);
    assert!(
        store
            .redrive_execution(&running, None, now)
            .await
            .expect("an aborted execution is redriven")
            .redriven
    );
    settle(&scheduler).await;
    assert_eq!(lease_one(&store).await.state_name, "Charge");

    let quick = machine_with(&store, "quick").await;
    let succeeded = start(&store, &quick, "done", json!({})).await;
    settle(&scheduler).await;
    assert_eq!(
        not_redrivable(store.redrive_execution(&succeeded, None, now).await),
        NotRedrivable::Succeeded
    );

    let late = start(&store, &charges, "late", json!({})).await;
    settle(&scheduler).await;
    let tasks = lease(&store, "w").await;
    let task = tasks
        .into_iter()
        .find(|t| t.execution_arn == late)
        .expect("late's task");
    complete(
        &store,
        &task,
        Event::TaskFailed {
            task: task.task_id as u64,
            error: "Boom".into(),
            cause: None,
        },
    )
    .await;
    settle(&scheduler).await;
    let fifteen_days = now + chrono::TimeDelta::days(15);
    let before = describe(&store, &late).await;
    assert_eq!(
        not_redrivable(store.redrive_execution(&late, None, fifteen_days).await),
        NotRedrivable::PeriodExceeded
    );
    let after = describe(&store, &late).await;
    assert_eq!(
        (after.status, after.redrive_count, after.history_length),
        (ExecutionStatus::Failed, 0, before.history_length),
        "a refused redrive changes nothing"
    );
    assert_eq!(
        scheduler.tick().await.expect("tick"),
        0,
        "and queues nothing"
    );

    let unknown = execution_arn(&charges, "nobody");
    match store.redrive_execution(&unknown, None, now).await {
        Err(StoreError::ExecutionDoesNotExist(arn)) => assert_eq!(arn, unknown),
        other => panic!("redriving an unknown execution: {other:?}"),
    }

    // Its machine deleted, a failed execution is not redriven.
    let doomed = machine(&store, "doomed", prepare_then_charge()).await;
    let orphan = start(&store, &doomed, "orphan", json!({})).await;
    settle(&scheduler).await;
    fail_task(&store, "Boom").await;
    settle(&scheduler).await;
    store.delete_state_machine(&doomed).await.expect("delete");
    assert_eq!(
        not_redrivable(store.redrive_execution(&orphan, None, now).await),
        NotRedrivable::MachineDeleting
    );
}

pub async fn a_client_token_answers_again_for_fifteen_minutes_only<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let machine = machine(&store, "tokens", prepare_then_charge()).await;
    let arn = start(&store, &machine, "t", json!({})).await;
    settle(&scheduler).await;
    fail_task(&store, "Boom").await;
    settle(&scheduler).await;
    let first_at = chrono::Utc::now();
    let first = store
        .redrive_execution(&arn, Some("same"), first_at)
        .await
        .expect("redrive");
    settle(&scheduler).await;
    fail_task(&store, "Boom").await;
    settle(&scheduler).await;
    assert_eq!(status(&store, &arn).await, ExecutionStatus::Failed);

    // Within 15 minutes the token's redrive is answered again, though it failed since.
    let repeat = store
        .redrive_execution(
            &arn,
            Some("same"),
            first_at + chrono::TimeDelta::minutes(10),
        )
        .await
        .expect("answered again");
    assert_eq!(
        (repeat.redriven, repeat.redrive_date),
        (false, first.redrive_date)
    );
    assert_eq!(status(&store, &arn).await, ExecutionStatus::Failed);

    // Later, the same token redrives anew.
    let later = first_at + chrono::TimeDelta::minutes(16);
    let second = store
        .redrive_execution(&arn, Some("same"), later)
        .await
        .expect("a new redrive");
    assert!(second.redriven);
    let record = describe(&store, &arn).await;
    assert_eq!(record.redrive_count, 2);
    settle(&scheduler).await;
    let events = checked_history(&store, &arn).await;
    let redrives: Vec<Value> = events
        .iter()
        .filter(|e| e.event_type == "ExecutionRedriven")
        .map(|e| serde_json::from_str(&e.details).expect("details"))
        .collect();
    assert_eq!(
        redrives,
        [json!({"redriveCount": 1}), json!({"redriveCount": 2})]
    );
}

fn count_of(types: &[&str], wanted: &str) -> usize {
    types.iter().filter(|t| **t == wanted).count()
}

async fn machine_with<S: Store>(store: &S, name: &str) -> String {
    machine(
        store,
        name,
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}),
    )
    .await
}
