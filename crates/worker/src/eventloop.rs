//! The EventBridge loops every replica runs beside its schedulers and workers,
//! coordinating only through the store (no leader):
//! - deliveries: claim due deliveries, start each one's execution (or record why not,
//!   retried per its RetryPolicy or given up), then send what gave up to its dead-letter
//!   queue through the SQS integration;
//! - fires: scheduled rules and Scheduler schedules that are due fire once each, their
//!   next time advanced in the transaction that fires them.
//!
//! Each plan is made with `cairn-events` from the claimed row and the clock; the store
//! writes it.

use std::sync::Arc;
use std::time::Duration;

use cairn_events::envelope::{scheduled_event, timestamp};
use cairn_events::naming;
use cairn_events::schedule::{Dialect, Expression, Timing};
use cairn_events::target::{with_context, RuleTarget, ScheduleTarget};
use cairn_events::transform::Context;
use cairn_store::executions::NewExecution;
use cairn_store::rules::{
    Delivery, DeliveryPlan, DueRule, Failure, NewDelivery, NewEvent, RuleFire, ScheduleFire,
    ScheduleRecord,
};
use cairn_store::{Store, Time};
use serde_json::Value;
use tokio::sync::{watch, Notify};

use crate::Targets;

/// Rows a pass claims at most.
const BATCH: i64 = 128;
/// The longest a loop sleeps without a wake-up: a safety net for a missed `NOTIFY`, as
/// every loop has. Events, rules and schedules written anywhere ring the `Events`
/// doorbell, and a fire or retry that falls due sooner is waited for exactly.
const IDLE: Duration = Duration::from_secs(5);
/// How long a dead letter is leased while it is sent.
const DEAD_LETTER_LEASE: Duration = Duration::from_secs(60);

/// What the loops mint ARNs and events with.
#[derive(Debug, Clone)]
pub struct EventLoopConfig {
    pub account: String,
    pub region: String,
}

/// The execution ARN of `name` for the machine `machine_arn`.
fn execution_arn(machine_arn: &str, name: &str) -> String {
    format!(
        "{}:{name}",
        machine_arn.replacen(":stateMachine:", ":execution:", 1)
    )
}

fn new_execution(delivery: &NewDelivery, now: Time, attempt: i64, schedule: bool) -> NewExecution {
    let input = if schedule {
        with_context(
            &delivery.input,
            &delivery.source_arn,
            &timestamp(delivery.arrived_at),
            &delivery.execution_name,
            attempt,
        )
    } else {
        delivery.input.clone()
    };
    NewExecution {
        machine_arn: delivery.machine_arn.clone(),
        version: None,
        alias_arn: None,
        arn: execution_arn(&delivery.machine_arn, &delivery.execution_name),
        name: delivery.execution_name.clone(),
        input,
        started_at: now,
        trace: None,
    }
}

