//! What the Step Functions API needs beyond [`crate::Store`]: state machines as
//! resources (create with tags, update, delete, list), activities, tags, and the
//! paged reads behind `ListExecutions` and `GetExecutionHistory`.
//!
//! Lookups answer `Option` (or an outcome enum) rather than an error, so the API
//! decides which AWS error a missing resource becomes.

use crate::{Result, StoredEvent, Time};

/// A tag as `TagResource` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// A state machine to create. `logging` and `tracing` are canonical JSON texts (the
/// API fills in the defaults), so comparing texts compares configurations.
#[derive(Debug, Clone)]
pub struct StateMachineSpec {
    pub arn: String,
    pub name: String,
    /// `STANDARD` or `EXPRESS`.
    pub machine_type: String,
    pub definition: String,
    pub role_arn: String,
    pub logging: String,
    pub tracing: String,
    pub revision_id: String,
    pub tags: Vec<Tag>,
}

/// A state machine as `DescribeStateMachine` shows it.
#[derive(Debug, Clone)]
pub struct StateMachineRecord {
    pub arn: String,
    pub name: String,
    pub machine_type: String,
    pub definition_id: i64,
    pub definition: String,
    pub role_arn: String,
    pub status: String,
    pub revision_id: String,
    /// JSON text; `None` for machines created without one.
    pub logging: Option<String>,
    /// JSON text; `None` for machines created without one.
    pub tracing: Option<String>,
    pub created_at: Time,
    pub updated_at: Time,
}

/// The answer to [`Catalog::create_state_machine_tagged`].
#[derive(Debug, Clone)]
pub enum CreateOutcome {
    Created(StateMachineRecord),
    /// A machine of that name exists with the same definition, type, logging and
    /// tracing: AWS treats the call as a repeat of the first and changes nothing.
    Existing(StateMachineRecord),
    /// A machine of that name exists with something else.
    Conflict,
}

/// What `UpdateStateMachine` changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct StateMachineChanges {
    pub definition: Option<String>,
    pub role_arn: Option<String>,
    pub logging: Option<String>,
    pub tracing: Option<String>,
    pub revision_id: String,
}

#[derive(Debug, Clone)]
pub struct Updated {
    pub updated_at: Time,
    pub revision_id: String,
}

#[derive(Debug, Clone)]
pub struct StateMachineSummary {
    pub arn: String,
    pub name: String,
    pub machine_type: String,
    pub created_at: Time,
}

#[derive(Debug, Clone)]
pub struct ExecutionSummary {
    pub arn: String,
    pub state_machine_arn: String,
    pub name: String,
    pub status: String,
    pub started_at: Time,
    pub stopped_at: Option<Time>,
}

/// Where a page of `ListExecutions` (newest first) resumes: after this execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionCursor {
    pub started_at: Time,
    pub arn: String,
}

/// The definition and role an execution runs with (fixed when it started).
#[derive(Debug, Clone)]
pub struct ExecutionDefinition {
    pub arn: String,
    pub state_machine_arn: String,
    pub role_arn: String,
    pub definition_id: i64,
    pub definition: String,
    pub started_at: Time,
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
#[allow(async_fn_in_trait)]
pub trait Catalog: Send + Sync {
    /// Creates a state machine and its tags in one transaction, or reports the machine
    /// that already has this ARN (see [`CreateOutcome`]).
    async fn create_state_machine_tagged(&self, spec: &StateMachineSpec) -> Result<CreateOutcome>;
    async fn state_machine(&self, arn: &str) -> Result<Option<StateMachineRecord>>;
    /// `None` when no machine has this ARN.
    async fn update_state_machine(
        &self,
        arn: &str,
        changes: &StateMachineChanges,
    ) -> Result<Option<Updated>>;
    /// Deletes the machine and its tags; `false` when there was none. Executions keep
    /// their rows (and, if running, keep running: they hold their own definition).
    async fn delete_state_machine(&self, arn: &str) -> Result<bool>;
    /// Machines in ARN order, after `after` when given.
    async fn list_state_machines(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StateMachineSummary>>;

    /// A machine's executions, newest first, after `after` when given.
    async fn list_executions(
        &self,
        state_machine_arn: &str,
        status: Option<&str>,
        after: Option<&ExecutionCursor>,
        limit: i64,
    ) -> Result<Vec<ExecutionSummary>>;
    /// Up to `limit` events after event `after` (ascending), or before it when
    /// `reverse` (descending; `None` starts from the last event). `None` when the
    /// execution does not exist.
    async fn history_page(
        &self,
        execution_arn: &str,
        after: Option<i64>,
        limit: i64,
        reverse: bool,
    ) -> Result<Option<Vec<StoredEvent>>>;
    async fn execution_definition(
        &self,
        execution_arn: &str,
    ) -> Result<Option<ExecutionDefinition>>;

    /// Creates an activity with its tags, or returns the one of that name (AWS: tags of
    /// a repeated call are ignored).
    async fn create_activity(&self, arn: &str, name: &str, tags: &[Tag]) -> Result<ActivityRecord>;
    async fn activity(&self, arn: &str) -> Result<Option<ActivityRecord>>;
    /// Deletes the activity and its tags; `false` when there was none.
    async fn delete_activity(&self, arn: &str) -> Result<bool>;
    async fn list_activities(&self, after: Option<&str>, limit: i64)
        -> Result<Vec<ActivityRecord>>;

    /// Adds or overwrites tags on a state machine or activity, refusing (and changing
    /// nothing) when the resource would end with more than `max_tags`.
    async fn tag_resource(&self, arn: &str, tags: &[Tag], max_tags: i64) -> Result<TagOutcome>;
    /// `false` when no state machine or activity has this ARN.
    async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<bool>;
    /// Tags in key order; `None` when no state machine or activity has this ARN.
    async fn list_tags(&self, arn: &str) -> Result<Option<Vec<Tag>>>;
}
