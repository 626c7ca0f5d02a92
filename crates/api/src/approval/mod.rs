//! Signed approval links, a Cairn extension (AWS has nothing like it): turns a task
//! token into an approve URL and a reject URL, so a human-approval step needs no Lambda
//! function to receive the click. Off unless the binary is given a key.
//!
//! - `POST /approval-links` `{"taskToken", "expiresInSeconds"?}` →
//!   `{"approveUrl", "rejectUrl", "expiresAt"}`; the token must be live (an unknown
//!   token is `InvalidToken`, a closed one `TaskTimedOut`, as SendTask* answers).
//! - `GET /approval?…` checks the link and shows a confirmation page with a POST button:
//!   fetching a link (a chat or mail preview bot does) completes nothing.
//! - `POST /approval` checks the signature and expiry, then completes the task through
//!   the same `complete_by_token` as SendTaskSuccess (`{"approved": true, "decidedAt"}`)
//!   or SendTaskFailure (`Rejected`). The token closes, so each pair of links works once.
//!
//! Links carry no state of their own: whether one still works is the token's state in
//! the store, so a link dies with its task (answered, timed out, execution ended).

pub mod html;
pub mod link;

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use cairn_store::callbacks::{TokenAnswer, TokenOutcome};
use cairn_store::Store;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::input::{check_length, Input};
use crate::ApiState;
use link::{Action, Fields, Link, Refusal, SigningKey};

/// Links last this long when the request names no `expiresInSeconds`.
pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(24 * 60 * 60);
/// The longest a link may last: a year, the longest a Standard execution can run.
pub const MAX_EXPIRY: Duration = Duration::from_secs(365 * 24 * 60 * 60);
/// AWS's model limit on `taskToken` (as SendTask* checks it).
const MAX_TOKEN_CHARS: usize = 2048;
/// Largest request body either POST accepts; a link's fields are far smaller.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// How links are made.
#[derive(Debug, Clone)]
pub struct ApprovalConfig {
    pub key: SigningKey,
    /// Base URL the links start with, as people reach this server (no trailing `/`).
    pub public_url: String,
}

#[derive(Clone)]
struct Approvals<S> {
    api: ApiState<S>,
    config: Arc<ApprovalConfig>,
}

/// The approval routes, to merge beside the API.
pub fn router<S: Store>(api: ApiState<S>, config: ApprovalConfig) -> Router {
    let config = ApprovalConfig {
        public_url: config.public_url.trim_end_matches('/').to_string(),
        ..config
    };
    Router::new()
        .route("/approval-links", post(mint::<S>))
        .route("/approval", get(show::<S>).post(decide::<S>))
        .with_state(Approvals {
            api,
            config: Arc::new(config),
        })
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    crate::body::read(body, declared, MAX_BODY_BYTES).await
}

/// `POST /approval-links`. Errors are shaped as the API's.
async fn mint<S: Store>(
    State(state): State<Approvals<S>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let answer = async {
        let bytes = read_body(&headers, body).await?;
        let input = Input::parse(&bytes)?;
        links(&state, &input).await
    }
    .await;
    let (status, value) = match answer {
        Ok(value) => (StatusCode::OK, value),
        Err(error) => (error.status(), error.body()),
    };
    let mut response = (status, value.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn links<S: Store>(state: &Approvals<S>, input: &Input) -> Result<Value, ApiError> {
    let token = input.required_string("taskToken")?;
    check_length("taskToken", token, 1, MAX_TOKEN_CHARS, true)?;
    if token.contains('\0') {
        return Err(ApiError::InvalidToken("Invalid token".to_string()));
    }
    let seconds = match input.integer("expiresInSeconds")? {
        None => DEFAULT_EXPIRY.as_secs() as i64,
        Some(s) if (1..=MAX_EXPIRY.as_secs() as i64).contains(&s) => s,
        Some(s) => {
            return Err(ApiError::constraint(
                "expiresInSeconds",
                Some(&s.to_string()),
                &format!(
                    "Member must have value between 1 and {}",
                    MAX_EXPIRY.as_secs()
                ),
            ))
        }
    };
    match state.api.store().token_state(token).await? {
        TokenOutcome::Done => {}
        TokenOutcome::Unknown => return Err(ApiError::InvalidToken("Invalid token".to_string())),
        TokenOutcome::Closed => {
            return Err(ApiError::TaskTimedOut(
                "Provided task does not exist anymore".to_string(),
            ))
        }
    }
    let expires = now() + seconds;
    let url = |action| {
        let link = Link {
            token,
            action,
            expires,
        };
        format!(
            "{}/approval?{}",
            state.config.public_url,
            link.query(&state.config.key)
        )
    };
    Ok(json!({
        "approveUrl": url(Action::Approve),
        "rejectUrl": url(Action::Reject),
        "expiresAt": expires,
    }))
}

/// The page for a refused link.
fn refused(refusal: Refusal) -> Response {
    match refusal {
        Refusal::Invalid => html::invalid(),
        Refusal::Expired => html::expired(),
    }
}

/// `GET /approval`: checks the link (signature, expiry, the task still waiting) and
/// shows the confirmation form. Changes nothing.
async fn show<S: Store>(State(state): State<Approvals<S>>, RawQuery(query): RawQuery) -> Response {
    let fields = Fields::parse(query.unwrap_or_default().as_bytes());
    let link = match link::check(&state.config.key, &fields, now()) {
        Ok(link) => link,
        Err(refusal) => return refused(refusal),
    };
    match state.api.store().token_state(link.token).await {
        Ok(TokenOutcome::Done) => {}
        Ok(TokenOutcome::Closed) => return html::already_answered(),
        Ok(TokenOutcome::Unknown) => return html::invalid(),
        Err(error) => {
            tracing::warn!(%error, "approval link: the store failed");
            return html::unavailable();
        }
    }
    let expires = link.expires.to_string();
    let form = [
        ("token", link.token.to_string()),
        ("action", link.action.as_str().to_string()),
        ("expires", expires),
        ("signature", fields.signature.clone().unwrap_or_default()),
    ];
    html::confirm(link.action, &form)
}

/// `POST /approval` (form-encoded): checks the link, then completes the task.
async fn decide<S: Store>(
    State(state): State<Approvals<S>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Ok(bytes) = read_body(&headers, body).await else {
        return html::invalid();
    };
    let fields = Fields::parse(&bytes);
    let link = match link::check(&state.config.key, &fields, now()) {
        Ok(link) => link,
        Err(refusal) => return refused(refusal),
    };
    let decided_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let answer = match link.action {
        Action::Approve => TokenAnswer::Success(json!({
            "approved": true,
            "decidedAt": decided_at,
        })),
        Action::Reject => TokenAnswer::Failure {
            error: "Rejected".to_string(),
            cause: Some("Rejected through an approval link".to_string()),
        },
    };
    match state
        .api
        .store()
        .complete_by_token(link.token, answer)
        .await
    {
        Ok(TokenOutcome::Done) => match link.action {
            Action::Approve => html::approved(),
            Action::Reject => html::rejected(),
        },
        Ok(TokenOutcome::Closed) => html::already_answered(),
        Ok(TokenOutcome::Unknown) => html::invalid(),
        Err(error) => {
            tracing::warn!(%error, "approval link: the store failed");
            html::unavailable()
        }
    }
}
