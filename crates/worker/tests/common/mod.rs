//! A loopback server playing every kind of target: function URLs, a Lambda API that
//! speaks the real wire protocol and checks SigV4, and endpoints for HTTP Tasks.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::Router;
use cairn_worker::{Invocation, TaskOutcome};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

pub const ACCESS_KEY: &str = "test";
pub const SECRET_KEY: &str = "test-secret";
pub const EXECUTION: &str = "arn:aws:states:us-east-1:123456789012:execution:orders:e-1";

/// Size of `/fn/huge`'s body: over the 256 KiB default limit.
pub const HUGE: usize = 300 * 1024;

/// Serves the fake targets on 127.0.0.1 until the runtime ends.
pub async fn start() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(serve(listener));
    addr
}

pub async fn serve(listener: TcpListener) {
    let app = Router::new()
        .route("/fn/{name}", post(function_url))
        .route("/2015-03-31/functions/{name}/invocations", post(lambda_api))
        .route("/http/{name}", any(http_endpoint));
    let _ = axum::serve(listener, app).await;
}

pub fn invocation(resource: &str, input: Value) -> Invocation {
    Invocation {
        execution_arn: EXECUTION.to_string(),
        state_name: "Charge Card".to_string(),
        task_id: 7,
        attempt: 2,
        resource: resource.to_string(),
        input,
        timeout_seconds: None,
    }
}

/// What `Invocation::idempotency_key` gives for [`invocation`].
pub const KEY: &str =
    "arn:aws:states:us-east-1:123456789012:execution:orders:e-1/Charge%20Card/7/2";

pub fn credentials() -> Credentials {
    Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test")
}

pub fn failed(outcome: &TaskOutcome) -> (&str, Option<&str>) {
    match outcome {
        TaskOutcome::Failed { error, cause } => (error.as_str(), cause.as_deref()),
        other => panic!("expected a failure, got {other:?}"),
    }
}

pub fn succeeded(outcome: TaskOutcome) -> Value {
    match outcome {
        TaskOutcome::Succeeded(v) => v,
        other => panic!("expected success, got {other:?}"),
    }
}

fn header(headers: &HeaderMap, name: &str) -> Value {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map_or(Value::Null, |v| Value::String(v.to_string()))
}

