//! EventBridge as the store keeps it: event buses, rules, their targets, the events
//! PutEvents accepted and the deliveries their rules matched, and EventBridge
//! Scheduler's schedule groups and schedules.
//!
//! **Exactly once.** PutEvents commits its events and the deliveries their rules matched
//! in one transaction. A delivery starts its execution in the transaction that removes
//! it, under a name derived from what it delivers, so a delivery tried twice starts one
//! execution. A due schedule advances to its next occurrence in the transaction that
//! starts its execution (or, when the start is refused, queues a delivery that retries
//! it), and a claimed schedule is locked, so a fire happens once across replicas.
//!
//! The store decides nothing here: the API matches events to rules and renders inputs,
//! and the loops plan each delivery and fire with `cairn-events`; the store writes what
//! they planned.

use std::future::Future;

use crate::catalog::Tag;
use crate::executions::NewExecution;
use crate::{Result, Time};

/// An event bus (the `default` bus is the API's own and is not stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusRecord {
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    pub created_at: Time,
    pub modified_at: Time,
}

/// A rule, as PutRule writes it and DescribeRule reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRecord {
    pub arn: String,
    pub bus: String,
    pub name: String,
    pub event_pattern: Option<String>,
    pub schedule_expression: Option<String>,
    /// `ENABLED` or `DISABLED` (or AWS's CloudTrail variant of enabled).
    pub state: String,
    pub description: Option<String>,
    pub role_arn: Option<String>,
    pub created_at: Time,
    /// A scheduled rule's next fire; `None` for a rule without a schedule or one that is
    /// disabled.
    pub next_fire_at: Option<Time>,
}

/// A target of a rule: its id, the ARN it names, and the whole target as PutTargets
/// received it (JSON text), which ListTargetsByRule answers and deliveries read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRecord {
    pub id: String,
    pub arn: String,
    pub spec: String,
}

/// What DeleteRule found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleDeletion {
    Deleted,
    NotFound,
    /// AWS refuses to delete a rule that still has targets.
    HasTargets,
}

/// An event PutEvents accepted, with the deliveries its rules matched.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    pub bus: String,
    /// The event envelope (JSON text).
    pub event: String,
    pub arrived_at: Time,
    pub deliveries: Vec<NewDelivery>,
}

/// One execution to start for a matched rule target or a schedule's fire, with what
/// happens when it cannot be started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// The rule or schedule the delivery is for.
    pub source_arn: String,
    pub target_id: String,
    /// The state machine to start.
    pub machine_arn: String,
    pub execution_name: String,
    /// The execution's input, as rendered for the target (text: it may not be JSON).
    pub input: String,
    /// The SQS queue an undeliverable delivery goes to, and what is sent.
    pub dead_letter_arn: Option<String>,
    pub dead_letter_body: String,
    pub max_retries: i64,
    pub max_age_seconds: i64,
    /// When the event arrived (or the occurrence was due): its age counts from here.
    pub arrived_at: Time,
}

/// A delivery that is due, as a loop plans it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub delivery: NewDelivery,
    /// Retries already made (0 before the second attempt).
    pub retries: i64,
}

/// What to do with a due delivery.
#[derive(Debug, Clone)]
pub enum DeliveryPlan {
    /// Start this execution; if the start is refused, `refused` applies with the
    /// refusal's error.
    Start {
        execution: NewExecution,
        refused: Failure,
    },
    /// Do not start: fail with this error.
    Fail {
        error: String,
        cause: String,
        then: Failure,
    },
}

/// What a failed attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Try again at this time.
    RetryAt(Time),
    /// Give up: to the dead-letter queue (when there is one), with AWS's
    /// `EXHAUSTED_RETRY_CONDITION` when a limit was reached.
    Dead(Option<&'static str>),
}

/// What one delivery pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivered {
    pub started: usize,
    pub retried: usize,
    pub dead: usize,
}

/// A delivery that gave up, leased for sending to its dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub id: i64,
    pub delivery: NewDelivery,
    pub retries: i64,
    pub error: String,
    pub cause: String,
    pub exhausted: Option<String>,
}

