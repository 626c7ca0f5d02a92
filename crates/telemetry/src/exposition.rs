//! One scrape: read the queues and the pool, set the gauges, gather and encode.

use cairn_store::Store;
use opentelemetry::KeyValue;
use prometheus::Encoder;

use crate::{instruments, TelemetryError};

/// The content type of [`render`]'s text (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every metric in the Prometheus text format. The queue figures come from one
/// read-only query; when Postgres cannot answer, they keep their last values and
/// `cairn_database_up` is 0, so the scrape itself still succeeds.
pub async fn render<S: Store>(store: &S) -> Result<String, TelemetryError> {
    let m = instruments::get();
    let registry = m
        .registry
        .as_ref()
        .map_err(|e| TelemetryError::Unavailable(e.clone()))?;
    match store.backlog().await {
        Ok(b) => {
            m.database_up.record(1, &[]);
            m.ready_depth.record(b.ready_events, &[]);
            m.ready_age.record(b.ready_age_seconds, &[]);
            m.timers_due.record(b.due_timers, &[]);
            m.timer_lag.record(b.timer_lag_seconds, &[]);
            for (lease, count) in [
                ("none", b.tasks_waiting),
                ("expired", b.tasks_lease_expired),
                ("live", b.tasks_leased),
            ] {
                m.task_depth.record(count, &[KeyValue::new("lease", lease)]);
            }
            m.task_age.record(b.task_age_seconds, &[]);
        }
        Err(error) => {
            tracing::warn!(%error, "metrics: could not read the queues");
            m.database_up.record(0, &[]);
        }
    }
    if let Some(pool) = store.connections() {
        let (open, idle) = (i64::from(pool.open), i64::from(pool.idle));
        m.pool_connections
            .record(idle, &[KeyValue::new("state", "idle")]);
        m.pool_connections
            .record(open - idle, &[KeyValue::new("state", "in_use")]);
        m.pool_max.record(i64::from(pool.max), &[]);
    }

    let mut text = Vec::new();
    prometheus::TextEncoder::new().encode(&registry.gather(), &mut text)?;
    String::from_utf8(text).map_err(|e| TelemetryError::Unavailable(e.to_string()))
}

#[cfg(test)]
mod tests {
    use cairn_store::testing::fresh_store;

    /// Instruments are process-wide: this is the only test in this crate that records.
    #[tokio::test]
    async fn recorded_executions_and_queues_appear_in_the_exposition() {
        let (store, _) = fresh_store("telemetry_render", 2).await.expect("database");
        let started = chrono::Utc::now() - chrono::Duration::seconds(2);
        crate::execution_started("m1");
        crate::execution_started("m1");
        crate::execution_finished("m1", cairn_asl::ExecutionStatus::TimedOut, started);
        crate::execution_finished("m1", cairn_asl::ExecutionStatus::Running, started);
        let text = super::render(&store).await.expect("render");
        for line in [
            "cairn_executions_started_total{state_machine_arn=\"m1\"} 2",
            "cairn_executions_timed_out_total{state_machine_arn=\"m1\"} 1",
            "cairn_executions_succeeded_total{state_machine_arn=\"m1\"} 0",
            "cairn_execution_time_seconds_count{state_machine_arn=\"m1\"} 1",
            "cairn_execution_time_seconds_bucket{state_machine_arn=\"m1\",le=\"1\"} 0",
            "cairn_execution_time_seconds_bucket{state_machine_arn=\"m1\",le=\"2.5\"} 1",
            "cairn_database_up 1",
            "cairn_timer_lag_seconds 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
