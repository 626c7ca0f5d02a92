//! [`Versions`] for [`PgStore`]: published versions and aliases, each write in one
//! transaction that locks the machine's row first (so publishes of one machine number
//! their versions one after the other, and a delete waits for them).

use super::PgStore;
use crate::signals::Channel;
use crate::versions::{
    is_current_revision, version_arn, AliasChanges, AliasOutcome, AliasRecord, AliasSpec,
    DeleteVersionOutcome, Publish, PublishOutcome, Route, VersionRecord, Versions, MAX_ALIASES,
    MAX_VERSIONS,
};
use crate::Result;

/// Publishes `machine_arn`'s current revision inside `tx` (see
/// [`Versions::publish_version`]); the caller commits.
pub(super) async fn publish_in(
    tx: &mut sqlx::PgConnection,
    machine_arn: &str,
    expected_revision: Option<&str>,
    publish: &Publish,
) -> Result<PublishOutcome> {
    let machine = sqlx::query!(
        r#"select status, revision_id, next_version from state_machines where arn = $1
           for update"#,
        machine_arn
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(machine) = machine else {
        return Ok(PublishOutcome::NoMachine { deleting: false });
    };
    if machine.status != "ACTIVE" {
        return Ok(PublishOutcome::NoMachine { deleting: true });
    }
    if let Some(expected) = expected_revision {
        if !is_current_revision(expected, machine.revision_id.as_deref()) {
            return Ok(PublishOutcome::StaleRevision {
                current: machine.revision_id,
            });
        }
    }
    let existing = sqlx::query_scalar!(
        r#"select version from state_machine_versions
           where machine_arn = $1 and revision_id is not distinct from $2"#,
        machine_arn,
        machine.revision_id,
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(version) = existing {
        return version_in(tx, machine_arn, version)
            .await?
            .map(PublishOutcome::Published)
            .ok_or_else(|| crate::StoreError::Corrupt(format!("version {version} vanished")));
    }
    let count = sqlx::query_scalar!(
        r#"select count(*) as "count!" from state_machine_versions where machine_arn = $1"#,
        machine_arn
    )
    .fetch_one(&mut *tx)
    .await?;
    if count >= MAX_VERSIONS {
        return Ok(PublishOutcome::TooMany);
    }
    sqlx::query!(
        r#"with bumped as (
               update state_machines set next_version = next_version + 1 where arn = $1
               returning next_version - 1 as version, definition_id, role_arn,
                         logging_configuration, tracing_configuration, revision_id)
           insert into state_machine_versions (machine_arn, version, definition_id, role_arn,
                                               logging_configuration, tracing_configuration,
                                               revision_id, description)
           select $1, version, definition_id, role_arn, logging_configuration,
                  tracing_configuration, revision_id, $2 from bumped"#,
        machine_arn,
        publish.description,
    )
    .execute(&mut *tx)
    .await?;
    version_in(tx, machine_arn, machine.next_version)
        .await?
        .map(PublishOutcome::Published)
        .ok_or_else(|| crate::StoreError::Corrupt("a published version vanished".to_string()))
}

/// Version `version` of `machine_arn` (`select_version` query).
async fn version_in(
    conn: &mut sqlx::PgConnection,
    machine_arn: &str,
    version: i64,
) -> Result<Option<VersionRecord>> {
    let row = sqlx::query!(
        r#"select v.machine_arn, v.version, v.definition_id, d.body, v.role_arn,
                  v.logging_configuration::text as logging,
                  v.tracing_configuration::text as tracing, v.revision_id, v.description,
                  v.created_at
           from state_machine_versions v join definitions d on d.id = v.definition_id
           where v.machine_arn = $1 and v.version = $2"#,
        machine_arn,
        version
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| VersionRecord {
        machine_arn: r.machine_arn,
        version: r.version,
        definition_id: r.definition_id,
        definition: r.body,
        role_arn: r.role_arn,
        logging: r.logging,
        tracing: r.tracing,
        revision_id: r.revision_id,
        description: r.description,
        created_at: r.created_at,
    }))
}

/// The routes of `alias_arns`, in each alias's order.
async fn routes_of(
    conn: &mut sqlx::PgConnection,
    alias_arns: &[String],
) -> Result<Vec<(String, Route)>> {
    let rows = sqlx::query!(
        r#"select alias_arn, version_arn, weight::int8 as "weight!"
           from state_machine_alias_routes where alias_arn = any($1)
           order by alias_arn, position"#,
        alias_arns
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.alias_arn,
                Route {
                    version_arn: r.version_arn,
                    weight: r.weight,
                },
            )
        })
        .collect())
}

