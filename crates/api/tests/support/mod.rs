//! The test harness: a real Postgres database per test binary run, the router served on
//! loopback, and requests sent with the headers boto3 sends.
//!
//! Databases are named `cairn_test_api_<pid>` (plus a suffix for tests that need one to
//! themselves). A run drops the databases of earlier runs whose process is gone.
//! Postgres is found at `CAIRN_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1`).

#![allow(dead_code)]

use std::time::Duration;

use cairn_api::{router, ApiConfig, ApiState};
use cairn_scheduler::{Scheduler, SchedulerConfig};
use cairn_store::postgres::PgStore;
use cairn_worker::{Credentials, LambdaApi, TargetConfig, Targets};
use serde_json::Value;
use sqlx::Connection;

pub mod snapshot;

pub const NS: &str = "com.amazonaws.swf.service.v2.model";
pub const ROLE: &str = "arn:aws:iam::123456789012:role/cairn-test";

fn server_url() -> String {
    std::env::var("CAIRN_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1".into())
}

fn database_name(suffix: &str) -> String {
    let pid = std::process::id();
    if suffix.is_empty() {
        format!("cairn_test_api_{pid}")
    } else {
        format!("cairn_test_api_{pid}_{suffix}")
    }
}

static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
static SHARED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

/// Drops test databases left by runs whose process no longer exists.
async fn sweep() {
    let Ok(mut conn) = sqlx::PgConnection::connect(&format!("{}/postgres", server_url())).await
    else {
        return;
    };
    let names: Vec<String> = sqlx::query_scalar(
        "select datname::text from pg_database where datname like 'cairn_test_api_%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap_or_default();
    for name in names {
        let pid = name
            .trim_start_matches("cairn_test_api_")
            .split('_')
            .next()
            .unwrap_or_default()
            .to_string();
        let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
        if !alive && pid.chars().all(|c| c.is_ascii_digit()) {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "drop database if exists \"{name}\" with (force)"
            )))
            .execute(&mut conn)
            .await;
        }
    }
}

/// Creates and migrates the database (once per name per run).
async fn prepare(name: &str) {
    SWEPT.get_or_init(sweep).await;
    let store = PgStore::connect(&format!("{}/{name}", server_url()), 2)
        .await
        .expect("connect to the test database");
    store.migrate().await.expect("migrate the test database");
    store.pool().close().await;
}

pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub request_id: Option<String>,
    pub body: Value,
}

impl Reply {
    /// The error code as botocore reads it: `__type` after `#`.
    pub fn code(&self) -> &str {
        self.body["__type"]
            .as_str()
            .and_then(|t| t.rsplit('#').next())
            .unwrap_or_default()
    }

    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or_default()
    }

    pub fn ok(self) -> Value {
        assert_eq!(self.status, 200, "expected success, got {}", self.body);
        self.body
    }

    pub fn err(&self, code: &str) -> &Self {
        assert_eq!(
            self.status, 400,
            "expected a 400, got {}: {}",
            self.status, self.body
        );
        assert_eq!(self.code(), code, "{}", self.body);
        assert!(!self.message().is_empty(), "no message: {}", self.body);
        self
    }

    /// Reads an answer: status, content type, request id and the JSON body (`null` when
    /// the body is not JSON).
    pub async fn read(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let request_id = response
            .headers()
            .get("x-amzn-requestid")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = response.bytes().await.expect("read body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            content_type,
            request_id,
            body,
        }
    }
}

pub struct Harness {
    pub base: String,
    pub client: reqwest::Client,
    pub store: PgStore,
    pub scheduler: Scheduler<PgStore>,
    pub database: String,
    /// The key and secret [`Harness::send`] signs with (SigV4, by the `aws-sigv4`
    /// crate); `None` sends boto3's headers with a made-up signature.
    pub signer: Option<(String, String)>,
}

