//! Execution log lines over OTLP, beside standard output: every line
//! [`crate::execution_log::write`] writes is also sent as an OTLP log record to the
//! collector the environment names (read by [`crate::otlp_env`]):
//! `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT` (used as it is) or `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (a base URL; OTLP/HTTP appends `/v1/logs`), over OTLP/HTTP with protobuf bodies or
//! over gRPC (the `LogsService` of the OpenTelemetry protocol), as
//! `OTEL_EXPORTER_OTLP_LOGS_PROTOCOL` or `OTEL_EXPORTER_OTLP_PROTOCOL` says.
//! `OTEL_SDK_DISABLED=true` or `OTEL_LOGS_EXPORTER=none` keeps them off; any exporter
//! but `otlp` and `none`, and the `http/json` protocol, are refused at start.
//! Headers come from `OTEL_EXPORTER_OTLP_LOGS_HEADERS` / `OTEL_EXPORTER_OTLP_HEADERS`
//! (gRPC metadata over gRPC), the time allowed for one export from
//! `OTEL_EXPORTER_OTLP_LOGS_TIMEOUT` / `OTEL_EXPORTER_OTLP_TIMEOUT` (milliseconds,
//! default 10 s).
//!
//! A record is the line itself as its body, with the event's `execution_arn`, `type`
//! and `id` as attributes, its `event_timestamp` as its time and severity `ERROR` for
//! the events AWS's `ERROR` level includes (`INFO` for the others); the resource is the
//! one traces and metrics carry (`service.name`).
//!
//! Executions never wait for the collector: a line is put on a bounded queue
//! ([`QUEUE_SIZE`]) without blocking, and one thread of its own sends the queue in
//! batches ([`BATCH_SIZE`] records, or what came within [`BATCH_DELAY`]). When the
//! queue is full, or the collector refuses a batch or does not answer, those records
//! are dropped: counted in `cairn_execution_log_otlp_dropped_total` and logged once
//! (best effort, as the stdout lines are).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;
use serde_json::Value;
use tonic::metadata::{Ascii, MetadataKey, MetadataValue};
use tonic::transport::{Channel, Endpoint};

use crate::otlp_env::{read, Export, Protocol, Signal};
use crate::trace::TraceError;

/// Records waiting to be sent at most (the OTel SDK's default for logs).
pub const QUEUE_SIZE: usize = 2048;
/// Records in one export request at most.
pub const BATCH_SIZE: usize = 512;
/// How long a record may wait for others to fill its batch.
pub const BATCH_DELAY: Duration = Duration::from_secs(1);

/// The queue to the exporting thread, once started.
static QUEUE: OnceLock<SyncSender<Message>> = OnceLock::new();
/// Whether a drop has been logged already.
static DROP_LOGGED: AtomicBool = AtomicBool::new(false);

enum Message {
    Line(String),
    /// Send everything queued, then answer.
    Flush(SyncSender<()>),
}

/// Where and how to send log records.
pub type Settings = Export;

/// What the environment, read through `var`, asks for: `None` when OTLP logs are off.
pub fn wanted(var: impl Fn(&str) -> Option<String>) -> Result<Option<Settings>, TraceError> {
    read(Signal::Logs, var)
}

/// Starts the exporting thread when the environment asks for OTLP logs; returns
/// whether it did. Call once at start.
pub fn start_from_env() -> Result<bool, TraceError> {
    let Some(settings) = wanted(|name| std::env::var(name).ok())? else {
        return Ok(false);
    };
    let transport = Transport::new(&settings)?;
    let (sender, receiver) = mpsc::sync_channel(QUEUE_SIZE);
    if QUEUE.set(sender).is_err() {
        return Ok(true);
    }
    let exporter = Exporter {
        transport,
        settings,
        resource: resource(),
    };
    std::thread::Builder::new()
        .name("cairn-otlp-logs".into())
        .spawn(move || exporter.run(receiver))
        .map_err(|e| TraceError::Exporter(e.to_string()))?;
    Ok(true)
}

/// How the exporting thread reaches the collector.
// One per process, made at start and never moved after: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Transport {
    Http(reqwest::blocking::Client),
    /// A gRPC channel, driven by a runtime of the exporting thread's own (the engine's
    /// runtime never waits on the collector).
    Grpc {
        runtime: tokio::runtime::Runtime,
        client: LogsServiceClient<Channel>,
    },
}

