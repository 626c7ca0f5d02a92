//! [`Targets`]: everything needed to invoke a Task's resource, built once at start.

use std::time::Duration;

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::provider_config::ProviderConfig;
use aws_config::Region;
use cairn_asl::task::TaskOutcome;
use serde_json::Value;
use tracing::Instrument;
use url::Url;

use crate::aws::endpoint::{service_endpoint, AwsService, ServiceEndpoints};
use crate::config::TargetConfig;
use crate::error::InvokeError;
use crate::invocation::Invocation;
use crate::lambda::{self, LambdaApi, LambdaCall};
use crate::resource::Target;
use crate::services::{ServiceAction, Services};
use crate::transport;

/// Why [`Targets`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// reqwest refused its configuration.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// An endpoint variable (`AWS_ENDPOINT_URL_LAMBDA`, `AWS_ENDPOINT_URL_SQS`, …,
    /// `AWS_ENDPOINT_URL`) holds something other than a URL.
    #[error("{variable} is not a URL ('{value}'): {reason}")]
    Endpoint {
        variable: &'static str,
        value: String,
        reason: String,
    },
}

/// The standard AWS credential chain (environment variables, the shared config and
/// credentials files with `AWS_PROFILE`, web identity as on EKS, ECS container
/// credentials, EC2 instance metadata), whose own HTTP calls go through `client`.
pub(crate) async fn default_credentials(
    client: &reqwest::Client,
    region: &str,
) -> DefaultCredentialsChain {
    let region = Region::new(region.to_string());
    let provider_config = ProviderConfig::without_region()
        .with_region(Some(region.clone()))
        .with_http_client(transport::aws::ReqwestHttpClient {
            client: client.clone(),
        });
    DefaultCredentialsChain::builder()
        .configure(provider_config)
        .region(region)
        .build()
        .await
}

/// Invokes the resources of Task states: one shared HTTP client (rustls), the Lambda API
/// and its credentials, the service integrations' endpoints (signed with the same
/// credentials), the operator's configuration. Cheap to share behind an `Arc`; `invoke`
/// takes `&self` and may run many invocations at once.
#[derive(Debug)]
pub struct Targets {
    config: TargetConfig,
    client: reqwest::Client,
    lambda: LambdaApi,
    services: Services,
    /// The mock configuration's test cases (`CAIRN_MOCK_CONFIG`): the states they mock
    /// are answered without invoking anything (see [`crate::mocked`]).
    mocks: Option<std::sync::Arc<cairn_asl::mock_config::MockConfig>>,
    /// S3, where a Distributed Map's `ItemReader` reads its items; `None` until
    /// [`Targets::with_s3`] (which [`Targets::from_env`] calls).
    s3: Option<crate::s3::S3Client>,
}

