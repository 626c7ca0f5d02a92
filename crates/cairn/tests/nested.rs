//! Nested executions end to end: a real `cairn server` on a fresh Postgres database,
//! parents whose Task states start children through `arn:aws:states:::states:startExecution`
//! (request-response), `.sync`, `.sync:2` and `.waitForTaskToken`, driven through the
//! Step Functions API.
//!
//! Time bounds only fire on a hang; no assertion depends on speed.

use std::time::{Duration, Instant};

use cairn_store::postgres::PgStore;
use cairn_store::testing;
use serde_json::{json, Value};

mod support;
use support::{Api, Server};

/// One test's world: a fresh database and a server on it.
struct World {
    store: PgStore,
    url: String,
    server: Server,
    api: Api,
}

impl World {
    async fn new(label: &str) -> World {
        let (store, url) = testing::fresh_store(&format!("nested_{label}"), 2)
            .await
            .expect("database");
        let server = spawn_server(&url);
        let api = server.ready().await;
        World {
            store,
            url,
            server,
            api,
        }
    }

    /// SIGKILLs the server and starts a new one on the same database.
    async fn restart(&mut self) {
        self.server.kill9();
        self.server = spawn_server(&self.url);
        self.api = self.server.ready().await;
    }

    /// The child machine `name` with `states`, and a parent machine whose one Task state
    /// starts it through `resource` with `parameters` (merged into the Task's
    /// `Parameters` after `StateMachineArn`). Returns (child ARN, parent ARN).
    async fn machines(
        &self,
        name: &str,
        child: &Value,
        resource: &str,
        parameters: Value,
        task_fields: Value,
    ) -> (String, String) {
        let child_arn = self
            .api
            .create_machine(&format!("{name}-child"), child)
            .await;
        let mut params = json!({"StateMachineArn": child_arn});
        if let (Some(p), Some(extra)) = (params.as_object_mut(), parameters.as_object()) {
            for (k, v) in extra {
                p.insert(k.clone(), v.clone());
            }
        }
        let mut task = json!({
            "Type": "Task",
            "Resource": format!("arn:aws:states:::states:{resource}"),
            "Parameters": params,
            "End": true
        });
        if let (Some(t), Some(extra)) = (task.as_object_mut(), task_fields.as_object()) {
            for (k, v) in extra {
                t.insert(k.clone(), v.clone());
            }
        }
        let parent = json!({"StartAt": "Nest", "States": {"Nest": task}});
        let parent_arn = self
            .api
            .create_machine(&format!("{name}-parent"), &parent)
            .await;
        (child_arn, parent_arn)
    }

