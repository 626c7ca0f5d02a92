//! Express executions end to end: StartSyncExecution and StartExecution on EXPRESS
//! machines, over real HTTP on loopback, with Task states calling a real HTTP function
//! server on loopback and machines stored in real Postgres.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use support::{unique, Harness, ROLE};

const FUNCTION: &str = "arn:aws:lambda:us-east-1:123456789012:function:";

/// What the function server has been asked, in order.
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<Vec<(String, Value)>>>);

impl Calls {
    fn of(&self, function: &str) -> Vec<Value> {
        self.0
            .lock()
            .expect("calls")
            .iter()
            .filter(|(f, _)| f == function)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// Plays Lambda functions behind URLs:
/// - `double`: `{"value": n}` → `{"value": 2n}`
/// - `whoami`: the idempotency key it was called with
/// - `decline`: fails with `Custom.Declined`
/// - `flaky`: fails with `Custom.Flaky` on the first attempt, then answers `"ok"`
/// - `slow`: answers its input after one second
/// - `record`: answers `"recorded"`
async fn function(
    State(calls): State<Calls>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Json(input): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let key = headers
        .get("x-cairn-idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    calls
        .0
        .lock()
        .expect("calls")
        .push((name.clone(), input.clone()));
    let declined = || {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"errorType": "Custom.Declined", "errorMessage": "card declined"})),
        )
    };
    match name.as_str() {
        "double" => (
            StatusCode::OK,
            Json(json!({"value": input["value"].as_i64().unwrap_or(0) * 2})),
        ),
        "whoami" => (StatusCode::OK, Json(json!({ "key": key }))),
        "decline" => declined(),
        "flaky" if key.ends_with("/0") => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"errorType": "Custom.Flaky", "errorMessage": "first try"})),
        ),
        "flaky" => (StatusCode::OK, Json(json!("ok"))),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(1)).await;
            // Reached only if the caller was still waiting: an aborted invocation drops
            // its connection, and the server drops this handler with it.
            calls
                .0
                .lock()
                .expect("calls")
                .push(("slow finished".to_string(), input.clone()));
            (StatusCode::OK, Json(input))
        }
        "record" => (StatusCode::OK, Json(json!("recorded"))),
        _ => (StatusCode::NOT_FOUND, Json(json!({}))),
    }
}

const FUNCTIONS: [&str; 6] = ["double", "whoami", "decline", "flaky", "slow", "record"];

