//! Tracing: OpenTelemetry spans exported over OTLP (HTTP/protobuf or gRPC), configured
//! by the standard `OTEL_*` variables, and W3C Trace Context in and out.
//!
//! Off unless an OTLP endpoint is set: every function here then returns at once.
//!
//! **One trace per execution, across replicas and restarts.** StartExecution draws the
//! execution's span context (its trace id — the caller's when the request carried a
//! `traceparent` — and a span id) and stores it on the execution row as a W3C
//! `traceparent` ([`start_execution`]). Whoever advances the execution later reads it
//! back and parents its spans to it:
//!
//! - the **execution span** is drawn when the execution ends, from its start time, with
//!   the stored span id ([`ExecutionSpans`]);
//! - a **state span** per visit to a state, drawn when the visit ends, from its Entered
//!   event's time; its span id is derived from the execution's span id and the id of the
//!   `*StateEntered` event ([`state_span_id`]), so the scheduler that schedules a Task
//!   knows the id of the span the Task's attempts belong under before that span exists;
//! - a **task attempt span**, live in the worker (a `tracing` span bridged by
//!   `tracing-opentelemetry`), child of its state span; its context is what targets
//!   receive as `traceparent` ([`inject`]).
//!
//! Durable spans (execution, state) are drawn with the SDK tracer and chosen ids: the
//! SDK draws ids from its [`IdGenerator`], and ours hands out the ids set for the
//! current thread by [`with_ids`] (random ones otherwise).

use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::sync::OnceLock;
use std::time::SystemTime;

use cairn_asl::interpreter::StateVisit;
use cairn_asl::ExecutionStatus;
use cairn_store::executions::TraceContext;
use opentelemetry::context::FutureExt as _;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId, Tracer as _,
    TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    IdGenerator, RandomIdGenerator, SamplingDecision, SdkTracer, SdkTracerProvider, ShouldSample,
};
use opentelemetry_sdk::Resource;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Why tracing could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// A variable holds a value Cairn does not support.
    #[error("{variable}={value:?} is not supported: {reason}")]
    Unsupported {
        variable: &'static str,
        value: String,
        reason: &'static str,
    },
    /// The OTLP exporter refused its configuration.
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(String),
}

pub use crate::otlp_env::Protocol;

/// What the environment asks for; `None` from [`Settings::from_env`] means tracing is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub protocol: Protocol,
    /// `OTEL_SERVICE_NAME` is set (else the service is called `cairn`).
    pub service_name_set: bool,
}

impl Settings {
    /// Reads the standard variables through `var` ([`crate::otlp_env`]): tracing is on
    /// when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` is
    /// set, unless `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<Settings>, TraceError> {
        let service_name_set = var("OTEL_SERVICE_NAME").is_some_and(|v| !v.trim().is_empty());
        Ok(
            crate::otlp_env::read(crate::otlp_env::Signal::Traces, var)?.map(|export| Settings {
                protocol: export.protocol,
                service_name_set,
            }),
        )
    }
}

struct Active {
    tracer: SdkTracer,
    /// The configured sampler (`OTEL_TRACES_SAMPLER`), asked once per execution.
    sampler: Box<dyn ShouldSample>,
}

static ACTIVE: OnceLock<Active> = OnceLock::new();

/// Whether traces are being exported.
pub fn enabled() -> bool {
    ACTIVE.get().is_some()
}

/// The resource of what Cairn exports: the SDK's (`OTEL_SERVICE_NAME`,
/// `OTEL_RESOURCE_ATTRIBUTES`), its service called `cairn` unless named.
pub(crate) fn resource() -> Resource {
    let named = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.trim().is_empty());
    let mut resource = Resource::builder();
    if !named {
        resource = resource.with_service_name("cairn");
    }
    resource.build()
}

/// Keeps the exporter running; [`Tracing::shutdown`] flushes the spans still queued.
pub struct Tracing {
    provider: SdkTracerProvider,
}

