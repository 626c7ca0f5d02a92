//! The one HTTP client every target shares, and reading responses within the limit.

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use crate::error::InvokeError;

/// Builds the shared client: rustls with the process's crypto provider, no proxy from the
/// environment, the configured connect timeout, and redirects followed only within the
/// first URL's origin (scheme, host, port), at most 10: configured credentials and
/// headers are never carried to another host. A redirect elsewhere is returned as the
/// 3xx response it is. When no rustls provider is installed yet (the binary's `main`
/// installs one), ring is installed as the process default.
pub(crate) fn client(connect_timeout: std::time::Duration) -> Result<reqwest::Client, String> {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another thread that installed one is fine: there is one.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .user_agent(concat!("cairn-worker/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let same_origin = attempt
                .previous()
                .first()
                .is_some_and(|first| first.origin() == attempt.url().origin());
            if attempt.previous().len() > 10 {
                attempt.error("too many redirects")
            } else if same_origin {
                attempt.follow()
            } else {
                attempt.stop()
            }
        }))
        .build()
        .map_err(|e| describe(&e))
}

/// A response read in full.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Fetched {
    /// The body as text, invalid UTF-8 replaced.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends `request` and reads the body, refusing more than `limit` bytes without
/// buffering them: a `Content-Length` over the limit is refused before reading, and a
/// streamed body is cut off as soon as it passes the limit.
pub(crate) async fn fetch(
    request: reqwest::RequestBuilder,
    url: &str,
    limit: usize,
) -> Result<Fetched, InvokeError> {
    let mut response = request.send().await.map_err(|e| transport(url, &e))?;
    let too_big = || InvokeError::DataLimitExceeded {
        url: url.to_string(),
        limit,
    };
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(too_big());
    }
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport(url, &e))? {
        if body.len() + chunk.len() > limit {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched {
        status,
        headers,
        body: Bytes::from(body),
    })
}

/// A transport failure, with every level of its cause ("connection refused" sits a few
/// sources below reqwest's "error sending request").
pub(crate) fn transport(url: &str, error: &reqwest::Error) -> InvokeError {
    InvokeError::Transport {
        url: url.to_string(),
        reason: describe(error),
    }
}

pub(crate) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let more = inner.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = inner.source();
    }
    text
}

/// Lets the AWS credential providers that make HTTP calls of their own (web identity
/// through STS, the container and instance metadata endpoints) use the shared reqwest
/// client, so the build has one HTTP stack and one TLS crypto provider.
pub(crate) mod aws {
    use super::*;
    use aws_smithy_runtime_api::client::http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
    };
    use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
    use aws_smithy_types::body::SdkBody;

    /// Credential responses are small; this only guards against a broken endpoint.
    const CREDENTIALS_RESPONSE_LIMIT: usize = 1024 * 1024;

    #[derive(Debug, Clone)]
    pub(crate) struct ReqwestHttpClient {
        pub client: reqwest::Client,
    }

    impl HttpClient for ReqwestHttpClient {
        fn http_connector(
            &self,
            settings: &HttpConnectorSettings,
            _components: &RuntimeComponents,
        ) -> SharedHttpConnector {
            SharedHttpConnector::new(Connector {
                client: self.client.clone(),
                read_timeout: settings.read_timeout(),
            })
        }
    }

    #[derive(Debug)]
    struct Connector {
        client: reqwest::Client,
        read_timeout: Option<std::time::Duration>,
    }

    impl HttpConnector for Connector {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            let client = self.client.clone();
            let read_timeout = self.read_timeout;
            HttpConnectorFuture::new(async move {
                let method = reqwest::Method::from_bytes(request.method().as_bytes())
                    .map_err(|e| ConnectorError::user(Box::new(e)))?;
                let url = request.uri().to_string();
                let mut builder = client.request(method, &url);
                for (name, value) in request.headers().iter() {
                    builder = builder.header(name, value);
                }
                let body = request.body().bytes().ok_or_else(|| {
                    ConnectorError::user("streaming request bodies are not supported".into())
                })?;
                builder = builder.body(body.to_vec());
                if let Some(timeout) = read_timeout {
                    builder = builder.timeout(timeout);
                }
                let fetched = fetch(builder, &url, CREDENTIALS_RESPONSE_LIMIT)
                    .await
                    .map_err(|e| ConnectorError::io(Box::new(e)))?;
                let mut response = http::Response::new(SdkBody::from(fetched.body));
                *response.status_mut() = fetched.status;
                *response.headers_mut() = fetched.headers;
                aws_smithy_runtime_api::http::Response::try_from(response)
                    .map_err(|e| ConnectorError::other(Box::new(e), None))
            })
        }
    }
}

/// Adds the W3C `traceparent` (and `tracestate`) of the current span — the task
/// attempt's — so the target's own spans join the execution's trace. Adds nothing when
/// tracing is off.
pub(crate) fn with_trace_headers(mut request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    for (name, value) in cairn_telemetry::trace::inject() {
        request = request.header(name, value);
    }
    request
}