/// A pseudo-random fraction in `[0, 1)` for jitter: retries only need spreading, not
/// unpredictability, so the delivery's id and the clock suffice.
fn jitter(seed: i64, now: Time) -> f64 {
    let hash = naming::fnv1a(&[&seed.to_string(), &now.timestamp_micros().to_string()]);
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

/// The plan for a due delivery (pure).
pub fn plan_delivery(delivery: &Delivery, now: Time) -> DeliveryPlan {
    let d = &delivery.delivery;
    let execution = new_execution(
        d,
        now,
        delivery.retries + 1,
        d.source_arn.contains(":schedule/"),
    );
    // AWS retries only what may succeed later; a target that does not exist, or input
    // it refuses, goes to the dead-letter queue at once. Cairn's refusals are of that
    // kind, so a refused start is given up; a store failure rolls the claim back and
    // the delivery is claimed again.
    DeliveryPlan::Start {
        execution,
        refused: Failure::Dead(None),
    }
}

/// When a failed retryable attempt is tried again, per the delivery's policy (used for
/// failures Cairn retries).
pub fn retry_of(delivery: &Delivery, now: Time) -> Failure {
    let policy = cairn_events::retry::RetryPolicy {
        maximum_retry_attempts: delivery.delivery.max_retries,
        maximum_event_age_seconds: delivery.delivery.max_age_seconds,
    };
    match policy.next_attempt(
        delivery.retries,
        delivery.delivery.arrived_at,
        now,
        jitter(delivery.id, now),
    ) {
        Ok(at) => Failure::RetryAt(at),
        Err(exhausted) => Failure::Dead(Some(exhausted.as_str())),
    }
}

/// The fire of a due scheduled rule (pure): its event with a delivery per target, and
/// its next fire.
pub fn plan_rule_fire(due: &DueRule, now: Time, config: &EventLoopConfig) -> RuleFire {
    let rule = &due.rule;
    let Some(text) = rule.schedule_expression.as_deref() else {
        return RuleFire {
            event: None,
            next_fire_at: None,
        };
    };
    let Ok(expression) = Expression::parse(text, Dialect::Rule) else {
        return RuleFire {
            event: None,
            next_fire_at: None,
        };
    };
    let timing = Timing {
        expression,
        zone: chrono_tz::Tz::UTC,
        start: None,
        end: None,
        anchor: rule.created_at,
        dialect: Dialect::Rule,
    };
    let due_at = rule.next_fire_at.unwrap_or(now);
    let fire = timing.fire(due_at, now, chrono::TimeDelta::days(1));
    let event = fire.occurrence.map(|occurrence| {
        let id = naming::for_occurrence(&rule.name, &rule.arn, occurrence);
        let event = scheduled_event(&id, &config.account, &config.region, &rule.arn, occurrence);
        let ingestion = timestamp(now);
        let deliveries = due
            .targets
            .iter()
            .filter_map(|target| {
                let spec: Value = serde_json::from_str(&target.spec).ok()?;
                let parsed = RuleTarget::parse(&spec).ok()?;
                let context = Context {
                    rule_arn: &rule.arn,
                    rule_name: &rule.name,
                    ingestion_time: &ingestion,
                };
                Some(NewDelivery {
                    source_arn: rule.arn.clone(),
                    target_id: parsed.id.clone(),
                    machine_arn: parsed.machine_arn.clone(),
                    execution_name: naming::for_event(&id, &rule.arn, &parsed.id),
                    input: parsed.input.render(&event, &context),
                    dead_letter_arn: parsed.dead_letter_arn.clone(),
                    dead_letter_body: event.to_string(),
                    max_retries: parsed.retry.maximum_retry_attempts,
                    max_age_seconds: parsed.retry.maximum_event_age_seconds,
                    arrived_at: now,
                })
            })
            .collect();
        NewEvent {
            id,
            bus: rule.bus.clone(),
            event: event.to_string(),
            arrived_at: now,
            deliveries,
        }
    });
    RuleFire {
        event,
        next_fire_at: fire.next,
    }
}

/// A schedule's definition as the API stored it, read back for a fire.
pub struct ScheduleSpec {
    pub timing: Timing,
    pub target: ScheduleTarget,
    /// `FlexibleTimeWindow`'s width in minutes (0 when OFF).
    pub window_minutes: i64,
    pub delete_after: bool,
}

impl ScheduleSpec {
    /// Reads a stored spec; `None` when it cannot be read (it was checked when stored).
    pub fn read(schedule: &ScheduleRecord) -> Option<ScheduleSpec> {
        let spec: Value = serde_json::from_str(&schedule.spec).ok()?;
        let expression = Expression::parse(
            spec.get("ScheduleExpression")?.as_str()?,
            Dialect::Scheduler,
        )
        .ok()?;
        let zone = cairn_events::schedule::zone(
            spec.get("ScheduleExpressionTimezone")
                .and_then(Value::as_str),
        )
        .ok()?;
        let date = |name: &str| {
            spec.get(name)
                .and_then(Value::as_f64)
                .and_then(|s| chrono::DateTime::from_timestamp_millis((s * 1000.0) as i64))
        };
        let window_minutes = match spec
            .pointer("/FlexibleTimeWindow/Mode")
            .and_then(Value::as_str)
        {
            Some("FLEXIBLE") => spec
                .pointer("/FlexibleTimeWindow/MaximumWindowInMinutes")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            _ => 0,
        };
        // AWS ignores StartDate and EndDate for a one-time schedule.
        let one_time = matches!(expression, Expression::At(_));
        let bound = |name: &str| if one_time { None } else { date(name) };
        Some(ScheduleSpec {
            timing: Timing {
                expression,
                zone,
                start: bound("StartDate"),
                end: bound("EndDate"),
                anchor: date("StartDate").unwrap_or(schedule.created_at),
                dialect: Dialect::Scheduler,
            },
            target: ScheduleTarget::parse(spec.get("Target")?).ok()?,
            window_minutes,
            delete_after: spec.get("ActionAfterCompletion").and_then(Value::as_str)
                == Some("DELETE"),
        })
    }

    /// When the fire for `occurrence` happens: within the flexible window, spread by the
    /// schedule's ARN and the occurrence so every replica computes the same time.
    pub fn fire_at(&self, arn: &str, occurrence: Time) -> Time {
        if self.window_minutes <= 0 {
            return occurrence;
        }
        let spread =
            naming::fnv1a(&[arn, &occurrence.to_rfc3339()]) % (self.window_minutes as u64 * 60);
        occurrence + chrono::TimeDelta::seconds(spread as i64)
    }
}

/// The fire of a due schedule (pure).
pub fn plan_schedule_fire(schedule: &ScheduleRecord, now: Time) -> ScheduleFire {
    let Some(spec) = ScheduleSpec::read(schedule) else {
        tracing::warn!(schedule = %schedule.arn, "a stored schedule cannot be read; it is not fired");
        return ScheduleFire {
            start: None,
            next_occurrence: None,
            fire_at: None,
            delete: false,
        };
    };
    let due = schedule.next_occurrence.unwrap_or(now);
    let max_age = chrono::TimeDelta::seconds(spec.target.retry.maximum_event_age_seconds);
    let fire = spec.timing.fire(due, now, max_age);
    if fire.skipped > 0 {
        tracing::warn!(schedule = %schedule.arn, skipped = fire.skipped, "missed occurrences were not invoked");
    }
    let start = fire.occurrence.map(|occurrence| {
        let delivery = NewDelivery {
            source_arn: schedule.arn.clone(),
            target_id: schedule.name.clone(),
            machine_arn: spec.target.machine_arn.clone(),
            execution_name: naming::for_occurrence(&schedule.name, &schedule.arn, occurrence),
            input: spec.target.input.clone(),
            dead_letter_arn: spec.target.dead_letter_arn.clone(),
            dead_letter_body: spec.target.input.clone(),
            max_retries: spec.target.retry.maximum_retry_attempts,
            max_age_seconds: spec.target.retry.maximum_event_age_seconds,
            arrived_at: occurrence,
        };
        (new_execution(&delivery, now, 1, true), delivery)
    });
    ScheduleFire {
        start,
        next_occurrence: fire.next,
        fire_at: fire.next.map(|next| spec.fire_at(&schedule.arn, next)),
        delete: fire.next.is_none() && spec.delete_after,
    }
}

/// Runs the delivery and fire loops until `stopping` turns true.
pub async fn run<S: Store>(
    store: S,
    targets: Arc<Targets>,
    config: EventLoopConfig,
    bell: Arc<Notify>,
    mut stopping: watch::Receiver<bool>,
) {
    tracing::info!("EventBridge delivery and schedule loops running");
    loop {
        if *stopping.borrow() {
            return;
        }
        // Listen before looking, so that news arriving during the pass is not missed.
        let rung = bell.notified();
        tokio::pin!(rung);
        rung.as_mut().enable();
        let busy = match pass(&store, &targets, &config).await {
            Ok(busy) => busy,
            Err(error) => {
                tracing::warn!(%error, "an EventBridge pass failed; trying again");
                false
            }
        };
        if busy {
            continue;
        }
        let wait = match store.next_event_due().await {
            Ok(Some(due)) => (due - chrono::Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(IDLE),
            _ => IDLE,
        };
        if wait.is_zero() {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            _ = &mut rung => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stopping.changed() => {}
        }
    }
}

/// One pass of every loop; `true` when a batch was full (there may be more now).
async fn pass<S: Store>(
    store: &S,
    targets: &Targets,
    config: &EventLoopConfig,
) -> cairn_store::Result<bool> {
    let now = cairn_store::time::to_micros(chrono::Utc::now());
    let fired_rules = store
        .fire_rules(now, BATCH, |due| plan_rule_fire(due, now, config))
        .await?;
    let fired = store
        .fire_schedules(now, BATCH, |s| plan_schedule_fire(s, now))
        .await?;
    let delivered = store.deliver(now, BATCH, |d| plan_delivery(d, now)).await?;
    if delivered.started + delivered.dead + fired.started + fired.queued + fired_rules > 0 {
        tracing::debug!(?delivered, ?fired, fired_rules, "EventBridge pass");
    }
    let dead = store
        .lease_dead_letters(now, DEAD_LETTER_LEASE, BATCH)
        .await?;
    for letter in &dead {
        let Some(queue) = letter.delivery.dead_letter_arn.as_deref() else {
            store.dead_letter_done(letter.id).await?;
            continue;
        };
        let mut attributes = vec![
            ("ERROR_CODE", letter.error.clone()),
            ("ERROR_MESSAGE", letter.cause.clone()),
            ("RULE_ARN", letter.delivery.source_arn.clone()),
            ("TARGET_ARN", letter.delivery.machine_arn.clone()),
            ("RETRY_ATTEMPTS", letter.retries.to_string()),
        ];
        if let Some(exhausted) = &letter.exhausted {
            attributes.push(("EXHAUSTED_RETRY_CONDITION", exhausted.clone()));
        }
        match targets
            .send_to_queue(queue, &letter.delivery.dead_letter_body, &attributes)
            .await
        {
            Ok(()) => {
                tracing::info!(queue, source = %letter.delivery.source_arn, "undeliverable event sent to its dead-letter queue");
                store.dead_letter_done(letter.id).await?;
            }
            // The lease runs out and the letter is sent again later.
            Err(error) => tracing::warn!(queue, %error, "sending to a dead-letter queue failed"),
        }
    }
    Ok(fired_rules as i64 == BATCH
        || (fired.started + fired.queued + fired.skipped) as i64 == BATCH
        || (delivered.started + delivered.retried + delivered.dead) as i64 == BATCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:orders";

    fn time(text: &str) -> Time {
        chrono::DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_default()
    }

    fn record(spec: serde_json::Value, created: &str) -> ScheduleRecord {
        ScheduleRecord {
            arn: "arn:aws:scheduler:us-east-1:123456789012:schedule/default/nightly".into(),
            group: "default".into(),
            name: "nightly".into(),
            state: "ENABLED".into(),
            spec: spec.to_string(),
            created_at: time(created),
            modified_at: time(created),
            next_occurrence: None,
            fire_at: None,
        }
    }

    #[test]
    fn a_one_time_schedule_ignores_its_start_and_end_dates() {
        let start = time("2026-06-01T00:00:00Z").timestamp() as f64;
        let end = time("2026-06-02T00:00:00Z").timestamp() as f64;
        let schedule = record(
            json!({"ScheduleExpression": "at(2026-07-01T09:00:00)",
                   "ScheduleExpressionTimezone": "Europe/Paris",
                   "StartDate": start, "EndDate": end,
                   "FlexibleTimeWindow": {"Mode": "OFF"},
                   "Target": {"Arn": MACHINE, "RoleArn": "r"}}),
            "2026-05-01T00:00:00Z",
        );
        let spec = ScheduleSpec::read(&schedule).expect("readable");
        assert_eq!(
            spec.timing.first_from(time("2026-05-01T00:00:00Z")),
            Some(time("2026-07-01T07:00:00Z"))
        );
    }

    #[test]
    fn the_last_fire_of_a_delete_after_completion_schedule_deletes_it() {
        let mut schedule = record(
            json!({"ScheduleExpression": "at(2026-07-01T09:00:00)",
                   "FlexibleTimeWindow": {"Mode": "OFF"},
                   "ActionAfterCompletion": "DELETE",
                   "Target": {"Arn": MACHINE, "RoleArn": "r",
                              "Input": "{\"arn\": \"<aws.scheduler.schedule-arn>\"}"}}),
            "2026-05-01T00:00:00Z",
        );
        schedule.next_occurrence = Some(time("2026-07-01T09:00:00Z"));
        let fire = plan_schedule_fire(&schedule, time("2026-07-01T09:00:01Z"));
        let (execution, delivery) = fire.start.expect("it fires");
        assert!(fire.delete && fire.next_occurrence.is_none());
        assert_eq!(
            execution.name,
            naming::for_occurrence("nightly", &schedule.arn, time("2026-07-01T09:00:00Z"))
        );
        assert_eq!(
            serde_json::from_str::<Value>(&execution.input).ok(),
            Some(json!({"arn": schedule.arn}))
        );
        assert_eq!(delivery.machine_arn, MACHINE);
        // A day late (past the default 24 h event age): not invoked, still deleted.
        let late = plan_schedule_fire(&schedule, time("2026-07-02T09:00:01Z"));
        assert!(late.start.is_none() && late.delete);
    }

    #[test]
    fn a_flexible_window_spreads_the_fire_the_same_way_on_every_replica() {
        let schedule = record(
            json!({"ScheduleExpression": "rate(1 hour)",
                   "FlexibleTimeWindow": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
                   "Target": {"Arn": MACHINE, "RoleArn": "r"}}),
            "2026-05-01T00:00:00Z",
        );
        let spec = ScheduleSpec::read(&schedule).expect("readable");
        let occurrence = time("2026-05-01T01:00:00Z");
        let at = spec.fire_at(&schedule.arn, occurrence);
        assert!(at >= occurrence && at < occurrence + chrono::TimeDelta::minutes(15));
        assert_eq!(at, spec.fire_at(&schedule.arn, occurrence));
    }
}
