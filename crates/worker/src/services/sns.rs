//! `arn:aws:states:::sns:publish` (and `.waitForTaskToken`): Publish in SNS's Query
//! protocol (a form POST answered in XML).
//!
//! Request: `TopicArn`, `TargetArn` or `PhoneNumber`; `Message` (a string as it is, any
//! other JSON value as its JSON text); `Subject`, `MessageStructure`,
//! `MessageAttributes` (`{"name": {"DataType", "StringValue" | "BinaryValue"}}`),
//! `MessageGroupId`, `MessageDeduplicationId`. Result: `MessageId`, `SequenceNumber` on
//! a FIFO topic, with `SdkHttpMetadata` and `SdkResponseMetadata`.

use serde_json::{Map, Value};

use super::{arn_region, as_text, Call};
use crate::aws::endpoint::AwsService;
use crate::aws::{metadata, query};
use crate::error::InvokeError;

const API_VERSION: &str = "2010-03-31";

pub(super) async fn publish(
    call: &Call<'_>,
    parameters: &Map<String, Value>,
) -> Result<Value, InvokeError> {
    let bad = |m: String| call.bad(AwsService::Sns, format!("publish: {m}"));
    let text = |name: &str| -> Result<Option<String>, InvokeError> {
        match parameters.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(bad(format!("{name} must be a string, got {other}"))),
        }
    };
    let message = match parameters.get("Message") {
        None | Some(Value::Null) => return Err(bad("the parameter Message is required".into())),
        Some(message) => as_text(message),
    };
    let mut form = Vec::new();
    let mut destination = None;
    for name in ["TopicArn", "TargetArn", "PhoneNumber"] {
        if let Some(value) = text(name)? {
            if name != "PhoneNumber" && destination.is_none() {
                destination = Some(value.clone());
            }
            form.push((name.to_string(), value));
        }
    }
    form.push(("Message".into(), message));
    for name in [
        "Subject",
        "MessageStructure",
        "MessageGroupId",
        "MessageDeduplicationId",
    ] {
        if let Some(value) = text(name)? {
            form.push((name.to_string(), value));
        }
    }
    if let Some(attributes) = parameters.get("MessageAttributes").filter(|a| !a.is_null()) {
        attribute_fields(attributes, &mut form).map_err(bad)?;
    }
    let (partition, region) = match destination.as_deref().and_then(arn_region) {
        Some((partition, region)) => (Some(partition), Some(region)),
        None => (None, None),
    };
    let region = call.region(region);
    let fetched = call
        .query(
            AwsService::Sns,
            region,
            partition,
            query::form("Publish", API_VERSION, &form),
        )
        .await?;
    let [message_id, sequence, request_id] =
        query::first_texts(&fetched.body, ["MessageId", "SequenceNumber", "RequestId"]);
    let Some(message_id) = message_id else {
        return Err(InvokeError::BadResponse(format!(
            "SNS Publish answered {} without a MessageId: {}",
            fetched.status,
            fetched.text().chars().take(200).collect::<String>()
        )));
    };
    let mut result = Map::new();
    result.insert("MessageId".into(), Value::String(message_id));
    if let Some(sequence) = sequence {
        result.insert("SequenceNumber".into(), Value::String(sequence));
    }
    metadata::add_sdk_metadata(
        &mut result,
        &fetched,
        metadata::request_id(&fetched, request_id.as_deref()),
    );
    Ok(Value::Object(result))
}

/// `MessageAttributes` as Query fields:
/// `MessageAttributes.entry.N.Name`, `….Value.DataType`, `….Value.StringValue` /
/// `….Value.BinaryValue`.
fn attribute_fields(attributes: &Value, form: &mut Vec<(String, String)>) -> Result<(), String> {
    let Value::Object(attributes) = attributes else {
        return Err(format!(
            "MessageAttributes must be an object, got {attributes}"
        ));
    };
    for (i, (name, attribute)) in attributes.iter().enumerate() {
        let prefix = format!("MessageAttributes.entry.{}", i + 1);
        let Value::Object(fields) = attribute else {
            return Err(format!(
                "MessageAttributes.{name} must be an object, got {attribute}"
            ));
        };
        form.push((format!("{prefix}.Name"), name.clone()));
        for field in ["DataType", "StringValue", "BinaryValue"] {
            match fields.get(field) {
                None | Some(Value::Null) => {}
                Some(Value::String(value)) => {
                    form.push((format!("{prefix}.Value.{field}"), value.clone()))
                }
                Some(other) => {
                    return Err(format!(
                        "MessageAttributes.{name}.{field} must be a string, got {other}"
                    ))
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn attributes_become_query_entries() {
        let mut form = Vec::new();
        attribute_fields(
            &json!({"kind": {"DataType": "String", "StringValue": "order"}}),
            &mut form,
        )
        .expect("valid");
        assert_eq!(
            form,
            vec![
                (
                    "MessageAttributes.entry.1.Name".to_string(),
                    "kind".to_string()
                ),
                (
                    "MessageAttributes.entry.1.Value.DataType".to_string(),
                    "String".to_string()
                ),
                (
                    "MessageAttributes.entry.1.Value.StringValue".to_string(),
                    "order".to_string()
                ),
            ]
        );
        assert!(attribute_fields(&json!([1]), &mut Vec::new()).is_err());
        assert!(attribute_fields(&json!({"a": {"DataType": 1}}), &mut Vec::new()).is_err());
    }
}
