//! EventBridge Scheduler on Cairn's own endpoint: the REST-JSON paths of boto3's
//! `scheduler` client (`/schedules/{Name}`, `/schedule-groups/{Name}`, `/tags/{arn}`)
//! beside the JSON protocols' `POST /`. `schedules.rs` holds the schedules' operations,
//! `groups.rs` the groups' and the tags'.
//!
//! **Errors** take the REST protocol's shape: the name in the `x-amzn-ErrorType` header,
//! `{"Message": "..."}` as the body, and the status botocore's model gives the error
//! (400 ValidationException, 404 ResourceNotFoundException, 409 ConflictException).
//!
//! A schedule's first fire is computed here, with the same reading of the stored
//! definition the schedule loop fires it with (`cairn_worker::eventloop::ScheduleSpec`);
//! from then on the loop advances it in the transaction that fires it.

mod groups;
mod schedules;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use cairn_store::Store;
use serde_json::Value;

use crate::events::error::EventsError;
use crate::input::Input;
use crate::ApiState;

/// The Scheduler operations Cairn answers.
pub const SUPPORTED: &[&str] = &[
    "CreateSchedule",
    "CreateScheduleGroup",
    "DeleteSchedule",
    "DeleteScheduleGroup",
    "GetSchedule",
    "GetScheduleGroup",
    "ListScheduleGroups",
    "ListSchedules",
    "ListTagsForResource",
    "TagResource",
    "UntagResource",
    "UpdateSchedule",
];

type Answer = Result<Value, EventsError>;

/// One REST request: the path's label, the query string's pairs and the body's members.
pub(crate) struct Request {
    pub label: String,
    pub query: Vec<(String, String)>,
    pub input: Input,
}

