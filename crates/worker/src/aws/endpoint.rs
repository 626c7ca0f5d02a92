//! The AWS APIs Cairn calls and where each one is: an explicit URL, the AWS SDKs'
//! endpoint variables, or AWS's regional endpoint.

use url::Url;

use crate::targets::BuildError;

/// An AWS API that Task targets call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AwsService {
    Lambda,
    Sqs,
    Sns,
    DynamoDb,
    EventBridge,
    /// S3, which the Distributed Map's item readers and result writer call.
    S3,
}

impl AwsService {
    /// The service-specific endpoint variable the AWS SDKs read (`AWS_ENDPOINT_URL_<ID>`).
    pub fn endpoint_variable(self) -> &'static str {
        match self {
            AwsService::Lambda => "AWS_ENDPOINT_URL_LAMBDA",
            AwsService::Sqs => "AWS_ENDPOINT_URL_SQS",
            AwsService::Sns => "AWS_ENDPOINT_URL_SNS",
            AwsService::DynamoDb => "AWS_ENDPOINT_URL_DYNAMODB",
            AwsService::EventBridge => "AWS_ENDPOINT_URL_EVENTBRIDGE",
            AwsService::S3 => "AWS_ENDPOINT_URL_S3",
        }
    }

    /// The SigV4 signing name, which is also the host prefix of the regional endpoint.
    pub(crate) fn signing_name(self) -> &'static str {
        match self {
            AwsService::Lambda => "lambda",
            AwsService::Sqs => "sqs",
            AwsService::Sns => "sns",
            AwsService::DynamoDb => "dynamodb",
            AwsService::EventBridge => "events",
            AwsService::S3 => "s3",
        }
    }

    /// What Step Functions puts before an error's name (`DynamoDB.ResourceNotFoundException`).
    pub(crate) fn error_prefix(self) -> &'static str {
        match self {
            AwsService::Lambda => "Lambda",
            AwsService::Sqs => "SQS",
            AwsService::Sns => "SNS",
            AwsService::DynamoDb => "DynamoDB",
            AwsService::EventBridge => "EventBridge",
            AwsService::S3 => "S3",
        }
    }

    /// The service as the AWS SDK for Java names it in an error's cause
    /// (`(Service: AmazonDynamoDBv2; Status Code: 400; …)`).
    pub(crate) fn sdk_name(self) -> &'static str {
        match self {
            AwsService::Lambda => "AWSLambda",
            AwsService::Sqs => "AmazonSQS",
            AwsService::Sns => "AmazonSNS",
            AwsService::DynamoDb => "AmazonDynamoDBv2",
            AwsService::EventBridge => "AmazonEventBridge",
            AwsService::S3 => "Amazon S3",
        }
    }

    /// The error code used when a failed answer names none, by HTTP status.
    pub(crate) fn unnamed_error_code(self, status: u16) -> &'static str {
        match (self, status) {
            (AwsService::Lambda, 429) => "TooManyRequestsException",
            (AwsService::Lambda, 500..=599) => "ServiceException",
            (AwsService::Lambda, _) => "AWSLambdaException",
            (AwsService::Sqs, _) => "AmazonSQSException",
            (AwsService::Sns, _) => "AmazonSNSException",
            (AwsService::DynamoDb, _) => "AmazonDynamoDBException",
            (AwsService::EventBridge, _) => "AmazonEventBridgeException",
            (AwsService::S3, _) => "AmazonS3Exception",
        }
    }

    /// AWS's own endpoint for the service in `region` (`https://sqs.eu-west-1.amazonaws.com`).
    pub(crate) fn regional_endpoint(self, region: &str, partition: Option<&str>) -> String {
        let suffix = match partition {
            Some("aws-cn") => "amazonaws.com.cn",
            _ => "amazonaws.com",
        };
        format!("https://{}.{region}.{suffix}", self.signing_name())
    }
}

