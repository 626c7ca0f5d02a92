//! The approval pages: small, self-contained HTML (no scripts, no external resources).
//! Every value from a request or the store is escaped.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::link::Action;

/// Escapes text for HTML element content and double-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page. The headers keep the token-bearing URL out of caches and `Referer`
/// headers, and the page out of frames (a framed button could be clicked by trickery).
pub fn page(status: StatusCode, title: &str, body_html: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\">\
         <title>{title}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}}\
         button{{font-size:1.1rem;padding:.5rem 1.5rem}}</style></head>\
         <body><h1>{title}</h1>{body_html}</body></html>\n",
        title = escape(title),
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    response
}

/// The confirmation page a GET shows: nothing happens until the button is pressed, so a
/// link-preview bot or mail scanner that fetches the URL completes nothing.
pub fn confirm(action: Action, fields: &[(&str, String)]) -> Response {
    let (title, verb) = match action {
        Action::Approve => ("Approve this request?", "Approve"),
        Action::Reject => ("Reject this request?", "Reject"),
    };
    let hidden: String = fields
        .iter()
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(name),
                escape(value)
            )
        })
        .collect();
    // A relative action: the form posts to this same path, behind any proxy prefix.
    let body = format!(
        "<p>Pressing the button records your decision and resumes the waiting workflow. \
         It can be answered once.</p>\
         <form method=\"post\" action=\"approval\">{hidden}<button type=\"submit\">{verb}</button></form>"
    );
    page(StatusCode::OK, title, &body)
}

pub fn approved() -> Response {
    page(
        StatusCode::OK,
        "Approved",
        "<p>Your approval was recorded. The workflow continues.</p>",
    )
}

pub fn rejected() -> Response {
    page(
        StatusCode::OK,
        "Rejected",
        "<p>Your rejection was recorded. The workflow continues.</p>",
    )
}

/// The task no longer waits: answered (through this link, its twin, or SendTask*),
/// timed out, or its execution ended.
pub fn already_answered() -> Response {
    page(
        StatusCode::CONFLICT,
        "Already answered or expired",
        "<p>This request was already answered, or it is no longer waiting for an answer.</p>",
    )
}

pub fn expired() -> Response {
    page(
        StatusCode::GONE,
        "Expired",
        "<p>This link has expired. Ask for a new one if the request still waits.</p>",
    )
}

pub fn invalid() -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Invalid link",
        "<p>This link is not valid. Check that it was copied whole.</p>",
    )
}

pub fn unavailable() -> Response {
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again",
        "<p>Cairn could not record the answer just now; nothing was changed. Try again shortly.</p>",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
