//! CreateStateMachine, DescribeStateMachine, UpdateStateMachine, DeleteStateMachine,
//! ListStateMachines, ValidateStateMachineDefinition, DescribeStateMachineForExecution.

use cairn_asl::diagnostic::{invalid_definition_message, Diagnostic, Severity};
use cairn_asl::validate::{validate, ValidateOptions};
use cairn_store::catalog::{
    CreateOutcome, MachineType, StateMachineChanges, StateMachineSpec, UpdateOutcome,
};
use cairn_store::versions::Publish;
use cairn_store::Store;
use serde_json::{json, Map, Value};

use super::{check_encryption, page, read_tags};
use crate::arn::{self, Kind, Qualifier};
use crate::error::ApiError;
use crate::input::{check_enum, check_length, Input};
use crate::{epoch, page as token, ApiState};

const MAX_DEFINITION: usize = 1024 * 1024;
const TYPES: &[&str] = &["STANDARD", "EXPRESS"];

/// The `type` member (STANDARD when absent), checked as AWS checks it.
fn read_type(input: &Input) -> Result<MachineType, ApiError> {
    let text = input.string("type")?.unwrap_or("STANDARD");
    check_enum("type", text, TYPES)?;
    MachineType::parse(text).ok_or_else(|| ApiError::Internal(format!("type {text}")))
}
const LOG_LEVELS: &[&str] = &["ALL", "ERROR", "FATAL", "OFF"];

/// The definition member: 1 to 1 MiB characters, never echoed.
fn read_definition(input: &Input) -> Result<Option<&str>, ApiError> {
    let definition = input.string("definition")?;
    if let Some(d) = definition {
        check_length("definition", d, 1, MAX_DEFINITION, true)?;
    }
    Ok(definition)
}

/// Validates a definition as CreateStateMachine does: `InvalidDefinition` with AWS's
/// message built from the diagnostics.
fn check_definition(definition: &str, express: bool) -> Result<(), ApiError> {
    let options = ValidateOptions {
        express,
        refuse_not_built: true,
        ..ValidateOptions::default()
    };
    match validate(definition, &options) {
        Ok(_) => Ok(()),
        Err(diagnostics) => Err(ApiError::InvalidDefinition(invalid_definition_message(
            &diagnostics,
        ))),
    }
}

/// `loggingConfiguration` in canonical form (defaults filled in), as JSON text.
fn read_logging(input: &Input) -> Result<Option<String>, ApiError> {
    let Some(config) = input.object("loggingConfiguration")? else {
        return Ok(None);
    };
    let level = match config.get("level") {
        None | Some(Value::Null) => "OFF",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => {
            return Err(ApiError::Serialization(
                "Member 'loggingConfiguration.level' has the wrong type: expected a string"
                    .to_string(),
            ))
        }
    };
    check_enum("loggingConfiguration.level", level, LOG_LEVELS)?;
    let include = match config.get("includeExecutionData") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(ApiError::Serialization(
                "Member 'loggingConfiguration.includeExecutionData' has the wrong type: expected a boolean"
                    .to_string(),
            ))
        }
    };
    let destinations =
        match config.get("destinations") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list.clone(),
            Some(_) => return Err(ApiError::Serialization(
                "Member 'loggingConfiguration.destinations' has the wrong type: expected a list"
                    .to_string(),
            )),
        };
    if destinations.len() > 1 || (level != "OFF" && destinations.is_empty()) {
        return Err(ApiError::InvalidLoggingConfiguration(
            "Invalid Logging Configuration: Must specify exactly one Log Destination.".to_string(),
        ));
    }
    let mut canonical = Map::new();
    canonical.insert("level".into(), json!(level));
    canonical.insert("includeExecutionData".into(), json!(include));
    if !destinations.is_empty() {
        canonical.insert("destinations".into(), Value::Array(destinations));
    }
    Ok(Some(Value::Object(canonical).to_string()))
}

/// `tracingConfiguration` in canonical form, as JSON text.
fn read_tracing(input: &Input) -> Result<Option<String>, ApiError> {
    let Some(config) = input.object("tracingConfiguration")? else {
        return Ok(None);
    };
    let enabled = match config.get("enabled") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        // A wrong JSON type fails deserialisation on AWS, as for any other member.
        Some(_) => {
            return Err(ApiError::Serialization(
                "Member 'tracingConfiguration.enabled' has the wrong type: expected a boolean"
                    .to_string(),
            ))
        }
    };
    Ok(Some(json!({ "enabled": enabled }).to_string()))
}

