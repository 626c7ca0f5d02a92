//! The operator's configuration of Task targets: one typed struct, read once at start.
//!
//! Every field has a default, so an empty document (`{}` in JSON, nothing in TOML) is a
//! valid configuration that reaches the real Lambda API in `us-east-1`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

/// How Task targets are reached.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TargetConfig {
    /// The AWS region used for Lambda functions named without a full ARN, for the default
    /// Lambda endpoint (`https://lambda.{region}.amazonaws.com`) and for SigV4 signing.
    /// Default `us-east-1`. A function given as a full ARN is invoked in the ARN's region.
    pub region: String,

    /// The account used to complete partial function ARNs in what Cairn reports.
    /// Default `123456789012`.
    pub account: String,

    /// Lambda function NAME → plain URL. A function found here is not sent to the Lambda
    /// API: its payload is POSTed as JSON to the URL instead (an ordinary web service
    /// can play a Lambda function). A key may also carry a qualifier (`name:prod`); it is
    /// tried before the bare name. Takes precedence over the Lambda API.
    pub functions: BTreeMap<String, Url>,

    /// The Lambda API endpoint. When absent, `AWS_ENDPOINT_URL_LAMBDA`, then
    /// `AWS_ENDPOINT_URL`, then `https://lambda.{region}.amazonaws.com` (read once, when
    /// [`crate::Targets::from_env`] builds the targets).
    pub lambda_endpoint: Option<Url>,

    /// Address S3 buckets path-style whatever the endpoint (a Distributed Map's
    /// `ItemReader`; see [`crate::s3::S3Config::force_path_style`]). Default false.
    pub s3_force_path_style: bool,

    /// How long one invocation may take when the Task state sets no `TimeoutSeconds`,
    /// per kind of target. The state's own `TimeoutSeconds` always wins.
    pub timeouts: DefaultTimeouts,

    /// Seconds allowed to open a TCP (and TLS) connection. Default 10.
    pub connect_timeout_seconds: u64,

    /// The largest response body accepted from any target, in bytes; a larger one fails
    /// the task with `States.DataLimitExceeded`. Default 262,144 (256 KiB, the Step
    /// Functions payload limit).
    pub max_response_bytes: usize,

    /// Authentication for `arn:aws:states:::http:invoke`, which Cairn configures here
    /// instead of with EventBridge connections.
    pub http: HttpTaskConfig,
}

impl Default for TargetConfig {
    fn default() -> Self {
        TargetConfig {
            region: "us-east-1".to_string(),
            account: "123456789012".to_string(),
            functions: BTreeMap::new(),
            lambda_endpoint: None,
            s3_force_path_style: false,
            timeouts: DefaultTimeouts::default(),
            connect_timeout_seconds: 10,
            max_response_bytes: 256 * 1024,
            http: HttpTaskConfig::default(),
        }
    }
}

/// Default time limits of one invocation, in seconds, per kind of target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DefaultTimeouts {
    /// A function mapped to a URL in [`TargetConfig::functions`]. Default 900 (Lambda's
    /// own maximum run time).
    pub function_url_seconds: u64,
    /// A call of the Lambda Invoke API. Default 900.
    pub lambda_seconds: u64,
    /// An `http:invoke` request. Default 60, AWS's limit for the HTTP Task.
    pub http_seconds: u64,
    /// A call of an AWS service integration (SQS, SNS, DynamoDB, EventBridge). Default 60.
    pub service_seconds: u64,
}

impl Default for DefaultTimeouts {
    fn default() -> Self {
        DefaultTimeouts {
            function_url_seconds: 900,
            lambda_seconds: 900,
            http_seconds: 60,
            service_seconds: 60,
        }
    }
}

/// Authentication for the HTTP Task.
///
/// AWS's HTTP Task takes its credentials from an EventBridge connection
/// (`Authentication.ConnectionArn` or `InvocationConfig.ConnectionArn`). Cairn has no
/// EventBridge: a connection ARN must be named in [`HttpTaskConfig::connections`], and
/// credentials for endpoints called without one are given by URL prefix in
/// [`HttpTaskConfig::endpoints`]. Credentials are never sent to an endpoint the operator
/// did not name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpTaskConfig {
    /// Connection ARN → the authentication it stands for. A task naming a connection
    /// that is not here fails with `States.TaskFailed` before any request is sent.
    pub connections: BTreeMap<String, HttpAuth>,
    /// Authentication by endpoint, for tasks without a connection ARN: the first rule
    /// whose `url_prefix` matches the `ApiEndpoint` (same scheme, host and port, and a
    /// path that starts with the prefix's path at a `/` boundary) applies.
    pub endpoints: Vec<EndpointAuth>,
}

