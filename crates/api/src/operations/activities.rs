//! CreateActivity, DescribeActivity, DeleteActivity, ListActivities.

use cairn_store::Store;
use serde_json::{json, Value};

use super::{check_encryption, page, read_tags};
use crate::arn::{self, Kind};
use crate::error::ApiError;
use crate::input::Input;
use crate::{epoch, page as token, ApiState};

/// Idempotent by name, as AWS is: a repeated call returns the first activity and
/// ignores its tags.
pub async fn create<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let name = input.required_string("name")?;
    arn::check_name("name", name)?;
    check_encryption(input)?;
    let activity_arn = state.scope().activity(name);
    let tags = read_tags(input, "tags", &activity_arn)?;
    let activity = state
        .store()
        .create_activity(&activity_arn, name, &tags)
        .await?;
    Ok(json!({
        "activityArn": activity.arn,
        "creationDate": epoch(activity.created_at),
    }))
}

pub async fn describe<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let activity_arn = input.required_string("activityArn")?;
    arn::check("activityArn", activity_arn, Kind::Activity)?;
    let activity = state
        .store()
        .activity(activity_arn)
        .await?
        .ok_or_else(|| ApiError::ActivityDoesNotExist(activity_arn.to_string()))?;
    Ok(json!({
        "activityArn": activity.arn,
        "name": activity.name,
        "creationDate": epoch(activity.created_at),
    }))
}

pub async fn delete<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let activity_arn = input.required_string("activityArn")?;
    arn::check("activityArn", activity_arn, Kind::Activity)?;
    // AWS answers success for an activity that does not exist.
    state.store().delete_activity(activity_arn).await?;
    Ok(json!({}))
}

pub async fn list<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let limit = input.page_size("maxResults", 100, 1000)?;
    let after = match input.string("nextToken")? {
        Some(t) => Some(token::decode("ListActivities", t, 1024)?),
        None => None,
    };
    let mut activities = state
        .store()
        .list_activities(after.as_deref(), limit + 1)
        .await?;
    let next = if activities.len() as i64 > limit {
        activities.truncate(limit as usize);
        activities
            .last()
            .map(|a| token::encode("ListActivities", &a.arn))
    } else {
        None
    };
    let items = activities
        .into_iter()
        .map(|a| {
            json!({
                "activityArn": a.arn,
                "name": a.name,
                "creationDate": epoch(a.created_at),
            })
        })
        .collect();
    Ok(page("activities", items, next))
}