fn default_logging() -> String {
    json!({"level": "OFF", "includeExecutionData": false}).to_string()
}

fn default_tracing() -> String {
    json!({"enabled": false}).to_string()
}

/// A stored configuration text back to JSON, or the default when none was stored.
fn config_value(text: Option<&str>, default: fn() -> String) -> Value {
    let text = text.map(str::to_string).unwrap_or_else(default);
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// `publish` and `versionDescription`: what to publish with the create or update, as
/// AWS checks them (a description without `publish` is refused).
fn read_publish(input: &Input) -> Result<Option<Publish>, ApiError> {
    let description = super::versions::read_description(input, "versionDescription")?;
    match (input.bool("publish")?, description) {
        (Some(true), description) => Ok(Some(Publish {
            description: description.map(str::to_string),
        })),
        (_, Some(_)) => Err(ApiError::Validation(
            "Version description can only be set when publish is true".to_string(),
        )),
        (_, None) => Ok(None),
    }
}

pub async fn create<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let name = input.required_string("name")?;
    let definition = read_definition(input)?.ok_or_else(|| ApiError::missing("definition"))?;
    let role_arn = input.required_string("roleArn")?;
    let machine_type = read_type(input)?;
    arn::check_name("name", name)?;
    arn::check_role("roleArn", role_arn)?;
    let logging = read_logging(input)?.unwrap_or_else(default_logging);
    let tracing = read_tracing(input)?.unwrap_or_else(default_tracing);
    check_encryption(input)?;
    let publish = read_publish(input)?;
    let machine_arn = state.scope().state_machine(name);
    let tags = read_tags(input, "tags", &machine_arn)?;
    check_definition(definition, machine_type == MachineType::Express)?;

    let spec = StateMachineSpec {
        arn: machine_arn,
        name: name.to_string(),
        machine_type,
        definition: definition.to_string(),
        role_arn: role_arn.to_string(),
        logging,
        tracing,
        tags,
        publish,
    };
    match state.store().create_state_machine(&spec).await? {
        CreateOutcome::Created { machine, version }
        | CreateOutcome::Existing { machine, version } => {
            if spec.publish.is_some() && version.is_none() {
                return Err(super::versions::too_many_versions(&machine.arn));
            }
            let mut out = json!({
                "stateMachineArn": machine.arn,
                "creationDate": epoch(machine.created_at),
            });
            if let (Some(version), Value::Object(map)) = (version, &mut out) {
                map.insert("stateMachineVersionArn".into(), json!(version.arn()));
            }
            Ok(out)
        }
        CreateOutcome::Conflict => Err(ApiError::StateMachineAlreadyExists(spec.arn)),
        CreateOutcome::Deleting => Err(ApiError::StateMachineDeleting(spec.arn)),
    }
}

pub async fn describe<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let machine_arn = input.required_string("stateMachineArn")?;
    let parsed = arn::check_machine("stateMachineArn", machine_arn)?;
    let metadata_only = read_included_data(input)?;
    let missing = || ApiError::StateMachineDoesNotExist(machine_arn.to_string());
    let machine = state
        .store()
        .state_machine(&parsed.machine)
        .await?
        .ok_or_else(missing)?;
    let version = match parsed.qualifier {
        None => None,
        Some(Qualifier::Version(n)) => Some(
            state
                .store()
                .state_machine_version(&parsed.machine, n)
                .await?
                .ok_or_else(missing)?,
        ),
        Some(Qualifier::Alias(_)) => {
            return Err(ApiError::Validation(format!(
                "DescribeStateMachine takes a state machine or version ARN, not an alias ARN (see DescribeStateMachineAlias): '{machine_arn}'"
            )))
        }
    };
    // A version is its own snapshot: definition, role, logging, tracing and revision as
    // they were when it was published.
    let (definition, role_arn, logging, tracing, revision_id, created_at) = match &version {
        None => (
            &machine.definition,
            &machine.role_arn,
            machine.logging.as_deref(),
            machine.tracing.as_deref(),
            machine.revision_id.as_deref(),
            machine.created_at,
        ),
        Some(v) => (
            &v.definition,
            &v.role_arn,
            v.logging.as_deref(),
            v.tracing.as_deref(),
            v.revision_id.as_deref(),
            v.created_at,
        ),
    };
    let mut out = json!({
        "stateMachineArn": machine_arn,
        "name": machine.name,
        "status": machine.status.as_str(),
        "definition": if metadata_only { "{}" } else { definition.as_str() },
        "roleArn": role_arn,
        "type": machine.machine_type.as_str(),
        "creationDate": epoch(created_at),
        "loggingConfiguration": config_value(logging, default_logging),
        "tracingConfiguration": config_value(tracing, default_tracing),
    });
    if let Value::Object(map) = &mut out {
        if let Some(revision) = revision_id {
            map.insert("revisionId".into(), json!(revision));
        }
        if let Some(description) = version.as_ref().and_then(|v| v.description.as_ref()) {
            map.insert("description".into(), json!(description));
        }
    }
    Ok(out)
}

