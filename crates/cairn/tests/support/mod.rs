//! Shared by the tests that run `cairn server` as a process: spawning and killing it, and
//! a small Step Functions client that speaks AWS JSON 1.0 over reqwest as boto3 does.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub mod otlp;

pub const ROLE: &str = "arn:aws:iam::123456789012:role/cairn-test";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A `cairn server` child process. Dropping it kills it.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`, where its Step Functions API listens.
    pub base: String,
}

impl Server {
    /// Starts `cairn server` on `database_url` with the given function URLs
    /// (`CAIRN_FUNCTIONS`) and further environment (`CAIRN_LEASE_SECONDS`, …). It is not
    /// yet ready when this returns: see [`Server::ready`].
    pub fn spawn(
        database_url: &str,
        functions: &[(String, String)],
        env: &[(&str, &str)],
    ) -> Server {
        Server::spawn_to(database_url, functions, env, Stdio::inherit())
    }

    /// As [`Server::spawn`], with its log (stderr) written to the file at `log` so that a
    /// test can read what the process said about itself.
    pub fn spawn_logged(
        database_url: &str,
        functions: &[(String, String)],
        env: &[(&str, &str)],
        log: &Path,
    ) -> Server {
        let file = std::fs::File::create(log).expect("the log file is created");
        Server::spawn_to(database_url, functions, env, Stdio::from(file))
    }

    fn spawn_to(
        database_url: &str,
        functions: &[(String, String)],
        env: &[(&str, &str)],
        stderr: Stdio,
    ) -> Server {
        let functions = functions
            .iter()
            .map(|(name, url)| format!("{name}={url}"))
            .collect::<Vec<_>>()
            .join(",");
        let listen = format!("127.0.0.1:{}", free_port());
        let child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .arg("server")
            .env("DATABASE_URL", database_url)
            .env("CAIRN_LISTEN", &listen)
            .env("CAIRN_FUNCTIONS", functions)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("cairn server starts");
        Server {
            child,
            base: format!("http://{listen}"),
        }
    }

    /// Waits until the API answers `/healthz` (the database is migrated by then).
    pub async fn ready(&self) -> Api {
        let api = Api::new(&self.base);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = api
                .client
                .get(format!("{}/healthz", self.base))
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            if ok {
                return api;
            }
            assert!(Instant::now() < deadline, "cairn server never became ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM: asks for the graceful shutdown; see [`Server::exited`] for its end.
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM {} failed", self.child.id());
    }

    /// Waits up to `limit` for the process to exit by itself; `None` if it is still
    /// running then.
    pub async fn exited(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: no shutdown code runs, leases are not given back.
    pub fn kill9(&mut self) {
        self.child.kill().expect("kill");
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Step Functions client for one server.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    pub fn new(base: &str) -> Api {
        // reqwest is built with rustls and no provider of its own (as in the binary).
        let _ = rustls::crypto::ring::default_provider().install_default();
        Api {
            client: reqwest::Client::new(),
            base: base.to_string(),
        }
    }

    /// The server's base URL (`http://127.0.0.1:PORT`).
    pub fn endpoint(&self) -> &str {
        self.base.trim_end_matches('/')
    }

    /// One AWS JSON 1.0 call: `Ok(body)` on HTTP 200, `Err((status, body))` otherwise.
    pub async fn try_call(&self, operation: &str, body: &Value) -> Result<Value, (u16, Value)> {
        self.try_call_with(operation, body, &[]).await
    }

    /// [`Api::try_call`] with further request headers (`traceparent`, …).
    pub async fn try_call_with(
        &self,
        operation: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Result<Value, (u16, Value)> {
        let mut request = self
            .client
            .post(format!("{}/", self.base))
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", format!("AWSStepFunctions.{operation}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request
            .body(body.to_string())
            .send()
            .await
            .expect("the API answers");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("a body");
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status == 200 {
            Ok(value)
        } else {
            Err((status, value))
        }
    }

    pub async fn call(&self, operation: &str, body: &Value) -> Value {
        match self.try_call(operation, body).await {
            Ok(v) => v,
            Err((status, body)) => panic!("{operation} answered {status}: {body}"),
        }
    }

    /// Creates a STANDARD state machine and returns its ARN.
    pub async fn create_machine(&self, name: &str, definition: &Value) -> String {
        let created = self
            .call(
                "CreateStateMachine",
                &json!({"name": name, "definition": definition.to_string(), "roleArn": ROLE}),
            )
            .await;
        created["stateMachineArn"]
            .as_str()
            .expect("stateMachineArn")
            .to_string()
    }

    /// Creates a machine whose `tracingConfiguration` is enabled; returns its ARN.
    pub async fn create_traced_machine(&self, name: &str, definition: &Value) -> String {
        let created = self
            .call(
                "CreateStateMachine",
                &json!({"name": name, "definition": definition.to_string(), "roleArn": ROLE,
                        "tracingConfiguration": {"enabled": true}}),
            )
            .await;
        created["stateMachineArn"]
            .as_str()
            .expect("stateMachineArn")
            .to_string()
    }

    /// Starts an execution and returns its ARN.
    pub async fn start(&self, machine: &str, name: &str, input: &Value) -> String {
        let started = self
            .call(
                "StartExecution",
                &json!({"stateMachineArn": machine, "name": name, "input": input.to_string()}),
            )
            .await;
        started["executionArn"]
            .as_str()
            .expect("executionArn")
            .to_string()
    }

    pub async fn describe(&self, execution: &str) -> Value {
        self.call("DescribeExecution", &json!({"executionArn": execution}))
            .await
    }

    /// Polls DescribeExecution until the execution is no longer RUNNING. The limit is
    /// generous: it only fires on a hang.
    pub async fn finished(&self, execution: &str) -> Finished {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let described = self.describe(execution).await;
            if described["status"] != "RUNNING" {
                return Finished(described);
            }
            assert!(
                Instant::now() < deadline,
                "{execution} still RUNNING after 60 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The whole history, every page.
    pub async fn history(&self, execution: &str) -> Vec<Value> {
        let mut events = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut request = json!({"executionArn": execution, "maxResults": 1000});
            if let Some(t) = &token {
                request["nextToken"] = json!(t);
            }
            let page = self.call("GetExecutionHistory", &request).await;
            events.extend(page["events"].as_array().cloned().unwrap_or_default());
            match page["nextToken"].as_str() {
                Some(t) => token = Some(t.to_string()),
                None => return events,
            }
        }
    }

    /// The history's event types, after checking that its ids are dense from 1.
    pub async fn event_types(&self, execution: &str) -> Vec<String> {
        let events = self.history(execution).await;
        let ids: Vec<i64> = events.iter().filter_map(|e| e["id"].as_i64()).collect();
        assert_eq!(
            ids,
            (1..=events.len() as i64).collect::<Vec<_>>(),
            "{execution}: history ids are dense from 1"
        );
        events
            .iter()
            .map(|e| e["type"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

/// A DescribeExecution answer for an execution that has ended.
pub struct Finished(pub Value);

impl Finished {
    pub fn status(&self) -> &str {
        self.0["status"].as_str().unwrap_or_default()
    }

    /// The parsed `output`; panics unless the execution SUCCEEDED.
    pub fn output(&self) -> Value {
        assert_eq!(self.status(), "SUCCEEDED", "{}", self.0);
        serde_json::from_str(self.0["output"].as_str().unwrap_or("null")).expect("output is JSON")
    }

    pub fn error(&self) -> &str {
        self.0["error"].as_str().unwrap_or_default()
    }

    pub fn cause(&self) -> &str {
        self.0["cause"].as_str().unwrap_or_default()
    }
}
