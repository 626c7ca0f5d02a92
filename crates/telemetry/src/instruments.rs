//! The instruments, created once per process, and the Prometheus registry that reads them.

use cairn_asl::ExecutionStatus;
use std::sync::OnceLock;

use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter, MeterProvider};
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::SdkMeterProvider;

/// Bucket bounds for `ExecutionTime`, in seconds: from a Pass-only machine (milliseconds)
/// to day-long Waits.
const EXECUTION_SECONDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
    3600.0, 21600.0, 86400.0,
];
/// Bucket bounds for one task invocation, in seconds (Lambda's limit is 900 s).
const TASK_SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 900.0,
];

static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();

/// The process's instruments, created on first use.
pub(crate) fn get() -> &'static Instruments {
    INSTRUMENTS.get_or_init(Instruments::new)
}

pub(crate) struct Instruments {
    /// `None` when the Prometheus reader could not be built: the instruments then
    /// record into a provider nobody reads, and `/metrics` answers 503.
    pub(crate) registry: Result<prometheus::Registry, String>,
    // Held so the pipeline lives as long as the process.
    _provider: SdkMeterProvider,

    started: Counter<u64>,
    succeeded: Counter<u64>,
    failed: Counter<u64>,
    aborted: Counter<u64>,
    timed_out: Counter<u64>,
    redriven: Counter<u64>,
    throttled: Counter<u64>,
    execution_time: Histogram<f64>,

    task_time: Histogram<f64>,
    task_results_dropped: Counter<u64>,
    task_lease_takeovers: Counter<u64>,
    express_takeovers: Counter<u64>,
    executions_purged: Counter<u64>,
    execution_log_records_dropped: Counter<u64>,

    pub(crate) ready_depth: Gauge<i64>,
    pub(crate) ready_age: Gauge<f64>,
    pub(crate) timers_due: Gauge<i64>,
    pub(crate) timer_lag: Gauge<f64>,
    pub(crate) task_depth: Gauge<i64>,
    pub(crate) task_age: Gauge<f64>,
    pub(crate) database_up: Gauge<i64>,
    pub(crate) pool_connections: Gauge<i64>,
    pub(crate) pool_max: Gauge<i64>,
}

impl Instruments {
    fn new() -> Instruments {
        let registry = prometheus::Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            // Cairn's own labels say all there is; OTel's scope and target_info labels
            // would only repeat "cairn" on every series.
            .without_target_info()
            .scope_info_enabled(false)
            .build();
        let mut builder = SdkMeterProvider::builder();
        // Beside the scrape, a push over OTLP when the environment asked for one.
        if let Some(otlp) = crate::otlp_metrics::take_reader() {
            builder = builder
                .with_resource(crate::trace::resource())
                .with_reader(otlp);
        }
        let (provider, registry) = match exporter {
            Ok(exporter) => (builder.with_reader(exporter).build(), Ok(registry)),
            Err(error) => {
                tracing::error!(%error, "metrics are unavailable");
                (builder.build(), Err(error.to_string()))
            }
        };
        let meter = provider.meter("cairn");
        let instruments = Instruments {
            registry,
            started: counter(&meter, "cairn.executions.started", "AWS/States ExecutionsStarted: executions started, per state machine"),
            succeeded: counter(&meter, "cairn.executions.succeeded", "AWS/States ExecutionsSucceeded: executions that succeeded, per state machine"),
            failed: counter(&meter, "cairn.executions.failed", "AWS/States ExecutionsFailed: executions that failed, per state machine"),
            aborted: counter(&meter, "cairn.executions.aborted", "AWS/States ExecutionsAborted: executions stopped by StopExecution, per state machine"),
            timed_out: counter(&meter, "cairn.executions.timed_out", "AWS/States ExecutionsTimedOut: executions that exceeded TimeoutSeconds, per state machine"),
            redriven: counter(&meter, "cairn.executions.redriven", "AWS/States ExecutionsRedriven: executions redriven by RedriveExecution, per state machine"),
            throttled: counter(&meter, "cairn.execution.throttled", "AWS/States ExecutionThrottled: StartExecution calls refused with ThrottlingException, and scheduler advances that held state transitions back for want of transition tokens, per state machine (docs/configuration.md: start_execution_bucket, transition_bucket)"),
            execution_time: meter
                .f64_histogram("cairn.execution.time")
                .with_unit("s")
                .with_description("AWS/States ExecutionTime: start to end of finished executions, per state machine")
                .with_boundaries(EXECUTION_SECONDS.to_vec())
                .build(),
            task_time: meter
                .f64_histogram("cairn.task.duration")
                .with_unit("s")
                .with_description("Duration of task invocations by this process's workers, per Task Resource")
                .with_boundaries(TASK_SECONDS.to_vec())
                .build(),
            task_results_dropped: counter(&meter, "cairn.task.results_dropped", "Task results not recorded because the task was cancelled or completed by a worker that took over an expired lease"),
            task_lease_takeovers: counter(&meter, "cairn.task.lease_takeovers", "Tasks leased after their previous lease expired: the worker holding them died or stalled, and the invocation runs again"),
            express_takeovers: counter(&meter, "cairn.express.takeovers", "Asynchronous Express runs taken over after their lease expired: the replica running them died or stalled, and they run again from the start (at least once)"),
            executions_purged: counter(&meter, "cairn.executions.purged", "Closed executions this process's retention loop deleted with everything of theirs (retention, docs/operations.md)"),
            execution_log_records_dropped: counter(&meter, "cairn.execution_log.otlp_dropped", "Execution log records not exported over OTLP: the queue to the collector was full or the collector refused or did not answer (stdout still has them)"),
            ready_depth: meter.i64_gauge("cairn.ready_queue.depth").with_description("Due events (starts, task results, stops, timers) waiting for a scheduler, across the cluster").build(),
            ready_age: meter.f64_gauge("cairn.ready_queue.age").with_unit("s").with_description("How long the oldest due event has waited for a scheduler").build(),
            timers_due: meter.i64_gauge("cairn.timers.due").with_description("Timers (Wait, retry back-off, timeouts) whose time has come but which no scheduler has applied").build(),
            timer_lag: meter.f64_gauge("cairn.timer.lag").with_unit("s").with_description("How late the most overdue timer is").build(),
            task_depth: meter.i64_gauge("cairn.task_queue.depth").with_description("Task rows by lease: none (never leased), expired (to be taken over), live (being invoked)").build(),
            task_age: meter.f64_gauge("cairn.task_queue.age").with_unit("s").with_description("Age of the oldest task no worker holds a live lease on").build(),
            database_up: meter.i64_gauge("cairn.database.up").with_description("1 when this scrape could read the queues from Postgres, 0 when it could not").build(),
            pool_connections: meter.i64_gauge("cairn.db_pool.connections").with_description("This process's Postgres connections by state: idle or in_use").build(),
            pool_max: meter.i64_gauge("cairn.db_pool.max_connections").with_description("Most Postgres connections this process opens (pool_size)").build(),
            _provider: provider,
        };
        // Exposed from the start, so that its first increase is one rate() can see.
        instruments.task_results_dropped.add(0, &[]);
        instruments.task_lease_takeovers.add(0, &[]);
        instruments.executions_purged.add(0, &[]);
        instruments.express_takeovers.add(0, &[]);
        instruments.execution_log_records_dropped.add(0, &[]);
        instruments
    }

