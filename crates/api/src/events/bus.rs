//! EventBridge's operations over AWS JSON 1.1 (`X-Amz-Target: AWSEvents.<Operation>`):
//! buses, rules, targets, PutEvents, TestEventPattern and tags. Each handler checks its
//! whole input before it writes, so a refused request changes nothing.

use cairn_events::envelope::{Entry, MAX_ENTRIES, MAX_ENTRIES_BYTES};
use cairn_events::naming;
use cairn_events::pattern::Pattern;
use cairn_events::schedule::{Dialect, Expression, Timing};
use cairn_events::target::RuleTarget;
use cairn_events::transform::Context;
use cairn_store::catalog::Tag;
use cairn_store::rules::{
    BusRecord, NewDelivery, NewEvent, RuleDeletion, RuleRecord, TargetRecord,
};
use cairn_store::Store;
use serde_json::{json, Map, Value};

use super::error::EventsError;
use crate::input::Input;
use crate::ApiState;

/// The EventBridge operations Cairn answers.
pub const SUPPORTED: &[&str] = &[
    "CreateEventBus",
    "DeleteEventBus",
    "DeleteRule",
    "DescribeEventBus",
    "DescribeRule",
    "DisableRule",
    "EnableRule",
    "ListEventBuses",
    "ListRules",
    "ListTagsForResource",
    "ListTargetsByRule",
    "PutEvents",
    "PutRule",
    "PutTargets",
    "RemoveTargets",
    "TagResource",
    "TestEventPattern",
    "UntagResource",
];

const DEFAULT_BUS: &str = "default";
const MAX_TARGETS_PER_RULE: usize = 5;

type Answer = Result<Value, EventsError>;

pub async fn dispatch<S: Store>(state: &ApiState<S>, operation: &str, input: &Input) -> Answer {
    match operation {
        "PutRule" => put_rule(state, input).await,
        "DescribeRule" => describe_rule(state, input).await,
        "ListRules" => list_rules(state, input).await,
        "DeleteRule" => delete_rule(state, input).await,
        "EnableRule" => set_state(state, input, "ENABLED").await,
        "DisableRule" => set_state(state, input, "DISABLED").await,
        "PutTargets" => put_targets(state, input).await,
        "ListTargetsByRule" => list_targets(state, input).await,
        "RemoveTargets" => remove_targets(state, input).await,
        "PutEvents" => put_events(state, input).await,
        "TestEventPattern" => test_event_pattern(input),
        "CreateEventBus" => create_bus(state, input).await,
        "DescribeEventBus" => describe_bus(state, input).await,
        "ListEventBuses" => list_buses(state, input).await,
        "DeleteEventBus" => delete_bus(state, input).await,
        "TagResource" => tag(state, input).await,
        "UntagResource" => untag(state, input).await,
        "ListTagsForResource" => list_tags(state, input).await,
        other => Err(EventsError::new(
            "UnknownOperationException",
            format!("Cairn does not support the EventBridge operation {other} (see docs/api-support.md)"),
        )),
    }
}

fn events_arn<S: Store>(state: &ApiState<S>, resource: &str) -> String {
    let config = state.config();
    format!(
        "arn:{}:events:{}:{}:{resource}",
        config.partition, config.region, config.account_id
    )
}

fn check_name(field: &str, value: &str, max: usize, extra: &str) -> Result<(), EventsError> {
    if value.is_empty() || value.chars().count() > max {
        return Err(EventsError::validation(format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must have length between 1 and {max}"
        )));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c) || extra.contains(c))
    {
        return Err(EventsError::validation(format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: [{extra}\\.\\-_A-Za-z0-9]+"
        )));
    }
    Ok(())
}

fn optional_length(input: &Input, field: &str, max: usize) -> Result<Option<String>, EventsError> {
    let value = input.string(field)?.map(str::to_string);
    if let Some(v) = &value {
        if v.chars().count() > max {
            return Err(EventsError::validation(format!(
                "1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must have length less than or equal to {max}"
            )));
        }
    }
    Ok(value)
}

