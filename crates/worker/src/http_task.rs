//! AWS's HTTP Task, `arn:aws:states:::http:invoke`.
//!
//! Parameters: `ApiEndpoint`, `Method`, `Headers`, `QueryParameters`, `RequestBody`,
//! `Transform` (`RequestBodyEncoding`: `NONE` | `URL_ENCODED`;
//! `RequestEncodingOptions.ArrayFormat`: `INDICES` | `REPEAT` | `COMMAS` | `BRACKETS`),
//! and `Authentication.ConnectionArn` / `InvocationConfig.ConnectionArn`, which must name a
//! connection from the configuration (Cairn has no EventBridge).
//!
//! Result: `{"Headers": {name: [values]}, "ResponseBody": <JSON if the response says
//! it is JSON, else text>, "StatusCode": 200, "StatusText": "OK"}`. A status outside
//! 2xx fails the task with `States.Http.StatusCode.<code>` and that same object, as JSON
//! text, as the cause.

use cairn_asl::test_state::{HttpRequestTrace, HttpResponseTrace, HttpTrace};
use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;

use crate::config::{HttpAuth, TargetConfig};
use crate::error::InvokeError;
use crate::invocation::IDEMPOTENCY_HEADER;
use crate::transport::fetch;

/// The HTTP Task's parameters.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Parameters {
    api_endpoint: String,
    method: String,
    #[serde(default)]
    headers: Option<Map<String, Value>>,
    #[serde(default)]
    query_parameters: Option<Map<String, Value>>,
    #[serde(default)]
    request_body: Option<Value>,
    #[serde(default)]
    transform: Option<Transform>,
    #[serde(default)]
    authentication: Option<Connection>,
    #[serde(default)]
    invocation_config: Option<Connection>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Connection {
    connection_arn: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Transform {
    #[serde(default)]
    request_body_encoding: BodyEncoding,
    #[serde(default)]
    request_encoding_options: Option<EncodingOptions>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum BodyEncoding {
    #[default]
    None,
    UrlEncoded,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct EncodingOptions {
    #[serde(default)]
    array_format: ArrayFormat,
}

/// How arrays are written in a URL-encoded body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum ArrayFormat {
    /// `a[0]=x&a[1]=y`: AWS's default.
    #[default]
    Indices,
    /// `a=x&a=y`
    Repeat,
    /// `a=x,y`
    Commas,
    /// `a[]=x&a[]=y`
    Brackets,
}

/// Headers a task may not set: the transport owns them.
const FORBIDDEN_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "expect",
    "proxy-authorization",
    "proxy-connection",
];

/// What TestState asks to see of an HTTP Task at `TRACE`: the request as sent and the
/// response as received.
#[derive(Debug, Default)]
pub struct Recording {
    /// Show what configured credentials add (the `Authorization` header and the
    /// configured headers); they are shown as `[REDACTED]` otherwise, as AWS hides
    /// what an EventBridge connection adds.
    pub reveal_secrets: bool,
    /// Filled by the invocation; `None` when no request was sent.
    pub trace: Option<HttpTrace>,
}

pub(crate) async fn invoke(
    client: &reqwest::Client,
    config: &TargetConfig,
    input: &Value,
    idempotency_key: &str,
    mut recording: Option<&mut Recording>,
) -> Result<Value, InvokeError> {
    let params: Parameters = serde_json::from_value(input.clone())
        .map_err(|e| InvokeError::BadParameters(format!("http:invoke: invalid parameters: {e}")))?;
    let bad = |m: String| InvokeError::BadParameters(format!("http:invoke: {m}"));

    let mut url = Url::parse(&params.api_endpoint).map_err(|e| {
        bad(format!(
            "ApiEndpoint '{}' is not a URL: {e}",
            params.api_endpoint
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(format!(
            "ApiEndpoint '{}' must be an http or https URL",
            params.api_endpoint
        )));
    }
    let method = match params.method.to_ascii_uppercase().as_str() {
        m @ ("GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "OPTIONS" | "HEAD") => {
            reqwest::Method::from_bytes(m.as_bytes())
                .map_err(|e| bad(format!("Method '{}': {e}", params.method)))?
        }
        _ => {
            return Err(bad(format!(
                "Method must be GET, POST, PUT, DELETE, PATCH, OPTIONS or HEAD, got '{}'",
                params.method
            )))
        }
    };
    let auth = authentication(config, &params, &url)?;

    if let Some(query) = &params.query_parameters {
        let mut pairs = url.query_pairs_mut();
        for (key, value) in query {
            match value {
                Value::Array(items) => {
                    for item in items {
                        pairs.append_pair(key, &query_scalar(key, item)?);
                    }
                }
                other => {
                    pairs.append_pair(key, &query_scalar(key, other)?);
                }
            }
        }
    }

    let mut request = client.request(method, url.as_str());
    let mut has_content_type = false;
    for (name, value) in params.headers.iter().flatten() {
        let lower = name.to_ascii_lowercase();
        if FORBIDDEN_HEADERS.contains(&lower.as_str()) {
            return Err(bad(format!("the header '{name}' cannot be set")));
        }
        has_content_type |= lower == "content-type";
        let value = match value {
            Value::String(s) => s.clone(),
            Value::Number(_) | Value::Bool(_) => value.to_string(),
            other => {
                return Err(bad(format!(
                    "the header '{name}' must be a string, got {other}"
                )))
            }
        };
        request = request.header(name.as_str(), value);
    }

    let transform = params.transform.clone().unwrap_or_default();
    if let Some(body) = &params.request_body {
        let (content_type, bytes) = match transform.request_body_encoding {
            BodyEncoding::UrlEncoded => {
                let Value::Object(fields) = body else {
                    return Err(bad(format!(
                        "a URL_ENCODED RequestBody must be an object, got {body}"
                    )));
                };
                let format = transform
                    .request_encoding_options
                    .map(|o| o.array_format)
                    .unwrap_or_default();
                (
                    "application/x-www-form-urlencoded",
                    url_encode(fields, format).into_bytes(),
                )
            }
            BodyEncoding::None => match body {
                Value::String(s) => ("text/plain; charset=utf-8", s.clone().into_bytes()),
                other => ("application/json", other.to_string().into_bytes()),
            },
        };
        if !has_content_type {
            request = request.header("content-type", content_type);
        }
        request = request.body(bytes);
    }

    // Configured credentials replace what the task says; the key is always Cairn's.
    if let Some(auth) = auth {
        if let Some(token) = &auth.bearer_token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in &auth.headers {
            request = request.header(name.as_str(), value.as_str());
        }
    }
    request = request.header(IDEMPOTENCY_HEADER, idempotency_key);
    request = crate::transport::with_trace_headers(request);

    if let Some(recording) = recording.as_deref_mut() {
        let mut secret: Vec<String> = Vec::new();
        if let Some(auth) = auth {
            if auth.bearer_token.is_some() {
                secret.push("authorization".to_string());
            }
            secret.extend(auth.headers.keys().map(|name| name.to_ascii_lowercase()));
        }
        if let Some(built) = request.try_clone().and_then(|r| r.build().ok()) {
            recording.trace = Some(HttpTrace {
                request: request_trace(&built, &secret, recording.reveal_secrets),
                response: None,
            });
        }
    }
    let fetched = fetch(request, url.as_str(), config.max_response_bytes).await?;
    if let Some(trace) = recording.and_then(|r| r.trace.as_mut()) {
        trace.response = Some(HttpResponseTrace {
            protocol: url.scheme().to_string(),
            status_code: fetched.status.as_u16().to_string(),
            status_message: fetched.status.canonical_reason().unwrap_or("").to_string(),
            headers: headers_text(fetched.headers.iter().map(|(name, value)| {
                (
                    name.as_str(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })),
            body: fetched.text(),
        });
    }

    let mut headers = Map::new();
    for name in fetched.headers.keys() {
        let values = fetched
            .headers
            .get_all(name)
            .iter()
            .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        headers.insert(name.to_string(), Value::Array(values));
    }
    let is_json = fetched
        .header("content-type")
        .is_some_and(|t| t.to_ascii_lowercase().contains("json"));
    let text = fetched.text();
    let response_body = if is_json {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    } else {
        Value::String(text)
    };
    let status = fetched.status;
    let mut result = Map::new();
    result.insert("Headers".into(), Value::Object(headers));
    result.insert("ResponseBody".into(), response_body);
    result.insert("StatusCode".into(), Value::from(status.as_u16()));
    result.insert(
        "StatusText".into(),
        Value::String(status.canonical_reason().unwrap_or("").to_string()),
    );
    let result = Value::Object(result);
    if status.is_success() {
        Ok(result)
    } else {
        Err(InvokeError::named(
            format!("States.Http.StatusCode.{}", status.as_u16()),
            result.to_string(),
        ))
    }
}

/// A request as TestState shows it; the values of `secret` headers are redacted unless
/// `reveal`.
fn request_trace(request: &reqwest::Request, secret: &[String], reveal: bool) -> HttpRequestTrace {
    let headers = request.headers().iter().map(|(name, value)| {
        let shown = if !reveal && secret.iter().any(|s| s == name.as_str()) {
            "[REDACTED]".to_string()
        } else {
            String::from_utf8_lossy(value.as_bytes()).into_owned()
        };
        (name.as_str(), shown)
    });
    HttpRequestTrace {
        protocol: request.url().scheme().to_string(),
        method: request.method().to_string(),
        url: request.url().to_string(),
        headers: headers_text(headers),
        body: request
            .body()
            .and_then(reqwest::Body::as_bytes)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default(),
    }
}

/// Headers as one line, `[Name: value, Name: value]`.
fn headers_text<'a>(headers: impl Iterator<Item = (&'a str, String)>) -> String {
    let listed: Vec<String> = headers
        .map(|(name, value)| format!("{name}: {value}"))
        .collect();
    format!("[{}]", listed.join(", "))
}

/// The credentials a request gets: its connection's, which must be configured, or those
/// of the first endpoint rule covering the URL, or none.
fn authentication<'c>(
    config: &'c TargetConfig,
    params: &Parameters,
    url: &Url,
) -> Result<Option<&'c HttpAuth>, InvokeError> {
    let arns: Vec<&str> = [&params.authentication, &params.invocation_config]
        .into_iter()
        .flatten()
        .map(|c| c.connection_arn.as_str())
        .collect();
    if let [first, rest @ ..] = arns.as_slice() {
        if rest.iter().any(|arn| arn != first) {
            return Err(InvokeError::BadParameters(format!(
                "http:invoke: Authentication.ConnectionArn and InvocationConfig.ConnectionArn name different connections ({})",
                arns.join(", ")
            )));
        }
        return config.http.connections.get(*first).map(Some).ok_or_else(|| {
            InvokeError::BadParameters(format!(
                "http:invoke: connection '{first}' is not configured. Cairn does not read EventBridge connections: name the connection under http.connections in the worker configuration with the credentials it stands for, or drop ConnectionArn and configure credentials for the endpoint under http.endpoints"
            ))
        });
    }
    Ok(config
        .http
        .endpoints
        .iter()
        .find(|rule| rule.covers(url))
        .map(|rule| &rule.auth))
}

fn query_scalar(key: &str, value: &Value) -> Result<String, InvokeError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Null => Ok(String::new()),
        Value::Number(_) | Value::Bool(_) => Ok(value.to_string()),
        other => Err(InvokeError::BadParameters(format!(
            "http:invoke: the query parameter '{key}' must be a string, a number, a boolean or an array of them, got {other}"
        ))),
    }
}

