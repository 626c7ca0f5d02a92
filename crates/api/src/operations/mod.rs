//! One module per group of operations; [`dispatch`] maps an operation name to its
//! handler. Every handler checks its whole input before it writes anything, so a bad
//! request changes nothing.

mod activities;
mod aliases;
mod callbacks;
mod executions;
pub(crate) mod express;
mod map_runs;
mod state_machines;
mod tags;
mod test_cases;
mod test_state;
mod versions;

use cairn_store::catalog::Tag;
use cairn_store::Store;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::input::{check_enum, check_length, Input};
use crate::ApiState;

/// The Step Functions operations Cairn answers (see `docs/api-support.md`).
pub const SUPPORTED: &[&str] = &[
    "CreateActivity",
    "CreateStateMachine",
    "CreateStateMachineAlias",
    "DeleteActivity",
    "DeleteStateMachine",
    "DeleteStateMachineAlias",
    "DeleteStateMachineVersion",
    "DescribeActivity",
    "DescribeExecution",
    "DescribeMapRun",
    "DescribeStateMachine",
    "DescribeStateMachineAlias",
    "DescribeStateMachineForExecution",
    "GetActivityTask",
    "GetExecutionHistory",
    "ListActivities",
    "ListExecutions",
    "ListMapRuns",
    "ListStateMachineAliases",
    "ListStateMachineVersions",
    "ListStateMachines",
    "ListTagsForResource",
    "PublishStateMachineVersion",
    "RedriveExecution",
    "SendTaskFailure",
    "SendTaskHeartbeat",
    "SendTaskSuccess",
    "StartExecution",
    "StartSyncExecution",
    "StopExecution",
    "TagResource",
    "TestState",
    "UntagResource",
    "UpdateStateMachine",
    "UpdateMapRun",
    "UpdateStateMachineAlias",
    "ValidateStateMachineDefinition",
];

/// The Step Functions operations Cairn does not have yet: each answers an
/// `UnknownOperationException` that names it, so boto3 raises a `ClientError` that says
/// what is missing.
pub const UNSUPPORTED: &[&str] = &[];

/// Runs `operation` on `input`.
pub async fn dispatch<S: Store>(
    state: &ApiState<S>,
    operation: &str,
    input: &Input,
) -> Result<Value, ApiError> {
    // Only real actions have buckets, so unknown names cannot grow the table.
    if SUPPORTED.contains(&operation) && !state.throttle().admit(operation) {
        if operation == "StartExecution" {
            // ExecutionThrottled, per state machine: only for an ARN that is one.
            if let Ok(Some(machine)) = input.string("stateMachineArn") {
                if let Ok(machine) = crate::arn::check_machine("stateMachineArn", machine) {
                    cairn_telemetry::execution_throttled(&machine.machine);
                }
            }
        }
        return Err(ApiError::Throttling("Rate exceeded".to_string()));
    }
    match operation {
        "CreateStateMachine" => state_machines::create(state, input).await,
        "DescribeStateMachine" => state_machines::describe(state, input).await,
        "UpdateStateMachine" => state_machines::update(state, input).await,
        "DeleteStateMachine" => state_machines::delete(state, input).await,
        "ListStateMachines" => state_machines::list(state, input).await,
        "ValidateStateMachineDefinition" => state_machines::validate_definition(input),
        "DescribeStateMachineForExecution" => state_machines::describe_for_execution(state, input).await,
        "StartExecution" => executions::start(state, input).await,
        "StartSyncExecution" => express::start_sync(state, input).await,
        "StopExecution" => executions::stop(state, input).await,
        "RedriveExecution" => executions::redrive(state, input).await,
        "DescribeExecution" => executions::describe(state, input).await,
        "ListExecutions" => executions::list(state, input).await,
        "DescribeMapRun" => map_runs::describe(state, input).await,
        "ListMapRuns" => map_runs::list(state, input).await,
        "UpdateMapRun" => map_runs::update(state, input).await,
        "GetExecutionHistory" => executions::history(state, input).await,
        "CreateActivity" => activities::create(state, input).await,
        "DescribeActivity" => activities::describe(state, input).await,
        "DeleteActivity" => activities::delete(state, input).await,
        "ListActivities" => activities::list(state, input).await,
        "GetActivityTask" => callbacks::get_activity_task(state, input).await,
        "SendTaskSuccess" => callbacks::send_success(state, input).await,
        "SendTaskFailure" => callbacks::send_failure(state, input).await,
        "SendTaskHeartbeat" => callbacks::send_heartbeat(state, input).await,
        "PublishStateMachineVersion" => versions::publish(state, input).await,
        "ListStateMachineVersions" => versions::list(state, input).await,
        "DeleteStateMachineVersion" => versions::delete(state, input).await,
        "CreateStateMachineAlias" => aliases::create(state, input).await,
        "DescribeStateMachineAlias" => aliases::describe(state, input).await,
        "UpdateStateMachineAlias" => aliases::update(state, input).await,
        "DeleteStateMachineAlias" => aliases::delete(state, input).await,
        "ListStateMachineAliases" => aliases::list(state, input).await,
        "TagResource" => tags::tag(state, input).await,
        "UntagResource" => tags::untag(state, input).await,
        "ListTagsForResource" => tags::list(state, input).await,
        "TestState" => test_state::test_state(state, input).await,
        other if UNSUPPORTED.contains(&other) => Err(ApiError::UnknownOperation(format!(
            "Cairn does not support the Step Functions operation {other} yet (see docs/api-support.md)"
        ))),
        other => Err(ApiError::UnknownOperation(format!(
            "Unknown operation: Step Functions has no operation named '{other}'"
        ))),
    }
}