/// `EventBusName` (a name or an ARN) as a bus name that exists.
async fn bus_of<S: Store>(
    state: &ApiState<S>,
    input: &Input,
    field: &str,
) -> Result<String, EventsError> {
    let given = input.string(field)?.unwrap_or(DEFAULT_BUS);
    let name = match given.strip_prefix("arn:") {
        Some(_) => given
            .rsplit_once("event-bus/")
            .map(|(_, n)| n)
            .unwrap_or_default(),
        None => given,
    };
    check_name(field, name, 256, "/")?;
    if name != DEFAULT_BUS && state.store().describe_bus(name).await?.is_none() {
        return Err(EventsError::not_found(format!(
            "Event bus {name} does not exist."
        )));
    }
    Ok(name.to_string())
}

fn rule_arn<S: Store>(state: &ApiState<S>, bus: &str, name: &str) -> String {
    if bus == DEFAULT_BUS {
        events_arn(state, &format!("rule/{name}"))
    } else {
        events_arn(state, &format!("rule/{bus}/{name}"))
    }
}

async fn existing_rule<S: Store>(
    state: &ApiState<S>,
    input: &Input,
    field: &str,
) -> Result<RuleRecord, EventsError> {
    let bus = bus_of(state, input, "EventBusName").await?;
    let name = input.required_string(field)?;
    check_name(field, name, 64, "")?;
    state
        .store()
        .describe_rule(&bus, name)
        .await?
        .ok_or_else(|| {
            EventsError::not_found(format!("Rule {name} does not exist on EventBus {bus}."))
        })
}

pub(crate) fn tags_of(input: &Input, field: &str) -> Result<Vec<Tag>, EventsError> {
    let Some(list) = input.array(field)? else {
        return Ok(Vec::new());
    };
    let mut tags = Vec::new();
    for item in list {
        let (Some(Value::String(key)), value) = (item.get("Key"), item.get("Value")) else {
            return Err(EventsError::validation(format!(
                "Each of {field} needs a Key and a Value"
            )));
        };
        let value = match value {
            Some(Value::String(v)) => v.clone(),
            _ => {
                return Err(EventsError::validation(format!(
                    "Each of {field} needs a Key and a Value"
                )))
            }
        };
        if key.is_empty() || key.chars().count() > 128 || value.chars().count() > 256 {
            return Err(EventsError::validation(
                "A tag key has 1 to 128 characters, a value at most 256",
            ));
        }
        tags.push(Tag {
            key: key.clone(),
            value,
        });
    }
    if tags.len() > 50 {
        return Err(EventsError::new(
            "LimitExceededException",
            "A resource may carry at most 50 tags",
        ));
    }
    Ok(tags)
}

