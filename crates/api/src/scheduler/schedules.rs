//! Create/Get/Update/Delete/ListSchedules. A schedule's definition is checked whole
//! before anything is written (a refused request changes nothing), kept as the JSON
//! text of its members, and given its first fire: the occurrence and, within a
//! flexible window, when it fires.

use cairn_events::schedule::{self, Dialect, Expression};
use cairn_events::target::ScheduleTarget;
use cairn_store::rules::ScheduleRecord;
use cairn_store::{Store, Time};
use cairn_worker::eventloop::ScheduleSpec;
use serde_json::{json, Map, Value};

use super::groups::{self, DEFAULT_GROUP};
use super::{check_name, paging, scheduler_arn, Answer, Request};
use crate::events::error::EventsError;
use crate::ApiState;

/// The members of CreateSchedule/UpdateSchedule that make up a definition, in the order
/// GetSchedule answers them.
const DEFINITION: &[&str] = &[
    "Description",
    "ScheduleExpression",
    "ScheduleExpressionTimezone",
    "StartDate",
    "EndDate",
    "FlexibleTimeWindow",
    "Target",
    "ActionAfterCompletion",
];

/// CreateSchedule's idempotency token (boto3 sends one with every create).
const CLIENT_TOKEN: &str = "ClientToken";

/// How far in the past AWS accepts a StartDate.
const START_DATE_SLACK_MINUTES: i64 = 5;

fn invalid(message: impl Into<String>) -> EventsError {
    EventsError::validation(message)
}

fn schedule_arn<S: Store>(state: &ApiState<S>, group: &str, name: &str) -> String {
    scheduler_arn(state, &format!("schedule/{group}/{name}"))
}

fn enum_member(
    members: &Map<String, Value>,
    field: &str,
    allowed: &[&str],
    default: &str,
) -> Result<String, EventsError> {
    match members.get(field) {
        None | Some(Value::Null) => Ok(default.to_string()),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(s.clone()),
        Some(other) => Err(invalid(format!(
            "1 validation error detected: Value {other} at '{field}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            allowed.join(", ")
        ))),
    }
}

fn text_member<'m>(
    members: &'m Map<String, Value>,
    field: &str,
    max: usize,
) -> Result<Option<&'m str>, EventsError> {
    match members.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= max => Ok(Some(s)),
        Some(_) => Err(invalid(format!(
            "1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must be a string of length between 1 and {max}"
        ))),
    }
}

fn date_member(members: &Map<String, Value>, field: &str) -> Result<Option<Time>, EventsError> {
    match members.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .and_then(|s| chrono::DateTime::from_timestamp_millis((s * 1000.0) as i64))
            .map(Some)
            .ok_or_else(|| invalid(format!("{field} is not a valid date"))),
        Some(_) => Err(invalid(format!(
            "{field} must be a timestamp (epoch seconds)"
        ))),
    }
}

fn flexible_window(members: &Map<String, Value>) -> Result<(), EventsError> {
    let Some(Value::Object(window)) = members.get("FlexibleTimeWindow") else {
        return Err(invalid(
            "1 validation error detected: Value null at 'flexibleTimeWindow' failed to satisfy constraint: Member must not be null",
        ));
    };
    let mode = enum_member(window, "Mode", &["OFF", "FLEXIBLE"], "")?;
    let width = match window.get("MaximumWindowInMinutes") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().filter(|n| (1..=1440).contains(n)).ok_or_else(|| {
            invalid("1 validation error detected: Value at 'flexibleTimeWindow.maximumWindowInMinutes' failed to satisfy constraint: Member must have value between 1 and 1440")
        })?),
    };
    match (mode.as_str(), width) {
        ("FLEXIBLE", None) => Err(invalid(
            "MaximumWindowInMinutes is required when FlexibleTimeWindow's Mode is FLEXIBLE",
        )),
        ("OFF", Some(_)) => Err(invalid(
            "MaximumWindowInMinutes must not be given when FlexibleTimeWindow's Mode is OFF",
        )),
        ("", _) => Err(invalid(
            "1 validation error detected: Value null at 'flexibleTimeWindow.mode' failed to satisfy constraint: Member must not be null",
        )),
        _ => Ok(()),
    }
}

/// A checked definition: the spec text and the schedule's state.
struct Definition {
    spec: String,
    state: String,
}

