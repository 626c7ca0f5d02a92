//! What a state does when a frame runs it, one module per state type;
//! [`Run::run_state`] picks the module.

use crate::interpreter::frame::Frame;
use crate::interpreter::run::{Run, StepResult};
use crate::interpreter::FrameId;
use crate::model::{State, StateKind};

mod choice;
mod fail;
mod map;
mod parallel;
mod pass;
mod succeed;
pub(super) mod task;
pub(super) mod wait;

impl<'a> Run<'a> {
    /// Executes the current state of a frame whose Entered event is recorded.
    pub(in crate::interpreter) fn run_state(
        &mut self,
        frame_id: FrameId,
        frame: &mut Frame,
        state: &'a State,
    ) -> StepResult {
        let result = match &state.kind {
            StateKind::Pass(pass) => self.run_pass(frame, state, pass),
            StateKind::Choice(choice) => {
                self.run_choice(frame, state, &choice.choices, choice.default.as_deref())
            }
            StateKind::Succeed => self.run_succeed(frame, state),
            StateKind::Fail(fail) => {
                let failure = self.fail_state(frame, fail);
                return match failure {
                    Ok(failure) => StepResult::Progress(self.frame_ended(frame, Err(failure))),
                    Err(failure) => StepResult::Failed(failure),
                };
            }
            StateKind::Wait(wait) => {
                self.run_wait(frame_id, frame, state, &wait.wait_for, &wait.next)
            }
            StateKind::Task(task) => self.run_task(frame_id, frame, task),
            StateKind::Parallel(parallel) => self.run_parallel(frame_id, frame, state, parallel),
            StateKind::Map(map) => self.run_map(frame_id, frame, state, map, None),
        };
        match result {
            Ok(progress) => StepResult::Progress(progress),
            Err(failure) => StepResult::Failed(failure),
        }
    }
}
