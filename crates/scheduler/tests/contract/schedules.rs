//! Schedules and scheduled rules: a due fire claims its row, starts its execution and
//! advances the next fire in one transaction, so replicas firing at once start each
//! occurrence exactly once; a refused start becomes a delivery that ends in the
//! dead-letter queue; `ActionAfterCompletion: DELETE` removes the schedule in its last
//! fire; a disabled schedule does not fire.
//!
//! The plans here are written by hand (the store writes what it is told); the loops'
//! own planning is `cairn_worker::eventloop`, tested there and end to end.

use cairn_store::executions::{ExecutionsOf, NewExecution};
use cairn_store::rules::{
    DeliveryPlan, DueRule, Failure, GroupRecord, NewDelivery, NewEvent, RuleFire, RuleRecord,
    ScheduleFire, ScheduleRecord, TargetRecord,
};
use cairn_store::Time;
use chrono::TimeDelta;
use serde_json::json;

use super::common::*;

const GROUP: &str = "default";

fn now() -> Time {
    cairn_store::time::to_micros(chrono::Utc::now())
}

fn pass_machine() -> serde_json::Value {
    json!({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": true}}})
}

fn schedule(name: &str, due: Time, state: &str) -> ScheduleRecord {
    ScheduleRecord {
        arn: format!("arn:aws:scheduler:us-east-1:123456789012:schedule/{GROUP}/{name}"),
        group: GROUP.to_string(),
        name: name.to_string(),
        state: state.to_string(),
        spec: json!({"ScheduleExpression": "rate(1 minute)"}).to_string(),
        created_at: due,
        modified_at: due,
        next_occurrence: Some(due),
        fire_at: Some(due),
    }
}

fn delivery(source: &str, machine: &str, name: &str, at: Time) -> NewDelivery {
    NewDelivery {
        source_arn: source.to_string(),
        target_id: "t".to_string(),
        machine_arn: machine.to_string(),
        execution_name: name.to_string(),
        input: "{}".to_string(),
        dead_letter_arn: Some("arn:aws:sqs:us-east-1:123456789012:dlq".to_string()),
        dead_letter_body: "{}".to_string(),
        max_retries: 0,
        max_age_seconds: 60,
        arrived_at: at,
    }
}

fn execution(machine: &str, name: &str, at: Time) -> NewExecution {
    NewExecution {
        machine_arn: machine.to_string(),
        version: None,
        alias_arn: None,
        arn: format!(
            "{}:{name}",
            machine.replacen(":stateMachine:", ":execution:", 1)
        ),
        name: name.to_string(),
        input: "{}".to_string(),
        started_at: at,
        trace: None,
    }
}

/// A fire for the schedule's due occurrence (named from schedule and occurrence), the
/// next one a minute later; with `last`, nothing follows and the schedule is deleted.
fn fire_of(machine: &str, s: &ScheduleRecord, now: Time, last: bool) -> ScheduleFire {
    let occurrence = s.next_occurrence.unwrap_or(now);
    let name = format!("{}-{}", s.name, occurrence.timestamp());
    let next = (!last).then(|| occurrence + TimeDelta::minutes(1));
    ScheduleFire {
        start: Some((
            execution(machine, &name, now),
            delivery(&s.arn, machine, &name, occurrence),
        )),
        next_occurrence: next,
        fire_at: next,
        delete: last,
    }
}

async fn executions_of<S: Store>(store: &S, machine: &str) -> Vec<String> {
    let mut names: Vec<String> = store
        .list_executions(
            &ExecutionsOf::Machine(machine.to_string()),
            None,
            None,
            None,
            1000,
        )
        .await
        .expect("list")
        .into_iter()
        .map(|e| e.name)
        .collect();
    names.sort();
    names
}

pub async fn replicas_firing_at_once_start_each_occurrence_once<S: Store>(store: S) {
    let machine = machine(&store, "ticks", pass_machine()).await;
    let due = now() - TimeDelta::seconds(1);
    for i in 0..40 {
        assert!(store
            .create_schedule(&schedule(&format!("s{i:02}"), due, "ENABLED"))
            .await
            .expect("create"));
    }
    let at = now();
    // Two replicas' passes at the same moment, each claiming in small batches.
    let replica = |store: S, machine: String| async move {
        let mut started = 0;
        loop {
            let fired = store
                .fire_schedules(at, 7, |s| fire_of(&machine, s, at, false))
                .await
                .expect("fire");
            started += fired.started;
            if fired.started + fired.queued + fired.skipped == 0 {
                return started;
            }
        }
    };
    let (a, b) = tokio::join!(
        tokio::spawn(replica(store.clone(), machine.clone())),
        tokio::spawn(replica(store.clone(), machine.clone()))
    );
    let (a, b) = (a.expect("replica a"), b.expect("replica b"));
    assert_eq!(
        a + b,
        40,
        "every schedule fired once between them ({a} + {b})"
    );
    let names = executions_of(&store, &machine).await;
    assert_eq!(names.len(), 40, "one execution per schedule: {names:?}");
    for i in 0..40 {
        let s = store
            .get_schedule(GROUP, &format!("s{i:02}"))
            .await
            .expect("get")
            .expect("still there");
        assert_eq!(s.next_occurrence, Some(due + TimeDelta::minutes(1)));
        assert_eq!(s.fire_at, Some(due + TimeDelta::minutes(1)));
    }
    // Nothing is due any more at that moment; a minute on, each fires again, once.
    let again = store
        .fire_schedules(at, 100, |s| fire_of(&machine, s, at, false))
        .await
        .expect("fire");
    assert_eq!(again.started + again.queued + again.skipped, 0);
    let later = at + TimeDelta::minutes(1);
    let next = store
        .fire_schedules(later, 100, |s| fire_of(&machine, s, later, false))
        .await
        .expect("fire");
    assert_eq!(next.started, 40);
    assert_eq!(executions_of(&store, &machine).await.len(), 80);
}

pub async fn a_disabled_schedule_does_not_fire_and_delete_after_completion_removes_it<S: Store>(
    store: S,
) {
    let machine = machine(&store, "once", pass_machine()).await;
    let due = now() - TimeDelta::seconds(1);
    store
        .create_schedule(&schedule("off", due, "DISABLED"))
        .await
        .expect("create");
    store
        .create_schedule(&schedule("one-shot", due, "ENABLED"))
        .await
        .expect("create");
    assert!(
        !store
            .create_schedule(&schedule("one-shot", due, "ENABLED"))
            .await
            .expect("create"),
        "a second schedule of that name is refused"
    );
    let at = now();
    let fired = store
        .fire_schedules(at, 100, |s| fire_of(&machine, s, at, true))
        .await
        .expect("fire");
    assert_eq!((fired.started, fired.queued), (1, 0));
    assert!(
        store
            .get_schedule(GROUP, "one-shot")
            .await
            .expect("get")
            .is_none(),
        "deleted in the transaction of its last fire"
    );
    let off = store
        .get_schedule(GROUP, "off")
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(
        off.fire_at,
        Some(due),
        "a disabled schedule is not advanced"
    );
    assert_eq!(
        executions_of(&store, &machine).await,
        vec![format!("one-shot-{}", due.timestamp())]
    );
    let listed = store
        .list_schedules(Some(GROUP), None, Some("DISABLED"), None, 10)
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert!(store.delete_schedule(GROUP, "off").await.expect("delete"));
    assert!(!store.delete_schedule(GROUP, "off").await.expect("delete"));
}

pub async fn a_refused_start_is_queued_then_dead_lettered<S: Store>(store: S) {
    let missing = "arn:aws:states:us-east-1:123456789012:stateMachine:missing";
    let due = now() - TimeDelta::seconds(1);
    store
        .create_schedule(&schedule("orphan", due, "ENABLED"))
        .await
        .expect("create");
    let at = now();
    let fired = store
        .fire_schedules(at, 100, |s| fire_of(missing, s, at, false))
        .await
        .expect("fire");
    assert_eq!(
        (fired.started, fired.queued),
        (0, 1),
        "a start the store refuses is queued as a delivery"
    );
    // A queued delivery is due when it is queued (by the database's clock, on Postgres).
    let at = now() + TimeDelta::seconds(1);
    let delivered = store
        .deliver(at, 100, |d| DeliveryPlan::Start {
            execution: execution(missing, &d.delivery.execution_name, at),
            refused: Failure::Dead(None),
        })
        .await
        .expect("deliver");
    assert_eq!(delivered.dead, 1);
    let letters = store
        .lease_dead_letters(at, std::time::Duration::from_secs(60), 10)
        .await
        .expect("lease");
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].error, "StateMachineDoesNotExist");
    assert_eq!(
        letters[0].delivery.dead_letter_arn.as_deref(),
        Some("arn:aws:sqs:us-east-1:123456789012:dlq")
    );
    assert!(
        store
            .lease_dead_letters(at, std::time::Duration::from_secs(60), 10)
            .await
            .expect("lease")
            .is_empty(),
        "a leased letter is not leased twice"
    );
    store.dead_letter_done(letters[0].id).await.expect("done");
}

