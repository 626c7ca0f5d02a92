//! The console's sign-in, when the API has access keys: the visitor gives an access key
//! id and its secret once, and gets a session cookie (`HttpOnly`, `SameSite=Strict`,
//! `Path=/console`) that the console's calls carry; each call is then checked against
//! that key's policy, as the same call on the API would be.
//!
//! The cookie is `v1.<key id>.<expiry>.<HMAC-SHA256 under the key's secret>`: nothing is
//! stored, every replica with the same keys accepts it, and rotating or removing the key
//! ends its sessions. Signing out clears the cookie; a copy taken before stays valid until
//! its expiry ([`LIFETIME`]), which is why it is `HttpOnly` and never shown.
//!
//! Routes (each behind [`super::guard::admit`], so no other site can sign a visitor in
//! or out): `POST /console/auth/status`, `POST /console/auth/sign-in`,
//! `POST /console/auth/sign-out`.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cairn_store::Store;
use hmac::{KeyInit, Mac};
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::ApiState;

/// The cookie's name.
pub const COOKIE: &str = "cairn_console_session";
/// How long a session lasts.
pub const LIFETIME: chrono::Duration = chrono::Duration::hours(12);

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

fn mac(secret: &str, key_id: &str, expiry: i64) -> String {
    match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(format!("cairn-console-session\n{key_id}\n{expiry}").as_bytes());
            mac.finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        }
        Err(_) => String::new(),
    }
}

/// The cookie's value for `key_id` until `expiry` (epoch seconds).
pub fn issue(secret: &str, key_id: &str, expiry: i64) -> String {
    format!("v1.{key_id}.{expiry}.{}", mac(secret, key_id, expiry))
}

/// The signed-in caller a request's cookie names, if it is valid now.
pub fn caller<S: Store>(
    state: &ApiState<S>,
    headers: &HeaderMap,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Caller> {
    let value = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)?;
    let mut parts = value.split('.');
    let (Some("v1"), Some(key_id), Some(expiry), Some(signature), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let expiry: i64 = expiry.parse().ok()?;
    if expiry <= now.timestamp() {
        return None;
    }
    let (id, key) = state.auth.key(key_id)?;
    crate::auth::sigv4::same(&mac(&key.secret, key_id, expiry), signature)
        .then(|| Caller::new(id, key.policy))
}

fn answer(status: StatusCode, body: Value, cookie: Option<String>) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(cookie) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::SET_COOKIE, cookie);
    }
    response
}

fn refusal(error: ApiError) -> Response {
    answer(error.status(), error.body(), None)
}

fn cookie(value: &str, max_age: i64) -> String {
    format!("{COOKIE}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}")
}

/// `POST /console/auth/status`: whether the console is open, and who is signed in.
pub async fn status<S: Store>(State(state): State<ApiState<S>>, headers: HeaderMap) -> Response {
    if let Err(error) = super::guard::admit(&headers) {
        return refusal(error);
    }
    let signed_in = caller(&state, &headers, chrono::Utc::now());
    answer(
        StatusCode::OK,
        json!({
            "open": state.is_open(),
            "accessKeyId": signed_in.map(|c| c.access_key),
        }),
        None,
    )
}

/// `POST /console/auth/sign-in` with `{"accessKeyId", "secretAccessKey"}`.
pub async fn sign_in<S: Store>(
    State(state): State<ApiState<S>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bytes = match crate::body::read_request(&headers, body, 64 * 1024).await {
        Ok(bytes) => bytes,
        Err(error) => return refusal(error),
    };
    if let Err(error) = super::guard::admit(&headers) {
        return refusal(error);
    }
    if state.is_open() {
        return refusal(ApiError::Validation(
            "The console is open: no API credentials are configured, so there is nothing to sign in to"
                .to_string(),
        ));
    }
    let input: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let (Some(key_id), Some(secret)) = (
        input["accessKeyId"].as_str(),
        input["secretAccessKey"].as_str(),
    ) else {
        return refusal(ApiError::Validation(
            "Sign-in needs accessKeyId and secretAccessKey".to_string(),
        ));
    };
    // One answer for an unknown key and a wrong secret: the form reveals neither.
    let denied = || {
        refusal(ApiError::AccessDenied(
            "The access key id or the secret access key is not right".to_string(),
        ))
    };
    let Some((id, key)) = state.auth.key(key_id) else {
        // The id is not logged: it may be a secret typed into the wrong field.
        tracing::info!("console sign-in refused: no such access key");
        return denied();
    };
    if !crate::auth::sigv4::same(&mac(&key.secret, &id, 0), &mac(secret, &id, 0)) {
        tracing::info!(access_key = %id, "console sign-in refused: wrong secret");
        return denied();
    }
    let expiry = (chrono::Utc::now() + LIFETIME).timestamp();
    tracing::info!(access_key = %id, "console sign-in");
    answer(
        StatusCode::OK,
        json!({"accessKeyId": id, "expires": expiry}),
        Some(cookie(
            &issue(&key.secret, &id, expiry),
            LIFETIME.num_seconds(),
        )),
    )
}

/// `POST /console/auth/sign-out`: clears the cookie.
pub async fn sign_out(headers: HeaderMap) -> Response {
    if let Err(error) = super::guard::admit(&headers) {
        return refusal(error);
    }
    answer(StatusCode::OK, json!({}), Some(cookie("", 0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_is_bound_to_its_key_and_expiry() {
        let cookie = issue("secret", "KEY", 100);
        assert!(cookie.starts_with("v1.KEY.100."));
        assert!(!cookie.contains("secret"));
        assert_ne!(cookie, issue("other", "KEY", 100));
        assert_ne!(cookie, issue("secret", "KEY", 101));
        assert_ne!(
            cookie.rsplit('.').next(),
            issue("secret", "KEZ", 100).rsplit('.').next()
        );
    }
}
