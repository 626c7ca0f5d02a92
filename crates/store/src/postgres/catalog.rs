//! [`Catalog`] for [`PgStore`].

use super::{enqueue_now, PgStore};
use crate::catalog::{
    changes_anything, deleted_machine_stop, distinct_tags, is_repeat, ActivityRecord, Catalog,
    CreateOutcome, DeleteOutcome, MachineStatus, MachineType, StateMachineChanges,
    StateMachineRecord, StateMachineSpec, StateMachineSummary, Tag, TagOutcome, UpdateOutcome,
};
use crate::engine::InboxEvent;
use crate::signals::Channel;
use crate::versions::{PublishOutcome, VersionRecord};
use crate::Result;

/// The version a publish inside a create or update made (or found).
fn published(outcome: PublishOutcome) -> Option<VersionRecord> {
    match outcome {
        PublishOutcome::Published(version) => Some(version),
        _ => None,
    }
}

/// Tag columns, deduplicated by key: one upsert statement may not touch the same row
/// twice.
fn tag_columns(tags: &[Tag]) -> (Vec<String>, Vec<String>) {
    distinct_tags(tags)
        .into_iter()
        .map(|tag| (tag.key, tag.value))
        .unzip()
}

async fn insert_tags(tx: &mut sqlx::PgConnection, arn: &str, tags: &[Tag]) -> Result<()> {
    if tags.is_empty() {
        return Ok(());
    }
    let (keys, values) = tag_columns(tags);
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

async fn resource_exists(tx: &mut sqlx::PgConnection, arn: &str) -> Result<bool> {
    let exists = sqlx::query_scalar!(
        r#"select (exists (select 1 from state_machines where arn = $1)
                   or exists (select 1 from activities where arn = $1)) as "exists!""#,
        arn
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(exists)
}

/// Stores a definition text once; its id.
pub(super) async fn put_definition(tx: &mut sqlx::PgConnection, body: &str) -> Result<i64> {
    let id = sqlx::query_scalar!(
        r#"insert into definitions (digest, body) values (md5($1), $1)
           on conflict (digest) do update set digest = excluded.digest
           returning id"#,
        body
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(id)
}

/// Removes a machine with its versions, aliases and tags (`purge_machine` query).
async fn purge_machine(tx: &mut sqlx::PgConnection, arn: &str) -> Result<()> {
    sqlx::query!(
        r#"with aliases as (delete from state_machine_aliases where machine_arn = $1
                            returning arn),
                routes as (delete from state_machine_alias_routes
                           where alias_arn in (select arn from aliases)),
                versions as (delete from state_machine_versions where machine_arn = $1),
                tagged as (delete from tags where resource_arn = $1)
           delete from state_machines where arn = $1"#,
        arn
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Finishes the deletion of a `DELETING` machine none of whose executions runs any
/// more: `true` when it is gone now.
async fn finish_deletion(tx: &mut sqlx::PgConnection, arn: &str) -> Result<bool> {
    let done = sqlx::query_scalar!(
        r#"select exists (
               select 1 from state_machines m
               where m.arn = $1 and m.status = 'DELETING'
                 and not exists (select 1 from executions e
                                 where e.state_machine_arn = m.arn and e.status = 'RUNNING')
           ) as "done!""#,
        arn
    )
    .fetch_one(&mut *tx)
    .await?;
    if done {
        purge_machine(tx, arn).await?;
    }
    Ok(done)
}

impl Catalog for PgStore {
    async fn create_state_machine(&self, spec: &StateMachineSpec) -> Result<CreateOutcome> {
        let mut tx = self.pool.begin().await?;
        finish_deletion(&mut tx, &spec.arn).await?;
        let definition_id = put_definition(&mut tx, &spec.definition).await?;
        let inserted = sqlx::query!(
            r#"insert into state_machines (arn, name, type, definition_id, role_arn, revision_id,
                                           logging_configuration, tracing_configuration)
               values ($1, $2, $3, $4, $5, null, $6::text::json, $7::text::json)
               on conflict (arn) do nothing
               returning created_at, updated_at"#,
            spec.arn,
            spec.name,
            spec.machine_type.as_str(),
            definition_id,
            spec.role_arn,
            spec.logging,
            spec.tracing,
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(inserted) = inserted else {
            // Compare with what is there; the repeat of an identical call is not an error.
            let existing = select_state_machine(&mut tx, &spec.arn, true).await?;
            let outcome = match existing {
                Some(e) if e.status == MachineStatus::Deleting => CreateOutcome::Deleting,
                Some(e) if is_repeat(&e, spec) => {
                    let version = match &spec.publish {
                        None => None,
                        Some(publish) => published(
                            super::versions::publish_in(&mut tx, &spec.arn, None, publish).await?,
                        ),
                    };
                    let outcome = CreateOutcome::Existing {
                        machine: e,
                        version,
                    };
                    tx.commit().await?;
                    return Ok(outcome);
                }
                _ => CreateOutcome::Conflict,
            };
            // Nothing of this call may stay: not even the definition row.
            tx.rollback().await?;
            return Ok(outcome);
        };
        insert_tags(&mut tx, &spec.arn, &spec.tags).await?;
        let version = match &spec.publish {
            None => None,
            Some(publish) => {
                published(super::versions::publish_in(&mut tx, &spec.arn, None, publish).await?)
            }
        };
        tx.commit().await?;
        Ok(CreateOutcome::Created {
            machine: StateMachineRecord::created(
                spec,
                definition_id,
                inserted.created_at,
                inserted.updated_at,
            ),
            version,
        })
    }

    async fn state_machine(&self, arn: &str) -> Result<Option<StateMachineRecord>> {
        let mut tx = self.pool.begin().await?;
        if finish_deletion(&mut tx, arn).await? {
            tx.commit().await?;
            return Ok(None);
        }
        let machine = select_state_machine(&mut tx, arn, false).await?;
        tx.commit().await?;
        Ok(machine)
    }

    async fn update_state_machine(
        &self,
        arn: &str,
        changes: &StateMachineChanges,
    ) -> Result<UpdateOutcome> {
        let mut tx = self.pool.begin().await?;
        if finish_deletion(&mut tx, arn).await? {
            tx.commit().await?;
            return Ok(UpdateOutcome::NotFound);
        }
        let Some(machine) = select_state_machine(&mut tx, arn, true).await? else {
            return Ok(UpdateOutcome::NotFound);
        };
        if machine.status == MachineStatus::Deleting {
            return Ok(UpdateOutcome::Deleting);
        }
        let changed = changes_anything(&machine, changes);
        let definition_id = match (&changes.definition, changed) {
            (Some(body), true) => Some(put_definition(&mut tx, body).await?),
            _ => None,
        };
        let updated_at = sqlx::query_scalar!(
            r#"update state_machines set
                   definition_id = coalesce($2, definition_id),
                   role_arn = coalesce($3, role_arn),
                   logging_configuration = coalesce($4::text::json, logging_configuration),
                   tracing_configuration = coalesce($5::text::json, tracing_configuration),
                   revision_id = case when $7 then $6 else revision_id end,
                   updated_at = now()
               where arn = $1
               returning updated_at"#,
            arn,
            definition_id,
            changes.role_arn,
            changes.logging,
            changes.tracing,
            changes.revision_id,
            changed,
        )
        .fetch_one(&mut *tx)
        .await?;
        let version = match &changes.publish {
            None => None,
            Some(publish) => {
                match super::versions::publish_in(&mut tx, arn, None, publish).await? {
                    PublishOutcome::Published(version) => Some(version),
                    PublishOutcome::TooMany => {
                        tx.rollback().await?;
                        return Ok(UpdateOutcome::TooManyVersions);
                    }
                    PublishOutcome::NoMachine { .. } | PublishOutcome::StaleRevision { .. } => None,
                }
            }
        };
        tx.commit().await?;
        self.announce(Channel::Catalog);
        Ok(UpdateOutcome::Updated {
            updated_at,
            revision_id: changed.then(|| changes.revision_id.clone()),
            version,
        })
    }

    async fn delete_state_machine(&self, arn: &str) -> Result<DeleteOutcome> {
        let mut tx = self.pool.begin().await?;
        if select_state_machine(&mut tx, arn, true).await?.is_none() {
            return Ok(DeleteOutcome::Absent);
        }
        let running = sqlx::query_scalar!(
            r#"select arn from executions where state_machine_arn = $1 and status = 'RUNNING'"#,
            arn
        )
        .fetch_all(&mut *tx)
        .await?;
        if running.is_empty() {
            purge_machine(&mut tx, arn).await?;
            tx.commit().await?;
            self.announce(Channel::Catalog);
            return Ok(DeleteOutcome::Deleted);
        }
        sqlx::query!(
            "update state_machines set status = 'DELETING' where arn = $1",
            arn
        )
        .execute(&mut *tx)
        .await?;
        let stop = InboxEvent::Step(deleted_machine_stop(arn));
        let events = vec![stop; running.len()];
        enqueue_now(&mut tx, &running, &events).await?;
        tx.commit().await?;
        self.announce(Channel::Inbox);
        self.announce(Channel::Catalog);
        Ok(DeleteOutcome::Deleting)
    }

    async fn list_state_machines(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StateMachineSummary>> {
        let rows = sqlx::query!(
            r#"select arn, name, type, created_at from state_machines
               where ($1::text is null or arn > $1)
                 and (status = 'ACTIVE' or exists (
                          select 1 from executions e
                          where e.state_machine_arn = state_machines.arn
                            and e.status = 'RUNNING'))
               order by arn limit $2"#,
            after,
            limit
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(StateMachineSummary {
                    arn: r.arn,
                    name: r.name,
                    machine_type: MachineType::stored(&r.r#type)?,
                    created_at: r.created_at,
                })
            })
            .collect()
    }

    async fn create_activity(&self, arn: &str, name: &str, tags: &[Tag]) -> Result<ActivityRecord> {
        let mut tx = self.pool().begin().await?;
        let inserted = sqlx::query_scalar!(
            r#"insert into activities (arn, name) values ($1, $2)
               on conflict do nothing
               returning created_at"#,
            arn,
            name
        )
        .fetch_optional(&mut *tx)
        .await?;
        let record = match inserted {
            Some(created_at) => {
                insert_tags(&mut tx, arn, tags).await?;
                ActivityRecord {
                    arn: arn.to_string(),
                    name: name.to_string(),
                    created_at,
                }
            }
            None => {
                let row = sqlx::query!(
                    "select arn, name, created_at from activities where name = $1 or arn = $2",
                    name,
                    arn
                )
                .fetch_one(&mut *tx)
                .await?;
                ActivityRecord {
                    arn: row.arn,
                    name: row.name,
                    created_at: row.created_at,
                }
            }
        };
        tx.commit().await?;
        Ok(record)
    }

    async fn activity(&self, arn: &str) -> Result<Option<ActivityRecord>> {
        let row = sqlx::query!(
            "select arn, name, created_at from activities where arn = $1",
            arn
        )
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| ActivityRecord {
            arn: r.arn,
            name: r.name,
            created_at: r.created_at,
        }))
    }

    async fn delete_activity(&self, arn: &str) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        sqlx::query!("delete from tags where resource_arn = $1", arn)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query!("delete from activities where arn = $1", arn)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted > 0)
    }

    async fn list_activities(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ActivityRecord>> {
        let rows = sqlx::query!(
            r#"select arn, name, created_at from activities
               where $1::text is null or arn > $1
               order by arn limit $2"#,
            after,
            limit
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| ActivityRecord {
                arn: r.arn,
                name: r.name,
                created_at: r.created_at,
            })
            .collect())
    }

    async fn tag_resource(&self, arn: &str, tags: &[Tag], max_tags: i64) -> Result<TagOutcome> {
        let mut tx = self.pool().begin().await?;
        if !resource_exists(&mut tx, arn).await? {
            tx.rollback().await?;
            return Ok(TagOutcome::NotFound);
        }
        insert_tags(&mut tx, arn, tags).await?;
        let count = sqlx::query_scalar!(
            r#"select count(*) as "count!" from tags where resource_arn = $1"#,
            arn
        )
        .fetch_one(&mut *tx)
        .await?;
        if count > max_tags {
            tx.rollback().await?;
            return Ok(TagOutcome::TooMany);
        }
        tx.commit().await?;
        Ok(TagOutcome::Tagged)
    }

    async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        if !resource_exists(&mut tx, arn).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query!(
            "delete from tags where resource_arn = $1 and key = any($2)",
            arn,
            keys
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn list_tags(&self, arn: &str) -> Result<Option<Vec<Tag>>> {
        let mut tx = self.pool().begin().await?;
        if !resource_exists(&mut tx, arn).await? {
            tx.commit().await?;
            return Ok(None);
        }
        let rows = sqlx::query!(
            "select key, value from tags where resource_arn = $1 order by key",
            arn
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(
            rows.into_iter()
                .map(|r| Tag {
                    key: r.key,
                    value: r.value,
                })
                .collect(),
        ))
    }
}

