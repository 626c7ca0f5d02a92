//! The Choice state: the first matching rule's `Next`, or `Default`.

use crate::error::{names, Failure};
use crate::interpreter::frame::{variables_of, Frame};
use crate::interpreter::run::{Progress, Run};
use crate::model::{ChoiceBranch, State, Transition};
use crate::template::Scope;

impl Run<'_> {
    pub(super) fn run_choice(
        &mut self,
        frame: &mut Frame,
        state: &State,
        choices: &[ChoiceBranch],
        default: Option<&str>,
    ) -> Result<Progress, Failure> {
        let effective = self.effective_input(frame, state)?;
        let mut matched_branch = None;
        {
            self.update_context(frame, None);
            let variables = variables_of(&self.snapshot.frames, frame);
            let scope = Scope {
                input: &effective,
                context: &self.snapshot.context,
                variables: &variables,
            };
            for branch in choices {
                let matched = branch.rule.evaluate(scope);
                let matched = match matched {
                    Ok(m) => m,
                    Err(f) => return Err(self.with_prefix(frame, f)),
                };
                if matched {
                    matched_branch = Some(branch);
                    break;
                }
            }
        }
        // The matching rule's Assign, or the state's own when Default is taken; `$` is
        // the effective input.
        let assign = match matched_branch {
            Some(branch) => branch.assign.as_ref(),
            None => state.assign.as_ref(),
        };
        let next = matched_branch.map(|b| b.next.as_str());
        let Some(next) = next.or(default) else {
            return Err(Failure::new(
                names::NO_CHOICE_MATCHED,
                format!(
                    "An error occurred while executing the state '{}' (entered at the event id #{}). Failed to transition out of the state. No match for the given input.",
                    frame.state, frame.entered_event
                ),
            ));
        };
        let next = Transition::Next(next.to_string());
        let assigned = self.assign(frame, assign, &effective)?;
        self.output_of(frame, state, effective, &next, assigned)
    }
}
