//! A fake OpenTelemetry collector on loopback, for the tests of what Cairn exports over
//! OTLP: it keeps every export request it receives (traces, metrics, logs), decoded,
//! over OTLP/HTTP with protobuf bodies (`POST /v1/traces`, `/v1/metrics`, `/v1/logs`)
//! or over gRPC (the protocol's three collector services, on tonic).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

type Kept<T> = Arc<Mutex<Vec<T>>>;

/// What the collector received, shared with the servers that receive it.
#[derive(Clone, Default)]
pub struct Collector {
    traces: Kept<ExportTraceServiceRequest>,
    metrics: Kept<ExportMetricsServiceRequest>,
    logs: Kept<ExportLogsServiceRequest>,
}

impl Collector {
    /// Serves OTLP/HTTP on a free loopback port; returns its address.
    pub async fn http(&self) -> SocketAddr {
        let app = Router::new()
            .route(
                "/v1/traces",
                post(receiver::<_, ExportTraceServiceResponse>(&self.traces)),
            )
            .route(
                "/v1/metrics",
                post(receiver::<_, ExportMetricsServiceResponse>(&self.metrics)),
            )
            .route(
                "/v1/logs",
                post(receiver::<_, ExportLogsServiceResponse>(&self.logs)),
            );
        serve(app).await
    }

    /// Serves OTLP/gRPC on a free loopback port; returns its address.
    pub async fn grpc(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let services = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(self.clone()))
            .add_service(MetricsServiceServer::new(self.clone()))
            .add_service(LogsServiceServer::new(self.clone()));
        tokio::spawn(async move {
            let _ = services
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await;
        });
        address
    }

    pub fn traces(&self) -> Vec<ExportTraceServiceRequest> {
        self.traces.lock().expect("lock").clone()
    }

    pub fn metrics(&self) -> Vec<ExportMetricsServiceRequest> {
        self.metrics.lock().expect("lock").clone()
    }

    pub fn logs(&self) -> Vec<ExportLogsServiceRequest> {
        self.logs.lock().expect("lock").clone()
    }
}

/// The handler of one OTLP/HTTP path: decodes a `T`, keeps it, answers an empty `R`.
fn receiver<T, R>(
    kept: &Kept<T>,
) -> impl Fn(Bytes) -> std::future::Ready<axum::response::Response> + Clone + Send + 'static
where
    T: Message + Default + Send + 'static,
    R: Message + Default,
{
    let kept = kept.clone();
    move |body: Bytes| {
        let response = match T::decode(body) {
            Ok(request) => {
                kept.lock().expect("lock").push(request);
                (
                    StatusCode::OK,
                    [("content-type", "application/x-protobuf")],
                    R::default().encode_to_vec(),
                )
                    .into_response()
            }
            Err(_) => (StatusCode::BAD_REQUEST, "not an OTLP export request").into_response(),
        };
        std::future::ready(response)
    }
}

/// Serves `app` on a free loopback port; returns its address.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    address
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.traces.lock().expect("lock").push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.metrics
            .lock()
            .expect("lock")
            .push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.logs.lock().expect("lock").push(request.into_inner());
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}
