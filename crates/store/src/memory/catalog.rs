//! [`Catalog`] for [`MemoryStore`].

use std::collections::BTreeMap;

use super::{now, MemoryStore, Tables};
use crate::catalog::{
    distinct_tags, is_repeat, ActivityRecord, Catalog, CreateOutcome, StateMachineChanges,
    StateMachineRecord, StateMachineSpec, StateMachineSummary, Tag, TagOutcome, Updated,
};
use crate::Result;

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

impl Catalog for MemoryStore {
    async fn create_state_machine(&self, spec: &StateMachineSpec) -> Result<CreateOutcome> {
        let mut tables = self.tables();
        if let Some(existing) = tables.machines.get(&spec.arn) {
            return Ok(if is_repeat(existing, spec) {
                CreateOutcome::Existing(existing.clone())
            } else {
                CreateOutcome::Conflict
            });
        }
        let definition_id = tables.put_definition(&spec.definition);
        let at = now();
        let record = StateMachineRecord::created(spec, definition_id, at, at);
        tables.machines.insert(spec.arn.clone(), record.clone());
        tables.add_tags(&spec.arn, &spec.tags);
        Ok(CreateOutcome::Created(record))
    }

    async fn state_machine(&self, arn: &str) -> Result<Option<StateMachineRecord>> {
        Ok(self.tables().machines.get(arn).cloned())
    }

    async fn update_state_machine(
        &self,
        arn: &str,
        changes: &StateMachineChanges,
    ) -> Result<Option<Updated>> {
        let mut tables = self.tables();
        if !tables.machines.contains_key(arn) {
            return Ok(None);
        }
        let definition = changes
            .definition
            .as_ref()
            .map(|text| (tables.put_definition(text), text.clone()));
        let Some(machine) = tables.machines.get_mut(arn) else {
            return Ok(None);
        };
        if let Some((id, text)) = definition {
            machine.definition_id = id;
            machine.definition = text;
        }
        if let Some(role) = &changes.role_arn {
            machine.role_arn = role.clone();
        }
        if let Some(logging) = &changes.logging {
            machine.logging = Some(logging.clone());
        }
        if let Some(tracing) = &changes.tracing {
            machine.tracing = Some(tracing.clone());
        }
        machine.revision_id = changes.revision_id.clone();
        machine.updated_at = now();
        Ok(Some(Updated {
            updated_at: machine.updated_at,
            revision_id: machine.revision_id.clone(),
        }))
    }

    async fn delete_state_machine(&self, arn: &str) -> Result<bool> {
        let mut tables = self.tables();
        tables.tags.remove(arn);
        Ok(tables.machines.remove(arn).is_some())
    }

    async fn list_state_machines(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StateMachineSummary>> {
        Ok(page(&self.tables().machines, after, limit)
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
