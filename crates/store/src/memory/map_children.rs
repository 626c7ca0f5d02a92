//! Map Runs' child executions in memory (the protocol is [`crate::map_children`]'s):
//! the children a commit starts, and the `Stop`s sent to the children of runs that
//! ended without them.

use cairn_asl::ExecutionStatus;

use super::{now, Execution, Tables};
use crate::engine::InboxEvent;
use crate::map_children::{self, MapChild, MapChildRedrive, MapChildStart};

impl Tables {
    /// Starts the child `start` names with its `Start` event, unless its row exists.
    pub(super) fn start_map_child(&mut self, parent_arn: &str, start: MapChildStart) {
        if self.executions.contains_key(&start.execution_arn) {
            return;
        }
        let Some(parent) = self.executions.get(parent_arn) else {
            return;
        };
        let (definition_id, role_arn) = (parent.definition_id, parent.role_arn.clone());
        let started_at = now();
        let child = Execution {
            arn: start.execution_arn.clone(),
            state_machine_arn: start.state_machine_arn,
            name: start.name,
            definition_id,
            role_arn,
            status: ExecutionStatus::Running,
            input: start.input.to_string(),
            output: None,
            error: None,
            cause: None,
            started_at,
            stopped_at: None,
            snapshot: None,
            history_length: 0,
            history: Vec::new(),
            wanted: Vec::new(),
            trace: None,
            parent: None,
            map_child: Some(MapChild {
                parent_arn: parent_arn.to_string(),
                map_run_arn: start.map_run_arn,
                index: start.index,
                processor: start.processor,
            }),
            version_arn: None,
            alias_arn: None,
            redrives: Default::default(),
        };
        self.executions.insert(start.execution_arn.clone(), child);
        self.inbox
            .push(&start.execution_arn, None, started_at, InboxEvent::Start);
    }

    /// Redrives the child `redrive` names if it ended without succeeding; tells the
    /// parent at once when it is neither redriven nor still running.
    pub(super) fn redrive_map_child(&mut self, parent_arn: &str, redrive: MapChildRedrive) {
        let redrivable = |e: &Execution| {
            matches!(
                e.status,
                ExecutionStatus::Failed | ExecutionStatus::TimedOut | ExecutionStatus::Aborted
            ) && e.snapshot.is_some()
        };
        match self.executions.get_mut(&redrive.execution_arn) {
            Some(child) if redrivable(child) => {
                let at = now();
                child.status = ExecutionStatus::Running;
                child.stopped_at = None;
                child.output = None;
                child.error = None;
                child.cause = None;
                child.redrives.count += 1;
                child.redrives.date = Some(at);
                self.inbox.push_now(
                    &redrive.execution_arn,
                    cairn_asl::interpreter::Event::Redrive,
                );
            }
            Some(child) if child.status == ExecutionStatus::Running => {}
            _ => self
                .inbox
                .push_now(parent_arn, map_children::not_redriven_event(&redrive)),
        }
    }

    /// Queues a `Stop` for the running children of the runs `stopped_runs` and of the
    /// executions `ended_parents`. `true` when any was queued.
    pub(super) fn stop_map_children(
        &mut self,
        stopped_runs: &[String],
        ended_parents: &[String],
    ) -> bool {
        if stopped_runs.is_empty() && ended_parents.is_empty() {
            return false;
        }
        let children: Vec<(String, String)> = self
            .executions
            .values()
            .filter(|e| e.status == ExecutionStatus::Running)
            .filter_map(|e| {
                let child = e.map_child.as_ref()?;
                let stops = stopped_runs.contains(&child.map_run_arn)
                    || ended_parents.contains(&child.parent_arn);
                stops.then(|| (e.arn.clone(), child.map_run_arn.clone()))
            })
            .collect();
        for (arn, run) in &children {
            self.inbox.push_now(arn, map_children::stop_event(run));
        }
        !children.is_empty()
    }
}
