//! Lambda targets: `arn:aws:lambda:…:function:NAME` and `arn:aws:states:::lambda:invoke`,
//! through the Lambda Invoke API (SigV4-signed) or a function URL from the configuration.
//!
//! How AWS reports what happens, and so how Cairn does:
//! - A function error (response header `X-Amz-Function-Error`) fails the task with the
//!   payload's `errorType` as the error (`Lambda.Unknown` when it has none: a time-out or
//!   an out-of-memory crash) and the whole payload text as the cause.
//! - A Lambda service error fails it with `Lambda.<ErrorCode>`
//!   (`Lambda.ResourceNotFoundException`, `Lambda.TooManyRequestsException`, …) and a cause
//!   shaped as the AWS SDK's message. A request that never got an answer is
//!   `Lambda.SdkClientException`.
//! - A function ARN's result is the function's payload; `lambda:invoke`'s result is the
//!   Invoke response: `ExecutedVersion`, `Payload` (parsed from JSON), `SdkHttpMetadata`,
//!   `SdkResponseMetadata`, `StatusCode`.

use aws_credential_types::provider::ProvideCredentials;
use serde_json::{Map, Value};
use url::Url;

use crate::aws::endpoint::AwsService;
use crate::aws::request::{send, AwsRequest};
use crate::aws::sigv4::Signer;
use crate::aws::{errors, metadata};
use crate::config::TargetConfig;
use crate::error::InvokeError;
use crate::invocation::IDEMPOTENCY_HEADER;
use crate::resource::FunctionRef;
use crate::transport::{fetch, Fetched};

/// Which result a Lambda task produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A function ARN as the resource: the payload itself.
    Payload,
    /// `arn:aws:states:::lambda:invoke`: the Invoke API's response.
    InvokeResponse,
}

/// One call of a Lambda function.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LambdaCall {
    pub function: FunctionRef,
    /// `Qualifier`, or the qualifier in the function's name.
    pub qualifier: Option<String>,
    pub invocation_type: InvocationType,
    pub log_type: Option<String>,
    pub client_context: Option<String>,
    /// The JSON payload sent to the function.
    pub payload: Vec<u8>,
    pub shape: Shape,
}

/// The Invoke API's `InvocationType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InvocationType {
    RequestResponse,
    Event,
    DryRun,
}

impl InvocationType {
    fn as_str(self) -> &'static str {
        match self {
            InvocationType::RequestResponse => "RequestResponse",
            InvocationType::Event => "Event",
            InvocationType::DryRun => "DryRun",
        }
    }
}

impl LambdaCall {
    /// A function ARN used as the resource: the state's input is the payload.
    pub(crate) fn from_function_arn(function: FunctionRef, input: &Value) -> LambdaCall {
        LambdaCall {
            qualifier: function.qualifier.clone(),
            function,
            invocation_type: InvocationType::RequestResponse,
            log_type: None,
            client_context: None,
            payload: input.to_string().into_bytes(),
            shape: Shape::Payload,
        }
    }

    /// `arn:aws:states:::lambda:invoke`: the parameters name the function.
    pub(crate) fn from_parameters(input: &Value) -> Result<LambdaCall, InvokeError> {
        let bad = |m: String| InvokeError::BadParameters(format!("lambda:invoke: {m}"));
        let Value::Object(fields) = input else {
            return Err(bad(format!(
                "the parameters must be an object with FunctionName, got {input}"
            )));
        };
        for key in fields.keys() {
            if !matches!(
                key.as_str(),
                "FunctionName"
                    | "Payload"
                    | "Qualifier"
                    | "InvocationType"
                    | "LogType"
                    | "ClientContext"
            ) {
                return Err(bad(format!("unknown parameter '{key}'")));
            }
        }
        let text = |name: &str| -> Result<Option<&str>, InvokeError> {
            match fields.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(other) => Err(bad(format!("{name} must be a string, got {other}"))),
            }
        };
        let name = text("FunctionName")?
            .ok_or_else(|| bad("the parameter FunctionName is required".to_string()))?;
        let function = FunctionRef::parse(name).ok_or_else(|| {
            bad(format!(
                "'{name}' is not a function name, partial ARN or ARN"
            ))
        })?;
        let qualifier = match text("Qualifier")? {
            Some(q) => {
                if function.qualifier.as_deref().is_some_and(|f| f != q) {
                    return Err(bad(format!(
                        "the qualifier in FunctionName '{name}' conflicts with Qualifier '{q}'"
                    )));
                }
                Some(q.to_string())
            }
            None => function.qualifier.clone(),
        };
        let invocation_type = match text("InvocationType")? {
            None | Some("RequestResponse") => InvocationType::RequestResponse,
            Some("Event") => InvocationType::Event,
            Some("DryRun") => InvocationType::DryRun,
            Some(other) => {
                return Err(bad(format!(
                    "InvocationType must be RequestResponse, Event or DryRun, got '{other}'"
                )))
            }
        };
        let log_type = match text("LogType")? {
            None => None,
            Some(t @ ("None" | "Tail")) => Some(t.to_string()),
            Some(other) => return Err(bad(format!("LogType must be None or Tail, got '{other}'"))),
        };
        let payload = match fields.get("Payload") {
            None => b"{}".to_vec(),
            Some(value) => value.to_string().into_bytes(),
        };
        Ok(LambdaCall {
            function,
            qualifier,
            invocation_type,
            log_type,
            client_context: text("ClientContext")?.map(str::to_string),
            payload,
            shape: Shape::InvokeResponse,
        })
    }
}

