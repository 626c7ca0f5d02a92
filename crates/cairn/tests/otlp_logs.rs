//! Execution logs over OTLP end to end: a real `cairn server` pointed at an OTLP/HTTP
//! (or gRPC) receiver this test runs on loopback sends the execution log lines its machines'
//! `loggingConfiguration` asks for as OTLP log records; the receiver decodes the
//! protobuf it receives (`ExportLogsServiceRequest`). A collector that cannot be
//! reached slows nothing down: its records are counted as dropped.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cairn_store::testing;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use serde_json::{json, Value};
use support::otlp::Collector;
use support::{free_port, Server};

const LOG_GROUP: &str = "arn:aws:logs:us-east-1:123456789012:log-group:/cairn/otlp:*";

/// One received log record, flattened.
#[derive(Debug, Clone)]
struct Record {
    service: String,
    attributes: BTreeMap<String, String>,
    body: String,
    severity_text: String,
    severity_number: i32,
    time_unix_nano: u64,
}

/// The log records a [`Collector`] received.
#[derive(Clone, Default)]
struct Received(Collector);

fn text(value: Option<&AnyValue>) -> String {
    match value {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn find(attributes: &[KeyValue], key: &str) -> String {
    attributes
        .iter()
        .find(|a| a.key == key)
        .map(|a| text(a.value.as_ref().and_then(|v| v.value.as_ref())))
        .unwrap_or_default()
}

impl Received {
    /// Every record received so far, flattened.
    fn records(&self) -> Vec<Record> {
        let mut records = Vec::new();
        for resource in self.0.logs().into_iter().flat_map(|r| r.resource_logs) {
            let service = resource
                .resource
                .as_ref()
                .map(|r| find(&r.attributes, "service.name"))
                .unwrap_or_default();
            for record in resource.scope_logs.into_iter().flat_map(|s| s.log_records) {
                records.push(Record {
                    service: service.clone(),
                    attributes: record
                        .attributes
                        .iter()
                        .map(|a| {
                            (
                                a.key.clone(),
                                text(a.value.as_ref().and_then(|v| v.value.as_ref())),
                            )
                        })
                        .collect(),
                    body: text(record.body.as_ref().and_then(|b| b.value.as_ref())),
                    severity_text: record.severity_text,
                    severity_number: record.severity_number,
                    time_unix_nano: record.time_unix_nano,
                });
            }
        }
        records
    }

    fn of(&self, execution: &str) -> Vec<Record> {
        self.records()
            .into_iter()
            .filter(|r| r.attributes.get("execution_arn").map(String::as_str) == Some(execution))
            .collect()
    }

    /// The records of `execution` once one of `event_type` is among them (the deadline
    /// only guards against a hang).
    async fn wait_for(&self, execution: &str, event_type: &str) -> Vec<Record> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let records = self.of(execution);
            if records.iter().any(|r| r.attributes["type"] == event_type) {
                return records;
            }
            assert!(
                Instant::now() < deadline,
                "no {event_type} record for {execution}: {records:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A Pass, then a Fail: every level has something to show.
fn pass_then_fail() -> Value {
    json!({"StartAt": "P", "States": {
        "P": {"Type": "Pass", "Result": {"secret": "s3"}, "Next": "F"},
        "F": {"Type": "Fail", "Error": "Boom", "Cause": "on purpose"}}})
}

async fn create_logged(api: &support::Api, name: &str, level: &str) -> String {
    create_logged_of_type(api, name, level, "STANDARD").await
}

async fn create_logged_of_type(
    api: &support::Api,
    name: &str,
    level: &str,
    machine_type: &str,
) -> String {
    let mut logging = json!({"level": level, "includeExecutionData": true});
    if level != "OFF" {
        logging["destinations"] = json!([{"cloudWatchLogsLogGroup": {"logGroupArn": LOG_GROUP}}]);
    }
    let created = api
        .call(
            "CreateStateMachine",
            &json!({"name": name, "definition": pass_then_fail().to_string(),
                    "roleArn": support::ROLE, "loggingConfiguration": logging,
                    "type": machine_type}),
        )
        .await;
    created["stateMachineArn"]
        .as_str()
        .expect("stateMachineArn")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execution_log_records_are_sent_over_otlp_as_each_level_asks() {
    let (_store, database) = testing::fresh_store("otlp_logs", 2)
        .await
        .expect("a database");
    let received = Received::default();
    let address = received.0.http().await;
    let endpoint = format!("http://{address}/v1/logs");
    let server = Server::spawn(
        &database,
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", &endpoint),
            ("OTEL_SERVICE_NAME", "cairn-logs-test"),
        ],
    );
    let api = server.ready().await;
    let all = create_logged(&api, "logged-all", "ALL").await;
    let error = create_logged(&api, "logged-error", "ERROR").await;
    let off = create_logged(&api, "logged-off", "OFF").await;

    // OFF first: its records, had it any, would be queued before the others'.
    let off_run = api.start(&off, "off", &json!({})).await;
    assert_eq!(api.finished(&off_run).await.status(), "FAILED");
    let error_run = api.start(&error, "error", &json!({})).await;
    assert_eq!(api.finished(&error_run).await.status(), "FAILED");
    let all_run = api.start(&all, "all", &json!({})).await;
    assert_eq!(api.finished(&all_run).await.status(), "FAILED");

    // ALL: every history event, in order, as the history shows it.
    let records = received.wait_for(&all_run, "ExecutionFailed").await;
    let history = api.history(&all_run).await;
    let types: Vec<&str> = records
        .iter()
        .map(|r| r.attributes["type"].as_str())
        .collect();
    let history_types: Vec<&str> = history
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    assert_eq!(types, history_types);
    assert_eq!(
        types,
        [
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "FailStateEntered",
            "ExecutionFailed"
        ]
    );
    for (record, event) in records.iter().zip(&history) {
        assert_eq!(record.service, "cairn-logs-test");
        let line: Value = serde_json::from_str(&record.body).expect("the body is the JSON line");
        assert_eq!(line["execution_arn"], json!(all_run));
        assert_eq!(line["type"], event["type"]);
        assert_eq!(
            line["id"],
            json!(event["id"].as_i64().expect("id").to_string())
        );
        assert_eq!(record.attributes["id"], line["id"].as_str().expect("id"));
        let millis: u64 = line["event_timestamp"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .expect("event_timestamp");
        assert_eq!(record.time_unix_nano, millis * 1_000_000);
        let failure = matches!(
            record.attributes["type"].as_str(),
            "FailStateEntered" | "ExecutionFailed"
        );
        let (severity, number) = if failure { ("ERROR", 17) } else { ("INFO", 9) };
        assert_eq!(
            (record.severity_text.as_str(), record.severity_number),
            (severity, number),
            "{record:?}"
        );
    }
    // includeExecutionData: the Pass's output is in its record.
    assert!(records[2].body.contains("s3"), "{:?}", records[2]);

    // ERROR: only the failures.
    let records = received.wait_for(&error_run, "ExecutionFailed").await;
    let types: Vec<&str> = records
        .iter()
        .map(|r| r.attributes["type"].as_str())
        .collect();
    assert_eq!(types, ["FailStateEntered", "ExecutionFailed"]);
    assert!(records.iter().all(|r| r.severity_text == "ERROR"));

    // OFF: nothing, though later executions' records have all arrived.
    assert!(
        received.of(&off_run).is_empty(),
        "{:?}",
        received.of(&off_run)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execution_log_records_are_sent_over_otlp_grpc() {
    let (_store, database) = testing::fresh_store("otlp_logs_grpc", 2)
        .await
        .expect("a database");
    let received = Received::default();
    let endpoint = format!("http://{}", received.0.grpc().await);
    let server = Server::spawn(
        &database,
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_SERVICE_NAME", "cairn-logs-grpc"),
        ],
    );
    let api = server.ready().await;
    let machine = create_logged(&api, "logged-grpc", "ALL").await;
    let execution = api.start(&machine, "grpc", &json!({})).await;
    assert_eq!(api.finished(&execution).await.status(), "FAILED");
    let records = received.wait_for(&execution, "ExecutionFailed").await;
    let types: Vec<&str> = records
        .iter()
        .map(|r| r.attributes["type"].as_str())
        .collect();
    let history: Vec<String> = api
        .history(&execution)
        .await
        .iter()
        .map(|e| e["type"].as_str().expect("type").to_string())
        .collect();
    assert_eq!(types, history);
    assert!(records.iter().all(|r| r.service == "cairn-logs-grpc"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_collector_drops_records_and_slows_nothing() {
    let (_store, database) = testing::fresh_store("otlp_logs_unreachable", 2)
        .await
        .expect("a database");
    // Nothing listens there.
    let endpoint = format!("http://127.0.0.1:{}/v1/logs", free_port());
    let server = Server::spawn(
        &database,
        &[],
        &[("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", &endpoint)],
    );
    let api = server.ready().await;
    let machine = create_logged(&api, "logged-nowhere", "ALL").await;
    for name in ["one", "two"] {
        let execution = api.start(&machine, name, &json!({})).await;
        assert_eq!(api.finished(&execution).await.status(), "FAILED");
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let scraped = reqwest::get(format!("{}/metrics", api.endpoint()))
            .await
            .expect("scrape")
            .text()
            .await
            .expect("text");
        let dropped = scraped
            .lines()
            .find(|l| l.starts_with("cairn_execution_log_otlp_dropped_total"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok());
        if dropped.is_some_and(|d| d >= 1.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no dropped records counted: {dropped:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
