//! What is waiting for the engine, read at scrape time for `/metrics`: due events no
//! scheduler has applied yet, due timers, and tasks no worker holds. Read-only, one
//! statement, the inbox through its `inbox_by_due` index, the tasks (only those not yet
//! done) by a scan.

use crate::postgres::PgStore;
use crate::Result;

/// A point-in-time view of the queues. The figures are the database's, so every replica
/// reports the same values: aggregate them with `max`, not `sum`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Backlog {
    /// Inbox rows due now and not yet applied: starts, task results, stops and timers.
    pub ready_events: i64,
    /// How long the oldest of them has been due, in seconds (0 when none is).
    pub ready_age_seconds: f64,
    /// Timer rows (Wait, retry back-off, timeouts) whose time has come.
    pub due_timers: i64,
    /// How late the most overdue timer is, in seconds (0 when none is).
    pub timer_lag_seconds: f64,
    /// Task rows never leased.
    pub tasks_waiting: i64,
    /// Task rows whose lease ran out: the next worker to poll takes them over.
    pub tasks_lease_expired: i64,
    /// Task rows a worker holds a live lease on.
    pub tasks_leased: i64,
    /// How long the oldest unleased (or expired) task row has existed, in seconds.
    pub task_age_seconds: f64,
}

impl PgStore {
    /// Reads the queues' sizes and ages (`backlog` query).
    pub async fn backlog(&self) -> Result<Backlog> {
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
        .fetch_one(self.pool())
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
}

#[cfg(test)]
mod tests {
    use crate::testing::fresh_store;

    #[tokio::test]
    async fn an_empty_database_has_an_empty_backlog() {
        let (store, _) = fresh_store("backlog_empty", 2).await.expect("database");
        let backlog = store.backlog().await.expect("backlog");
        assert_eq!(backlog, super::Backlog::default());
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
}
