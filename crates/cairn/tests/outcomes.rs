//! One task outcome, one history. The same outcomes — a result, a function's error, a
//! target that does not answer in time — run once through the in-memory driver (what
//! `cairn run` uses) and once through the durable path (the scheduler, a store, and the
//! worker's lease loop invoking real HTTP targets on loopback). Both turn an outcome
//! into events with `TaskOutcome::into_event`, so both must record the same history,
//! event for event, timestamps aside.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use cairn_asl::driver::{self, RunOptions, TaskHandler};
use cairn_asl::interpreter::{ExecutionInfo, Limits, TaskRequest};
use cairn_asl::task::TaskOutcome;
use cairn_asl::validate::{validate, ValidateOptions};
use cairn_asl::ExecutionStatus;
use cairn_scheduler::{Scheduler, SchedulerConfig};
use cairn_store::memory::MemoryStore;
use cairn_store::prelude::*;
use cairn_store::time::from_time;
use cairn_store::{testing, Channel};
use cairn_worker::runner::{self, RunnerConfig};
use cairn_worker::{Credentials, DefaultTimeouts, LambdaApi, TargetConfig, Targets};
use serde_json::{json, Value};

const FUNCTION: &str = "arn:aws:lambda:us-east-1:123456789012:function:";

fn definition() -> String {
    json!({"StartAt": "Ok", "States": {
        "Ok": {"Type": "Task", "Resource": format!("{FUNCTION}ok"), "ResultPath": "$.ok", "Next": "Boom"},
        "Boom": {"Type": "Task", "Resource": format!("{FUNCTION}boom"),
                 "Catch": [{"ErrorEquals": ["Boom"], "ResultPath": "$.boom", "Next": "Slow"}],
                 "End": true},
        "Slow": {"Type": "Task", "Resource": format!("{FUNCTION}slow"),
                 "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.slow", "Next": "Done"}],
                 "End": true},
        "Done": {"Type": "Succeed"}
    }})
    .to_string()
}

/// The outcome each function gives, as the in-memory driver is told it.
fn scripted(resource: &str) -> TaskOutcome {
    match resource.rsplit(':').next().unwrap_or_default() {
        "ok" => TaskOutcome::Succeeded(json!({"ok": 1})),
        "boom" => TaskOutcome::Failed {
            error: "Boom".to_string(),
            cause: Some("bad".to_string()),
        },
        _ => TaskOutcome::TimedOut,
    }
}

struct Scripted;

impl TaskHandler for Scripted {
    fn invoke(&mut self, task: &TaskRequest) -> TaskOutcome {
        scripted(&task.resource)
    }
}

/// The same functions as HTTP targets: a result, a Lambda-shaped error, and one that
/// answers only after the worker's time limit.
async fn functions() -> SocketAddr {
    let app = Router::new()
        .route("/ok", post(|| async { Json(json!({"ok": 1})) }))
        .route(
            "/boom",
            post(|| async {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({"errorType": "Boom", "errorMessage": "bad"})),
                )
            }),
        )
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                Json(json!({"late": true}))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// An event without its time: what both paths must agree on.
fn comparable(id: i64, previous: i64, event_type: &str, details: Value) -> Value {
    json!({"id": id, "previous": previous, "type": event_type, "details": details})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_memory_driver_and_the_durable_worker_record_the_same_history() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let input = r#"{"order": 7}"#;

    // The durable path: a store, a scheduler and the worker's lease loop, invoking HTTP.
    let store = MemoryStore::new();
    let machine_arn = testing::create_machine(&store, "outcomes", &definition()).await;
    let execution_arn = testing::start(&store, &machine_arn, "same", input).await;
    let addr = functions().await;
    let functions: BTreeMap<String, url::Url> = ["ok", "boom", "slow"]
        .into_iter()
        .map(|name| {
            let url = url::Url::parse(&format!("http://{addr}/{name}")).expect("url");
            (name.to_string(), url)
        })
        .collect();
    let config = TargetConfig {
        functions,
        timeouts: DefaultTimeouts {
            function_url_seconds: 1,
            ..DefaultTimeouts::default()
        },
        ..TargetConfig::default()
    };
    let lambda = LambdaApi::new(None, Credentials::new("test", "test", None, None, "test"));
    let targets = Arc::new(Targets::new(config, lambda).expect("targets"));
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let scheduler = Arc::new(Scheduler::new(store.clone(), SchedulerConfig::default()));
    let schedule = {
        let (scheduler, bell, stopping) = (
            scheduler.clone(),
            store.doorbell(Channel::Inbox),
            stopping.clone(),
        );
        tokio::spawn(async move { scheduler.run(bell, stopping).await })
    };
    let work = tokio::spawn(runner::run(
        store.clone(),
        targets,
        RunnerConfig {
            owner: "outcomes-worker".to_string(),
            concurrency: 4,
            lease: Duration::from_secs(30),
            idle_poll: Duration::from_millis(200),
        },
        store.doorbell(Channel::Tasks),
        stopping,
        None,
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    let record = loop {
        let record = store
            .describe_execution(&execution_arn)
            .await
            .expect("describe");
        if record.status.is_closed() {
            break record;
        }
        assert!(
            Instant::now() < deadline,
            "the execution did not end: {record:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = stop.send(true);
    let _ = tokio::join!(schedule, work);
    assert_eq!(record.status, ExecutionStatus::Succeeded, "{record:?}");
    let durable: Vec<Value> = testing::history(&store, &execution_arn)
        .await
        .into_iter()
        .map(|e| {
            let details = serde_json::from_str(&e.details).expect("details are JSON");
            comparable(e.id, e.previous_event_id, &e.event_type, details)
        })
        .collect();

    // The in-memory driver, told the same outcomes.
    let (machine, _) = validate(&definition(), &ValidateOptions::default()).expect("valid");
    let info = ExecutionInfo {
        execution_arn: execution_arn.clone(),
        execution_name: "same".to_string(),
        state_machine_arn: machine_arn.clone(),
        state_machine_name: "outcomes".to_string(),
        role_arn: testing::ROLE_ARN.to_string(),
        start_time: from_time(record.started_at),
        redrive_count: Some(0),
    };
    let options = RunOptions {
        info,
        limits: Limits::default(),
        seed: 1,
    };
    let input: Value = serde_json::from_str(input).expect("json");
    let outcome = driver::run(&machine, input, &options, &mut Scripted);
    assert_eq!(outcome.status, ExecutionStatus::Succeeded);
    let in_memory: Vec<Value> = outcome
        .history
        .iter()
        .map(|e| {
            let details = serde_json::to_value(&e.details).expect("details");
            comparable(
                e.id as i64,
                e.previous_event_id as i64,
                &e.event_type,
                details,
            )
        })
        .collect();

    assert_eq!(durable, in_memory);
    // What the comparison covered: each kind of outcome reached the history.
    let failed: Vec<&Value> = durable
        .iter()
        .filter(|e| e["type"] == "LambdaFunctionFailed")
        .collect();
    assert_eq!(failed.len(), 2, "{durable:#?}");
    assert_eq!(failed[0]["details"]["error"], "Boom");
    assert_eq!(failed[0]["details"]["cause"], "bad");
    assert_eq!(failed[1]["details"]["error"], "States.Timeout");
    assert_eq!(
        serde_json::from_str::<Value>(record.output.as_deref().unwrap_or("null")).expect("output")
            ["ok"],
        json!({"ok": 1})
    );
}