/// The function server on loopback: each function's URL, and what it is asked.
async fn function_server() -> (Vec<(&'static str, String)>, Calls) {
    let calls = Calls::default();
    let app = Router::new()
        .route("/fn/{name}", post(function))
        .with_state(calls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let functions = FUNCTIONS
        .into_iter()
        .map(|f| (f, format!("http://{addr}/fn/{f}")))
        .collect();
    (functions, calls)
}

/// The API with the function server's functions configured as Lambda function URLs.
async fn harness() -> (Harness, Calls) {
    let (functions, calls) = function_server().await;
    (Harness::with_functions(&functions).await, calls)
}

async fn express_machine(h: &Harness, definition: Value) -> (String, String) {
    let name = unique("express");
    let created = h
        .call(
            "CreateStateMachine",
            json!({"name": name, "definition": definition.to_string(), "roleArn": ROLE,
                   "type": "EXPRESS"}),
        )
        .await
        .ok();
    let arn = created["stateMachineArn"]
        .as_str()
        .expect("stateMachineArn")
        .to_string();
    (name, arn)
}

fn task(function: &str) -> Value {
    json!({"Type": "Task", "Resource": format!("{FUNCTION}{function}")})
}

/// `arn:aws:states:REGION:ACCOUNT:express:MACHINE:NAME:UUID`.
fn assert_express_arn(arn: &str, machine: &str, name: &str) {
    let prefix = format!("arn:aws:states:us-east-1:123456789012:express:{machine}:{name}:");
    let rest = arn
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{arn} does not start with {prefix}"));
    assert!(uuid::Uuid::parse_str(rest).is_ok(), "{arn} ends in {rest}");
}

#[tokio::test]
async fn sync_execution_runs_tasks_and_answers_aws_shape() {
    let (h, calls) = harness().await;
    let mut first = task("double");
    first["Next"] = json!("Again");
    let mut again = task("double");
    again["Next"] = json!("Who");
    let mut who = task("whoami");
    who["ResultPath"] = json!("$.who");
    who["Next"] = json!("Context");
    let (machine, arn) = express_machine(
        &h,
        json!({"StartAt": "Double", "States": {
            "Double": first,
            "Again": again,
            "Who": who,
            "Context": {"Type": "Pass", "Parameters": {"execution.$": "$$.Execution"},
                        "ResultPath": "$.context", "End": true}
        }}),
    )
    .await;
    let reply = h
        .call(
            "StartSyncExecution",
            json!({"stateMachineArn": arn, "name": "order-1", "input": "{\"value\": 3}",
                   "traceHeader": "Root=1-5759e988-bd862e3fe1be46a994272793"}),
        )
        .await
        .ok();
    assert_eq!(reply["status"], "SUCCEEDED", "{reply}");
    let execution_arn = reply["executionArn"].as_str().expect("executionArn");
    assert_express_arn(execution_arn, &machine, "order-1");
    assert_eq!(reply["stateMachineArn"], arn.as_str());
    assert_eq!(reply["name"], "order-1");
    assert_eq!(reply["input"], "{\"value\": 3}");
    assert_eq!(reply["inputDetails"], json!({"included": true}));
    assert_eq!(reply["outputDetails"], json!({"included": true}));
    assert_eq!(
        reply["traceHeader"],
        "Root=1-5759e988-bd862e3fe1be46a994272793"
    );
    assert!(reply.get("error").is_none() && reply.get("cause").is_none());
    let output: Value =
        serde_json::from_str(reply["output"].as_str().expect("output text")).expect("JSON");
    assert_eq!(output["value"], 12);
    // The task was invoked with the express ARN in its idempotency key.
    assert_eq!(output["who"]["key"], format!("{execution_arn}/Who/3/0"));
    // The context object is the express execution's, with no redrive count.
    assert_eq!(
        output["context"]["execution"]["Id"], execution_arn,
        "{output}"
    );
    assert_eq!(output["context"]["execution"]["Name"], "order-1");
    assert_eq!(output["context"]["execution"]["RoleArn"], ROLE);
    assert!(output["context"]["execution"].get("RedriveCount").is_none());
    assert_eq!(
        calls.of("double"),
        vec![json!({"value": 3}), json!({"value": 6})]
    );
    let start = reply["startDate"].as_f64().expect("startDate");
    let stop = reply["stopDate"].as_f64().expect("stopDate");
    assert!(start <= stop, "{start} > {stop}");
    assert_eq!(reply["billingDetails"]["billedMemoryUsedInMB"], 64);
    let billed = reply["billingDetails"]["billedDurationInMilliseconds"]
        .as_u64()
        .expect("billed duration");
    assert!(billed >= 100 && billed % 100 == 0, "{billed}");

    // Metadata only: no input or output, and the details say so.
    let reply = h
        .call(
            "StartSyncExecution",
            json!({"stateMachineArn": arn, "input": "{\"value\": 1}",
                   "includedData": "METADATA_ONLY"}),
        )
        .await
        .ok();
    assert_eq!(reply["status"], "SUCCEEDED");
    assert!(reply.get("input").is_none() && reply.get("output").is_none());
    assert_eq!(reply["inputDetails"], json!({"included": false}));
    assert_eq!(reply["outputDetails"], json!({"included": false}));
    // Without a name, the name is a UUID and is the ARN's name part.
    let name = reply["name"].as_str().expect("name");
    assert!(uuid::Uuid::parse_str(name).is_ok(), "{name}");
    assert_express_arn(
        reply["executionArn"].as_str().expect("executionArn"),
        &machine,
        name,
    );
}

#[tokio::test]
async fn a_failing_task_fails_the_execution_with_http_200() {
    let (h, _) = harness().await;
    let mut decline = task("decline");
    decline["End"] = json!(true);
    let (_, arn) = express_machine(
        &h,
        json!({"StartAt": "Charge", "States": {"Charge": decline}}),
    )
    .await;
    let reply = h
        .call("StartSyncExecution", json!({"stateMachineArn": arn}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.body;
    assert_eq!(body["status"], "FAILED");
    assert_eq!(body["error"], "Custom.Declined");
    assert_eq!(body["cause"], "card declined");
    assert!(body.get("output").is_none() && body.get("outputDetails").is_none());
    assert_eq!(body["input"], "{}");
}

#[tokio::test]
async fn retry_and_catch_run_inline() {
    let (h, calls) = harness().await;
    let mut flaky = task("flaky");
    flaky["Retry"] = json!([{"ErrorEquals": ["Custom.Flaky"], "IntervalSeconds": 1,
                             "MaxAttempts": 2, "BackoffRate": 1.0}]);
    flaky["ResultPath"] = json!("$.flaky");
    flaky["Next"] = json!("Charge");
    let mut decline = task("decline");
    decline["Catch"] = json!([{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught",
                               "Next": "Done"}]);
    decline["Next"] = json!("Done");
    let (_, arn) = express_machine(
        &h,
        json!({"StartAt": "Flaky", "States": {
            "Flaky": flaky,
            "Charge": decline,
            "Done": {"Type": "Succeed"}
        }}),
    )
    .await;
    let began = Instant::now();
    let reply = h
        .call(
            "StartSyncExecution",
            json!({"stateMachineArn": arn, "input": "{\"n\": 1}"}),
        )
        .await
        .ok();
    let elapsed = began.elapsed();
    assert_eq!(reply["status"], "SUCCEEDED", "{reply}");
    let output: Value =
        serde_json::from_str(reply["output"].as_str().expect("output")).expect("JSON");
    assert_eq!(output["flaky"], "ok");
    assert_eq!(output["caught"]["Error"], "Custom.Declined");
    assert_eq!(output["caught"]["Cause"], "card declined");
    assert_eq!(output["n"], 1);
    assert_eq!(calls.of("flaky").len(), 2, "one failure, one retry");
    // The retry waited its one-second interval.
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
}

#[tokio::test]
async fn a_wait_really_waits() {
    let (h, _) = harness().await;
    let (_, arn) = express_machine(
        &h,
        json!({"StartAt": "Hold", "States": {
            "Hold": {"Type": "Wait", "Seconds": 1, "End": true}
        }}),
    )
    .await;
    let began = Instant::now();
    let reply = h
        .call("StartSyncExecution", json!({"stateMachineArn": arn}))
        .await
        .ok();
    let elapsed = began.elapsed();
    assert_eq!(reply["status"], "SUCCEEDED");
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    let start = reply["startDate"].as_f64().expect("startDate");
    let stop = reply["stopDate"].as_f64().expect("stopDate");
    assert!(stop - start >= 0.99, "{start} → {stop}");
    let billed = reply["billingDetails"]["billedDurationInMilliseconds"]
        .as_u64()
        .expect("billed");
    assert!(billed >= 1000, "{billed}");
}

#[tokio::test]
async fn parallel_branches_invoke_tasks_concurrently() {
    let (h, calls) = harness().await;
    let branch = |n: i64| {
        let mut slow = task("slow");
        slow["Parameters"] = json!({ "branch": n });
        slow["End"] = json!(true);
        // State names are unique across the whole machine.
        let state = format!("Slow{n}");
        json!({"StartAt": state, "States": {state: slow}})
    };
    let (_, arn) = express_machine(
        &h,
        json!({"StartAt": "Fan", "States": {
            "Fan": {"Type": "Parallel", "Branches": [branch(1), branch(2), branch(3)],
                    "End": true}
        }}),
    )
    .await;
    let began = Instant::now();
    let reply = h
        .call("StartSyncExecution", json!({"stateMachineArn": arn}))
        .await
        .ok();
    let elapsed = began.elapsed();
    assert_eq!(reply["status"], "SUCCEEDED", "{reply}");
    let output: Value =
        serde_json::from_str(reply["output"].as_str().expect("output")).expect("JSON");
    assert_eq!(output, json!([{"branch": 1}, {"branch": 2}, {"branch": 3}]));
    assert_eq!(calls.of("slow").len(), 3);
    // Three one-second tasks one after another would take three seconds.
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(2500), "{elapsed:?}");
}

#[tokio::test]
async fn map_iterations_run_up_to_max_concurrency_at_once() {
    let (h, calls) = harness().await;
    let mut slow = task("slow");
    slow["End"] = json!(true);
    let (_, arn) = express_machine(
        &h,
        json!({"StartAt": "Each", "States": {
            "Each": {"Type": "Map", "MaxConcurrency": 2,
                     "ItemProcessor": {"StartAt": "Slow", "States": {"Slow": slow}},
                     "End": true}
        }}),
    )
    .await;
    let began = Instant::now();
    let reply = h
        .call(
            "StartSyncExecution",
            json!({"stateMachineArn": arn, "input": "[1, 2, 3, 4]"}),
        )
        .await
        .ok();
    let elapsed = began.elapsed();
    assert_eq!(reply["status"], "SUCCEEDED", "{reply}");
    assert_eq!(reply["output"], "[1,2,3,4]");
    assert_eq!(calls.of("slow").len(), 4);
    // Two at a time: two seconds, not one (all at once) and not four (one by one).
    assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(3500), "{elapsed:?}");
}

/// A failed branch cancels its sibling's task: the run goes on at once, and the
/// sibling's invocation is aborted rather than left to finish.
#[tokio::test]
async fn a_failed_branch_cancels_the_other_branch_task() {
    let (h, calls) = harness().await;
    let mut decline = task("decline");
    decline["End"] = json!(true);
    let mut slow = task("slow");
    slow["End"] = json!(true);
    let (_, arn) = express_machine(
        &h,
        json!({"StartAt": "Fan", "States": {
            "Fan": {"Type": "Parallel", "Branches": [
                        {"StartAt": "Decline", "States": {"Decline": decline}},
                        {"StartAt": "Slow", "States": {"Slow": slow}}],
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Recovered"}],
                    "End": true},
            // Outlasts the slow function, so an invocation left running would finish
            // before the execution ends.
            "Recovered": {"Type": "Pass", "Result": "recovered", "Next": "Linger"},
            "Linger": {"Type": "Wait", "Seconds": 2, "End": true}
        }}),
    )
    .await;
    let began = Instant::now();
    let reply = h
        .call("StartSyncExecution", json!({"stateMachineArn": arn}))
        .await
        .ok();
    let elapsed = began.elapsed();
    assert_eq!(reply["status"], "SUCCEEDED", "{reply}");
    assert_eq!(reply["output"], "\"recovered\"");
    // The Catch did not wait for the slow branch: two seconds of Linger, not three.
    assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(2900), "{elapsed:?}");
    // The slow function was called, but its invocation was aborted when the branch
    // was cancelled, so it never got to finish.
    assert_eq!(calls.of("slow").len(), 1);
    assert!(calls.of("slow finished").is_empty());
}

#[tokio::test]
async fn a_machine_timeout_ends_the_run_timed_out() {
    let (h, _) = harness().await;
    let (_, arn) = express_machine(
        &h,
        json!({"TimeoutSeconds": 1, "StartAt": "Hold", "States": {
            "Hold": {"Type": "Wait", "Seconds": 60, "End": true}
        }}),
    )
    .await;
    let began = Instant::now();
    let reply = h
        .call("StartSyncExecution", json!({"stateMachineArn": arn}))
        .await;
    let elapsed = began.elapsed();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["status"], "TIMED_OUT", "{}", reply.body);
    assert!(reply.body.get("output").is_none());
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

/// The five-minute cap, shortened: the driver ends a run that outlives its maximum
/// duration `TIMED_OUT` with `States.Timeout` and abandons the task still running.
#[tokio::test]
async fn the_maximum_duration_ends_the_run_timed_out() {
    use cairn_asl::interpreter::{ExecutionInfo, Limits};
    use cairn_worker::express::{self, ExpressOptions};

    let definition = json!({"StartAt": "Slow", "States": {"Slow": {
        "Type": "Task", "Resource": format!("{FUNCTION}slow"), "End": true}}});
    let (machine, _) = cairn_asl::validate::validate(
        &definition.to_string(),
        &cairn_asl::validate::ValidateOptions::default(),
    )
    .expect("valid");
    let targets = slow_targets().await;
    let options = ExpressOptions {
        info: ExecutionInfo::example("m", "capped", express::now()),
        limits: Limits::default(),
        max_duration: Duration::from_millis(300),
        already_elapsed: Duration::ZERO,
        logging: Default::default(),
    };
    let began = Instant::now();
    let outcome = express::run(&machine, json!({}), options, targets).await;
    let elapsed = began.elapsed();
    assert_eq!(outcome.status.as_str(), "TIMED_OUT");
    assert_eq!(outcome.error.as_deref(), Some("States.Timeout"));
    assert_eq!(
        outcome.cause.as_deref(),
        Some("The execution ran longer than the 0.3 seconds an Express execution may last")
    );
    assert!(outcome.output.is_none());
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(900), "{elapsed:?}");
    assert!(outcome.duration >= Duration::from_millis(300));
}

