//! The standard `OTEL_*` variables, read once for each signal Cairn exports (traces,
//! metrics, logs), so that the three exporters agree on what the environment means.
//!
//! For a signal `S` (`TRACES`, `METRICS` or `LOGS`) the per-signal variable wins over
//! the general one, as the OpenTelemetry specification says:
//!
//! - on/off: `OTEL_SDK_DISABLED=true` or `OTEL_S_EXPORTER=none` turns the signal off;
//!   an exporter other than `otlp` or `none` is refused. Without an endpoint
//!   (`OTEL_EXPORTER_OTLP_S_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`) it is off.
//! - endpoint: the per-signal one is used as it is; the general one is a base URL, to
//!   which OTLP/HTTP appends the signal's path (`/v1/logs`) and gRPC appends nothing.
//! - protocol: `OTEL_EXPORTER_OTLP_S_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`:
//!   `http/protobuf` (the default) or `grpc`; `http/json` is refused.
//! - headers (`name=value,...`) and timeout (milliseconds, default 10 s), per signal
//!   first.

use std::time::Duration;

use crate::trace::TraceError;

/// A kind of telemetry Cairn exports over OTLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Traces,
    Metrics,
    Logs,
}

impl Signal {
    /// The path OTLP/HTTP appends to a base endpoint.
    pub fn path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Metrics => "/v1/metrics",
            Signal::Logs => "/v1/logs",
        }
    }

    /// Why an exporter other than `otlp` or `none` is refused.
    fn exporters(self) -> &'static str {
        match self {
            Signal::Traces => "Cairn exports traces with OTLP only (otlp or none)",
            Signal::Metrics => "Cairn exports metrics with OTLP (otlp or none) and at /metrics",
            Signal::Logs => "Cairn exports execution logs with OTLP (otlp or none) and to stdout",
        }
    }

    /// The variable `OTEL_EXPORTER_OTLP_<signal>_<what>`, or `OTEL_<signal>_EXPORTER`.
    fn variable(self, what: &str) -> &'static str {
        match (self, what) {
            (Signal::Traces, "EXPORTER") => "OTEL_TRACES_EXPORTER",
            (Signal::Metrics, "EXPORTER") => "OTEL_METRICS_EXPORTER",
            (Signal::Logs, "EXPORTER") => "OTEL_LOGS_EXPORTER",
            (Signal::Traces, "ENDPOINT") => "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            (Signal::Metrics, "ENDPOINT") => "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            (Signal::Logs, "ENDPOINT") => "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
            (Signal::Traces, "PROTOCOL") => "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            (Signal::Metrics, "PROTOCOL") => "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
            (Signal::Logs, "PROTOCOL") => "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
            (Signal::Traces, "HEADERS") => "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            (Signal::Metrics, "HEADERS") => "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
            (Signal::Logs, "HEADERS") => "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
            (Signal::Traces, _) => "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
            (Signal::Metrics, _) => "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
            (Signal::Logs, _) => "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
        }
    }
}

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `http/protobuf` (the OpenTelemetry default).
    HttpProtobuf,
    /// `grpc`.
    Grpc,
}

/// Where and how to export one signal; [`read`] returns none when it is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub protocol: Protocol,
    /// The URL to send to: for OTLP/HTTP the signal's path included.
    pub endpoint: String,
    pub headers: Vec<(String, String)>,
    /// The time allowed for one export.
    pub timeout: Duration,
}

