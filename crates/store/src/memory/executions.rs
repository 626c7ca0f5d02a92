//! [`Executions`] for [`MemoryStore`].

use cairn_asl::interpreter::Event;
use cairn_asl::ExecutionStatus;

use super::{now, Execution, MemoryStore, Tables};
use crate::catalog::{MachineStatus, MachineType};
use crate::engine::InboxEvent;
use crate::executions::{
    ExecutionCursor, ExecutionDefinition, ExecutionRecord, ExecutionSummary, Executions,
    ExecutionsOf, NewExecution, Redriven, Started, StoredEvent, REDRIVE_TOKENS_KEPT,
    REDRIVE_TOKEN_MINUTES,
};
use crate::history::{decode, Page};
use crate::signals::Channel;
use crate::time::to_micros;
use crate::{Result, StoreError, Time};

impl Execution {
    pub(super) fn record(&self, machine_deleting: bool) -> ExecutionRecord {
        ExecutionRecord {
            arn: self.arn.clone(),
            state_machine_arn: self.state_machine_arn.clone(),
            name: self.name.clone(),
            status: self.status,
            input: self.input.clone(),
            output: self.output.clone(),
            error: self.error.clone(),
            cause: self.cause.clone(),
            started_at: self.started_at,
            stopped_at: self.stopped_at,
            history_length: self.history_length,
            version_arn: self.version_arn.clone(),
            alias_arn: self.alias_arn.clone(),
            redrive_count: self.redrives.count,
            redrive_date: self.redrives.date,
            machine_deleting,
            map_run_arn: self.map_child.as_ref().map(|c| c.map_run_arn.clone()),
        }
    }
}

impl Tables {
    /// Whether `execution`'s machine is being deleted, or is gone.
    fn machine_deleting(&self, execution: &Execution) -> bool {
        // A Map Run's child names a labelled machine that has no entry: it is redriven
        // through its parent, never on its own.
        self.machines
            .get(&execution.state_machine_arn)
            .is_none_or(|m| m.status != MachineStatus::Active)
    }
}

impl Tables {
    /// The answer to a start whose execution name is taken: AWS's idempotent start when
    /// the input is the same and the execution still runs, `ExecutionAlreadyExists`
    /// otherwise.
    pub(super) fn already_started(existing: &Execution, input: &str) -> Result<Started> {
        if existing.input == input && existing.status == ExecutionStatus::Running {
            return Ok(Started {
                arn: existing.arn.clone(),
                started_at: existing.started_at,
                created: false,
            });
        }
        Err(StoreError::ExecutionAlreadyExists(existing.arn.clone()))
    }
}

impl Tables {
    /// StartExecution under the lock already held: what [`Executions::start_execution`]
    /// does, for callers that start inside a larger write (deliveries, schedule fires).
    pub(super) fn start(&mut self, execution: &NewExecution) -> Result<Option<Started>> {
        let tables = self;
        let Some(machine) = tables.machines.get(&execution.machine_arn).filter(|m| {
            m.name == execution.machine_name()
                && m.machine_type == MachineType::Standard
                && m.status == MachineStatus::Active
        }) else {
            return Ok(None);
        };
        let (definition_id, role_arn, version_arn) = match execution.version {
            None => (machine.definition_id, machine.role_arn.clone(), None),
            Some(number) => {
                let key = (execution.machine_arn.clone(), number);
                let Some(version) = tables.versions.get(&key) else {
                    return Ok(None);
                };
                (
                    version.definition_id,
                    version.role_arn.clone(),
                    Some(version.arn()),
                )
            }
        };
        if let Some(existing) = tables.executions.get(&execution.arn) {
            return Tables::already_started(existing, &execution.input).map(Some);
        }
        // Postgres refuses input that is not JSON; so does this store.
        if serde_json::from_str::<serde_json::Value>(&execution.input).is_err() {
            return Err(StoreError::Corrupt(format!(
                "the input of {} is not JSON",
                execution.arn
            )));
        }
        let started_at = to_micros(execution.started_at);
        tables.executions.insert(
            execution.arn.clone(),
            Execution {
                arn: execution.arn.clone(),
                state_machine_arn: execution.machine_arn.clone(),
                name: execution.name.clone(),
                definition_id,
                role_arn,
                status: ExecutionStatus::Running,
                input: execution.input.clone(),
                output: None,
                error: None,
                cause: None,
                started_at,
                stopped_at: None,
                snapshot: None,
                history_length: 0,
                history: Vec::new(),
                wanted: Vec::new(),
                trace: execution.trace.clone(),
                parent: None,
                map_child: None,
                version_arn,
                alias_arn: execution.alias_arn.clone(),
                redrives: Default::default(),
            },
        );
        tables
            .inbox
            .push(&execution.arn, None, now(), InboxEvent::Start);
        Ok(Some(Started {
            arn: execution.arn.clone(),
            started_at,
            created: true,
        }))
    }
}

