//! An AWS service's error answer → the error Step Functions reports.
//!
//! Step Functions names a service's error `<Service>.<Exception>`: the service's error
//! code with an `Exception` suffix when it has none (SNS's `NotFound` is
//! `SNS.NotFoundException`, DynamoDB's `ConditionalCheckFailedException` stays as it
//! is), and gives the AWS SDK for Java's message as the cause:
//! `<message> (Service: AmazonSNS; Status Code: 404; Error Code: NotFound; Request ID: …; Proxy: null)`.

use serde_json::Value;

use crate::aws::endpoint::AwsService;
use crate::aws::{metadata, query};
use crate::error::InvokeError;
use crate::transport::Fetched;

/// What a failed answer says about itself.
struct Reported {
    /// The error's shape name (`QueueDoesNotExist`, `ResourceNotFoundException`).
    code: Option<String>,
    /// The older Query protocol code a JSON answer may carry for compatibility
    /// (`AWS.SimpleQueueService.NonExistentQueue`): the code the SDK for Java shows.
    query_code: Option<String>,
    message: Option<String>,
    request_id: Option<String>,
}

impl Reported {
    fn read(fetched: &Fetched) -> Reported {
        // `x-amzn-ErrorType: ResourceNotFoundException:http://internal…` or a JSON
        // `__type` of `com.amazonaws.sqs#QueueDoesNotExist`.
        let shape = |t: &str| {
            let t = t.rsplit('#').next().unwrap_or(t);
            t.split(':').next().unwrap_or(t).trim().to_string()
        };
        let query_code = fetched
            .header("x-amzn-query-error")
            .map(|q| q.split(';').next().unwrap_or(q).to_string());
        if let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&fetched.body) {
            let field = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_string);
            let code = fetched
                .header("x-amzn-errortype")
                .map(shape)
                .or_else(|| field("__type").map(|t| shape(&t)))
                .or_else(|| field("code"));
            return Reported {
                code,
                query_code,
                message: field("message").or_else(|| field("Message")),
                request_id: None,
            };
        }
        let [code, message, request_id] =
            query::first_texts(&fetched.body, ["Code", "Message", "RequestId"]);
        Reported {
            code: code.or_else(|| fetched.header("x-amzn-errortype").map(shape)),
            query_code,
            message,
            request_id,
        }
    }
}

/// The error for a non-2xx answer from `service`.
pub(crate) fn service_error(service: AwsService, fetched: &Fetched) -> InvokeError {
    let status = fetched.status.as_u16();
    let reported = Reported::read(fetched);
    let code = reported
        .code
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| service.unnamed_error_code(status).to_string());
    let exception = if code.ends_with("Exception") {
        code.clone()
    } else {
        format!("{code}Exception")
    };
    let message = reported
        .message
        .unwrap_or_else(|| fetched.text().chars().take(4096).collect());
    let request_id = metadata::request_id(fetched, reported.request_id.as_deref());
    InvokeError::named(
        format!("{}.{exception}", service.error_prefix()),
        format!(
            "{message} (Service: {}; Status Code: {status}; Error Code: {}; Request ID: {request_id}; Proxy: null)",
            service.sdk_name(),
            reported.query_code.as_deref().unwrap_or(&code),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::{HeaderMap, HeaderValue, StatusCode};

    fn answer(status: u16, headers: &[(&'static str, &'static str)], body: &str) -> Fetched {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_static(value));
        }
        Fetched {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            headers: map,
            body: Bytes::from(body.to_string()),
        }
    }

    fn named(error: InvokeError) -> (String, String) {
        match error {
            InvokeError::Named { error, cause } => (error, cause.unwrap_or_default()),
            other => (format!("not named: {other:?}"), String::new()),
        }
    }

    #[test]
    fn json_errors_take_the_shape_name_and_the_query_code_in_the_cause() {
        let (error, cause) = named(service_error(
            AwsService::Sqs,
            &answer(
                400,
                &[
                    (
                        "x-amzn-query-error",
                        "AWS.SimpleQueueService.NonExistentQueue;Sender",
                    ),
                    ("x-amzn-requestid", "r-1"),
                ],
                r#"{"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "The specified queue does not exist."}"#,
            ),
        ));
        assert_eq!(error, "SQS.QueueDoesNotExistException");
        assert_eq!(cause, "The specified queue does not exist. (Service: AmazonSQS; Status Code: 400; Error Code: AWS.SimpleQueueService.NonExistentQueue; Request ID: r-1; Proxy: null)");

        let (error, cause) = named(service_error(
            AwsService::DynamoDb,
            &answer(
                400,
                &[],
                r#"{"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException", "message": "The conditional request failed"}"#,
            ),
        ));
        assert_eq!(error, "DynamoDB.ConditionalCheckFailedException");
        assert!(
            cause.contains("Error Code: ConditionalCheckFailedException;"),
            "{cause}"
        );
    }

    #[test]
    fn xml_errors_and_unnamed_ones() {
        let (error, cause) = named(service_error(
            AwsService::Sns,
            &answer(
                404,
                &[],
                "<ErrorResponse><Error><Type>Sender</Type><Code>NotFound</Code><Message>Topic does not exist</Message></Error><RequestId>q-9</RequestId></ErrorResponse>",
            ),
        ));
        assert_eq!(error, "SNS.NotFoundException");
        assert_eq!(cause, "Topic does not exist (Service: AmazonSNS; Status Code: 404; Error Code: NotFound; Request ID: q-9; Proxy: null)");

        let (error, cause) = named(service_error(
            AwsService::EventBridge,
            &answer(503, &[], "Service Unavailable"),
        ));
        assert_eq!(error, "EventBridge.AmazonEventBridgeException");
        assert!(
            cause.starts_with("Service Unavailable (Service: AmazonEventBridge; Status Code: 503"),
            "{cause}"
        );

        let (error, _) = named(service_error(AwsService::Lambda, &answer(429, &[], "")));
        assert_eq!(error, "Lambda.TooManyRequestsException");
    }
}