pub async fn scheduled_rules_fire_once_across_replicas<S: Store>(store: S) {
    let machine = machine(&store, "ruled", pass_machine()).await;
    let due = now() - TimeDelta::seconds(1);
    for i in 0..12 {
        let rule = RuleRecord {
            arn: format!("arn:aws:events:us-east-1:123456789012:rule/r{i:02}"),
            bus: "default".to_string(),
            name: format!("r{i:02}"),
            event_pattern: None,
            schedule_expression: Some("rate(5 minutes)".to_string()),
            state: "ENABLED".to_string(),
            description: None,
            role_arn: None,
            created_at: due,
            next_fire_at: Some(due),
        };
        store.put_rule(&rule, &[]).await.expect("put rule");
        store
            .put_targets(
                &rule.arn,
                &[TargetRecord {
                    id: "sfn".to_string(),
                    arn: machine.clone(),
                    spec: json!({"Id": "sfn", "Arn": machine}).to_string(),
                }],
            )
            .await
            .expect("targets");
    }
    let at = now();
    let plan = move |due: &DueRule| {
        let occurrence = due.rule.next_fire_at.unwrap_or(at);
        let id = format!("{}-{}", due.rule.name, occurrence.timestamp());
        RuleFire {
            event: Some(NewEvent {
                id: id.clone(),
                bus: due.rule.bus.clone(),
                event: "{}".to_string(),
                arrived_at: at,
                deliveries: due
                    .targets
                    .iter()
                    .map(|t| delivery(&due.rule.arn, &t.arn, &id, at))
                    .collect(),
            }),
            next_fire_at: Some(occurrence + TimeDelta::minutes(5)),
        }
    };
    let replica = |store: S| async move {
        let mut fired = 0;
        loop {
            let n = store.fire_rules(at, 5, plan).await.expect("fire rules");
            fired += n;
            if n == 0 {
                return fired;
            }
        }
    };
    let (a, b) = tokio::join!(
        tokio::spawn(replica(store.clone())),
        tokio::spawn(replica(store.clone()))
    );
    assert_eq!(a.expect("a") + b.expect("b"), 12);
    let at = now() + TimeDelta::seconds(1);
    let delivered = store
        .deliver(at, 100, |d| DeliveryPlan::Start {
            execution: execution(&d.delivery.machine_arn, &d.delivery.execution_name, at),
            refused: Failure::Dead(None),
        })
        .await
        .expect("deliver");
    assert_eq!(delivered.started, 12);
    assert_eq!(executions_of(&store, &machine).await.len(), 12);
    let rule = store
        .describe_rule("default", "r03")
        .await
        .expect("describe")
        .expect("rule");
    assert_eq!(rule.next_fire_at, Some(due + TimeDelta::minutes(5)));
    // A group's schedules go with it.
    let group = GroupRecord {
        name: "nightly".to_string(),
        arn: "arn:aws:scheduler:us-east-1:123456789012:schedule-group/nightly".to_string(),
        created_at: at,
        modified_at: at,
    };
    assert!(store.create_group(&group, &[]).await.expect("group"));
    assert!(!store.create_group(&group, &[]).await.expect("group"));
    let mut s = schedule("n1", at + TimeDelta::hours(1), "ENABLED");
    s.group = "nightly".to_string();
    store.create_schedule(&s).await.expect("create");
    assert!(store.delete_group("nightly").await.expect("delete group"));
    assert!(store
        .get_schedule("nightly", "n1")
        .await
        .expect("get")
        .is_none());
}

