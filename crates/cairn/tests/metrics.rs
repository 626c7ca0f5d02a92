//! `/metrics` and `/readyz` of a real `cairn server` process on real Postgres: the
//! AWS/States-named counters count each execution once per state machine and outcome,
//! task latency is recorded by Resource, and readiness follows the schema.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::{Json, Router};
use cairn_store::testing;
use serde_json::{json, Value};

const PREFIX: &str = "arn:aws:states:us-east-1:123456789012";
const ECHO: &str = "arn:aws:lambda:us-east-1:123456789012:function:echo";

struct Server {
    child: Child,
    base: String,
    client: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    async fn launch(database_url: &str, target: SocketAddr) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .arg("server")
            .env("DATABASE_URL", database_url)
            .env("CAIRN_LISTEN", format!("127.0.0.1:{port}"))
            .env("CAIRN_FUNCTIONS", format!("echo=http://{target}/echo"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cairn server starts");
        let _ = rustls::crypto::ring::default_provider().install_default();
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while server.get("/readyz").await.0 != 200 {
            assert!(Instant::now() < deadline, "server never became ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }

    async fn get(&self, path: &str) -> (u16, String) {
        match self.client.get(format!("{}{path}", self.base)).send().await {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(_) => (0, String::new()),
        }
    }

    async fn call(&self, operation: &str, body: Value) -> Value {
        let (status, text) = self.try_call(operation, body).await;
        assert!(status.is_success(), "{operation}: {status} {text}");
        serde_json::from_str(&text).expect("json answer")
    }

    async fn try_call(&self, operation: &str, body: Value) -> (reqwest::StatusCode, String) {
        let response = self
            .client
            .post(&self.base)
            .header("x-amz-target", format!("AWSStepFunctions.{operation}"))
            .header("content-type", "application/x-amz-json-1.0")
            .body(body.to_string())
            .send()
            .await
            .expect("request");
        let status = response.status();
        (status, response.text().await.expect("body"))
    }

    async fn create(&self, name: &str, definition: Value) -> String {
        let answer = self
            .call(
                "CreateStateMachine",
                json!({"name": name, "definition": definition.to_string(),
                       "roleArn": "arn:aws:iam::123456789012:role/r"}),
            )
            .await;
        answer["stateMachineArn"].as_str().expect("arn").to_string()
    }

    async fn start_execution(&self, machine: &str, name: &str) -> String {
        let answer = self
            .call(
                "StartExecution",
                json!({"stateMachineArn": machine, "name": name, "input": "{\"n\":1}"}),
            )
            .await;
        answer["executionArn"].as_str().expect("arn").to_string()
    }

    async fn wait_for(&self, execution: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let d = self
                .call("DescribeExecution", json!({"executionArn": execution}))
                .await;
            let status = d["status"].as_str().unwrap_or_default().to_string();
            if status != "RUNNING" {
                return status;
            }
            assert!(Instant::now() < deadline, "{execution} still running");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Samples of the text exposition, by `name{labels}` exactly as written.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn sample(all: &HashMap<String, f64>, name: &str, label: &str, value: &str) -> f64 {
    let key = format!("{name}{{{label}=\"{value}\"}}");
    *all.get(&key)
        .unwrap_or_else(|| panic!("no sample {key} in {:?}", all.keys()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_per_state_machine_task_latency_and_readiness() {
    let echo = Router::new().route("/echo", post(|Json(v): Json<Value>| async move { Json(v) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let target = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, echo).await.expect("serve") });

    let (store, url) = testing::fresh_store("metrics", 4).await.expect("database");
    let server = Server::launch(&url, target).await;

    let good = server
        .create(
            "good",
            json!({"StartAt": "Call", "States": {
                "Call": {"Type": "Task", "Resource": ECHO, "End": true}}}),
        )
        .await;
    let bad = server
        .create(
            "bad",
            json!({"StartAt": "Boom", "States": {
                "Boom": {"Type": "Fail", "Error": "Boom", "Cause": "on purpose"}}}),
        )
        .await;
    assert_eq!(good, format!("{PREFIX}:stateMachine:good"));

    let first = server.start_execution(&good, "one").await;
    // The same name and input again is not a second start: AWS answers the first ARN
    // while that execution runs and ExecutionAlreadyExists once it has closed, and the
    // echo task may already have finished.
    let repeat = json!({"stateMachineArn": good, "name": "one", "input": "{\"n\":1}"});
    let (status, text) = server.try_call("StartExecution", repeat).await;
    assert!(
        (status.is_success() && text.contains(&first))
            || (status.as_u16() == 400 && text.contains("ExecutionAlreadyExists")),
        "{status} {text}"
    );
    let second = server.start_execution(&good, "two").await;
    let failed = server.start_execution(&bad, "one").await;
    assert_eq!(server.wait_for(&first).await, "SUCCEEDED");
    assert_eq!(server.wait_for(&second).await, "SUCCEEDED");
    assert_eq!(server.wait_for(&failed).await, "FAILED");

    let (status, text) = server.get("/metrics").await;
    assert_eq!(status, 200, "{text}");
    let all = samples(&text);
    let m = "state_machine_arn";
    assert_eq!(
        sample(&all, "cairn_executions_started_total", m, &good),
        2.0
    );
    assert_eq!(
        sample(&all, "cairn_executions_succeeded_total", m, &good),
        2.0
    );
    assert_eq!(sample(&all, "cairn_executions_failed_total", m, &good), 0.0);
    assert_eq!(sample(&all, "cairn_executions_started_total", m, &bad), 1.0);
    assert_eq!(sample(&all, "cairn_executions_failed_total", m, &bad), 1.0);
    assert_eq!(
        sample(&all, "cairn_executions_succeeded_total", m, &bad),
        0.0
    );
    assert_eq!(sample(&all, "cairn_executions_aborted_total", m, &bad), 0.0);
    assert_eq!(
        sample(&all, "cairn_executions_timed_out_total", m, &good),
        0.0
    );
    assert_eq!(
        sample(&all, "cairn_execution_throttled_total", m, &good),
        0.0
    );
    assert_eq!(
        sample(&all, "cairn_execution_time_seconds_count", m, &good),
        2.0
    );
    assert_eq!(
        sample(&all, "cairn_execution_time_seconds_count", m, &bad),
        1.0
    );
    assert_eq!(
        sample(&all, "cairn_task_duration_seconds_count", "resource", ECHO),
        2.0
    );
    assert_eq!(all.get("cairn_database_up"), Some(&1.0));
    assert_eq!(all.get("cairn_ready_queue_depth"), Some(&0.0));
    assert_eq!(all.get("cairn_db_pool_max_connections"), Some(&16.0));

    // A database missing one of this build's migrations is not ready.
    let (code, body) = server.get("/readyz").await;
    assert_eq!(code, 200, "{body}");
    let version: i64 = sqlx::query_scalar("select max(version) from _sqlx_migrations")
        .fetch_one(store.pool())
        .await
        .expect("version");
    sqlx::query("update _sqlx_migrations set success = false where version = $1")
        .bind(version)
        .execute(store.pool())
        .await
        .expect("mark unapplied");
    let (code, body) = server.get("/readyz").await;
    assert_eq!(code, 503);
    assert!(body.contains(&version.to_string()), "{body}");
}
