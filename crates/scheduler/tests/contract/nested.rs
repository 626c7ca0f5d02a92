//! Nested executions: Task states on `arn:aws:states:::states:startExecution`,
//! `….sync` and `….sync:2`, whose children start inside the parent's commit.

use cairn_asl::ExecutionStatus;
use cairn_store::catalog::MachineType;
use cairn_store::executions::ExecutionsOf;
use cairn_store::testing::{self, ARN_PREFIX};
use serde_json::{json, Value};

use super::common::*;

/// A child that answers `{"doubled": 2 × input.n, "seen": input}`.
fn doubling_child() -> Value {
    json!({"StartAt": "Double", "States": {"Double": {
        "Type": "Pass",
        "Parameters": {"doubled.$": "States.MathAdd($.n, $.n)", "seen.$": "$"},
        "End": true
    }}})
}

/// A child that waits five minutes.
fn waiting_child() -> Value {
    json!({"StartAt": "Pause", "States": {"Pause": {"Type": "Wait", "Seconds": 300, "End": true}}})
}

fn failing_child() -> Value {
    json!({"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Child.Broke", "Cause": "it broke"}}})
}

/// A parent whose one Task state starts `child` through `resource` with `parameters`
/// (after `StateMachineArn`), and `extra` fields on the Task.
fn parent(resource: &str, child: &str, parameters: Value, extra: Value) -> Value {
    let mut params = json!({"StateMachineArn": child});
    if let (Some(p), Some(more)) = (params.as_object_mut(), parameters.as_object()) {
        p.extend(more.clone());
    }
    let mut task = json!({
        "Type": "Task",
        "Resource": format!("arn:aws:states:::states:{resource}"),
        "Parameters": params,
        "End": true
    });
    if let (Some(t), Some(more)) = (task.as_object_mut(), extra.as_object()) {
        t.extend(more.clone());
    }
    json!({"StartAt": "Nest", "States": {"Nest": task, "Handled": {"Type": "Pass", "End": true}}})
}

/// Like [`parent`], without the `Handled` state (nothing catches).
fn plain_parent(resource: &str, child: &str, parameters: Value) -> Value {
    let mut definition = parent(resource, child, parameters, json!({}));
    if let Some(states) = definition["States"].as_object_mut() {
        states.remove("Handled");
    }
    definition
}

const PARENT_EVENTS: [&str; 8] = [
    "ExecutionStarted",
    "TaskStateEntered",
    "TaskScheduled",
    "TaskStarted",
    "TaskSubmitted",
    "TaskSucceeded",
    "TaskStateExited",
    "ExecutionSucceeded",
];

pub async fn sync2_returns_the_child_output_as_json<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let child = machine(&store, "child", doubling_child()).await;
    let parent_machine = machine(
        &store,
        "parent",
        plain_parent(
            "startExecution.sync:2",
            &child,
            json!({"Name": "kid", "Input": {"n.$": "$.n"}}),
        ),
    )
    .await;
    let arn = start(&store, &parent_machine, "p", json!({"n": 21})).await;
    settle(&scheduler).await;

    let child_arn = execution_arn(&child, "kid");
    let listed = store
        .list_executions(&ExecutionsOf::Machine(child.clone()), None, None, None, 10)
        .await
        .expect("list");
    assert_eq!(listed.len(), 1, "one child: {listed:?}");
    assert_eq!(listed[0].arn, child_arn);
    assert_eq!(listed[0].name, "kid");
    assert_eq!(listed[0].status, ExecutionStatus::Succeeded);
    let child_row = describe(&store, &child_arn).await;
    assert_eq!(child_row.input, r#"{"n":21}"#);
    assert_eq!(
        output(&child_row),
        json!({"doubled": 42, "seen": {"n": 21}})
    );

    let row = describe(&store, &arn).await;
    assert_eq!(row.status, ExecutionStatus::Succeeded, "{row:?}");
    let out = output(&row);
    assert_eq!(out["Output"], json!({"doubled": 42, "seen": {"n": 21}}));
    assert_eq!(out["Input"], json!({"n": 21}));
    assert_eq!(out["ExecutionArn"], json!(child_arn));
    assert_eq!(out["StateMachineArn"], json!(child));
    assert_eq!(out["Name"], "kid");
    assert_eq!(out["Status"], "SUCCEEDED");
    assert_eq!(
        out["StartDate"],
        json!(child_row.started_at.timestamp_millis())
    );
    assert_eq!(
        out["StopDate"],
        json!(child_row.stopped_at.expect("stopped").timestamp_millis())
    );
    assert_eq!(event_types(&store, &arn).await, PARENT_EVENTS);
    event_types(&store, &child_arn).await;
}