/// Whether the `Events` doorbell rings after `write`: the delivery and schedule loops
/// sleep on it, not on the inbox every execution's commit rings.
async fn rings_events<S: Store, F: std::future::Future>(store: &S, write: F) -> F::Output {
    let bell = store.doorbell(cairn_store::Channel::Events);
    let rung = bell.notified();
    tokio::pin!(rung);
    rung.as_mut().enable();
    let written = write.await;
    assert!(
        tokio::time::timeout(PATIENCE, rung).await.is_ok(),
        "the Events doorbell did not ring"
    );
    written
}

pub async fn new_schedules_and_deliveries_ring_the_events_doorbell<S: Store>(store: S) {
    let machine = machine(&store, "rung", pass_machine()).await;
    let due = now() + TimeDelta::hours(1);
    let later = schedule("later", due, "ENABLED");
    let created = rings_events(&store, store.create_schedule(&later)).await;
    assert!(created.expect("create"));
    let event = NewEvent {
        id: "e-rung".to_string(),
        bus: "default".to_string(),
        event: "{}".to_string(),
        arrived_at: now(),
        deliveries: vec![delivery(
            "arn:aws:events:us-east-1:123456789012:rule/r",
            &machine,
            "from-event",
            now(),
        )],
    };
    let events = [event];
    rings_events(&store, store.put_events(&events))
        .await
        .expect("put events");
}
