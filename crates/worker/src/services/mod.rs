//! AWS's optimized service integrations: `arn:aws:states:::sqs:sendMessage`,
//! `sns:publish`, `dynamodb:getItem`/`putItem`/`updateItem`/`deleteItem` and
//! `events:putEvents`, one module per service, each shaping the request and the result
//! as Step Functions does. `.waitForTaskToken` is accepted where AWS offers it (SQS,
//! SNS, EventBridge); the runner records its answer as `TaskSubmitted`.

mod dynamodb;
mod events;
mod sns;
mod sqs;

use serde_json::{Map, Value};
use url::Url;

use crate::aws::endpoint::{AwsService, ServiceEndpoints};
use crate::aws::errors::service_error;
use crate::aws::request::{send, AwsRequest};
use crate::aws::sigv4::Signer;
use crate::config::TargetConfig;
use crate::error::InvokeError;
use crate::invocation::Invocation;
use crate::transport::Fetched;

/// One action of one service, as a Task's `Resource` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServiceAction {
    SqsSendMessage,
    SnsPublish,
    DynamoDb(dynamodb::Action),
    EventBridgePutEvents,
}

impl ServiceAction {
    /// `service` and `action` as they follow `arn:aws:states:::` (`sqs`,
    /// `sendMessage.waitForTaskToken`); `None` for anything Cairn does not call.
    pub(crate) fn parse(service: &str, action: &str) -> Option<ServiceAction> {
        let (base, callback) = match action.strip_suffix(".waitForTaskToken") {
            Some(base) => (base, true),
            None => (action, false),
        };
        let found = match (service, base) {
            ("sqs", "sendMessage") => ServiceAction::SqsSendMessage,
            ("sns", "publish") => ServiceAction::SnsPublish,
            ("events", "putEvents") => ServiceAction::EventBridgePutEvents,
            ("dynamodb", action) => ServiceAction::DynamoDb(dynamodb::Action::parse(action)?),
            _ => return None,
        };
        // DynamoDB has no callback pattern on AWS.
        if callback && matches!(found, ServiceAction::DynamoDb(_)) {
            return None;
        }
        Some(found)
    }

    pub(crate) fn service(self) -> AwsService {
        match self {
            ServiceAction::SqsSendMessage => AwsService::Sqs,
            ServiceAction::SnsPublish => AwsService::Sns,
            ServiceAction::DynamoDb(_) => AwsService::DynamoDb,
            ServiceAction::EventBridgePutEvents => AwsService::EventBridge,
        }
    }
}

/// What the service integrations need: where each service is and how to sign.
#[derive(Debug, Clone)]
pub(crate) struct Services {
    pub endpoints: ServiceEndpoints,
    pub signer: Signer,
}

impl Services {
    /// Calls `action` with the task's parameters and shapes the result as AWS does.
    pub(crate) async fn call(
        &self,
        client: &reqwest::Client,
        config: &TargetConfig,
        action: ServiceAction,
        invocation: &Invocation,
    ) -> Result<Value, InvokeError> {
        let call = Call {
            client,
            config,
            services: self,
            invocation,
        };
        let Value::Object(parameters) = &invocation.input else {
            return Err(call.bad(
                action.service(),
                format!("the parameters must be an object, got {}", invocation.input),
            ));
        };
        match action {
            ServiceAction::SqsSendMessage => sqs::send_message(&call, parameters).await,
            ServiceAction::SnsPublish => sns::publish(&call, parameters).await,
            ServiceAction::DynamoDb(action) => dynamodb::call(&call, action, parameters).await,
            ServiceAction::EventBridgePutEvents => events::put_events(&call, parameters).await,
        }
    }
}

/// One invocation of a service integration.
pub(crate) struct Call<'a> {
    client: &'a reqwest::Client,
    config: &'a TargetConfig,
    services: &'a Services,
    invocation: &'a Invocation,
}

/// How an AWS JSON protocol request is marked.
#[derive(Debug, Clone, Copy)]
enum JsonVersion {
    V1_0,
    V1_1,
}