impl Tracing {
    /// Sets up the exporter the environment asks for, or returns `None` when tracing is
    /// off. Must run inside a Tokio runtime (the gRPC exporter needs one) and at most
    /// once per process.
    pub fn from_env() -> Result<Option<Tracing>, TraceError> {
        let Some(settings) = Settings::from_env(|name| std::env::var(name).ok())? else {
            return Ok(None);
        };
        let exporter = match settings.protocol {
            Protocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .build(),
            Protocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .build(),
        }
        .map_err(|e| TraceError::Exporter(e.to_string()))?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_id_generator(ChosenIds::default())
            .with_resource(resource())
            .build();
        let tracer = provider.tracer("cairn");
        // The SDK reads OTEL_TRACES_SAMPLER(_ARG) into its default configuration.
        let sampler = opentelemetry_sdk::trace::Config::default().sampler;
        let _ = ACTIVE.set(Active { tracer, sampler });
        Ok(Some(Tracing { provider }))
    }

    /// The `tracing-subscriber` layer that turns `tracing` spans into OpenTelemetry
    /// spans (task attempts, in this process).
    pub fn layer<S>(&self) -> impl tracing_subscriber::Layer<S> + 'static
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a> + Send + Sync,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("cairn"))
            .with_location(false)
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_target(false)
    }

    /// Exports every span still queued and stops the exporter.
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(%error, "flushing traces at shutdown failed");
        }
    }
}

thread_local! {
    static CHOSEN: Cell<Option<(TraceId, SpanId)>> = const { Cell::new(None) };
}

/// Random ids, except while [`with_ids`] has chosen them for this thread.
#[derive(Debug, Default)]
struct ChosenIds(RandomIdGenerator);

impl IdGenerator for ChosenIds {
    fn new_trace_id(&self) -> TraceId {
        CHOSEN
            .with(Cell::get)
            .map(|(trace, _)| trace)
            .unwrap_or_else(|| self.0.new_trace_id())
    }

    fn new_span_id(&self) -> SpanId {
        CHOSEN
            .with(Cell::get)
            .map(|(_, span)| span)
            .unwrap_or_else(|| self.0.new_span_id())
    }
}

/// Runs `build` (which must start exactly one span, synchronously) with its ids chosen.
fn with_ids<T>(trace: TraceId, span: SpanId, build: impl FnOnce() -> T) -> T {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            CHOSEN.with(|c| c.set(None));
        }
    }
    CHOSEN.with(|c| c.set(Some((trace, span))));
    let _reset = Reset;
    build()
}

fn random_ids() -> (TraceId, SpanId) {
    let ids = RandomIdGenerator::default();
    (ids.new_trace_id(), ids.new_span_id())
}

/// The W3C `traceparent` text of a span context.
fn traceparent(trace: TraceId, span: SpanId, flags: TraceFlags) -> String {
    format!("00-{trace:032x}-{span:016x}-{:02x}", flags.to_u8())
}

/// Reads a W3C `traceparent` (and `tracestate`); `None` unless it is valid.
fn parse_traceparent(traceparent: &str, tracestate: Option<&str>) -> Option<SpanContext> {
    let mut carrier = HashMap::with_capacity(2);
    carrier.insert("traceparent".to_string(), traceparent.to_string());
    if let Some(state) = tracestate {
        carrier.insert("tracestate".to_string(), state.to_string());
    }
    let cx = TraceContextPropagator::new().extract(&carrier);
    let span = cx.span().span_context().clone();
    span.is_valid().then_some(span)
}

