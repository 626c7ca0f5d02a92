//! What operators read: the backlog, read at scrape time for `/metrics` (due events no
//! scheduler has applied yet, due timers, and tasks no worker holds: read-only, one
//! statement, the inbox through its `inbox_by_due` index, the tasks — only those not yet
//! done — by a scan), and whether the database's schema is the one this build expects,
//! for `/readyz`: a replica of a newer build must not take traffic before its migrations
//! ran (the Helm chart runs them in a pre-upgrade Job), nor one whose database is
//! unreachable.

use sqlx::PgPool;

use crate::observe::{Backlog, Readiness};
use crate::Result;

/// Reads the queues' sizes and ages (`backlog` query).
pub(super) async fn backlog(pool: &PgPool) -> Result<Backlog> {
    let row = sqlx::query!(
        r#"select
                 (select count(*) from inbox where due_at <= now()) as "ready_events!",
                 (select coalesce(extract(epoch from now() - min(due_at))::float8, 0)
                    from inbox where due_at <= now()) as "ready_age!",
                 (select count(*) from inbox
                    where timer_id is not null and due_at <= now()) as "due_timers!",
                 (select coalesce(extract(epoch from now() - min(due_at))::float8, 0)
                    from inbox where timer_id is not null and due_at <= now()) as "timer_lag!",
                 (select count(*) from tasks where lease_until is null) as "tasks_waiting!",
                 (select count(*) from tasks where lease_until < now()) as "tasks_expired!",
                 (select count(*) from tasks where lease_until >= now()) as "tasks_leased!",
                 (select coalesce(extract(epoch from now() - min(created_at))::float8, 0)
                    from tasks where lease_until is null or lease_until < now()) as "task_age!""#
    )
    .fetch_one(pool)
    .await?;
    Ok(Backlog {
        ready_events: row.ready_events,
        ready_age_seconds: row.ready_age,
        due_timers: row.due_timers,
        timer_lag_seconds: row.timer_lag,
        tasks_waiting: row.tasks_waiting,
        tasks_lease_expired: row.tasks_expired,
        tasks_leased: row.tasks_leased,
        task_age_seconds: row.task_age,
    })
}

/// Compares the applied migrations with this build's (`schema_state` query). Fails when
/// the database cannot be reached or was never migrated.
pub(super) async fn readiness(
    pool: &PgPool,
    migrator: &sqlx::migrate::Migrator,
) -> Result<Readiness> {
    let applied: Vec<i64> =
        sqlx::query_scalar!("select version from _sqlx_migrations where success")
            .fetch_all(pool)
            .await?;
    let mut expected: Vec<i64> = migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| m.version)
        .collect();
    expected.sort_unstable();
    match expected.iter().find(|v| !applied.contains(v)) {
        Some(missing) => Ok(Readiness::Behind { missing: *missing }),
        None => Ok(Readiness::Current {
            version: expected.last().copied().unwrap_or(0),
        }),
    }
}

#[cfg(test)]
mod tests {
    use crate::observe::{Backlog, Readiness};
    use crate::testing::fresh_store;
    use crate::Store;

    #[tokio::test]
    async fn an_empty_database_has_an_empty_backlog() {
        let (store, _) = fresh_store("backlog_empty", 2).await.expect("database");
        let backlog = store.backlog().await.expect("backlog");
        assert_eq!(backlog, Backlog::default());
    }

    #[tokio::test]
    async fn overdue_timers_and_expired_leases_are_counted_with_their_age() {
        let (store, _) = fresh_store("backlog_rows", 2).await.expect("database");
        sqlx::query(
            "insert into inbox (execution_arn, due_at, timer_id, event) values
               ('a', now() - interval '30 seconds', 1, '{}'),
               ('b', now() - interval '5 seconds', null, '{}'),
               ('c', now() + interval '1 hour', 2, '{}')",
        )
        .execute(store.pool())
        .await
        .expect("inbox rows");
        sqlx::query(
            "insert into tasks (execution_arn, task_id, state_name, resource, input, attempt,
                                lease_owner, lease_until, created_at) values
               ('a', 1, 's', 'r', '{}', 0, null, null, now() - interval '20 seconds'),
               ('b', 1, 's', 'r', '{}', 0, 'w', now() - interval '1 second', now()),
               ('c', 1, 's', 'r', '{}', 0, 'w', now() + interval '1 minute', now())",
        )
        .execute(store.pool())
        .await
        .expect("task rows");
        let b = store.backlog().await.expect("backlog");
        assert_eq!((b.ready_events, b.due_timers), (2, 1));
        assert!((29.0..60.0).contains(&b.ready_age_seconds), "{b:?}");
        assert!((29.0..60.0).contains(&b.timer_lag_seconds), "{b:?}");
        assert_eq!(
            (b.tasks_waiting, b.tasks_lease_expired, b.tasks_leased),
            (1, 1, 1)
        );
        assert!((19.0..60.0).contains(&b.task_age_seconds), "{b:?}");
    }

    #[tokio::test]
    async fn a_migrated_database_is_current_and_a_rolled_back_one_is_behind() {
        let (store, _) = fresh_store("schema_state", 2).await.expect("database");
        let Readiness::Current { version } = store.readiness().await.expect("state") else {
            panic!("a freshly migrated database is current");
        };
        assert!(version >= 20261125000001);
        sqlx::query("delete from _sqlx_migrations where version = $1")
            .bind(version)
            .execute(store.pool())
            .await
            .expect("forget the last migration");
        assert_eq!(
            store.readiness().await.expect("state"),
            Readiness::Behind { missing: version }
        );
    }
}