/// AWS's limit on tags per resource.
pub(crate) const MAX_TAGS: usize = 50;

/// Reads a `tags` list member (`[{"key": ..., "value": ...}]`) meant for `resource`.
pub(crate) fn read_tags(input: &Input, field: &str, resource: &str) -> Result<Vec<Tag>, ApiError> {
    let Some(list) = input.array(field)? else {
        return Ok(Vec::new());
    };
    let mut tags = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let Value::Object(tag) = item else {
            return Err(ApiError::Serialization(format!(
                "Member '{field}.{}' has the wrong type: expected an object",
                i + 1
            )));
        };
        let member = |name: &str| -> Result<Option<String>, ApiError> {
            match tag.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(ApiError::Serialization(format!(
                    "Member '{field}.{}.member.{name}' has the wrong type: expected a string",
                    i + 1
                ))),
            }
        };
        let key_field = format!("{field}.{}.member.key", i + 1);
        let key = member("key")?.ok_or_else(|| ApiError::missing(&key_field))?;
        check_length(&key_field, &key, 1, 128, false)?;
        let value = member("value")?.unwrap_or_default();
        check_length(
            &format!("{field}.{}.member.value", i + 1),
            &value,
            0,
            256,
            false,
        )?;
        tags.push(Tag { key, value });
    }
    let mut keys: Vec<&str> = tags.iter().map(|t| t.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    if keys.len() > MAX_TAGS {
        return Err(ApiError::TooManyTags(resource.to_string()));
    }
    Ok(tags)
}

/// `encryptionConfiguration`: only AWS-owned keys, which is to say none, are supported.
pub(crate) fn check_encryption(input: &Input) -> Result<(), ApiError> {
    let Some(config) = input.object("encryptionConfiguration")? else {
        return Ok(());
    };
    // A wrong JSON type fails deserialisation on AWS, before any constraint is checked.
    let kind = match config.get("type") {
        None | Some(Value::Null) => return Err(ApiError::missing("encryptionConfiguration.type")),
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => {
            return Err(ApiError::Serialization(
                "Member 'encryptionConfiguration.type' has the wrong type: expected a string"
                    .to_string(),
            ))
        }
    };
    check_enum(
        "encryptionConfiguration.type",
        kind,
        &["AWS_OWNED_KEY", "CUSTOMER_MANAGED_KMS_KEY"],
    )?;
    if kind == "CUSTOMER_MANAGED_KMS_KEY" {
        return Err(ApiError::InvalidEncryptionConfiguration(
            "Cairn does not support customer managed KMS keys".to_string(),
        ));
    }
    Ok(())
}

/// A list page: items and, when more follow, the next token.
pub(crate) fn page(member: &str, items: Vec<Value>, next: Option<String>) -> Value {
    let mut out = serde_json::Map::new();
    out.insert(member.to_string(), Value::Array(items));
    if let Some(token) = next {
        out.insert("nextToken".to_string(), json!(token));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every Step Functions operation is either supported or refused by name, and the
    /// support table in the docs lists each with a state that matches.
    #[test]
    fn every_operation_is_accounted_for() {
        let mut all: Vec<&str> = SUPPORTED.iter().chain(UNSUPPORTED).copied().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 37, "the Step Functions model has 37 operations");
        let doc = include_str!("../../../../docs/api-support.md");
        for operation in SUPPORTED {
            let row = format!("| {operation} | ");
            let line = doc.lines().find(|l| l.starts_with(&row));
            assert!(
                line.is_some_and(|l| l.contains("| supported |") || l.contains("| partial |")),
                "{operation} is not listed as supported or partial"
            );
        }
        for operation in UNSUPPORTED {
            let row = format!("| {operation} | not yet |");
            assert!(doc.contains(&row), "{operation} is not listed as not yet");
        }
    }
}
