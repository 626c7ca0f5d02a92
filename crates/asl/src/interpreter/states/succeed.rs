//! The Succeed state.

use crate::error::Failure;
use crate::interpreter::frame::Frame;
use crate::interpreter::jsonata::States;
use crate::interpreter::run::{Progress, Run};
use crate::model::{QueryLanguage, State, Transition};

impl Run<'_> {
    pub(super) fn run_succeed(
        &mut self,
        frame: &mut Frame,
        state: &State,
    ) -> Result<Progress, Failure> {
        if state.query_language == QueryLanguage::JsonAta {
            let input = std::mem::take(&mut frame.input);
            return self.jsonata_leave(
                frame,
                state,
                States::input(&input),
                input.clone(),
                &Transition::End,
            );
        }
        let effective = self.effective_input(frame, state)?;
        self.output_of(frame, state, effective, &Transition::End, None)
    }
}
