//! Every state type end to end through the durable engine: a real `cairn server` process
//! on a fresh Postgres database, Task targets served over loopback HTTP as function URLs
//! (`CAIRN_FUNCTIONS`), driven through the Step Functions API (AWS JSON 1.0).
//!
//! Each test asserts the final status, the output and the history's event types as AWS
//! records them (sequences taken from the conformance corpus where a similar case
//! exists). Tasks use `arn:aws:states:::lambda:invoke`, for which AWS records `Task*`
//! events; a bare function ARN has its own test because AWS records `LambdaFunction*`
//! events for it.
//!
//! Each test has its own database and server, so tests run in parallel. Time bounds are
//! generous and only fire on a hang; lower bounds (a Wait waited at least its seconds) are
//! the only timing assertions.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use cairn_store::postgres::PgStore;
use cairn_store::testing;
use serde_json::{json, Value};

mod support;
use support::{Api, Finished, Server};

/// The functions the target serves, each mapped by name in `CAIRN_FUNCTIONS`.
const FUNCTIONS: &[&str] = &[
    "echo",
    "fail",
    "flaky",
    "slow",
    "square",
    "hang",
    "hang-always",
    "hang-then-flaky",
];

/// How long a hanging function hangs: longer than any test.
const HANG: Duration = Duration::from_secs(300);

/// One request the target received.
#[derive(Clone, Debug)]
struct Call {
    function: String,
    /// `<execution ARN>/<state>/<attempt>`.
    key: String,
    input: Value,
    at: Instant,
}

