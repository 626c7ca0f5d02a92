//! Whether the database's schema is the one this build expects, for `/readyz`: a replica
//! of a newer build must not take traffic before its migrations ran (the Helm chart runs
//! them in a pre-upgrade Job), nor one whose database is unreachable.

use crate::postgres::PgStore;
use crate::Result;

/// The migrations compiled into this build (the same files `PgStore::migrate` applies).
static EXPECTED: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Where the schema stands against this build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaState {
    /// Every migration this build knows is applied.
    Current { version: i64 },
    /// Some are not (yet): the lowest missing version.
    Behind { missing: i64 },
}

impl PgStore {
    /// Compares the applied migrations with this build's (`schema_state` query). Fails
    /// when the database cannot be reached or was never migrated.
    pub async fn schema_state(&self) -> Result<SchemaState> {
        let applied: Vec<i64> =
            sqlx::query_scalar!("select version from _sqlx_migrations where success")
                .fetch_all(self.pool())
                .await?;
        let mut expected: Vec<i64> = EXPECTED
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| m.version)
            .collect();
        expected.sort_unstable();
        match expected.iter().find(|v| !applied.contains(v)) {
            Some(missing) => Ok(SchemaState::Behind { missing: *missing }),
            None => Ok(SchemaState::Current {
                version: expected.last().copied().unwrap_or(0),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SchemaState;
    use crate::testing::fresh_store;

    #[tokio::test]
    async fn a_migrated_database_is_current_and_a_rolled_back_one_is_behind() {
        let (store, _) = fresh_store("schema_state", 2).await.expect("database");
        let SchemaState::Current { version } = store.schema_state().await.expect("state") else {
            panic!("a freshly migrated database is current");
        };
        assert!(version >= 20261125000001);
        sqlx::query("delete from _sqlx_migrations where version = $1")
            .bind(version)
            .execute(store.pool())
            .await
            .expect("forget the last migration");
        assert_eq!(
            store.schema_state().await.expect("state"),
            SchemaState::Behind { missing: version }
        );
    }
}