impl Request {
    /// The last value of a query parameter.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated query parameter.
    pub fn query_all(&self, name: &str) -> Vec<String> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// The Scheduler's routes; merged into [`crate::router`].
pub(crate) fn routes<S: Store>() -> Router<ApiState<S>> {
    Router::new()
        .route("/schedules", get(list_schedules::<S>))
        .route("/schedules/{name}", any(schedule::<S>))
        .route("/schedule-groups", get(list_groups::<S>))
        .route("/schedule-groups/{name}", any(group::<S>))
        .route("/tags/{*arn}", any(tags::<S>))
}

async fn list_schedules<S: Store>(
    State(state): State<ApiState<S>>,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let call = Call {
        method: Method::GET,
        uri,
        headers,
    };
    serve(&state, "ListSchedules", String::new(), query, call, body).await
}

async fn list_groups<S: Store>(
    State(state): State<ApiState<S>>,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let call = Call {
        method: Method::GET,
        uri,
        headers,
    };
    serve(
        &state,
        "ListScheduleGroups",
        String::new(),
        query,
        call,
        body,
    )
    .await
}

async fn schedule<S: Store>(
    State(state): State<ApiState<S>>,
    method: Method,
    Path(name): Path<String>,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let operation = match method {
        Method::POST => "CreateSchedule",
        Method::GET => "GetSchedule",
        Method::PUT => "UpdateSchedule",
        Method::DELETE => "DeleteSchedule",
        _ => return method_not_allowed(),
    };
    let call = Call {
        method,
        uri,
        headers,
    };
    serve(&state, operation, name, query, call, body).await
}

async fn group<S: Store>(
    State(state): State<ApiState<S>>,
    method: Method,
    Path(name): Path<String>,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let operation = match method {
        Method::POST => "CreateScheduleGroup",
        Method::GET => "GetScheduleGroup",
        Method::DELETE => "DeleteScheduleGroup",
        _ => return method_not_allowed(),
    };
    let call = Call {
        method,
        uri,
        headers,
    };
    serve(&state, operation, name, query, call, body).await
}

async fn tags<S: Store>(
    State(state): State<ApiState<S>>,
    method: Method,
    Path(arn): Path<String>,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let operation = match method {
        Method::POST => "TagResource",
        Method::GET => "ListTagsForResource",
        Method::DELETE => "UntagResource",
        _ => return method_not_allowed(),
    };
    let call = Call {
        method,
        uri,
        headers,
    };
    serve(&state, operation, arn, query, call, body).await
}

fn method_not_allowed() -> Response {
    error_response(&EventsError::validation(
        "The Scheduler has no operation for this method on this path",
    ))
}

/// What the signature check needs of a request besides its body.
struct Call {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
}

/// Reads the request, checks its signature and the caller's policy (signing name
/// `scheduler`, actions `scheduler:<Operation>`), runs the operation, answers AWS-shaped.
async fn serve<S: Store>(
    state: &ApiState<S>,
    operation: &'static str,
    label: String,
    query: Option<String>,
    call: Call,
    body: Body,
) -> Response {
    let Call {
        method,
        uri,
        headers,
    } = call;
    let request_id = uuid::Uuid::new_v4().to_string();
    let span = tracing::info_span!("api", operation = %format!("Scheduler.{operation}"), request_id = %request_id);
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let answer = async {
        let bytes = crate::body::read(body, declared, state.config().max_request_bytes).await?;
        crate::admit(
            state,
            &method,
            &uri,
            &headers,
            "scheduler",
            operation,
            &bytes,
        )?;
        let request = Request {
            label,
            query: form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
            input: Input::parse(&bytes)?,
        };
        dispatch(state, operation, &request).await
    };
    let result = tracing::Instrument::instrument(answer, span).await;
    let mut response = match result {
        Ok(value) => {
            let mut response = (StatusCode::OK, value.to_string()).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(error) => {
            tracing::debug!(operation, code = error.code, message = %error.message, "request refused");
            error_response(&error)
        }
    };
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amzn-requestid", id);
    }
    response
}

async fn dispatch<S: Store>(state: &ApiState<S>, operation: &str, request: &Request) -> Answer {
    match operation {
        "CreateSchedule" => schedules::create(state, request).await,
        "UpdateSchedule" => schedules::update(state, request).await,
        "GetSchedule" => schedules::get(state, request).await,
        "DeleteSchedule" => schedules::delete(state, request).await,
        "ListSchedules" => schedules::list(state, request).await,
        "CreateScheduleGroup" => groups::create(state, request).await,
        "GetScheduleGroup" => groups::get(state, request).await,
        "DeleteScheduleGroup" => groups::delete(state, request).await,
        "ListScheduleGroups" => groups::list(state, request).await,
        "TagResource" => groups::tag(state, request).await,
        "UntagResource" => groups::untag(state, request).await,
        "ListTagsForResource" => groups::list_tags(state, request).await,
        other => Err(EventsError::validation(format!(
            "Cairn does not support the Scheduler operation {other}"
        ))),
    }
}

/// The REST protocol's error: name in `x-amzn-ErrorType`, `{"Message": ...}`, the
/// model's status.
fn error_response(error: &EventsError) -> Response {
    let body = serde_json::json!({"Message": error.message});
    let mut response = (error.rest_status(), body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("x-amzn-errortype", HeaderValue::from_static(error.code));
    response
}

/// A name (schedule or group): 1 to 64 of `[0-9a-zA-Z-_.]`.
fn check_name(field: &str, value: &str) -> Result<(), EventsError> {
    if value.is_empty()
        || value.chars().count() > 64
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(EventsError::validation(format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[0-9a-zA-Z-_.]+$ and have length between 1 and 64"
        )));
    }
    Ok(())
}

/// The ARN of a Scheduler resource (`schedule/GROUP/NAME`, `schedule-group/NAME`).
fn scheduler_arn<S: Store>(state: &ApiState<S>, resource: &str) -> String {
    let config = state.config();
    format!(
        "arn:{}:scheduler:{}:{}:{resource}",
        config.partition, config.region, config.account_id
    )
}

/// `MaxResults` and `NextToken` of a List operation.
fn paging(request: &Request, operation: &str) -> Result<(i64, Option<String>), EventsError> {
    let limit = match request.query("MaxResults") {
        None => 100,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                return Err(EventsError::validation(format!(
                    "1 validation error detected: Value '{text}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 100"
                )))
            }
        },
    };
    let after = match request.query("NextToken") {
        Some(token) => Some(
            crate::page::decode(operation, token, 2048)
                .map_err(|_| EventsError::validation("The NextToken is not valid"))?,
        ),
        None => None,
    };
    Ok((limit, after))
}
