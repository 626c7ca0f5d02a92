//! [`Rules`] for [`MemoryStore`]: EventBridge's and the Scheduler's tables under the one
//! lock, so a delivery's start and its removal, or a schedule's start and its advance,
//! happen in one step as a transaction would make them.

use std::collections::BTreeMap;

use super::{now, MemoryStore, Tables};
use crate::catalog::Tag;
use crate::rules::{
    BusRecord, DeadLetter, Delivered, Delivery, DeliveryPlan, DueRule, Failure, Fired, GroupRecord,
    NewDelivery, NewEvent, RuleDeletion, RuleFire, RuleRecord, Rules, ScheduleFire, ScheduleRecord,
    TargetRecord,
};
use crate::signals::Channel;
use crate::{Result, StoreError, Time};

/// EventBridge's and the Scheduler's tables.
#[derive(Default)]
pub(super) struct EventTables {
    buses: BTreeMap<String, BusRecord>,
    /// Rules by (bus, name).
    rules: BTreeMap<(String, String), RuleRecord>,
    /// Targets by rule ARN, in the order they were first put.
    targets: BTreeMap<String, Vec<TargetRecord>>,
    events: BTreeMap<String, (String, String, Time)>,
    deliveries: BTreeMap<i64, DeliveryRow>,
    next_delivery: i64,
    groups: BTreeMap<String, GroupRecord>,
    /// Schedules by (group, name).
    schedules: BTreeMap<(String, String), ScheduleRecord>,
}

struct DeliveryRow {
    delivery: NewDelivery,
    retries: i64,
    due_at: Time,
    dead: bool,
    error: String,
    cause: String,
    exhausted: Option<String>,
    lease_until: Option<Time>,
}

impl EventTables {
    fn queue(&mut self, delivery: &NewDelivery, due_at: Time) {
        self.next_delivery += 1;
        self.deliveries.insert(
            self.next_delivery,
            DeliveryRow {
                delivery: delivery.clone(),
                retries: 0,
                due_at,
                dead: false,
                error: String::new(),
                cause: String::new(),
                exhausted: None,
                lease_until: None,
            },
        );
    }

    fn put_events(&mut self, events: &[NewEvent]) {
        for event in events {
            self.events.insert(
                event.id.clone(),
                (event.bus.clone(), event.event.clone(), event.arrived_at),
            );
            for delivery in &event.deliveries {
                self.queue(delivery, event.arrived_at);
            }
        }
    }
}

/// Applies a failed attempt to a delivery row.
fn fail(row: &mut DeliveryRow, error: String, cause: String, then: Failure) -> bool {
    row.error = error;
    row.cause = cause;
    row.lease_until = None;
    match then {
        Failure::RetryAt(at) => {
            row.retries += 1;
            row.due_at = at;
            false
        }
        Failure::Dead(exhausted) => {
            row.dead = true;
            row.exhausted = exhausted.map(str::to_string);
            true
        }
    }
}

impl Tables {
    /// Starts `execution`: `Ok(None)` when it was started (now or before), the refusal's
    /// (error, cause) otherwise.
    fn start_for_delivery(
        &mut self,
        execution: &crate::executions::NewExecution,
    ) -> Result<Option<(String, String)>> {
        match self.start(execution) {
            Ok(Some(_)) => Ok(None),
            Ok(None) => Ok(Some(crate::rules::machine_refused(&execution.machine_arn))),
            // The same name with other input: an earlier try of this delivery started it.
            Err(StoreError::ExecutionAlreadyExists(_)) => Ok(None),
            Err(StoreError::Corrupt(_)) => Ok(Some(crate::rules::input_refused())),
            Err(other) => Err(other),
        }
    }
}

impl Rules for MemoryStore {
    async fn create_bus(&self, bus: &BusRecord, tags: &[Tag]) -> Result<bool> {
        let mut tables = self.tables();
        if tables.events.buses.contains_key(&bus.name) {
            return Ok(false);
        }
        tables.events.buses.insert(bus.name.clone(), bus.clone());
        tag_locked(&mut tables, &bus.arn, tags);
        Ok(true)
    }