/// What the environment, read through `var`, asks for `signal`.
pub fn read(
    signal: Signal,
    var: impl Fn(&str) -> Option<String>,
) -> Result<Option<Export>, TraceError> {
    let set = |name: &str| {
        var(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    if set("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Ok(None);
    }
    let exporter = signal.variable("EXPORTER");
    match set(exporter).as_deref() {
        None | Some("otlp") => {}
        Some("none") => return Ok(None),
        Some(other) => {
            return Err(TraceError::Unsupported {
                variable: exporter,
                value: other.to_string(),
                reason: signal.exporters(),
            })
        }
    }
    let exact = set(signal.variable("ENDPOINT"));
    let base = set("OTEL_EXPORTER_OTLP_ENDPOINT");
    if exact.is_none() && base.is_none() {
        return Ok(None);
    }
    let (variable, protocol) = match set(signal.variable("PROTOCOL")) {
        Some(p) => (signal.variable("PROTOCOL"), Some(p)),
        None => (
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            set("OTEL_EXPORTER_OTLP_PROTOCOL"),
        ),
    };
    let protocol = match protocol.as_deref() {
        None | Some("http/protobuf") => Protocol::HttpProtobuf,
        Some("grpc") => Protocol::Grpc,
        Some(other) => {
            return Err(TraceError::Unsupported {
                variable,
                value: other.to_string(),
                reason: "use grpc or http/protobuf",
            })
        }
    };
    let endpoint = match (exact, base, protocol) {
        (Some(exact), _, _) => exact,
        (None, Some(base), Protocol::HttpProtobuf) => {
            format!("{}{}", base.trim_end_matches('/'), signal.path())
        }
        (None, Some(base), Protocol::Grpc) => base,
        (None, None, _) => return Ok(None),
    };
    let headers = set(signal.variable("HEADERS"))
        .or_else(|| set("OTEL_EXPORTER_OTLP_HEADERS"))
        .map(|text| {
            text.split(',')
                .filter_map(|pair| {
                    let (name, value) = pair.split_once('=')?;
                    Some((name.trim().to_string(), value.trim().to_string()))
                })
                .filter(|(name, _)| !name.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let timeout_variable = if set(signal.variable("TIMEOUT")).is_some() {
        signal.variable("TIMEOUT")
    } else {
        "OTEL_EXPORTER_OTLP_TIMEOUT"
    };
    let timeout = match set(timeout_variable) {
        None => Duration::from_secs(10),
        Some(ms) => match ms.parse::<u64>() {
            Ok(ms) => Duration::from_millis(ms),
            Err(_) => {
                return Err(TraceError::Unsupported {
                    variable: timeout_variable,
                    value: ms,
                    reason: "a timeout is a whole number of milliseconds",
                })
            }
        },
    };
    Ok(Some(Export {
        protocol,
        endpoint,
        headers,
        timeout,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn read_with(signal: Signal, vars: &[(&str, &str)]) -> Result<Option<Export>, TraceError> {
        let vars: BTreeMap<&str, &str> = vars.iter().copied().collect();
        read(signal, |name| vars.get(name).map(|v| v.to_string()))
    }

    fn endpoint(signal: Signal, vars: &[(&str, &str)]) -> Option<String> {
        read_with(signal, vars).ok().flatten().map(|e| e.endpoint)
    }

    #[test]
    fn an_endpoint_turns_a_signal_on_and_the_usual_switches_turn_it_off() {
        let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/");
        for signal in [Signal::Traces, Signal::Metrics, Signal::Logs] {
            assert_eq!(read_with(signal, &[]).ok(), Some(None));
            assert!(read_with(signal, &[base]).ok().flatten().is_some());
            assert_eq!(
                read_with(signal, &[base, ("OTEL_SDK_DISABLED", "true")]).ok(),
                Some(None)
            );
            let exporter = signal.variable("EXPORTER");
            assert_eq!(
                read_with(signal, &[base, (exporter, "none")]).ok(),
                Some(None)
            );
            assert!(read_with(signal, &[base, (exporter, "console")]).is_err());
            assert!(read_with(
                signal,
                &[base, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]
            )
            .is_err());
            assert!(read_with(signal, &[base, ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon")]).is_err());
        }
    }

    #[test]
    fn the_signal_variables_win_and_http_appends_the_path() {
        let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/");
        assert_eq!(
            endpoint(Signal::Logs, &[base]).as_deref(),
            Some("http://collector:4318/v1/logs")
        );
        assert_eq!(
            endpoint(Signal::Metrics, &[base]).as_deref(),
            Some("http://collector:4318/v1/metrics")
        );
        assert_eq!(
            endpoint(
                Signal::Logs,
                &[base, ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://c/logs")]
            )
            .as_deref(),
            Some("http://c/logs")
        );
        let grpc = read_with(
            Signal::Logs,
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ],
        )
        .ok()
        .flatten();
        assert_eq!(
            grpc.map(|e| (e.protocol, e.endpoint)),
            Some((Protocol::Grpc, "http://collector:4317".to_string()))
        );
        let both = read_with(
            Signal::Traces,
            &[
                base,
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
            ],
        );
        assert_eq!(
            both.ok().flatten().map(|e| e.protocol),
            Some(Protocol::HttpProtobuf)
        );
        let Ok(Some(export)) = read_with(
            Signal::Logs,
            &[
                base,
                ("OTEL_EXPORTER_OTLP_HEADERS", "a=1, b = two"),
                ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "2500"),
            ],
        ) else {
            panic!("logs wanted");
        };
        assert_eq!(
            export.headers,
            vec![("a".into(), "1".into()), ("b".into(), "two".into())]
        );
        assert_eq!(export.timeout, Duration::from_millis(2500));
    }
}
