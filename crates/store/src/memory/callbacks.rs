//! [`Callbacks`] for [`MemoryStore`].

use cairn_asl::callback::token_hash;
use cairn_asl::interpreter::Event;
use cairn_asl::ExecutionStatus;

use super::{now, MemoryStore, Tables, TokenRow};
use crate::callbacks::{answer_events, ActivityTask, Callbacks, TokenAnswer, TokenOutcome};
use crate::engine::heartbeat_timer;
use crate::signals::Channel;
use crate::time::after_seconds;
use crate::Result;

impl Tables {
    /// The token's row and whether its task can still take a callback.
    fn find_token(&self, token: &str) -> Option<(&TokenRow, bool)> {
        let row = self.tokens.get(&token_hash(token))?;
        let running = self
            .executions
            .get(&row.execution)
            .is_some_and(|e| e.status == ExecutionStatus::Running);
        Some((row, !row.closed && running))
    }
}

impl Callbacks for MemoryStore {
    async fn token_state(&self, token: &str) -> Result<TokenOutcome> {
        Ok(match self.tables().find_token(token) {
            None => TokenOutcome::Unknown,
            Some((_, true)) => TokenOutcome::Done,
            Some((_, false)) => TokenOutcome::Closed,
        })
    }

    async fn complete_by_token(&self, token: &str, answer: TokenAnswer) -> Result<TokenOutcome> {
        let mut tables = self.tables();
        let (execution, task_id) = match tables.find_token(token) {
            None => return Ok(TokenOutcome::Unknown),
            Some((_, false)) => return Ok(TokenOutcome::Closed),
            Some((row, true)) => (row.execution.clone(), row.task_id),
        };
        let id = task_id as u64;
        // The callback can beat the worker that invoked the target (a fast Lambda), or
        // come for an activity task no poller took: the task starts now, and the
        // worker's own record will find its row gone.
        let unstarted_task = tables
            .task_row(&execution, task_id)
            .and_then(|row| tables.tasks.remove(&row))
            .is_some_and(|task| !task.started);
        let queued_activity = tables
            .activity_tasks
            .iter()
            .find(|(_, a)| a.execution == execution && a.task_id == task_id)
            .map(|(key, _)| *key);
        let unstarted_activity = queued_activity
            .and_then(|key| tables.activity_tasks.remove(&key))
            .is_some();
        let events = answer_events(id, unstarted_task, unstarted_activity, answer);
        tables
            .inbox
            .remove_timer(&execution, heartbeat_timer(task_id));
        if let Some(row) = tables.tokens.get_mut(&token_hash(token)) {
            row.closed = true;
        }
        for event in events {
            tables.inbox.push_now(&execution, event);
        }
        drop(tables);
        self.announce(Channel::Inbox);
        Ok(TokenOutcome::Done)
    }

    async fn heartbeat_by_token(&self, token: &str) -> Result<TokenOutcome> {
        let mut tables = self.tables();
        let (execution, task_id, heartbeat) = match tables.find_token(token) {
            None => return Ok(TokenOutcome::Unknown),
            Some((_, false)) => return Ok(TokenOutcome::Closed),
            Some((row, true)) => (row.execution.clone(), row.task_id, row.heartbeat_seconds),
        };
        if let Some(seconds) = heartbeat {
            let due = after_seconds(now(), seconds as f64);
            tables
                .inbox
                .move_timer(&execution, heartbeat_timer(task_id), due);
        }
        Ok(TokenOutcome::Done)
    }

    async fn claim_activity_task(
        &self,
        activity_arn: &str,
        worker_name: Option<&str>,
    ) -> Result<Option<ActivityTask>> {
        let mut tables = self.tables();
        let oldest = tables
            .activity_tasks
            .iter()
            .find(|(_, a)| a.activity_arn == activity_arn)
            .map(|(key, _)| *key);
        let Some(row) = oldest.and_then(|key| tables.activity_tasks.remove(&key)) else {
            return Ok(None);
        };
        tables.inbox.push_now(
            &row.execution,
            Event::ActivityStarted {
                task: row.task_id as u64,
                worker_name: worker_name.map(str::to_string),
            },
        );
        if let Some(seconds) = row.heartbeat_seconds {
            tables.start_heartbeat(&row.execution, row.task_id, seconds);
        }
        drop(tables);
        self.announce(Channel::Inbox);
        Ok(Some(ActivityTask {
            token: row.token,
            input: row.input,
        }))
    }
}