/// Checks CreateSchedule's or UpdateSchedule's members as AWS checks them.
fn definition(request: &Request, now: Time) -> Result<Definition, EventsError> {
    let members = request.input.members();
    if members.get("KmsKeyArn").is_some_and(|v| !v.is_null()) {
        return Err(invalid(
            "KmsKeyArn is not supported by Cairn: schedules are stored in its own database (see docs/api-support.md)",
        ));
    }
    text_member(members, "Description", 512)?;
    let expression = text_member(members, "ScheduleExpression", 256)?.ok_or_else(|| {
        invalid("1 validation error detected: Value null at 'scheduleExpression' failed to satisfy constraint: Member must not be null")
    })?;
    let parsed = Expression::parse(expression, Dialect::Scheduler).map_err(|e| invalid(e.0))?;
    schedule::zone(text_member(members, "ScheduleExpressionTimezone", 50)?)
        .map_err(|e| invalid(e.0))?;
    let start = date_member(members, "StartDate")?;
    let end = date_member(members, "EndDate")?;
    if !matches!(parsed, Expression::At(_)) {
        if let Some(start) = start {
            if start < now - chrono::TimeDelta::minutes(START_DATE_SLACK_MINUTES) {
                return Err(invalid(
                    "The StartDate you specify cannot be earlier than 5 minutes prior to the current date and time.",
                ));
            }
        }
        if let Some(end) = end {
            if end <= now {
                return Err(invalid(
                    "The EndDate you specify cannot be earlier than the current date and time.",
                ));
            }
            if start.is_some_and(|start| start >= end) {
                return Err(invalid("The StartDate must come before the EndDate."));
            }
        }
    }
    flexible_window(members)?;
    let target = members.get("Target").filter(|v| !v.is_null()).ok_or_else(|| {
        invalid("1 validation error detected: Value null at 'target' failed to satisfy constraint: Member must not be null")
    })?;
    ScheduleTarget::parse(target).map_err(|e| invalid(e.0))?;
    enum_member(
        members,
        "ActionAfterCompletion",
        &["NONE", "DELETE"],
        "NONE",
    )?;
    let state = enum_member(members, "State", &["ENABLED", "DISABLED"], "ENABLED")?;
    let mut spec: Map<String, Value> = DEFINITION
        .iter()
        .filter_map(|field| {
            members
                .get(*field)
                .filter(|v| !v.is_null())
                .map(|v| (field.to_string(), v.clone()))
        })
        .collect();
    // Kept so that a create retried with the same token answers as the first did; never
    // answered back.
    if let Some(token) = text_member(members, CLIENT_TOKEN, 64)? {
        spec.insert(CLIENT_TOKEN.to_string(), json!(token));
    }
    Ok(Definition {
        spec: Value::Object(spec).to_string(),
        state,
    })
}

/// Sets the record's first fire from `now`, read as the schedule loop reads it.
fn first_fire(record: &mut ScheduleRecord, now: Time) -> Result<(), EventsError> {
    let spec = ScheduleSpec::read(record)
        .ok_or_else(|| invalid("The schedule's definition could not be read"))?;
    let occurrence = match spec.timing.expression {
        // A one-time schedule's occurrence is its time, even if that has passed: the
        // loop invokes it at once if it is younger than the target's
        // MaximumEventAgeInSeconds, as it does any missed occurrence.
        Expression::At(_) => spec
            .timing
            .next_after(chrono::DateTime::<chrono::Utc>::MIN_UTC),
        _ => spec.timing.first_from(now),
    };
    record.next_occurrence = occurrence;
    record.fire_at = occurrence.map(|o| spec.fire_at(&record.arn, o));
    Ok(())
}

fn group_of<'r>(request: &'r Request, field: &str) -> Result<&'r str, EventsError> {
    let group = match field {
        "GroupName" => request.input.string(field)?,
        _ => request.query(field),
    };
    Ok(group.unwrap_or(DEFAULT_GROUP))
}

async fn write<S: Store>(state: &ApiState<S>, request: &Request, create: bool) -> Answer {
    let name = request.label.as_str();
    check_name("name", name)?;
    let group = group_of(request, "GroupName")?;
    let now = cairn_store::time::to_micros(chrono::Utc::now());
    let definition = definition(request, now)?;
    groups::existing(state, group).await?;
    let existing = state.store().get_schedule(group, name).await?;
    let created_at = match (&existing, create) {
        (Some(old), true) if same_request(old, &definition) => {
            // A retry of the create that made it (same ClientToken, same definition).
            return Ok(json!({"ScheduleArn": old.arn}));
        }
        (Some(_), true) => {
            return Err(EventsError::new(
                "ConflictException",
                format!("Schedule {name} already exists."),
            ))
        }
        (None, false) => {
            return Err(EventsError::not_found(format!(
                "Schedule {name} does not exist."
            )))
        }
        (Some(old), false) => old.created_at,
        (None, true) => now,
    };
    let mut record = ScheduleRecord {
        arn: schedule_arn(state, group, name),
        group: group.to_string(),
        name: name.to_string(),
        state: definition.state,
        spec: definition.spec,
        created_at,
        modified_at: now,
        next_occurrence: None,
        fire_at: None,
    };
    first_fire(&mut record, now)?;
    let written = if create {
        state.store().create_schedule(&record).await?
    } else {
        state.store().update_schedule(&record).await?
    };
    if !written {
        // Another request created or deleted it between the check and the write.
        return Err(EventsError::new(
            "ConflictException",
            format!("Schedule {name} was changed by another request; try again."),
        ));
    }
    Ok(json!({"ScheduleArn": record.arn}))
}

