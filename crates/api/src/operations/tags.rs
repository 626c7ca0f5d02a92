//! TagResource, UntagResource, ListTagsForResource: on state machines and activities.

use cairn_store::catalog::TagOutcome;
use cairn_store::Store;
use serde_json::{json, Value};

use super::{read_tags, MAX_TAGS};
use crate::arn;
use crate::error::ApiError;
use crate::input::{check_length, Input};
use crate::ApiState;

/// Checks `resourceArn`: a state machine or activity ARN.
fn resource_arn(input: &Input) -> Result<&str, ApiError> {
    let resource = input.required_string("resourceArn")?;
    check_length("resourceArn", resource, 1, 256, false)?;
    let parsed = arn::parse(resource)?;
    if !matches!(parsed.resource_type, "stateMachine" | "activity") {
        return Err(ApiError::InvalidArn(format!(
            "Resource type not valid in this context: {}",
            parsed.resource_type
        )));
    }
    Ok(resource)
}

pub async fn tag<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let resource = resource_arn(input)?;
    if input.array("tags")?.is_none() {
        return Err(ApiError::missing("tags"));
    }
    let tags = read_tags(input, "tags", resource)?;
    match state
        .store()
        .tag_resource(resource, &tags, MAX_TAGS as i64)
        .await?
    {
        TagOutcome::Tagged => Ok(json!({})),
        TagOutcome::NotFound => Err(ApiError::no_tagged_resource(resource)),
        TagOutcome::TooMany => Err(ApiError::TooManyTags(resource.to_string())),
    }
}

pub async fn untag<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let resource = resource_arn(input)?;
    let list = input
        .array("tagKeys")?
        .ok_or_else(|| ApiError::missing("tagKeys"))?;
    let mut keys = Vec::with_capacity(list.len());
    for (i, key) in list.iter().enumerate() {
        let Value::String(key) = key else {
            return Err(ApiError::Serialization(format!(
                "Member 'tagKeys.{}' has the wrong type: expected a string",
                i + 1
            )));
        };
        check_length(&format!("tagKeys.{}.member", i + 1), key, 1, 128, false)?;
        keys.push(key.clone());
    }
    if state.store().untag_resource(resource, &keys).await? {
        Ok(json!({}))
    } else {
        Err(ApiError::no_tagged_resource(resource))
    }
}

pub async fn list<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let resource = resource_arn(input)?;
    let tags = state
        .store()
        .list_tags(resource)
        .await?
        .ok_or_else(|| ApiError::no_tagged_resource(resource))?;
    let tags: Vec<Value> = tags
        .into_iter()
        .map(|t| json!({"key": t.key, "value": t.value}))
        .collect();
    Ok(json!({ "tags": tags }))
}