/// The headers that sign `POST <base>` with `target` and `body` for `key`, as the AWS
/// SDK for Rust's signer makes them (`x-amz-date`, `authorization`).
pub fn sigv4_headers(
    base: &str,
    host: Option<&str>,
    target: &str,
    body: &[u8],
    (key, secret): (&str, &str),
    service: &str,
    time: std::time::SystemTime,
) -> Vec<(String, String)> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let host = host.map(str::to_string).unwrap_or_else(|| {
        base.trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string()
    });
    let headers = [
        ("host", host.as_str()),
        ("content-type", "application/x-amz-json-1.0"),
        ("x-amz-target", target),
    ];
    let identity = aws_credential_types::Credentials::new(key, secret, None, None, "test").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .expect("signing parameters")
        .into();
    let signable = SignableRequest::new(
        "POST",
        base,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .expect("a signable request");
    let (instructions, _) = sign(signable, &params).expect("signs").into_parts();
    instructions
        .headers()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// Task targets reaching functions through their URLs only (no Lambda API).
pub fn task_targets(config: TargetConfig) -> std::sync::Arc<Targets> {
    // The workspace builds reqwest without a default TLS provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let lambda = LambdaApi::new(
        Some("http://127.0.0.1:9/".parse().expect("a URL")),
        Credentials::new("test", "test", None, None, "test"),
    );
    std::sync::Arc::new(Targets::new(config, lambda).expect("task targets"))
}

impl Harness {
    /// A server on the run's shared database.
    pub async fn start() -> Harness {
        let name = database_name("");
        let n = name.clone();
        SHARED
            .get_or_init(|| async move { prepare(&n).await })
            .await;
        Self::serve(name).await
    }

    /// A server on the run's shared database whose Task targets include the given
    /// Lambda function names, each POSTed to its URL.
    pub async fn with_functions(functions: &[(&str, String)]) -> Harness {
        let name = database_name("");
        let n = name.clone();
        SHARED
            .get_or_init(|| async move { prepare(&n).await })
            .await;
        let mut config = TargetConfig::default();
        for (function, url) in functions {
            config
                .functions
                .insert(function.to_string(), url.parse().expect("a function URL"));
        }
        Self::serve_with(name, config).await
    }

    /// A server on a database of its own (for tests that count rows).
    pub async fn isolated(suffix: &str) -> Harness {
        let name = database_name(suffix);
        prepare(&name).await;
        Self::serve(name).await
    }

    async fn serve(name: String) -> Harness {
        Self::serve_with(name, TargetConfig::default()).await
    }

    /// A server on a fresh database of its own made by
    /// `cairn_store::testing::fresh_store` (for tests that compare the whole database).
    pub async fn fresh(label: &str) -> Harness {
        let (store, url) = cairn_store::testing::fresh_store(label, 8)
            .await
            .expect("a fresh test database");
        let name = url.rsplit('/').next().unwrap_or_default().to_string();
        Self::serve_store(store, name, TargetConfig::default()).await
    }

    /// [`Harness::fresh`] with `auth` checking every request, and [`Harness::send`]
    /// signing with `signer`.
    pub async fn fresh_signed(
        label: &str,
        auth: cairn_api::auth::Auth,
        signer: (&str, &str),
    ) -> Harness {
        let (store, url) = cairn_store::testing::fresh_store(label, 8)
            .await
            .expect("a fresh test database");
        let name = url.rsplit('/').next().unwrap_or_default().to_string();
        let app = router(
            ApiState::new(
                store.clone(),
                ApiConfig::default(),
                task_targets(TargetConfig::default()),
            )
            .with_auth(auth),
        );
        let harness = Self::listen(store, name, app).await;
        Harness {
            signer: Some((signer.0.to_string(), signer.1.to_string())),
            ..harness
        }
    }

    async fn serve_with(name: String, targets: TargetConfig) -> Harness {
        let store = PgStore::connect(&format!("{}/{name}", server_url()), 4)
            .await
            .expect("connect");
        Self::serve_store(store, name, targets).await
    }

    async fn serve_store(store: PgStore, name: String, targets: TargetConfig) -> Harness {
        let app = router(ApiState::new(
            store.clone(),
            ApiConfig::default(),
            task_targets(targets),
        ));
        Self::listen(store, name, app).await
    }

    async fn listen(store: PgStore, name: String, app: axum::Router) -> Harness {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Harness {
            base: format!("http://{addr}/"),
            client: {
                // The workspace builds reqwest without a default TLS provider.
                let _ = rustls::crypto::ring::default_provider().install_default();
                reqwest::Client::new()
            },
            scheduler: Scheduler::new(store.clone(), SchedulerConfig::default()),
            store,
            database: name,
            signer: None,
        }
    }

