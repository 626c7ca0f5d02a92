//! What a wake-up is about. How it travels is the store's: at once inside a process
//! (both stores), and across processes through Postgres `NOTIFY`
//! ([`crate::postgres`]'s `signals`).

/// What a wake-up is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// An execution has a new due event: schedulers rescan.
    Inbox,
    /// A task is ready (a task row, an activity task): workers and activity long polls
    /// rescan.
    Tasks,
    /// A state machine, version or alias changed: what a start resolves may differ now,
    /// so caches of it start again ([`crate::Store::catalog_generation`]).
    Catalog,
    /// An EventBridge event, rule or schedule was written: the delivery and schedule
    /// loops rescan. (Their own starts ring `Inbox`, as every start does.)
    Events,
}

impl Channel {
    /// The Postgres `LISTEN`/`NOTIFY` channel name.
    pub fn name(self) -> &'static str {
        match self {
            Channel::Inbox => "cairn_inbox",
            Channel::Tasks => "cairn_tasks",
            Channel::Catalog => "cairn_catalog",
            Channel::Events => "cairn_events",
        }
    }
}