    pub(crate) fn execution_started(&self, machine: &str) {
        let labels = [KeyValue::new("state_machine_arn", machine.to_string())];
        self.started.add(1, &labels);
        for series in [
            &self.succeeded,
            &self.failed,
            &self.aborted,
            &self.timed_out,
            &self.redriven,
            &self.throttled,
        ] {
            series.add(0, &labels);
        }
    }

    pub(crate) fn executions_purged(&self, count: u64) {
        self.executions_purged.add(count, &[]);
    }

    pub(crate) fn execution_redriven(&self, machine: &str) {
        let labels = [KeyValue::new("state_machine_arn", machine.to_string())];
        self.redriven.add(1, &labels);
    }

    pub(crate) fn execution_finished(&self, machine: &str, status: ExecutionStatus, seconds: f64) {
        let counter = match status {
            ExecutionStatus::Succeeded => &self.succeeded,
            ExecutionStatus::Failed => &self.failed,
            ExecutionStatus::Aborted => &self.aborted,
            ExecutionStatus::TimedOut => &self.timed_out,
            ExecutionStatus::Running => return,
        };
        let labels = [KeyValue::new("state_machine_arn", machine.to_string())];
        counter.add(1, &labels);
        self.execution_time.record(seconds, &labels);
    }

    pub(crate) fn task_finished(&self, resource: &str, seconds: f64) {
        self.task_time
            .record(seconds, &[KeyValue::new("resource", resource.to_string())]);
    }

    pub(crate) fn task_lease_takeovers(&self, count: u64) {
        self.task_lease_takeovers.add(count, &[]);
    }

    pub(crate) fn express_takeovers(&self, count: u64) {
        self.express_takeovers.add(count, &[]);
    }

    pub(crate) fn execution_throttled(&self, machine: &str) {
        self.throttled.add(
            1,
            &[KeyValue::new("state_machine_arn", machine.to_string())],
        );
    }

    pub(crate) fn execution_log_records_dropped(&self, count: u64) {
        self.execution_log_records_dropped.add(count, &[]);
    }

    pub(crate) fn task_results_dropped(&self, count: u64) {
        self.task_results_dropped.add(count, &[]);
    }
}

fn counter(meter: &Meter, name: &'static str, description: &'static str) -> Counter<u64> {
    meter
        .u64_counter(name)
        .with_description(description)
        .build()
}
