//! State machines as resources (create with tags, update, delete, list), activities and
//! tags: what the API's resource operations read and write.
//!
//! Lookups answer `Option` (or an outcome enum) rather than an error, so the API
//! decides which AWS error a missing resource becomes.

use std::future::Future;

use crate::versions::{Publish, VersionRecord};
use crate::{Result, Time};

/// A tag as `TagResource` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// A state machine's type: durable executions, or in-memory ones that store nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MachineType {
    Standard,
    Express,
}

impl MachineType {
    /// AWS's spelling, as rows keep it: `STANDARD`, `EXPRESS`.
    pub fn as_str(self) -> &'static str {
        match self {
            MachineType::Standard => "STANDARD",
            MachineType::Express => "EXPRESS",
        }
    }

    /// The type AWS's spelling names, if any.
    pub fn parse(text: &str) -> Option<MachineType> {
        [MachineType::Standard, MachineType::Express]
            .into_iter()
            .find(|t| t.as_str() == text)
    }

    /// A stored type; what cannot be read is reported corrupt.
    pub(crate) fn stored(text: &str) -> Result<MachineType> {
        MachineType::parse(text)
            .ok_or_else(|| crate::StoreError::Corrupt(format!("state machine type {text:?}")))
    }
}

/// Where a state machine stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineStatus {
    Active,
    /// Deleted while executions ran: they are stopped, then the machine is gone.
    Deleting,
}

impl MachineStatus {
    /// AWS's spelling, as rows keep it: `ACTIVE`, `DELETING`.
    pub fn as_str(self) -> &'static str {
        match self {
            MachineStatus::Active => "ACTIVE",
            MachineStatus::Deleting => "DELETING",
        }
    }

    pub(crate) fn stored(text: &str) -> Result<MachineStatus> {
        match text {
            "ACTIVE" => Ok(MachineStatus::Active),
            "DELETING" => Ok(MachineStatus::Deleting),
            other => Err(crate::StoreError::Corrupt(format!(
                "state machine status {other:?}"
            ))),
        }
    }
}

/// A state machine to create. `logging` and `tracing` are canonical JSON texts (the
/// API fills in the defaults), so comparing texts compares configurations.
#[derive(Debug, Clone)]
pub struct StateMachineSpec {
    pub arn: String,
    pub name: String,
    pub machine_type: MachineType,
    pub definition: String,
    pub role_arn: String,
    pub logging: String,
    pub tracing: String,
    pub tags: Vec<Tag>,
    /// Publish the first version too (`publish: true`).
    pub publish: Option<Publish>,
}

/// A state machine as `DescribeStateMachine` shows it.
#[derive(Debug, Clone)]
pub struct StateMachineRecord {
    pub arn: String,
    pub name: String,
    pub machine_type: MachineType,
    pub definition_id: i64,
    pub definition: String,
    pub role_arn: String,
    pub status: MachineStatus,
    /// `None` until an update changes the machine (as AWS gives it).
    pub revision_id: Option<String>,
    /// JSON text; `None` for machines created without one.
    pub logging: Option<String>,
    /// JSON text; `None` for machines created without one.
    pub tracing: Option<String>,
    pub created_at: Time,
    pub updated_at: Time,
}

impl StateMachineRecord {
    /// The machine `spec` creates, stored with `definition_id`, at `created_at`.
    pub(crate) fn created(
        spec: &StateMachineSpec,
        definition_id: i64,
        created_at: Time,
        updated_at: Time,
    ) -> StateMachineRecord {
        StateMachineRecord {
            arn: spec.arn.clone(),
            name: spec.name.clone(),
            machine_type: spec.machine_type,
            definition_id,
            definition: spec.definition.clone(),
            role_arn: spec.role_arn.clone(),
            status: MachineStatus::Active,
            revision_id: None,
            logging: Some(spec.logging.clone()),
            tracing: Some(spec.tracing.clone()),
            created_at,
            updated_at,
        }
    }
}

/// The answer to [`Catalog::create_state_machine`].
#[derive(Debug, Clone)]
pub enum CreateOutcome {
    /// Created, with its first version when the spec asked to publish.
    Created {
        machine: StateMachineRecord,
        version: Option<VersionRecord>,
    },
    /// A machine of that name exists with the same definition, type, logging and
    /// tracing: AWS treats the call as a repeat of the first and changes nothing (asked
    /// to publish, it answers the current revision's version, publishing it if needed).
    Existing {
        machine: StateMachineRecord,
        version: Option<VersionRecord>,
    },
    /// A machine of that name exists with something else.
    Conflict,
    /// A machine of that name is being deleted.
    Deleting,
}

/// What `UpdateStateMachine` changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct StateMachineChanges {
    pub definition: Option<String>,
    pub role_arn: Option<String>,
    pub logging: Option<String>,
    pub tracing: Option<String>,
    /// The id of the new revision, used only if the changes change something.
    pub revision_id: String,
    /// Publish the revision after the update (`publish: true`).
    pub publish: Option<Publish>,
}

/// The answer to [`Catalog::update_state_machine`].
// One answer per call, matched at once: boxing the version would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum UpdateOutcome {
    Updated {
        updated_at: Time,
        /// The new revision; `None` when the update changed nothing.
        revision_id: Option<String>,
        /// The current revision's version, when asked to publish.
        version: Option<VersionRecord>,
    },
    NotFound,
    /// The machine is being deleted.
    Deleting,
    /// Asked to publish, but the machine has the most versions it may have.
    TooManyVersions,
}