/// `includedData`: `true` for METADATA_ONLY.
pub(crate) fn read_included_data(input: &Input) -> Result<bool, ApiError> {
    match input.string("includedData")? {
        None => Ok(false),
        Some(value) => {
            check_enum("includedData", value, &["ALL_DATA", "METADATA_ONLY"])?;
            Ok(value == "METADATA_ONLY")
        }
    }
}

pub async fn update<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let machine_arn = input.required_string("stateMachineArn")?;
    // AWS: a version or alias ARN names no machine that can be updated.
    if arn::check_machine("stateMachineArn", machine_arn)?
        .qualifier
        .is_some()
    {
        return Err(ApiError::StateMachineDoesNotExist(machine_arn.to_string()));
    }
    let definition = read_definition(input)?;
    let role_arn = input.string("roleArn")?;
    if let Some(role) = role_arn {
        arn::check_role("roleArn", role)?;
    }
    let logging = read_logging(input)?;
    let tracing = read_tracing(input)?;
    check_encryption(input)?;
    let publish = read_publish(input)?;
    if definition.is_none()
        && role_arn.is_none()
        && logging.is_none()
        && tracing.is_none()
        && input.object("encryptionConfiguration")?.is_none()
    {
        return Err(ApiError::MissingRequiredParameter(
            "Either the definition, the roleArn, the loggingConfiguration, the tracingConfiguration or the encryptionConfiguration must be specified"
                .to_string(),
        ));
    }
    let machine = state
        .store()
        .state_machine(machine_arn)
        .await?
        .ok_or_else(|| ApiError::StateMachineDoesNotExist(machine_arn.to_string()))?;
    if let Some(definition) = definition {
        check_definition(definition, machine.machine_type == MachineType::Express)?;
    }
    let changes = StateMachineChanges {
        definition: definition.map(str::to_string),
        role_arn: role_arn.map(str::to_string),
        logging,
        tracing,
        revision_id: uuid::Uuid::new_v4().to_string(),
        publish,
    };
    match state
        .store()
        .update_state_machine(machine_arn, &changes)
        .await?
    {
        UpdateOutcome::Updated {
            updated_at,
            revision_id,
            version,
        } => {
            // AWS answers a revision id only when the update made a new revision.
            let mut out = json!({ "updateDate": epoch(updated_at) });
            if let Value::Object(map) = &mut out {
                if let Some(revision) = revision_id {
                    map.insert("revisionId".into(), json!(revision));
                }
                if let Some(version) = version {
                    map.insert("stateMachineVersionArn".into(), json!(version.arn()));
                }
            }
            Ok(out)
        }
        UpdateOutcome::NotFound => Err(ApiError::StateMachineDoesNotExist(machine_arn.to_string())),
        UpdateOutcome::Deleting => Err(ApiError::StateMachineDeleting(machine_arn.to_string())),
        UpdateOutcome::TooManyVersions => Err(super::versions::too_many_versions(machine_arn)),
    }
}

pub async fn delete<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let machine_arn = input.required_string("stateMachineArn")?;
    super::versions::unqualified("stateMachineArn", machine_arn)?;
    // AWS answers success for a machine that does not exist, and for one whose running
    // executions are still being stopped (it shows DELETING until they have).
    state.store().delete_state_machine(machine_arn).await?;
    Ok(json!({}))
}

pub async fn list<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let limit = input.page_size("maxResults", 100, 1000)?;
    let after = match input.string("nextToken")? {
        Some(t) => Some(token::decode("ListStateMachines", t, 1024)?),
        None => None,
    };
    let mut machines = state
        .store()
        .list_state_machines(after.as_deref(), limit + 1)
        .await?;
    let next = if machines.len() as i64 > limit {
        machines.truncate(limit as usize);
        machines
            .last()
            .map(|m| token::encode("ListStateMachines", &m.arn))
    } else {
        None
    };
    let items = machines
        .into_iter()
        .map(|m| {
            json!({
                "stateMachineArn": m.arn,
                "name": m.name,
                "type": m.machine_type.as_str(),
                "creationDate": epoch(m.created_at),
            })
        })
        .collect();
    Ok(page("stateMachines", items, next))
}

