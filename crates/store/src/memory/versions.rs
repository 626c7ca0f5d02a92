//! [`Versions`] for [`MemoryStore`].

use super::{now, MemoryStore, Tables};
use crate::catalog::MachineStatus;
use crate::signals::Channel;
use crate::versions::{
    is_current_revision, version_arn, AliasChanges, AliasOutcome, AliasRecord, AliasSpec,
    DeleteVersionOutcome, Publish, PublishOutcome, Route, VersionRecord, Versions, MAX_ALIASES,
    MAX_VERSIONS,
};
use crate::Result;

impl Tables {
    /// Publishes `machine_arn`'s current revision (see [`Versions::publish_version`]).
    pub(super) fn publish(
        &mut self,
        machine_arn: &str,
        expected_revision: Option<&str>,
        publish: &Publish,
    ) -> PublishOutcome {
        let Some(machine) = self.machines.get(machine_arn) else {
            return PublishOutcome::NoMachine { deleting: false };
        };
        if machine.status != MachineStatus::Active {
            return PublishOutcome::NoMachine { deleting: true };
        }
        if let Some(expected) = expected_revision {
            if !is_current_revision(expected, machine.revision_id.as_deref()) {
                return PublishOutcome::StaleRevision {
                    current: machine.revision_id.clone(),
                };
            }
        }
        let existing = self
            .versions
            .values()
            .find(|v| v.machine_arn == machine_arn && v.revision_id == machine.revision_id);
        if let Some(version) = existing {
            return PublishOutcome::Published(version.clone());
        }
        let count = self
            .versions
            .keys()
            .filter(|(machine, _)| machine == machine_arn)
            .count() as i64;
        if count >= MAX_VERSIONS {
            return PublishOutcome::TooMany;
        }
        let next = self
            .next_version
            .entry(machine_arn.to_string())
            .or_insert(1);
        let number = *next;
        *next += 1;
        let version = VersionRecord {
            machine_arn: machine_arn.to_string(),
            version: number,
            definition_id: machine.definition_id,
            definition: machine.definition.clone(),
            role_arn: machine.role_arn.clone(),
            logging: machine.logging.clone(),
            tracing: machine.tracing.clone(),
            revision_id: machine.revision_id.clone(),
            description: publish.description.clone(),
            created_at: now(),
        };
        self.versions
            .insert((machine_arn.to_string(), number), version.clone());
        PublishOutcome::Published(version)
    }

    /// The first of `routes` whose version does not exist, if any.
    fn missing_version(&self, machine_arn: &str, routes: &[Route]) -> Option<String> {
        routes
            .iter()
            .find(|route| {
                !self
                    .versions
                    .values()
                    .any(|v| v.machine_arn == machine_arn && v.arn() == route.version_arn)
            })
            .map(|route| route.version_arn.clone())
    }

    fn machine_active(&self, machine_arn: &str) -> Option<bool> {
        self.machines
            .get(machine_arn)
            .map(|m| m.status == MachineStatus::Active)
    }
}

impl Versions for MemoryStore {
    async fn publish_version(
        &self,
        machine_arn: &str,
        revision_id: Option<&str>,
        publish: &Publish,
    ) -> Result<PublishOutcome> {
        Ok(self.tables().publish(machine_arn, revision_id, publish))
    }

    async fn state_machine_version(
        &self,
        machine_arn: &str,
        version: i64,
    ) -> Result<Option<VersionRecord>> {
        Ok(self
            .tables()
            .versions
            .get(&(machine_arn.to_string(), version))
            .cloned())
    }

