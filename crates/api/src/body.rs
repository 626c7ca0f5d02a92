//! Reading a request body within the size limit (AWS's: 1 MiB).
//!
//! A body over the limit is refused with HTTP 413 — but only after the rest of it has
//! been read and dropped, up to [`DRAIN_LIMIT`]. A server that answers and closes while
//! the client is still sending leaves a client that stops at the write error (reqwest
//! and hyper do: "broken pipe") without the answer; urllib3, under boto3, happens to read
//! the answer anyway. Past [`DRAIN_LIMIT`] the connection is closed.

use std::pin::Pin;

use axum::body::{Body, Bytes, HttpBody};
use axum::http::{header, HeaderMap};

use crate::error::ApiError;

/// How much of an oversized body is read and dropped before the connection is closed.
pub const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

/// Reads a request's body within `limit`, as [`read`] does, with the length its
/// `Content-Length` header declares.
pub async fn read_request(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    read(body, declared, limit).await
}

/// Reads `body` (whose `Content-Length`, if any, is `declared`) if it is at most `limit`
/// bytes; otherwise `RequestTooLarge`, with the body drained as described above.
pub async fn read(
    mut body: Body,
    declared: Option<usize>,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::RequestTooLarge(format!(
            "The request body is larger than the {limit}-byte limit"
        ))
    };
    let mut over = declared.is_some_and(|n| n > limit);
    let mut data = Vec::with_capacity(if over { 0 } else { declared.unwrap_or(0) });
    let mut seen = 0usize;
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = match frame {
            Ok(frame) => frame,
            // The client broke the body off; it is not there to read the answer anyway.
            Err(e) if !over => {
                return Err(ApiError::Serialization(format!(
                    "The request body could not be read: {e}"
                )))
            }
            Err(_) => break,
        };
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(chunk.len());
        if seen > limit && !over {
            over = true;
            data = Vec::new();
        }
        if over {
            if seen > DRAIN_LIMIT {
                break;
            }
            continue;
        }
        data.extend_from_slice(&chunk);
    }
    if over {
        return Err(too_large());
    }
    Ok(Bytes::from(data))
}
