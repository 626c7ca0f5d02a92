//! Execution logging for the durable path: which machines' `loggingConfiguration` asks
//! for log lines, cached for a few seconds per machine, and the lines of the events an
//! advance committed (see `cairn_telemetry::execution_log` for their shape and levels).
//!
//! A batch keeps a copy of its advances' events only for machines not known to log
//! nothing, so a machine with logging off (the default) costs one read of its
//! configuration every [`FRESH_FOR`], not a copy of every event. An UpdateStateMachine
//! that changes the configuration takes effect within [`FRESH_FOR`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cairn_asl::history::HistoryEvent;
use cairn_store::Store;
use cairn_telemetry::execution_log::{self, LoggingConfig};

/// How long a machine's configuration is trusted before it is read again.
pub const FRESH_FOR: Duration = Duration::from_secs(5);

/// One advance's committed events, to be logged.
pub(crate) struct Committed {
    pub execution_arn: String,
    pub state_machine_arn: String,
    pub events: Vec<HistoryEvent>,
}

/// Machines' logging configurations, as last read.
#[derive(Default)]
pub(crate) struct Configs(Mutex<HashMap<String, (LoggingConfig, Instant)>>);

impl Configs {
    fn fresh(&self, machine: &str) -> Option<LoggingConfig> {
        let known = self.0.lock().ok()?;
        let (config, read) = known.get(machine)?;
        (read.elapsed() < FRESH_FOR).then_some(*config)
    }

    /// Whether an advance of `machine` must keep its events: unless its logging is
    /// known to be off.
    pub(crate) fn may_log(&self, machine: &str) -> bool {
        !self.fresh(machine).is_some_and(|c| c.is_off())
    }

    /// `machine`'s configuration: cached, or read from the store. A machine that
    /// cannot be read (deleted, the database away) logs nothing until the next read.
    async fn of<S: Store>(&self, store: &S, machine: &str) -> LoggingConfig {
        if let Some(config) = self.fresh(machine) {
            return config;
        }
        let config = match store.state_machine(machine).await {
            Ok(Some(record)) => LoggingConfig::from_stored(record.logging.as_deref()),
            Ok(None) => LoggingConfig::default(),
            Err(error) => {
                tracing::debug!(%error, machine, "logging configuration unreadable");
                LoggingConfig::default()
            }
        };
        if let Ok(mut known) = self.0.lock() {
            known.insert(machine.to_string(), (config, Instant::now()));
        }
        config
    }

    /// Writes the log lines of committed advances, each machine's as it asks.
    pub(crate) async fn write<S: Store>(&self, store: &S, committed: Vec<Committed>) {
        let mut lines = Vec::new();
        for advance in committed {
            let config = self.of(store, &advance.state_machine_arn).await;
            lines.extend(config.lines(&advance.execution_arn, &advance.events));
        }
        execution_log::write(&lines);
    }
}
