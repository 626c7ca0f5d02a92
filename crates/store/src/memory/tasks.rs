//! [`Tasks`] for [`MemoryStore`].

use std::time::Duration;

use cairn_asl::interpreter::{Event, StoredKind};
use serde_json::Value;

use super::engine::kind_code;
use super::{now, MemoryStore, Tables, TaskRow};
use crate::engine::{heartbeat_timer, InboxEvent};
use crate::signals::Channel;
use crate::tasks::{submission_of, Completion, LeasedTask, Tasks};
use crate::time::after_seconds;
use crate::Result;

impl TaskRow {
    fn leased(&self, id: i64, taken_over: bool) -> LeasedTask {
        LeasedTask {
            id,
            execution_arn: self.execution.clone(),
            task_id: self.task_id,
            state_name: self.state_name.clone(),
            resource: self.resource.clone(),
            input: self.input.clone(),
            timeout_seconds: self.timeout_seconds,
            heartbeat_seconds: self.heartbeat_seconds,
            attempt: self.attempt,
            trace_parent: self.trace_parent.clone(),
            trace_state: self.trace_state.clone(),
            taken_over,
        }
    }
}

impl Tables {
    /// Starts `execution`'s task `task`'s heartbeat timer, `seconds` from now.
    pub(super) fn start_heartbeat(&mut self, execution: &str, task: i64, seconds: i64) {
        self.inbox.push(
            execution,
            Some(heartbeat_timer(task)),
            after_seconds(now(), seconds as f64),
            InboxEvent::Step(Event::TaskHeartbeatTimedOut { task: task as u64 }),
        );
    }
}

impl Tasks for MemoryStore {
    async fn lease_tasks(
        &self,
        owner: &str,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<LeasedTask>> {
        let now = now();
        let until = after_seconds(now, lease.as_secs_f64());
        let mut tables = self.tables();
        let free: Vec<i64> = tables
            .tasks
            .iter()
            .filter(|(_, t)| t.lease_until.is_none_or(|u| u < now))
            .map(|(id, _)| *id)
            .take(usize::try_from(limit).unwrap_or(0))
            .collect();
        let mut leased = Vec::with_capacity(free.len());
        let mut started = Vec::new();
        for id in free {
            let Some(task) = tables.tasks.get_mut(&id) else {
                continue;
            };
            let (was_started, was_held) = (task.started, task.lease_until.is_some());
            task.lease_owner = Some(owner.to_string());
            task.lease_until = Some(until);
            task.started = true;
            // The first lease of a task is its start.
            if !was_started {
                started.push((task.execution.clone(), task.task_id));
            }
            // Started and still carrying a lease: its holder's lease ran out.
            leased.push(task.leased(id, was_started && was_held));
        }
        for (execution, task) in &started {
            tables
                .inbox
                .push_now(execution, Event::TaskStarted { task: *task as u64 });
        }
        drop(tables);
        if !started.is_empty() {
            self.announce(Channel::Inbox);
        }
        Ok(leased)
    }

    async fn renew_leases(&self, owner: &str, tasks: &[i64], lease: Duration) -> Result<()> {
        let until = after_seconds(now(), lease.as_secs_f64());
        let mut tables = self.tables();
        for id in tasks {
            if let Some(task) = tables.tasks.get_mut(id) {
                if task.lease_owner.as_deref() == Some(owner) {
                    task.lease_until = Some(until);
                }
            }
        }
        Ok(())
    }

    async fn complete_tasks(&self, completions: &[Completion]) -> Result<Vec<bool>> {
        let mut tables = self.tables();
        let mut recorded = Vec::with_capacity(completions.len());
        for completion in completions {
            // A task already gone (cancelled, or completed by a worker that took over an
            // expired lease) records nothing.
            let done = tables.tasks.remove(&completion.task.id).is_some();
            if done {
                tables
                    .inbox
                    .push_now(&completion.task.execution_arn, completion.event.clone());
            }
            recorded.push(done);
        }
        drop(tables);
        if recorded.contains(&true) {
            self.announce(Channel::Inbox);
        }
        Ok(recorded)
    }

    async fn record_submission(&self, task: &LeasedTask, event: &Event) -> Result<bool> {
        let outcome = submission_of(task.task_id as u64, event);
        let submitted = matches!(outcome, Event::TaskSubmitted { .. });
        let mut tables = self.tables();
        if tables.tasks.remove(&task.id).is_none() {
            return Ok(false);
        }
        tables.inbox.push_now(&task.execution_arn, outcome);
        if submitted {
            if let Some(seconds) = task.heartbeat_seconds {
                tables.start_heartbeat(&task.execution_arn, task.task_id, seconds);
            }
        } else {
            tables.close_token(&task.execution_arn, task.task_id);
        }
        drop(tables);
        self.announce(Channel::Inbox);
        Ok(true)
    }

    async fn release_leases(&self, owner: &str) -> Result<u64> {
        let mut tables = self.tables();
        let mut released = 0;
        for task in tables.tasks.values_mut() {
            if task.lease_owner.as_deref() == Some(owner) {
                task.lease_owner = None;
                task.lease_until = None;
                released += 1;
            }
        }
        Ok(released)
    }

    async fn store_map_values(
        &self,
        execution_arn: &str,
        map: u64,
        kind: StoredKind,
        first: u64,
        values: &[Value],
    ) -> Result<()> {
        let code = kind_code(kind);
        let mut tables = self.tables();
        for (offset, value) in values.iter().enumerate() {
            let key = (execution_arn.to_string(), map, code, first + offset as u64);
            tables.stored.insert(key, value.clone());
        }
        Ok(())
    }

    async fn map_values(
        &self,
        execution_arn: &str,
        map: u64,
        kind: StoredKind,
        from: u64,
        limit: u64,
    ) -> Result<Vec<(u64, Value)>> {
        let code = kind_code(kind);
        let tables = self.tables();
        let start = (execution_arn.to_string(), map, code, from);
        let end = (execution_arn.to_string(), map, code, u64::MAX);
        Ok(tables
            .stored
            .range(start..end)
            .take(limit as usize)
            .map(|((_, _, _, index), value)| (*index, value.clone()))
            .collect())
    }
}
