//! A Step Functions client over every replica: a call that cannot reach one replica, or
//! meets a server error while Postgres is down, is tried on the next until a deadline,
//! as a load balancer in front of the replicas and an SDK's retries would do. With a key,
//! every call is SigV4-signed as an SDK signs it (the replicas then verify signatures).

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
    /// The access key id and secret every call is signed with; `None` sends none.
    key: Option<Arc<(String, String)>>,
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
            key: None,
        }
    }

    /// The same client, signing every call with `key` (id, secret).
    pub fn signing(self, key: (String, String)) -> Client {
        Client {
            key: Some(Arc::new(key)),
            ..self
        }
    }

    /// The `authorization` and `x-amz-date` headers of a call (none without a key).
    fn signature(&self, endpoint: &str, target: &str, body: &str) -> Result<Vec<(String, String)>> {
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        let Some(key) = &self.key else {
            return Ok(Vec::new());
        };
        let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
        let headers = [
            ("host", host),
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", target),
        ];
        let identity =
            aws_credential_types::Credentials::new(&key.0, &key.1, None, None, "chaos").into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("states")
            .time(std::time::SystemTime::now())
            .settings(SigningSettings::default())
            .build()?
            .into();
        let signable = SignableRequest::new(
            "POST",
            endpoint,
            headers.iter().copied(),
            SignableBody::Bytes(body.as_bytes()),
        )?;
        let (instructions, _) = sign(signable, &params)?.into_parts();
        Ok(instructions
            .headers()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect())
    }

    /// Calls `operation`, moving to the next replica on a transport error or a 5xx, for
    /// up to `patience`. A 4xx is AWS's answer, returned as [`Answer::Refused`].
    pub async fn call(&self, operation: &str, body: &Value, patience: Duration) -> Result<Answer> {
        let deadline = Instant::now() + patience;
        let mut last = String::new();
        while Instant::now() < deadline {
            let at = self.next.fetch_add(1, Ordering::Relaxed) % self.endpoints.len();
            let target = format!("AWSStepFunctions.{operation}");
            let text = body.to_string();
            // Signed afresh for each try: a retry after a long outage stays in the skew.
            let mut request = self
                .http
                .post(&self.endpoints[at])
                .header("content-type", "application/x-amz-json-1.0")
                .header("x-amz-target", &target);
            for (name, value) in self.signature(&self.endpoints[at], &target, &text)? {
                request = request.header(name, value);
            }
            let sent = request.body(text).send().await;
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
