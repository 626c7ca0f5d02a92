//! The Choice state: the first matching rule's `Next`, or `Default`.

use serde_json::Value;

use crate::error::{names, Failure};
use crate::interpreter::frame::{variables_of, Frame};
use crate::interpreter::jsonata::States;
use crate::interpreter::run::{Progress, Run};
use crate::model::{ChoiceBranch, Condition, QueryLanguage, State, Transition};
use crate::template::Scope;

impl Run<'_> {
    pub(super) fn run_choice(
        &mut self,
        frame: &mut Frame,
        state: &State,
        choices: &[ChoiceBranch],
        default: Option<&str>,
    ) -> Result<Progress, Failure> {
        if state.query_language == QueryLanguage::JsonAta {
            return self.run_jsonata_choice(frame, state, choices, default);
        }
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
                let Condition::Rule(rule) = &branch.condition else {
                    continue;
                };
                let matched = match rule.evaluate(scope) {
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
            return Err(no_choice_matched(frame));
        };
        let next = Transition::Next(next.to_string());
        let assigned = self.assign(frame, assign, &effective)?;
        self.output_of(frame, state, effective, &next, assigned)
    }

    /// A JSONata Choice: each `Condition` in turn; the matching rule's `Assign` and
    /// `Output`, or the state's own when `Default` is taken.
    fn run_jsonata_choice(
        &mut self,
        frame: &mut Frame,
        state: &State,
        choices: &[ChoiceBranch],
        default: Option<&str>,
    ) -> Result<Progress, Failure> {
        let input = std::mem::take(&mut frame.input);
        let matched = self.with_jsonata(frame, None, States::input(&input), |session| {
            crate::choice::first_jsonata_match(session, choices)
        });
        let matched = match matched {
            Ok(matched) => matched,
            Err(failure) => {
                frame.input = input;
                return Err(failure);
            }
        };
        let (assign, output, next) = match matched {
            Some(branch) => (
                branch.assign.as_ref(),
                branch.output.as_ref(),
                Some(branch.next.as_str()),
            ),
            None => (state.assign.as_ref(), state.output.as_ref(), default),
        };
        let Some(next) = next else {
            frame.input = input;
            return Err(no_choice_matched(frame));
        };
        let next = Transition::Next(next.to_string());
        let (assigned, output) =
            self.jsonata_leave_values(frame, assign, output, States::input(&input), Value::Null)?;
        let has_output = match matched {
            Some(branch) => branch.output.is_some(),
            None => state.output.is_some(),
        };
        let output = if has_output { output } else { input };
        self.output_of(frame, state, output, &next, assigned)
    }
}

fn no_choice_matched(frame: &Frame) -> Failure {
    Failure::new(
        names::NO_CHOICE_MATCHED,
        format!(
            "An error occurred while executing the state '{}' (entered at the event id #{}). Failed to transition out of the state. No match for the given input.",
            frame.state, frame.entered_event
        ),
    )
}