/// The Lambda endpoint the environment asks for: the configuration's
/// `lambda_endpoint`, else `AWS_ENDPOINT_URL_LAMBDA`, else `AWS_ENDPOINT_URL`; `None`
/// means AWS's regional endpoint. `env` reads a variable (`std::env::var` in production).
/// [`service_endpoint`] does the same for every service.
pub fn lambda_endpoint(
    config: &TargetConfig,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Url>, BuildError> {
    service_endpoint(AwsService::Lambda, config.lambda_endpoint.as_ref(), env)
}

impl Targets {
    /// Production set-up: the Lambda endpoint from [`lambda_endpoint`], the service
    /// integrations' from [`ServiceEndpoints::from_env`], and credentials
    /// from the standard AWS chain (environment variables, the shared config and
    /// credentials files with `AWS_PROFILE`, web identity as on EKS, ECS container
    /// credentials, EC2 instance metadata), whose own HTTP calls go through the same
    /// client. Reads the environment once, here.
    pub async fn from_env(config: TargetConfig) -> Result<Targets, BuildError> {
        let client = transport::client(config.connect_timeout()).map_err(BuildError::Client)?;
        let env = |name: &str| std::env::var(name).ok();
        let endpoint = lambda_endpoint(&config, env)?;
        let service_endpoints = ServiceEndpoints::from_env(env)?;
        let chain = default_credentials(&client, &config.region).await;
        let s3 = crate::s3::S3Client::from_env(crate::s3::S3Config {
            region: config.region.clone(),
            force_path_style: config.s3_force_path_style,
            ..crate::s3::S3Config::default()
        })
        .await?;
        Ok(Targets::new(config, LambdaApi::new(endpoint, chain))?
            .with_service_endpoints(service_endpoints)
            .with_s3(s3))
    }

    /// Targets with an explicit Lambda API (endpoint and credentials provider): for tests
    /// and for embedders that manage credentials themselves. Reads no environment. The
    /// service integrations sign with the Lambda API's credentials and call AWS's
    /// regional endpoints until [`Targets::with_service_endpoints`] says otherwise.
    pub fn new(config: TargetConfig, lambda: LambdaApi) -> Result<Targets, BuildError> {
        let client = transport::client(config.connect_timeout()).map_err(BuildError::Client)?;
        let services = Services {
            endpoints: ServiceEndpoints::default(),
            signer: lambda.signer().clone(),
        };
        Ok(Targets {
            config,
            client,
            lambda,
            services,
            mocks: None,
            s3: None,
        })
    }

    /// The same targets, reading Distributed Maps' items from `s3`.
    pub fn with_s3(mut self, s3: crate::s3::S3Client) -> Targets {
        self.s3 = Some(s3);
        self
    }

    /// The same targets with the service integrations at `endpoints`.
    pub fn with_service_endpoints(mut self, endpoints: ServiceEndpoints) -> Targets {
        self.services.endpoints = endpoints;
        self
    }

    /// The same targets, with the test cases of `mocks` (executions started under one
    /// have their mocked states answered by it).
    pub fn with_mock_config(
        mut self,
        mocks: std::sync::Arc<cairn_asl::mock_config::MockConfig>,
    ) -> Targets {
        self.mocks = Some(mocks);
        self
    }

    /// The mock configuration, when one is loaded.
    pub fn mock_config(&self) -> Option<&cairn_asl::mock_config::MockConfig> {
        self.mocks.as_deref()
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
        let result = self
            .dispatch(invocation, None)
            .instrument(span.clone())
            .await;
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

    /// The S3 client a Distributed Map's item reader and result writer use, if any.
    pub fn s3(&self) -> Option<&crate::s3::S3Client> {
        self.s3.as_ref()
    }

    /// Invokes one attempt as TestState does: like [`Targets::invoke`], and an HTTP
    /// Task's exchange recorded in `recording` (only an HTTP Task fills it).
    pub async fn invoke_recorded(
        &self,
        invocation: &Invocation,
        recording: &mut crate::http_task::Recording,
    ) -> TaskOutcome {
        match self.dispatch(invocation, Some(recording)).await {
            Ok(output) => TaskOutcome::Succeeded(output),
            Err(error) => error.into_outcome(),
        }
    }

    async fn dispatch(
        &self,
        invocation: &Invocation,
        recording: Option<&mut crate::http_task::Recording>,
    ) -> Result<Value, InvokeError> {
        // A Map's item read streams a whole object or listing: no per-call time limit
        // (each S3 request has the client's own), the lease keeps it alive.
        //
        // The integrations other than Lambda are boxed: a future is as large as the largest
        // it may await, and every invocation's future is moved while it is spawned, so the
        // service calls' large ones would make each Lambda call's future as large.
        if invocation.resource == cairn_asl::interpreter::READ_ITEMS_RESOURCE {
            return Box::pin(crate::s3::items::read_items(
                self.s3.as_ref(),
                &invocation.input,
            ))
            .await;
        }
        // A Map Run's export streams every result to S3: no per-call limit either.
        if invocation.resource == cairn_asl::distributed::results::WRITE_RESULTS_RESOURCE {
            return Box::pin(crate::s3::results::write_results(
                self.s3.as_ref(),
                &invocation.input,
            ))
            .await;
        }
        let route = match Target::parse(&invocation.resource)? {
            Target::LambdaFunction(function) => {
                self.lambda_route(LambdaCall::from_function_arn(function, &invocation.input))
            }
            Target::LambdaInvoke => {
                self.lambda_route(LambdaCall::from_parameters(&invocation.input)?)
            }
            Target::HttpInvoke => Route::Http,
            Target::Service(action) => Route::Service(action),
        };
        let timeouts = &self.config.timeouts;
        let seconds = invocation.timeout_seconds.unwrap_or(match &route {
            Route::FunctionUrl(..) => timeouts.function_url_seconds,
            Route::LambdaApi(_) => timeouts.lambda_seconds,
            Route::Http => timeouts.http_seconds,
            Route::Service(_) => timeouts.service_seconds,
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
                    Box::pin(crate::http_task::invoke(
                        &self.client,
                        &self.config,
                        &invocation.input,
                        &key,
                        recording,
                    ))
                    .await
                }
                Route::Service(action) => {
                    Box::pin(
                        self.services
                            .call(&self.client, &self.config, *action, invocation),
                    )
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
    Service(ServiceAction),
}

impl Targets {
    /// Sends `body` to the SQS queue `queue_arn` through the SQS integration's SendMessage
    /// (an EventBridge dead-letter queue), with `attributes` as string message attributes.
    /// The queue's URL is the SQS endpoint, the account and the name, as SQS forms it.
    pub async fn send_to_queue(
        &self,
        queue_arn: &str,
        body: &str,
        attributes: &[(&str, String)],
    ) -> Result<(), String> {
        let parts: Vec<&str> = queue_arn.split(':').collect();
        let ["arn", partition, "sqs", region, account, name] = parts.as_slice() else {
            return Err(format!("'{queue_arn}' is not an SQS queue's ARN"));
        };
        let base = self
            .services
            .endpoints
            .base(AwsService::Sqs, region, Some(partition));
        let mut message_attributes = serde_json::Map::new();
        for (key, value) in attributes {
            message_attributes.insert(
                key.to_string(),
                serde_json::json!({"DataType": "String", "StringValue": value}),
            );
        }
        let invocation = Invocation {
            execution_arn: String::new(),
            state_name: "DeadLetterQueue".to_string(),
            task_id: 0,
            attempt: 0,
            resource: "arn:aws:states:::sqs:sendMessage".to_string(),
            input: serde_json::json!({
                "QueueUrl": format!("{base}/{account}/{name}"),
                "MessageBody": body,
                "MessageAttributes": message_attributes,
            }),
            timeout_seconds: Some(30),
        };
        match self.invoke(&invocation).await {
            TaskOutcome::Succeeded(_) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    }
}
