//! Feeds the API's SigV4 parsing arbitrary bytes: as an `Authorization` header value, as
//! a presigned URL's query string, and through the canonical request of whatever parses.
//! None of it may panic; a refusal is an `AuthError`, as a bad signature must be.

#![no_main]

use cairn_api::auth::sigv4::{self, Request};
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = sigv4::parse_authorization(&text);

    // The bytes split at the first newline: a header value, then a query string.
    let (header, query) = text.split_once('\n').unwrap_or((&text, ""));
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(header.as_bytes()) {
        headers.insert(http::header::AUTHORIZATION, value.clone());
        headers.insert("x-amz-date", value.clone());
        headers.insert(http::header::HOST, value);
    }
    for (headers, query) in [(&headers, Some(query)), (&HeaderMap::new(), Some(query))] {
        if let Ok(Some(signature)) = sigv4::locate(headers, query) {
            let request = Request {
                method: "POST",
                path: "/",
                query,
                headers,
                authority: Some(header),
            };
            let _ = sigv4::canonical_request(&request, &signature, sigv4::UNSIGNED_PAYLOAD);
        }
    }
});