impl Executions for MemoryStore {
    async fn start_execution(&self, execution: &NewExecution) -> Result<Option<Started>> {
        let started = self.tables().start(execution)?;
        if started.as_ref().is_some_and(|s| s.created) {
            self.announce(Channel::Inbox);
        }
        Ok(started)
    }

    async fn describe_execution(&self, arn: &str) -> Result<ExecutionRecord> {
        let tables = self.tables();
        tables
            .executions
            .get(arn)
            .map(|e| e.record(tables.machine_deleting(e)))
            .ok_or_else(|| StoreError::ExecutionDoesNotExist(arn.to_string()))
    }

    async fn execution_definition(
        &self,
        execution_arn: &str,
    ) -> Result<Option<ExecutionDefinition>> {
        let tables = self.tables();
        let Some(e) = tables.executions.get(execution_arn) else {
            return Ok(None);
        };
        let definition = tables.definition(e.definition_id).cloned().ok_or_else(|| {
            StoreError::Corrupt(format!("definition {} is missing", e.definition_id))
        })?;
        Ok(Some(ExecutionDefinition {
            arn: e.arn.clone(),
            state_machine_arn: e.state_machine_arn.clone(),
            role_arn: e.role_arn.clone(),
            definition_id: e.definition_id,
            definition,
            started_at: e.started_at,
            version_arn: e.version_arn.clone(),
        }))
    }