    /// Sends `operation` with `body` exactly as boto3 would.
    pub async fn call(&self, operation: &str, body: Value) -> Reply {
        self.send(
            &format!("AWSStepFunctions.{operation}"),
            body.to_string().into_bytes(),
            None,
        )
        .await
    }

    /// Sends raw bytes with a given target, optionally to a `sync-` host.
    pub async fn send(&self, target: &str, body: Vec<u8>, host: Option<&str>) -> Reply {
        let mut request = self
            .client
            .post(&self.base)
            .header("Content-Type", "application/x-amz-json-1.0")
            .header("X-Amz-Target", target)
            .header(
                "User-Agent",
                "Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0 os/linux lang/python#3.11.2",
            )
            .header(
                "amz-sdk-invocation-id",
                "00000000-0000-0000-0000-000000000000",
            )
            .header("amz-sdk-request", "attempt=1");
        match &self.signer {
            Some((key, secret)) => {
                let service = if target.starts_with("AWSEvents.") {
                    "events"
                } else {
                    "states"
                };
                for (name, value) in sigv4_headers(
                    &self.base,
                    host,
                    target,
                    &body,
                    (key, secret),
                    service,
                    std::time::SystemTime::now(),
                ) {
                    request = request.header(name, value);
                }
            }
            None => {
                request = request.header("X-Amz-Date", "20261125T052000Z").header(
                    "Authorization",
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/states/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0000",
                );
            }
        }
        if let Some(host) = host {
            request = request.header("Host", host);
        }
        let response = request.body(body).send().await.expect("send request");
        Reply::read(response).await
    }

    /// Sends raw bytes with exactly the given headers (none of boto3's): for requests
    /// no SDK would send, such as a missing target or a wrong content type.
    pub async fn send_raw(&self, headers: &[(&str, &[u8])], body: Vec<u8>) -> Reply {
        let mut request = self.client.post(&self.base);
        for (name, value) in headers {
            let value = reqwest::header::HeaderValue::from_bytes(value).expect("a header value");
            request = request.header(*name, value);
        }
        let response = request.body(body).send().await.expect("send request");
        Reply::read(response).await
    }

    /// Ticks the scheduler until the execution is no longer RUNNING.
    pub async fn run_to_end(&self, execution_arn: &str) -> Value {
        for _ in 0..200 {
            self.scheduler.tick().await.expect("scheduler tick");
            let described = self
                .call(
                    "DescribeExecution",
                    serde_json::json!({ "executionArn": execution_arn }),
                )
                .await
                .ok();
            if described["status"] != "RUNNING" {
                return described;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{execution_arn} did not finish");
    }

    /// Creates a state machine and returns its ARN.
    pub async fn machine(&self, name: &str, definition: &Value) -> String {
        let reply = self
            .call(
                "CreateStateMachine",
                serde_json::json!({
                    "name": name,
                    "definition": definition.to_string(),
                    "roleArn": ROLE,
                }),
            )
            .await
            .ok();
        reply["stateMachineArn"]
            .as_str()
            .expect("stateMachineArn")
            .to_string()
    }
}

/// A unique name for this test's resources.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &id[..12])
}

/// Pass → Choice → Succeed (or Fail when `$.fail` is true).
pub fn pass_choice() -> Value {
    serde_json::json!({
        "Comment": "Pass then Choice",
        "StartAt": "Greet",
        "States": {
            "Greet": {"Type": "Pass", "Result": "hello", "ResultPath": "$.greeting", "Next": "Decide"},
            "Decide": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.fail", "BooleanEquals": true, "Next": "Broken"}],
                "Default": "Done"
            },
            "Broken": {"Type": "Fail", "Error": "Custom.Broken", "Cause": "asked to fail"},
            "Done": {"Type": "Succeed"}
        }
    })
}

/// A machine that stays RUNNING for an hour, whatever other tests' ticks do.
pub fn waiting() -> Value {
    serde_json::json!({
        "StartAt": "Hold",
        "States": {"Hold": {"Type": "Wait", "Seconds": 3600, "End": true}}
    })
}