/// When a scheduled rule in `state` fires first, from `now`.
fn first_fire(
    expression: Option<&str>,
    state: &str,
    created: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, EventsError> {
    let Some(expression) = expression else {
        return Ok(None);
    };
    let expression =
        Expression::parse(expression, Dialect::Rule).map_err(|e| EventsError::validation(e.0))?;
    if state == "DISABLED" {
        return Ok(None);
    }
    let timing = Timing {
        expression,
        zone: chrono_tz::Tz::UTC,
        start: None,
        end: None,
        anchor: created,
        dialect: Dialect::Rule,
    };
    Ok(timing.next_after(now))
}

async fn put_rule<S: Store>(state: &ApiState<S>, input: &Input) -> Answer {
    let name = input.required_string("Name")?;
    check_name("name", name, 64, "")?;
    let bus = bus_of(state, input, "EventBusName").await?;
    let pattern = optional_length(input, "EventPattern", 4096)?;
    let schedule = optional_length(input, "ScheduleExpression", 256)?;
    let description = optional_length(input, "Description", 512)?;
    let role = optional_length(input, "RoleArn", 1600)?;
    let rule_state = input.string("State")?.unwrap_or("ENABLED").to_string();
    if ![
        "ENABLED",
        "DISABLED",
        "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS",
    ]
    .contains(&rule_state.as_str())
    {
        return Err(EventsError::validation(format!(
            "1 validation error detected: Value '{rule_state}' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS]"
        )));
    }
    if pattern.is_none() && schedule.is_none() {
        return Err(EventsError::validation(
            "Parameter(s) EventPattern or ScheduleExpression must be specified.",
        ));
    }
    if let Some(pattern) = &pattern {
        Pattern::parse(pattern)
            .map_err(|e| EventsError::new("InvalidEventPatternException", e.to_string()))?;
    }
    if schedule.is_some() && bus != DEFAULT_BUS {
        return Err(EventsError::validation(
            "ScheduleExpression is supported only on the default event bus.",
        ));
    }
    let tags = tags_of(input, "Tags")?;
    let now = chrono::Utc::now();
    let existing = state.store().describe_rule(&bus, name).await?;
    let created = existing.as_ref().map_or(now, |r| r.created_at);
    let next_fire_at = first_fire(schedule.as_deref(), &rule_state, created, now)?;
    let rule = RuleRecord {
        arn: rule_arn(state, &bus, name),
        bus,
        name: name.to_string(),
        event_pattern: pattern,
        schedule_expression: schedule,
        state: rule_state,
        description,
        role_arn: role,
        created_at: cairn_store::time::to_micros(now),
        next_fire_at,
    };
    let stored = state.store().put_rule(&rule, &tags).await?;
    Ok(json!({"RuleArn": stored.arn}))
}

fn rule_json(rule: &RuleRecord) -> Value {
    let mut out = Map::new();
    out.insert("Name".into(), json!(rule.name));
    out.insert("Arn".into(), json!(rule.arn));
    if let Some(p) = &rule.event_pattern {
        out.insert("EventPattern".into(), json!(p));
    }
    if let Some(s) = &rule.schedule_expression {
        out.insert("ScheduleExpression".into(), json!(s));
    }
    out.insert("State".into(), json!(rule.state));
    if let Some(d) = &rule.description {
        out.insert("Description".into(), json!(d));
    }
    if let Some(r) = &rule.role_arn {
        out.insert("RoleArn".into(), json!(r));
    }
    out.insert("EventBusName".into(), json!(rule.bus));
    Value::Object(out)
}

async fn describe_rule<S: Store>(state: &ApiState<S>, input: &Input) -> Answer {
    let rule = existing_rule(state, input, "Name").await?;
    let mut out = rule_json(&rule);
    if let Value::Object(o) = &mut out {
        o.insert("CreatedBy".into(), json!(state.config().account_id));
    }
    Ok(out)
}

/// `Limit`/`NextToken` of a List operation: the page size and where it resumes.
fn paging(input: &Input, operation: &str) -> Result<(i64, Option<String>), EventsError> {
    let limit = match input.integer("Limit")? {
        None => 100,
        Some(n) if (1..=100).contains(&n) => n,
        Some(n) => {
            return Err(EventsError::validation(format!(
                "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: Member must have value between 1 and 100"
            )))
        }
    };
    let after = match input.string("NextToken")? {
        Some(token) => Some(
            crate::page::decode(operation, token, 2048)
                .map_err(|_| EventsError::validation("The NextToken is not valid"))?,
        ),
        None => None,
    };
    Ok((limit, after))
}

fn with_token(
    mut out: Map<String, Value>,
    operation: &str,
    last: Option<&str>,
    full: bool,
) -> Value {
    if let (true, Some(last)) = (full, last) {
        out.insert(
            "NextToken".into(),
            json!(crate::page::encode(operation, last)),
        );
    }
    Value::Object(out)
}

async fn list_rules<S: Store>(state: &ApiState<S>, input: &Input) -> Answer {
    let bus = bus_of(state, input, "EventBusName").await?;
    let prefix = input.string("NamePrefix")?;
    let (limit, after) = paging(input, "ListRules")?;
    let rules = state
        .store()
        .list_rules(&bus, prefix, after.as_deref(), limit)
        .await?;
    let full = rules.len() as i64 == limit;
    let last = rules.last().map(|r| r.name.clone());
    let mut out = Map::new();
    out.insert(
        "Rules".into(),
        Value::Array(rules.iter().map(rule_json).collect()),
    );
    Ok(with_token(out, "ListRules", last.as_deref(), full))
}

async fn delete_rule<S: Store>(state: &ApiState<S>, input: &Input) -> Answer {
    let bus = bus_of(state, input, "EventBusName").await?;
    let name = input.required_string("Name")?;
    check_name("name", name, 64, "")?;
    input.bool("Force")?;
    match state.store().delete_rule(&bus, name).await? {
        // AWS answers a rule that is not there with success.
        RuleDeletion::Deleted | RuleDeletion::NotFound => Ok(json!({})),
        RuleDeletion::HasTargets => Err(EventsError::validation(
            "Rule can't be deleted since it has targets.",
        )),
    }
}

async fn set_state<S: Store>(state: &ApiState<S>, input: &Input, to: &str) -> Answer {
    let rule = existing_rule(state, input, "Name").await?;
    let next = first_fire(
        rule.schedule_expression.as_deref(),
        to,
        rule.created_at,
        chrono::Utc::now(),
    )?;
    state
        .store()
        .set_rule_state(&rule.bus, &rule.name, to, next)
        .await?;
    Ok(json!({}))
}

async fn put_targets<S: Store>(state: &ApiState<S>, input: &Input) -> Answer {
    let rule = existing_rule(state, input, "Rule").await?;
    let targets = input
        .array("Targets")?
        .ok_or_else(|| crate::error::ApiError::missing("targets"))?;
    if targets.is_empty() || targets.len() > 100 {
        return Err(EventsError::validation(
            "1 validation error detected: Value at 'targets' failed to satisfy constraint: Member must have length between 1 and 100",
        ));
    }
    let mut records = Vec::with_capacity(targets.len());
    for target in targets {
        let parsed = RuleTarget::parse(target).map_err(|e| EventsError::validation(e.0))?;
        records.push(TargetRecord {
            id: parsed.id,
            arn: parsed.machine_arn,
            spec: target.to_string(),
        });
    }
    let existing = state.store().list_targets(&rule.arn).await?;
    let mut ids: Vec<&str> = existing.iter().map(|t| t.id.as_str()).collect();
    ids.extend(records.iter().map(|t| t.id.as_str()));
    ids.sort_unstable();
    ids.dedup();
    if ids.len() > MAX_TARGETS_PER_RULE {
        return Err(EventsError::new(
            "LimitExceededException",
            format!("The requested resource exceeds the maximum number allowed: a rule has at most {MAX_TARGETS_PER_RULE} targets."),
        ));
    }
    if !state.store().put_targets(&rule.arn, &records).await? {
        return Err(EventsError::not_found(format!(
            "Rule {} does not exist on EventBus {}.",
            rule.name, rule.bus
        )));
    }
    Ok(json!({"FailedEntryCount": 0, "FailedEntries": []}))
}

async fn list_targets<S: Store>(state: &ApiState<S>, input: &Input) -> Answer {
    let rule = existing_rule(state, input, "Rule").await?;
    let (limit, after) = paging(input, "ListTargetsByRule")?;
    let all = state.store().list_targets(&rule.arn).await?;
    let start = match &after {
        Some(id) => all
            .iter()
            .position(|t| &t.id == id)
            .map_or(all.len(), |i| i + 1),
        None => 0,
    };
    let page: Vec<&TargetRecord> = all.iter().skip(start).take(limit as usize).collect();
    let full = start + page.len() < all.len();
    let last = page.last().map(|t| t.id.clone());
    let targets: Vec<Value> = page
        .iter()
        .map(|t| serde_json::from_str(&t.spec).unwrap_or(Value::Null))
        .collect();
    let mut out = Map::new();
    out.insert("Targets".into(), Value::Array(targets));
    Ok(with_token(out, "ListTargetsByRule", last.as_deref(), full))
}

async fn remove_targets<S: Store>(state: &ApiState<S>, input: &Input) -> Answer {
    let rule = existing_rule(state, input, "Rule").await?;
    let ids = input
        .array("Ids")?
        .ok_or_else(|| crate::error::ApiError::missing("ids"))?;
    if ids.is_empty() || ids.len() > 100 {
        return Err(EventsError::validation(
            "1 validation error detected: Value at 'ids' failed to satisfy constraint: Member must have length between 1 and 100",
        ));
    }
    let ids: Vec<String> = ids
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| EventsError::new("SerializationException", "Ids must be strings"))
        })
        .collect::<Result<_, _>>()?;
    input.bool("Force")?;
    state.store().remove_targets(&rule.arn, &ids).await?;
    Ok(json!({"FailedEntryCount": 0, "FailedEntries": []}))
}

