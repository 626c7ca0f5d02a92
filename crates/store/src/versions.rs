//! Versions and aliases of state machines.
//!
//! A **version** is an immutable snapshot of a machine's current revision (its definition,
//! role, logging and tracing), numbered per machine from 1; a deleted number is never
//! given again. Publishing is idempotent per revision: a revision that has a version gets
//! that version back. An **alias** routes the starts made through it to one or two
//! versions of its machine, by weight.
//!
//! ARNs: a version is its machine's ARN and `:<number>`, an alias its machine's ARN and
//! `:<name>` (alias names always hold a letter, `_`, `-` or `.`, so the two never mix).

use std::future::Future;

use crate::{Result, Time};

/// AWS's quota of published versions per state machine.
pub const MAX_VERSIONS: i64 = 1000;
/// AWS's quota of aliases per state machine.
pub const MAX_ALIASES: i64 = 100;

/// The ARN of version `version` of `machine_arn`.
pub fn version_arn(machine_arn: &str, version: i64) -> String {
    format!("{machine_arn}:{version}")
}

/// The ARN of alias `name` of `machine_arn`.
pub fn alias_arn(machine_arn: &str, name: &str) -> String {
    format!("{machine_arn}:{name}")
}

/// The `revisionId` a caller gives for a machine that has never been updated.
pub const INITIAL_REVISION: &str = "INITIAL";

/// Whether `expected` (a caller's `revisionId`) names the revision `current`; `INITIAL`
/// names the first, which has no id.
pub fn is_current_revision(expected: &str, current: Option<&str>) -> bool {
    match current {
        Some(current) => current == expected,
        None => expected == INITIAL_REVISION,
    }
}

/// A published version.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionRecord {
    pub machine_arn: String,
    pub version: i64,
    pub definition_id: i64,
    pub definition: String,
    pub role_arn: String,
    /// JSON text, as the machine had it.
    pub logging: Option<String>,
    pub tracing: Option<String>,
    /// The machine's revision it was published from; `None` for a machine never updated.
    pub revision_id: Option<String>,
    pub description: Option<String>,
    pub created_at: Time,
}

impl VersionRecord {
    pub fn arn(&self) -> String {
        version_arn(&self.machine_arn, self.version)
    }
}

/// What a publish asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Publish {
    pub description: Option<String>,
}

/// The answer to [`Versions::publish_version`].
#[derive(Debug, Clone)]
pub enum PublishOutcome {
    /// The current revision's version: new, or the one it already had.
    Published(VersionRecord),
    /// No machine has this ARN (or it is being deleted: `deleting`).
    NoMachine { deleting: bool },
    /// The revision given is not the machine's current one.
    StaleRevision { current: Option<String> },
    /// The machine has [`MAX_VERSIONS`] versions already.
    TooMany,
}

/// The answer to [`Versions::delete_version`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteVersionOutcome {
    /// Deleted, or there was no such version (AWS answers both the same).
    Deleted,
    /// Aliases route to it (their names): nothing was deleted.
    RoutedBy(Vec<String>),
}

/// One entry of an alias's routing configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub version_arn: String,
    /// 0 to 100; an alias's weights sum to 100.
    pub weight: i64,
}

/// An alias to create.
#[derive(Debug, Clone)]
pub struct AliasSpec {
    pub machine_arn: String,
    pub name: String,
    pub description: Option<String>,
    /// One or two versions of `machine_arn`, distinct, weights summing to 100 (the API
    /// checks the shape; the store checks that the versions exist).
    pub routes: Vec<Route>,
}

impl AliasSpec {
    pub fn arn(&self) -> String {
        alias_arn(&self.machine_arn, &self.name)
    }
}

/// An alias as DescribeStateMachineAlias shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasRecord {
    pub arn: String,
    pub machine_arn: String,
    pub name: String,
    pub description: Option<String>,
    pub routes: Vec<Route>,
    pub created_at: Time,
    pub updated_at: Time,
}

/// The answer to [`Versions::create_alias`] and [`Versions::update_alias`].
#[derive(Debug, Clone)]
pub enum AliasOutcome {
    /// Created (or updated).
    Done(AliasRecord),
    /// The same alias exists already: AWS treats the call as its repeat.
    Existing(AliasRecord),
    /// An alias of that name exists with another description or routing.
    Conflict,
    /// No machine has the ARN, or (update) no alias has it.
    NotFound,
    /// A route names a version that does not exist (its ARN).
    NoSuchVersion(String),
    /// The machine is being deleted.
    Deleting,
    /// The machine has [`MAX_ALIASES`] aliases already.
    TooMany,
}

/// What `UpdateStateMachineAlias` changes; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct AliasChanges {
    pub description: Option<String>,
    pub routes: Option<Vec<Route>>,
}

/// Versions and aliases.
pub trait Versions: Send + Sync {
    /// Publishes the machine's current revision (a repeat gets the revision's version
    /// back). With `revision_id`, only if it is the current revision.
    fn publish_version(
        &self,
        machine_arn: &str,
        revision_id: Option<&str>,
        publish: &Publish,
    ) -> impl Future<Output = Result<PublishOutcome>> + Send;

    /// Version `version` of `machine_arn`, if it exists.
    fn state_machine_version(
        &self,
        machine_arn: &str,
        version: i64,
    ) -> impl Future<Output = Result<Option<VersionRecord>>> + Send;

    /// The machine's versions, newest first, older than `before` when given; `None`
    /// when no machine has this ARN.
    fn list_versions(
        &self,
        machine_arn: &str,
        before: Option<i64>,
        limit: i64,
    ) -> impl Future<Output = Result<Option<Vec<VersionRecord>>>> + Send;

    /// Deletes version `version` of `machine_arn`, unless an alias routes to it.
    fn delete_version(
        &self,
        machine_arn: &str,
        version: i64,
    ) -> impl Future<Output = Result<DeleteVersionOutcome>> + Send;

    fn create_alias(&self, spec: &AliasSpec) -> impl Future<Output = Result<AliasOutcome>> + Send;

    fn alias(&self, arn: &str) -> impl Future<Output = Result<Option<AliasRecord>>> + Send;

    fn update_alias(
        &self,
        arn: &str,
        changes: &AliasChanges,
    ) -> impl Future<Output = Result<AliasOutcome>> + Send;

    /// `false` when there was no such alias.
    fn delete_alias(&self, arn: &str) -> impl Future<Output = Result<bool>> + Send;

    /// The machine's aliases in ARN order, after `after` when given; `None` when no
    /// machine has this ARN.
    fn list_aliases(
        &self,
        machine_arn: &str,
        after: Option<&str>,
        limit: i64,
    ) -> impl Future<Output = Result<Option<Vec<AliasRecord>>>> + Send;
}
