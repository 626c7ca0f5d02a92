//! The console's built files, embedded in the binary: `console/dist/` at the top of the
//! repository, built from `console/src/` by `npm run build` and committed, so building
//! Cairn needs no Node.js (`scripts/test.sh` rebuilds the bundle and fails if the
//! committed one differs).

use axum::extract::Path;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The single page every console path answers; the bundle draws the rest.
const PAGE: &str = include_str!("../../../../console/dist/index.html");

/// The files under `/console/assets/`: name, content type, content.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../console/dist/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../../../console/dist/app.css"),
    ),
];

/// Nothing but this origin's own files and calls; no frames (a framed console could be
/// clicked through by another page).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
                   form-action 'self'; frame-ancestors 'none'";

pub async fn page() -> Response {
    let mut response = (StatusCode::OK, PAGE).into_response();
    set(
        &mut response,
        header::CONTENT_TYPE,
        "text/html; charset=utf-8",
    );
    set(&mut response, header::CONTENT_SECURITY_POLICY, CSP);
    set(&mut response, header::X_FRAME_OPTIONS, "DENY");
    set(&mut response, header::REFERRER_POLICY, "same-origin");
    set(&mut response, header::CACHE_CONTROL, "no-cache");
    secure(&mut response);
    response
}

pub async fn asset(Path(file): Path<String>) -> Response {
    let Some((_, content_type, content)) = ASSETS.iter().find(|(name, _, _)| *name == file) else {
        return (StatusCode::NOT_FOUND, "no such console asset").into_response();
    };
    let mut response = (StatusCode::OK, *content).into_response();
    set(&mut response, header::CONTENT_TYPE, content_type);
    // The files change with the binary: revalidate rather than cache for long.
    set(&mut response, header::CACHE_CONTROL, "no-cache");
    secure(&mut response);
    response
}

fn secure(response: &mut Response) {
    set(response, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
}

fn set(response: &mut Response, name: HeaderName, value: &'static str) {
    response
        .headers_mut()
        .insert(name, HeaderValue::from_static(value));
}
