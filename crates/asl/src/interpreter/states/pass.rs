//! The Pass state.

use crate::error::Failure;
use crate::interpreter::frame::Frame;
use crate::interpreter::jsonata::States;
use crate::interpreter::run::{Progress, Run};
use crate::model::{QueryLanguage, ResultPath, State};
use crate::payload;

impl Run<'_> {
    pub(super) fn run_pass(
        &mut self,
        frame: &mut Frame,
        state: &State,
        pass: &crate::model::Pass,
    ) -> Result<Progress, Failure> {
        if state.query_language == QueryLanguage::JsonAta {
            let input = std::mem::take(&mut frame.input);
            let left = self.jsonata_leave(
                frame,
                state,
                States::input(&input),
                input.clone(),
                &pass.next,
            );
            return left;
        }
        // When the result replaces the input and InputPath is `$`, the input itself is
        // the effective input: move it rather than copy it.
        let result_replaces_input = matches!(&pass.result_path, ResultPath::At(p) if p.is_root());
        let effective =
            if result_replaces_input && state.input_path.as_ref().is_some_and(|p| p.is_root()) {
                std::mem::take(&mut frame.input)
            } else {
                self.effective_input(frame, state)?
            };
        let result = match (&pass.result, &pass.parameters) {
            (Some(result), _) => result.clone(),
            (None, Some(parameters)) => {
                self.evaluate(frame, parameters, &effective, "Parameters")?
            }
            (None, None) => effective,
        };
        // `$` in a Pass state's Assign is its result (Result or Parameters).
        let assigned = self.assign(frame, state.assign.as_ref(), &result)?;
        let input = std::mem::take(&mut frame.input);
        let placed = payload::place_result(input, result, &pass.result_path);
        let placed = self.prefix(frame, placed)?;
        self.output_of(frame, state, placed, &pass.next, assigned)
    }
}