/// The answer to [`Catalog::delete_state_machine`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// Gone, with its versions, aliases and tags.
    Deleted,
    /// Executions run: each is asked to stop, and the machine is gone once they have
    /// (it shows `DELETING` meanwhile).
    Deleting,
    /// There was no such machine.
    Absent,
}

/// The `Stop` a running execution receives when its machine is deleted.
pub(crate) fn deleted_machine_stop(machine_arn: &str) -> cairn_asl::interpreter::Event {
    cairn_asl::interpreter::Event::Stop {
        error: None,
        cause: Some(format!("The state machine {machine_arn} was deleted")),
    }
}

/// Whether `changes` would change `machine`: a revision is made only then.
pub(crate) fn changes_anything(
    machine: &StateMachineRecord,
    changes: &StateMachineChanges,
) -> bool {
    let differs = |new: &Option<String>, old: &str| new.as_deref().is_some_and(|n| n != old);
    let differs_opt = |new: &Option<String>, old: &Option<String>| {
        new.as_deref().is_some_and(|n| old.as_deref() != Some(n))
    };
    differs(&changes.definition, &machine.definition)
        || differs(&changes.role_arn, &machine.role_arn)
        || differs_opt(&changes.logging, &machine.logging)
        || differs_opt(&changes.tracing, &machine.tracing)
}

#[derive(Debug, Clone)]
pub struct StateMachineSummary {
    pub arn: String,
    pub name: String,
    pub machine_type: MachineType,
    pub created_at: Time,
}

#[derive(Debug, Clone)]
pub struct ActivityRecord {
    pub arn: String,
    pub name: String,
    pub created_at: Time,
}

/// The answer to [`Catalog::tag_resource`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagOutcome {
    Tagged,
    /// No state machine or activity has this ARN.
    NotFound,
    /// The resource would carry more tags than allowed; nothing was changed.
    TooMany,
}

/// The API's resource catalogue. Every method that writes does so in one transaction.
pub trait Catalog: Send + Sync {
    /// Creates a state machine and its tags in one transaction, or reports the machine
    /// that already has this ARN (see [`CreateOutcome`]).
    fn create_state_machine(
        &self,
        spec: &StateMachineSpec,
    ) -> impl Future<Output = Result<CreateOutcome>> + Send;
    fn state_machine(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<Option<StateMachineRecord>>> + Send;
    /// Applies `changes` (a new revision only if they change something), then
    /// publishes when asked.
    fn update_state_machine(
        &self,
        arn: &str,
        changes: &StateMachineChanges,
    ) -> impl Future<Output = Result<UpdateOutcome>> + Send;
    /// Deletes the machine with its versions, aliases and tags. Executions keep their
    /// rows; running ones are asked to stop in the same transaction, and the machine is
    /// `DELETING` until they have (a read after that finds it gone).
    fn delete_state_machine(&self, arn: &str)
        -> impl Future<Output = Result<DeleteOutcome>> + Send;
    /// Machines in ARN order, after `after` when given.
    fn list_state_machines(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<StateMachineSummary>>> + Send;

    /// Creates an activity with its tags, or returns the one of that name (AWS: tags of
    /// a repeated call are ignored).
    fn create_activity(
        &self,
        arn: &str,
        name: &str,
        tags: &[Tag],
    ) -> impl Future<Output = Result<ActivityRecord>> + Send;
    fn activity(&self, arn: &str) -> impl Future<Output = Result<Option<ActivityRecord>>> + Send;
    /// Deletes the activity and its tags; `false` when there was none.
    fn delete_activity(&self, arn: &str) -> impl Future<Output = Result<bool>> + Send;
    /// Activities in ARN order, after `after` when given.
    fn list_activities(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<ActivityRecord>>> + Send;

    /// Adds or overwrites tags on a state machine or activity, refusing (and changing
    /// nothing) when the resource would end with more than `max_tags`.
    fn tag_resource(
        &self,
        arn: &str,
        tags: &[Tag],
        max_tags: i64,
    ) -> impl Future<Output = Result<TagOutcome>> + Send;
    /// `false` when no state machine or activity has this ARN.
    fn untag_resource(
        &self,
        arn: &str,
        keys: &[String],
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Tags in key order; `None` when no state machine or activity has this ARN.
    fn list_tags(&self, arn: &str) -> impl Future<Output = Result<Option<Vec<Tag>>>> + Send;
}

/// Tags deduplicated by key, the last value winning (as a map would have it).
pub(crate) fn distinct_tags(tags: &[Tag]) -> Vec<Tag> {
    let mut distinct: Vec<Tag> = Vec::with_capacity(tags.len());
    for tag in tags {
        match distinct.iter_mut().find(|t| t.key == tag.key) {
            Some(existing) => existing.value = tag.value.clone(),
            None => distinct.push(tag.clone()),
        }
    }
    distinct
}

/// Whether `existing` is what a repeat of the call `spec` would create: AWS then treats
/// the call as that repeat and changes nothing. A machine created without a logging or
/// tracing configuration matches any.
pub(crate) fn is_repeat(existing: &StateMachineRecord, spec: &StateMachineSpec) -> bool {
    existing.definition == spec.definition
        && existing.machine_type == spec.machine_type
        && existing.logging.as_deref().unwrap_or(&spec.logging) == spec.logging
        && existing.tracing.as_deref().unwrap_or(&spec.tracing) == spec.tracing
}
