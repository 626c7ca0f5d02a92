//! Tracing end to end: real `cairn server` processes export OTLP to receivers this test
//! runs on loopback — OTLP/HTTP (protobuf) and OTLP/gRPC (tonic) — and a function URL
//! target records the `traceparent` each invocation carried.
//!
//! One execution, started with a caller's `traceparent`, runs a Pass, a Task that fails
//! once and is retried, a Wait during which its server is stopped and replaced by
//! another, and a second Task. Its spans must make one trace, the caller's, with the
//! execution span under the caller's span, a span per state under it, an attempt span
//! per invocation under its state's span, and each invocation's `traceparent` naming
//! its attempt span.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use cairn_store::testing;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode as SpanStatus;
use serde_json::{json, Value};
use support::otlp::{serve, Collector};
use support::{Api, Server};

const FUNCTION: &str = "arn:aws:lambda:us-east-1:123456789012:function";
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// One received span, flattened.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    name: String,
    attributes: HashMap<String, String>,
    error: bool,
}

impl Received {
    fn attribute(&self, key: &str) -> &str {
        self.attributes.get(key).map(String::as_str).unwrap_or("")
    }
}

/// The spans a [`Collector`] received.
#[derive(Clone, Default)]
struct Collected(Collector);

impl Collected {
    /// Every span received so far, flattened.
    fn spans(&self) -> Vec<Received> {
        let mut spans = Vec::new();
        for resource in self.0.traces().into_iter().flat_map(|r| r.resource_spans) {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter())
                .find(|kv| kv.key == "service.name")
                .map(|kv| text(kv.value.as_ref().and_then(|v| v.value.as_ref())))
                .unwrap_or_default();
            for scope in resource.scope_spans {
                for span in scope.spans {
                    spans.push(Received {
                        service: service.clone(),
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent_span_id: hex(&span.parent_span_id),
                        name: span.name,
                        attributes: span
                            .attributes
                            .iter()
                            .map(|kv| {
                                (
                                    kv.key.clone(),
                                    text(kv.value.as_ref().and_then(|v| v.value.as_ref())),
                                )
                            })
                            .collect(),
                        error: span
                            .status
                            .is_some_and(|s| s.code == SpanStatus::Error as i32),
                    });
                }
            }
        }
        spans
    }

    /// Waits until `done` holds for the spans received so far (a hang guard, not a
    /// speed claim: the servers flush every 100 ms).
    async fn until(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let spans = self.spans();
            if done(&spans) {
                return spans;
            }
            assert!(
                Instant::now() < deadline,
                "never received {what}; got {spans:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(value: Option<&AnyValue>) -> String {
    match value {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}

/// What the function URL target saw: one entry per invocation.
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<Vec<(String, String, String)>>>);

impl Calls {
    /// `(function, idempotency key, traceparent)` of every call so far.
    fn all(&self) -> Vec<(String, String, String)> {
        self.0.lock().expect("lock").clone()
    }
}

/// Function URLs: `ok` answers its input; `flaky` fails its first attempt with the
/// function error `Flaky` and succeeds on the retry.
async fn target(calls: Calls) -> SocketAddr {
    async fn invoke(
        State(calls): State<Calls>,
        Path(function): Path<String>,
        headers: HeaderMap,
        body: Bytes,
    ) -> impl IntoResponse {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let key = header("x-cairn-idempotency-key");
        calls
            .0
            .lock()
            .expect("lock")
            .push((function.clone(), key.clone(), header("traceparent")));
        if function == "flaky" && key.ends_with("/0") {
            return (
                [("x-amz-function-error", "Unhandled")],
                json!({"errorType": "Flaky", "errorMessage": "first attempts fail"}).to_string(),
            )
                .into_response();
        }
        let input: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        json!({"echo": input}).to_string().into_response()
    }
    let app = Router::new()
        .route("/fn/{function}", post(invoke))
        .with_state(calls);
    serve(app).await
}

fn functions(target: SocketAddr) -> Vec<(String, String)> {
    ["ok", "flaky"]
        .iter()
        .map(|f| (f.to_string(), format!("http://{target}/fn/{f}")))
        .collect()
}

fn tracing_env<'a>(endpoint: &'a str, service: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_SERVICE_NAME", service),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ]
}

fn by_name<'s>(spans: &'s [Received], name: &str) -> Vec<&'s Received> {
    spans.iter().filter(|s| s.name == name).collect()
}

fn one<'s>(spans: &'s [Received], name: &str) -> &'s Received {
    let found = by_name(spans, name);
    assert_eq!(found.len(), 1, "one span named {name}: {found:#?}");
    found[0]
}