impl Transport {
    fn new(settings: &Settings) -> Result<Transport, TraceError> {
        let failed = |e: &dyn std::fmt::Display| TraceError::Exporter(e.to_string());
        match settings.protocol {
            Protocol::HttpProtobuf => reqwest::blocking::Client::builder()
                .timeout(settings.timeout)
                .build()
                .map(Transport::Http)
                .map_err(|e| failed(&e)),
            Protocol::Grpc if !settings.endpoint.starts_with("http://") => {
                Err(TraceError::Exporter(format!(
                    "OTLP logs over gRPC go to plaintext http:// endpoints only (no TLS \
                     client is built in), not {}",
                    settings.endpoint
                )))
            }
            Protocol::Grpc => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| failed(&e))?;
                let channel = {
                    // The channel's connection task is spawned on this runtime.
                    let _runtime = runtime.enter();
                    Endpoint::from_shared(settings.endpoint.clone())
                        .map_err(|e| failed(&e))?
                        .timeout(settings.timeout)
                        .connect_lazy()
                };
                Ok(Transport::Grpc {
                    runtime,
                    client: LogsServiceClient::new(channel),
                })
            }
        }
    }

    /// Sends one request; `Err` says why the collector did not take it.
    fn send(&self, settings: &Settings, request: ExportLogsServiceRequest) -> Result<(), String> {
        match self {
            Transport::Http(client) => {
                let mut post = client
                    .post(&settings.endpoint)
                    .header("content-type", "application/x-protobuf")
                    .body(request.encode_to_vec());
                for (name, value) in &settings.headers {
                    post = post.header(name, value);
                }
                match post.send() {
                    Ok(response) if response.status().is_success() => Ok(()),
                    Ok(response) => Err(format!("the collector answered {}", response.status())),
                    Err(error) => Err(format!("the collector is unreachable: {error}")),
                }
            }
            Transport::Grpc { runtime, client } => {
                let mut request = tonic::Request::new(request);
                for (name, value) in &settings.headers {
                    let key =
                        MetadataKey::<Ascii>::from_bytes(name.to_ascii_lowercase().as_bytes());
                    let value = MetadataValue::try_from(value.as_str());
                    if let (Ok(key), Ok(value)) = (key, value) {
                        request.metadata_mut().insert(key, value);
                    }
                }
                let mut client = client.clone();
                runtime
                    .block_on(client.export(request))
                    .map(|_| ())
                    .map_err(|status| format!("the collector answered {status}"))
            }
        }
    }
}

/// Queues `lines` for export, never waiting: those the queue has no room for are
/// dropped and counted.
pub(crate) fn offer(lines: &[String]) {
    let Some(queue) = QUEUE.get() else {
        return;
    };
    let mut dropped = 0;
    for line in lines {
        match queue.try_send(Message::Line(line.clone())) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => dropped += 1,
        }
    }
    if dropped > 0 {
        count_dropped(dropped, "the queue to the collector is full");
    }
}

/// Sends what is queued, waiting at most `within`; for a process about to exit.
pub fn flush(within: Duration) {
    let Some(queue) = QUEUE.get().cloned() else {
        return;
    };
    let (done, finished) = mpsc::sync_channel(1);
    // On a thread of its own: a full queue must not hold the caller past `within`.
    std::thread::spawn(move || {
        let _ = queue.send(Message::Flush(done));
    });
    let _ = finished.recv_timeout(within);
}

fn count_dropped(count: u64, reason: &str) {
    crate::instruments::get().execution_log_records_dropped(count);
    if !DROP_LOGGED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            count,
            reason,
            "execution log records dropped from the OTLP export (stdout still has them); \
             further drops are only counted in cairn_execution_log_otlp_dropped_total"
        );
    }
}

struct Exporter {
    transport: Transport,
    settings: Settings,
    resource: Resource,
}