pub(crate) async fn create<S: Store>(state: &ApiState<S>, request: &Request) -> Answer {
    write(state, request, true).await
}

pub(crate) async fn update<S: Store>(state: &ApiState<S>, request: &Request) -> Answer {
    write(state, request, false).await
}

/// Whether `old` was created by this same request: the same ClientToken and definition.
fn same_request(old: &ScheduleRecord, definition: &Definition) -> bool {
    let token = |spec: &str| {
        serde_json::from_str::<Value>(spec)
            .ok()
            .and_then(|v| v.get(CLIENT_TOKEN).cloned())
    };
    token(&old.spec).is_some() && old.spec == definition.spec && old.state == definition.state
}

async fn existing<S: Store>(
    state: &ApiState<S>,
    request: &Request,
) -> Result<ScheduleRecord, EventsError> {
    let name = request.label.as_str();
    check_name("name", name)?;
    let group = group_of(request, "groupName")?;
    check_name("groupName", group)?;
    state
        .store()
        .get_schedule(group, name)
        .await?
        .ok_or_else(|| EventsError::not_found(format!("Schedule {name} does not exist.")))
}

pub(crate) async fn get<S: Store>(state: &ApiState<S>, request: &Request) -> Answer {
    let schedule = existing(state, request).await?;
    let mut out = Map::new();
    out.insert("Arn".into(), json!(schedule.arn));
    out.insert("Name".into(), json!(schedule.name));
    out.insert("GroupName".into(), json!(schedule.group));
    out.insert("State".into(), json!(schedule.state));
    out.insert("CreationDate".into(), crate::epoch(schedule.created_at));
    out.insert(
        "LastModificationDate".into(),
        crate::epoch(schedule.modified_at),
    );
    if let Ok(Value::Object(mut spec)) = serde_json::from_str::<Value>(&schedule.spec) {
        spec.remove(CLIENT_TOKEN);
        out.extend(spec);
    }
    out.entry("ActionAfterCompletion")
        .or_insert_with(|| json!("NONE"));
    Ok(Value::Object(out))
}

pub(crate) async fn delete<S: Store>(state: &ApiState<S>, request: &Request) -> Answer {
    let schedule = existing(state, request).await?;
    if !state
        .store()
        .delete_schedule(&schedule.group, &schedule.name)
        .await?
    {
        return Err(EventsError::not_found(format!(
            "Schedule {} does not exist.",
            schedule.name
        )));
    }
    Ok(json!({}))
}

pub(crate) async fn list<S: Store>(state: &ApiState<S>, request: &Request) -> Answer {
    const OPERATION: &str = "ListSchedules";
    let (limit, after) = paging(request, OPERATION)?;
    let group = request.query("ScheduleGroup");
    if let Some(group) = group {
        groups::existing(state, group).await?;
    }
    let wanted = request.query("State");
    if let Some(wanted) = wanted {
        if !["ENABLED", "DISABLED"].contains(&wanted) {
            return Err(invalid(format!(
                "1 validation error detected: Value '{wanted}' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED]"
            )));
        }
    }
    let after = match &after {
        Some(cursor) => Some(
            cursor
                .split_once('/')
                .ok_or_else(|| invalid("The NextToken is not valid"))?,
        ),
        None => None,
    };
    let mut schedules = state
        .store()
        .list_schedules(group, request.query("NamePrefix"), wanted, after, limit + 1)
        .await?;
    let mut out = json!({});
    if schedules.len() as i64 > limit {
        schedules.truncate(limit as usize);
        if let Some(last) = schedules.last() {
            out["NextToken"] = json!(crate::page::encode(
                OPERATION,
                &format!("{}/{}", last.group, last.name)
            ));
        }
    }
    out["Schedules"] = Value::Array(
        schedules
            .iter()
            .map(|s| {
                let target = serde_json::from_str::<Value>(&s.spec)
                    .ok()
                    .and_then(|spec| spec.pointer("/Target/Arn").cloned())
                    .unwrap_or(Value::Null);
                json!({
                    "Arn": s.arn,
                    "Name": s.name,
                    "GroupName": s.group,
                    "State": s.state,
                    "CreationDate": crate::epoch(s.created_at),
                    "LastModificationDate": crate::epoch(s.modified_at),
                    "Target": {"Arn": target},
                })
            })
            .collect(),
    );
    Ok(out)
}