    async fn list_versions(
        &self,
        machine_arn: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Option<Vec<VersionRecord>>> {
        let tables = self.tables();
        if !tables.machines.contains_key(machine_arn) {
            return Ok(None);
        }
        Ok(Some(
            tables
                .versions
                .values()
                .rev()
                .filter(|v| v.machine_arn == machine_arn)
                .filter(|v| before.is_none_or(|b| v.version < b))
                .take(usize::try_from(limit).unwrap_or(0))
                .cloned()
                .collect(),
        ))
    }

    async fn delete_version(
        &self,
        machine_arn: &str,
        version: i64,
    ) -> Result<DeleteVersionOutcome> {
        let mut tables = self.tables();
        let arn = version_arn(machine_arn, version);
        let routed_by: Vec<String> = tables
            .aliases
            .values()
            .filter(|a| a.routes.iter().any(|r| r.version_arn == arn))
            .map(|a| a.name.clone())
            .collect();
        if !routed_by.is_empty() {
            return Ok(DeleteVersionOutcome::RoutedBy(routed_by));
        }
        tables.versions.remove(&(machine_arn.to_string(), version));
        self.announce(Channel::Catalog);
        Ok(DeleteVersionOutcome::Deleted)
    }

    async fn create_alias(&self, spec: &AliasSpec) -> Result<AliasOutcome> {
        let mut tables = self.tables();
        match tables.machine_active(&spec.machine_arn) {
            None => return Ok(AliasOutcome::NotFound),
            Some(false) => return Ok(AliasOutcome::Deleting),
            Some(true) => {}
        }
        let arn = spec.arn();
        if let Some(existing) = tables.aliases.get(&arn) {
            return Ok(
                if existing.description == spec.description && existing.routes == spec.routes {
                    AliasOutcome::Existing(existing.clone())
                } else {
                    AliasOutcome::Conflict
                },
            );
        }
        if let Some(missing) = tables.missing_version(&spec.machine_arn, &spec.routes) {
            return Ok(AliasOutcome::NoSuchVersion(missing));
        }
        let count = tables
            .aliases
            .values()
            .filter(|a| a.machine_arn == spec.machine_arn)
            .count() as i64;
        if count >= MAX_ALIASES {
            return Ok(AliasOutcome::TooMany);
        }
        let at = now();
        let alias = AliasRecord {
            arn: arn.clone(),
            machine_arn: spec.machine_arn.clone(),
            name: spec.name.clone(),
            description: spec.description.clone(),
            routes: spec.routes.clone(),
            created_at: at,
            updated_at: at,
        };
        tables.aliases.insert(arn, alias.clone());
        Ok(AliasOutcome::Done(alias))
    }

    async fn alias(&self, arn: &str) -> Result<Option<AliasRecord>> {
        Ok(self.tables().aliases.get(arn).cloned())
    }

    async fn update_alias(&self, arn: &str, changes: &AliasChanges) -> Result<AliasOutcome> {
        let mut tables = self.tables();
        let Some(alias) = tables.aliases.get(arn).cloned() else {
            return Ok(AliasOutcome::NotFound);
        };
        if tables.machine_active(&alias.machine_arn) != Some(true) {
            return Ok(AliasOutcome::Deleting);
        }
        if let Some(routes) = &changes.routes {
            if let Some(missing) = tables.missing_version(&alias.machine_arn, routes) {
                return Ok(AliasOutcome::NoSuchVersion(missing));
            }
        }
        let Some(stored) = tables.aliases.get_mut(arn) else {
            return Ok(AliasOutcome::NotFound);
        };
        if let Some(routes) = &changes.routes {
            stored.routes = routes.clone();
        }
        if let Some(description) = &changes.description {
            stored.description = Some(description.clone());
        }
        stored.updated_at = now();
        let updated = stored.clone();
        self.announce(Channel::Catalog);
        Ok(AliasOutcome::Done(updated))
    }

    async fn delete_alias(&self, arn: &str) -> Result<bool> {
        let deleted = self.tables().aliases.remove(arn).is_some();
        self.announce(Channel::Catalog);
        Ok(deleted)
    }

    async fn list_aliases(
        &self,
        machine_arn: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Option<Vec<AliasRecord>>> {
        let tables = self.tables();
        if !tables.machines.contains_key(machine_arn) {
            return Ok(None);
        }
        Ok(Some(
            tables
                .aliases
                .values()
                .filter(|a| a.machine_arn == machine_arn)
                .filter(|a| after.is_none_or(|after| a.arn.as_str() > after))
                .take(usize::try_from(limit).unwrap_or(0))
                .cloned()
                .collect(),
        ))
    }
}