impl Exporter {
    fn run(self, queue: Receiver<Message>) {
        let mut batch = Vec::with_capacity(BATCH_SIZE);
        while let Ok(first) = queue.recv() {
            let mut flushes = Vec::new();
            let take =
                |message: Message, batch: &mut Vec<String>, flushes: &mut Vec<_>| match message {
                    Message::Line(line) => batch.push(line),
                    Message::Flush(done) => flushes.push(done),
                };
            take(first, &mut batch, &mut flushes);
            let deadline = Instant::now() + BATCH_DELAY;
            while batch.len() < BATCH_SIZE {
                let left = deadline.saturating_duration_since(Instant::now());
                match queue.recv_timeout(left) {
                    Ok(message) => take(message, &mut batch, &mut flushes),
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
            if !flushes.is_empty() {
                while let Ok(message) = queue.try_recv() {
                    take(message, &mut batch, &mut flushes);
                }
            }
            for chunk in batch.chunks(BATCH_SIZE) {
                self.export(chunk);
            }
            batch.clear();
            for done in flushes {
                let _ = done.send(());
            }
        }
    }

    fn export(&self, lines: &[String]) {
        if lines.is_empty() {
            return;
        }
        let request = request(self.resource.clone(), lines, now_nanos());
        if let Err(failure) = self.transport.send(&self.settings, request) {
            count_dropped(lines.len() as u64, &failure);
        }
    }
}

/// The export request of `lines`, each an execution log line.
fn request(resource: Resource, lines: &[String], observed_nanos: u64) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "cairn.execution_log".into(),
                    ..Default::default()
                }),
                log_records: lines
                    .iter()
                    .map(|line| record(line, observed_nanos))
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// One line's record. The line is read back here, on the exporting thread, so that
/// the executions' path only queues it.
fn record(line: &str, observed_nanos: u64) -> LogRecord {
    let fields: Value = serde_json::from_str(line).unwrap_or(Value::Null);
    let text = |key: &str| fields.get(key).and_then(Value::as_str).unwrap_or_default();
    let event_type = text("type");
    let time_nanos = text("event_timestamp")
        .parse::<u64>()
        .map(|ms| ms.saturating_mul(1_000_000))
        .unwrap_or(observed_nanos);
    let (severity, severity_text) = if crate::execution_log::is_error(event_type) {
        (SeverityNumber::Error, "ERROR")
    } else {
        (SeverityNumber::Info, "INFO")
    };
    LogRecord {
        time_unix_nano: time_nanos,
        observed_time_unix_nano: observed_nanos,
        severity_number: severity as i32,
        severity_text: severity_text.into(),
        body: Some(string(line)),
        attributes: vec![
            attribute("execution_arn", string(text("execution_arn"))),
            attribute("type", string(event_type)),
            attribute("id", string(text("id"))),
        ],
        ..Default::default()
    }
}

/// The resource traces and metrics carry, as OTLP writes it.
fn resource() -> Resource {
    let attributes = crate::trace::resource()
        .iter()
        .map(|(key, value)| {
            let value = match value {
                opentelemetry::Value::Bool(b) => AnyValue {
                    value: Some(any_value::Value::BoolValue(*b)),
                },
                opentelemetry::Value::I64(i) => AnyValue {
                    value: Some(any_value::Value::IntValue(*i)),
                },
                opentelemetry::Value::F64(f) => AnyValue {
                    value: Some(any_value::Value::DoubleValue(*f)),
                },
                other => string(&other.to_string()),
            };
            attribute(key.as_str(), value)
        })
        .collect();
    Resource {
        attributes,
        ..Default::default()
    }
}

fn string(text: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(text.to_string())),
    }
}

fn attribute(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(value),
        ..Default::default()
    }
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn wanted_with(vars: &[(&str, &str)]) -> Result<Option<Settings>, TraceError> {
        let vars: BTreeMap<&str, &str> = vars.iter().copied().collect();
        wanted(|name| vars.get(name).map(|v| v.to_string()))
    }

    #[test]
    fn logs_follow_the_logs_variables() {
        assert_eq!(wanted_with(&[]).ok(), Some(None));
        let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/");
        let Ok(Some(settings)) = wanted_with(&[base]) else {
            panic!("logs wanted");
        };
        assert_eq!(settings.endpoint, "http://collector:4318/v1/logs");
        assert_eq!(
            wanted_with(&[base, ("OTEL_LOGS_EXPORTER", "none")]).ok(),
            Some(None)
        );
        let grpc = wanted_with(&[base, ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "grpc")]);
        assert_eq!(
            grpc.ok().flatten().map(|s| (s.protocol, s.endpoint)),
            Some((Protocol::Grpc, "http://collector:4318/".to_string()))
        );
    }

    #[test]
    fn grpc_over_tls_is_refused_at_start() {
        let Ok(Some(settings)) = wanted_with(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ]) else {
            panic!("logs wanted");
        };
        assert!(Transport::new(&settings).is_err());
    }

    #[test]
    fn a_record_carries_the_line_its_event_and_its_severity() {
        let failed = r#"{"id":"7","type":"ExecutionFailed","details":{},"previous_event_id":"6","event_timestamp":"1765112400123","execution_arn":"arn:x"}"#;
        let record = record(failed, 5);
        assert_eq!(record.time_unix_nano, 1_765_112_400_123_000_000);
        assert_eq!(record.observed_time_unix_nano, 5);
        assert_eq!(record.severity_number, SeverityNumber::Error as i32);
        assert_eq!(record.severity_text, "ERROR");
        assert_eq!(record.body, Some(string(failed)));
        assert_eq!(
            record.attributes,
            vec![
                attribute("execution_arn", string("arn:x")),
                attribute("type", string("ExecutionFailed")),
                attribute("id", string("7")),
            ]
        );
        let entered = r#"{"id":"2","type":"PassStateEntered","details":{},"previous_event_id":"1","event_timestamp":"1","execution_arn":"arn:x"}"#;
        assert_eq!(record_severity(entered), "INFO");
    }

    fn record_severity(line: &str) -> String {
        record(line, 0).severity_text
    }
}
