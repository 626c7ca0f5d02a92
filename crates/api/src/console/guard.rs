//! The one gate every console call passes before it runs ([`admit`]).
//!
//! Today it keeps other sites out: a page on another origin can make a visitor's browser
//! send a form (`application/x-www-form-urlencoded`, `multipart/form-data` or
//! `text/plain`) to any address without asking, but it cannot add a custom header or
//! send `application/json` across origins without a CORS preflight, which the console
//! never answers. So a console call must carry [`HEADER`] and a JSON content type, and
//! when the browser says where the request comes from (`Origin`, `Sec-Fetch-Site`), it
//! must be this console's own origin.
//!
//! With API credentials configured, [`signed_in`] is the second gate: a console call
//! runs only for a signed-in key (`session.rs`), within that key's policy.

use axum::http::{header, HeaderMap};

use crate::error::ApiError;

/// The header every console call carries (its value is not checked: a cross-site page
/// cannot send the header at all without a preflight).
pub const HEADER: &str = "x-cairn-console";

/// Whether a console call may run: `AccessDeniedException` (HTTP 403) if not.
pub fn admit(headers: &HeaderMap) -> Result<(), ApiError> {
    let refuse = |why: &str| {
        Err(ApiError::AccessDenied(format!(
            "Console request refused: {why}"
        )))
    };
    if !headers.contains_key(HEADER) {
        return refuse("the X-Cairn-Console header is missing");
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return refuse("the content type must be application/json");
    }
    // Browsers that send it say whether the request comes from this origin's own page.
    if let Some(site) = headers.get("sec-fetch-site") {
        if !matches!(site.to_str(), Ok("same-origin") | Ok("none")) {
            return refuse("the request comes from another site");
        }
    }
    // Every browser sends Origin with a POST from a page; a client that is not a
    // browser (curl, a script) sends none and cannot be made to act for a visitor.
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let authority = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, authority)| authority)
            .unwrap_or_default();
        if host.is_empty() || !authority.eq_ignore_ascii_case(host) {
            return refuse("the Origin is not this console's");
        }
    }
    Ok(())
}

/// Who the console acts for: `Ok(None)` when the API is open (no keys), the signed-in
/// caller (`session`'s cookie) otherwise; `AccessDeniedException` without a valid session.
pub fn signed_in<S: cairn_store::Store>(
    state: &crate::ApiState<S>,
    headers: &HeaderMap,
) -> Result<Option<crate::auth::Caller>, ApiError> {
    if state.is_open() {
        return Ok(None);
    }
    super::session::caller(state, headers, chrono::Utc::now())
        .map(Some)
        .ok_or_else(|| {
            ApiError::AccessDenied(
                "Console request refused: sign in first (the session is missing or has expired)"
                    .to_string(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    const OK: &[(&str, &str)] = &[
        ("x-cairn-console", "1"),
        ("content-type", "application/json"),
        ("host", "127.0.0.1:8083"),
    ];

    #[test]
    fn a_same_origin_call_is_admitted() {
        let mut h = headers(OK);
        assert!(admit(&h).is_ok(), "a client that is not a browser");
        h.insert("origin", HeaderValue::from_static("http://127.0.0.1:8083"));
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(admit(&h).is_ok());
        h.insert(
            "content-type",
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(admit(&h).is_ok());
    }

    #[test]
    fn what_a_cross_site_page_can_send_is_refused() {
        let refused = |h: &HeaderMap| matches!(admit(h), Err(ApiError::AccessDenied(_)));
        let mut no_header = headers(OK);
        no_header.remove("x-cairn-console");
        assert!(refused(&no_header));
        for form in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ] {
            let mut h = headers(OK);
            h.insert("content-type", HeaderValue::from_static(form));
            assert!(refused(&h), "{form}");
        }
        let mut other_origin = headers(OK);
        other_origin.insert("origin", HeaderValue::from_static("http://evil.example"));
        assert!(refused(&other_origin));
        let mut null_origin = headers(OK);
        null_origin.insert("origin", HeaderValue::from_static("null"));
        assert!(refused(&null_origin));
        let mut cross_site = headers(OK);
        cross_site.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(refused(&cross_site));
    }
}