/// A local HTTP server standing in for Lambda functions, recording every call.
#[derive(Default)]
struct Target {
    calls: Mutex<Vec<Call>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl Target {
    fn calls(&self, function: &str) -> Vec<Call> {
        self.calls
            .lock()
            .expect("lock")
            .iter()
            .filter(|c| c.function == function)
            .cloned()
            .collect()
    }

    /// Calls for one execution's task attempts, in arrival order.
    fn calls_for(&self, execution: &str) -> Vec<Call> {
        let prefix = format!("{execution}/");
        self.calls
            .lock()
            .expect("lock")
            .iter()
            .filter(|c| c.key.starts_with(&prefix))
            .cloned()
            .collect()
    }

    /// Waits until `execution` has had `count` calls (the limit only fires on a hang).
    async fn wait_for_calls(&self, execution: &str, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.calls_for(execution).len() < count {
            assert!(
                Instant::now() < deadline,
                "{execution}: the target never saw {count} calls"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Decrements the in-flight count even when the caller hangs up mid-call.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A Lambda function error as Lambda reports it: HTTP 200 with `X-Amz-Function-Error`
/// and the error payload; AWS makes `errorType` the error and the payload text the cause.
fn function_error(error_type: &str, message: &str) -> Response {
    let mut response =
        Json(json!({"errorType": error_type, "errorMessage": message})).into_response();
    response.headers_mut().insert(
        "x-amz-function-error",
        HeaderValue::from_static("Unhandled"),
    );
    response
}

/// The exact cause AWS reports for [`function_error`]: the payload's text.
fn function_error_cause(error_type: &str, message: &str) -> String {
    json!({"errorType": error_type, "errorMessage": message}).to_string()
}

async fn invoke(
    State(target): State<Arc<Target>>,
    Path(function): Path<String>,
    headers: HeaderMap,
    Json(input): Json<Value>,
) -> Response {
    let key = headers
        .get("x-cairn-idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("missing")
        .to_string();
    let attempt: u64 = key
        .rsplit('/')
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(u64::MAX);
    // How many times this very attempt was invoked before (a takeover re-invokes it).
    let earlier = {
        let mut calls = target.calls.lock().expect("lock");
        let earlier = calls.iter().filter(|c| c.key == key).count();
        calls.push(Call {
            function: function.clone(),
            key: key.clone(),
            input: input.clone(),
            at: Instant::now(),
        });
        earlier
    };
    match function.as_str() {
        "echo" => {
            if let Some(ms) = input["delayMs"].as_u64() {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            Json(json!({"echoed": input})).into_response()
        }
        "fail" => function_error("Boom", "it broke"),
        "flaky" if attempt < 2 => function_error("Flaky", &format!("attempt {attempt}")),
        "flaky" => Json(json!({"attempt": attempt})).into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Json(json!({"late": true})).into_response()
        }
        "square" => {
            let now = target.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            let _guard = InFlight(&target.in_flight);
            target.max_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(250)).await;
            let n = input["n"].as_i64().unwrap_or(0);
            if input["fail"] == json!(true) {
                return function_error("Odd", &format!("{n} refused"));
            }
            Json(json!({"square": n * n, "index": input["index"]})).into_response()
        }
        "hang" if earlier == 0 => {
            tokio::time::sleep(HANG).await;
            Json(json!({"too": "late"})).into_response()
        }
        "hang" => Json(json!({"ok": true, "invocation": earlier + 1})).into_response(),
        "hang-always" => {
            tokio::time::sleep(HANG).await;
            Json(json!({"too": "late"})).into_response()
        }
        "hang-then-flaky" if attempt == 0 && earlier == 0 => {
            tokio::time::sleep(HANG).await;
            Json(json!({"too": "late"})).into_response()
        }
        "hang-then-flaky" if attempt == 0 => function_error("Flaky", "after the takeover"),
        "hang-then-flaky" => Json(json!({"attempt": attempt})).into_response(),
        _ => (StatusCode::NOT_FOUND, "no such function").into_response(),
    }
}

async fn start_target() -> (SocketAddr, Arc<Target>) {
    let target = Arc::new(Target::default());
    let app = Router::new()
        .route("/{function}", post(invoke))
        .with_state(target.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    (addr, target)
}

/// One test's world: the target, a fresh database and a server on it.
struct World {
    target: Arc<Target>,
    addr: SocketAddr,
    store: PgStore,
    url: String,
    server: Server,
    api: Api,
}

impl World {
    async fn new(label: &str) -> World {
        let (addr, target) = start_target().await;
        let (store, url) = testing::fresh_store(&format!("states_{label}"), 2)
            .await
            .expect("database");
        let server = spawn_server(&url, addr);
        let api = server.ready().await;
        World {
            target,
            addr,
            store,
            url,
            server,
            api,
        }
    }

    /// Kills the server with SIGKILL, checks that every execution in `running` is
    /// still RUNNING in the database (so the kill landed mid-run), and starts a new server
    /// on the same database.
    async fn restart(&mut self, running: &[String]) {
        self.server.kill9();
        for execution in running {
            let status: String = sqlx::query_scalar("select status from executions where arn = $1")
                .bind(execution)
                .fetch_one(self.store.pool())
                .await
                .expect("execution row");
            assert_eq!(
                status, "RUNNING",
                "{execution}: the kill landed after its end"
            );
        }
        self.server = spawn_server(&self.url, self.addr);
        self.api = self.server.ready().await;
    }

    /// Creates a machine, runs one execution to its end and returns it with its event
    /// types.
    async fn run(&self, name: &str, definition: &Value, input: &Value) -> (Finished, Vec<String>) {
        let machine = self.api.create_machine(name, definition).await;
        let execution = self.api.start(&machine, "run", input).await;
        let finished = self.api.finished(&execution).await;
        let types = self.api.event_types(&execution).await;
        (finished, types)
    }
}

fn spawn_server(database_url: &str, target: SocketAddr) -> Server {
    let functions: Vec<(String, String)> = FUNCTIONS
        .iter()
        .map(|f| (f.to_string(), format!("http://{target}/{f}")))
        .collect();
    Server::spawn(
        database_url,
        &functions,
        &[
            // A killed server's tasks are taken over two seconds after it last renewed.
            ("CAIRN_LEASE_SECONDS", "2"),
            // Many servers run at once in this binary: keep Postgres connections few.
            ("CAIRN_POOL_SIZE", "6"),
        ],
    )
}

/// A Task state calling `function` through `arn:aws:states:::lambda:invoke` with the
/// state's input as the payload; `fields` adds to (or overrides) the state.
fn lambda_task(function: &str, fields: Value) -> Value {
    let mut state = json!({
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": function, "Payload.$": "$"},
    });
    if let (Some(state), Some(fields)) = (state.as_object_mut(), fields.as_object()) {
        for (k, v) in fields {
            state.insert(k.clone(), v.clone());
        }
    }
    state
}

fn strings(types: &[&str]) -> Vec<String> {
    types.iter().map(|t| t.to_string()).collect()
}

/// Checks `types` is `prefix`, then an interleaving of `branches` (each branch's events in
/// its own order, branches concurrently), then `suffix`. Matching is greedy, which is
/// exact when branches never wait for the same event type at different positions: true
/// of identical branches without repeated types, and of branches with disjoint types.
fn assert_interleaving(types: &[String], prefix: &[&str], branches: &[Vec<&str>], suffix: &[&str]) {
    let total = prefix.len() + suffix.len() + branches.iter().map(Vec::len).sum::<usize>();
    assert_eq!(types.len(), total, "event count: {types:?}");
    assert_eq!(
        &types[..prefix.len()],
        &strings(prefix)[..],
        "prefix: {types:?}"
    );
    assert_eq!(
        &types[types.len() - suffix.len()..],
        &strings(suffix)[..],
        "suffix: {types:?}"
    );
    let mut positions = vec![0usize; branches.len()];
    for (i, t) in types[prefix.len()..types.len() - suffix.len()]
        .iter()
        .enumerate()
    {
        let branch = (0..branches.len())
            .find(|&b| branches[b].get(positions[b]) == Some(&t.as_str()))
            .unwrap_or_else(|| {
                panic!(
                    "event {} ({t}) fits no branch: {types:?}",
                    prefix.len() + i + 1
                )
            });
        positions[branch] += 1;
    }
}

const EXECUTION_OK: [&str; 1] = ["ExecutionSucceeded"];

/// The Task events of one successful `lambda:invoke` attempt.
const TASK_OK: [&str; 5] = [
    "TaskStateEntered",
    "TaskScheduled",
    "TaskStarted",
    "TaskSucceeded",
    "TaskStateExited",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pass_result_result_path_parameters_intrinsics_and_context() {
    let world = World::new("pass").await;
    let definition = json!({"StartAt": "Fixed", "States": {
        "Fixed": {"Type": "Pass", "Result": {"fixed": [1, 2]}, "ResultPath": "$.result", "Next": "Shape"},
        "Shape": {"Type": "Pass", "Parameters": {
            "sum.$": "States.MathAdd($.a, $.b)",
            "greeting.$": "States.Format('hello {}', $.name)",
            "parts.$": "States.StringSplit($.csv, ',')",
            "length.$": "States.ArrayLength($.result.fixed)",
            "execution.$": "$$.Execution.Name",
            "state.$": "$$.State.Name",
            "original.$": "$$.Execution.Input.name",
            "result.$": "$.result",
            "literal": "kept"
        }, "End": true}
    }});
    let input = json!({"a": 2, "b": 40, "name": "ann", "csv": "x,y,z"});
    let (finished, types) = world.run("pass", &definition, &input).await;
    assert_eq!(
        finished.output(),
        json!({
            "sum": 42, "greeting": "hello ann", "parts": ["x", "y", "z"], "length": 2,
            "execution": "run", "state": "Shape", "original": "ann",
            "result": {"fixed": [1, 2]}, "literal": "kept"
        })
    );
    assert_eq!(
        types,
        strings(&[
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded"
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_success_with_result_selector_result_path_and_output_path() {
    let world = World::new("task_ok").await;
    let definition = json!({"StartAt": "Call", "States": {
        "Call": lambda_task("echo", json!({
            "Parameters": {"FunctionName": "echo", "Payload": {"value.$": "$.value"}},
            "ResultSelector": {"got.$": "$.Payload.echoed.value", "status.$": "$.StatusCode"},
            "ResultPath": "$.out.task",
            "OutputPath": "$.out",
            "End": true
        }))
    }});
    let (finished, types) = world
        .run(
            "task",
            &definition,
            &json!({"value": 7, "other": "dropped"}),
        )
        .await;
    assert_eq!(
        finished.output(),
        json!({"task": {"got": 7, "status": 200}})
    );
    let mut expected = vec!["ExecutionStarted"];
    expected.extend(TASK_OK);
    expected.extend(EXECUTION_OK);
    assert_eq!(types, strings(&expected));
    let execution = finished.0["executionArn"].as_str().unwrap_or_default();
    let calls = world.target.calls_for(execution);
    assert_eq!(calls.len(), 1, "invoked once");
    assert_eq!(
        calls[0].input,
        json!({"value": 7}),
        "Parameters built the payload"
    );
    assert_eq!(calls[0].key, format!("{execution}/Call/1/0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_failure_is_caught() {
    let world = World::new("task_catch").await;
    let definition = json!({"StartAt": "Call", "States": {
        "Call": lambda_task("fail", json!({
            "Catch": [
                {"ErrorEquals": ["Other"], "Next": "Wrong"},
                {"ErrorEquals": ["Boom"], "ResultPath": "$.error", "Next": "Handled"}
            ],
            "End": true
        })),
        "Wrong": {"Type": "Fail", "Error": "WrongCatcher"},
        "Handled": {"Type": "Pass", "End": true}
    }});
    let (finished, types) = world.run("catch", &definition, &json!({"in": 1})).await;
    assert_eq!(
        finished.output(),
        json!({"in": 1, "error": {"Error": "Boom", "Cause": function_error_cause("Boom", "it broke")}})
    );
    assert_eq!(
        types,
        strings(&[
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskFailed",
            "TaskStateExited",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded"
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_retry_backs_off_then_succeeds() {
    let world = World::new("task_retry").await;
    let definition = json!({"StartAt": "Call", "States": {
        "Call": lambda_task("flaky", json!({
            "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "BackoffRate": 2, "MaxAttempts": 3}],
            "OutputPath": "$.Payload",
            "End": true
        }))
    }});
    let (finished, types) = world.run("retry", &definition, &json!({})).await;
    assert_eq!(finished.output(), json!({"attempt": 2}));
    assert_eq!(
        types,
        strings(&[
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskFailed",
            "TaskScheduled",
            "TaskStarted",
            "TaskFailed",
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded"
        ])
    );
    let calls = world.target.calls("flaky");
    let attempts: Vec<&str> = calls
        .iter()
        .map(|c| c.key.rsplit('/').next().unwrap_or_default())
        .collect();
    assert_eq!(attempts, ["0", "1", "2"], "one call per attempt");
    // IntervalSeconds 1, then 1 × BackoffRate 2.
    assert!(calls[1].at - calls[0].at >= Duration::from_millis(1000));
    assert!(calls[2].at - calls[1].at >= Duration::from_millis(2000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_timeout_seconds_against_a_slow_target_is_states_timeout() {
    let world = World::new("task_timeout").await;
    let definition = json!({"StartAt": "Call", "States": {
        "Call": lambda_task("slow", json!({"TimeoutSeconds": 1, "End": true}))
    }});
    let (finished, types) = world.run("timeout", &definition, &json!({})).await;
    // Had the target's answer (after 10 s) come first, the execution would have succeeded.
    assert_eq!(finished.status(), "FAILED", "{}", finished.0);
    assert_eq!(finished.error(), "States.Timeout");
    // AWS records the Lambda call's start before its time-out.
    assert_eq!(
        types,
        strings(&[
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskTimedOut",
            "ExecutionFailed"
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn choice_rules_default_and_no_match() {
    let world = World::new("choice").await;
    let rules = json!([
        {"And": [
            {"Variable": "$.n", "NumericGreaterThan": 10},
            {"Not": {"Variable": "$.n", "NumericGreaterThanEquals": 100}}
        ], "Next": "Big"},
        {"And": [
            {"Variable": "$.name", "IsPresent": true},
            {"Variable": "$.name", "StringMatches": "x-*"}
        ], "Next": "Xname"}
    ]);
    let definition = json!({"StartAt": "Choose", "States": {
        "Choose": {"Type": "Choice", "Choices": rules, "Default": "Other"},
        "Big": {"Type": "Pass", "Result": "big", "End": true},
        "Xname": {"Type": "Pass", "Result": "x", "End": true},
        "Other": {"Type": "Pass", "Result": "other", "End": true}
    }});
    let machine = world.api.create_machine("choice", &definition).await;
    let matched = [
        (json!({"n": 15}), "big"),
        (json!({"n": 150, "name": "x-ray"}), "x"),
        (json!({"n": 3, "name": "zed"}), "other"),
        (json!({"n": 3}), "other"),
    ];
    for (i, (input, expected)) in matched.iter().enumerate() {
        let execution = world.api.start(&machine, &format!("c{i}"), input).await;
        let finished = world.api.finished(&execution).await;
        assert_eq!(finished.output(), json!(expected), "input {input}");
        assert_eq!(
            world.api.event_types(&execution).await,
            strings(&[
                "ExecutionStarted",
                "ChoiceStateEntered",
                "ChoiceStateExited",
                "PassStateEntered",
                "PassStateExited",
                "ExecutionSucceeded"
            ])
        );
    }

    let no_default = json!({"StartAt": "Choose", "States": {
        "Choose": {"Type": "Choice", "Choices": rules},
        "Big": {"Type": "Pass", "End": true},
        "Xname": {"Type": "Pass", "End": true}
    }});
    let (finished, types) = world.run("nomatch", &no_default, &json!({"n": 1})).await;
    assert_eq!(finished.status(), "FAILED", "{}", finished.0);
    assert_eq!(finished.error(), "States.NoChoiceMatched");
    assert!(
        finished.cause().contains("'Choose'"),
        "{}",
        finished.cause()
    );
    assert_eq!(
        types,
        strings(&["ExecutionStarted", "ChoiceStateEntered", "ExecutionFailed"])
    );
}

/// Seconds since the epoch, as DescribeExecution gives dates.
fn date(finished: &Finished, field: &str) -> f64 {
    finished.0[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field}: {}", finished.0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_seconds_and_seconds_path() {
    let world = World::new("wait_seconds").await;
    let definition = json!({"StartAt": "Fixed", "States": {
        "Fixed": {"Type": "Wait", "Seconds": 1, "Next": "FromInput"},
        "FromInput": {"Type": "Wait", "SecondsPath": "$.delay", "End": true}
    }});
    let (finished, types) = world.run("wait", &definition, &json!({"delay": 1})).await;
    assert_eq!(finished.output(), json!({"delay": 1}));
    assert!(
        date(&finished, "stopDate") - date(&finished, "startDate") >= 2.0,
        "both waits were waited: {}",
        finished.0
    );
    assert_eq!(
        types,
        strings(&[
            "ExecutionStarted",
            "WaitStateEntered",
            "WaitStateExited",
            "WaitStateEntered",
            "WaitStateExited",
            "ExecutionSucceeded"
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_timestamp_in_the_past_and_the_future() {
    let world = World::new("wait_timestamp").await;
    let due = chrono::Utc::now() + chrono::Duration::seconds(2);
    let due_text = due.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let events = strings(&[
        "ExecutionStarted",
        "WaitStateEntered",
        "WaitStateExited",
        "ExecutionSucceeded",
    ]);

    let future = json!({"StartAt": "Until", "States": {
        "Until": {"Type": "Wait", "Timestamp": due_text, "End": true}
    }});
    let past = json!({"StartAt": "Until", "States": {
        "Until": {"Type": "Wait", "TimestampPath": "$.at", "End": true}
    }});
    let machine_future = world.api.create_machine("future", &future).await;
    let machine_past = world.api.create_machine("past", &past).await;
    let future_run = world
        .api
        .start(&machine_future, "f", &json!({"k": 1}))
        .await;
    let past_run = world
        .api
        .start(&machine_past, "p", &json!({"at": "2016-03-14T01:59:00Z"}))
        .await;

    let finished = world.api.finished(&past_run).await;
    assert_eq!(finished.output(), json!({"at": "2016-03-14T01:59:00Z"}));
    assert_eq!(world.api.event_types(&past_run).await, events);
    // Exited at once by the engine's clock (Cairn exits in the same step: no timer).
    let history = world.api.history(&past_run).await;
    let stamp = |i: usize| history[i]["timestamp"].as_f64().unwrap_or(f64::NAN);
    assert!(
        stamp(2) - stamp(1) < 1.0,
        "a timestamp in the past does not wait: {history:?}"
    );

    let finished = world.api.finished(&future_run).await;
    assert_eq!(finished.output(), json!({"k": 1}));
    assert_eq!(world.api.event_types(&future_run).await, events);
    let due_epoch = due.timestamp_millis() as f64 / 1000.0;
    assert!(
        date(&finished, "stopDate") >= due_epoch,
        "stopped at {} before the timestamp {due_epoch}",
        date(&finished, "stopDate")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn succeed_ends_with_its_input() {
    let world = World::new("succeed").await;
    let definition = json!({"StartAt": "Done", "States": {
        "Done": {"Type": "Succeed", "InputPath": "$.keep"}
    }});
    let (finished, types) = world
        .run(
            "succeed",
            &definition,
            &json!({"keep": {"a": 1}, "drop": 2}),
        )
        .await;
    assert_eq!(finished.output(), json!({"a": 1}));
    assert_eq!(
        types,
        strings(&[
            "ExecutionStarted",
            "SucceedStateEntered",
            "SucceedStateExited",
            "ExecutionSucceeded"
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_with_error_and_cause_literal_and_from_paths() {
    let world = World::new("fail").await;
    let events = strings(&["ExecutionStarted", "FailStateEntered", "ExecutionFailed"]);

    let literal = json!({"StartAt": "Stop", "States": {
        "Stop": {"Type": "Fail", "Error": "OrderRejected", "Cause": "out of stock"}
    }});
    let (finished, types) = world.run("literal", &literal, &json!({})).await;
    assert_eq!(finished.status(), "FAILED", "{}", finished.0);
    assert_eq!(
        (finished.error(), finished.cause()),
        ("OrderRejected", "out of stock")
    );
    assert!(finished.0.get("output").is_none(), "{}", finished.0);
    assert_eq!(types, events);

    let paths = json!({"StartAt": "Stop", "States": {
        "Stop": {"Type": "Fail", "ErrorPath": "$.problem.code", "CausePath": "States.Format('order {} failed', $.order)"}
    }});
    let (finished, types) = world
        .run(
            "paths",
            &paths,
            &json!({"problem": {"code": "E42"}, "order": 7}),
        )
        .await;
    assert_eq!(finished.status(), "FAILED", "{}", finished.0);
    assert_eq!(
        (finished.error(), finished.cause()),
        ("E42", "order 7 failed")
    );
    assert_eq!(types, events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_joins_branches_in_order() {
    let world = World::new("parallel").await;
    // The first branch answers last, so order by completion would be wrong.
    let definition = json!({"StartAt": "Both", "States": {
        "Both": {"Type": "Parallel", "Branches": [
            {"StartAt": "Slow", "States": {"Slow": lambda_task("echo", json!({
                "Parameters": {"FunctionName": "echo", "Payload": {"delayMs": 300, "who.$": "$.who"}},
                "OutputPath": "$.Payload.echoed.who",
                "End": true
            }))}},
            {"StartAt": "Quick", "States": {"Quick": {"Type": "Pass", "Result": "quick", "End": true}}}
        ], "End": true}
    }});
    let (finished, types) = world
        .run("parallel", &definition, &json!({"who": "slow"}))
        .await;
    assert_eq!(finished.output(), json!(["slow", "quick"]));
    assert_interleaving(
        &types,
        &[
            "ExecutionStarted",
            "ParallelStateEntered",
            "ParallelStateStarted",
        ],
        &[
            TASK_OK.to_vec(),
            vec!["PassStateEntered", "PassStateExited"],
        ],
        &[
            "ParallelStateSucceeded",
            "ParallelStateExited",
            "ExecutionSucceeded",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_failing_branch_is_caught() {
    let world = World::new("parallel_catch").await;
    let definition = json!({"StartAt": "Both", "States": {
        "Both": {"Type": "Parallel", "Branches": [
            {"StartAt": "Breaks", "States": {"Breaks": lambda_task("fail", json!({"End": true}))}},
            {"StartAt": "Fine", "States": {"Fine": {"Type": "Pass", "End": true}}}
        ],
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": "Handled"}],
        "Next": "Unreached"},
        "Unreached": {"Type": "Fail", "Error": "NotCaught"},
        "Handled": {"Type": "Pass", "End": true}
    }});
    let (finished, types) = world.run("pcatch", &definition, &json!({"k": "v"})).await;
    assert_eq!(
        finished.output(),
        json!({"k": "v", "caught": {"Error": "Boom", "Cause": function_error_cause("Boom", "it broke")}})
    );
    assert_interleaving(
        &types,
        &[
            "ExecutionStarted",
            "ParallelStateEntered",
            "ParallelStateStarted",
        ],
        &[
            vec![
                "TaskStateEntered",
                "TaskScheduled",
                "TaskStarted",
                "TaskFailed",
            ],
            vec!["PassStateEntered", "PassStateExited"],
        ],
        &[
            "ParallelStateFailed",
            "ParallelStateExited",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_item_selector_and_max_concurrency_two_with_tasks() {
    let world = World::new("map").await;
    let definition = json!({"StartAt": "Each", "States": {
        "Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2,
            "ItemSelector": {"n.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index", "tag.$": "$.tag"},
            "ItemProcessor": {"StartAt": "Square", "States": {
                "Square": lambda_task("square", json!({"OutputPath": "$.Payload", "End": true}))
            }},
            "End": true}
    }});
    let items: Vec<i64> = (1..=6).collect();
    let (finished, types) = world
        .run("map", &definition, &json!({"items": items, "tag": "t"}))
        .await;
    let expected: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"square": n * n, "index": i}))
        .collect();
    assert_eq!(finished.output(), json!(expected));
    let calls = world.target.calls("square");
    assert_eq!(calls.len(), 6);
    assert!(
        calls.iter().all(|c| c.input["tag"] == "t"),
        "ItemSelector reads the Map's input"
    );
    assert_eq!(
        world.target.max_in_flight.load(Ordering::SeqCst),
        2,
        "MaxConcurrency 2: two at a time, never more"
    );
    let mut iteration = vec!["MapIterationStarted"];
    iteration.extend(TASK_OK);
    iteration.push("MapIterationSucceeded");
    assert_interleaving(
        &types,
        &["ExecutionStarted", "MapStateEntered", "MapStateStarted"],
        &vec![iteration; 6],
        &["MapStateSucceeded", "MapStateExited", "ExecutionSucceeded"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_tolerated_failure_count() {
    let world = World::new("map_tolerated").await;
    let definition = json!({"StartAt": "Each", "States": {
        "Each": {"Type": "Map", "ItemsPath": "$.items", "ToleratedFailureCount": 1,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "Square", "States": {
                    "Square": lambda_task("square", json!({"OutputPath": "$.Payload", "End": true}))
                }},
            "End": true}
    }});
    let machine = world.api.create_machine("tolerated", &definition).await;

    let within = world
        .api
        .start(
            &machine,
            "within",
            &json!({"items": [{"n": 1, "index": 0}, {"n": 2, "fail": true}, {"n": 3, "index": 2}]}),
        )
        .await;
    let beyond = world
        .api
        .start(
            &machine,
            "beyond",
            &json!({"items": [{"n": 1, "fail": true}, {"n": 2, "fail": true}, {"n": 3}]}),
        )
        .await;

    let finished = world.api.finished(&within).await;
    let output = finished.output();
    assert_eq!(output[0], json!({"square": 1, "index": 0}));
    assert_eq!(output[2], json!({"square": 9, "index": 2}));
    assert_eq!(output[1]["Error"], "Odd", "the tolerated failure: {output}");
    assert_eq!(
        world.api.event_types(&within).await,
        strings(&[
            "ExecutionStarted",
            "MapStateEntered",
            "MapStateStarted",
            "MapRunStarted",
            "MapRunSucceeded",
            "MapStateSucceeded",
            "MapStateExited",
            "ExecutionSucceeded"
        ])
    );

    let finished = world.api.finished(&beyond).await;
    assert_eq!(finished.status(), "FAILED", "{}", finished.0);
    assert_eq!(finished.error(), "States.ExceedToleratedFailureThreshold");
    assert_eq!(
        world.api.event_types(&beyond).await,
        strings(&[
            "ExecutionStarted",
            "MapStateEntered",
            "MapStateStarted",
            "MapRunStarted",
            "MapRunFailed",
            "MapStateFailed",
            "ExecutionFailed"
        ])
    );
}

/// Polls the history until an event of `event_type` is in it.
async fn wait_for_event(api: &Api, execution: &str, event_type: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !api
        .event_types(execution)
        .await
        .iter()
        .any(|t| t == event_type)
    {
        assert!(
            Instant::now() < deadline,
            "{execution}: no {event_type} in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_variables_survive_kill_9_between_assign_and_read() {
    let mut world = World::new("variables").await;
    let definition = json!({"StartAt": "Remember", "States": {
        "Remember": {"Type": "Pass", "Assign": {"who.$": "$.name", "count": 42, "both.$": "States.Array($.name, 1)"}, "Next": "Pause"},
        "Pause": {"Type": "Wait", "Seconds": 2, "Next": "Recall"},
        "Recall": {"Type": "Pass", "Parameters": {"who.$": "$who", "count.$": "$count", "both.$": "$both"}, "End": true}
    }});
    let machine = world.api.create_machine("variables", &definition).await;
    let execution = world
        .api
        .start(&machine, "v", &json!({"name": "ann"}))
        .await;
    wait_for_event(&world.api, &execution, "WaitStateEntered").await;
    // The variables now live only in the stored snapshot.
    world.restart(std::slice::from_ref(&execution)).await;
    let finished = world.api.finished(&execution).await;
    assert_eq!(
        finished.output(),
        json!({"who": "ann", "count": 42, "both": ["ann", 1]})
    );
    assert_eq!(
        world.api.event_types(&execution).await,
        strings(&[
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "WaitStateEntered",
            "WaitStateExited",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded"
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_catch_and_timeout_across_kill_9_while_targets_hang() {
    let mut world = World::new("restart_tasks").await;
    // Succeeds once a second server takes the hung task over after its lease expires.
    let takeover = json!({"StartAt": "Call", "States": {
        "Call": lambda_task("hang", json!({"TimeoutSeconds": 60, "OutputPath": "$.Payload", "End": true}))
    }});
    // Its TimeoutSeconds timer falls due while no server (or a new one) runs.
    let timeout = json!({"StartAt": "Call", "States": {
        "Call": lambda_task("hang-always", json!({
            "TimeoutSeconds": 3,
            "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "TimedOut"}],
            "End": true
        })),
        "TimedOut": {"Type": "Pass", "End": true}
    }});
    // After the takeover the first attempt fails; the retry succeeds.
    let retry = json!({"StartAt": "Call", "States": {
        "Call": lambda_task("hang-then-flaky", json!({
            "TimeoutSeconds": 60,
            "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "MaxAttempts": 2}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Unexpected"}],
            "OutputPath": "$.Payload",
            "End": true
        })),
        "Unexpected": {"Type": "Fail", "Error": "Unexpected"}
    }});
    let mut executions = Vec::new();
    for (name, definition) in [
        ("takeover", &takeover),
        ("timeout", &timeout),
        ("retry", &retry),
    ] {
        let machine = world.api.create_machine(name, definition).await;
        executions.push(world.api.start(&machine, name, &json!({"k": name})).await);
    }
    for execution in &executions {
        world.target.wait_for_calls(execution, 1).await;
    }
    world.restart(&executions).await;

    let [takeover, timeout, retry] = &executions[..] else {
        unreachable!("three executions")
    };
    let finished = world.api.finished(takeover).await;
    assert_eq!(finished.output(), json!({"ok": true, "invocation": 2}));
    let mut expected = vec!["ExecutionStarted"];
    expected.extend(TASK_OK);
    expected.extend(EXECUTION_OK);
    assert_eq!(world.api.event_types(takeover).await, strings(&expected));
    let keys: Vec<String> = world
        .target
        .calls_for(takeover)
        .into_iter()
        .map(|c| c.key)
        .collect();
    assert_eq!(
        keys,
        [
            format!("{takeover}/Call/1/0"),
            format!("{takeover}/Call/1/0")
        ],
        "the same attempt, invoked again by the new server"
    );

    let finished = world.api.finished(retry).await;
    assert_eq!(finished.output(), json!({"attempt": 1}));
    assert_eq!(
        world.api.event_types(retry).await,
        strings(&[
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskFailed",
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded"
        ])
    );
    let attempts: Vec<String> = world
        .target
        .calls_for(retry)
        .into_iter()
        .map(|c| c.key.rsplit('/').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(attempts, ["0", "0", "1"]);

    let finished = world.api.finished(timeout).await;
    let output = finished.output();
    assert_eq!(output["k"], "timeout");
    assert_eq!(output["error"]["Error"], "States.Timeout", "{output}");
    // AWS records the Lambda call's start before its time-out.
    assert_eq!(
        world.api.event_types(timeout).await,
        strings(&[
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskTimedOut",
            "TaskStateExited",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded"
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_execution_aborts_and_cancels_the_pending_task() {
    let world = World::new("stop").await;
    let definition = json!({"StartAt": "Call", "States": {
        "Call": lambda_task("hang-always", json!({"End": true}))
    }});
    let machine = world.api.create_machine("stop", &definition).await;
    let execution = world.api.start(&machine, "s", &json!({})).await;
    world.target.wait_for_calls(&execution, 1).await;
    world
        .api
        .call(
            "StopExecution",
            &json!({"executionArn": execution, "error": "Halt", "cause": "operator"}),
        )
        .await;
    let finished = world.api.finished(&execution).await;
    assert_eq!(finished.status(), "ABORTED", "{}", finished.0);
    let pending: i64 = sqlx::query_scalar("select count(*) from tasks where execution_arn = $1")
        .bind(&execution)
        .fetch_one(world.store.pool())
        .await
        .expect("count tasks");
    assert_eq!(pending, 0, "the pending task was cancelled");
    let history = world.api.history(&execution).await;
    let last = history.last().expect("events");
    assert_eq!(last["type"], "ExecutionAborted");
    assert_eq!(
        last["executionAbortedEventDetails"],
        json!({"error": "Halt", "cause": "operator"})
    );
    assert_eq!(world.target.calls_for(&execution).len(), 1);
    // AWS records the Lambda call's start; nothing follows the abort.
    assert_eq!(
        world.api.event_types(&execution).await,
        strings(&[
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "ExecutionAborted"
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lambda_function_arn_records_lambda_function_events() {
    let world = World::new("lambda_arn").await;
    let definition = json!({"StartAt": "Call", "States": {
        "Call": {"Type": "Task",
                 "Resource": "arn:aws:lambda:us-east-1:123456789012:function:echo",
                 "End": true}
    }});
    let (finished, types) = world.run("arn", &definition, &json!({"a": 1})).await;
    // A function ARN's result is the payload itself.
    assert_eq!(finished.output(), json!({"echoed": {"a": 1}}));
    let execution = finished.0["executionArn"].as_str().unwrap_or_default();
    let history = world.api.history(execution).await;
    let by_type = |t: &str| {
        history
            .iter()
            .find(|e| e["type"] == t)
            .cloned()
            .unwrap_or_else(|| panic!("no {t}: {history:?}"))
    };
    assert_eq!(
        by_type("LambdaFunctionScheduled")["lambdaFunctionScheduledEventDetails"],
        json!({
            "resource": "arn:aws:lambda:us-east-1:123456789012:function:echo",
            "input": "{\"a\":1}",
            "inputDetails": {"truncated": false}
        })
    );
    let started = by_type("LambdaFunctionStarted");
    assert!(
        started
            .as_object()
            .is_some_and(|e| !e.keys().any(|k| k.ends_with("EventDetails"))),
        "LambdaFunctionStarted carries no details: {started}"
    );
    assert_eq!(
        by_type("LambdaFunctionSucceeded")["lambdaFunctionSucceededEventDetails"],
        json!({"output": "{\"echoed\":{\"a\":1}}", "outputDetails": {"truncated": false}})
    );
    assert_eq!(
        types,
        strings(&[
            "ExecutionStarted",
            "TaskStateEntered",
            "LambdaFunctionScheduled",
            "LambdaFunctionStarted",
            "LambdaFunctionSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded"
        ])
    );
}