/// An entry of PutEvents read from its JSON.
fn entry_of(value: &Value) -> Result<Entry, EventsError> {
    let Value::Object(object) = value else {
        return Err(EventsError::new(
            "SerializationException",
            "Each entry must be an object",
        ));
    };
    let text = |name: &str| -> Result<Option<String>, EventsError> {
        match object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(EventsError::new(
                "SerializationException",
                format!("Member '{name}' has the wrong type: expected a string"),
            )),
        }
    };
    let resources = match object.get("Resources") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(_) => {
            return Err(EventsError::new(
                "SerializationException",
                "Member 'Resources' has the wrong type: expected a list",
            ))
        }
    };
    let time = match object.get("Time") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n
            .as_f64()
            .and_then(|s| chrono::DateTime::from_timestamp_millis((s * 1000.0) as i64)),
        Some(_) => {
            return Err(EventsError::new(
                "SerializationException",
                "Member 'Time' has the wrong type: expected a timestamp",
            ))
        }
    };
    Ok(Entry {
        source: text("Source")?,
        detail_type: text("DetailType")?,
        detail: text("Detail")?,
        resources,
        time,
        bus: text("EventBusName")?,
    })
}

/// The deliveries an event makes: every target of every matching rule.
fn deliveries(
    rules: &[(cairn_store::rules::DueRule, Pattern)],
    event_id: &str,
    event: &Value,
    ingestion: &str,
    arrived: cairn_store::Time,
) -> Vec<NewDelivery> {
    let mut out = Vec::new();
    for (due, pattern) in rules {
        if !pattern.matches(event) {
            continue;
        }
        for target in &due.targets {
            let Ok(spec) = serde_json::from_str::<Value>(&target.spec) else {
                continue;
            };
            let Ok(parsed) = RuleTarget::parse(&spec) else {
                continue;
            };
            let context = Context {
                rule_arn: &due.rule.arn,
                rule_name: &due.rule.name,
                ingestion_time: ingestion,
            };
            out.push(NewDelivery {
                source_arn: due.rule.arn.clone(),
                target_id: parsed.id.clone(),
                machine_arn: parsed.machine_arn.clone(),
                execution_name: naming::for_event(event_id, &due.rule.arn, &parsed.id),
                input: parsed.input.render(event, &context),
                dead_letter_arn: parsed.dead_letter_arn.clone(),
                dead_letter_body: event.to_string(),
                max_retries: parsed.retry.maximum_retry_attempts,
                max_age_seconds: parsed.retry.maximum_event_age_seconds,
                arrived_at: arrived,
            });
        }
    }
    out
}