    /// Polls until `execution`'s history has an event of type `wanted`.
    async fn wait_for_event(&self, execution: &str, wanted: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let types = self.api.event_types(execution).await;
            if types.iter().any(|t| t == wanted) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{execution} never recorded {wanted}: {types:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Executions whose recorded parent is `parent`.
    async fn children_of(&self, parent: &str) -> Vec<String> {
        sqlx::query_scalar("select arn from executions where parent_arn = $1 order by arn")
            .bind(parent)
            .fetch_all(self.store.pool())
            .await
            .expect("children")
    }
}

fn spawn_server(database_url: &str) -> Server {
    Server::spawn(
        database_url,
        &[],
        &[("CAIRN_LEASE_SECONDS", "2"), ("CAIRN_POOL_SIZE", "6")],
    )
}

/// `arn:…:stateMachine:M` → `arn:…:execution:M:NAME`.
fn execution_arn(machine: &str, name: &str) -> String {
    format!(
        "{}:{name}",
        machine.replace(":stateMachine:", ":execution:")
    )
}

/// A child that waits `seconds` and answers `{"doubled": 2 × input.n, "seen": input}`.
fn doubling_child(seconds: u64) -> Value {
    json!({
        "StartAt": "Pause",
        "States": {
            "Pause": {"Type": "Wait", "Seconds": seconds, "Next": "Double"},
            "Double": {
                "Type": "Pass",
                "Parameters": {"doubled.$": "States.MathAdd($.n, $.n)", "seen.$": "$"},
                "End": true
            }
        }
    })
}

fn failing_child() -> Value {
    json!({
        "StartAt": "Boom",
        "States": {"Boom": {"Type": "Fail", "Error": "Child.Broke", "Cause": "it broke"}}
    })
}

fn types_of(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default())
        .collect()
}

/// The details object of the first event of `event_type`.
fn details<'a>(events: &'a [Value], event_type: &str, member: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["type"] == event_type)
        .map(|e| &e[member])
        .unwrap_or_else(|| panic!("no {event_type} in {events:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn request_response_answers_the_start_and_the_child_runs_on_its_own() {
    let world = World::new("rr").await;
    let (child, parent) = world
        .machines(
            "rr",
            &doubling_child(0),
            "startExecution",
            json!({
                "Name": "kid",
                "Input": {
                    "n.$": "$.n",
                    "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id"
                }
            }),
            json!({}),
        )
        .await;
    let execution = world.api.start(&parent, "p", &json!({"n": 21})).await;
    let finished = world.api.finished(&execution).await;
    let output = finished.output();
    let child_execution = execution_arn(&child, "kid");
    assert_eq!(output["ExecutionArn"], json!(child_execution));
    assert!(
        output["StartDate"].is_i64(),
        "StartDate in epoch ms: {output}"
    );
    assert_eq!(output.as_object().map(|o| o.len()), Some(2), "{output}");

    let child_done = world.api.finished(&child_execution).await;
    let child_output = child_done.output();
    assert_eq!(child_output["doubled"], json!(42));
    assert_eq!(
        child_output["seen"]["AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"],
        json!(execution)
    );
    assert_eq!(world.children_of(&execution).await, vec![child_execution]);

    let events = world.api.history(&execution).await;
    assert_eq!(
        types_of(&events),
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded"
        ]
    );
    let scheduled = details(&events, "TaskScheduled", "taskScheduledEventDetails");
    assert_eq!(scheduled["resourceType"], "states");
    assert_eq!(scheduled["resource"], "startExecution");
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_waits_for_the_child_and_returns_its_output_as_text() {
    let world = World::new("sync").await;
    let (child, parent) = world
        .machines(
            "sync",
            &doubling_child(1),
            "startExecution.sync",
            json!({"Name": "kid", "Input": {"n.$": "$.n"}}),
            json!({}),
        )
        .await;
    let execution = world.api.start(&parent, "p", &json!({"n": 5})).await;
    let output = world.api.finished(&execution).await.output();
    let child_execution = execution_arn(&child, "kid");
    assert_eq!(output["ExecutionArn"], json!(child_execution));
    assert_eq!(output["Status"], "SUCCEEDED");
    assert_eq!(output["StateMachineArn"], json!(child));
    assert_eq!(output["Name"], "kid");
    assert_eq!(output["Input"], json!(r#"{"n":5}"#));
    let text = output["Output"].as_str().expect("Output is JSON text");
    let parsed: Value = serde_json::from_str(text).expect("JSON");
    assert_eq!(parsed["doubled"], json!(10));
    assert!(output["StopDate"].as_i64() >= output["StartDate"].as_i64());

    let events = world.api.history(&execution).await;
    assert_eq!(
        types_of(&events),
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
    let submitted = details(&events, "TaskSubmitted", "taskSubmittedEventDetails");
    assert_eq!(submitted["resource"], "startExecution.sync");
    let answer: Value =
        serde_json::from_str(submitted["output"].as_str().expect("text")).expect("JSON");
    assert_eq!(answer["ExecutionArn"], json!(child_execution));
}

#[tokio::test(flavor = "multi_thread")]
async fn sync2_returns_the_child_output_as_json_and_names_one_when_none_is_given() {
    let world = World::new("sync2").await;
    let (_, parent) = world
        .machines(
            "sync2",
            &doubling_child(0),
            "startExecution.sync:2",
            json!({"Input.$": "States.JsonToString($)"}),
            json!({"ResultSelector": {"out.$": "$.Output", "in.$": "$.Input"}}),
        )
        .await;
    let execution = world.api.start(&parent, "p", &json!({"n": 4})).await;
    let output = world.api.finished(&execution).await.output();
    assert_eq!(output["out"]["doubled"], json!(8));
    assert_eq!(output["in"], json!({"n": 4}), "Input given as JSON text");
    let children = world.children_of(&execution).await;
    assert_eq!(children.len(), 1);
    let name = children[0].rsplit(':').next().unwrap_or_default();
    assert_eq!(name.len(), 36, "a UUID-shaped name: {name}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_child_fails_the_task_with_states_task_failed_and_its_description() {
    let world = World::new("childfail").await;
    let (child, parent) = world
        .machines(
            "childfail",
            &failing_child(),
            "startExecution.sync:2",
            json!({"Name": "kid"}),
            json!({}),
        )
        .await;
    let execution = world.api.start(&parent, "p", &json!({})).await;
    let finished = world.api.finished(&execution).await;
    assert_eq!(finished.status(), "FAILED");
    assert_eq!(finished.error(), "States.TaskFailed");
    let cause: Value = serde_json::from_str(finished.cause()).expect("the cause is JSON");
    assert_eq!(cause["ExecutionArn"], json!(execution_arn(&child, "kid")));
    assert_eq!(cause["Status"], "FAILED");
    assert_eq!(cause["Error"], "Child.Broke");
    assert_eq!(cause["Cause"], "it broke");
    let events = world.api.history(&execution).await;
    assert!(types_of(&events).contains(&"TaskFailed"), "{events:?}");

    // Caught like any task failure.
    let handled = json!({
        "StartAt": "Nest",
        "States": {
            "Nest": {
                "Type": "Task",
                "Resource": "arn:aws:states:::states:startExecution.sync",
                "Parameters": {"StateMachineArn": child},
                "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.failure", "Next": "Handled"}],
                "End": true
            },
            "Handled": {"Type": "Pass", "End": true}
        }
    });
    let machine = world.api.create_machine("handled", &handled).await;
    let run = world.api.start(&machine, "h", &json!({})).await;
    let output = world.api.finished(&run).await.output();
    assert_eq!(output["failure"]["Error"], "States.TaskFailed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_start_fails_with_the_step_functions_exception() {
    let world = World::new("refused").await;
    let definition = json!({
        "StartAt": "Nest",
        "States": {
            "Nest": {
                "Type": "Task",
                "Resource": "arn:aws:states:::states:startExecution.sync:2",
                "Parameters": {
                    "StateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:nobody"
                },
                "End": true
            }
        }
    });
    let machine = world.api.create_machine("refused", &definition).await;
    let execution = world.api.start(&machine, "p", &json!({})).await;
    let finished = world.api.finished(&execution).await;
    assert_eq!(finished.status(), "FAILED");
    assert_eq!(
        finished.error(),
        "StepFunctions.StateMachineDoesNotExistException"
    );
    assert!(
        finished
            .cause()
            .contains("Error Code: StateMachineDoesNotExist"),
        "{}",
        finished.cause()
    );
    assert!(world.children_of(&execution).await.is_empty());

    // The same name again with other input while the first runs: ExecutionAlreadyExists.
    let (child, parent) = world
        .machines(
            "dup",
            &doubling_child(300),
            "startExecution",
            json!({"Name": "same", "Input": {"n.$": "$.n"}}),
            json!({}),
        )
        .await;
    let first = world.api.start(&parent, "a", &json!({"n": 1})).await;
    assert_eq!(world.api.finished(&first).await.status(), "SUCCEEDED");
    let second = world.api.start(&parent, "b", &json!({"n": 2})).await;
    let finished = world.api.finished(&second).await;
    assert_eq!(
        finished.error(),
        "StepFunctions.ExecutionAlreadyExistsException"
    );
    world
        .api
        .call(
            "StopExecution",
            &json!({"executionArn": execution_arn(&child, "same")}),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_for_task_token_passes_the_token_and_waits_for_send_task_success() {
    let world = World::new("token").await;
    let child = json!({"StartAt": "Hold", "States": {"Hold": {"Type": "Pass", "End": true}}});
    let (child, parent) = world
        .machines(
            "token",
            &child,
            "startExecution.waitForTaskToken",
            json!({"Name": "kid", "Input": {"token.$": "$$.Task.Token"}}),
            json!({"HeartbeatSeconds": 600}),
        )
        .await;
    let execution = world.api.start(&parent, "p", &json!({})).await;
    let child_execution = execution_arn(&child, "kid");
    world.wait_for_event(&execution, "TaskSubmitted").await;
    let child_output = world.api.finished(&child_execution).await.output();
    let token = child_output["token"]
        .as_str()
        .expect("the token")
        .to_string();
    world
        .api
        .call(
            "SendTaskSuccess",
            &json!({"taskToken": token, "output": "{\"approved\":true}"}),
        )
        .await;
    let output = world.api.finished(&execution).await.output();
    assert_eq!(output, json!({"approved": true}));
    let events = world.api.history(&execution).await;
    assert_eq!(
        types_of(&events),
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
    // The token is single use.
    let again = world
        .api
        .try_call(
            "SendTaskSuccess",
            &json!({"taskToken": token, "output": "{}"}),
        )
        .await;
    let (status, body) = again.expect_err("a used token is refused");
    assert_eq!(status, 400);
    assert!(
        body["__type"]
            .as_str()
            .is_some_and(|t| t.ends_with("#TaskTimedOut")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_the_parent_stops_its_sync_child() {
    let world = World::new("stop").await;
    let (child, parent) = world
        .machines(
            "stop",
            &doubling_child(300),
            "startExecution.sync",
            json!({"Name": "kid", "Input": {"n": 1}}),
            json!({}),
        )
        .await;
    let execution = world.api.start(&parent, "p", &json!({})).await;
    world.wait_for_event(&execution, "TaskSubmitted").await;
    let child_execution = execution_arn(&child, "kid");
    assert_eq!(
        world.api.describe(&child_execution).await["status"],
        "RUNNING"
    );
    world
        .api
        .call("StopExecution", &json!({"executionArn": execution}))
        .await;
    assert_eq!(world.api.finished(&execution).await.status(), "ABORTED");
    let child_done = world.api.finished(&child_execution).await;
    assert_eq!(child_done.status(), "ABORTED");
    assert!(
        child_done.cause().contains(&execution),
        "the cause names the parent: {}",
        child_done.cause()
    );
    let parent_types = world.api.event_types(&execution).await;
    assert_eq!(
        parent_types.last().map(String::as_str),
        Some("ExecutionAborted")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sync_wait_survives_kill_9_and_completes_exactly_once() {
    let mut world = World::new("kill").await;
    let (child, parent) = world
        .machines(
            "kill",
            &doubling_child(3),
            "startExecution.sync:2",
            json!({"Input": {"n.$": "$.n"}}),
            json!({}),
        )
        .await;
    let execution = world.api.start(&parent, "p", &json!({"n": 7})).await;
    world.wait_for_event(&execution, "TaskSubmitted").await;
    let children = world.children_of(&execution).await;
    assert_eq!(children.len(), 1);
    let child_status: String = sqlx::query_scalar("select status from executions where arn = $1")
        .bind(&children[0])
        .fetch_one(world.store.pool())
        .await
        .expect("child row");
    assert_eq!(
        child_status, "RUNNING",
        "the kill lands while the child waits"
    );
    world.restart().await;

    let output = world.api.finished(&execution).await.output();
    assert_eq!(output["Output"]["doubled"], json!(14));
    assert_eq!(output["ExecutionArn"], json!(children[0]));
    assert_eq!(
        world.children_of(&execution).await,
        children,
        "one child only"
    );
    let listed = world
        .api
        .call("ListExecutions", &json!({"stateMachineArn": child}))
        .await;
    assert_eq!(listed["executions"].as_array().map(Vec::len), Some(1));
    let types = world.api.event_types(&execution).await;
    for once in [
        "TaskStarted",
        "TaskSubmitted",
        "TaskSucceeded",
        "ExecutionSucceeded",
    ] {
        assert_eq!(
            types.iter().filter(|t| *t == once).count(),
            1,
            "{once} once: {types:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_timed_out_sync_task_stops_its_child_and_a_retry_cannot_take_it_over() {
    let world = World::new("timeout").await;
    let (child, parent) = world
        .machines(
            "timeout",
            &doubling_child(300),
            "startExecution.sync",
            json!({"Name": "kid", "Input": {"n": 1}}),
            json!({
                "TimeoutSeconds": 1,
                "Retry": [{"ErrorEquals": ["States.Timeout"], "MaxAttempts": 1, "IntervalSeconds": 1}]
            }),
        )
        .await;
    let execution = world.api.start(&parent, "p", &json!({})).await;
    let finished = world.api.finished(&execution).await;
    assert_eq!(finished.status(), "FAILED");
    assert_eq!(
        finished.error(),
        "StepFunctions.ExecutionAlreadyExistsException",
        "{}",
        finished.cause()
    );
    let child_done = world.api.finished(&execution_arn(&child, "kid")).await;
    assert_eq!(child_done.status(), "ABORTED");
    let types = world.api.event_types(&execution).await;
    assert_eq!(
        types.iter().filter(|t| *t == "TaskTimedOut").count(),
        1,
        "{types:?}"
    );
    assert_eq!(
        types.iter().filter(|t| *t == "TaskScheduled").count(),
        2,
        "{types:?}"
    );
}
