//! [`Rules`] for [`PgStore`]: EventBridge's and the Scheduler's tables. Every claim takes
//! its rows `FOR UPDATE SKIP LOCKED`, so replicas share deliveries and fires without a
//! leader, and each claimed row is written (started and removed, failed, or advanced) in
//! the transaction that claimed it.

use super::{to_json_text, PgStore};
use crate::catalog::Tag;
use crate::engine::InboxEvent;
use crate::executions::NewExecution;
use crate::rules::{
    input_refused, machine_refused, BusRecord, DeadLetter, Delivered, Delivery, DeliveryPlan,
    DueRule, Failure, Fired, GroupRecord, NewDelivery, NewEvent, RuleDeletion, RuleFire,
    RuleRecord, Rules, ScheduleFire, ScheduleRecord, TargetRecord,
};
use crate::signals::Channel;
use crate::{Result, Time};

/// Starts `execution` inside `tx` (`start_in_transaction` query): `None` when it was
/// started, now or by an earlier try of the same delivery; the refusal's error and cause
/// when no active STANDARD machine has its ARN or its input is not JSON.
async fn start_in(
    tx: &mut sqlx::PgConnection,
    execution: &NewExecution,
) -> Result<Option<(String, String)>> {
    if serde_json::from_str::<serde_json::Value>(&execution.input).is_err() {
        return Ok(Some(input_refused()));
    }
    let start = to_json_text(&InboxEvent::Start)?;
    let started = sqlx::query_scalar!(
        r#"with machine as (
               select arn, definition_id, role_arn from state_machines
               where arn = $1 and name = $2 and type = 'STANDARD' and status = 'ACTIVE'),
           started as (
               insert into executions (arn, state_machine_arn, name, definition_id, role_arn,
                                       status, input, started_at)
               select $3, m.arn, $4, m.definition_id, m.role_arn, 'RUNNING', $5::text::json, $6
               from machine m
               on conflict (arn) do nothing
               returning arn),
           queued as (
               insert into inbox (execution_arn, due_at, event)
               select arn, now(), $7::text::json from started)
           select (exists (select from machine)) as "machine!""#,
        execution.machine_arn,
        execution.machine_name(),
        execution.arn,
        execution.name,
        execution.input,
        execution.started_at,
        start,
    )
    .fetch_one(&mut *tx)
    .await?;
    if started {
        Ok(None)
    } else {
        Ok(Some(machine_refused(&execution.machine_arn)))
    }
}

