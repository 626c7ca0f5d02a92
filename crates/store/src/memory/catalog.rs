//! [`Catalog`] for [`MemoryStore`].

use std::collections::BTreeMap;

use cairn_asl::ExecutionStatus;

use super::{now, MemoryStore, Tables};
use crate::catalog::{
    changes_anything, deleted_machine_stop, distinct_tags, is_repeat, ActivityRecord, Catalog,
    CreateOutcome, DeleteOutcome, MachineStatus, StateMachineChanges, StateMachineRecord,
    StateMachineSpec, StateMachineSummary, Tag, TagOutcome, UpdateOutcome,
};
use crate::signals::Channel;
use crate::versions::{PublishOutcome, VersionRecord};
use crate::Result;

/// The version a publish inside a create or update made (or found).
fn published(outcome: PublishOutcome) -> Option<VersionRecord> {
    match outcome {
        PublishOutcome::Published(version) => Some(version),
        _ => None,
    }
}

impl Tables {
    fn resource_exists(&self, arn: &str) -> bool {
        self.machines.contains_key(arn) || self.activities.contains_key(arn)
    }

    fn add_tags(&mut self, arn: &str, tags: &[Tag]) {
        if tags.is_empty() {
            return;
        }
        let held = self.tags.entry(arn.to_string()).or_default();
        for tag in distinct_tags(tags) {
            held.insert(tag.key, tag.value);
        }
    }
}

/// The first `limit` of `items` (in key order) after `after`.
fn page<T: Clone>(items: &BTreeMap<String, T>, after: Option<&str>, limit: i64) -> Vec<T> {
    items
        .iter()
        .filter(|(arn, _)| after.is_none_or(|a| arn.as_str() > a))
        .take(usize::try_from(limit).unwrap_or(0))
        .map(|(_, item)| item.clone())
        .collect()
}

impl Tables {
    /// Removes a machine with its versions, aliases and tags.
    fn purge_machine(&mut self, arn: &str) {
        self.machines.remove(arn);
        self.versions.retain(|(machine, _), _| machine != arn);
        self.next_version.remove(arn);
        self.aliases.retain(|_, alias| alias.machine_arn != arn);
        self.tags.remove(arn);
    }

    fn runs_any(&self, machine_arn: &str) -> bool {
        self.executions
            .values()
            .any(|e| e.state_machine_arn == machine_arn && e.status == ExecutionStatus::Running)
    }

    /// Finishes the deletion of a `DELETING` machine none of whose executions runs any
    /// more: `true` when it is gone now.
    fn finish_deletion(&mut self, arn: &str) -> bool {
        let deleting = self
            .machines
            .get(arn)
            .is_some_and(|m| m.status == MachineStatus::Deleting);
        let done = deleting && !self.runs_any(arn);
        if done {
            self.purge_machine(arn);
        }
        done
    }
}

impl Catalog for MemoryStore {
    async fn create_state_machine(&self, spec: &StateMachineSpec) -> Result<CreateOutcome> {
        let mut tables = self.tables();
        tables.finish_deletion(&spec.arn);
        if let Some(existing) = tables.machines.get(&spec.arn).cloned() {
            if existing.status == MachineStatus::Deleting {
                return Ok(CreateOutcome::Deleting);
            }
            if !is_repeat(&existing, spec) {
                return Ok(CreateOutcome::Conflict);
            }
            let version = match &spec.publish {
                None => None,
                Some(publish) => published(tables.publish(&spec.arn, None, publish)),
            };
            return Ok(CreateOutcome::Existing {
                machine: existing,
                version,
            });
        }
        let definition_id = tables.put_definition(&spec.definition);
        let at = now();
        let record = StateMachineRecord::created(spec, definition_id, at, at);
        tables.machines.insert(spec.arn.clone(), record.clone());
        tables.add_tags(&spec.arn, &spec.tags);
        let version = match &spec.publish {
            None => None,
            Some(publish) => published(tables.publish(&spec.arn, None, publish)),
        };
        Ok(CreateOutcome::Created {
            machine: record,
            version,
        })
    }

    async fn state_machine(&self, arn: &str) -> Result<Option<StateMachineRecord>> {
        let mut tables = self.tables();
        if tables.finish_deletion(arn) {
            return Ok(None);
        }
        Ok(tables.machines.get(arn).cloned())
    }