/// The trace a new execution starts, or `None` when tracing is off. `header` reads a
/// request header: a valid `traceparent` (with its `tracestate`) makes the execution's
/// span a child of the caller's, in the caller's trace.
pub fn start_execution<'h>(
    traced: bool,
    header: impl Fn(&str) -> Option<&'h str>,
) -> Option<TraceContext> {
    let active = ACTIVE.get()?;
    let caller = header("traceparent").and_then(|t| parse_traceparent(t, header("tracestate")));
    let (fresh_trace, span_id) = random_ids();
    let trace_id = caller.as_ref().map_or(fresh_trace, SpanContext::trace_id);
    let parent = match &caller {
        Some(c) => Context::new().with_remote_span_context(c.clone()),
        None => Context::new(),
    };
    // A machine whose tracingConfiguration is not enabled is never sampled: its
    // execution keeps a trace context (so its tasks' spans know to stay unsampled)
    // but exports nothing.
    let sampled = traced
        && active
            .sampler
            .should_sample(
                Some(&parent),
                trace_id,
                "execution",
                &SpanKind::Internal,
                &[],
                &[],
            )
            .decision
            == SamplingDecision::RecordAndSample;
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    let tracestate = caller
        .as_ref()
        .map(|c| c.trace_state().header())
        .filter(|s| !s.is_empty());
    Some(TraceContext {
        traceparent: traceparent(trace_id, span_id, flags),
        caller_span: caller.map(|c| format!("{:016x}", c.span_id())),
        tracestate,
    })
}

/// The span id of the visit to a state whose `*StateEntered` event is `entered_event`,
/// in the execution whose span is `execution`: the same on every replica.
pub fn state_span_id(execution: SpanId, entered_event: u64) -> SpanId {
    // FNV-1a over both ids; never zero (an invalid span id).
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in execution
        .to_bytes()
        .iter()
        .chain(entered_event.to_be_bytes().iter())
    {
        hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
    }
    SpanId::from(hash.max(1))
}

/// The execution's own span context, from its row.
fn execution_context(trace: &TraceContext) -> Option<SpanContext> {
    parse_traceparent(&trace.traceparent, trace.tracestate.as_deref())
}

/// The `traceparent` the attempts of the task scheduled in the visit whose Entered event
/// is `entered_event` take as their parent (the visit's state span); `None` when
/// tracing is off or the execution is not traced.
pub fn task_parent(trace: Option<&TraceContext>, entered_event: u64) -> Option<String> {
    ACTIVE.get()?;
    let execution = execution_context(trace?)?;
    Some(traceparent(
        execution.trace_id(),
        state_span_id(execution.span_id(), entered_event),
        execution.trace_flags(),
    ))
}

/// How an execution ended, for its span.
#[derive(Debug, Clone)]
pub struct Finished {
    pub status: ExecutionStatus,
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// The spans one scheduler advance draws for one execution, exported after the advance
/// commits ([`ExecutionSpans::export`]), so a rolled-back advance draws nothing.
#[derive(Debug, Clone)]
pub struct ExecutionSpans {
    pub trace: TraceContext,
    pub execution_arn: String,
    pub state_machine_arn: String,
    pub started_at: SystemTime,
    /// The moment of the advance: when its state visits (and the execution) ended.
    pub at: SystemTime,
    pub visits: Vec<StateVisit>,
    pub finished: Option<Finished>,
}

impl ExecutionSpans {
    /// What an advance drew, or `None` when tracing is off, the execution is not traced
    /// or nothing ended.
    pub fn new(
        trace: Option<&TraceContext>,
        execution_arn: &str,
        state_machine_arn: &str,
        started_at: SystemTime,
        at: SystemTime,
        visits: Vec<StateVisit>,
        finished: Option<Finished>,
    ) -> Option<ExecutionSpans> {
        ACTIVE.get()?;
        let trace = trace?;
        if visits.is_empty() && finished.is_none() {
            return None;
        }
        Some(ExecutionSpans {
            trace: trace.clone(),
            execution_arn: execution_arn.to_string(),
            state_machine_arn: state_machine_arn.to_string(),
            started_at,
            at,
            visits,
            finished,
        })
    }

