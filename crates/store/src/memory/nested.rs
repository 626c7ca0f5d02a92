//! Nested executions in memory (the protocol is [`crate::nested`]'s): a child started
//! inside the commit that schedules its parent's task, and the `Stop` a cancelled
//! parent task sends it.

use cairn_asl::interpreter::TaskRequest;
use cairn_asl::task::Nested;
use cairn_asl::ExecutionStatus;

use super::{now, Execution, ParentLink, Tables};
use crate::catalog::{MachineStatus, MachineType};
use crate::engine::InboxEvent;
use crate::nested::{self, ChildRequest, ExistingChild, Refusal};
use crate::Time;

impl Tables {
    /// Starts the child `task` of `parent_arn` asks for and queues the parent's
    /// `TaskStarted` and the start's outcome.
    pub(super) fn start_child(&mut self, parent_arn: &str, task: &TaskRequest, nested: Nested) {
        let seed = nested::seed(parent_arn, task);
        let started = nested::read_parameters(&task.input, &seed)
            .and_then(|request| self.insert_child(parent_arn, task, nested, request));
        match &started {
            Ok((child_arn, _)) => {
                tracing::info!(parent = %parent_arn, child = %child_arn, state = %task.state_name, "nested execution started");
                if nested == Nested::WaitForTaskToken {
                    if let Some(seconds) = task.heartbeat_seconds {
                        self.start_heartbeat(parent_arn, task.task as i64, seconds as i64);
                    }
                }
            }
            Err(_) if nested == Nested::WaitForTaskToken => {
                self.close_token(parent_arn, task.task as i64)
            }
            Err(_) => {}
        }
        for event in nested::start_events(task, nested, started, &seed) {
            self.inbox.push_now(parent_arn, event);
        }
    }

    /// Inserts the child's execution and its `Start` event, or relinks the running child
    /// of that name when AWS's idempotent start allows it ([`nested::may_relink`]).
    fn insert_child(
        &mut self,
        parent_arn: &str,
        task: &TaskRequest,
        nested: Nested,
        request: ChildRequest,
    ) -> Result<(String, Time), Refusal> {
        let Some(machine) = self.machines.get(&request.machine_arn) else {
            return Err(Refusal::no_machine(&request.machine_arn));
        };
        if machine.status != MachineStatus::Active {
            return Err(Refusal::deleting(&request.machine_arn));
        }
        if machine.machine_type != MachineType::Standard {
            return Err(Refusal::not_standard(
                &request.machine_arn,
                machine.machine_type.as_str(),
            ));
        }
        let child_arn = request.child_arn(&machine.name);
        let link = ParentLink {
            execution_arn: parent_arn.to_string(),
            task: task.task as i64,
            waits: Some(nested).filter(|n| n.waits_for_end()),
        };
        if let Some(existing) = self.executions.get_mut(&child_arn) {
            let found = ExistingChild {
                status: existing.status,
                input: &existing.input,
                parent_arn: existing.parent.as_ref().map(|p| p.execution_arn.as_str()),
                parent_task: existing.parent.as_ref().map(|p| p.task),
            };
            if !nested::may_relink(&found, &request, parent_arn, task.task) {
                return Err(Refusal::already_exists(&child_arn));
            }
            existing.parent = Some(link);
            return Ok((child_arn, existing.started_at));
        }
        let started_at = now();
        let child = Execution {
            arn: child_arn.clone(),
            state_machine_arn: request.machine_arn.clone(),
            name: request.name,
            definition_id: machine.definition_id,
            role_arn: machine.role_arn.clone(),
            status: ExecutionStatus::Running,
            input: request.input,
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
            parent: Some(link),
            version_arn: None,
            alias_arn: None,
            redrives: Default::default(),
            map_child: None,
        };
        self.executions.insert(child_arn.clone(), child);
        self.inbox
            .push(&child_arn, None, started_at, InboxEvent::Start);
        Ok((child_arn, started_at))
    }

    /// Queues a `Stop` for every still-running `.sync` child of `execution`'s cancelled
    /// task `task`. `true` when any was queued.
    pub(super) fn stop_children(&mut self, execution: &str, task: u64) -> bool {
        let children: Vec<String> = self
            .executions
            .values()
            .filter(|e| e.status == ExecutionStatus::Running)
            .filter(|e| {
                e.parent.as_ref().is_some_and(|p| {
                    p.execution_arn == execution && p.task == task as i64 && p.waits.is_some()
                })
            })
            .map(|e| e.arn.clone())
            .collect();
        for child in &children {
            self.inbox.push_now(child, nested::stop_event(execution));
        }
        !children.is_empty()
    }
}
