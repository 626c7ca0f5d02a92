//! What operators read of a store: the queues' backlog (`/metrics`), whether it can
//! serve (`/readyz`), and its connection pool.

/// A point-in-time view of the queues. A shared database's figures are the same on
/// every replica: aggregate them with `max`, not `sum`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Backlog {
    /// Inbox events due now and not yet applied: starts, task results, stops and timers.
    pub ready_events: i64,
    /// How long the oldest of them has been due, in seconds (0 when none is).
    pub ready_age_seconds: f64,
    /// Timers (Wait, retry back-off, timeouts) whose time has come.
    pub due_timers: i64,
    /// How late the most overdue timer is, in seconds (0 when none is).
    pub timer_lag_seconds: f64,
    /// Tasks no worker holds: never leased, or given back at a graceful stop.
    pub tasks_waiting: i64,
    /// Tasks whose lease ran out: the next worker to poll takes them over.
    pub tasks_lease_expired: i64,
    /// Tasks a worker holds a live lease on.
    pub tasks_leased: i64,
    /// How long the oldest unleased (or expired) task has existed, in seconds.
    pub task_age_seconds: f64,
}

/// Whether a store can serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Every migration this build knows is applied (`version`, the newest).
    Current { version: i64 },
    /// A store in this process's memory: always ready, keeps nothing.
    InMemory,
    /// Some are not (yet): the lowest missing version.
    Behind { missing: i64 },
}

/// A connection pool's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connections {
    pub open: u32,
    pub idle: u32,
    pub max: u32,
}
