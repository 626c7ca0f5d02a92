//! The chaos run's task target: the seed's order functions, a step for the fan-out, a
//! function that fails until its execution is redriven
//! workload and a callback receiver, all deterministic in their input and attempt so that
//! the verifier knows each execution's outcome in advance. It counts every invocation by
//! its idempotency key: a key seen twice is a duplicated invocation, and the
//! asynchronous Express runs that reached their last state by id.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// What the target has seen.
#[derive(Default)]
pub struct Seen {
    /// Invocations by idempotency key (`<execution ARN>/<state>/<task id>/<attempt>`).
    pub invocations: HashMap<String, u32>,
    /// Callback tokens already handed to the approver, so a repeated delivery of one
    /// callback task is approved once.
    tokens: std::collections::HashSet<String>,
    /// Asynchronous Express runs that reached their last state, by the id in their
    /// input: how many times each did (at least once is AWS's promise).
    pub express: HashMap<u64, u32>,
}

#[derive(Clone)]
struct Shared {
    seen: Arc<Mutex<Seen>>,
    approvals: mpsc::UnboundedSender<Approval>,
}

/// A callback to answer: the token and the value to send back.
pub struct Approval {
    pub token: String,
    pub id: u64,
}

/// The function names the order workflow and the fan-out workload call, for
/// `CAIRN_FUNCTIONS`.
pub const FUNCTIONS: [&str; 10] = [
    "validate-order",
    "check-inventory",
    "process-payment",
    "notify-backorder",
    "update-inventory",
    "send-confirmation",
    "initiate-shipping",
    "step",
    "once-broken",
    "express-done",
];

/// Serves the target on a loopback port; returns its address, what it has seen, and the
/// callbacks waiting for an answer.
pub async fn start() -> Result<(
    SocketAddr,
    Arc<Mutex<Seen>>,
    mpsc::UnboundedReceiver<Approval>,
)> {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (approvals, waiting) = mpsc::unbounded_channel();
    let app = Router::new()
        .route("/fn/{name}", post(function))
        .route("/callback", post(callback))
        .with_state(Shared {
            seen: seen.clone(),
            approvals,
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((address, seen, waiting))
}

type Answer = (StatusCode, Json<Value>);

fn key(headers: &HeaderMap) -> String {
    headers
        .get("x-cairn-idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// The attempt number: the key's last segment.
fn attempt(key: &str) -> u64 {
    key.rsplit('/')
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(0)
}

fn failure(error: &str, message: String) -> Answer {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"errorType": error, "errorMessage": message})),
    )
}

async fn function(
    State(shared): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Json(input): Json<Value>,
) -> Answer {
    let key = key(&headers);
    if let Ok(mut seen) = shared.seen.lock() {
        *seen.invocations.entry(key.clone()).or_default() += 1;
        if name == "express-done" {
            if let Some(id) = input["id"].as_u64() {
                *seen.express.entry(id).or_default() += 1;
            }
        }
    }
    let ok = |value: Value| (StatusCode::OK, Json(value));
    let with = |order: &Value, field: &str| {
        let mut order = order.clone();
        order[field] = json!(true);
        order
    };
    match name.as_str() {
        "validate-order" => {
            let items = input["items"].as_array().cloned().unwrap_or_default();
            if items.is_empty() || items.iter().any(|i| i["qty"].as_i64().unwrap_or(0) <= 0) {
                failure(
                    "ValidationError",
                    format!("order {} is invalid", input["orderId"]),
                )
            } else {
                ok(with(&input, "validated"))
            }
        }
        "check-inventory" => {
            if input["backorder"] == json!(true) && input["restocked"] != json!(true) {
                // The Catch has no ResultPath: NotifyBackorder receives only the error,
                // so the order travels in its message.
                failure("OutOfStockError", input.to_string())
            } else {
                ok(with(&input, "reserved"))
            }
        }
        "notify-backorder" => {
            let order: Value = input["Cause"]
                .as_str()
                .and_then(|cause| serde_json::from_str(cause).ok())
                .unwrap_or(Value::Null);
            ok(with(&order, "restocked"))
        }
        "process-payment" => {
            if input["declined"] == json!(true) {
                failure(
                    "PaymentDeclined",
                    format!("order {} declined", input["orderId"]),
                )
            } else if input["flaky"] == json!(true) && attempt(&key) < 2 {
                failure(
                    "PaymentGatewayTimeout",
                    format!("attempt {}", attempt(&key)),
                )
            } else {
                ok(with(&input, "paid"))
            }
        }
        "update-inventory" | "send-confirmation" | "initiate-shipping" => {
            ok(json!({"done": name, "orderId": input["orderId"]}))
        }
        "step" => ok(json!({"stepped": input})),
        "express-done" => ok(json!({"reported": input["id"]})),
        // Item 2 fails until its execution has been redriven.
        "once-broken" => {
            if input["item"] == json!(2) && input["redrives"] == json!(0) {
                failure("Broken", "item 2 is broken until a redrive".to_string())
            } else {
                ok(json!({"stepped": input["item"]}))
            }
        }
        _ => (
            StatusCode::NOT_FOUND,
            Json(json!({"message": "no such function"})),
        ),
    }
}

async fn callback(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Answer {
    let key = key(&headers);
    let token = body["token"].as_str().unwrap_or_default().to_string();
    let id = body["id"].as_u64().unwrap_or(0);
    let first = match shared.seen.lock() {
        Ok(mut seen) => {
            *seen.invocations.entry(key).or_default() += 1;
            seen.tokens.insert(token.clone())
        }
        Err(_) => false,
    };
    if first {
        let _ = shared.approvals.send(Approval { token, id });
    }
    (StatusCode::OK, Json(json!({"queued": true})))
}