    async fn update_state_machine(
        &self,
        arn: &str,
        changes: &StateMachineChanges,
    ) -> Result<UpdateOutcome> {
        let mut tables = self.tables();
        tables.finish_deletion(arn);
        let Some(machine) = tables.machines.get(arn).cloned() else {
            return Ok(UpdateOutcome::NotFound);
        };
        if machine.status == MachineStatus::Deleting {
            return Ok(UpdateOutcome::Deleting);
        }
        let changed = changes_anything(&machine, changes);
        let definition = match (&changes.definition, changed) {
            (Some(text), true) => Some((tables.put_definition(text), text.clone())),
            _ => None,
        };
        let Some(record) = tables.machines.get_mut(arn) else {
            return Ok(UpdateOutcome::NotFound);
        };
        if let Some((id, text)) = definition {
            record.definition_id = id;
            record.definition = text;
        }
        if let Some(role) = &changes.role_arn {
            record.role_arn = role.clone();
        }
        if let Some(logging) = &changes.logging {
            record.logging = Some(logging.clone());
        }
        if let Some(tracing) = &changes.tracing {
            record.tracing = Some(tracing.clone());
        }
        if changed {
            record.revision_id = Some(changes.revision_id.clone());
        }
        record.updated_at = now();
        let updated_at = record.updated_at;
        let version = match &changes.publish {
            None => None,
            Some(publish) => match tables.publish(arn, None, publish) {
                PublishOutcome::Published(version) => Some(version),
                PublishOutcome::TooMany => {
                    // Nothing of the call stays, as a rolled-back transaction.
                    tables.machines.insert(arn.to_string(), machine);
                    return Ok(UpdateOutcome::TooManyVersions);
                }
                PublishOutcome::NoMachine { .. } | PublishOutcome::StaleRevision { .. } => None,
            },
        };
        self.announce(Channel::Catalog);
        Ok(UpdateOutcome::Updated {
            updated_at,
            revision_id: changed.then(|| changes.revision_id.clone()),
            version,
        })
    }

    async fn delete_state_machine(&self, arn: &str) -> Result<DeleteOutcome> {
        let mut tables = self.tables();
        if !tables.machines.contains_key(arn) {
            return Ok(DeleteOutcome::Absent);
        }
        let running: Vec<String> = tables
            .executions
            .values()
            .filter(|e| e.state_machine_arn == arn && e.status == ExecutionStatus::Running)
            .map(|e| e.arn.clone())
            .collect();
        if running.is_empty() {
            tables.purge_machine(arn);
            self.announce(Channel::Catalog);
            return Ok(DeleteOutcome::Deleted);
        }
        if let Some(machine) = tables.machines.get_mut(arn) {
            machine.status = MachineStatus::Deleting;
        }
        for execution in &running {
            tables.inbox.push_now(execution, deleted_machine_stop(arn));
        }
        drop(tables);
        self.announce(Channel::Inbox);
        self.announce(Channel::Catalog);
        Ok(DeleteOutcome::Deleting)
    }

    async fn list_state_machines(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StateMachineSummary>> {
        let tables = self.tables();
        let listed: BTreeMap<String, StateMachineRecord> = tables
            .machines
            .iter()
            .filter(|(arn, m)| m.status == MachineStatus::Active || tables.runs_any(arn))
            .map(|(arn, m)| (arn.clone(), m.clone()))
            .collect();
        Ok(page(&listed, after, limit)
            .into_iter()
            .map(|m| StateMachineSummary {
                arn: m.arn,
                name: m.name,
                machine_type: m.machine_type,
                created_at: m.created_at,
            })
            .collect())
    }

    async fn create_activity(&self, arn: &str, name: &str, tags: &[Tag]) -> Result<ActivityRecord> {
        let mut tables = self.tables();
        let existing = tables
            .activities
            .values()
            .find(|a| a.name == name || a.arn == arn)
            .cloned();
        if let Some(existing) = existing {
            return Ok(existing);
        }
        let record = ActivityRecord {
            arn: arn.to_string(),
            name: name.to_string(),
            created_at: now(),
        };
        tables.activities.insert(arn.to_string(), record.clone());
        tables.add_tags(arn, tags);
        Ok(record)
    }

    async fn activity(&self, arn: &str) -> Result<Option<ActivityRecord>> {
        Ok(self.tables().activities.get(arn).cloned())
    }

    async fn delete_activity(&self, arn: &str) -> Result<bool> {
        let mut tables = self.tables();
        tables.tags.remove(arn);
        Ok(tables.activities.remove(arn).is_some())
    }

    async fn list_activities(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ActivityRecord>> {
        Ok(page(&self.tables().activities, after, limit))
    }

    async fn tag_resource(&self, arn: &str, tags: &[Tag], max_tags: i64) -> Result<TagOutcome> {
        let mut tables = self.tables();
        if !tables.resource_exists(arn) {
            return Ok(TagOutcome::NotFound);
        }
        let mut held = tables.tags.get(arn).cloned().unwrap_or_default();
        for tag in distinct_tags(tags) {
            held.insert(tag.key, tag.value);
        }
        if held.len() as i64 > max_tags {
            return Ok(TagOutcome::TooMany);
        }
        tables.tags.insert(arn.to_string(), held);
        Ok(TagOutcome::Tagged)
    }

    async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<bool> {
        let mut tables = self.tables();
        if !tables.resource_exists(arn) {
            return Ok(false);
        }
        if let Some(held) = tables.tags.get_mut(arn) {
            held.retain(|key, _| !keys.contains(key));
        }
        Ok(true)
    }

    async fn list_tags(&self, arn: &str) -> Result<Option<Vec<Tag>>> {
        let tables = self.tables();
        if !tables.resource_exists(arn) {
            return Ok(None);
        }
        Ok(Some(
            tables
                .tags
                .get(arn)
                .map(|held| {
                    held.iter()
                        .map(|(key, value)| Tag {
                            key: key.clone(),
                            value: value.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        ))
    }
}