async fn put_events<S: Store>(state: &ApiState<S>, input: &Input) -> Answer {
    let entries = input
        .array("Entries")?
        .ok_or_else(|| crate::error::ApiError::missing("entries"))?;
    if entries.is_empty() || entries.len() > MAX_ENTRIES {
        return Err(EventsError::validation(format!(
            "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and {MAX_ENTRIES}"
        )));
    }
    if input.string("EndpointId")?.is_some() {
        return Err(EventsError::validation(
            "Cairn does not support global endpoints (EndpointId)",
        ));
    }
    let entries: Vec<Entry> = entries.iter().map(entry_of).collect::<Result<_, _>>()?;
    if entries.iter().map(Entry::size).sum::<usize>() > MAX_ENTRIES_BYTES {
        return Err(EventsError::validation(
            "Total size of the entries in the request is over the limit.",
        ));
    }
    let now = chrono::Utc::now();
    let arrived = cairn_store::time::to_micros(now);
    let ingestion = cairn_events::envelope::timestamp(now);
    let config = state.config();
    let mut answers = Vec::with_capacity(entries.len());
    let mut events = Vec::new();
    let mut failed = 0;
    let mut rules_by_bus: std::collections::HashMap<
        String,
        Vec<(cairn_store::rules::DueRule, Pattern)>,
    > = Default::default();
    for entry in &entries {
        let bus_given = entry.bus.as_deref().unwrap_or(DEFAULT_BUS);
        let bus = bus_given
            .rsplit_once("event-bus/")
            .map_or(bus_given, |(_, n)| n)
            .to_string();
        if bus != DEFAULT_BUS && state.store().describe_bus(&bus).await?.is_none() {
            failed += 1;
            answers.push(json!({"ErrorCode": "ResourceNotFoundException", "ErrorMessage": format!("Event bus {bus} does not exist.")}));
            continue;
        }
        let id = uuid::Uuid::new_v4().to_string();
        let event = match entry.event(&id, &config.account_id, &config.region, now) {
            Ok(event) => event,
            Err(error) => {
                failed += 1;
                answers.push(json!({"ErrorCode": error.code, "ErrorMessage": error.message}));
                continue;
            }
        };
        if !rules_by_bus.contains_key(&bus) {
            let rules = state.store().rules_to_match(&bus).await?;
            let compiled = rules
                .into_iter()
                .filter_map(|due| {
                    let pattern = Pattern::parse(due.rule.event_pattern.as_deref()?).ok()?;
                    Some((due, pattern))
                })
                .collect();
            rules_by_bus.insert(bus.clone(), compiled);
        }
        let matched = rules_by_bus
            .get(&bus)
            .map(|rules| deliveries(rules, &id, &event, &ingestion, arrived))
            .unwrap_or_default();
        events.push(NewEvent {
            id: id.clone(),
            bus,
            event: event.to_string(),
            arrived_at: arrived,
            deliveries: matched,
        });
        answers.push(json!({"EventId": id}));
    }
    if !events.is_empty() {
        state.store().put_events(&events).await?;
    }
    Ok(json!({"FailedEntryCount": failed, "Entries": answers}))
}