/// A scheduled rule that is due, as the schedule loop plans it.
#[derive(Debug, Clone)]
pub struct DueRule {
    pub rule: RuleRecord,
    pub targets: Vec<TargetRecord>,
}

/// What one fire of a scheduled rule writes: its event (with deliveries) and its next
/// fire time.
#[derive(Debug, Clone)]
pub struct RuleFire {
    pub event: Option<NewEvent>,
    pub next_fire_at: Option<Time>,
}

/// A schedule group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    pub name: String,
    pub arn: String,
    pub created_at: Time,
    pub modified_at: Time,
}

/// A schedule: its definition as the API checked it (JSON text of CreateSchedule's
/// members), and when it fires next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRecord {
    pub arn: String,
    pub group: String,
    pub name: String,
    pub state: String,
    pub spec: String,
    pub created_at: Time,
    pub modified_at: Time,
    /// The occurrence the next fire is for; `None` when none is left.
    pub next_occurrence: Option<Time>,
    /// When that fire happens (the occurrence, or later within a flexible window).
    pub fire_at: Option<Time>,
}

/// What one fire of a schedule writes.
#[derive(Debug, Clone)]
pub struct ScheduleFire {
    /// The execution to start now, and the delivery that retries it if the start is
    /// refused; `None` when the occurrence is not invoked (too old).
    pub start: Option<(NewExecution, NewDelivery)>,
    pub next_occurrence: Option<Time>,
    pub fire_at: Option<Time>,
    /// `ActionAfterCompletion: DELETE` and nothing left to fire.
    pub delete: bool,
}

/// What one schedule pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fired {
    pub started: usize,
    pub queued: usize,
    pub skipped: usize,
}