pub async fn sync_returns_the_child_output_as_text<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let child = machine(&store, "child", doubling_child()).await;
    let parent_machine = machine(
        &store,
        "parent",
        plain_parent(
            "startExecution.sync",
            &child,
            json!({"Name": "kid", "Input": {"n.$": "$.n"}}),
        ),
    )
    .await;
    let arn = start(&store, &parent_machine, "p", json!({"n": 5})).await;
    settle(&scheduler).await;
    let row = describe(&store, &arn).await;
    assert_eq!(row.status, ExecutionStatus::Succeeded, "{row:?}");
    let out = output(&row);
    assert_eq!(out["Input"], json!(r#"{"n":5}"#));
    let text = out["Output"].as_str().expect("Output is JSON text");
    let parsed: Value = serde_json::from_str(text).expect("JSON");
    assert_eq!(parsed["doubled"], json!(10));
    assert_eq!(out["ExecutionArn"], json!(execution_arn(&child, "kid")));
    let events = checked_history(&store, &arn).await;
    let submitted: Value = serde_json::from_str(
        details(&events, "TaskSubmitted")["output"]
            .as_str()
            .expect("text"),
    )
    .expect("JSON");
    assert_eq!(
        submitted["ExecutionArn"],
        json!(execution_arn(&child, "kid"))
    );
    assert_eq!(
        events
            .iter()
            .map(|e| e.event_type.as_str())
            .collect::<Vec<_>>(),
        PARENT_EVENTS
    );
}

pub async fn request_response_answers_the_start_and_the_child_runs_on_its_own<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let child = machine(&store, "child", waiting_child()).await;
    let parent_machine = machine(
        &store,
        "parent",
        plain_parent(
            "startExecution",
            &child,
            json!({"Name": "kid", "Input": {"from.$": "$$.Execution.Id"}}),
        ),
    )
    .await;
    let arn = start(&store, &parent_machine, "p", json!({})).await;
    settle(&scheduler).await;

    let row = describe(&store, &arn).await;
    assert_eq!(row.status, ExecutionStatus::Succeeded, "{row:?}");
    let child_arn = execution_arn(&child, "kid");
    let child_row = describe(&store, &child_arn).await;
    assert_eq!(
        child_row.status,
        ExecutionStatus::Running,
        "the parent did not wait"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&child_row.input).expect("json"),
        json!({"from": arn})
    );
    let out = output(&row);
    assert_eq!(
        out,
        json!({"ExecutionArn": child_arn, "StartDate": child_row.started_at.timestamp_millis()})
    );
    let types = event_types(&store, &arn).await;
    assert_eq!(count(&types, "TaskSubmitted"), 0, "{types:?}");
    assert_eq!(count(&types, "TaskSucceeded"), 1, "{types:?}");
    assert_eq!(
        event_types(&store, &child_arn).await,
        ["ExecutionStarted", "WaitStateEntered"]
    );
    let listed = store
        .list_executions(
            &ExecutionsOf::Machine(child.clone()),
            Some(ExecutionStatus::Running),
            None,
            None,
            10,
        )
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
}

pub async fn a_refused_child_start_fails_with_the_step_functions_exception<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let nobody = format!("{ARN_PREFIX}:stateMachine:nobody");
    let parent_machine = machine(
        &store,
        "parent",
        plain_parent("startExecution.sync:2", &nobody, json!({})),
    )
    .await;
    let arn = start(&store, &parent_machine, "p", json!({})).await;
    settle(&scheduler).await;
    let row = describe(&store, &arn).await;
    assert_eq!(row.status, ExecutionStatus::Failed);
    assert_eq!(
        row.error.as_deref(),
        Some("StepFunctions.StateMachineDoesNotExistException")
    );
    let cause = row.cause.as_deref().unwrap_or_default();
    assert!(
        cause.contains("Error Code: StateMachineDoesNotExist"),
        "{cause}"
    );
    assert!(cause.contains(&nobody), "{cause}");
    assert!(store
        .list_executions(&ExecutionsOf::Machine(nobody.clone()), None, None, None, 10)
        .await
        .expect("list")
        .is_empty());

    // An EXPRESS child is refused too.
    let express =
        testing::machine_spec("fast", MachineType::Express, &doubling_child().to_string());
    store.create_state_machine(&express).await.expect("express");
    let to_express = machine(
        &store,
        "to-express",
        plain_parent("startExecution.sync", &express.arn, json!({"Name": "x"})),
    )
    .await;
    let arn = start(&store, &to_express, "p", json!({})).await;
    settle(&scheduler).await;
    let row = describe(&store, &arn).await;
    assert_eq!(row.status, ExecutionStatus::Failed);
    assert_eq!(
        row.error.as_deref(),
        Some("StepFunctions.StateMachineTypeNotSupportedException")
    );
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
}