/// `(trace id, span id)` of a W3C traceparent.
fn ids(traceparent: &str) -> (String, String) {
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "a traceparent: {traceparent:?}");
    (parts[1].to_string(), parts[2].to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_per_execution_across_a_restart() {
    let (_store, database) = testing::fresh_store("tracing_http", 2)
        .await
        .expect("a database");
    let collected = Collected::default();
    let receiver = collected.0.http().await;
    let calls = Calls::default();
    let target = target(calls.clone()).await;
    let endpoint = format!("http://{receiver}");

    let mut first = Server::spawn(
        &database,
        &functions(target),
        &tracing_env(&endpoint, "cairn-first"),
    );
    let api = first.ready().await;
    let machine = api
        .create_traced_machine(
            "traced",
            &json!({"StartAt": "Prepare", "States": {
                "Prepare": {"Type": "Pass", "Next": "Call"},
                "Call": {"Type": "Task", "Resource": format!("{FUNCTION}:flaky"),
                         "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1,
                                    "MaxAttempts": 2}],
                         "Next": "Pause"},
                "Pause": {"Type": "Wait", "Seconds": 6, "Next": "Finish"},
                "Finish": {"Type": "Task", "Resource": format!("{FUNCTION}:ok"), "End": true}
            }}),
        )
        .await;
    let caller = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    let started = api
        .try_call_with(
            "StartExecution",
            &json!({"stateMachineArn": machine, "name": "traced-1", "input": "{}"}),
            &[("traceparent", &caller), ("tracestate", "vendor=abc")],
        )
        .await
        .expect("started");
    let execution = started["executionArn"].as_str().expect("arn").to_string();

    // Without a caller's traceparent an execution begins its own trace.
    let simple = api
        .create_traced_machine(
            "untraced-caller",
            &json!({"StartAt": "Only", "States": {"Only": {"Type": "Pass", "End": true}}}),
        )
        .await;
    let own = api.start(&simple, "own-trace", &json!({})).await;
    assert_eq!(api.finished(&own).await.status(), "SUCCEEDED");

    // A machine whose tracingConfiguration is not enabled: its execution and its task
    // export nothing, even with a caller's traceparent.
    let dark_machine = api
        .create_machine(
            "not-traced",
            &json!({"StartAt": "Call", "States": {"Call": {
                "Type": "Task", "Resource": format!("{FUNCTION}:ok"), "End": true}}}),
        )
        .await;
    let dark = api
        .try_call_with(
            "StartExecution",
            &json!({"stateMachineArn": dark_machine, "name": "dark-1", "input": "{}"}),
            &[("traceparent", &caller)],
        )
        .await
        .expect("started")["executionArn"]
        .as_str()
        .expect("arn")
        .to_string();
    assert_eq!(api.finished(&dark).await.status(), "SUCCEEDED");

    // Stop the first server while the execution waits; the second one finishes it.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !api
        .event_types(&execution)
        .await
        .iter()
        .any(|t| t == "WaitStateEntered")
    {
        assert!(
            Instant::now() < deadline,
            "the execution never reached its Wait"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.sigterm();
    let stopped = first.exited(Duration::from_secs(30)).await;
    assert!(stopped.is_some_and(|s| s.success()), "{stopped:?}");
    let second = Server::spawn(
        &database,
        &functions(target),
        &tracing_env(&endpoint, "cairn-second"),
    );
    let api: Api = second.ready().await;
    assert_eq!(api.finished(&execution).await.status(), "SUCCEEDED");

    let spans = collected
        .until("the execution span and both attempts of Call", |spans| {
            spans
                .iter()
                .any(|s| s.name == "execution" && s.attribute("cairn.execution.arn") == execution)
                && spans
                    .iter()
                    .filter(|s| s.attribute("cairn.state.name") == "Call" && s.name != "Call")
                    .count()
                    >= 2
                && spans
                    .iter()
                    .any(|s| s.attribute("cairn.execution.arn") == own)
        })
        .await;
    let ours: Vec<Received> = spans
        .iter()
        .filter(|s| s.attribute("cairn.execution.arn") == execution)
        .cloned()
        .collect();

    // One trace: the caller's.
    assert!(
        ours.iter().all(|s| s.trace_id == CALLER_TRACE),
        "every span is in the caller's trace: {ours:#?}"
    );
    let root = one(&ours, "execution");
    assert_eq!(
        root.parent_span_id, CALLER_SPAN,
        "the caller's span is the parent"
    );
    assert_eq!(root.attribute("cairn.execution.status"), "SUCCEEDED");
    assert_eq!(root.attribute("cairn.state_machine.arn"), machine);

    // A span per state, under the execution's span, with its type.
    for (state, kind) in [
        ("Prepare", "Pass"),
        ("Call", "Task"),
        ("Pause", "Wait"),
        ("Finish", "Task"),
    ] {
        let span = one(&ours, state);
        assert_eq!(
            span.parent_span_id, root.span_id,
            "{state} is under the execution"
        );
        assert_eq!(span.attribute("cairn.state.type"), kind, "{state}");
        assert_eq!(span.attribute("cairn.state.name"), state);
    }
    // Drawn by whichever server ended them: across the restart, in the same trace.
    assert_eq!(one(&ours, "Prepare").service, "cairn-first");
    assert_eq!(one(&ours, "Call").service, "cairn-first");
    assert_eq!(one(&ours, "Pause").service, "cairn-second");
    assert_eq!(one(&ours, "Finish").service, "cairn-second");
    assert_eq!(root.service, "cairn-second");

    // A span per attempt, under its state's span; the retry shows as a second one.
    let call = one(&ours, "Call");
    let mut attempts: Vec<&Received> = ours
        .iter()
        .filter(|s| s.attribute("cairn.state.name") == "Call" && s.span_id != call.span_id)
        .collect();
    attempts.sort_by_key(|s| s.attribute("cairn.task.attempt").to_string());
    assert_eq!(attempts.len(), 2, "{attempts:#?}");
    for span in &attempts {
        assert_eq!(
            span.parent_span_id, call.span_id,
            "an attempt is under its state"
        );
        assert_eq!(
            span.attribute("cairn.task.resource"),
            format!("{FUNCTION}:flaky")
        );
    }
    let (failed, retried) = (attempts[0], attempts[1]);
    assert_eq!(failed.attribute("cairn.task.attempt"), "0");
    assert_eq!(failed.attribute("cairn.task.status"), "FAILED");
    assert_eq!(failed.attribute("error.type"), "Flaky");
    assert!(failed
        .attribute("cairn.error.cause")
        .contains("first attempts fail"));
    assert!(failed.error, "a failed attempt has an error status");
    assert_eq!(retried.attribute("cairn.task.attempt"), "1");
    assert_eq!(retried.attribute("cairn.task.status"), "SUCCEEDED");
    assert!(!retried.error);
    let finish = one(&ours, "Finish");
    let finish_attempt = ours
        .iter()
        .find(|s| s.attribute("cairn.state.name") == "Finish" && s.span_id != finish.span_id)
        .expect("Finish's attempt span");
    assert_eq!(finish_attempt.parent_span_id, finish.span_id);
    assert_eq!(finish_attempt.service, "cairn-second");

    // The target saw each attempt's span as its parent.
    let invocations: Vec<(String, String, String)> = calls
        .all()
        .into_iter()
        .filter(|(_, key, _)| key.starts_with(&execution))
        .collect();
    assert_eq!(invocations.len(), 3, "{invocations:?}");
    for (function, key, traceparent) in &invocations {
        let (trace, parent) = ids(traceparent);
        assert_eq!(trace, CALLER_TRACE, "{function} {key}");
        let attempt = key.rsplit('/').next().unwrap_or_default();
        let state = if function == "flaky" {
            "Call"
        } else {
            "Finish"
        };
        let span = ours
            .iter()
            .find(|s| {
                s.attribute("cairn.state.name") == state
                    && s.attribute("cairn.task.attempt") == attempt
            })
            .unwrap_or_else(|| panic!("no attempt span for {key}"));
        assert_eq!(
            parent, span.span_id,
            "{key}: the attempt span is the parent"
        );
    }

    // The untraced machine's execution was over before the first server flushed its
    // spans at its stop: none of them is its.
    assert!(
        !spans
            .iter()
            .any(|s| s.attribute("cairn.execution.arn") == dark),
        "an execution of a machine without tracing exported spans"
    );

    // The other execution: a trace of its own, its execution span a root.
    let own_spans: Vec<&Received> = spans
        .iter()
        .filter(|s| s.attribute("cairn.execution.arn") == own)
        .collect();
    let own_root = own_spans
        .iter()
        .find(|s| s.name == "execution")
        .expect("its execution span");
    assert_ne!(own_root.trace_id, CALLER_TRACE);
    assert_eq!(own_root.parent_span_id, "", "a root span");
    assert!(own_spans.iter().all(|s| s.trace_id == own_root.trace_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_exporter_delivers_to_a_tonic_receiver() {
    let (_store, database) = testing::fresh_store("tracing_grpc", 2)
        .await
        .expect("a database");
    let collected = Collected::default();
    let receiver = collected.0.grpc().await;
    let calls = Calls::default();
    let target = target(calls.clone()).await;
    let endpoint = format!("http://{receiver}");
    let mut env = tracing_env(&endpoint, "cairn-grpc");
    env.push(("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"));
    let server = Server::spawn(&database, &functions(target), &env);
    let api = server.ready().await;
    let machine = api
        .create_traced_machine(
            "grpc",
            &json!({"StartAt": "Call", "States": {
                "Call": {"Type": "Task", "Resource": format!("{FUNCTION}:ok"), "End": true}
            }}),
        )
        .await;
    let execution = api.start(&machine, "grpc-1", &json!({"n": 1})).await;
    assert_eq!(api.finished(&execution).await.status(), "SUCCEEDED");
    let spans = collected
        .until("the execution, state and attempt spans", |spans| {
            spans
                .iter()
                .filter(|s| s.attribute("cairn.execution.arn") == execution)
                .count()
                >= 3
        })
        .await;
    let ours: Vec<Received> = spans
        .into_iter()
        .filter(|s| s.attribute("cairn.execution.arn") == execution)
        .collect();
    let root = one(&ours, "execution");
    assert!(ours.iter().all(|s| s.trace_id == root.trace_id));
    assert!(ours.iter().all(|s| s.service == "cairn-grpc"));
    let call = one(&ours, "Call");
    assert_eq!(call.parent_span_id, root.span_id);
    let (_, key, traceparent) = calls
        .all()
        .into_iter()
        .find(|(_, key, _)| key.starts_with(&execution))
        .expect("the target was called");
    let attempt = ours
        .iter()
        .find(|s| s.parent_span_id == call.span_id)
        .expect("the attempt span");
    assert_eq!(
        ids(&traceparent),
        (root.trace_id.clone(), attempt.span_id.clone()),
        "{key}"
    );

    // An Express run started with a caller's traceparent: its span is the caller's
    // child, its attempt the run's child, and the target sees the attempt.
    let express = api
        .call(
            "CreateStateMachine",
            &json!({"name": "grpc-express", "type": "EXPRESS", "roleArn": support::ROLE,
                    "tracingConfiguration": {"enabled": true},
                    "definition": json!({"StartAt": "Call", "States": {
                        "Call": {"Type": "Task", "Resource": format!("{FUNCTION}:ok"), "End": true}
                    }}).to_string()}),
        )
        .await["stateMachineArn"]
        .as_str()
        .expect("arn")
        .to_string();
    let caller = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    // First, the same machine without tracing: its run exports nothing.
    let dark_machine = api
        .call(
            "CreateStateMachine",
            &json!({"name": "grpc-express-dark", "type": "EXPRESS", "roleArn": support::ROLE,
                    "definition": json!({"StartAt": "Call", "States": {
                        "Call": {"Type": "Task", "Resource": format!("{FUNCTION}:ok"), "End": true}
                    }}).to_string()}),
        )
        .await["stateMachineArn"]
        .as_str()
        .expect("arn")
        .to_string();
    let dark = api
        .try_call_with(
            "StartSyncExecution",
            &json!({"stateMachineArn": dark_machine, "name": "dark-1", "input": "{}"}),
            &[("traceparent", &caller)],
        )
        .await
        .expect("answered");
    assert_eq!(dark["status"], "SUCCEEDED", "{dark}");
    let dark = dark["executionArn"].as_str().expect("arn").to_string();
    let answer = api
        .try_call_with(
            "StartSyncExecution",
            &json!({"stateMachineArn": express, "name": "sync-1", "input": "{}"}),
            &[("traceparent", &caller)],
        )
        .await
        .expect("answered");
    assert_eq!(answer["status"], "SUCCEEDED", "{answer}");
    let run = answer["executionArn"].as_str().expect("arn").to_string();
    let spans = collected
        .until("the Express run's spans", |spans| {
            spans
                .iter()
                .filter(|s| s.attribute("cairn.execution.arn") == run)
                .count()
                >= 2
        })
        .await;
    assert!(
        !spans
            .iter()
            .any(|s| s.attribute("cairn.execution.arn") == dark),
        "an Express run of a machine without tracing exported spans"
    );
    let ours: Vec<Received> = spans
        .into_iter()
        .filter(|s| s.attribute("cairn.execution.arn") == run)
        .collect();
    let root = one(&ours, "execution");
    assert_eq!(root.trace_id, CALLER_TRACE);
    assert_eq!(root.parent_span_id, CALLER_SPAN);
    assert_eq!(root.attribute("cairn.execution.status"), "SUCCEEDED");
    let attempt = ours
        .iter()
        .find(|s| s.attribute("cairn.state.name") == "Call")
        .expect("the attempt span");
    assert_eq!(attempt.parent_span_id, root.span_id, "{ours:#?}");
    let (_, _, traceparent) = calls
        .all()
        .into_iter()
        .find(|(_, key, _)| key.starts_with(&run))
        .expect("the target was called");
    assert_eq!(
        ids(&traceparent),
        (CALLER_TRACE.to_string(), attempt.span_id.clone())
    );
}