/// `application/x-www-form-urlencoded` for a JSON object: nested objects as `a[b]=…`,
/// arrays as `format` says.
pub(crate) fn url_encode(fields: &Map<String, Value>, format: ArrayFormat) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in fields {
        encode_value(&mut out, key, value, format);
    }
    out.finish()
}

fn encode_value(
    out: &mut url::form_urlencoded::Serializer<'_, String>,
    key: &str,
    value: &Value,
    format: ArrayFormat,
) {
    match value {
        Value::Object(fields) => {
            for (inner, v) in fields {
                encode_value(out, &format!("{key}[{inner}]"), v, format);
            }
        }
        Value::Array(items) => match format {
            ArrayFormat::Indices => {
                for (i, item) in items.iter().enumerate() {
                    encode_value(out, &format!("{key}[{i}]"), item, format);
                }
            }
            ArrayFormat::Brackets => {
                for item in items {
                    encode_value(out, &format!("{key}[]"), item, format);
                }
            }
            ArrayFormat::Repeat => {
                for item in items {
                    encode_value(out, key, item, format);
                }
            }
            ArrayFormat::Commas => {
                let joined: Vec<String> = items.iter().map(scalar_text).collect();
                out.append_pair(key, &joined.join(","));
            }
        },
        scalar => {
            out.append_pair(key, &scalar_text(scalar));
        }
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_traced_request_hides_configured_credentials_unless_revealed() {
        let client = crate::transport::client(std::time::Duration::from_secs(1)).expect("a client");
        let request = client
            .post("http://127.0.0.1:9/orders?x=1")
            .header("authorization", "Bearer secret-token")
            .header("x-api-key", "key-123")
            .header("x-order", "42")
            .body("{\"n\":1}")
            .build()
            .expect("a request");
        let secret = ["authorization".to_string(), "x-api-key".to_string()];
        let hidden = request_trace(&request, &secret, false);
        assert_eq!(hidden.method, "POST");
        assert_eq!(hidden.url, "http://127.0.0.1:9/orders?x=1");
        assert_eq!(hidden.protocol, "http");
        assert_eq!(hidden.body, "{\"n\":1}");
        assert_eq!(
            hidden.headers,
            "[authorization: [REDACTED], x-api-key: [REDACTED], x-order: 42]"
        );
        let shown = request_trace(&request, &secret, true);
        assert!(shown.headers.contains("authorization: Bearer secret-token"));
        assert!(shown.headers.contains("x-api-key: key-123"));
    }

    fn encode(v: Value, format: ArrayFormat) -> String {
        let Value::Object(fields) = v else {
            panic!("an object")
        };
        url_encode(&fields, format)
    }

    #[test]
    fn url_encoding_follows_the_array_format() {
        let body = json!({"a": ["x", "y z"], "n": 1, "o": {"k": true}, "e": null});
        assert_eq!(
            encode(body.clone(), ArrayFormat::Indices),
            "a%5B0%5D=x&a%5B1%5D=y+z&n=1&o%5Bk%5D=true&e="
        );
        assert_eq!(
            encode(body.clone(), ArrayFormat::Repeat),
            "a=x&a=y+z&n=1&o%5Bk%5D=true&e="
        );
        assert_eq!(
            encode(body.clone(), ArrayFormat::Commas),
            "a=x%2Cy+z&n=1&o%5Bk%5D=true&e="
        );
        assert_eq!(
            encode(body, ArrayFormat::Brackets),
            "a%5B%5D=x&a%5B%5D=y+z&n=1&o%5Bk%5D=true&e="
        );
    }

    #[test]
    fn parameters_parse_with_aws_names() {
        let p: Parameters = serde_json::from_value(json!({
            "ApiEndpoint": "https://example.com",
            "Method": "POST",
            "Transform": {
                "RequestBodyEncoding": "URL_ENCODED",
                "RequestEncodingOptions": {"ArrayFormat": "BRACKETS"}
            },
            "Authentication": {"ConnectionArn": "arn:aws:events:us-east-1:1:connection/x/y"}
        }))
        .expect("valid");
        let t = p.transform.expect("transform");
        assert_eq!(t.request_body_encoding, BodyEncoding::UrlEncoded);
        assert_eq!(
            t.request_encoding_options.map(|o| o.array_format),
            Some(ArrayFormat::Brackets)
        );
        assert!(serde_json::from_value::<Parameters>(json!({"ApiEndpoint": "x"})).is_err());
    }
}
