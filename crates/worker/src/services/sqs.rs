//! `arn:aws:states:::sqs:sendMessage` (and `.waitForTaskToken`): SendMessage in the AWS
//! JSON 1.0 protocol (`X-Amz-Target: AmazonSQS.SendMessage`), as current SDKs speak it.
//!
//! Request: `QueueUrl`, `MessageBody` (a string as it is; any other JSON value as its
//! JSON text, as Step Functions sends it), `DelaySeconds`, `MessageAttributes`,
//! `MessageGroupId`, `MessageDeduplicationId`; other parameters are not sent (AWS drops
//! them too). Result: SQS's answer (`MD5OfMessageBody`, `MessageId`,
//! `MD5OfMessageAttributes` with attributes, `SequenceNumber` on a FIFO queue) with
//! `SdkHttpMetadata` and `SdkResponseMetadata`, as Step Functions shows it.

use serde_json::{Map, Value};

use super::{as_text, only, Call, JsonVersion};
use crate::aws::endpoint::AwsService;
use crate::aws::metadata;
use crate::error::InvokeError;

const PARAMETERS: &[&str] = &[
    "QueueUrl",
    "MessageBody",
    "DelaySeconds",
    "MessageAttributes",
    "MessageGroupId",
    "MessageDeduplicationId",
];

pub(super) async fn send_message(
    call: &Call<'_>,
    parameters: &Map<String, Value>,
) -> Result<Value, InvokeError> {
    let bad = |m: &str| call.bad(AwsService::Sqs, format!("sendMessage: {m}"));
    let queue_url = match parameters.get("QueueUrl") {
        Some(Value::String(url)) if !url.is_empty() => url.as_str(),
        Some(other) if !other.is_null() => {
            return Err(bad(&format!("QueueUrl must be a string, got {other}")))
        }
        _ => return Err(bad("the parameter QueueUrl is required")),
    };
    let body = match parameters.get("MessageBody") {
        None | Some(Value::Null) => return Err(bad("the parameter MessageBody is required")),
        Some(body) => as_text(body),
    };
    let mut request = only(parameters, PARAMETERS);
    request.insert("MessageBody".into(), Value::String(body));
    let region = call.region(queue_region(queue_url));
    let (fetched, mut answer) = call
        .json(
            AwsService::Sqs,
            region,
            "AmazonSQS.SendMessage",
            JsonVersion::V1_0,
            &Value::Object(request),
        )
        .await?;
    metadata::add_sdk_metadata(&mut answer, &fetched, metadata::request_id(&fetched, None));
    Ok(Value::Object(answer))
}

/// The region an AWS queue URL names: `https://sqs.REGION.amazonaws.com/…` or the
/// legacy `https://REGION.queue.amazonaws.com/…`; `None` for any other host.
fn queue_region(queue_url: &str) -> Option<&str> {
    let rest = queue_url
        .strip_prefix("https://")
        .or_else(|| queue_url.strip_prefix("http://"))?;
    let host = rest.split(['/', ':']).next()?;
    let labels: Vec<&str> = host.split('.').collect();
    match labels.as_slice() {
        ["sqs", region, "amazonaws", ..] => Some(region),
        [region, "queue", "amazonaws", ..] => Some(region),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_of_queue_urls() {
        assert_eq!(
            queue_region("https://sqs.eu-west-1.amazonaws.com/123456789012/q"),
            Some("eu-west-1")
        );
        assert_eq!(
            queue_region("https://us-east-2.queue.amazonaws.com/123456789012/q"),
            Some("us-east-2")
        );
        assert_eq!(queue_region("http://127.0.0.1:5000/123456789012/q"), None);
        assert_eq!(queue_region("q"), None);
    }
}