    async fn list_executions(
        &self,
        of: &ExecutionsOf,
        status: Option<ExecutionStatus>,
        redriven: Option<bool>,
        after: Option<&ExecutionCursor>,
        limit: i64,
    ) -> Result<Vec<ExecutionSummary>> {
        let tables = self.tables();
        let mut listed: Vec<&Execution> = tables
            .executions
            .values()
            .filter(|e| match of {
                ExecutionsOf::Machine(arn) => e.state_machine_arn == *arn,
                ExecutionsOf::Version(arn) => e.version_arn.as_ref() == Some(arn),
                ExecutionsOf::Alias(arn) => e.alias_arn.as_ref() == Some(arn),
                ExecutionsOf::MapRun(arn) => e
                    .map_child
                    .as_ref()
                    .is_some_and(|child| child.map_run_arn == *arn),
            })
            .filter(|e| status.is_none_or(|s| e.status == s))
            .filter(|e| redriven.is_none_or(|r| (e.redrives.count > 0) == r))
            .filter(|e| {
                after
                    .is_none_or(|c| (e.started_at, e.arn.as_str()) < (c.started_at, c.arn.as_str()))
            })
            .collect();
        // Newest first, as the executions_by_machine index orders them.
        listed.sort_by(|a, b| (b.started_at, &b.arn).cmp(&(a.started_at, &a.arn)));
        Ok(listed
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(0))
            .map(|e| ExecutionSummary {
                arn: e.arn.clone(),
                state_machine_arn: e.state_machine_arn.clone(),
                name: e.name.clone(),
                status: e.status,
                started_at: e.started_at,
                stopped_at: e.stopped_at,
                version_arn: e.version_arn.clone(),
                alias_arn: e.alias_arn.clone(),
                redrive_count: e.redrives.count,
                redrive_date: e.redrives.date,
            })
            .collect())
    }

    async fn history_page(
        &self,
        execution_arn: &str,
        after: Option<i64>,
        limit: i64,
        reverse: bool,
    ) -> Result<Option<Vec<StoredEvent>>> {
        let tables = self.tables();
        let Some(e) = tables.executions.get(execution_arn) else {
            return Ok(None);
        };
        let take = usize::try_from(limit).unwrap_or(0);
        // Every batch holds at least one event: `limit` batches hold the page.
        let (batches, page): (Vec<String>, Page) = if reverse {
            let before = after.unwrap_or(i64::MAX);
            let batches = e
                .history
                .iter()
                .rev()
                .filter(|(first, _, _)| *first < before)
                .take(take)
                .map(|(_, _, text)| text.clone())
                .collect();
            (batches, Page::Before(before))
        } else {
            let after = after.unwrap_or(0);
            let batches = e
                .history
                .iter()
                .filter(|(_, last, _)| *last > after)
                .take(take)
                .map(|(_, _, text)| text.clone())
                .collect();
            (batches, Page::After(after))
        };
        drop(tables);
        decode(&batches, page, limit).map(Some)
    }

    async fn redrive_execution(
        &self,
        arn: &str,
        client_token: Option<&str>,
        now: Time,
    ) -> Result<Redriven> {
        let mut tables = self.tables();
        let execution = tables
            .executions
            .get(arn)
            .ok_or_else(|| StoreError::ExecutionDoesNotExist(arn.to_string()))?;
        if let Some(token) = client_token {
            let recent = execution
                .redrives
                .tokens
                .iter()
                .rev()
                .take(REDRIVE_TOKENS_KEPT as usize)
                .find(|(t, at)| {
                    t == token && now - *at < chrono::TimeDelta::minutes(REDRIVE_TOKEN_MINUTES)
                });
            if let Some((_, redrive_date)) = recent {
                return Ok(Redriven {
                    state_machine_arn: execution.state_machine_arn.clone(),
                    redrive_date: *redrive_date,
                    redriven: false,
                });
            }
        }
        execution
            .record(tables.machine_deleting(execution))
            .redrivability(now)
            .map_err(|why| StoreError::ExecutionNotRedrivable(arn.to_string(), why))?;
        let now = to_micros(now);
        let Some(execution) = tables.executions.get_mut(arn) else {
            return Err(StoreError::ExecutionDoesNotExist(arn.to_string()));
        };
        execution.status = ExecutionStatus::Running;
        execution.stopped_at = None;
        execution.output = None;
        execution.error = None;
        execution.cause = None;
        execution.redrives.count += 1;
        execution.redrives.date = Some(now);
        if let Some(token) = client_token {
            let tokens = &mut execution.redrives.tokens;
            tokens.retain(|(t, _)| t != token);
            tokens.push((token.to_string(), now));
            let excess = tokens.len().saturating_sub(REDRIVE_TOKENS_KEPT as usize);
            tokens.drain(..excess);
        }
        let state_machine_arn = execution.state_machine_arn.clone();
        tables.inbox.push_now(arn, Event::Redrive);
        drop(tables);
        self.announce(Channel::Inbox);
        Ok(Redriven {
            state_machine_arn,
            redrive_date: now,
            redriven: true,
        })
    }

    async fn stop_execution(
        &self,
        arn: &str,
        error: Option<&str>,
        cause: Option<&str>,
    ) -> Result<()> {
        let mut tables = self.tables();
        let running = tables
            .executions
            .get(arn)
            .ok_or_else(|| StoreError::ExecutionDoesNotExist(arn.to_string()))?
            .status
            == ExecutionStatus::Running;
        if !running {
            return Ok(());
        }
        tables.inbox.push_now(
            arn,
            Event::Stop {
                error: error.map(str::to_string),
                cause: cause.map(str::to_string),
            },
        );
        drop(tables);
        self.announce(Channel::Inbox);
        Ok(())
    }
}
