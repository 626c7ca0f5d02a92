//! [`Catalog`] for [`PgStore`].

use super::PgStore;
use crate::catalog::{
    distinct_tags, is_repeat, ActivityRecord, Catalog, CreateOutcome, MachineType,
    StateMachineChanges, StateMachineRecord, StateMachineSpec, StateMachineSummary, Tag,
    TagOutcome, Updated,
};
use crate::Result;

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

impl Catalog for PgStore {
    async fn create_state_machine(&self, spec: &StateMachineSpec) -> Result<CreateOutcome> {
        let mut tx = self.pool().begin().await?;
        let definition_id = sqlx::query_scalar!(
            r#"insert into definitions (digest, body) values (md5($1), $1)
               on conflict (digest) do update set digest = excluded.digest
               returning id"#,
            spec.definition
        )
        .fetch_one(&mut *tx)
        .await?;
        let inserted = sqlx::query!(
            r#"insert into state_machines (arn, name, type, definition_id, role_arn, revision_id,
                                           logging_configuration, tracing_configuration)
               values ($1, $2, $3, $4, $5, $6, $7::text::json, $8::text::json)
               on conflict (arn) do nothing
               returning created_at, updated_at"#,
            spec.arn,
            spec.name,
            spec.machine_type.as_str(),
            definition_id,
            spec.role_arn,
            spec.revision_id,
            spec.logging,
            spec.tracing,
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(inserted) = inserted else {
            // Compare with what is there; the repeat of an identical call is not an error.
            let existing = select_state_machine(&mut tx, &spec.arn).await?;
            // Nothing of this call may stay: not even the definition row.
            tx.rollback().await?;
            return Ok(match existing {
                Some(e) if is_repeat(&e, spec) => CreateOutcome::Existing(e),
                _ => CreateOutcome::Conflict,
            });
        };
        insert_tags(&mut tx, &spec.arn, &spec.tags).await?;
        tx.commit().await?;
        Ok(CreateOutcome::Created(StateMachineRecord::created(
            spec,
            definition_id,
            inserted.created_at,
            inserted.updated_at,
        )))
    }

    async fn state_machine(&self, arn: &str) -> Result<Option<StateMachineRecord>> {
        let mut conn = self.pool().acquire().await?;
        select_state_machine(&mut conn, arn).await
    }

    async fn update_state_machine(
        &self,
        arn: &str,
        changes: &StateMachineChanges,
    ) -> Result<Option<Updated>> {
        let mut tx = self.pool().begin().await?;
        let definition_id = match &changes.definition {
            Some(body) => Some(
                sqlx::query_scalar!(
                    r#"insert into definitions (digest, body) values (md5($1), $1)
                       on conflict (digest) do update set digest = excluded.digest
                       returning id"#,
                    body
                )
                .fetch_one(&mut *tx)
                .await?,
            ),
            None => None,
        };
        let updated = sqlx::query_scalar!(
            r#"update state_machines set
                   definition_id = coalesce($2, definition_id),
                   role_arn = coalesce($3, role_arn),
                   logging_configuration = coalesce($4::text::json, logging_configuration),
                   tracing_configuration = coalesce($5::text::json, tracing_configuration),
                   revision_id = $6,
                   updated_at = now()
               where arn = $1
               returning updated_at"#,
            arn,
            definition_id,
            changes.role_arn,
            changes.logging,
            changes.tracing,
            changes.revision_id,
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(updated_at) = updated else {
            tx.rollback().await?;
            return Ok(None);
        };
        tx.commit().await?;
        Ok(Some(Updated {
            updated_at,
            revision_id: changes.revision_id.clone(),
        }))
    }

    async fn delete_state_machine(&self, arn: &str) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        sqlx::query!("delete from tags where resource_arn = $1", arn)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query!("delete from state_machines where arn = $1", arn)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted > 0)
    }

    async fn list_state_machines(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StateMachineSummary>> {
        let rows = sqlx::query!(
            r#"select arn, name, type, created_at from state_machines
               where $1::text is null or arn > $1
               order by arn limit $2"#,
            after,
            limit
        )
        .fetch_all(self.pool())
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

async fn select_state_machine(
    conn: &mut sqlx::PgConnection,
    arn: &str,
) -> Result<Option<StateMachineRecord>> {
    let row = sqlx::query!(
        r#"select m.arn, m.name, m.type, m.definition_id, d.body, m.role_arn, m.status,
                  m.revision_id, m.logging_configuration::text as logging,
                  m.tracing_configuration::text as tracing, m.created_at, m.updated_at
           from state_machines m join definitions d on d.id = m.definition_id
           where m.arn = $1"#,
        arn
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok(StateMachineRecord {
            arn: r.arn,
            name: r.name,
            machine_type: MachineType::stored(&r.r#type)?,
            definition_id: r.definition_id,
            definition: r.body,
            role_arn: r.role_arn,
            status: r.status,
            revision_id: r.revision_id,
            logging: r.logging,
            tracing: r.tracing,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    })
    .transpose()
}
