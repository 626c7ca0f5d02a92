//! Invoking the resources of Task states.
//!
//! The lease loop (in the store/scheduler side of Cairn) hands each leased task to
//! [`Targets::invoke`] as an [`Invocation`] and records the [`TaskOutcome`] it returns.
//! This crate knows nothing of Postgres: it turns one attempt into HTTP and the answer
//! into an outcome with the error names AWS uses.
//!
//! | resource | what happens |
//! |---|---|
//! | `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]` | the input is POSTed to the function's configured URL, or sent to the Lambda Invoke API (SigV4); the result is the function's payload |
//! | `arn:aws:states:::lambda:invoke` | the same for `FunctionName`/`Payload`/`Qualifier`/`InvocationType`; the result is the Invoke response (`ExecutedVersion`, `Payload`, `SdkHttpMetadata`, `SdkResponseMetadata`, `StatusCode`) |
//! | `arn:aws:states:::http:invoke` | AWS's HTTP Task, with credentials from the configuration instead of EventBridge connections |
//! | `arn:aws:states:::sqs:sendMessage`, `sns:publish`, `dynamodb:getItem`/`putItem`/`updateItem`/`deleteItem`, `events:putEvents` | the AWS API (SigV4, the same credentials as Lambda; endpoints from `AWS_ENDPOINT_URL_<SERVICE>`), with Step Functions' request and result shapes and error names (see `services`) |
//! | `arn:aws:states:::lambda:invoke.waitForTaskToken`, `…http:invoke.waitForTaskToken`, `…sqs:sendMessage.waitForTaskToken`, `…sns:publish.waitForTaskToken`, `…events:putEvents.waitForTaskToken` | the same invocation; its answer is recorded as `TaskSubmitted` and the task waits for `SendTaskSuccess`/`SendTaskFailure` |
//! | anything else | `States.TaskFailed`, "resource not supported" |
//!
//! Every request to a function URL, the Lambda API or an HTTP Task carries
//! [`IDEMPOTENCY_HEADER`] (`X-Cairn-Idempotency-Key`) with
//! `<execution ARN>/<state name>/<attempt>`: delivery is at-least-once. Requests to the
//! other AWS APIs do not (see `aws`).
//!
//! [`express`] runs a whole Express execution in memory with these same invocations.
//!
//! TLS is rustls; the binary should install its one crypto provider in `main`
//! (`rustls::crypto::ring::default_provider().install_default()`); if none is installed
//! when [`Targets`] is built, ring is installed.

mod aws;
mod callback;
mod config;
mod error;
pub mod eventloop;
pub mod express;
pub mod express_runs;
mod http_task;
mod invocation;
mod lambda;
pub(crate) mod mocked;
mod resource;
pub mod runner;
pub mod s3;
mod services;
mod targets;
mod transport;

pub use aws::endpoint::{service_endpoint, AwsService, ServiceEndpoints};
pub use aws_credential_types::Credentials;
pub use cairn_asl::task::TaskOutcome;
pub use config::{DefaultTimeouts, EndpointAuth, HttpAuth, HttpTaskConfig, TargetConfig};
pub use error::InvokeError;
pub use http_task::Recording;
pub use invocation::{Invocation, IDEMPOTENCY_HEADER};
pub use lambda::LambdaApi;
pub use targets::{lambda_endpoint, BuildError, Targets};