fn test_event_pattern(input: &Input) -> Answer {
    let pattern = input.required_string("EventPattern")?;
    let event = input.required_string("Event")?;
    let pattern = Pattern::parse(pattern)
        .map_err(|e| EventsError::new("InvalidEventPatternException", e.to_string()))?;
    let event: Value = serde_json::from_str(event)
        .map_err(|_| EventsError::validation("Parameter Event is not valid."))?;
    // AWS requires the envelope's fields in a test event.
    for field in ["id", "account", "source", "time", "region", "detail-type"] {
        if event.get(field).is_none() {
            return Err(EventsError::validation(format!(
                "Parameter Event is not valid: the event has no '{field}'."
            )));
        }
    }
    Ok(json!({"Result": pattern.matches(&event)}))
}

fn bus_json<S: Store>(state: &ApiState<S>, bus: &BusRecord) -> Value {
    let _ = state;
    let mut out = Map::new();
    out.insert("Name".into(), json!(bus.name));
    out.insert("Arn".into(), json!(bus.arn));
    if let Some(d) = &bus.description {
        out.insert("Description".into(), json!(d));
    }
    out.insert("CreationTime".into(), crate::epoch(bus.created_at));
    out.insert("LastModifiedTime".into(), crate::epoch(bus.modified_at));
    Value::Object(out)
}

fn default_bus<S: Store>(state: &ApiState<S>) -> BusRecord {
    BusRecord {
        name: DEFAULT_BUS.to_string(),
        arn: events_arn(state, "event-bus/default"),
        description: None,
        created_at: chrono::DateTime::UNIX_EPOCH,
        modified_at: chrono::DateTime::UNIX_EPOCH,
    }
}

async fn create_bus<S: Store>(state: &ApiState<S>, input: &Input) -> Answer {
    let name = input.required_string("Name")?;
    check_name("name", name, 256, "/")?;
    let description = optional_length(input, "Description", 512)?;
    if name == DEFAULT_BUS || name.starts_with("aws.") {
        return Err(EventsError::validation(format!(
            "Event bus name {name} is reserved."
        )));
    }
    for unsupported in [
        "EventSourceName",
        "KmsKeyIdentifier",
        "DeadLetterConfig",
        "LogConfig",
    ] {
        if input.object(unsupported).ok().flatten().is_some()
            || input.string(unsupported).ok().flatten().is_some()
        {
            return Err(EventsError::validation(format!(
                "Cairn does not support {unsupported} on event buses"
            )));
        }
    }
    let tags = tags_of(input, "Tags")?;
    let now = cairn_store::time::to_micros(chrono::Utc::now());
    let bus = BusRecord {
        name: name.to_string(),
        arn: events_arn(state, &format!("event-bus/{name}")),
        description: description.clone(),
        created_at: now,
        modified_at: now,
    };
    if !state.store().create_bus(&bus, &tags).await? {
        return Err(EventsError::new(
            "ResourceAlreadyExistsException",
            format!("Event bus {name} already exists."),
        ));
    }
    let mut out = json!({"EventBusArn": bus.arn});
    if let (Some(d), Value::Object(o)) = (description, &mut out) {
        o.insert("Description".into(), json!(d));
    }
    Ok(out)
}

