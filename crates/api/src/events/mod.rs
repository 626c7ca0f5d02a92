//! EventBridge on Cairn's own endpoint: AWS JSON 1.1 (`X-Amz-Target: AWSEvents.*`,
//! content type `application/x-amz-json-1.1`) on the same `POST /` as Step Functions, so
//! boto3's `events` client, the AWS CLI and Terraform work by changing the endpoint.
//! `bus.rs` holds the operations, `error.rs` the error shapes.

pub(crate) mod bus;
pub mod error;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cairn_store::Store;

pub use bus::SUPPORTED;

use crate::ApiState;

/// The `X-Amz-Target` prefix of EventBridge operations.
pub const TARGET_PREFIX: &str = "AWSEvents.";
/// The content type of EventBridge's requests and answers.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// One EventBridge request (its body already read within the size limit).
pub(crate) async fn handle<S: Store>(
    state: &ApiState<S>,
    operation: &str,
    body: &[u8],
) -> Response {
    let result = match crate::input::Input::parse(body) {
        Ok(input) => bus::dispatch(state, operation, &input).await,
        Err(error) => Err(error.into()),
    };
    let (status, body) = match result {
        Ok(value) => (StatusCode::OK, value),
        Err(error) => {
            tracing::debug!(operation, code = error.code, message = %error.message, "request refused");
            (error.json_status(), error.body())
        }
    };
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}
