//! Metrics over OTLP, beside `GET /metrics`: the same instruments, pushed every
//! `OTEL_METRIC_EXPORT_INTERVAL` milliseconds (default 60 s) to an OpenTelemetry
//! collector when the environment names one, as it names one for traces (read by
//! [`crate::otlp_env`]): `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` (used as it is) or
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL), over OTLP/HTTP with protobuf bodies or
//! over gRPC (`OTEL_EXPORTER_OTLP_METRICS_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`).
//! `OTEL_SDK_DISABLED=true` or `OTEL_METRICS_EXPORTER=none` keeps them off; any
//! exporter but `otlp` and `none`, and the `http/json` protocol, are refused at start.
//!
//! Built at start ([`start_from_env`]), before the first instrument records anything;
//! the instruments' provider then carries the OTLP reader beside the Prometheus one.
//! The reader runs on a thread of its own, so exporting never stalls the engine.

use std::sync::Mutex;

use opentelemetry_otlp::{MetricExporter, WithExportConfig};
use opentelemetry_sdk::metrics::PeriodicReader;

use crate::otlp_env::{read, Protocol, Signal};
use crate::trace::TraceError;

/// The reader [`start_from_env`] built, for the instruments to take when they are made.
static READER: Mutex<Option<PeriodicReader<MetricExporter>>> = Mutex::new(None);

/// Whether the environment asks for OTLP metrics, read through `var`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    Off,
    Http,
    Grpc,
}

/// What the environment asks for ([`crate::otlp_env`]).
pub fn wanted(var: impl Fn(&str) -> Option<String>) -> Result<Wanted, TraceError> {
    Ok(match read(Signal::Metrics, var)? {
        None => Wanted::Off,
        Some(export) if export.protocol == Protocol::Grpc => Wanted::Grpc,
        Some(_) => Wanted::Http,
    })
}

/// Builds the OTLP metrics exporter the environment asks for, if any, and hands it to
/// the instruments. Call once at start, inside the Tokio runtime (the gRPC exporter
/// needs one) and before anything records a metric; returns whether metrics are
/// exported over OTLP.
pub fn start_from_env() -> Result<bool, TraceError> {
    let exporter = match wanted(|name| std::env::var(name).ok())? {
        Wanted::Off => return Ok(false),
        Wanted::Http => MetricExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .build(),
        Wanted::Grpc => MetricExporter::builder().with_tonic().build(),
    }
    .map_err(|e| TraceError::Exporter(e.to_string()))?;
    let reader = PeriodicReader::builder(exporter).build();
    if let Ok(mut slot) = READER.lock() {
        *slot = Some(reader);
    }
    // Made now, so that they take the reader.
    crate::instruments::get();
    Ok(true)
}

/// The reader built at start, once.
pub(crate) fn take_reader() -> Option<PeriodicReader<MetricExporter>> {
    READER.lock().ok().and_then(|mut slot| slot.take())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn wanted_with(vars: &[(&str, &str)]) -> Result<Wanted, TraceError> {
        let vars: BTreeMap<&str, &str> = vars.iter().copied().collect();
        wanted(|name| vars.get(name).map(|v| v.to_string()))
    }

    #[test]
    fn metrics_follow_the_metrics_variables() {
        assert_eq!(wanted_with(&[]).ok(), Some(Wanted::Off));
        let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
        assert_eq!(wanted_with(&[base]).ok(), Some(Wanted::Http));
        assert_eq!(
            wanted_with(&[base, ("OTEL_METRICS_EXPORTER", "none")]).ok(),
            Some(Wanted::Off)
        );
        assert_eq!(
            wanted_with(&[base, ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc")]).ok(),
            Some(Wanted::Grpc)
        );
    }
}