/// Where the Lambda API is and how Cairn signs its requests.
pub struct LambdaApi {
    endpoint: Option<Url>,
    signer: Signer,
}

impl std::fmt::Debug for LambdaApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LambdaApi")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl LambdaApi {
    /// A Lambda API at `endpoint` (`None`: `https://lambda.{region}.amazonaws.com`, the
    /// region being the function ARN's or the configured one), signed with credentials
    /// from `credentials`. Credentials with an expiry are cached until five minutes before
    /// it. The service integrations (SQS, SNS, DynamoDB, EventBridge) sign with the same
    /// credentials.
    pub fn new(endpoint: Option<Url>, credentials: impl ProvideCredentials + 'static) -> Self {
        LambdaApi {
            endpoint,
            signer: Signer::new(credentials),
        }
    }

    /// The endpoint, if fixed.
    pub fn endpoint(&self) -> Option<&Url> {
        self.endpoint.as_ref()
    }

    pub(crate) fn signer(&self) -> &Signer {
        &self.signer
    }

    /// Calls Invoke for `call` and maps the answer as AWS does.
    pub(crate) async fn invoke(
        &self,
        client: &reqwest::Client,
        config: &TargetConfig,
        call: &LambdaCall,
        idempotency_key: &str,
    ) -> Result<Value, InvokeError> {
        let region = call.function.region.as_deref().unwrap_or(&config.region);
        let url = self.invoke_url(config, call, region)?;
        let mut headers: Vec<(&str, &str)> = vec![
            ("x-amz-invocation-type", call.invocation_type.as_str()),
            ("content-type", "application/json"),
            (IDEMPOTENCY_HEADER, idempotency_key),
        ];
        if let Some(log_type) = &call.log_type {
            headers.push(("x-amz-log-type", log_type));
        }
        if let Some(context) = &call.client_context {
            headers.push(("x-amz-client-context", context));
        }
        let request = AwsRequest {
            service: AwsService::Lambda,
            region,
            url: &url,
            headers: &headers,
            body: call.payload.clone(),
        };
        let fetched = send(client, &self.signer, config.max_response_bytes, request).await?;

        if fetched.headers.contains_key("x-amz-function-error") {
            return Err(function_error(&fetched));
        }
        if !fetched.status.is_success() {
            return Err(errors::service_error(AwsService::Lambda, &fetched));
        }
        let payload = match call.invocation_type {
            InvocationType::RequestResponse => parse_payload(&fetched, url.as_str())?,
            // Event and DryRun answer 202 and 204 with no payload; AWS shows "".
            InvocationType::Event | InvocationType::DryRun => Value::String(fetched.text()),
        };
        Ok(match call.shape {
            Shape::Payload => payload,
            Shape::InvokeResponse => invoke_response(&fetched, payload),
        })
    }

    fn invoke_url(
        &self,
        config: &TargetConfig,
        call: &LambdaCall,
        region: &str,
    ) -> Result<Url, InvokeError> {
        let base = match &self.endpoint {
            Some(endpoint) => endpoint.as_str().trim_end_matches('/').to_string(),
            None => {
                AwsService::Lambda.regional_endpoint(region, call.function.partition.as_deref())
            }
        };
        // A name alone stays a name (what a local Lambda emulator expects); anything that
        // names an account becomes the full ARN, in the function's own region.
        let function = if call.function.account.is_some() {
            call.function.unqualified_arn(region, &config.account)
        } else {
            call.function.name.clone()
        };
        let encoded: String = url::form_urlencoded::byte_serialize(function.as_bytes()).collect();
        let mut url = Url::parse(&format!(
            "{base}/2015-03-31/functions/{encoded}/invocations"
        ))
        .map_err(|e| {
            InvokeError::BadParameters(format!("invalid Lambda endpoint '{base}': {e}"))
        })?;
        if let Some(qualifier) = &call.qualifier {
            url.query_pairs_mut().append_pair("Qualifier", qualifier);
        }
        Ok(url)
    }
}