/// Where `service` is: `configured` when given, else its `AWS_ENDPOINT_URL_<ID>`
/// variable, else `AWS_ENDPOINT_URL`; `None` means AWS's regional endpoint. `env` reads a
/// variable (`std::env::var` in production); a blank value counts as unset.
pub fn service_endpoint(
    service: AwsService,
    configured: Option<&Url>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Url>, BuildError> {
    if let Some(url) = configured {
        return Ok(Some(url.clone()));
    }
    for variable in [service.endpoint_variable(), "AWS_ENDPOINT_URL"] {
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

/// The endpoints of the service integrations (SQS, SNS, DynamoDB, EventBridge); `None`
/// for a service means AWS's regional endpoint. Lambda's is kept by
/// [`crate::LambdaApi`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceEndpoints {
    pub sqs: Option<Url>,
    pub sns: Option<Url>,
    pub dynamodb: Option<Url>,
    pub eventbridge: Option<Url>,
}

impl ServiceEndpoints {
    /// Each service's endpoint from the environment, as [`service_endpoint`] finds it.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, BuildError> {
        let one = |service| service_endpoint(service, None, &env);
        Ok(ServiceEndpoints {
            sqs: one(AwsService::Sqs)?,
            sns: one(AwsService::Sns)?,
            dynamodb: one(AwsService::DynamoDb)?,
            eventbridge: one(AwsService::EventBridge)?,
        })
    }

    /// Every service at one URL (an AWS emulator such as moto's server).
    pub fn all_at(url: &Url) -> Self {
        ServiceEndpoints {
            sqs: Some(url.clone()),
            sns: Some(url.clone()),
            dynamodb: Some(url.clone()),
            eventbridge: Some(url.clone()),
        }
    }

    pub(crate) fn get(&self, service: AwsService) -> Option<&Url> {
        match service {
            AwsService::Sqs => self.sqs.as_ref(),
            AwsService::Sns => self.sns.as_ref(),
            AwsService::DynamoDb => self.dynamodb.as_ref(),
            AwsService::EventBridge => self.eventbridge.as_ref(),
            AwsService::Lambda | AwsService::S3 => None,
        }
    }

    /// The base URL (no trailing `/`) to call `service` at in `region`.
    pub(crate) fn base(
        &self,
        service: AwsService,
        region: &str,
        partition: Option<&str>,
    ) -> String {
        match self.get(service) {
            Some(url) => url.as_str().trim_end_matches('/').to_string(),
            None => service.regional_endpoint(region, partition),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn specific_variable_then_general_then_regional() {
        let vars = env(&[
            ("AWS_ENDPOINT_URL", "http://general:1"),
            ("AWS_ENDPOINT_URL_SQS", "http://sqs:2"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "  "),
        ]);
        let found = ServiceEndpoints::from_env(&vars).expect("valid");
        assert_eq!(
            found.sqs.map(String::from).as_deref(),
            Some("http://sqs:2/")
        );
        // A blank variable is unset: the general one applies.
        assert_eq!(
            found.dynamodb.map(String::from).as_deref(),
            Some("http://general:1/")
        );
        assert_eq!(
            found.eventbridge.map(String::from).as_deref(),
            Some("http://general:1/")
        );
        let none = ServiceEndpoints::from_env(env(&[])).expect("valid");
        assert_eq!(none, ServiceEndpoints::default());
        assert_eq!(
            none.base(AwsService::EventBridge, "eu-west-1", None),
            "https://events.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            none.base(AwsService::Sqs, "cn-north-1", Some("aws-cn")),
            "https://sqs.cn-north-1.amazonaws.com.cn"
        );
    }

    #[test]
    fn a_bad_url_names_its_variable() {
        let err = ServiceEndpoints::from_env(env(&[("AWS_ENDPOINT_URL_SNS", "not a url")]))
            .expect_err("refused");
        assert!(
            err.to_string()
                .starts_with("AWS_ENDPOINT_URL_SNS is not a URL"),
            "{err}"
        );
    }

    #[test]
    fn configured_wins() {
        let configured = Url::parse("http://configured:3").ok();
        let found = service_endpoint(
            AwsService::Lambda,
            configured.as_ref(),
            env(&[("AWS_ENDPOINT_URL_LAMBDA", "http://lambda:2")]),
        )
        .expect("valid");
        assert_eq!(
            found.map(String::from).as_deref(),
            Some("http://configured:3/")
        );
    }
}
