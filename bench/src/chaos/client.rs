//! A Step Functions client over every replica: a call that cannot reach one replica, or
//! meets a server error while Postgres is down, is tried on the next until a deadline,
//! as a load balancer in front of the replicas and an SDK's retries would do.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde_json::Value;

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    endpoints: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
}

/// A call's answer: success, or AWS's error type and message.
pub enum Answer {
    Ok(Value),
    Refused { error: String, message: String },
}

impl Client {
    pub fn new(endpoints: Vec<String>) -> Client {
        Client {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap_or_default(),
            endpoints: Arc::new(endpoints),
            next: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Calls `operation`, moving to the next replica on a transport error or a 5xx, for
    /// up to `patience`. A 4xx is AWS's answer, returned as [`Answer::Refused`].
    pub async fn call(&self, operation: &str, body: &Value, patience: Duration) -> Result<Answer> {
        let deadline = Instant::now() + patience;
        let mut last = String::new();
        while Instant::now() < deadline {
            let at = self.next.fetch_add(1, Ordering::Relaxed) % self.endpoints.len();
            let sent = self
                .http
                .post(&self.endpoints[at])
                .header("content-type", "application/x-amz-json-1.0")
                .header("x-amz-target", format!("AWSStepFunctions.{operation}"))
                .body(body.to_string())
                .send()
                .await;
            match sent {
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    if status.is_success() {
                        return Ok(Answer::Ok(serde_json::from_str(&text)?));
                    }
                    if status.is_client_error() {
                        let answer: Value = serde_json::from_str(&text).unwrap_or_default();
                        let error = answer["__type"].as_str().unwrap_or_default();
                        let error = error.rsplit('#').next().unwrap_or(error).to_string();
                        let message = answer["message"].as_str().unwrap_or(&text).to_string();
                        return Ok(Answer::Refused { error, message });
                    }
                    last = format!("{status} {text}");
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("{operation}: no replica answered within {patience:?} (last: {last})")
    }

    /// [`Client::call`] that expects success.
    pub async fn ok(&self, operation: &str, body: &Value, patience: Duration) -> Result<Value> {
        match self.call(operation, body, patience).await? {
            Answer::Ok(value) => Ok(value),
            Answer::Refused { error, message } => bail!("{operation}: {error}: {message}"),
        }
    }
}