/// Targets, built as the server builds them, that know one function, `slow`, served by
/// a function server of their own.
async fn slow_targets() -> Arc<cairn_worker::Targets> {
    let calls = Calls::default();
    let app = Router::new()
        .route("/fn/{name}", post(function))
        .with_state(calls);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let mut config = cairn_worker::TargetConfig::default();
    config.functions.insert(
        "slow".to_string(),
        format!("http://{addr}/fn/slow").parse().expect("URL"),
    );
    let lambda = cairn_worker::LambdaApi::new(
        Some("http://127.0.0.1:9/".parse().expect("URL")),
        cairn_worker::Credentials::new("test", "test", None, None, "test"),
    );
    Arc::new(cairn_worker::Targets::new(config, lambda).expect("targets"))
}

#[tokio::test]
async fn sync_execution_checks_its_input_and_the_machine_type() {
    let (h, _) = harness().await;
    let standard = h
        .machine(
            &unique("standard"),
            &json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}),
        )
        .await;
    h.call("StartSyncExecution", json!({"stateMachineArn": standard}))
        .await
        .err("StateMachineTypeNotSupported");
    let (_, arn) = express_machine(
        &h,
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}),
    )
    .await;
    h.call(
        "StartSyncExecution",
        json!({"stateMachineArn": arn, "input": "{not json"}),
    )
    .await
    .err("InvalidExecutionInput");
    h.call(
        "StartSyncExecution",
        json!({"stateMachineArn": arn, "name": "a b"}),
    )
    .await
    .err("InvalidName");
    h.call(
        "StartSyncExecution",
        json!({"stateMachineArn": arn, "input": format!("\"{}\"", "x".repeat(256 * 1024))}),
    )
    .await
    .err("ValidationException");
    h.call(
        "StartSyncExecution",
        json!({"stateMachineArn": format!("{arn}-gone")}),
    )
    .await
    .err("StateMachineDoesNotExist");
    h.call("StartSyncExecution", json!({}))
        .await
        .err("ValidationException");
}

