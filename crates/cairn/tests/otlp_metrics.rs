//! Metrics over OTLP end to end: a real `cairn server` pointed at an OTLP receiver this
//! test runs on loopback (OTLP/HTTP, or gRPC's `MetricsService`) pushes its AWS/States
//! metrics there, beside `/metrics`; the receiver decodes what it receives
//! (`ExportMetricsServiceRequest`).

mod support;

use std::time::{Duration, Instant};

use cairn_store::testing;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use serde_json::json;
use support::otlp::Collector;
use support::Server;

/// One received data point of a sum: (metric name, service, state machine, value).
type Point = (String, String, String, f64);

/// The sums' data points in what `collector` received, oldest first.
fn points(collector: &Collector) -> Vec<Point> {
    let mut points = Vec::new();
    for request in collector.metrics() {
        for resource in request.resource_metrics {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .and_then(|a| a.value.as_ref()?.value.clone())
                .map(|v| match v {
                    AnyValue::StringValue(s) => s,
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            for metric in resource.scope_metrics.into_iter().flat_map(|s| s.metrics) {
                let Some(Data::Sum(sum)) = metric.data else {
                    continue;
                };
                for point in sum.data_points {
                    let machine = point
                        .attributes
                        .iter()
                        .find(|a| a.key == "state_machine_arn")
                        .and_then(|a| match a.value.as_ref()?.value.as_ref()? {
                            AnyValue::StringValue(s) => Some(s.clone()),
                            _ => None,
                        })
                        .unwrap_or_default();
                    let value = match point.value {
                        Some(Number::AsInt(i)) => i as f64,
                        Some(Number::AsDouble(d)) => d,
                        None => continue,
                    };
                    points.push((metric.name.clone(), service.clone(), machine, value));
                }
            }
        }
    }
    points
}

/// The last value received of `name` for `machine`, with its service.
fn last(collector: &Collector, name: &str, machine: &str) -> Option<(String, f64)> {
    points(collector)
        .into_iter()
        .rev()
        .find(|(n, _, m, _)| n == name && m == machine)
        .map(|(_, service, _, value)| (service, value))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_states_metrics_are_pushed_over_otlp_http() {
    let collector = Collector::default();
    let endpoint = format!("http://{}/v1/metrics", collector.http().await);
    pushed_to(
        &collector,
        "otlp_metrics",
        &[("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", &endpoint)],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_states_metrics_are_pushed_over_otlp_grpc() {
    let collector = Collector::default();
    let endpoint = format!("http://{}", collector.grpc().await);
    pushed_to(
        &collector,
        "otlp_metrics_grpc",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc"),
        ],
    )
    .await;
}

/// Runs two executions on a server whose metrics go where `env` says, and checks that
/// `collector` receives their counts, and that `/metrics` still serves them.
async fn pushed_to(collector: &Collector, label: &str, env: &[(&str, &str)]) {
    let (_store, database) = testing::fresh_store(label, 2).await.expect("a database");
    let mut env = env.to_vec();
    env.extend([
        ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
        ("OTEL_SERVICE_NAME", "cairn-metrics-test"),
    ]);
    let server = Server::spawn(&database, &[], &env);
    let api = server.ready().await;
    let machine = api
        .create_machine(
            "pushed",
            &json!({"StartAt": "Only", "States": {"Only": {"Type": "Pass", "End": true}}}),
        )
        .await;
    for name in ["one", "two"] {
        let execution = api.start(&machine, name, &json!({})).await;
        assert_eq!(api.finished(&execution).await.status(), "SUCCEEDED");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let started = last(collector, "cairn.executions.started", &machine);
        let succeeded = last(collector, "cairn.executions.succeeded", &machine);
        if let (Some((service, 2.0)), Some((_, 2.0))) = (&started, &succeeded) {
            assert_eq!(service, "cairn-metrics-test");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no OTLP metrics for {machine}: started {started:?}, succeeded {succeeded:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // /metrics still answers, with the same figures.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let scraped = reqwest::get(format!("{}/metrics", api.endpoint()))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    assert!(
        scraped
            .lines()
            .any(|line| line.starts_with("cairn_executions_succeeded_total{")
                && line.contains(&machine)
                && line.ends_with(" 2")),
        "{scraped}"
    );
}
