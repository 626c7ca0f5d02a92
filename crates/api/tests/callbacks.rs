//! Callbacks end to end: `.waitForTaskToken` tasks and activities, completed through
//! the API with SendTaskSuccess/SendTaskFailure/SendTaskHeartbeat and GetActivityTask.
//! Real Postgres, real HTTP on loopback (the API, and a function URL playing the Lambda
//! function that receives the token), the real scheduler and worker loops in-process.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_api::{router, ApiConfig, ApiState};
use cairn_scheduler::{Scheduler, SchedulerConfig};
use cairn_store::postgres::PgStore;
use cairn_store::{Channel, Store};
use cairn_worker::runner::{self, RunnerConfig};
use cairn_worker::{Credentials, LambdaApi, TargetConfig, Targets};
use serde_json::{json, Value};
use support::{unique, Harness};
use tokio::sync::{mpsc, watch, Mutex};

const NOTIFY: &str = "arn:aws:states:::lambda:invoke.waitForTaskToken";

/// The scheduler and worker loops of one "process"; `stop` ends them as a shutdown does.
struct Engine {
    stop: watch::Sender<bool>,
    loops: Vec<tokio::task::JoinHandle<()>>,
}

impl Engine {
    /// Starts both loops on `store`; the function `notify` is the URL `function`.
    async fn start(store: &PgStore, function: &str) -> Engine {
        let (stop, stopping) = watch::channel(false);
        let scheduler = Scheduler::new(
            store.clone(),
            SchedulerConfig {
                idle_poll: Duration::from_millis(200),
                ..SchedulerConfig::default()
            },
        );
        let inbox = store.doorbell(Channel::Inbox);
        let scheduler_stop = stopping.clone();
        let scheduler_loop =
            tokio::spawn(async move { scheduler.run(inbox, scheduler_stop).await });
        let mut functions = BTreeMap::new();
        functions.insert("notify".to_string(), function.parse().expect("url"));
        let targets = Targets::new(
            TargetConfig {
                functions,
                ..TargetConfig::default()
            },
            LambdaApi::new(None, Credentials::new("k", "s", None, None, "test")),
        )
        .expect("targets");
        let config = RunnerConfig {
            owner: unique("worker"),
            concurrency: 8,
            lease: Duration::from_secs(30),
            idle_poll: Duration::from_millis(200),
        };
        let tasks = store.doorbell(Channel::Tasks);
        let worker_loop = tokio::spawn(runner::run(
            store.clone(),
            Arc::new(targets),
            config,
            tasks,
            stopping,
            None,
        ));
        Engine {
            stop,
            loops: vec![scheduler_loop, worker_loop],
        }
    }

    async fn shut_down(self) {
        let _ = self.stop.send(true);
        for handle in self.loops {
            handle.await.expect("loop ended cleanly");
        }
    }
}

/// The function behind `notify`: hands every payload it receives to the test. When the
/// payload says `"answerInline": true`, it calls SendTaskSuccess itself before it
/// answers, as a fast callback can beat the worker's own record of the invocation.
struct Function {
    url: String,
    payloads: Mutex<mpsc::UnboundedReceiver<Value>>,
}