/// EventBridge's buses, rules, targets, events and deliveries, and the Scheduler's
/// groups and schedules.
pub trait Rules: Send + Sync {
    /// `false` when a bus of that name exists.
    fn create_bus(
        &self,
        bus: &BusRecord,
        tags: &[Tag],
    ) -> impl Future<Output = Result<bool>> + Send;
    fn describe_bus(&self, name: &str) -> impl Future<Output = Result<Option<BusRecord>>> + Send;
    /// Buses by name, after `after`, at most `limit`, names starting with `prefix`.
    fn list_buses(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<BusRecord>>> + Send;
    /// Deletes the bus with its rules' targets and rules; `false` when there was none.
    fn delete_bus(&self, name: &str) -> impl Future<Output = Result<bool>> + Send;

    /// Creates the rule, or replaces its definition when one of that name is on the bus
    /// (keeping its targets and creation time); `tags` are added to a new rule only.
    fn put_rule(
        &self,
        rule: &RuleRecord,
        tags: &[Tag],
    ) -> impl Future<Output = Result<RuleRecord>> + Send;
    fn describe_rule(
        &self,
        bus: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<RuleRecord>>> + Send;
    /// A bus's rules by name, after `after`, at most `limit`.
    fn list_rules(
        &self,
        bus: &str,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<RuleRecord>>> + Send;
    fn delete_rule(
        &self,
        bus: &str,
        name: &str,
    ) -> impl Future<Output = Result<RuleDeletion>> + Send;
    /// Sets the state (and the next fire of a scheduled rule); `false` when no such rule.
    fn set_rule_state(
        &self,
        bus: &str,
        name: &str,
        state: &str,
        next_fire_at: Option<Time>,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Adds or replaces targets by id; `false` when the rule does not exist.
    fn put_targets(
        &self,
        rule_arn: &str,
        targets: &[TargetRecord],
    ) -> impl Future<Output = Result<bool>> + Send;
    /// A rule's targets in the order they were first put.
    fn list_targets(
        &self,
        rule_arn: &str,
    ) -> impl Future<Output = Result<Vec<TargetRecord>>> + Send;
    /// Removes the targets with these ids; the ids removed.
    fn remove_targets(
        &self,
        rule_arn: &str,
        ids: &[String],
    ) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// The enabled rules of a bus that have an event pattern, with their targets.
    fn rules_to_match(&self, bus: &str) -> impl Future<Output = Result<Vec<DueRule>>> + Send;

    /// Tags of any EventBridge or Scheduler resource (the API checks it exists).
    fn tag(&self, arn: &str, tags: &[Tag]) -> impl Future<Output = Result<()>> + Send;
    fn untag(&self, arn: &str, keys: &[String]) -> impl Future<Output = Result<()>> + Send;
    fn tags_of(&self, arn: &str) -> impl Future<Output = Result<Vec<Tag>>> + Send;

    /// Stores the events and their deliveries, in one transaction.
    fn put_events(&self, events: &[NewEvent]) -> impl Future<Output = Result<()>> + Send;

    /// Claims up to `limit` deliveries due at `now` (one transaction, `SKIP LOCKED`),
    /// plans each with `plan`, and writes the plans: an execution started and its
    /// delivery removed, or the failure recorded, in the same transaction.
    fn deliver<F>(
        &self,
        now: Time,
        limit: i64,
        plan: F,
    ) -> impl Future<Output = Result<Delivered>> + Send
    where
        F: Fn(&Delivery) -> DeliveryPlan + Send + Sync;

    /// Leases up to `limit` dead deliveries that have a dead-letter queue, for `lease`.
    fn lease_dead_letters(
        &self,
        now: Time,
        lease: std::time::Duration,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<DeadLetter>>> + Send;
    /// A dead letter was sent (or has no queue): it is removed.
    fn dead_letter_done(&self, id: i64) -> impl Future<Output = Result<()>> + Send;

    /// Fires the scheduled rules due at `now`, up to `limit`: each fire's event and
    /// deliveries and its next fire time in one transaction, the rule locked.
    fn fire_rules<F>(
        &self,
        now: Time,
        limit: i64,
        plan: F,
    ) -> impl Future<Output = Result<usize>> + Send
    where
        F: Fn(&DueRule) -> RuleFire + Send + Sync;

    /// `false` when a group of that name exists.
    fn create_group(
        &self,
        group: &GroupRecord,
        tags: &[Tag],
    ) -> impl Future<Output = Result<bool>> + Send;
    fn get_group(&self, name: &str) -> impl Future<Output = Result<Option<GroupRecord>>> + Send;
    fn list_groups(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<GroupRecord>>> + Send;
    /// Deletes the group and its schedules; `false` when there was none.
    fn delete_group(&self, name: &str) -> impl Future<Output = Result<bool>> + Send;

    /// `false` when a schedule of that name is in the group.
    fn create_schedule(
        &self,
        schedule: &ScheduleRecord,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Replaces a schedule's definition (keeping its creation time); `false` when none.
    fn update_schedule(
        &self,
        schedule: &ScheduleRecord,
    ) -> impl Future<Output = Result<bool>> + Send;
    fn get_schedule(
        &self,
        group: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<ScheduleRecord>>> + Send;
    /// Schedules by (group, name), after `after`, at most `limit`.
    fn list_schedules(
        &self,
        group: Option<&str>,
        prefix: Option<&str>,
        state: Option<&str>,
        after: Option<(&str, &str)>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<ScheduleRecord>>> + Send;
    fn delete_schedule(&self, group: &str, name: &str)
        -> impl Future<Output = Result<bool>> + Send;
    /// Fires the enabled schedules due at `now`, up to `limit` (see [`ScheduleFire`]).
    fn fire_schedules<F>(
        &self,
        now: Time,
        limit: i64,
        plan: F,
    ) -> impl Future<Output = Result<Fired>> + Send
    where
        F: Fn(&ScheduleRecord) -> ScheduleFire + Send + Sync;

    /// The earliest time anything here is due (a delivery, a rule's or a schedule's
    /// fire), so loops can sleep until then.
    fn next_event_due(&self) -> impl Future<Output = Result<Option<Time>>> + Send;
}

/// The error of a delivery's start refused because no active STANDARD state machine has
/// that ARN: Step Functions' `StateMachineDoesNotExist`, with its cause.
pub fn machine_refused(arn: &str) -> (String, String) {
    (
        "StateMachineDoesNotExist".to_string(),
        format!("State Machine Does Not Exist: '{arn}'"),
    )
}

/// The error of a delivery whose rendered input is not JSON.
pub fn input_refused() -> (String, String) {
    (
        "InvalidExecutionInput".to_string(),
        "Invalid State Machine Execution Input: the target's input is not JSON".to_string(),
    )
}