async fn insert_tags(tx: &mut sqlx::PgConnection, arn: &str, tags: &[Tag]) -> Result<()> {
    let (keys, values): (Vec<String>, Vec<String>) = crate::catalog::distinct_tags(tags)
        .into_iter()
        .map(|t| (t.key, t.value))
        .unzip();
    sqlx::query!(
        r#"insert into tags (resource_arn, key, value)
           select $1, k, v from unnest($2::text[], $3::text[]) as u(k, v)
           on conflict (resource_arn, key) do update set value = excluded.value"#,
        arn,
        &keys,
        &values,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Queues deliveries (`queue_deliveries` query), due at once.
async fn queue(tx: &mut sqlx::PgConnection, deliveries: &[&NewDelivery]) -> Result<()> {
    if deliveries.is_empty() {
        return Ok(());
    }
    let text = |f: fn(&NewDelivery) -> &str| -> Vec<String> {
        deliveries.iter().map(|d| f(d).to_string()).collect()
    };
    let dead_letter: Vec<Option<String>> = deliveries
        .iter()
        .map(|d| d.dead_letter_arn.clone())
        .collect();
    let retries: Vec<i64> = deliveries.iter().map(|d| d.max_retries).collect();
    let age: Vec<i64> = deliveries.iter().map(|d| d.max_age_seconds).collect();
    let arrived: Vec<Time> = deliveries.iter().map(|d| d.arrived_at).collect();
    sqlx::query!(
        r#"insert into event_deliveries (source_arn, target_id, machine_arn, execution_name,
                                         input, dead_letter_arn, dead_letter_body, max_retries,
                                         max_age_seconds, arrived_at, due_at)
           select s, t, m, n, i, d, b, r, a, at, now()
           from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                       $7::text[], $8::int8[], $9::int8[], $10::timestamptz[])
                with ordinality as u(s, t, m, n, i, d, b, r, a, at, k)
           order by k"#,
        &text(|d| &d.source_arn),
        &text(|d| &d.target_id),
        &text(|d| &d.machine_arn),
        &text(|d| &d.execution_name),
        &text(|d| &d.input),
        &dead_letter as &[Option<String>],
        &text(|d| &d.dead_letter_body),
        &retries,
        &age,
        &arrived,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn insert_events(tx: &mut sqlx::PgConnection, events: &[NewEvent]) -> Result<()> {
    let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    let buses: Vec<String> = events.iter().map(|e| e.bus.clone()).collect();
    let bodies: Vec<String> = events.iter().map(|e| e.event.clone()).collect();
    let arrived: Vec<Time> = events.iter().map(|e| e.arrived_at).collect();
    sqlx::query!(
        r#"insert into events (id, bus, event, arrived_at)
           select i, b, e::json, a from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
                as u(i, b, e, a)
           on conflict (id) do nothing"#,
        &ids,
        &buses,
        &bodies,
        &arrived,
    )
    .execute(&mut *tx)
    .await?;
    let deliveries: Vec<&NewDelivery> = events.iter().flat_map(|e| &e.deliveries).collect();
    queue(tx, &deliveries).await
}

/// A rule from a row of any query that selects the rule's columns by name.
macro_rules! rule_row {
    ($r:expr) => {
        RuleRecord {
            arn: $r.arn,
            bus: $r.bus,
            name: $r.name,
            event_pattern: $r.event_pattern,
            schedule_expression: $r.schedule_expression,
            state: $r.state,
            description: $r.description,
            role_arn: $r.role_arn,
            created_at: $r.created_at,
            next_fire_at: $r.next_fire_at,
        }
    };
}

macro_rules! schedule_row {
    ($r:expr) => {
        ScheduleRecord {
            arn: $r.arn,
            group: $r.group_name,
            name: $r.name,
            state: $r.state,
            spec: $r.spec,
            created_at: $r.created_at,
            modified_at: $r.modified_at,
            next_occurrence: $r.next_occurrence,
            fire_at: $r.fire_at,
        }
    };
}

impl Rules for PgStore {
    async fn create_bus(&self, bus: &BusRecord, tags: &[Tag]) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let created = sqlx::query!(
            r#"insert into event_buses (name, arn, description, created_at, modified_at)
               values ($1, $2, $3, $4, $5) on conflict do nothing"#,
            bus.name,
            bus.arn,
            bus.description,
            bus.created_at,
            bus.modified_at,
        )
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if created {
            insert_tags(&mut tx, &bus.arn, tags).await?;
        }
        tx.commit().await?;
        Ok(created)
    }

    async fn describe_bus(&self, name: &str) -> Result<Option<BusRecord>> {
        let bus = sqlx::query_as!(
            BusRecord,
            "select name, arn, description, created_at, modified_at from event_buses where name = $1",
            name
        )
        .fetch_optional(self.pool())
        .await?;
        Ok(bus)
    }

    async fn list_buses(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<BusRecord>> {
        let buses = sqlx::query_as!(
            BusRecord,
            r#"select name, arn, description, created_at, modified_at from event_buses
               where ($1::text is null or starts_with(name, $1))
                 and ($2::text is null or name > $2)
               order by name limit $3"#,
            prefix,
            after,
            limit
        )
        .fetch_all(self.pool())
        .await?;
        Ok(buses)
    }

    async fn delete_bus(&self, name: &str) -> Result<bool> {
        let deleted = sqlx::query_scalar!(
            r#"with bus as (delete from event_buses where name = $1 returning arn),
                    rules as (delete from event_rules where bus = $1 returning arn),
                    targets as (delete from event_targets
                                where rule_arn in (select arn from rules)),
                    tagged as (delete from tags where resource_arn in
                               (select arn from rules union all select arn from bus))
               select count(*) as "count!" from bus"#,
            name
        )
        .fetch_one(self.pool())
        .await?;
        Ok(deleted > 0)
    }

    async fn put_rule(&self, rule: &RuleRecord, tags: &[Tag]) -> Result<RuleRecord> {
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query!(
            r#"insert into event_rules (arn, bus, name, event_pattern, schedule_expression, state,
                                        description, role_arn, created_at, next_fire_at)
               values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
               on conflict (bus, name) do update set
                   event_pattern = excluded.event_pattern,
                   schedule_expression = excluded.schedule_expression,
                   state = excluded.state, description = excluded.description,
                   role_arn = excluded.role_arn, next_fire_at = excluded.next_fire_at
               returning arn, bus, name, event_pattern, schedule_expression, state, description,
                         role_arn, created_at, next_fire_at, (xmax = 0) as "inserted!""#,
            rule.arn,
            rule.bus,
            rule.name,
            rule.event_pattern,
            rule.schedule_expression,
            rule.state,
            rule.description,
            rule.role_arn,
            rule.created_at,
            rule.next_fire_at,
        )
        .fetch_one(&mut *tx)
        .await?;
        if row.inserted {
            insert_tags(&mut tx, &rule.arn, tags).await?;
        }
        tx.commit().await?;
        self.announce(Channel::Events);
        Ok(rule_row!(row))
    }

    async fn describe_rule(&self, bus: &str, name: &str) -> Result<Option<RuleRecord>> {
        let row = sqlx::query!(
            r#"select arn, bus, name, event_pattern, schedule_expression, state, description,
                      role_arn, created_at, next_fire_at
               from event_rules where bus = $1 and name = $2"#,
            bus,
            name
        )
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| rule_row!(r)))
    }

    async fn list_rules(
        &self,
        bus: &str,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RuleRecord>> {
        let rows = sqlx::query!(
            r#"select arn, bus, name, event_pattern, schedule_expression, state, description,
                      role_arn, created_at, next_fire_at
               from event_rules
               where bus = $1 and ($2::text is null or starts_with(name, $2))
                 and ($3::text is null or name > $3)
               order by name limit $4"#,
            bus,
            prefix,
            after,
            limit
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|r| rule_row!(r)).collect())
    }

    async fn delete_rule(&self, bus: &str, name: &str) -> Result<RuleDeletion> {
        let mut tx = self.pool().begin().await?;
        let arn = sqlx::query_scalar!(
            "select arn from event_rules where bus = $1 and name = $2 for update",
            bus,
            name
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(arn) = arn else {
            return Ok(RuleDeletion::NotFound);
        };
        let targets = sqlx::query_scalar!(
            r#"select count(*) as "count!" from event_targets where rule_arn = $1"#,
            arn
        )
        .fetch_one(&mut *tx)
        .await?;
        if targets > 0 {
            return Ok(RuleDeletion::HasTargets);
        }
        sqlx::query!(
            r#"with gone as (delete from event_rules where arn = $1)
               delete from tags where resource_arn = $1"#,
            arn
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(RuleDeletion::Deleted)
    }

    async fn set_rule_state(
        &self,
        bus: &str,
        name: &str,
        state: &str,
        next_fire_at: Option<Time>,
    ) -> Result<bool> {
        let updated = sqlx::query!(
            "update event_rules set state = $3, next_fire_at = $4 where bus = $1 and name = $2",
            bus,
            name,
            state,
            next_fire_at
        )
        .execute(self.pool())
        .await?
        .rows_affected();
        self.announce(Channel::Events);
        Ok(updated == 1)
    }

    async fn put_targets(&self, rule_arn: &str, targets: &[TargetRecord]) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let exists = sqlx::query_scalar!(
            "select arn from event_rules where arn = $1 for update",
            rule_arn
        )
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
        if !exists {
            return Ok(false);
        }
        let ids: Vec<String> = targets.iter().map(|t| t.id.clone()).collect();
        let arns: Vec<String> = targets.iter().map(|t| t.arn.clone()).collect();
        let specs: Vec<String> = targets.iter().map(|t| t.spec.clone()).collect();
        sqlx::query!(
            r#"insert into event_targets (rule_arn, id, arn, spec)
               select $1, i, a, s from unnest($2::text[], $3::text[], $4::text[])
                    with ordinality as u(i, a, s, k) order by k
               on conflict (rule_arn, id) do update set arn = excluded.arn, spec = excluded.spec"#,
            rule_arn,
            &ids,
            &arns,
            &specs
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn list_targets(&self, rule_arn: &str) -> Result<Vec<TargetRecord>> {
        let targets = sqlx::query_as!(
            TargetRecord,
            "select id, arn, spec from event_targets where rule_arn = $1 order by position",
            rule_arn
        )
        .fetch_all(self.pool())
        .await?;
        Ok(targets)
    }

    async fn remove_targets(&self, rule_arn: &str, ids: &[String]) -> Result<Vec<String>> {
        let removed = sqlx::query_scalar!(
            "delete from event_targets where rule_arn = $1 and id = any($2) returning id",
            rule_arn,
            ids
        )
        .fetch_all(self.pool())
        .await?;
        Ok(removed)
    }

    async fn rules_to_match(&self, bus: &str) -> Result<Vec<DueRule>> {
        let rows = sqlx::query!(
            r#"select r.arn, r.bus, r.name, r.event_pattern, r.schedule_expression, r.state,
                      r.description, r.role_arn, r.created_at, r.next_fire_at,
                      coalesce((select json_agg(json_build_array(t.id, t.arn, t.spec) order by t.position)::text
                                from event_targets t where t.rule_arn = r.arn), '[]') as "targets!"
               from event_rules r
               where r.bus = $1 and r.event_pattern is not null and r.state <> 'DISABLED'
               order by r.name"#,
            bus
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                let targets = targets_of(&r.targets)?;
                Ok(DueRule {
                    rule: rule_row!(r),
                    targets,
                })
            })
            .collect()
    }

    async fn tag(&self, arn: &str, tags: &[Tag]) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        insert_tags(&mut tx, arn, tags).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn untag(&self, arn: &str, keys: &[String]) -> Result<()> {
        sqlx::query!(
            "delete from tags where resource_arn = $1 and key = any($2)",
            arn,
            keys
        )
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn tags_of(&self, arn: &str) -> Result<Vec<Tag>> {
        let tags = sqlx::query_as!(
            Tag,
            "select key, value from tags where resource_arn = $1 order by key",
            arn
        )
        .fetch_all(self.pool())
        .await?;
        Ok(tags)
    }

    async fn put_events(&self, events: &[NewEvent]) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        insert_events(&mut tx, events).await?;
        tx.commit().await?;
        if events.iter().any(|e| !e.deliveries.is_empty()) {
            self.announce(Channel::Events);
        }
        Ok(())
    }

    async fn deliver<F>(&self, now: Time, limit: i64, plan: F) -> Result<Delivered>
    where
        F: Fn(&Delivery) -> DeliveryPlan + Send + Sync,
    {
        let mut tx = self.pool().begin().await?;
        let rows = sqlx::query!(
            r#"select id, source_arn, target_id, machine_arn, execution_name, input,
                      dead_letter_arn, dead_letter_body, max_retries, max_age_seconds,
                      arrived_at, retries
               from event_deliveries where not dead and due_at <= $1
               order by due_at limit $2 for update skip locked"#,
            now,
            limit
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut done = Delivered::default();
        for row in rows {
            let claimed = Delivery {
                id: row.id,
                delivery: NewDelivery {
                    source_arn: row.source_arn,
                    target_id: row.target_id,
                    machine_arn: row.machine_arn,
                    execution_name: row.execution_name,
                    input: row.input,
                    dead_letter_arn: row.dead_letter_arn,
                    dead_letter_body: row.dead_letter_body,
                    max_retries: row.max_retries,
                    max_age_seconds: row.max_age_seconds,
                    arrived_at: row.arrived_at,
                },
                retries: row.retries,
            };
            let (error, cause, then) = match plan(&claimed) {
                DeliveryPlan::Start { execution, refused } => {
                    match start_in(&mut tx, &execution).await? {
                        None => {
                            sqlx::query!("delete from event_deliveries where id = $1", row.id)
                                .execute(&mut *tx)
                                .await?;
                            done.started += 1;
                            continue;
                        }
                        Some((error, cause)) => (error, cause, refused),
                    }
                }
                DeliveryPlan::Fail { error, cause, then } => (error, cause, then),
            };
            let (retry_at, exhausted) = match then {
                Failure::RetryAt(at) => (Some(at), None),
                Failure::Dead(exhausted) => (None, exhausted),
            };
            sqlx::query!(
                r#"update event_deliveries
                   set error = $2, cause = $3,
                       retries = retries + case when $4::timestamptz is null then 0 else 1 end,
                       due_at = coalesce($4, due_at), dead = $4::timestamptz is null,
                       exhausted = $5
                   where id = $1"#,
                row.id,
                error,
                cause,
                retry_at,
                exhausted
            )
            .execute(&mut *tx)
            .await?;
            if retry_at.is_some() {
                done.retried += 1;
            } else {
                done.dead += 1;
            }
        }
        tx.commit().await?;
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
        let mut tx = self.pool().begin().await?;
        // Nothing to send for these: AWS drops an undeliverable event without a queue.
        sqlx::query!("delete from event_deliveries where dead and dead_letter_arn is null")
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query!(
            r#"update event_deliveries set lease_until = $2
               where id in (select id from event_deliveries
                            where dead and (lease_until is null or lease_until <= $1)
                            order by id limit $3 for update skip locked)
               returning id, source_arn, target_id, machine_arn, execution_name, input,
                         dead_letter_arn, dead_letter_body, max_retries, max_age_seconds,
                         arrived_at, retries, error, cause, exhausted"#,
            now,
            until,
            limit
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|row| DeadLetter {
                id: row.id,
                delivery: NewDelivery {
                    source_arn: row.source_arn,
                    target_id: row.target_id,
                    machine_arn: row.machine_arn,
                    execution_name: row.execution_name,
                    input: row.input,
                    dead_letter_arn: row.dead_letter_arn,
                    dead_letter_body: row.dead_letter_body,
                    max_retries: row.max_retries,
                    max_age_seconds: row.max_age_seconds,
                    arrived_at: row.arrived_at,
                },
                retries: row.retries,
                error: row.error,
                cause: row.cause,
                exhausted: row.exhausted,
            })
            .collect())
    }

    async fn dead_letter_done(&self, id: i64) -> Result<()> {
        sqlx::query!("delete from event_deliveries where id = $1", id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn fire_rules<F>(&self, now: Time, limit: i64, plan: F) -> Result<usize>
    where
        F: Fn(&DueRule) -> RuleFire + Send + Sync,
    {
        let mut tx = self.pool().begin().await?;
        let rows = sqlx::query!(
            r#"select r.arn, r.bus, r.name, r.event_pattern, r.schedule_expression, r.state,
                      r.description, r.role_arn, r.created_at, r.next_fire_at,
                      coalesce((select json_agg(json_build_array(t.id, t.arn, t.spec) order by t.position)::text
                                from event_targets t where t.rule_arn = r.arn), '[]') as "targets!"
               from event_rules r
               where r.next_fire_at <= $1 and r.state <> 'DISABLED'
               order by r.next_fire_at limit $2 for update of r skip locked"#,
            now,
            limit
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut fired = 0;
        for row in rows {
            let targets = targets_of(&row.targets)?;
            let rule = rule_row!(row);
            let fire = plan(&DueRule {
                rule: rule.clone(),
                targets,
            });
            if let Some(event) = &fire.event {
                insert_events(&mut tx, std::slice::from_ref(event)).await?;
            }
            sqlx::query!(
                "update event_rules set next_fire_at = $2 where arn = $1",
                rule.arn,
                fire.next_fire_at
            )
            .execute(&mut *tx)
            .await?;
            fired += 1;
        }
        tx.commit().await?;
        if fired > 0 {
            self.announce(Channel::Inbox);
        }
        Ok(fired)
    }

    async fn create_group(&self, group: &GroupRecord, tags: &[Tag]) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let created = sqlx::query!(
            r#"insert into schedule_groups (name, arn, created_at, modified_at)
               values ($1, $2, $3, $4) on conflict do nothing"#,
            group.name,
            group.arn,
            group.created_at,
            group.modified_at
        )
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if created {
            insert_tags(&mut tx, &group.arn, tags).await?;
        }
        tx.commit().await?;
        Ok(created)
    }

    async fn get_group(&self, name: &str) -> Result<Option<GroupRecord>> {
        let group = sqlx::query_as!(
            GroupRecord,
            "select name, arn, created_at, modified_at from schedule_groups where name = $1",
            name
        )
        .fetch_optional(self.pool())
        .await?;
        Ok(group)
    }

    async fn list_groups(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<GroupRecord>> {
        let groups = sqlx::query_as!(
            GroupRecord,
            r#"select name, arn, created_at, modified_at from schedule_groups
               where ($1::text is null or starts_with(name, $1)) and ($2::text is null or name > $2)
               order by name limit $3"#,
            prefix,
            after,
            limit
        )
        .fetch_all(self.pool())
        .await?;
        Ok(groups)
    }

    async fn delete_group(&self, name: &str) -> Result<bool> {
        let deleted = sqlx::query_scalar!(
            r#"with grp as (delete from schedule_groups where name = $1 returning arn),
                    gone as (delete from schedules where group_name = $1 returning arn),
                    tagged as (delete from tags where resource_arn in
                               (select arn from grp union all select arn from gone))
               select count(*) as "count!" from grp"#,
            name
        )
        .fetch_one(self.pool())
        .await?;
        Ok(deleted > 0)
    }

    async fn create_schedule(&self, schedule: &ScheduleRecord) -> Result<bool> {
        let created = sqlx::query!(
            r#"insert into schedules (arn, group_name, name, state, spec, created_at, modified_at,
                                      next_occurrence, fire_at)
               values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict do nothing"#,
            schedule.arn,
            schedule.group,
            schedule.name,
            schedule.state,
            schedule.spec,
            schedule.created_at,
            schedule.modified_at,
            schedule.next_occurrence,
            schedule.fire_at
        )
        .execute(self.pool())
        .await?
        .rows_affected()
            == 1;
        self.announce(Channel::Events);
        Ok(created)
    }

    async fn update_schedule(&self, schedule: &ScheduleRecord) -> Result<bool> {
        let updated = sqlx::query!(
            r#"update schedules set state = $3, spec = $4, modified_at = $5, next_occurrence = $6,
                                    fire_at = $7
               where group_name = $1 and name = $2"#,
            schedule.group,
            schedule.name,
            schedule.state,
            schedule.spec,
            schedule.modified_at,
            schedule.next_occurrence,
            schedule.fire_at
        )
        .execute(self.pool())
        .await?
        .rows_affected()
            == 1;
        self.announce(Channel::Events);
        Ok(updated)
    }

    async fn get_schedule(&self, group: &str, name: &str) -> Result<Option<ScheduleRecord>> {
        let row = sqlx::query!(
            r#"select arn, group_name, name, state, spec, created_at, modified_at, next_occurrence,
                      fire_at
               from schedules where group_name = $1 and name = $2"#,
            group,
            name
        )
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| schedule_row!(r)))
    }

    async fn list_schedules(
        &self,
        group: Option<&str>,
        prefix: Option<&str>,
        state: Option<&str>,
        after: Option<(&str, &str)>,
        limit: i64,
    ) -> Result<Vec<ScheduleRecord>> {
        let (after_group, after_name) = match after {
            Some((g, n)) => (Some(g), Some(n)),
            None => (None, None),
        };
        let rows = sqlx::query!(
            r#"select arn, group_name, name, state, spec, created_at, modified_at, next_occurrence,
                      fire_at
               from schedules
               where ($1::text is null or group_name = $1)
                 and ($2::text is null or starts_with(name, $2))
                 and ($3::text is null or state = $3)
                 and ($4::text is null or (group_name, name) > ($4, $5::text))
               order by group_name, name limit $6"#,
            group,
            prefix,
            state,
            after_group,
            after_name,
            limit
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|r| schedule_row!(r)).collect())
    }

    async fn delete_schedule(&self, group: &str, name: &str) -> Result<bool> {
        let deleted = sqlx::query_scalar!(
            r#"with gone as (delete from schedules where group_name = $1 and name = $2 returning arn),
                    tagged as (delete from tags where resource_arn in (select arn from gone))
               select count(*) as "count!" from gone"#,
            group,
            name
        )
        .fetch_one(self.pool())
        .await?;
        Ok(deleted > 0)
    }

    async fn fire_schedules<F>(&self, now: Time, limit: i64, plan: F) -> Result<Fired>
    where
        F: Fn(&ScheduleRecord) -> ScheduleFire + Send + Sync,
    {
        let mut tx = self.pool().begin().await?;
        let rows = sqlx::query!(
            r#"select arn, group_name, name, state, spec, created_at, modified_at, next_occurrence,
                      fire_at
               from schedules where state = 'ENABLED' and fire_at <= $1
               order by fire_at limit $2 for update skip locked"#,
            now,
            limit
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut fired = Fired::default();
        for row in rows {
            let schedule = schedule_row!(row);
            let fire = plan(&schedule);
            match &fire.start {
                Some((execution, fallback)) => match start_in(&mut tx, execution).await? {
                    None => fired.started += 1,
                    Some(_) => {
                        queue(&mut tx, &[fallback]).await?;
                        fired.queued += 1;
                    }
                },
                None => fired.skipped += 1,
            }
            if fire.delete {
                sqlx::query!(
                    r#"with gone as (delete from schedules where arn = $1)
                       delete from tags where resource_arn = $1"#,
                    schedule.arn
                )
                .execute(&mut *tx)
                .await?;
            } else {
                sqlx::query!(
                    "update schedules set next_occurrence = $2, fire_at = $3 where arn = $1",
                    schedule.arn,
                    fire.next_occurrence,
                    fire.fire_at
                )
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        if fired.started + fired.queued > 0 {
            self.announce(Channel::Inbox);
        }
        Ok(fired)
    }

    async fn next_event_due(&self) -> Result<Option<Time>> {
        let due = sqlx::query_scalar!(
            r#"select least(
                   (select min(due_at) from event_deliveries where not dead),
                   (select min(coalesce(lease_until, now())) from event_deliveries where dead),
                   (select min(next_fire_at) from event_rules where state <> 'DISABLED'),
                   (select min(fire_at) from schedules where state = 'ENABLED'))"#
        )
        .fetch_one(self.pool())
        .await?;
        Ok(due)
    }
}

/// The targets `rules_to_match` and `fire_rules` aggregate as `[[id, arn, spec], …]`.
fn targets_of(text: &str) -> Result<Vec<TargetRecord>> {
    let rows: Vec<(String, String, String)> = super::from_json_text(text)?;
    Ok(rows
        .into_iter()
        .map(|(id, arn, spec)| TargetRecord { id, arn, spec })
        .collect())
}