pub async fn a_failed_child_fails_the_task_with_states_task_failed<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let child = machine(&store, "child", failing_child()).await;
    let parent_machine = machine(
        &store,
        "parent",
        plain_parent("startExecution.sync:2", &child, json!({"Name": "kid"})),
    )
    .await;
    let arn = start(&store, &parent_machine, "p", json!({})).await;
    settle(&scheduler).await;
    let row = describe(&store, &arn).await;
    assert_eq!(row.status, ExecutionStatus::Failed);
    assert_eq!(row.error.as_deref(), Some("States.TaskFailed"));
    let cause: Value =
        serde_json::from_str(row.cause.as_deref().expect("cause")).expect("the cause is JSON");
    assert_eq!(cause["ExecutionArn"], json!(execution_arn(&child, "kid")));
    assert_eq!(cause["Status"], "FAILED");
    assert_eq!(cause["Error"], "Child.Broke");
    assert_eq!(cause["Cause"], "it broke");
    assert_eq!(
        status(&store, &execution_arn(&child, "kid")).await,
        ExecutionStatus::Failed
    );
    assert!(event_types(&store, &arn)
        .await
        .contains(&"TaskFailed".to_string()));

    // Caught like any task failure.
    let handled = machine(
        &store,
        "handled",
        parent(
            "startExecution.sync",
            &child,
            json!({"Name": "kid2"}),
            json!({"Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.failure", "Next": "Handled"}]}),
        ),
    )
    .await;
    let arn = start(&store, &handled, "h", json!({"keep": 1})).await;
    settle(&scheduler).await;
    let row = describe(&store, &arn).await;
    assert_eq!(row.status, ExecutionStatus::Succeeded, "{row:?}");
    let out = output(&row);
    assert_eq!(out["keep"], 1);
    assert_eq!(out["failure"]["Error"], "States.TaskFailed");
    let cause: Value =
        serde_json::from_str(out["failure"]["Cause"].as_str().expect("cause text")).expect("json");
    assert_eq!(cause["Error"], "Child.Broke");
}

pub async fn stopping_the_parent_stops_its_sync_child<S: Store>(store: S) {
    let scheduler = scheduler(&store);
    let child = machine(&store, "child", waiting_child()).await;
    let parent_machine = machine(
        &store,
        "parent",
        plain_parent(
            "startExecution.sync",
            &child,
            json!({"Name": "kid", "Input": {"n": 1}}),
        ),
    )
    .await;
    let arn = start(&store, &parent_machine, "p", json!({})).await;
    settle(&scheduler).await;
    let child_arn = execution_arn(&child, "kid");
    assert_eq!(status(&store, &child_arn).await, ExecutionStatus::Running);
    let types = event_types(&store, &arn).await;
    assert_eq!(
        types.last().map(String::as_str),
        Some("TaskSubmitted"),
        "{types:?}"
    );

    store
        .stop_execution(&arn, Some("Parent.Stop"), None)
        .await
        .expect("stop");
    settle(&scheduler).await;
    let row = describe(&store, &arn).await;
    assert_eq!(row.status, ExecutionStatus::Aborted);
    assert_eq!(row.error.as_deref(), Some("Parent.Stop"));
    let child_row = describe(&store, &child_arn).await;
    assert_eq!(child_row.status, ExecutionStatus::Aborted);
    assert!(
        child_row
            .cause
            .as_deref()
            .unwrap_or_default()
            .contains(&arn),
        "the cause names the parent: {child_row:?}"
    );
    assert_eq!(
        event_types(&store, &arn).await.last().map(String::as_str),
        Some("ExecutionAborted")
    );
    assert_eq!(
        store.next_due().await.expect("due"),
        None,
        "the child's Wait went with it"
    );
}
