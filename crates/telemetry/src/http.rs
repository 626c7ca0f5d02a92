//! `GET /metrics`, to merge into the binary's router.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use cairn_store::Store;

use crate::exposition::{render, CONTENT_TYPE};

/// A router answering `GET /metrics` from `store`'s database and this process's
/// instruments.
pub fn router<S: Store>(store: S) -> Router {
    Router::new()
        .route("/metrics", get(scrape::<S>))
        .with_state(store)
}

async fn scrape<S: Store>(State(store): State<S>) -> Response {
    match render(&store).await {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(error) => {
            tracing::error!(%error, "metrics scrape failed");
            (StatusCode::SERVICE_UNAVAILABLE, error.to_string()).into_response()
        }
    }
}