impl Call<'_> {
    /// Parameters Cairn cannot send: `States.TaskFailed`, nothing is sent.
    fn bad(&self, service: AwsService, message: String) -> InvokeError {
        InvokeError::BadParameters(format!("{}: {message}", service.signing_name()))
    }

    /// The region of a request: `from_resource` (a region named by the queue URL, topic
    /// ARN, table ARN, …) when there is one, else the configured region.
    fn region<'r>(&'r self, from_resource: Option<&'r str>) -> &'r str {
        from_resource
            .filter(|r| !r.is_empty())
            .unwrap_or(&self.config.region)
    }

    fn url(
        &self,
        service: AwsService,
        region: &str,
        partition: Option<&str>,
    ) -> Result<Url, InvokeError> {
        let base = self.services.endpoints.base(service, region, partition);
        Url::parse(&format!("{base}/")).map_err(|e| {
            InvokeError::BadParameters(format!(
                "invalid {} endpoint '{base}': {e}",
                service.signing_name()
            ))
        })
    }

    /// POSTs `body` to an AWS JSON protocol API as `target` (`AmazonSQS.SendMessage`);
    /// a non-2xx answer is the service's error, a 2xx one its JSON object.
    async fn json(
        &self,
        service: AwsService,
        region: &str,
        target: &str,
        version: JsonVersion,
        body: &Value,
    ) -> Result<(Fetched, Map<String, Value>), InvokeError> {
        let url = self.url(service, region, None)?;
        let content_type = match version {
            JsonVersion::V1_0 => "application/x-amz-json-1.0",
            JsonVersion::V1_1 => "application/x-amz-json-1.1",
        };
        let headers = [("content-type", content_type), ("x-amz-target", target)];
        let fetched = self
            .send(
                service,
                region,
                &url,
                &headers,
                body.to_string().into_bytes(),
            )
            .await?;
        if fetched.body.iter().all(u8::is_ascii_whitespace) {
            return Ok((fetched, Map::new()));
        }
        match serde_json::from_slice(&fetched.body) {
            Ok(Value::Object(answer)) => Ok((fetched, answer)),
            _ => Err(InvokeError::BadResponse(format!(
                "{target} at {url} answered {} with a body that is not a JSON object: {}",
                fetched.status,
                fetched.text().chars().take(200).collect::<String>()
            ))),
        }
    }

    /// POSTs a Query protocol form; a non-2xx answer is the service's error.
    async fn query(
        &self,
        service: AwsService,
        region: &str,
        partition: Option<&str>,
        form: Vec<u8>,
    ) -> Result<Fetched, InvokeError> {
        let url = self.url(service, region, partition)?;
        let headers = [(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )];
        self.send(service, region, &url, &headers, form).await
    }

    async fn send(
        &self,
        service: AwsService,
        region: &str,
        url: &Url,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Fetched, InvokeError> {
        let request = AwsRequest {
            service,
            region,
            url,
            headers,
            body,
        };
        let fetched = send(
            self.client,
            &self.services.signer,
            self.config.max_response_bytes,
            request,
        )
        .await?;
        if fetched.status.is_success() {
            Ok(fetched)
        } else {
            Err(service_error(service, &fetched))
        }
    }
}

/// The fields of `parameters` that `allowed` names, in the order given (AWS sends only
/// the parameters an optimized integration supports and ignores the others).
fn only(parameters: &Map<String, Value>, allowed: &[&str]) -> Map<String, Value> {
    parameters
        .iter()
        .filter(|(k, _)| allowed.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The value as a message body: a string as it is, anything else as its JSON text (as
/// Step Functions sends an object given as `MessageBody` or `Message`).
fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The region and partition of an ARN (`arn:PARTITION:SERVICE:REGION:…`).
fn arn_region(arn: &str) -> Option<(&str, &str)> {
    let mut fields = arn.split(':');
    match (fields.next(), fields.next(), fields.next(), fields.next()) {
        (Some("arn"), Some(partition), Some(_), Some(region)) if !region.is_empty() => {
            Some((partition, region))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_and_their_callback_forms() {
        assert_eq!(
            ServiceAction::parse("sqs", "sendMessage.waitForTaskToken"),
            Some(ServiceAction::SqsSendMessage)
        );
        assert_eq!(
            ServiceAction::parse("sns", "publish"),
            Some(ServiceAction::SnsPublish)
        );
        assert_eq!(
            ServiceAction::parse("events", "putEvents.waitForTaskToken"),
            Some(ServiceAction::EventBridgePutEvents)
        );
        assert_eq!(
            ServiceAction::parse("dynamodb", "updateItem"),
            Some(ServiceAction::DynamoDb(dynamodb::Action::Update))
        );
        for (service, action) in [
            ("dynamodb", "getItem.waitForTaskToken"),
            ("dynamodb", "query"),
            ("sqs", "receiveMessage"),
            ("sqs", "sendMessage.sync"),
            ("sns", "publish.sync"),
            ("s3", "putObject"),
        ] {
            assert_eq!(
                ServiceAction::parse(service, action),
                None,
                "{service}:{action}"
            );
        }
    }

    #[test]
    fn arn_regions() {
        assert_eq!(
            arn_region("arn:aws:sns:eu-west-1:123456789012:t"),
            Some(("aws", "eu-west-1"))
        );
        assert_eq!(arn_region("arn:aws:s3:::bucket"), None);
        assert_eq!(arn_region("orders"), None);
    }
}