#[tokio::test]
async fn the_sync_host_prefix_reaches_the_same_api() {
    let (h, _) = harness().await;
    let (_, arn) = express_machine(
        &h,
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 7, "End": true}}}),
    )
    .await;
    let reply = h
        .send(
            "AWSStepFunctions.StartSyncExecution",
            json!({ "stateMachineArn": arn }).to_string().into_bytes(),
            Some("sync-states.us-east-1.amazonaws.com"),
        )
        .await
        .ok();
    assert_eq!(reply["status"], "SUCCEEDED");
    assert_eq!(reply["output"], "7");
}

#[tokio::test]
async fn start_execution_on_express_runs_asynchronously_and_keeps_nothing() {
    let (h, calls) = harness().await;
    let mut record = task("record");
    record["Next"] = json!("Hold");
    let (machine, arn) = express_machine(
        &h,
        json!({"StartAt": "Record", "States": {
            "Record": record,
            "Hold": {"Type": "Wait", "Seconds": 2, "End": true}
        }}),
    )
    .await;
    let began = Instant::now();
    let first = h
        .call(
            "StartExecution",
            json!({"stateMachineArn": arn, "name": "same", "input": "{\"run\": 1}"}),
        )
        .await
        .ok();
    // Answered at once, before the two-second Wait is over.
    assert!(began.elapsed() < Duration::from_millis(1500));
    let execution_arn = first["executionArn"].as_str().expect("executionArn");
    assert_express_arn(execution_arn, &machine, "same");
    assert!(first["startDate"].is_f64());
    // The same name again is another execution: no idempotency for Express.
    let second = h
        .call(
            "StartExecution",
            json!({"stateMachineArn": arn, "name": "same", "input": "{\"run\": 2}"}),
        )
        .await
        .ok();
    assert_ne!(second["executionArn"], first["executionArn"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while calls.of("record").len() < 2 {
        assert!(Instant::now() < deadline, "the executions never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut seen = calls.of("record");
    seen.sort_by_key(|v| v["run"].as_i64());
    assert_eq!(seen, vec![json!({"run": 1}), json!({"run": 2})]);

    // Nothing is stored, as on AWS: the express ARN is not an execution ARN.
    for operation in ["DescribeExecution", "GetExecutionHistory", "StopExecution"] {
        let reply = h
            .call(operation, json!({ "executionArn": execution_arn }))
            .await;
        reply.err("InvalidArn");
        assert!(
            reply.message().contains("express"),
            "{operation}: {}",
            reply.message()
        );
    }
    h.call("ListExecutions", json!({ "stateMachineArn": arn }))
        .await
        .err("StateMachineTypeNotSupported");
}

/// Takeovers of asynchronous Express runs, on the in-memory store (the same contract as
/// Postgres's, see the store's contract suite): a run whose replica's lease expired is
/// run again from the start, with its ARN and input, and forgotten when it ends; one past
/// its five minutes ends TIMED_OUT without running; one taken over too often is
/// abandoned.
mod takeovers {
    use super::*;
    use cairn_store::catalog::{CreateOutcome, MachineType};
    use cairn_store::express_runs::ExpressRun;
    use cairn_store::memory::MemoryStore;
    use cairn_store::prelude::*;
    use cairn_worker::express_runs::{AsyncExpress, ExpressRunsConfig};

    async fn setup(
        config: ExpressRunsConfig,
    ) -> (
        MemoryStore,
        Arc<AsyncExpress<MemoryStore>>,
        Calls,
        ExpressRun,
    ) {
        let (functions, calls) = function_server().await;
        let mut targets = cairn_worker::TargetConfig::default();
        for (function, url) in functions {
            targets
                .functions
                .insert(function.to_string(), url.parse().expect("URL"));
        }
        let store = MemoryStore::new();
        let definition = json!({"StartAt": "Record", "States": {"Record": {
            "Type": "Task", "Resource": format!("{FUNCTION}record"),
            "Parameters": {"run.$": "$.run", "arn.$": "$$.Execution.Id"}, "End": true}}});
        let spec = cairn_store::testing::machine_spec(
            "taken",
            MachineType::Express,
            &definition.to_string(),
        );
        let machine = match store.create_state_machine(&spec).await {
            Ok(CreateOutcome::Created { machine, .. }) => machine,
            other => panic!("not created: {other:?}"),
        };
        let runs = Arc::new(AsyncExpress::new(
            store.clone(),
            support::task_targets(targets),
            "live-replica".to_string(),
            config,
        ));
        let run = ExpressRun {
            arn: machine.arn.replace(":stateMachine:", ":express:") + ":lost:1234",
            state_machine_arn: machine.arn.clone(),
            state_machine_name: machine.name.clone(),
            definition_id: machine.definition_id,
            role_arn: ROLE.to_string(),
            logging: None,
            tracing: None,
            name: "lost".to_string(),
            input: r#"{"run": "taken"}"#.to_string(),
            started_at: chrono::Utc::now(),
        };
        (store, runs, calls, run)
    }

    fn expired() -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() - chrono::TimeDelta::seconds(1)
    }

    #[tokio::test]
    async fn a_run_whose_lease_expired_runs_again_and_is_forgotten_at_its_end() {
        let (store, runs, calls, run) = setup(ExpressRunsConfig::default()).await;
        store
            .record_express_run(&run, "dead-replica", expired())
            .await
            .expect("record");
        assert_eq!(runs.tick().await.expect("tick"), 1);
        // Its row goes with the first pass after its end.
        let deadline = Instant::now() + Duration::from_secs(20);
        while store.express_runs_in_flight().await.expect("count") > 0 {
            assert!(Instant::now() < deadline, "the run never ended");
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert_eq!(
                runs.tick().await.expect("tick"),
                0,
                "its own lease is renewed"
            );
        }
        assert_eq!(
            calls.of("record"),
            vec![json!({"run": "taken", "arn": run.arn})],
            "run once more, with its ARN and input"
        );
        // Nothing left to take over.
        assert_eq!(runs.tick().await.expect("tick"), 0);
    }

    #[tokio::test]
    async fn a_run_taken_over_after_its_five_minutes_times_out_without_running() {
        let (store, runs, calls, mut run) = setup(ExpressRunsConfig::default()).await;
        run.started_at = chrono::Utc::now() - chrono::TimeDelta::minutes(6);
        store
            .record_express_run(&run, "dead-replica", expired())
            .await
            .expect("record");
        assert_eq!(runs.tick().await.expect("tick"), 1);
        assert_eq!(store.express_runs_in_flight().await.expect("count"), 0);
        assert!(calls.of("record").is_empty());
    }

    #[tokio::test]
    async fn a_run_taken_over_too_often_is_abandoned() {
        let config = ExpressRunsConfig {
            max_takeovers: 0,
            ..ExpressRunsConfig::default()
        };
        let (store, runs, calls, run) = setup(config).await;
        store
            .record_express_run(&run, "dead-replica", expired())
            .await
            .expect("record");
        assert_eq!(runs.tick().await.expect("tick"), 1);
        assert_eq!(store.express_runs_in_flight().await.expect("count"), 0);
        assert!(calls.of("record").is_empty());
    }
}
