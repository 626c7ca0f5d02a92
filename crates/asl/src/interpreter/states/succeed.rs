//! The Succeed state.

use crate::error::Failure;
use crate::interpreter::frame::Frame;
use crate::interpreter::run::{Progress, Run};
use crate::model::{State, Transition};

impl Run<'_> {
    pub(super) fn run_succeed(
        &mut self,
        frame: &mut Frame,
        state: &State,
    ) -> Result<Progress, Failure> {
        let effective = self.effective_input(frame, state)?;
        self.output_of(frame, state, effective, &Transition::End, None)
    }
}
