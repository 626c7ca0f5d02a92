//! `cairn server` as a process, on real Postgres and a real HTTP target: executions
//! survive `kill -9` of the server, and two servers share one database without ever
//! advancing an execution twice.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use cairn_asl::ExecutionStatus;
use cairn_store::postgres::PgStore;
use cairn_store::prelude::*;
use cairn_store::testing;
use serde_json::{json, Value};

mod support;
use support::Server;

/// Invocations seen by the target, by idempotency key.
type Seen = Arc<Mutex<HashMap<String, u32>>>;

/// How many invocations the target lets through before it holds the rest: the kill test
/// opens it in steps, so each kill lands at a known point of the run however fast the
/// engine is.
#[derive(Clone)]
struct Gate {
    begun: Arc<tokio::sync::watch::Sender<u64>>,
    allowed: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Gate {
    fn new() -> Gate {
        Gate {
            begun: Arc::new(tokio::sync::watch::channel(0).0),
            allowed: Arc::new(tokio::sync::watch::channel(u64::MAX).0),
        }
    }

    /// Lets `n` invocations in all through; later ones wait.
    fn allow(&self, n: u64) {
        self.allowed.send_replace(n);
    }

    /// Waits (at most a minute) until `n` invocations have begun.
    async fn begun(&self, n: u64) {
        let mut begun = self.begun.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(60), begun.wait_for(|b| *b >= n)).await;
    }

    async fn pass(&self) {
        let mut ticket = 0;
        self.begun.send_modify(|b| {
            *b += 1;
            ticket = *b;
        });
        let mut allowed = self.allowed.subscribe();
        let _ = allowed.wait_for(|n| ticket <= *n).await;
    }
}

