//! PublishStateMachineVersion, ListStateMachineVersions, DeleteStateMachineVersion, and
//! what a qualified state machine ARN resolves to when an execution starts.

use cairn_store::catalog::{MachineStatus, StateMachineRecord};
use cairn_store::versions::{DeleteVersionOutcome, Publish, PublishOutcome, VersionRecord};
use cairn_store::Store;
use serde_json::{json, Value};

use super::page;
use crate::arn::{self, MachineArn, Qualifier};
use crate::error::ApiError;
use crate::input::{check_length, Input};
use crate::{epoch, page as token, ApiState};

/// AWS's limit on a version's description.
const MAX_DESCRIPTION: usize = 256;

/// Reads `field` (a version description) as AWS checks it.
pub(crate) fn read_description<'a>(
    input: &'a Input,
    field: &str,
) -> Result<Option<&'a str>, ApiError> {
    let description = input.string(field)?;
    if let Some(d) = description {
        check_length(field, d, 0, MAX_DESCRIPTION, true)?;
    }
    Ok(description)
}

/// The machine an unqualified state machine ARN names, refusing a version or alias
/// ARN as AWS does where only the machine makes sense.
pub(crate) fn unqualified(field: &str, arn: &str) -> Result<MachineArn, ApiError> {
    let parsed = arn::check_machine(field, arn)?;
    if parsed.qualifier.is_some() {
        return Err(ApiError::Validation(format!(
            "Invalid Arn: expected an unqualified state machine ARN, got a version or alias ARN: '{arn}'"
        )));
    }
    Ok(parsed)
}

/// The error for a publish that did not publish.
pub(crate) fn publish_refused(
    machine_arn: &str,
    given: Option<&str>,
    outcome: PublishOutcome,
) -> ApiError {
    match outcome {
        PublishOutcome::NoMachine { deleting: true } => {
            ApiError::StateMachineDeleting(machine_arn.to_string())
        }
        PublishOutcome::NoMachine { deleting: false } | PublishOutcome::Published(_) => {
            ApiError::StateMachineDoesNotExist(machine_arn.to_string())
        }
        PublishOutcome::StaleRevision { current } => ApiError::Conflict(format!(
            "Failed to publish the State Machine version for revision {}. The current State Machine revision is {}.",
            given.unwrap_or_default(),
            current.as_deref().unwrap_or("null")
        )),
        PublishOutcome::TooMany => too_many_versions(machine_arn),
    }
}

pub(crate) fn too_many_versions(machine_arn: &str) -> ApiError {
    ApiError::ServiceQuotaExceeded(format!(
        "The state machine '{machine_arn}' has reached the limit of {} published versions",
        cairn_store::versions::MAX_VERSIONS
    ))
}

pub async fn publish<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let machine_arn = input.required_string("stateMachineArn")?;
    let machine = unqualified("stateMachineArn", machine_arn)?;
    let revision_id = input.string("revisionId")?;
    if let Some(revision) = revision_id {
        check_length("revisionId", revision, 0, 2048, false)?;
    }
    let description = read_description(input, "description")?;
    let publish = Publish {
        description: description.map(str::to_string),
    };
    match state
        .store()
        .publish_version(&machine.machine, revision_id, &publish)
        .await?
    {
        PublishOutcome::Published(version) => Ok(json!({
            "stateMachineVersionArn": version.arn(),
            "creationDate": epoch(version.created_at),
        })),
        refused => Err(publish_refused(&machine.machine, revision_id, refused)),
    }
}