    /// Hands the spans to the exporter.
    pub fn export(self) {
        let Some(active) = ACTIVE.get() else { return };
        let Some(execution) = execution_context(&self.trace) else {
            return;
        };
        if !execution.is_sampled() {
            return;
        }
        let trace_id = execution.trace_id();
        let remote = |span: SpanId| {
            Context::new().with_remote_span_context(SpanContext::new(
                trace_id,
                span,
                execution.trace_flags(),
                true,
                execution.trace_state().clone(),
            ))
        };
        for visit in &self.visits {
            let parent = visit.parent_entered_event.map_or(execution.span_id(), |e| {
                state_span_id(execution.span_id(), e)
            });
            let mut attributes = vec![
                KeyValue::new("cairn.execution.arn", self.execution_arn.clone()),
                KeyValue::new("cairn.state.name", visit.state.clone()),
                KeyValue::new("cairn.state.type", visit.state_type),
                KeyValue::new("cairn.state.entered_event_id", visit.entered_event as i64),
            ];
            if let Some(error) = &visit.error {
                attributes.push(KeyValue::new("error.type", error.clone()));
            }
            let start = timestamp(visit.entered_at);
            let builder = active
                .tracer
                .span_builder(visit.state.clone())
                .with_kind(SpanKind::Internal)
                .with_start_time(start)
                .with_attributes(attributes);
            let span_id = state_span_id(execution.span_id(), visit.entered_event);
            let span = with_ids(trace_id, span_id, || {
                builder.start_with_context(&active.tracer, &remote(parent))
            });
            let cx = Context::new().with_span(span);
            if let Some(error) = &visit.error {
                cx.span().set_status(Status::error(error.clone()));
            }
            cx.span().end_with_timestamp(self.at);
        }
        if let Some(finished) = &self.finished {
            let parent = match &self.trace.caller_span {
                Some(caller) => match SpanId::from_hex(caller) {
                    Ok(span) => remote(span),
                    Err(_) => Context::new(),
                },
                None => Context::new(),
            };
            let mut attributes = vec![
                KeyValue::new("cairn.execution.arn", self.execution_arn.clone()),
                KeyValue::new("cairn.state_machine.arn", self.state_machine_arn.clone()),
                KeyValue::new("cairn.execution.status", finished.status.as_str()),
            ];
            if let Some(error) = &finished.error {
                attributes.push(KeyValue::new("error.type", error.clone()));
            }
            if let Some(cause) = &finished.cause {
                attributes.push(KeyValue::new("cairn.error.cause", cause.clone()));
            }
            let builder = active
                .tracer
                .span_builder("execution")
                .with_kind(SpanKind::Internal)
                .with_start_time(self.started_at)
                .with_attributes(attributes);
            let span = with_ids(trace_id, execution.span_id(), || {
                builder.start_with_context(&active.tracer, &parent)
            });
            let cx = Context::new().with_span(span);
            if finished.status != ExecutionStatus::Succeeded {
                let description = finished
                    .error
                    .clone()
                    .unwrap_or_else(|| finished.status.as_str().to_string());
                cx.span().set_status(Status::error(description));
            }
            cx.span().end_with_timestamp(self.at);
        }
    }
}

fn timestamp(t: cairn_asl::timestamp::Timestamp) -> SystemTime {
    let nanos = t.0.max(0) as u128;
    SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(nanos.min(u64::MAX as u128) as u64)
}

/// Runs `work` (a task attempt) as a child of the span named by `traceparent`: a
/// `tracing` span created inside it without a parent of its own gets that parent.
/// Without a valid `traceparent`, or with tracing off, `work` runs as it is.
pub async fn within_parent<F: Future>(
    traceparent: Option<&str>,
    tracestate: Option<&str>,
    work: F,
) -> F::Output {
    let parent = ACTIVE
        .get()
        .and(traceparent)
        .and_then(|t| parse_traceparent(t, tracestate));
    match parent {
        Some(parent) => {
            work.with_context(Context::new().with_remote_span_context(parent))
                .await
        }
        None => work.await,
    }
}

/// Runs `work` (to be spawned) in the OpenTelemetry context current here, so that spans
/// it creates on another task keep their parent. As it is when tracing is off.
pub fn in_current_context<F: Future>(work: F) -> impl Future<Output = F::Output> {
    let cx = ACTIVE.get().map(|_| Context::current());
    async move {
        match cx {
            Some(cx) => work.with_context(cx).await,
            None => work.await,
        }
    }
}

/// The W3C `traceparent` and `tracestate` headers naming the current `tracing` span, for
/// a request to a target; empty when tracing is off or no span is current.
pub fn inject() -> Vec<(&'static str, String)> {
    if ACTIVE.get().is_none() {
        return Vec::new();
    }
    let cx = tracing::Span::current().context();
    let span = cx.span();
    let span = span.span_context();
    if !span.is_valid() {
        return Vec::new();
    }
    let mut headers = vec![(
        "traceparent",
        traceparent(span.trace_id(), span.span_id(), span.trace_flags()),
    )];
    let state = span.trace_state().header();
    if !state.is_empty() {
        headers.push(("tracestate", state));
    }
    headers
}

/// Makes `span` a child of the caller named by a request's `traceparent`/`tracestate`
/// (an Express execution run inline). Nothing happens when tracing is off.
pub fn adopt_caller<'h>(span: &tracing::Span, header: impl Fn(&str) -> Option<&'h str>) {
    if ACTIVE.get().is_none() {
        return;
    }
    if let Some(caller) =
        header("traceparent").and_then(|t| parse_traceparent(t, header("tracestate")))
    {
        let _ = span.set_parent(Context::new().with_remote_span_context(caller));
    }
}