    async fn describe_bus(&self, name: &str) -> Result<Option<BusRecord>> {
        Ok(self.tables().events.buses.get(name).cloned())
    }

    async fn list_buses(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<BusRecord>> {
        let tables = self.tables();
        Ok(tables
            .events
            .buses
            .values()
            .filter(|b| prefix.is_none_or(|p| b.name.starts_with(p)))
            .filter(|b| after.is_none_or(|a| b.name.as_str() > a))
            .take(limit.max(0) as usize)
            .cloned()
            .collect())
    }

    async fn delete_bus(&self, name: &str) -> Result<bool> {
        let mut tables = self.tables();
        let Some(bus) = tables.events.buses.remove(name) else {
            return Ok(false);
        };
        let rules: Vec<(String, String)> = tables
            .events
            .rules
            .keys()
            .filter(|(b, _)| b == name)
            .cloned()
            .collect();
        for key in rules {
            if let Some(rule) = tables.events.rules.remove(&key) {
                tables.events.targets.remove(&rule.arn);
                tables.tags.remove(&rule.arn);
            }
        }
        tables.tags.remove(&bus.arn);
        Ok(true)
    }

    async fn put_rule(&self, rule: &RuleRecord, tags: &[Tag]) -> Result<RuleRecord> {
        let mut tables = self.tables();
        let key = (rule.bus.clone(), rule.name.clone());
        let stored = match tables.events.rules.get(&key) {
            Some(existing) => RuleRecord {
                created_at: existing.created_at,
                ..rule.clone()
            },
            None => {
                tag_locked(&mut tables, &rule.arn, tags);
                rule.clone()
            }
        };
        tables.events.rules.insert(key, stored.clone());
        drop(tables);
        self.announce(Channel::Events);
        Ok(stored)
    }

    async fn describe_rule(&self, bus: &str, name: &str) -> Result<Option<RuleRecord>> {
        let key = (bus.to_string(), name.to_string());
        Ok(self.tables().events.rules.get(&key).cloned())
    }

    async fn list_rules(
        &self,
        bus: &str,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RuleRecord>> {
        let tables = self.tables();
        Ok(tables
            .events
            .rules
            .values()
            .filter(|r| r.bus == bus)
            .filter(|r| prefix.is_none_or(|p| r.name.starts_with(p)))
            .filter(|r| after.is_none_or(|a| r.name.as_str() > a))
            .take(limit.max(0) as usize)
            .cloned()
            .collect())
    }

    async fn delete_rule(&self, bus: &str, name: &str) -> Result<RuleDeletion> {
        let mut tables = self.tables();
        let key = (bus.to_string(), name.to_string());
        let Some(rule) = tables.events.rules.get(&key) else {
            return Ok(RuleDeletion::NotFound);
        };
        let arn = rule.arn.clone();
        if tables
            .events
            .targets
            .get(&arn)
            .is_some_and(|t| !t.is_empty())
        {
            return Ok(RuleDeletion::HasTargets);
        }
        tables.events.rules.remove(&key);
        tables.events.targets.remove(&arn);
        tables.tags.remove(&arn);
        Ok(RuleDeletion::Deleted)
    }

    async fn set_rule_state(
        &self,
        bus: &str,
        name: &str,
        state: &str,
        next_fire_at: Option<Time>,
    ) -> Result<bool> {
        let mut tables = self.tables();
        let key = (bus.to_string(), name.to_string());
        let Some(rule) = tables.events.rules.get_mut(&key) else {
            return Ok(false);
        };
        rule.state = state.to_string();
        rule.next_fire_at = next_fire_at;
        drop(tables);
        self.announce(Channel::Events);
        Ok(true)
    }

    async fn put_targets(&self, rule_arn: &str, targets: &[TargetRecord]) -> Result<bool> {
        let mut tables = self.tables();
        if !tables.events.rules.values().any(|r| r.arn == rule_arn) {
            return Ok(false);
        }
        let list = tables
            .events
            .targets
            .entry(rule_arn.to_string())
            .or_default();
        for target in targets {
            match list.iter_mut().find(|t| t.id == target.id) {
                Some(existing) => *existing = target.clone(),
                None => list.push(target.clone()),
            }
        }
        Ok(true)
    }

    async fn list_targets(&self, rule_arn: &str) -> Result<Vec<TargetRecord>> {
        Ok(self
            .tables()
            .events
            .targets
            .get(rule_arn)
            .cloned()
            .unwrap_or_default())
    }

    async fn remove_targets(&self, rule_arn: &str, ids: &[String]) -> Result<Vec<String>> {
        let mut tables = self.tables();
        let Some(list) = tables.events.targets.get_mut(rule_arn) else {
            return Ok(Vec::new());
        };
        let removed: Vec<String> = list
            .iter()
            .filter(|t| ids.contains(&t.id))
            .map(|t| t.id.clone())
            .collect();
        list.retain(|t| !ids.contains(&t.id));
        Ok(removed)
    }

    async fn rules_to_match(&self, bus: &str) -> Result<Vec<DueRule>> {
        let tables = self.tables();
        Ok(tables
            .events
            .rules
            .values()
            .filter(|r| r.bus == bus && r.event_pattern.is_some() && r.state != "DISABLED")
            .map(|r| DueRule {
                rule: r.clone(),
                targets: tables
                    .events
                    .targets
                    .get(&r.arn)
                    .cloned()
                    .unwrap_or_default(),
            })
            .collect())
    }

    async fn tag(&self, arn: &str, tags: &[Tag]) -> Result<()> {
        tag_locked(&mut self.tables(), arn, tags);
        Ok(())
    }

    async fn untag(&self, arn: &str, keys: &[String]) -> Result<()> {
        if let Some(tags) = self.tables().tags.get_mut(arn) {
            tags.retain(|k, _| !keys.contains(k));
        }
        Ok(())
    }

    async fn tags_of(&self, arn: &str) -> Result<Vec<Tag>> {
        Ok(self
            .tables()
            .tags
            .get(arn)
            .map(|tags| {
                tags.iter()
                    .map(|(key, value)| Tag {
                        key: key.clone(),
                        value: value.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn put_events(&self, events: &[NewEvent]) -> Result<()> {
        let queued = events.iter().any(|e| !e.deliveries.is_empty());
        self.tables().events.put_events(events);
        if queued {
            self.announce(Channel::Events);
        }
        Ok(())
    }

    async fn deliver<F>(&self, now: Time, limit: i64, plan: F) -> Result<Delivered>
    where
        F: Fn(&Delivery) -> DeliveryPlan + Send + Sync,
    {
        let mut tables = self.tables();
        let due: Vec<i64> = tables
            .events
            .deliveries
            .iter()
            .filter(|(_, row)| !row.dead && row.due_at <= now)
            .map(|(id, _)| *id)
            .take(limit.max(0) as usize)
            .collect();
        let mut done = Delivered::default();
        for id in due {
            let Some(row) = tables.events.deliveries.get(&id) else {
                continue;
            };
            let claimed = Delivery {
                id,
                delivery: row.delivery.clone(),
                retries: row.retries,
            };
            let (error, cause, then) = match plan(&claimed) {
                DeliveryPlan::Start { execution, refused } => {
                    match tables.start_for_delivery(&execution)? {
                        None => {
                            tables.events.deliveries.remove(&id);
                            done.started += 1;
                            continue;
                        }
                        Some((error, cause)) => (error, cause, refused),
                    }
                }
                DeliveryPlan::Fail { error, cause, then } => (error, cause, then),
            };
            if let Some(row) = tables.events.deliveries.get_mut(&id) {
                if fail(row, error, cause, then) {
                    done.dead += 1;
                } else {
                    done.retried += 1;
                }
            }
        }
        drop(tables);
        if done.started > 0 {
            self.announce(Channel::Inbox);
        }
        Ok(done)
    }

    async fn lease_dead_letters(
        &self,
        now: Time,
        lease: std::time::Duration,
        limit: i64,
    ) -> Result<Vec<DeadLetter>> {
        let until = now + chrono::TimeDelta::from_std(lease).unwrap_or_default();
        let mut tables = self.tables();
        let mut leased = Vec::new();
        let mut without_queue = Vec::new();
        for (id, row) in tables.events.deliveries.iter_mut() {
            if leased.len() as i64 >= limit || !row.dead {
                continue;
            }
            if row.delivery.dead_letter_arn.is_none() {
                without_queue.push(*id);
                continue;
            }
            if row.lease_until.is_some_and(|u| u > now) {
                continue;
            }
            row.lease_until = Some(until);
            leased.push(DeadLetter {
                id: *id,
                delivery: row.delivery.clone(),
                retries: row.retries,
                error: row.error.clone(),
                cause: row.cause.clone(),
                exhausted: row.exhausted.clone(),
            });
        }
        // Nothing to send for these: AWS drops an undeliverable event without a queue.
        for id in without_queue {
            tables.events.deliveries.remove(&id);
        }
        Ok(leased)
    }

    async fn dead_letter_done(&self, id: i64) -> Result<()> {
        self.tables().events.deliveries.remove(&id);
        Ok(())
    }

    async fn fire_rules<F>(&self, now: Time, limit: i64, plan: F) -> Result<usize>
    where
        F: Fn(&DueRule) -> RuleFire + Send + Sync,
    {
        let mut tables = self.tables();
        let due: Vec<(String, String)> = tables
            .events
            .rules
            .iter()
            .filter(|(_, r)| r.state != "DISABLED" && r.next_fire_at.is_some_and(|t| t <= now))
            .map(|(key, _)| key.clone())
            .take(limit.max(0) as usize)
            .collect();
        let mut fired = 0;
        for key in due {
            let Some(rule) = tables.events.rules.get(&key).cloned() else {
                continue;
            };
            let targets = tables
                .events
                .targets
                .get(&rule.arn)
                .cloned()
                .unwrap_or_default();
            let fire = plan(&DueRule { rule, targets });
            if let Some(event) = &fire.event {
                tables.events.put_events(std::slice::from_ref(event));
            }
            if let Some(rule) = tables.events.rules.get_mut(&key) {
                rule.next_fire_at = fire.next_fire_at;
            }
            fired += 1;
        }
        drop(tables);
        if fired > 0 {
            self.announce(Channel::Inbox);
        }
        Ok(fired)
    }

    async fn create_group(&self, group: &GroupRecord, tags: &[Tag]) -> Result<bool> {
        let mut tables = self.tables();
        if tables.events.groups.contains_key(&group.name) {
            return Ok(false);
        }
        tables
            .events
            .groups
            .insert(group.name.clone(), group.clone());
        tag_locked(&mut tables, &group.arn, tags);
        Ok(true)
    }

    async fn get_group(&self, name: &str) -> Result<Option<GroupRecord>> {
        Ok(self.tables().events.groups.get(name).cloned())
    }

    async fn list_groups(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<GroupRecord>> {
        let tables = self.tables();
        Ok(tables
            .events
            .groups
            .values()
            .filter(|g| prefix.is_none_or(|p| g.name.starts_with(p)))
            .filter(|g| after.is_none_or(|a| g.name.as_str() > a))
            .take(limit.max(0) as usize)
            .cloned()
            .collect())
    }

    async fn delete_group(&self, name: &str) -> Result<bool> {
        let mut tables = self.tables();
        let Some(group) = tables.events.groups.remove(name) else {
            return Ok(false);
        };
        tables.events.schedules.retain(|(g, _), _| g != name);
        tables.tags.remove(&group.arn);
        Ok(true)
    }

    async fn create_schedule(&self, schedule: &ScheduleRecord) -> Result<bool> {
        let mut tables = self.tables();
        let key = (schedule.group.clone(), schedule.name.clone());
        if tables.events.schedules.contains_key(&key) {
            return Ok(false);
        }
        tables.events.schedules.insert(key, schedule.clone());
        drop(tables);
        self.announce(Channel::Events);
        Ok(true)
    }

    async fn update_schedule(&self, schedule: &ScheduleRecord) -> Result<bool> {
        let mut tables = self.tables();
        let key = (schedule.group.clone(), schedule.name.clone());
        let Some(existing) = tables.events.schedules.get_mut(&key) else {
            return Ok(false);
        };
        *existing = ScheduleRecord {
            created_at: existing.created_at,
            ..schedule.clone()
        };
        drop(tables);
        self.announce(Channel::Events);
        Ok(true)
    }

    async fn get_schedule(&self, group: &str, name: &str) -> Result<Option<ScheduleRecord>> {
        let key = (group.to_string(), name.to_string());
        Ok(self.tables().events.schedules.get(&key).cloned())
    }

    async fn list_schedules(
        &self,
        group: Option<&str>,
        prefix: Option<&str>,
        state: Option<&str>,
        after: Option<(&str, &str)>,
        limit: i64,
    ) -> Result<Vec<ScheduleRecord>> {
        let tables = self.tables();
        Ok(tables
            .events
            .schedules
            .values()
            .filter(|s| group.is_none_or(|g| s.group == g))
            .filter(|s| prefix.is_none_or(|p| s.name.starts_with(p)))
            .filter(|s| state.is_none_or(|st| s.state == st))
            .filter(|s| after.is_none_or(|(g, n)| (s.group.as_str(), s.name.as_str()) > (g, n)))
            .take(limit.max(0) as usize)
            .cloned()
            .collect())
    }

    async fn delete_schedule(&self, group: &str, name: &str) -> Result<bool> {
        let key = (group.to_string(), name.to_string());
        Ok(self.tables().events.schedules.remove(&key).is_some())
    }

    async fn fire_schedules<F>(&self, now: Time, limit: i64, plan: F) -> Result<Fired>
    where
        F: Fn(&ScheduleRecord) -> ScheduleFire + Send + Sync,
    {
        let mut tables = self.tables();
        let due: Vec<(String, String)> = tables
            .events
            .schedules
            .iter()
            .filter(|(_, s)| s.state == "ENABLED" && s.fire_at.is_some_and(|t| t <= now))
            .map(|(key, _)| key.clone())
            .take(limit.max(0) as usize)
            .collect();
        let mut fired = Fired::default();
        for key in due {
            let Some(schedule) = tables.events.schedules.get(&key).cloned() else {
                continue;
            };
            let fire = plan(&schedule);
            match &fire.start {
                Some((execution, fallback)) => match tables.start_for_delivery(execution)? {
                    None => fired.started += 1,
                    Some(_) => {
                        tables.events.queue(fallback, now);
                        fired.queued += 1;
                    }
                },
                None => fired.skipped += 1,
            }
            if fire.delete {
                tables.events.schedules.remove(&key);
            } else if let Some(schedule) = tables.events.schedules.get_mut(&key) {
                schedule.next_occurrence = fire.next_occurrence;
                schedule.fire_at = fire.fire_at;
            }
        }
        drop(tables);
        if fired.started + fired.queued > 0 {
            self.announce(Channel::Inbox);
        }
        Ok(fired)
    }

    async fn next_event_due(&self) -> Result<Option<Time>> {
        let tables = self.tables();
        let deliveries = tables
            .events
            .deliveries
            .values()
            .filter(|d| !d.dead)
            .map(|d| d.due_at);
        let dead = tables
            .events
            .deliveries
            .values()
            .filter(|d| d.dead)
            .map(|d| d.lease_until.unwrap_or_else(now));
        let rules = tables
            .events
            .rules
            .values()
            .filter(|r| r.state != "DISABLED")
            .filter_map(|r| r.next_fire_at);
        let schedules = tables
            .events
            .schedules
            .values()
            .filter(|s| s.state == "ENABLED")
            .filter_map(|s| s.fire_at);
        Ok(deliveries.chain(dead).chain(rules).chain(schedules).min())
    }
}

fn tag_locked(tables: &mut Tables, arn: &str, tags: &[Tag]) {
    if tags.is_empty() {
        return;
    }
    let entry = tables.tags.entry(arn.to_string()).or_default();
    for tag in tags {
        entry.insert(tag.key.clone(), tag.value.clone());
    }
}
