//! `SdkHttpMetadata` and `SdkResponseMetadata`: what Step Functions adds to the result of
//! `lambda:invoke` and of the SQS, SNS and DynamoDB integrations (the AWS SDK for Java's
//! view of the HTTP answer).

use serde_json::{json, Map, Value};

use crate::transport::Fetched;

/// The request id AWS gave the answer: its `x-amzn-RequestId` header, else
/// `x-amz-request-id`, else `fallback` (a Query protocol answer also has it in its XML).
pub(crate) fn request_id<'a>(fetched: &'a Fetched, fallback: Option<&'a str>) -> &'a str {
    fetched
        .header("x-amzn-requestid")
        .or_else(|| fetched.header("x-amz-request-id"))
        .or(fallback)
        .unwrap_or("")
}

/// Adds `SdkHttpMetadata` (every header, each header's first value, the status) and
/// `SdkResponseMetadata` (`RequestId`) to `result`.
pub(crate) fn add_sdk_metadata(
    result: &mut Map<String, Value>,
    fetched: &Fetched,
    request_id: &str,
) {
    let mut all = Map::new();
    let mut single = Map::new();
    for name in fetched.headers.keys() {
        let values: Vec<Value> = fetched
            .headers
            .get_all(name)
            .iter()
            .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        if let Some(Value::String(first)) = values.first() {
            single.insert(name.to_string(), Value::String(first.clone()));
        }
        all.insert(name.to_string(), Value::Array(values));
    }
    result.insert(
        "SdkHttpMetadata".into(),
        json!({"AllHttpHeaders": all, "HttpHeaders": single, "HttpStatusCode": fetched.status.as_u16()}),
    );
    result.insert(
        "SdkResponseMetadata".into(),
        json!({"RequestId": request_id}),
    );
}
