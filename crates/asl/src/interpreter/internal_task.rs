//! What the internal tasks of a Distributed Map (reading its items, writing its
//! results) have in common: their events are taken up by the Map's frame, not by a Task
//! state, and record no history; a failure that is not a `States.` error becomes the
//! one error name the Map's Retry and Catch see for that task.

use serde_json::Value;

use super::frame::Waiting;
use super::run::Run;
use super::{Event, FrameId, TaskId};
use crate::error::Failure;

/// An internal task's event, once it ends the task.
pub(super) struct Ended {
    pub(super) task: TaskId,
    pub(super) frame: FrameId,
    /// The task's output, or why it failed.
    pub(super) outcome: Result<Value, Failure>,
}

/// What an internal task's event means to the Map waiting on it.
pub(super) enum Taken {
    /// Not an event of a task a frame waits on as asked.
    NotMine,
    /// Started or submitted: the task goes on.
    GoesOn,
    Ended(Ended),
}

impl Run<'_> {
    /// Takes up `event` for an internal task that a frame waits on as `waits_on` says:
    /// a failure's name is `error_name` unless it is a `States.` error, and a heartbeat
    /// timeout fails with `timed_out`.
    pub(super) fn internal_task_event(
        &self,
        event: &Event,
        waits_on: impl Fn(&Waiting, TaskId) -> bool,
        error_name: &str,
        timed_out: &str,
    ) -> Taken {
        let task = match event {
            Event::TaskStarted { task }
            | Event::TaskSucceeded { task, .. }
            | Event::TaskFailed { task, .. }
            | Event::TaskSubmitted { task, .. }
            | Event::ActivityStarted { task, .. }
            | Event::TaskHeartbeatTimedOut { task } => *task,
            _ => return Taken::NotMine,
        };
        let Some(&frame) = self.snapshot.tasks.get(&task) else {
            return Taken::NotMine;
        };
        let waiting = self
            .snapshot
            .frames
            .get(&frame)
            .is_some_and(|f| waits_on(&f.waiting, task));
        if !waiting {
            return Taken::NotMine;
        }
        let outcome = match event {
            Event::TaskSucceeded { output, .. } => Ok(output.clone()),
            Event::TaskFailed { error, cause, .. } => Err(Failure {
                error: if error.starts_with("States.") {
                    error.clone()
                } else {
                    error_name.to_string()
                },
                cause: cause.clone(),
            }),
            Event::TaskHeartbeatTimedOut { .. } => Err(Failure::new(error_name, timed_out)),
            _ => return Taken::GoesOn,
        };
        Taken::Ended(Ended {
            task,
            frame,
            outcome,
        })
    }
}