async fn function(api: String) -> Function {
    let (sender, receiver) = mpsc::unbounded_channel::<Value>();
    let client = reqwest::Client::new();
    let app = axum::Router::new().route(
        "/notify",
        axum::routing::post(move |body: axum::body::Bytes| {
            let sender = sender.clone();
            let client = client.clone();
            let api = api.clone();
            async move {
                let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                if payload["answerInline"] == true {
                    let reply = client
                        .post(&api)
                        .header("Content-Type", "application/x-amz-json-1.0")
                        .header("X-Amz-Target", "AWSStepFunctions.SendTaskSuccess")
                        .body(
                            json!({"taskToken": payload["token"], "output": "{\"inline\":true}"})
                                .to_string(),
                        )
                        .send()
                        .await
                        .expect("inline SendTaskSuccess");
                    assert_eq!(reply.status().as_u16(), 200);
                }
                let refuse = payload["refuse"] == true;
                let _ = sender.send(payload);
                if refuse {
                    return (
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                        [("content-type", "application/json")],
                        json!({"errorType": "Refused", "errorMessage": "no"}).to_string(),
                    );
                }
                (
                    axum::http::StatusCode::OK,
                    [("content-type", "application/json")],
                    json!({"accepted": true}).to_string(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Function {
        url: format!("http://{addr}/notify"),
        payloads: Mutex::new(receiver),
    }
}

impl Function {
    async fn next(&self) -> Value {
        let mut payloads = self.payloads.lock().await;
        tokio::time::timeout(Duration::from_secs(20), payloads.recv())
            .await
            .expect("the function was invoked in time")
            .expect("a payload")
    }
}

/// A harness on database `suffix` of its own, whose API long-polls GetActivityTask
/// for `poll`. Each test has its own database: an engine's worker would otherwise take
/// another test's tasks and call its own function with them.
async fn harness(suffix: &str, poll: Duration) -> Harness {
    let base = Harness::isolated(suffix).await;
    let app = router(ApiState::new(
        base.store.clone(),
        ApiConfig {
            activity_poll: poll,
            ..ApiConfig::default()
        },
        support::task_targets(Default::default()),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Harness {
        base: format!("http://{addr}/"),
        ..base
    }
}

async fn start(h: &Harness, definition: &Value, input: Value) -> String {
    let machine = h.machine(&unique("cb"), definition).await;
    h.call(
        "StartExecution",
        json!({"stateMachineArn": machine, "input": input.to_string()}),
    )
    .await
    .ok()["executionArn"]
        .as_str()
        .expect("executionArn")
        .to_string()
}

async fn history_types(h: &Harness, arn: &str) -> Vec<String> {
    let history = h
        .call(
            "GetExecutionHistory",
            json!({"executionArn": arn, "maxResults": 1000}),
        )
        .await
        .ok();
    history["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn history(h: &Harness, arn: &str) -> Vec<Value> {
    let history = h
        .call(
            "GetExecutionHistory",
            json!({"executionArn": arn, "maxResults": 1000}),
        )
        .await
        .ok();
    history["events"].as_array().expect("events").clone()
}

/// Waits (the engine runs in the background) until the history shows `event_type`.
async fn wait_for_event(h: &Harness, arn: &str, event_type: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if history_types(h, arn).await.iter().any(|t| t == event_type) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{arn} never recorded {event_type}: {:?}",
        history_types(h, arn).await
    );
}

async fn wait_end(h: &Harness, arn: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let described = h
            .call("DescribeExecution", json!({"executionArn": arn}))
            .await
            .ok();
        if described["status"] != "RUNNING" {
            return described;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{arn} did not finish");
}

async fn status(h: &Harness, arn: &str) -> String {
    h.call("DescribeExecution", json!({"executionArn": arn}))
        .await
        .ok()["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn output(described: &Value) -> Value {
    serde_json::from_str(described["output"].as_str().expect("output")).expect("json output")
}

/// Notify → (callback) → End, with a Catch for `Rejected` and for heartbeat timeouts.
fn callback_machine(heartbeat: Option<u64>) -> Value {
    let mut notify = json!({
        "Type": "Task",
        "Resource": NOTIFY,
        "Parameters": {
            "FunctionName": "notify",
            "Payload": {
                "token.$": "$$.Task.Token",
                "order.$": "$.order",
                "answerInline.$": "$.answerInline"
            }
        },
        "ResultPath": "$.approval",
        "Catch": [{
            "ErrorEquals": ["Rejected", "States.HeartbeatTimeout"],
            "ResultPath": "$.problem",
            "Next": "Handled"
        }],
        "End": true
    });
    if let Some(seconds) = heartbeat {
        notify["HeartbeatSeconds"] = json!(seconds);
        notify["TimeoutSeconds"] = json!(120);
    }
    json!({
        "StartAt": "Notify",
        "States": {
            "Notify": notify,
            "Handled": {"Type": "Pass", "End": true}
        }
    })
}

#[tokio::test]
async fn callback_success_with_the_token_from_the_context_object() {
    let h = harness("success", Duration::from_secs(60)).await;
    let f = function(h.base.clone()).await;
    let engine = Engine::start(&h.store, &f.url).await;
    let arn = start(
        &h,
        &callback_machine(None),
        json!({"order": 42, "answerInline": false}),
    )
    .await;
    let payload = f.next().await;
    assert_eq!(payload["order"], 42);
    let token = payload["token"].as_str().expect("a token").to_string();
    assert!(token.len() >= 43, "{token}");
    wait_for_event(&h, &arn, "TaskSubmitted").await;
    assert_eq!(status(&h, &arn).await, "RUNNING");

    // Only a hash of the token is stored.
    let (clear, hashed): (i64, i64) = sqlx::query_as(
        "select count(*) filter (where token_hash = $1), count(*) filter (where token_hash = $2)
         from task_tokens",
    )
    .bind(&token)
    .bind(cairn_asl::callback::token_hash(&token))
    .fetch_one(h.store.pool())
    .await
    .expect("count tokens");
    assert_eq!((clear, hashed), (0, 1));

    // Bad requests change nothing.
    h.call(
        "SendTaskSuccess",
        json!({"taskToken": token, "output": "not json"}),
    )
    .await
    .err("InvalidOutput");
    h.call(
        "SendTaskSuccess",
        json!({"taskToken": "garbage", "output": "{}"}),
    )
    .await
    .err("InvalidToken");
    h.call("SendTaskSuccess", json!({"output": "{}"}))
        .await
        .err("ValidationException");
    assert_eq!(status(&h, &arn).await, "RUNNING");

    h.call(
        "SendTaskSuccess",
        json!({"taskToken": token, "output": "{\"approved\": true}"}),
    )
    .await
    .ok();
    let described = wait_end(&h, &arn).await;
    assert_eq!(described["status"], "SUCCEEDED", "{described}");
    assert_eq!(output(&described)["approval"], json!({"approved": true}));

    // Single use: the same token again, or a heartbeat, is TaskTimedOut.
    let again = h
        .call(
            "SendTaskSuccess",
            json!({"taskToken": token, "output": "{}"}),
        )
        .await;
    again.err("TaskTimedOut");
    assert_eq!(
        again.message(),
        "Task Timed Out: 'Provided task does not exist anymore'"
    );
    h.call("SendTaskHeartbeat", json!({"taskToken": token}))
        .await
        .err("TaskTimedOut");

    let events = history(&h, &arn).await;
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        types,
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
    let scheduled = &events[2]["taskScheduledEventDetails"];
    assert_eq!(scheduled["resourceType"], "lambda");
    assert_eq!(scheduled["resource"], "invoke.waitForTaskToken");
    let parameters: Value =
        serde_json::from_str(scheduled["parameters"].as_str().expect("parameters")).expect("json");
    assert_eq!(parameters["Payload"]["token"], token.as_str());
    let submitted = &events[4]["taskSubmittedEventDetails"];
    let response: Value =
        serde_json::from_str(submitted["output"].as_str().expect("output")).expect("json");
    assert_eq!(response["Payload"], json!({"accepted": true}));
    engine.shut_down().await;
}

#[tokio::test]
async fn callback_failure_is_caught_and_a_fast_callback_beats_the_worker() {
    let h = harness("failure", Duration::from_secs(60)).await;
    let f = function(h.base.clone()).await;
    let engine = Engine::start(&h.store, &f.url).await;

    let failing = start(
        &h,
        &callback_machine(None),
        json!({"order": 1, "answerInline": false}),
    )
    .await;
    let token = f.next().await["token"].as_str().expect("token").to_string();
    h.call(
        "SendTaskFailure",
        json!({"taskToken": token, "error": "Rejected", "cause": "out of stock"}),
    )
    .await
    .ok();
    let described = wait_end(&h, &failing).await;
    assert_eq!(described["status"], "SUCCEEDED", "{described}");
    assert_eq!(
        output(&described)["problem"],
        json!({"Error": "Rejected", "Cause": "out of stock"})
    );
    let types = history_types(&h, &failing).await;
    assert!(types.contains(&"TaskFailed".to_string()), "{types:?}");
    h.call(
        "SendTaskFailure",
        json!({"taskToken": token, "error": "Rejected"}),
    )
    .await
    .err("TaskTimedOut");

    // The invocation itself fails: the task fails at once and its token is closed.
    let mut definition = callback_machine(None);
    definition["States"]["Notify"]["Parameters"]["Payload"]["refuse"] = json!(true);
    let refused = start(&h, &definition, json!({"order": 4, "answerInline": false})).await;
    let token = f.next().await["token"].as_str().expect("token").to_string();
    let described = wait_end(&h, &refused).await;
    assert_eq!(described["status"], "FAILED", "{described}");
    assert_eq!(described["error"], "Refused");
    let types = history_types(&h, &refused).await;
    assert!(!types.contains(&"TaskSubmitted".to_string()), "{types:?}");
    h.call(
        "SendTaskSuccess",
        json!({"taskToken": token, "output": "{}"}),
    )
    .await
    .err("TaskTimedOut");

    // The function answers through the API before its own response reaches the worker.
    let inline = start(
        &h,
        &callback_machine(None),
        json!({"order": 2, "answerInline": true}),
    )
    .await;
    f.next().await;
    let described = wait_end(&h, &inline).await;
    assert_eq!(described["status"], "SUCCEEDED", "{described}");
    assert_eq!(output(&described)["approval"], json!({"inline": true}));
    let types = history_types(&h, &inline).await;
    assert_eq!(
        types,
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
    engine.shut_down().await;
}

#[tokio::test]
async fn heartbeats_keep_a_task_alive_and_a_missed_one_times_it_out() {
    let h = harness("heartbeat", Duration::from_secs(60)).await;
    let f = function(h.base.clone()).await;
    let engine = Engine::start(&h.store, &f.url).await;
    let arn = start(
        &h,
        &callback_machine(Some(2)),
        json!({"order": 7, "answerInline": false}),
    )
    .await;
    let token = f.next().await["token"].as_str().expect("token").to_string();
    wait_for_event(&h, &arn, "TaskSubmitted").await;
    // Twice the heartbeat period, kept alive by a heartbeat every 0.7 s.
    let alive_until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < alive_until {
        h.call("SendTaskHeartbeat", json!({"taskToken": token}))
            .await
            .ok();
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    assert_eq!(status(&h, &arn).await, "RUNNING");
    // Silence: States.HeartbeatTimeout, caught.
    let silent_since = Instant::now();
    let described = wait_end(&h, &arn).await;
    assert!(silent_since.elapsed() >= Duration::from_millis(1200));
    assert_eq!(described["status"], "SUCCEEDED", "{described}");
    assert_eq!(
        output(&described)["problem"]["Error"],
        "States.HeartbeatTimeout"
    );
    let events = history(&h, &arn).await;
    let timed_out = events
        .iter()
        .find(|e| e["type"] == "TaskTimedOut")
        .expect("a TaskTimedOut event");
    assert_eq!(
        timed_out["taskTimedOutEventDetails"]["error"],
        "States.HeartbeatTimeout"
    );
    h.call(
        "SendTaskSuccess",
        json!({"taskToken": token, "output": "{}"}),
    )
    .await
    .err("TaskTimedOut");
    engine.shut_down().await;
}

#[tokio::test]
async fn activity_pollers_each_get_a_distinct_task() {
    let h = harness("activity", Duration::from_secs(60)).await;
    let f = function(h.base.clone()).await;
    let engine = Engine::start(&h.store, &f.url).await;
    let activity = h
        .call("CreateActivity", json!({"name": unique("act")}))
        .await
        .ok()["activityArn"]
        .as_str()
        .expect("activityArn")
        .to_string();
    h.call(
        "GetActivityTask",
        json!({"activityArn": format!("{activity}-missing")}),
    )
    .await
    .err("ActivityDoesNotExist");
    let definition = json!({
        "StartAt": "Work",
        "States": {"Work": {
            "Type": "Task", "Resource": activity, "HeartbeatSeconds": 30,
            "ResultPath": "$.result", "End": true
        }}
    });
    let machine = h.machine(&unique("act"), &definition).await;

    // Both pollers, one per replica, wait before any task exists; the tasks' NOTIFY
    // wakes them, and each task goes to one of them.
    // A second replica: its own pool and API server on the same database.
    let replica = harness("activity", Duration::from_secs(60)).await;
    let poll = |server: &'static str, worker: &'static str| {
        let h = if server == "replica" { &replica } else { &h };
        let activity = activity.clone();
        async move {
            let started = Instant::now();
            let reply = h
                .call(
                    "GetActivityTask",
                    json!({"activityArn": activity, "workerName": worker}),
                )
                .await
                .ok();
            (reply, started.elapsed())
        }
    };
    let starter = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut arns = Vec::new();
        for n in 0..2 {
            arns.push(
                h.call(
                    "StartExecution",
                    json!({"stateMachineArn": machine, "input": json!({"n": n}).to_string()}),
                )
                .await
                .ok()["executionArn"]
                    .as_str()
                    .expect("arn")
                    .to_string(),
            );
        }
        arns
    };
    let ((a, a_took), (b, b_took), arns) =
        tokio::join!(poll("first", "alpha"), poll("replica", "beta"), starter);
    assert!(a_took < Duration::from_secs(10) && b_took < Duration::from_secs(10));
    let token_a = a["taskToken"].as_str().expect("alpha got a task");
    let token_b = b["taskToken"].as_str().expect("beta got a task");
    assert_ne!(token_a, token_b);
    let mut inputs: Vec<Value> = [&a, &b]
        .iter()
        .map(|r| serde_json::from_str(r["input"].as_str().expect("input")).expect("json"))
        .collect();
    inputs.sort_by_key(|v| v["n"].as_i64());
    assert_eq!(inputs, [json!({"n": 0}), json!({"n": 1})]);

    for (reply, token) in [(&a, token_a), (&b, token_b)] {
        h.call("SendTaskHeartbeat", json!({"taskToken": token}))
            .await
            .ok();
        let input: Value =
            serde_json::from_str(reply["input"].as_str().expect("input")).expect("json");
        h.call(
            "SendTaskSuccess",
            json!({"taskToken": token, "output": json!({"doubled": input["n"].as_i64().unwrap_or(-1) * 2}).to_string()}),
        )
        .await
        .ok();
    }
    for arn in &arns {
        let described = wait_end(&h, arn).await;
        assert_eq!(described["status"], "SUCCEEDED", "{described}");
        let out = output(&described);
        assert_eq!(out["result"]["doubled"], out["n"].as_i64().expect("n") * 2);
        let events = history(&h, arn).await;
        let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
        assert_eq!(
            types,
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
        let scheduled = &events[2]["activityScheduledEventDetails"];
        assert_eq!(scheduled["resource"], activity.as_str());
        assert_eq!(scheduled["heartbeatInSeconds"], 30);
        let worker = events[3]["activityStartedEventDetails"]["workerName"]
            .as_str()
            .expect("workerName");
        assert!(worker == "alpha" || worker == "beta", "{worker}");
    }
    engine.shut_down().await;
}

#[tokio::test]
async fn activity_long_poll_answers_empty_after_its_timeout() {
    let h = harness("longpoll", Duration::from_millis(1500)).await;
    let activity = h
        .call("CreateActivity", json!({"name": unique("idle")}))
        .await
        .ok()["activityArn"]
        .as_str()
        .expect("activityArn")
        .to_string();
    let started = Instant::now();
    let reply = h
        .call("GetActivityTask", json!({"activityArn": activity}))
        .await
        .ok();
    let took = started.elapsed();
    assert_eq!(reply, json!({}));
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

#[tokio::test]
async fn a_waiting_callback_survives_a_restart() {
    let h = harness("restart", Duration::from_secs(60)).await;
    let f = function(h.base.clone()).await;
    let engine = Engine::start(&h.store, &f.url).await;
    let arn = start(
        &h,
        &callback_machine(None),
        json!({"order": 9, "answerInline": false}),
    )
    .await;
    let token = f.next().await["token"].as_str().expect("token").to_string();
    wait_for_event(&h, &arn, "TaskSubmitted").await;
    engine.shut_down().await;
    h.store.pool().close().await;

    // A new process: new pool, new API server, new scheduler and worker.
    let h2 = harness("restart", Duration::from_secs(60)).await;
    let engine = Engine::start(&h2.store, &f.url).await;
    assert_eq!(status(&h2, &arn).await, "RUNNING");
    h2.call(
        "SendTaskSuccess",
        json!({"taskToken": token, "output": "{\"after\": \"restart\"}"}),
    )
    .await
    .ok();
    let described = wait_end(&h2, &arn).await;
    assert_eq!(described["status"], "SUCCEEDED", "{described}");
    assert_eq!(output(&described)["approval"], json!({"after": "restart"}));
    engine.shut_down().await;
}

/// An activity worker written against boto3, the way users write them: an empty poll,
/// a task, a heartbeat, success, and boto3's modelled exceptions for a reused and a
/// garbage token.
const BOTO3_WORKER: &str = r#"
import json, sys
import boto3
from botocore.config import Config

endpoint, activity, machine = sys.argv[1:4]
sfn = boto3.client(
    "stepfunctions", endpoint_url=endpoint, region_name="us-east-1",
    aws_access_key_id="test", aws_secret_access_key="test",
    config=Config(read_timeout=70, retries={"max_attempts": 0}),
)
empty = sfn.get_activity_task(activityArn=activity, workerName="py-worker")
assert "taskToken" not in empty, empty
execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"n": 5}))
task = sfn.get_activity_task(activityArn=activity, workerName="py-worker")
n = json.loads(task["input"])["n"]
sfn.send_task_heartbeat(taskToken=task["taskToken"])
sfn.send_task_success(taskToken=task["taskToken"], output=json.dumps({"squared": n * n}))
try:
    sfn.send_task_success(taskToken=task["taskToken"], output="{}")
    sys.exit("a used token was accepted")
except sfn.exceptions.TaskTimedOut:
    pass
try:
    sfn.send_task_failure(taskToken="nonsense", error="E")
    sys.exit("a garbage token was accepted")
except sfn.exceptions.InvalidToken:
    pass
print(execution["executionArn"])
"#;

#[tokio::test]
async fn a_boto3_activity_worker_completes_a_task() {
    let h = harness("boto3", Duration::from_millis(1500)).await;
    let f = function(h.base.clone()).await;
    let engine = Engine::start(&h.store, &f.url).await;
    let activity = h
        .call("CreateActivity", json!({"name": unique("py")}))
        .await
        .ok()["activityArn"]
        .as_str()
        .expect("activityArn")
        .to_string();
    let machine = h
        .machine(
            &unique("py"),
            &json!({"StartAt": "Work", "States": {"Work": {
                "Type": "Task", "Resource": activity, "HeartbeatSeconds": 60, "End": true
            }}}),
        )
        .await;
    let worker = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(BOTO3_WORKER)
        .arg(&h.base)
        .arg(&activity)
        .arg(&machine)
        .output()
        .await
        .expect("python3 with boto3 runs");
    assert!(
        worker.status.success(),
        "the boto3 worker failed: {}",
        String::from_utf8_lossy(&worker.stderr)
    );
    let arn = String::from_utf8_lossy(&worker.stdout).trim().to_string();
    let described = wait_end(&h, &arn).await;
    assert_eq!(described["status"], "SUCCEEDED", "{described}");
    assert_eq!(output(&described), json!({"squared": 25}));
    engine.shut_down().await;
}

#[tokio::test]
async fn timeout_seconds_covers_the_wait_and_withdraws_the_queued_activity_task() {
    let h = harness("timeout", Duration::from_millis(1500)).await;
    let f = function(h.base.clone()).await;
    let engine = Engine::start(&h.store, &f.url).await;
    let activity = h
        .call("CreateActivity", json!({"name": unique("slow")}))
        .await
        .ok()["activityArn"]
        .as_str()
        .expect("activityArn")
        .to_string();
    let arn = start(
        &h,
        &json!({"StartAt": "Work", "States": {"Work": {
            "Type": "Task", "Resource": activity, "TimeoutSeconds": 1, "End": true
        }}}),
        json!({}),
    )
    .await;
    let described = wait_end(&h, &arn).await;
    assert_eq!(described["status"], "FAILED", "{described}");
    assert_eq!(described["error"], "States.Timeout");
    let types = history_types(&h, &arn).await;
    assert!(types.contains(&"ActivityTimedOut".to_string()), "{types:?}");
    // Nobody polled in time: the task is withdrawn, not handed out late.
    let reply = h
        .call("GetActivityTask", json!({"activityArn": activity}))
        .await
        .ok();
    assert_eq!(reply, json!({}));
    let open: i64 = sqlx::query_scalar(
        "select count(*) from task_tokens where execution_arn = $1 and closed_at is null",
    )
    .bind(&arn)
    .fetch_one(h.store.pool())
    .await
    .expect("count open tokens");
    assert_eq!(open, 0, "the timed-out task's token is closed");

    // A callback task times out the same way while it waits for its token.
    let mut definition = callback_machine(None);
    definition["States"]["Notify"]["TimeoutSeconds"] = json!(1);
    let waiting = start(&h, &definition, json!({"order": 3, "answerInline": false})).await;
    let token = f.next().await["token"].as_str().expect("token").to_string();
    let described = wait_end(&h, &waiting).await;
    assert_eq!(described["status"], "FAILED", "{described}");
    assert_eq!(described["error"], "States.Timeout");
    h.call(
        "SendTaskSuccess",
        json!({"taskToken": token, "output": "{}"}),
    )
    .await
    .err("TaskTimedOut");
    engine.shut_down().await;
}