async fn function_url(Path(name): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let input: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    match name.as_str() {
        "echo" => axum::Json(json!({
            "input": input,
            "key": header(&headers, "x-cairn-idempotency-key"),
            "content_type": header(&headers, "content-type"),
        }))
        .into_response(),
        "declined" => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"errorType": "PaymentDeclined", "errorMessage": "card expired"})),
        )
            .into_response(),
        "alt" => (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({"error": "OutOfStock", "cause": "no widgets left"})),
        )
            .into_response(),
        "text" => (StatusCode::OK, "hello, not json").into_response(),
        "empty" => StatusCode::NO_CONTENT.into_response(),
        "boom" => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            axum::Json(json!({})).into_response()
        }
        "huge" => {
            let big = "x".repeat(HUGE);
            axum::Json(json!({ "big": big })).into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The Lambda Invoke API as AWS answers it.
async fn lambda_api(
    method: Method,
    uri: Uri,
    Path(function): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(problem) = verify_sigv4(&method, &uri, &headers, &body) {
        return (
            StatusCode::FORBIDDEN,
            [("x-amzn-ErrorType", "InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/")],
            axum::Json(json!({"message": problem})),
        )
            .into_response();
    }
    let name = function
        .rsplit(":function:")
        .next()
        .unwrap_or(&function)
        .to_string();
    let name = name.split(':').next().unwrap_or("").to_string();
    let qualifier = query
        .as_deref()
        .and_then(|q| q.strip_prefix("Qualifier="))
        .map(str::to_string);
    let invocation_type = header(&headers, "x-amz-invocation-type");
    let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let request_id = [("x-amzn-RequestId", "4f5b0b9a-0000-4000-8000-000000000001")];
    if invocation_type == "Event" {
        return (StatusCode::ACCEPTED, request_id, "").into_response();
    }
    match name.as_str() {
        "hello" => (
            StatusCode::OK,
            request_id,
            [("X-Amz-Executed-Version", qualifier.clone().unwrap_or("$LATEST".into()))],
            axum::Json(json!({
                "function": function,
                "payload": payload,
                "qualifier": qualifier,
                "key": header(&headers, "x-cairn-idempotency-key"),
                "authorization": header(&headers, "authorization"),
            })),
        )
            .into_response(),
        "fails" => (
            StatusCode::OK,
            request_id,
            [("X-Amz-Function-Error", "Unhandled")],
            r#"{"errorMessage":"card expired","errorType":"PaymentDeclined","stackTrace":[]}"#,
        )
            .into_response(),
        "crashes" => (
            StatusCode::OK,
            request_id,
            [("X-Amz-Function-Error", "Unhandled")],
            r#"{"errorMessage":"2026-11-25T05:00:00.000Z Task timed out after 3.00 seconds"}"#,
        )
            .into_response(),
        "throttled" => (
            StatusCode::TOO_MANY_REQUESTS,
            request_id,
            [("x-amzn-ErrorType", "TooManyRequestsException:http://internal.amazon.com/coral/com.amazonaws.awslambda/")],
            axum::Json(json!({"Type": "User", "message": "Rate Exceeded.", "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"})),
        )
            .into_response(),
        "broken" => (StatusCode::INTERNAL_SERVER_ERROR, request_id, "").into_response(),
        _ => (
            StatusCode::NOT_FOUND,
            request_id,
            [("x-amzn-ErrorType", "ResourceNotFoundException:http://internal.amazon.com/coral/com.amazonaws.awslambda/")],
            axum::Json(json!({
                "Type": "User",
                "message": format!("Function not found: arn:aws:lambda:us-east-1:123456789012:function:{name}")
            })),
        )
            .into_response(),
    }
}

/// Recomputes the request's SigV4 signature with the test secret, as Lambda would.
fn verify_sigv4(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), String> {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or("missing Authorization")?;
    let rest = authorization
        .strip_prefix("AWS4-HMAC-SHA256 Credential=")
        .ok_or("not AWS4-HMAC-SHA256")?;
    let (credential, rest) = rest
        .split_once(", SignedHeaders=")
        .ok_or("no SignedHeaders")?;
    let (signed_headers, _signature) = rest.split_once(", Signature=").ok_or("no Signature")?;
    let (access_key, scope) = credential.split_once('/').ok_or("bad Credential")?;
    if access_key != ACCESS_KEY {
        return Err(format!("unknown access key {access_key}"));
    }
    let scope_parts: Vec<&str> = scope.split('/').collect();
    let [_date, region, "lambda", "aws4_request"] = scope_parts.as_slice() else {
        return Err(format!("bad credential scope {scope}"));
    };
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or("missing X-Amz-Date")?;
    let time = parse_amz_date(amz_date).ok_or("bad X-Amz-Date")?;

    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .ok_or("no host")?;
    let url = format!("http://{host}{uri}");
    let mut signed = Vec::new();
    for name in signed_headers.split(';') {
        if matches!(name, "host" | "x-amz-date" | "authorization") {
            continue;
        }
        let value = headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or(format!("signed header {name} missing"))?;
        signed.push((name, value));
    }
    let identity = credentials().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("lambda")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let signable = SignableRequest::new(
        method.as_str(),
        url,
        signed.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    let expected = instructions
        .headers()
        .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.to_string())
        .ok_or("signer produced no authorization")?;
    if expected == authorization {
        Ok(())
    } else {
        Err(format!(
            "signature mismatch: expected {expected}, got {authorization}"
        ))
    }
}

/// `20261125T050102Z` → a time.
fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

async fn http_endpoint(
    Path(name): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match name.as_str() {
        "echo" => (
            StatusCode::OK,
            [("x-request-id", "r-1")],
            axum::Json(json!({
                "method": method.as_str(),
                "query": query,
                "body": String::from_utf8_lossy(&body),
                "content_type": header(&headers, "content-type"),
                "authorization": header(&headers, "authorization"),
                "x_api_key": header(&headers, "x-api-key"),
                "x_custom": header(&headers, "x-custom"),
                "key": header(&headers, "x-cairn-idempotency-key"),
            })),
        )
            .into_response(),
        "redirect-same" => (
            StatusCode::TEMPORARY_REDIRECT,
            [("location", "/http/echo?from=redirect")],
        )
            .into_response(),
        "redirect-away" => {
            // Same port, another host name: another origin.
            let host = headers
                .get("host")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let port = host.rsplit(':').next().unwrap_or("");
            let location = format!("http://localhost:{port}/http/echo");
            (StatusCode::FOUND, [("location", location)]).into_response()
        }
        "text" => (
            StatusCode::OK,
            [("content-type", "text/plain")],
            "plain words",
        )
            .into_response(),
        "missing" => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": "no such order"})),
        )
            .into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            StatusCode::OK.into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A server that answers every connection with a chunked JSON body of `size` bytes and
/// no Content-Length, so the limit must be enforced while streaming.
pub async fn start_chunked(size: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = vec![0u8; 64 * 1024];
                let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut request).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b' '; 16 * 1024];
                let mut sent = 0;
                while sent < size {
                    let frame = format!("{:x}\r\n", chunk.len());
                    if socket.write_all(frame.as_bytes()).await.is_err()
                        || socket.write_all(&chunk).await.is_err()
                        || socket.write_all(b"\r\n").await.is_err()
                    {
                        return;
                    }
                    sent += chunk.len();
                }
                let _ = socket.write_all(b"1\r\n1\r\n0\r\n\r\n").await;
            });
        }
    });
    addr
}

/// An address where nothing listens.
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr")
}