fn diagnostic_json(d: &Diagnostic) -> Value {
    let mut out = Map::new();
    let severity = match d.severity {
        Severity::Error => "ERROR",
        Severity::Warning => "WARNING",
    };
    out.insert("severity".into(), json!(severity));
    out.insert("code".into(), json!(d.code.as_str()));
    out.insert("message".into(), json!(d.message));
    if !d.location.is_empty() {
        out.insert("location".into(), json!(d.location));
    }
    Value::Object(out)
}

pub fn validate_definition(input: &Input) -> Result<Value, ApiError> {
    let definition = read_definition(input)?.ok_or_else(|| ApiError::missing("definition"))?;
    let machine_type = read_type(input)?;
    let severity = input.string("severity")?.unwrap_or("ERROR");
    check_enum("severity", severity, &["ERROR", "WARNING"])?;
    let max = input.page_size("maxResults", 100, 100)? as usize;
    let options = ValidateOptions {
        express: machine_type == MachineType::Express,
        refuse_not_built: true,
        ..ValidateOptions::default()
    };
    let (result, diagnostics) = match validate(definition, &options) {
        Ok((_, warnings)) => ("OK", warnings),
        Err(diagnostics) => ("FAIL", diagnostics),
    };
    let shown: Vec<&Diagnostic> = diagnostics
        .iter()
        .filter(|d| severity == "WARNING" || d.severity == Severity::Error)
        .collect();
    let truncated = shown.len() > max;
    let list: Vec<Value> = shown.into_iter().take(max).map(diagnostic_json).collect();
    Ok(json!({
        "result": result,
        "diagnostics": list,
        "truncated": truncated,
    }))
}

pub async fn describe_for_execution<S: Store>(
    state: &ApiState<S>,
    input: &Input,
) -> Result<Value, ApiError> {
    let execution_arn = input.required_string("executionArn")?;
    arn::check("executionArn", execution_arn, Kind::Execution)?;
    let metadata_only = read_included_data(input)?;
    let execution = state
        .store()
        .execution_definition(execution_arn)
        .await?
        .ok_or_else(|| ApiError::ExecutionDoesNotExist(execution_arn.to_string()))?;
    let machine = state
        .store()
        .state_machine(&execution.state_machine_arn)
        .await?;
    let name = execution
        .state_machine_arn
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string();
    // The machine as the execution saw it: the version that ran, or the current revision
    // when the definition is still the one the execution runs.
    let version = match execution
        .version_arn
        .as_deref()
        .map(|v| arn::check_machine("stateMachineVersionArn", v))
    {
        Some(Ok(arn::MachineArn {
            machine,
            qualifier: Some(Qualifier::Version(n)),
        })) => state.store().state_machine_version(&machine, n).await?,
        _ => None,
    };
    let current = machine
        .as_ref()
        .filter(|m| version.is_none() && m.definition_id == execution.definition_id);
    let update_date = match (&version, current) {
        (Some(v), _) => v.created_at,
        (None, Some(m)) => m.updated_at,
        (None, None) => execution.started_at,
    };
    let (logging, tracing, revision_id) = match (&version, current) {
        (Some(v), _) => (
            v.logging.as_deref(),
            v.tracing.as_deref(),
            v.revision_id.as_deref(),
        ),
        (None, Some(m)) => (
            m.logging.as_deref(),
            m.tracing.as_deref(),
            m.revision_id.as_deref(),
        ),
        (None, None) => (
            machine.as_ref().and_then(|m| m.logging.as_deref()),
            machine.as_ref().and_then(|m| m.tracing.as_deref()),
            None,
        ),
    };
    let definition = if metadata_only {
        "{}".to_string()
    } else {
        execution.definition
    };
    let mut out = json!({
        "stateMachineArn": execution.state_machine_arn,
        "name": name,
        "definition": definition,
        "roleArn": execution.role_arn,
        "updateDate": epoch(update_date),
        "loggingConfiguration": config_value(logging, default_logging),
        "tracingConfiguration": config_value(tracing, default_tracing),
    });
    if let (Some(revision), Value::Object(map)) = (revision_id, &mut out) {
        map.insert("revisionId".into(), json!(revision));
    }
    Ok(out)
}