/// Keeps `span` and every span under it out of the export: its parent becomes a fresh,
/// unsampled context (an Express execution of a machine whose `tracingConfiguration`
/// is not enabled). Nothing happens when tracing is off.
pub fn leave_untraced(span: &tracing::Span) {
    if ACTIVE.get().is_none() {
        return;
    }
    let (trace_id, span_id) = random_ids();
    let unsampled = SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::default(),
        true,
        Default::default(),
    );
    let _ = span.set_parent(Context::new().with_remote_span_context(unsampled));
}

/// A machine's stored `tracingConfiguration` (`{"enabled": bool}`): whether its
/// executions are traced. None stored, or unreadable: not traced, as on AWS.
pub fn machine_traced(stored: Option<&str>) -> bool {
    stored
        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        .and_then(|config| config.get("enabled").and_then(serde_json::Value::as_bool))
        .unwrap_or(false)
}

/// The W3C `traceparent` of the current `tracing` span, if it is traced.
pub fn current_traceparent() -> Option<String> {
    inject()
        .into_iter()
        .find(|(name, _)| *name == "traceparent")
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn traces_follow_the_traces_variables() {
        assert_eq!(Settings::from_env(env(&[])).ok().flatten(), None);
        let traces = (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://127.0.0.1:4317",
        );
        assert_eq!(
            Settings::from_env(env(&[traces, ("OTEL_TRACES_EXPORTER", "none")]))
                .ok()
                .flatten(),
            None
        );
        let grpc = Settings::from_env(env(&[
            traces,
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
            ("OTEL_SERVICE_NAME", "svc"),
        ]));
        assert_eq!(
            grpc.ok().flatten(),
            Some(Settings {
                protocol: Protocol::Grpc,
                service_name_set: true
            })
        );
    }

    #[test]
    fn state_span_ids_are_stable_and_distinct() {
        let execution = SpanId::from(0x0102_0304_0506_0708);
        assert_eq!(state_span_id(execution, 2), state_span_id(execution, 2));
        assert_ne!(state_span_id(execution, 2), state_span_id(execution, 3));
        assert_ne!(state_span_id(execution, 2), SpanId::INVALID);
    }

    #[test]
    fn traceparent_round_trips() {
        let text = traceparent(
            TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
            SpanId::from(0x00f0_67aa_0ba9_02b7),
            TraceFlags::SAMPLED,
        );
        assert_eq!(
            text,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        let parsed = parse_traceparent(&text, Some("vendor=x")).expect("valid");
        assert_eq!(parsed.span_id(), SpanId::from(0x00f0_67aa_0ba9_02b7));
        assert_eq!(parsed.trace_state().header(), "vendor=x");
        assert!(parse_traceparent("00-nonsense", None).is_none());
    }
}