/// The machine `arn`, locked for the transaction when `lock` (`select_state_machine`).
async fn select_state_machine(
    conn: &mut sqlx::PgConnection,
    arn: &str,
    lock: bool,
) -> Result<Option<StateMachineRecord>> {
    let row = if lock {
        sqlx::query!(
            r#"select m.arn, m.name, m.type, m.definition_id, d.body, m.role_arn, m.status,
                      m.revision_id, m.logging_configuration::text as logging,
                      m.tracing_configuration::text as tracing, m.created_at, m.updated_at
               from state_machines m join definitions d on d.id = m.definition_id
               where m.arn = $1
               for update of m"#,
            arn
        )
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| {
            (
                r.arn,
                r.name,
                r.r#type,
                r.definition_id,
                r.body,
                r.role_arn,
                r.status,
                r.revision_id,
                r.logging,
                r.tracing,
                r.created_at,
                r.updated_at,
            )
        })
    } else {
        sqlx::query!(
            r#"select m.arn, m.name, m.type, m.definition_id, d.body, m.role_arn, m.status,
                      m.revision_id, m.logging_configuration::text as logging,
                      m.tracing_configuration::text as tracing, m.created_at, m.updated_at
               from state_machines m join definitions d on d.id = m.definition_id
               where m.arn = $1"#,
            arn
        )
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| {
            (
                r.arn,
                r.name,
                r.r#type,
                r.definition_id,
                r.body,
                r.role_arn,
                r.status,
                r.revision_id,
                r.logging,
                r.tracing,
                r.created_at,
                r.updated_at,
            )
        })
    };
    let Some((
        arn,
        name,
        machine_type,
        definition_id,
        definition,
        role_arn,
        status,
        revision_id,
        logging,
        tracing,
        created_at,
        updated_at,
    )) = row
    else {
        return Ok(None);
    };
    Ok(Some(StateMachineRecord {
        arn,
        name,
        machine_type: MachineType::stored(&machine_type)?,
        definition_id,
        definition,
        role_arn,
        status: MachineStatus::stored(&status)?,
        revision_id,
        logging,
        tracing,
        created_at,
        updated_at,
    }))
}