/// Replaces `alias`'s routes.
async fn write_routes(conn: &mut sqlx::PgConnection, alias: &str, routes: &[Route]) -> Result<()> {
    let positions: Vec<i32> = (0..routes.len() as i32).collect();
    let versions: Vec<String> = routes.iter().map(|r| r.version_arn.clone()).collect();
    let weights: Vec<i32> = routes.iter().map(|r| r.weight as i32).collect();
    // Two statements: the parts of one statement share a snapshot, so an insert would
    // not see the delete beside it and collide with the rows it removes.
    sqlx::query!(
        "delete from state_machine_alias_routes where alias_arn = $1",
        alias
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        r#"insert into state_machine_alias_routes (alias_arn, position, version_arn, weight)
           select $1, p, v, w from unnest($2::int4[], $3::text[], $4::int4[]) as u(p, v, w)"#,
        alias,
        &positions,
        &versions,
        &weights,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The first of `routes` whose version does not exist, if any.
async fn missing_version(
    conn: &mut sqlx::PgConnection,
    machine_arn: &str,
    routes: &[Route],
) -> Result<Option<String>> {
    for route in routes {
        let number = route
            .version_arn
            .strip_prefix(machine_arn)
            .and_then(|rest| rest.strip_prefix(':'))
            .and_then(|n| n.parse::<i64>().ok());
        let exists = match number {
            Some(n) => version_in(conn, machine_arn, n).await?.is_some(),
            None => false,
        };
        if !exists {
            return Ok(Some(route.version_arn.clone()));
        }
    }
    Ok(None)
}

/// The aliases `arns` with their routes, in the order given.
async fn aliases_in(conn: &mut sqlx::PgConnection, arns: &[String]) -> Result<Vec<AliasRecord>> {
    let rows = sqlx::query!(
        r#"select arn, machine_arn, name, description, created_at, updated_at
           from state_machine_aliases where arn = any($1)"#,
        arns
    )
    .fetch_all(&mut *conn)
    .await?;
    let routes = routes_of(conn, arns).await?;
    let mut records: Vec<AliasRecord> = rows
        .into_iter()
        .map(|r| AliasRecord {
            routes: routes
                .iter()
                .filter(|(alias, _)| *alias == r.arn)
                .map(|(_, route)| route.clone())
                .collect(),
            arn: r.arn,
            machine_arn: r.machine_arn,
            name: r.name,
            description: r.description,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
        .collect();
    records.sort_by_key(|r| arns.iter().position(|a| *a == r.arn));
    Ok(records)
}

impl Versions for PgStore {
    async fn publish_version(
        &self,
        machine_arn: &str,
        revision_id: Option<&str>,
        publish: &Publish,
    ) -> Result<PublishOutcome> {
        let mut tx = self.pool.begin().await?;
        let outcome = publish_in(&mut tx, machine_arn, revision_id, publish).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn state_machine_version(
        &self,
        machine_arn: &str,
        version: i64,
    ) -> Result<Option<VersionRecord>> {
        let mut conn = self.pool.acquire().await?;
        version_in(&mut conn, machine_arn, version).await
    }

    async fn list_versions(
        &self,
        machine_arn: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Option<Vec<VersionRecord>>> {
        let mut tx = self.pool.begin().await?;
        let exists = sqlx::query_scalar!(
            r#"select exists (select 1 from state_machines where arn = $1) as "exists!""#,
            machine_arn
        )
        .fetch_one(&mut *tx)
        .await?;
        if !exists {
            return Ok(None);
        }
        let numbers = sqlx::query_scalar!(
            r#"select version from state_machine_versions
               where machine_arn = $1 and ($2::int8 is null or version < $2)
               order by version desc limit $3"#,
            machine_arn,
            before,
            limit
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut versions = Vec::with_capacity(numbers.len());
        for number in numbers {
            if let Some(version) = version_in(&mut tx, machine_arn, number).await? {
                versions.push(version);
            }
        }
        tx.commit().await?;
        Ok(Some(versions))
    }

    async fn delete_version(
        &self,
        machine_arn: &str,
        version: i64,
    ) -> Result<DeleteVersionOutcome> {
        let mut tx = self.pool.begin().await?;
        // The machine's row first, as publishes and alias writes lock it.
        sqlx::query!(
            "select 1 as one from state_machines where arn = $1 for update",
            machine_arn
        )
        .fetch_optional(&mut *tx)
        .await?;
        let routed_by = sqlx::query_scalar!(
            r#"select a.name from state_machine_alias_routes r
               join state_machine_aliases a on a.arn = r.alias_arn
               where r.version_arn = $1 order by a.name"#,
            version_arn(machine_arn, version)
        )
        .fetch_all(&mut *tx)
        .await?;
        if !routed_by.is_empty() {
            return Ok(DeleteVersionOutcome::RoutedBy(routed_by));
        }
        sqlx::query!(
            "delete from state_machine_versions where machine_arn = $1 and version = $2",
            machine_arn,
            version
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.announce(Channel::Catalog);
        Ok(DeleteVersionOutcome::Deleted)
    }

    async fn create_alias(&self, spec: &AliasSpec) -> Result<AliasOutcome> {
        let mut tx = self.pool.begin().await?;
        let status = sqlx::query_scalar!(
            "select status from state_machines where arn = $1 for update",
            spec.machine_arn
        )
        .fetch_optional(&mut *tx)
        .await?;
        match status.as_deref() {
            None => return Ok(AliasOutcome::NotFound),
            Some("ACTIVE") => {}
            Some(_) => return Ok(AliasOutcome::Deleting),
        }
        let arn = spec.arn();
        if let Some(existing) = aliases_in(&mut tx, std::slice::from_ref(&arn)).await?.pop() {
            return Ok(
                if existing.description == spec.description && existing.routes == spec.routes {
                    AliasOutcome::Existing(existing)
                } else {
                    AliasOutcome::Conflict
                },
            );
        }
        if let Some(missing) = missing_version(&mut tx, &spec.machine_arn, &spec.routes).await? {
            return Ok(AliasOutcome::NoSuchVersion(missing));
        }
        let count = sqlx::query_scalar!(
            r#"select count(*) as "count!" from state_machine_aliases where machine_arn = $1"#,
            spec.machine_arn
        )
        .fetch_one(&mut *tx)
        .await?;
        if count >= MAX_ALIASES {
            return Ok(AliasOutcome::TooMany);
        }
        sqlx::query!(
            r#"insert into state_machine_aliases (arn, machine_arn, name, description)
               values ($1, $2, $3, $4)"#,
            arn,
            spec.machine_arn,
            spec.name,
            spec.description,
        )
        .execute(&mut *tx)
        .await?;
        write_routes(&mut tx, &arn, &spec.routes).await?;
        let created = aliases_in(&mut tx, std::slice::from_ref(&arn)).await?.pop();
        tx.commit().await?;
        Ok(created.map_or(AliasOutcome::NotFound, AliasOutcome::Done))
    }

    async fn alias(&self, arn: &str) -> Result<Option<AliasRecord>> {
        let mut conn = self.pool.acquire().await?;
        Ok(aliases_in(&mut conn, &[arn.to_string()]).await?.pop())
    }

    async fn update_alias(&self, arn: &str, changes: &AliasChanges) -> Result<AliasOutcome> {
        let mut tx = self.pool.begin().await?;
        let Some(alias) = aliases_in(&mut tx, &[arn.to_string()]).await?.pop() else {
            return Ok(AliasOutcome::NotFound);
        };
        let status = sqlx::query_scalar!(
            "select status from state_machines where arn = $1 for update",
            alias.machine_arn
        )
        .fetch_optional(&mut *tx)
        .await?;
        if status.as_deref() != Some("ACTIVE") {
            return Ok(AliasOutcome::Deleting);
        }
        if let Some(routes) = &changes.routes {
            if let Some(missing) = missing_version(&mut tx, &alias.machine_arn, routes).await? {
                return Ok(AliasOutcome::NoSuchVersion(missing));
            }
            write_routes(&mut tx, arn, routes).await?;
        }
        sqlx::query!(
            r#"update state_machine_aliases
               set description = coalesce($2, description), updated_at = now()
               where arn = $1"#,
            arn,
            changes.description,
        )
        .execute(&mut *tx)
        .await?;
        let updated = aliases_in(&mut tx, &[arn.to_string()]).await?.pop();
        tx.commit().await?;
        self.announce(Channel::Catalog);
        Ok(updated.map_or(AliasOutcome::NotFound, AliasOutcome::Done))
    }

    async fn delete_alias(&self, arn: &str) -> Result<bool> {
        let deleted = sqlx::query!(
            r#"with routes as (delete from state_machine_alias_routes where alias_arn = $1)
               delete from state_machine_aliases where arn = $1"#,
            arn
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        self.announce(Channel::Catalog);
        Ok(deleted > 0)
    }

    async fn list_aliases(
        &self,
        machine_arn: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Option<Vec<AliasRecord>>> {
        let mut tx = self.pool.begin().await?;
        let exists = sqlx::query_scalar!(
            r#"select exists (select 1 from state_machines where arn = $1) as "exists!""#,
            machine_arn
        )
        .fetch_one(&mut *tx)
        .await?;
        if !exists {
            return Ok(None);
        }
        let arns = sqlx::query_scalar!(
            r#"select arn from state_machine_aliases
               where machine_arn = $1 and ($2::text is null or arn > $2)
               order by arn limit $3"#,
            machine_arn,
            after,
            limit
        )
        .fetch_all(&mut *tx)
        .await?;
        let aliases = aliases_in(&mut tx, &arns).await?;
        tx.commit().await?;
        Ok(Some(aliases))
    }
}