/// A function's own error: `errorType` (or `Lambda.Unknown`) with the payload as cause.
pub(crate) fn function_error(fetched: &Fetched) -> InvokeError {
    let text = fetched.text();
    let error = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| {
            v.get("errorType")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "Lambda.Unknown".to_string());
    InvokeError::named(error, text)
}

/// A successful synchronous payload: JSON (an empty body is `null`).
pub(crate) fn parse_payload(fetched: &Fetched, url: &str) -> Result<Value, InvokeError> {
    if fetched.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&fetched.body).map_err(|e| {
        let text = fetched.text();
        let shown: String = text.chars().take(200).collect();
        InvokeError::BadResponse(format!(
            "{url} answered {} with a body that is not JSON ({e}): {shown}",
            fetched.status
        ))
    })
}

/// `lambda:invoke`'s result, shaped as Step Functions shows the Invoke response.
pub(crate) fn invoke_response(fetched: &Fetched, payload: Value) -> Value {
    let mut result = Map::new();
    result.insert(
        "ExecutedVersion".into(),
        Value::String(
            fetched
                .header("x-amz-executed-version")
                .unwrap_or("$LATEST")
                .to_string(),
        ),
    );
    if let Some(log) = fetched.header("x-amz-log-result") {
        result.insert("LogResult".into(), Value::String(log.to_string()));
    }
    result.insert("Payload".into(), payload);
    metadata::add_sdk_metadata(&mut result, fetched, metadata::request_id(fetched, None));
    result.insert("StatusCode".into(), Value::from(fetched.status.as_u16()));
    Value::Object(result)
}

/// Calls a function mapped to a plain URL: POST the payload as JSON.
///
/// 2xx: the JSON body is the function's result. Otherwise a JSON body with `errorType`
/// (or `error`) and `errorMessage` (or `cause`) fails the task with that error and cause,
/// as a Lambda function's exception would; any other answer is `States.TaskFailed` with
/// the status and body as the cause.
pub(crate) async fn invoke_url(
    client: &reqwest::Client,
    config: &TargetConfig,
    url: &Url,
    call: &LambdaCall,
    idempotency_key: &str,
) -> Result<Value, InvokeError> {
    let request = client
        .post(url.as_str())
        .header("content-type", "application/json")
        .header(IDEMPOTENCY_HEADER, idempotency_key)
        .body(call.payload.clone());
    let request = crate::transport::with_trace_headers(request);
    let fetched = fetch(request, url.as_str(), config.max_response_bytes).await?;
    if fetched.headers.contains_key("x-amz-function-error") {
        return Err(function_error(&fetched));
    }
    if !fetched.status.is_success() {
        return Err(url_error(&fetched, url));
    }
    let payload = parse_payload(&fetched, url.as_str())?;
    Ok(match call.shape {
        Shape::Payload => payload,
        Shape::InvokeResponse => invoke_response(&fetched, payload),
    })
}

fn url_error(fetched: &Fetched, url: &Url) -> InvokeError {
    let body: Option<Value> = serde_json::from_slice(&fetched.body).ok();
    let field = |names: [&str; 2]| {
        names.iter().find_map(|n| {
            body.as_ref()
                .and_then(|b| b.get(*n))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
    };
    match field(["errorType", "error"]).filter(|e| !e.is_empty()) {
        Some(error) => InvokeError::Named {
            error,
            cause: field(["errorMessage", "cause"]),
        },
        None => {
            let text = fetched.text();
            let shown: String = text.chars().take(4096).collect();
            InvokeError::named(
                cairn_asl::error::names::TASK_FAILED,
                format!("{url} answered HTTP {}: {shown}", fetched.status),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parameters_are_read_and_checked() {
        let call = LambdaCall::from_parameters(&json!({
            "FunctionName": "arn:aws:lambda:eu-west-1:123456789012:function:f:prod",
            "Payload": {"a": 1},
            "InvocationType": "Event"
        }))
        .expect("valid");
        assert_eq!(call.qualifier.as_deref(), Some("prod"));
        assert_eq!(call.invocation_type, InvocationType::Event);
        assert_eq!(call.payload, br#"{"a":1}"#);

        let missing = LambdaCall::from_parameters(&json!({"Payload": {}}));
        assert_eq!(
            missing,
            Err(InvokeError::BadParameters(
                "lambda:invoke: the parameter FunctionName is required".into()
            ))
        );
        assert!(LambdaCall::from_parameters(
            &json!({"FunctionName": "f", "Payload": 1, "Bogus": 1})
        )
        .is_err());
        assert!(
            LambdaCall::from_parameters(&json!({"FunctionName": "f:a", "Qualifier": "b"})).is_err()
        );
        assert!(
            LambdaCall::from_parameters(&json!({"FunctionName": "f", "InvocationType": "x"}))
                .is_err()
        );
        let no_payload = LambdaCall::from_parameters(&json!({"FunctionName": "f"})).expect("valid");
        assert_eq!(no_payload.payload, b"{}");
    }
}
