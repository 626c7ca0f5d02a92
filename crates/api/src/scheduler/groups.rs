//! Schedule groups and their tags. The `default` group always exists, as on AWS: it is
//! stored the first time anything asks for it, and it cannot be deleted.

use cairn_store::rules::GroupRecord;
use cairn_store::Store;
use serde_json::{json, Value};

use super::{check_name, paging, scheduler_arn, Answer, Request};
use crate::events::bus::tags_of;
use crate::events::error::EventsError;
use crate::ApiState;

pub(crate) const DEFAULT_GROUP: &str = "default";

fn group_arn<S: Store>(state: &ApiState<S>, name: &str) -> String {
    scheduler_arn(state, &format!("schedule-group/{name}"))
}

/// Stores the `default` group if it is not yet stored.
async fn ensure_default<S: Store>(state: &ApiState<S>) -> Result<(), EventsError> {
    if state.store().get_group(DEFAULT_GROUP).await?.is_none() {
        let now = cairn_store::time::to_micros(chrono::Utc::now());
        let group = GroupRecord {
            name: DEFAULT_GROUP.to_string(),
            arn: group_arn(state, DEFAULT_GROUP),
            created_at: now,
            modified_at: now,
        };
        // Another request may have stored it meanwhile: either way it exists.
        state.store().create_group(&group, &[]).await?;
    }
    Ok(())
}

/// The group named `name`, which must exist (`ResourceNotFoundException`).
pub(crate) async fn existing<S: Store>(
    state: &ApiState<S>,
    name: &str,
) -> Result<GroupRecord, EventsError> {
    check_name("groupName", name)?;
    if name == DEFAULT_GROUP {
        ensure_default(state).await?;
    }
    state
        .store()
        .get_group(name)
        .await?
        .ok_or_else(|| EventsError::not_found(format!("Schedule group {name} does not exist.")))
}

fn group_json(group: &GroupRecord) -> Value {
    json!({
        "Arn": group.arn,
        "Name": group.name,
        "State": "ACTIVE",
        "CreationDate": crate::epoch(group.created_at),
        "LastModificationDate": crate::epoch(group.modified_at),
    })
}

pub(crate) async fn create<S: Store>(state: &ApiState<S>, request: &Request) -> Answer {
    let name = &request.label;
    check_name("name", name)?;
    let tags = tags_of(&request.input, "Tags")?;
    if name == DEFAULT_GROUP {
        ensure_default(state).await?;
    }
    let now = cairn_store::time::to_micros(chrono::Utc::now());
    let group = GroupRecord {
        name: name.clone(),
        arn: group_arn(state, name),
        created_at: now,
        modified_at: now,
    };
    if !state.store().create_group(&group, &tags).await? {
        return Err(EventsError::new(
            "ConflictException",
            format!("Schedule group {name} already exists."),
        ));
    }
    Ok(json!({"ScheduleGroupArn": group.arn}))
}

pub(crate) async fn get<S: Store>(state: &ApiState<S>, request: &Request) -> Answer {
    Ok(group_json(&existing(state, &request.label).await?))
}

pub(crate) async fn delete<S: Store>(state: &ApiState<S>, request: &Request) -> Answer {
    let name = &request.label;
    check_name("name", name)?;
    if name == DEFAULT_GROUP {
        return Err(EventsError::validation(
            "The default schedule group cannot be deleted.",
        ));
    }
    if !state.store().delete_group(name).await? {
        return Err(EventsError::not_found(format!(
            "Schedule group {name} does not exist."
        )));
    }
    Ok(json!({}))
}

pub(crate) async fn list<S: Store>(state: &ApiState<S>, request: &Request) -> Answer {
    const OPERATION: &str = "ListScheduleGroups";
    let (limit, after) = paging(request, OPERATION)?;
    ensure_default(state).await?;
    let prefix = request.query("NamePrefix");
    let mut groups = state
        .store()
        .list_groups(prefix, after.as_deref(), limit + 1)
        .await?;
    let mut out = json!({});
    if groups.len() as i64 > limit {
        groups.truncate(limit as usize);
        if let Some(last) = groups.last() {
            out["NextToken"] = json!(crate::page::encode(OPERATION, &last.name));
        }
    }
    out["ScheduleGroups"] = Value::Array(groups.iter().map(group_json).collect());
    Ok(out)
}

/// The schedule group a tag operation names (AWS tags schedule groups only).
async fn tagged<S: Store>(state: &ApiState<S>, request: &Request) -> Result<String, EventsError> {
    let arn = request.label.as_str();
    let prefix = scheduler_arn(state, "schedule-group/");
    let Some(name) = arn.strip_prefix(&prefix) else {
        return Err(EventsError::not_found(format!(
            "Resource {arn} does not exist: Cairn tags schedule groups"
        )));
    };
    Ok(existing(state, name).await?.arn)
}

pub(crate) async fn tag<S: Store>(state: &ApiState<S>, request: &Request) -> Answer {
    let arn = tagged(state, request).await?;
    if request.input.array("Tags")?.is_none() {
        return Err(EventsError::validation(
            "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null",
        ));
    }
    let tags = tags_of(&request.input, "Tags")?;
    let existing = state.store().tags_of(&arn).await?;
    let mut keys: Vec<&str> = existing
        .iter()
        .chain(&tags)
        .map(|t| t.key.as_str())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    if keys.len() > 200 {
        return Err(EventsError::validation(
            "A schedule group may carry at most 200 tags",
        ));
    }
    state.store().tag(&arn, &tags).await?;
    Ok(json!({}))
}

pub(crate) async fn untag<S: Store>(state: &ApiState<S>, request: &Request) -> Answer {
    let arn = tagged(state, request).await?;
    let keys = request.query_all("TagKeys");
    if keys.is_empty() {
        return Err(EventsError::validation(
            "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null",
        ));
    }
    state.store().untag(&arn, &keys).await?;
    Ok(json!({}))
}

pub(crate) async fn list_tags<S: Store>(state: &ApiState<S>, request: &Request) -> Answer {
    let arn = tagged(state, request).await?;
    let tags = state.store().tags_of(&arn).await?;
    Ok(json!({
        "Tags": tags.iter().map(|t| json!({"Key": t.key, "Value": t.value})).collect::<Vec<_>>()
    }))
}