/// A local HTTP target standing in for three Lambda functions: it waits a little (so that
/// kills land mid-invocation) and answers with the input plus a step marker.
async fn start_target() -> (SocketAddr, Seen, Gate) {
    let seen: Seen = Arc::default();
    let gate = Gate::new();
    async fn step(
        State((seen, gate)): State<(Seen, Gate)>,
        headers: HeaderMap,
        Json(mut input): Json<Value>,
    ) -> Json<Value> {
        let key = headers
            .get("x-cairn-idempotency-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("missing")
            .to_string();
        *seen.lock().expect("lock").entry(key).or_default() += 1;
        gate.pass().await;
        tokio::time::sleep(Duration::from_millis(15)).await;
        let steps = input["steps"].as_u64().unwrap_or(0);
        input["steps"] = json!(steps + 1);
        Json(input)
    }
    // The first attempt of every task fails with a named error; retries succeed.
    async fn fail_first(headers: HeaderMap, Json(input): Json<Value>) -> axum::response::Response {
        use axum::response::IntoResponse;
        let key = headers
            .get("x-cairn-idempotency-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if key.ends_with("/0") {
            let body = json!({"errorType": "Flaky", "errorMessage": "try again"});
            (axum::http::StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
        } else {
            Json(json!({"ok": input})).into_response()
        }
    }
    let app = Router::new()
        .route("/fail-first", post(fail_first))
        .route("/{name}", post(step))
        .with_state((seen.clone(), gate.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    (addr, seen, gate)
}

/// `cairn server` with the three steps and the flaky function mapped to the target, and
/// a short lease so that a killed server's tasks are taken over quickly.
fn spawn_server(database_url: &str, target: SocketAddr) -> Server {
    let functions: Vec<(String, String)> = (1..=3)
        .map(|i| (format!("step{i}"), format!("http://{target}/step{i}")))
        .chain([("flaky".to_string(), format!("http://{target}/fail-first"))])
        .collect();
    Server::spawn(database_url, &functions, &[("CAIRN_LEASE_SECONDS", "2")])
}

async fn setup(label: &str, executions: usize) -> (PgStore, String, Vec<String>) {
    let (store, url) = testing::fresh_store(label, 8).await.expect("database");
    let definition = json!({"StartAt": "Validate", "States": {
        "Validate": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:step1", "Next": "Charge"},
        "Charge": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:step2", "Next": "Ship"},
        "Ship": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:step3", "End": true}
    }});
    let machine = testing::create_machine(&store, "orders", &definition.to_string()).await;
    let arns = start_many(&store, &machine, "o", executions, |i| json!({"order": i})).await;
    (store, url, arns)
}

/// Starts `count` executions of `machine` named `<prefix><i>` with `input(i)`; their ARNs.
async fn start_many(
    store: &PgStore,
    machine: &str,
    prefix: &str,
    count: usize,
    input: impl Fn(usize) -> Value,
) -> Vec<String> {
    let mut arns = Vec::new();
    for i in 0..count {
        let name = format!("{prefix}{i}");
        arns.push(testing::start(store, machine, &name, &input(i).to_string()).await);
    }
    arns
}

async fn finished(store: &PgStore) -> i64 {
    sqlx::query_scalar::<_, i64>("select count(*) from executions where status <> 'RUNNING'")
        .fetch_one(store.pool())
        .await
        .expect("count")
}

async fn wait_until_finished(store: &PgStore, total: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    while finished(store).await < total as i64 {
        assert!(
            Instant::now() < deadline,
            "only {} of {total} finished in time",
            finished(store).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every execution succeeded after exactly three steps, with dense history and each
/// transition recorded once.
async fn verify(store: &PgStore, arns: &[String]) {
    for arn in arns {
        let row = store.describe_execution(arn).await.expect("describe");
        assert_eq!(
            row.status,
            ExecutionStatus::Succeeded,
            "{arn}: {:?} {:?}",
            row.error,
            row.cause
        );
        let output: Value =
            serde_json::from_str(row.output.as_deref().unwrap_or("null")).expect("json");
        assert_eq!(output["steps"], json!(3), "{arn}");
        let events = testing::history(store, arn).await;
        let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
        assert_eq!(
            ids,
            (1..=events.len() as i64).collect::<Vec<_>>(),
            "{arn}: history is dense"
        );
        let count = |t: &str| events.iter().filter(|e| e.event_type == t).count();
        assert_eq!(count("TaskStateEntered"), 3, "{arn}");
        assert_eq!(
            count("LambdaFunctionSucceeded"),
            3,
            "{arn}: each task's result applied once"
        );
        assert_eq!(count("ExecutionSucceeded"), 1, "{arn}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_survive_kill_9_of_the_server() {
    let (target, seen, gate) = start_target().await;
    let (store, url, arns) = setup("kill9", 200).await;

    gate.allow(0);
    let mut server = spawn_server(&url, target);
    for kill in 1..=2 {
        // Let 200 more of the 600 invocations through, then kill the server while the
        // next ones are held in flight.
        gate.allow(200 * kill);
        gate.begun(200 * kill + 1).await;
        server.kill9();
        assert!(
            finished(&store).await < 200,
            "kill {kill} must land mid-run"
        );
        server = spawn_server(&url, target);
    }
    gate.allow(u64::MAX);
    wait_until_finished(&store, arns.len(), Duration::from_secs(120)).await;
    verify(&store, &arns).await;
    // At-least-once invocation: duplicates only where a lease was lost to a kill.
    let (invoked, duplicated) = {
        let seen = seen.lock().expect("lock");
        (seen.len(), seen.values().filter(|n| **n > 1).count())
    };
    assert_eq!(
        invoked, 600,
        "every (execution, state, attempt) was invoked"
    );
    assert!(
        duplicated <= 2 * 256,
        "duplicates bounded by what two kills can interrupt: {duplicated}"
    );
    // The survivor took over the tasks the killed server held in flight (the gate held
    // at least one when it died) once their leases expired, and counted them.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text");
    let takeovers: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("cairn_task_lease_takeovers_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no takeover counter:\n{metrics}"));
    assert!(takeovers >= 1.0, "takeovers counted: {takeovers}");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_the_work_and_never_advance_an_execution_twice() {
    let (target, seen, _) = start_target().await;
    let (store, url, arns) = setup("replicas", 200).await;
    let a = spawn_server(&url, target);
    let b = spawn_server(&url, target);
    wait_until_finished(&store, arns.len(), Duration::from_secs(120)).await;
    verify(&store, &arns).await;
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.len(), 600);
    assert!(
        seen.values().all(|n| *n == 1),
        "no lease was lost, so no task ran twice"
    );
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_and_retry_back_offs_fire_after_a_restart() {
    let (target, _, _) = start_target().await;
    let (store, url) = testing::fresh_store("restart_timers", 8)
        .await
        .expect("database");
    let definition = json!({"StartAt": "Wait", "States": {
        "Wait": {"Type": "Wait", "Seconds": 2, "Next": "Call"},
        "Call": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:flaky",
                 "TimeoutSeconds": 30,
                 "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 2, "MaxAttempts": 2}],
                 "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                 "End": true},
        "Caught": {"Type": "Fail", "Error": "Unexpected"}
    }});
    let machine = testing::create_machine(&store, "timers", &definition.to_string()).await;
    let arns = start_many(&store, &machine, "t", 20, |i| json!({"i": i})).await;
    // Killed while every execution sits in its Wait; the timers fall due while no server
    // runs.
    let mut server = spawn_server(&url, target);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    server.kill9();
    assert_eq!(finished(&store).await, 0);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // Back up: the waits fire, the first attempts fail, and it is killed again during
    // the retry back-off.
    let mut server = spawn_server(&url, target);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill9();
    let server = spawn_server(&url, target);
    wait_until_finished(&store, arns.len(), Duration::from_secs(60)).await;
    for arn in &arns {
        let row = store.describe_execution(arn).await.expect("describe");
        assert_eq!(
            row.status,
            ExecutionStatus::Succeeded,
            "{arn}: {:?} {:?}",
            row.error,
            row.cause
        );
        let events = testing::history(&store, arn).await;
        let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
        assert_eq!(
            ids,
            (1..=events.len() as i64).collect::<Vec<_>>(),
            "{arn}: dense"
        );
        let count = |t: &str| events.iter().filter(|e| e.event_type == t).count();
        assert_eq!(count("WaitStateExited"), 1, "{arn}");
        assert_eq!(
            count("LambdaFunctionFailed"),
            1,
            "{arn}: the first attempt failed once"
        );
        assert_eq!(
            count("LambdaFunctionSucceeded"),
            1,
            "{arn}: the retry succeeded once"
        );
    }
    drop(server);
}
