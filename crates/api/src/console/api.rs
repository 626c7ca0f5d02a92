//! `POST /console/api/<Operation>`: the Step Functions operations the console's pages
//! call, with the API's own input, answers and errors (they run through
//! [`crate::operations::dispatch`]), after [`super::guard::admit`]. Only the operations
//! in [`OPERATIONS`] run here: the console reads machines and executions, and starts,
//! stops and redrives executions; anything else is for the API.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cairn_store::Store;
use serde_json::Value;

use crate::error::ApiError;
use crate::{input, operations, ApiState};

/// What the console may call.
pub const OPERATIONS: &[&str] = &[
    "ListStateMachines",
    "DescribeStateMachine",
    "DescribeStateMachineForExecution",
    "ListStateMachineVersions",
    "ListStateMachineAliases",
    "DescribeStateMachineAlias",
    "ListExecutions",
    "DescribeExecution",
    "GetExecutionHistory",
    "StartExecution",
    "StopExecution",
    "RedriveExecution",
];

pub async fn call<S: Store>(
    State(state): State<ApiState<S>>,
    Path(operation): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let span = tracing::info_span!("console", %operation);
    let result =
        tracing::Instrument::instrument(run(&state, &operation, &headers, body), span).await;
    let (status, body) = match result {
        Ok(value) => (StatusCode::OK, value),
        Err(error) => {
            tracing::debug!(%operation, code = error.code(), %error, "console call refused");
            (error.status(), error.body())
        }
    };
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn run<S: Store>(
    state: &ApiState<S>,
    operation: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Value, ApiError> {
    // Read (or drained) before any refusal, as the API does (see `crate::body`).
    let bytes = crate::body::read_request(headers, body, state.config().max_request_bytes).await?;
    super::guard::admit(headers)?;
    let caller = super::guard::signed_in(state, headers)?;
    if !OPERATIONS.contains(&operation) {
        return Err(ApiError::UnknownOperation(format!(
            "The console does not call '{operation}': use the Step Functions API (POST /)"
        )));
    }
    if let Some(caller) = caller {
        let scope = state.scope();
        let resource = crate::auth::resource(&scope, "states", operation, &bytes);
        caller.authorize(&scope, &format!("states:{operation}"), &resource)?;
    }
    let input = input::Input::parse(&bytes)?;
    operations::dispatch(state, operation, &input).await
}