async fn describe_bus<S: Store>(state: &ApiState<S>, input: &Input) -> Answer {
    let name = bus_of(state, input, "Name").await?;
    let bus = match state.store().describe_bus(&name).await? {
        Some(bus) => bus,
        None => default_bus(state),
    };
    Ok(bus_json(state, &bus))
}

async fn list_buses<S: Store>(state: &ApiState<S>, input: &Input) -> Answer {
    let prefix = input.string("NamePrefix")?;
    let (limit, after) = paging(input, "ListEventBuses")?;
    let mut buses = Vec::new();
    if after.is_none() && prefix.is_none_or(|p| DEFAULT_BUS.starts_with(p)) {
        buses.push(default_bus(state));
    }
    let stored = state
        .store()
        .list_buses(prefix, after.as_deref(), limit - buses.len() as i64)
        .await?;
    buses.extend(stored);
    let full = buses.len() as i64 == limit;
    let last = buses.last().map(|b| b.name.clone());
    let mut out = Map::new();
    out.insert(
        "EventBuses".into(),
        Value::Array(buses.iter().map(|b| bus_json(state, b)).collect()),
    );
    Ok(with_token(out, "ListEventBuses", last.as_deref(), full))
}

async fn delete_bus<S: Store>(state: &ApiState<S>, input: &Input) -> Answer {
    let name = input.required_string("Name")?;
    check_name("name", name, 256, "/")?;
    if name == DEFAULT_BUS {
        return Err(EventsError::validation("Cannot delete event bus default."));
    }
    state.store().delete_bus(name).await?;
    Ok(json!({}))
}

/// The EventBridge resource an ARN names, when it exists.
async fn resource_exists<S: Store>(state: &ApiState<S>, arn: &str) -> Result<bool, EventsError> {
    let prefix = events_arn(state, "");
    let Some(resource) = arn.strip_prefix(&prefix) else {
        return Ok(false);
    };
    if let Some(rest) = resource.strip_prefix("rule/") {
        let (bus, name) = rest.rsplit_once('/').unwrap_or((DEFAULT_BUS, rest));
        return Ok(state.store().describe_rule(bus, name).await?.is_some());
    }
    if let Some(name) = resource.strip_prefix("event-bus/") {
        return Ok(name == DEFAULT_BUS || state.store().describe_bus(name).await?.is_some());
    }
    Ok(false)
}

async fn tagged_resource<S: Store>(
    state: &ApiState<S>,
    input: &Input,
) -> Result<String, EventsError> {
    let arn = input.required_string("ResourceARN")?;
    if !resource_exists(state, arn).await? {
        return Err(EventsError::not_found(format!(
            "Resource {arn} does not exist."
        )));
    }
    Ok(arn.to_string())
}

async fn tag<S: Store>(state: &ApiState<S>, input: &Input) -> Answer {
    let arn = tagged_resource(state, input).await?;
    let tags = tags_of(input, "Tags")?;
    if input.array("Tags")?.is_none() {
        return Err(crate::error::ApiError::missing("tags").into());
    }
    let existing = state.store().tags_of(&arn).await?;
    let mut keys: Vec<&str> = existing
        .iter()
        .chain(&tags)
        .map(|t| t.key.as_str())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    if keys.len() > 50 {
        return Err(EventsError::new(
            "LimitExceededException",
            "A resource may carry at most 50 tags",
        ));
    }
    state.store().tag(&arn, &tags).await?;
    Ok(json!({}))
}

async fn untag<S: Store>(state: &ApiState<S>, input: &Input) -> Answer {
    let arn = tagged_resource(state, input).await?;
    let keys = input
        .array("TagKeys")?
        .ok_or_else(|| crate::error::ApiError::missing("tagKeys"))?;
    let keys: Vec<String> = keys
        .iter()
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect();
    state.store().untag(&arn, &keys).await?;
    Ok(json!({}))
}

async fn list_tags<S: Store>(state: &ApiState<S>, input: &Input) -> Answer {
    let arn = tagged_resource(state, input).await?;
    let tags = state.store().tags_of(&arn).await?;
    Ok(
        json!({"Tags": tags.iter().map(|t| json!({"Key": t.key, "Value": t.value})).collect::<Vec<_>>()}),
    )
}
