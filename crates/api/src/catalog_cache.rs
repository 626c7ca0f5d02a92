//! What a start reads from the catalog — the machine, the version, the alias — kept per
//! replica, so that a start (above all a StartSyncExecution, which stores nothing) makes
//! no round trip to Postgres for it.
//!
//! An entry is good while the store's catalog generation
//! ([`Store::catalog_generation`]) is the one it was read under: every update or delete of
//! a machine, version or alias moves it, in this process at once and in the others when
//! their `LISTEN` hears the `NOTIFY` (milliseconds). So a start on another replica right
//! after an update may still run the previous definition, as AWS documents for its own
//! UpdateStateMachine ("executions started shortly after may use the previous
//! definition"). While the listener is away, nothing is cached.
//!
//! Only what exists and is active is kept: a missing or `DELETING` machine is read again
//! each time, so creating one needs no invalidation.

use std::collections::HashMap;
use std::sync::Mutex;

use cairn_store::catalog::{MachineStatus, StateMachineRecord};
use cairn_store::versions::{AliasRecord, VersionRecord};
use cairn_store::Store;

use crate::error::ApiError;

/// Entries beyond this many are dropped all at once: a replica serving more machines
/// than this reads the catalog more often, and memory stays bounded.
const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
pub(crate) struct CatalogCache(Mutex<Entries>);

#[derive(Default)]
struct Entries {
    generation: u64,
    machines: HashMap<String, StateMachineRecord>,
    versions: HashMap<(String, i64), VersionRecord>,
    aliases: HashMap<String, AliasRecord>,
}

impl Entries {
    /// The entries, emptied first when they were read under another generation.
    fn at(&mut self, generation: u64) -> &mut Entries {
        let full = self.machines.len() + self.versions.len() + self.aliases.len() >= MAX_ENTRIES;
        if self.generation != generation || full {
            *self = Entries {
                generation,
                ..Entries::default()
            };
        }
        self
    }
}

impl CatalogCache {
    /// Runs `read` on the entries of `generation`, if there is one; `None` otherwise.
    fn with<T>(&self, generation: Option<u64>, read: impl FnOnce(&mut Entries) -> T) -> Option<T> {
        let generation = generation?;
        let mut entries = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Some(read(entries.at(generation)))
    }

    pub(crate) async fn machine<S: Store>(
        &self,
        store: &S,
        arn: &str,
    ) -> Result<Option<StateMachineRecord>, ApiError> {
        // Read before the store, so that a change committed meanwhile makes this entry
        // stale rather than hiding behind it.
        let generation = store.catalog_generation();
        if let Some(Some(hit)) = self.with(generation, |e| e.machines.get(arn).cloned()) {
            return Ok(Some(hit));
        }
        let machine = store.state_machine(arn).await?;
        if let Some(found) = machine
            .as_ref()
            .filter(|m| m.status == MachineStatus::Active)
        {
            self.with(generation, |e| {
                e.machines.insert(arn.to_string(), found.clone())
            });
        }
        Ok(machine)
    }

    pub(crate) async fn version<S: Store>(
        &self,
        store: &S,
        machine_arn: &str,
        number: i64,
    ) -> Result<Option<VersionRecord>, ApiError> {
        let generation = store.catalog_generation();
        let key = (machine_arn.to_string(), number);
        if let Some(Some(hit)) = self.with(generation, |e| e.versions.get(&key).cloned()) {
            return Ok(Some(hit));
        }
        let version = store.state_machine_version(machine_arn, number).await?;
        if let Some(found) = &version {
            self.with(generation, |e| e.versions.insert(key, found.clone()));
        }
        Ok(version)
    }

    pub(crate) async fn alias<S: Store>(
        &self,
        store: &S,
        arn: &str,
    ) -> Result<Option<AliasRecord>, ApiError> {
        let generation = store.catalog_generation();
        if let Some(Some(hit)) = self.with(generation, |e| e.aliases.get(arn).cloned()) {
            return Ok(Some(hit));
        }
        let alias = store.alias(arn).await?;
        if let Some(found) = &alias {
            self.with(generation, |e| {
                e.aliases.insert(arn.to_string(), found.clone())
            });
        }
        Ok(alias)
    }
}
