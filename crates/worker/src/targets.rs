//! [`Targets`]: everything needed to invoke a Task's resource, built once at start.

use std::time::Duration;

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::provider_config::ProviderConfig;
use aws_config::Region;
use cairn_asl::driver::TaskOutcome;
use serde_json::Value;
use tracing::Instrument;
use url::Url;

use crate::config::TargetConfig;
use crate::error::InvokeError;
use crate::invocation::Invocation;
use crate::lambda::{self, LambdaApi, LambdaCall};
use crate::resource::Target;
use crate::transport;

/// Why [`Targets`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// reqwest refused its configuration.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// `AWS_ENDPOINT_URL_LAMBDA` or `AWS_ENDPOINT_URL` holds something other than a URL.
    #[error("{variable} is not a URL ('{value}'): {reason}")]
    Endpoint {
        variable: &'static str,
        value: String,
        reason: String,
    },
}

/// Invokes the resources of Task states: one shared HTTP client (rustls), the Lambda API
/// and its credentials, the operator's configuration. Cheap to share behind an `Arc`;
/// `invoke` takes `&self` and may run many invocations at once.
#[derive(Debug)]
pub struct Targets {
    config: TargetConfig,
    client: reqwest::Client,
    lambda: LambdaApi,
}

/// The Lambda endpoint the environment asks for: the configuration's
/// `lambda_endpoint`, else `AWS_ENDPOINT_URL_LAMBDA`, else `AWS_ENDPOINT_URL`; `None`
/// means AWS's regional endpoint. `env` reads a variable (`std::env::var` in production).
pub fn lambda_endpoint(
    config: &TargetConfig,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Url>, BuildError> {
    if let Some(url) = &config.lambda_endpoint {
        return Ok(Some(url.clone()));
    }
    for variable in ["AWS_ENDPOINT_URL_LAMBDA", "AWS_ENDPOINT_URL"] {
        if let Some(value) = env(variable).filter(|v| !v.trim().is_empty()) {
            return Url::parse(value.trim())
                .map(Some)
                .map_err(|e| BuildError::Endpoint {
                    variable,
                    value: value.clone(),
                    reason: e.to_string(),
                });
        }
    }
    Ok(None)
}

impl Targets {
    /// Production set-up: the Lambda endpoint from [`lambda_endpoint`] and credentials
    /// from the standard AWS chain (environment variables, the shared config and
    /// credentials files with `AWS_PROFILE`, web identity as on EKS, ECS container
    /// credentials, EC2 instance metadata), whose own HTTP calls go through the same
    /// client. Reads the environment once, here.
    pub async fn from_env(config: TargetConfig) -> Result<Targets, BuildError> {
        let client = transport::client(config.connect_timeout()).map_err(BuildError::Client)?;
        let endpoint = lambda_endpoint(&config, |name| std::env::var(name).ok())?;
        let region = Region::new(config.region.clone());
        let provider_config = ProviderConfig::without_region()
            .with_region(Some(region.clone()))
            .with_http_client(transport::aws::ReqwestHttpClient {
                client: client.clone(),
            });
        let chain = DefaultCredentialsChain::builder()
            .configure(provider_config)
            .region(region)
            .build()
            .await;
        Ok(Targets {
            config,
            client,
            lambda: LambdaApi::new(endpoint, chain),
        })
    }

    /// Targets with an explicit Lambda API (endpoint and credentials provider): for tests
    /// and for embedders that manage credentials themselves. Reads no environment.
    pub fn new(config: TargetConfig, lambda: LambdaApi) -> Result<Targets, BuildError> {
        let client = transport::client(config.connect_timeout()).map_err(BuildError::Client)?;
        Ok(Targets {
            config,
            client,
            lambda,
        })
    }

    /// The configuration the targets were built from.
    pub fn config(&self) -> &TargetConfig {
        &self.config
    }

    /// Invokes one attempt of a task and says how it ended. Never panics on anything a
    /// target sends; every failure is a [`TaskOutcome::Failed`] with AWS's error name, or
    /// [`TaskOutcome::TimedOut`].
    pub async fn invoke(&self, invocation: &Invocation) -> TaskOutcome {
        match self.try_invoke(invocation).await {
            Ok(output) => TaskOutcome::Succeeded(output),
            Err(error) => error.into_outcome(),
        }
    }

    /// [`Targets::invoke`] with the failure as a typed error.
    pub async fn try_invoke(&self, invocation: &Invocation) -> Result<Value, InvokeError> {
        // The task attempt's span (exported when tracing is on; see
        // `cairn_telemetry::trace`); its parent is the state's span, set by the caller.
        let span = tracing::info_span!(
            "attempt",
            otel.name = %format_args!("{} attempt {}", invocation.state_name, invocation.attempt),
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            otel.status_description = tracing::field::Empty,
            cairn.execution.arn = %invocation.execution_arn,
            cairn.state.name = %invocation.state_name,
            cairn.task.attempt = invocation.attempt,
            cairn.task.resource = %invocation.resource,
            cairn.task.status = tracing::field::Empty,
            error.type = tracing::field::Empty,
            cairn.error.cause = tracing::field::Empty,
        );
        let result = self.dispatch(invocation).instrument(span.clone()).await;
        match &result {
            Ok(_) => {
                span.record("cairn.task.status", "SUCCEEDED");
                span.in_scope(|| tracing::debug!("task succeeded"));
            }
            Err(e) => {
                let status = match e {
                    InvokeError::TimedOut { .. } => "TIMED_OUT",
                    _ => "FAILED",
                };
                let name = e.error_name();
                let cause = e.cause();
                span.record("cairn.task.status", status);
                span.record("error.type", name.to_string());
                span.record("otel.status_code", "ERROR");
                span.record("otel.status_description", name.to_string());
                if let Some(cause) = &cause {
                    span.record("cairn.error.cause", cause.to_string());
                }
                span.in_scope(|| tracing::debug!(error = name, cause = ?cause, "task failed"));
            }
        }
        result
    }

    async fn dispatch(&self, invocation: &Invocation) -> Result<Value, InvokeError> {
        let route = match Target::parse(&invocation.resource)? {
            Target::LambdaFunction(function) => {
                self.lambda_route(LambdaCall::from_function_arn(function, &invocation.input))
            }
            Target::LambdaInvoke => {
                self.lambda_route(LambdaCall::from_parameters(&invocation.input)?)
            }
            Target::HttpInvoke => Route::Http,
        };
        let timeouts = &self.config.timeouts;
        let seconds = invocation.timeout_seconds.unwrap_or(match &route {
            Route::FunctionUrl(..) => timeouts.function_url_seconds,
            Route::LambdaApi(_) => timeouts.lambda_seconds,
            Route::Http => timeouts.http_seconds,
        });
        let key = invocation.idempotency_key();
        let work = async {
            match &route {
                Route::FunctionUrl(url, call) => {
                    lambda::invoke_url(&self.client, &self.config, url, call, &key).await
                }
                Route::LambdaApi(call) => {
                    self.lambda
                        .invoke(&self.client, &self.config, call, &key)
                        .await
                }
                Route::Http => {
                    crate::http_task::invoke(&self.client, &self.config, &invocation.input, &key)
                        .await
                }
            }
        };
        match tokio::time::timeout(Duration::from_secs(seconds), work).await {
            Ok(result) => result,
            Err(_elapsed) => Err(InvokeError::TimedOut {
                target: match &route {
                    Route::FunctionUrl(url, _) => url.to_string(),
                    _ => invocation.resource.clone(),
                },
                seconds,
            }),
        }
    }

    /// A mapped function URL (`name:qualifier`, then `name`) wins over the Lambda API.
    fn lambda_route(&self, call: LambdaCall) -> Route {
        let functions = &self.config.functions;
        let qualified = call
            .qualifier
            .as_ref()
            .and_then(|q| functions.get(&format!("{}:{q}", call.function.name)));
        match qualified.or_else(|| functions.get(&call.function.name)) {
            Some(url) => Route::FunctionUrl(url.clone(), call),
            None => Route::LambdaApi(call),
        }
    }
}

enum Route {
    FunctionUrl(Url, LambdaCall),
    LambdaApi(LambdaCall),
    Http,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_precedence() {
        let config = TargetConfig::default();
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(lambda_endpoint(&config, env(&[])).ok().flatten(), None);
        let both = env(&[
            ("AWS_ENDPOINT_URL", "http://general:1"),
            ("AWS_ENDPOINT_URL_LAMBDA", "http://lambda:2"),
        ]);
        assert_eq!(
            lambda_endpoint(&config, both)
                .ok()
                .flatten()
                .map(String::from),
            Some("http://lambda:2/".to_string())
        );
        let general = env(&[("AWS_ENDPOINT_URL", "http://general:1")]);
        assert_eq!(
            lambda_endpoint(&config, general)
                .ok()
                .flatten()
                .map(String::from),
            Some("http://general:1/".to_string())
        );
        assert!(
            lambda_endpoint(&config, env(&[("AWS_ENDPOINT_URL_LAMBDA", "not a url")])).is_err()
        );
        let configured = TargetConfig {
            lambda_endpoint: Url::parse("http://configured:3").ok(),
            ..TargetConfig::default()
        };
        assert_eq!(
            lambda_endpoint(
                &configured,
                env(&[("AWS_ENDPOINT_URL_LAMBDA", "http://lambda:2")])
            )
            .ok()
            .flatten()
            .map(String::from),
            Some("http://configured:3/".to_string())
        );
    }
}