/// Headers added to every request that an [`EndpointAuth`] rule or a connection covers.
/// Its `Debug` shows header names only, never the token or values.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpAuth {
    /// Sent as `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
    /// Static headers (an API key header, for example). They replace a header of the
    /// same name given in the task's `Headers`.
    pub headers: BTreeMap<String, String>,
}

impl std::fmt::Debug for HttpAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpAuth")
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "<redacted>"),
            )
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Authentication for every `ApiEndpoint` under one URL prefix.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointAuth {
    /// For example `https://api.example.com/v1`.
    pub url_prefix: Url,
    /// What to add to requests under the prefix.
    #[serde(flatten)]
    pub auth: HttpAuth,
}

impl EndpointAuth {
    /// Whether `url` lies under this rule's prefix. Scheme, host and port must be equal;
    /// the path must equal the prefix's path or continue it after a `/`, so that
    /// `https://api.example.com/v1` covers `/v1/users` but not `/v10`, and never
    /// `https://api.example.com.attacker.test`.
    pub fn covers(&self, url: &Url) -> bool {
        let prefix = &self.url_prefix;
        if prefix.scheme() != url.scheme()
            || prefix.host_str() != url.host_str()
            || prefix.port_or_known_default() != url.port_or_known_default()
        {
            return false;
        }
        let base = prefix.path().trim_end_matches('/');
        let path = url.path();
        match path.strip_prefix(base) {
            Some(rest) => rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }
}

impl TargetConfig {
    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(prefix: &str) -> EndpointAuth {
        EndpointAuth {
            url_prefix: Url::parse(prefix).expect("test URL"),
            auth: HttpAuth::default(),
        }
    }

    fn url(s: &str) -> Url {
        Url::parse(s).expect("test URL")
    }

    #[test]
    fn empty_document_gives_the_defaults() {
        let config: TargetConfig = serde_json::from_str("{}").expect("valid");
        assert_eq!(config, TargetConfig::default());
        assert_eq!(config.region, "us-east-1");
        assert_eq!(config.account, "123456789012");
        assert_eq!(config.max_response_bytes, 262_144);
        assert_eq!(config.timeouts.http_seconds, 60);
    }

    #[test]
    fn full_document_parses() {
        let config: TargetConfig = serde_json::from_value(serde_json::json!({
            "region": "eu-west-1",
            "functions": {"hello": "http://127.0.0.1:9000/hello"},
            "timeouts": {"lambda_seconds": 30},
            "max_response_bytes": 1024,
            "http": {
                "connections": {"arn:aws:events:eu-west-1:1:connection/c/x": {"bearer_token": "t"}},
                "endpoints": [{"url_prefix": "https://api.example.com/v1", "headers": {"x-api-key": "k"}}]
            }
        }))
        .expect("valid");
        assert_eq!(config.region, "eu-west-1");
        assert_eq!(config.timeouts.lambda_seconds, 30);
        assert_eq!(config.timeouts.http_seconds, 60);
        assert_eq!(config.http.endpoints[0].auth.headers["x-api-key"], "k");
    }

    #[test]
    fn debug_output_hides_secrets() {
        let auth = HttpAuth {
            bearer_token: Some("t0ken".into()),
            headers: [("x-api-key".to_string(), "k3y".to_string())].into(),
        };
        let shown = format!("{auth:?}");
        assert!(
            !shown.contains("t0ken") && !shown.contains("k3y"),
            "{shown}"
        );
        assert!(shown.contains("x-api-key"), "{shown}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<TargetConfig>(r#"{"regoin": "x"}"#);
        assert!(err.is_err());
    }

    #[test]
    fn prefix_rules_match_at_segment_boundaries_only() {
        let r = rule("https://api.example.com/v1");
        assert!(r.covers(&url("https://api.example.com/v1")));
        assert!(r.covers(&url("https://api.example.com/v1/users?x=1")));
        assert!(r.covers(&url("https://api.example.com:443/v1/users")));
        assert!(!r.covers(&url("https://api.example.com/v10")));
        assert!(!r.covers(&url("http://api.example.com/v1")));
        assert!(!r.covers(&url("https://api.example.com.attacker.test/v1")));
        assert!(!r.covers(&url("https://api.example.com:8443/v1")));
        let root = rule("https://api.example.com/");
        assert!(root.covers(&url("https://api.example.com/anything")));
    }
}