pub async fn list<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let machine_arn = input.required_string("stateMachineArn")?;
    let machine = unqualified("stateMachineArn", machine_arn)?;
    let limit = input.page_size("maxResults", 100, 1000)?;
    let before = match input.string("nextToken")? {
        Some(t) => {
            let cursor = token::decode("ListStateMachineVersions", t, 1024)?;
            Some(
                cursor
                    .parse::<i64>()
                    .map_err(|_| ApiError::InvalidToken(format!("Invalid token: {t}")))?,
            )
        }
        None => None,
    };
    let mut versions = state
        .store()
        .list_versions(&machine.machine, before, limit + 1)
        .await?
        .ok_or_else(|| ApiError::StateMachineDoesNotExist(machine.machine.clone()))?;
    let next = if versions.len() as i64 > limit {
        versions.truncate(limit as usize);
        versions
            .last()
            .map(|v| token::encode("ListStateMachineVersions", &v.version.to_string()))
    } else {
        None
    };
    let items = versions
        .iter()
        .map(|v| {
            json!({
                "stateMachineVersionArn": v.arn(),
                "creationDate": epoch(v.created_at),
            })
        })
        .collect();
    Ok(page("stateMachineVersions", items, next))
}

pub async fn delete<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let version_arn = input.required_string("stateMachineVersionArn")?;
    let parsed = arn::check_machine("stateMachineVersionArn", version_arn)?;
    let Some(Qualifier::Version(number)) = parsed.qualifier else {
        return Err(ApiError::Validation(format!(
            "Invalid Arn: expected a state machine version ARN: '{version_arn}'"
        )));
    };
    match state.store().delete_version(&parsed.machine, number).await? {
        DeleteVersionOutcome::Deleted => Ok(json!({})),
        DeleteVersionOutcome::RoutedBy(aliases) => Err(ApiError::Conflict(format!(
            "Version to be deleted must not be referenced by an alias. Current list of aliases referencing this version: [{}]",
            aliases.join(", ")
        ))),
    }
}

/// What a start through a state machine ARN runs: the machine, the version (of the ARN,
/// or chosen by its alias) and the alias.
pub(crate) struct StartTarget {
    pub machine: StateMachineRecord,
    pub version: Option<VersionRecord>,
    pub alias_arn: Option<String>,
}

impl StartTarget {
    /// The machine as this start runs it: the version's definition and role, when a
    /// version runs.
    pub(crate) fn as_run(&self) -> StateMachineRecord {
        let mut machine = self.machine.clone();
        if let Some(version) = &self.version {
            machine.definition_id = version.definition_id;
            machine.definition = version.definition.clone();
            machine.role_arn = version.role_arn.clone();
        }
        machine
    }
}

/// Resolves `arn` for a start: `StateMachineDoesNotExist` (with the ARN as given) when
/// the machine, version or alias is not there, `StateMachineDeleting` for a machine
/// being deleted. An alias picks one of its versions by weight.
pub(crate) async fn start_target<S: Store>(
    state: &ApiState<S>,
    arn: &MachineArn,
) -> Result<StartTarget, ApiError> {
    let missing = || ApiError::StateMachineDoesNotExist(arn.arn());
    let catalog = state.catalog();
    let machine = catalog
        .machine(state.store(), &arn.machine)
        .await?
        .ok_or_else(missing)?;
    if machine.status == MachineStatus::Deleting {
        return Err(ApiError::StateMachineDeleting(arn.machine.clone()));
    }
    let (number, alias_arn) = match &arn.qualifier {
        None => {
            return Ok(StartTarget {
                machine,
                version: None,
                alias_arn: None,
            })
        }
        Some(Qualifier::Version(n)) => (*n, None),
        Some(Qualifier::Alias(_)) => {
            let alias = catalog
                .alias(state.store(), &arn.arn())
                .await?
                .ok_or_else(missing)?;
            let chosen = super::aliases::choose(&alias.routes).ok_or_else(missing)?;
            let number = arn::check_machine("stateMachineArn", &chosen)?
                .qualifier
                .and_then(|q| match q {
                    Qualifier::Version(n) => Some(n),
                    Qualifier::Alias(_) => None,
                })
                .ok_or_else(missing)?;
            (number, Some(alias.arn))
        }
    };
    let version = catalog
        .version(state.store(), &arn.machine, number)
        .await?
        .ok_or_else(missing)?;
    Ok(StartTarget {
        machine,
        version: Some(version),
        alias_arn,
    })
}
