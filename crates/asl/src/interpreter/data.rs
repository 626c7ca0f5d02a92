//! A state's data: InputPath, Parameters, ResultSelector, ResultPath, OutputPath and
//! Assign evaluated for a frame, leaving the state with its output, and AWS's prefix on
//! `States.Runtime` causes.

use serde_json::{Map as JsonMap, Value};

use crate::error::{names, Failure};
use crate::model::{State, Transition};
use crate::payload;
use crate::template::{Scope, Template};
use crate::variables::Assign;

use super::frame::{variables_of, Frame, Waiting};
use super::record::assigned_texts;
use super::run::{Progress, Run};

impl Run<'_> {
    /// The state's input after InputPath.
    pub(super) fn effective_input(
        &mut self,
        frame: &Frame,
        state: &State,
    ) -> Result<Value, Failure> {
        if state.input_path.as_ref().is_some_and(|p| p.is_context()) {
            self.update_context(frame, None);
        }
        let selected = payload::select_ref(
            &frame.input,
            state.input_path.as_ref(),
            &self.snapshot.context,
            &variables_of(&self.snapshot.frames, frame),
        );
        self.prefix(frame, selected)
    }

    pub(super) fn evaluate(
        &mut self,
        frame: &Frame,
        template: &Template,
        input: &Value,
        field: &str,
    ) -> Result<Value, Failure> {
        self.update_context(frame, None);
        let variables = variables_of(&self.snapshot.frames, frame);
        let scope = Scope {
            input,
            context: &self.snapshot.context,
            variables: &variables,
        };
        let value = template.evaluate(scope, &mut self.random, field);
        self.prefix(frame, value)
    }

    /// What `path` selects for `frame`: from `input`, the context object or a variable.
    pub(super) fn lookup(
        &mut self,
        frame: &Frame,
        path: &crate::path::Path,
        input: &Value,
    ) -> Option<Value> {
        if path.is_context() {
            self.update_context(frame, None);
        }
        let variables = variables_of(&self.snapshot.frames, frame);
        let scope = Scope {
            input,
            context: &self.snapshot.context,
            variables: &variables,
        };
        scope.select(path).map(std::borrow::Cow::into_owned)
    }

    pub(super) fn select_for(
        &mut self,
        frame: &Frame,
        path: &crate::path::Path,
        effective: &Value,
    ) -> Result<Value, Failure> {
        self.lookup(frame, path, effective)
            .ok_or_else(|| self.with_prefix(frame, payload::no_results(path)))
    }

    /// Evaluates an `Assign` field for `frame` with `dollar` as `$`, against the
    /// variables as they are before the state; [`Self::output_of`] makes the values
    /// take effect when the state is left.
    pub(super) fn assign(
        &mut self,
        frame: &Frame,
        assign: Option<&Assign>,
        dollar: &Value,
    ) -> Result<Option<JsonMap<String, Value>>, Failure> {
        let Some(assign) = assign else {
            return Ok(None);
        };
        self.update_context(frame, None);
        let variables = variables_of(&self.snapshot.frames, frame);
        let scope = Scope {
            input: dollar,
            context: &self.snapshot.context,
            variables: &variables,
        };
        let values = assign.evaluate(scope, &mut self.random);
        self.prefix(frame, values).map(Some)
    }

    /// A state's work produced `result`: ResultSelector → ResultPath → OutputPath, then
    /// the transition.
    pub(super) fn complete(
        &mut self,
        frame: &mut Frame,
        state: &State,
        result: Value,
        result_selector: Option<&Template>,
        result_path: &crate::model::ResultPath,
        next: &Transition,
    ) -> Result<Progress, Failure> {
        if state.query_language == crate::model::QueryLanguage::JsonAta {
            return self.jsonata_complete(frame, state, result, next);
        }
        let result = match result_selector {
            Some(selector) => {
                self.update_context(frame, None);
                let variables = variables_of(&self.snapshot.frames, frame);
                let scope = Scope {
                    input: &result,
                    context: &self.snapshot.context,
                    variables: &variables,
                };
                selector
                    .evaluate(scope, &mut self.random, "ResultSelector")
                    .map_err(|f| self.with_prefix(frame, f))?
            }
            None => result,
        };
        if payload::json_size_exceeds(&result, self.snapshot.limits.max_payload_bytes) {
            return Err(data_limit(&frame.state));
        }
        // `$` in Assign is the result after ResultSelector.
        let assigned = self.assign(frame, state.assign.as_ref(), &result)?;
        let input = std::mem::take(&mut frame.input);
        let placed = payload::place_result(input, result, result_path);
        let placed = self.prefix(frame, placed)?;
        self.output_of(frame, state, placed, next, assigned)
    }

    /// Applies OutputPath, makes the state's `assigned` variables take effect, records
    /// the Exited event and follows the transition. OutputPath still sees the variables
    /// as they were before the state.
    pub(super) fn output_of(
        &mut self,
        frame: &mut Frame,
        state: &State,
        value: Value,
        next: &Transition,
        assigned: Option<JsonMap<String, Value>>,
    ) -> Result<Progress, Failure> {
        if state.output_path.as_ref().is_some_and(|p| p.is_context()) {
            self.update_context(frame, None);
        }
        let selected = payload::select(
            value,
            state.output_path.as_ref(),
            &self.snapshot.context,
            &variables_of(&self.snapshot.frames, frame),
        );
        let output = self.prefix(frame, selected)?;
        let limit = self.snapshot.limits.max_payload_bytes;
        // The output's text serves the size check, this Exited event and the next
        // state's Entered event.
        let text = if frame.quiet {
            if payload::json_size_exceeds(&output, limit) {
                return Err(data_limit(&frame.state));
            }
            None
        } else {
            let text = payload::to_text(&output);
            if text.len() > limit {
                return Err(data_limit(&frame.state));
            }
            let assigned_texts = assigned.as_ref().map(assigned_texts);
            self.exited_with_text(frame, state, text.clone(), assigned_texts);
            Some(text)
        };
        if let Some(assigned) = assigned {
            frame.variables.extend(assigned);
        }
        match next {
            Transition::Next(name) => {
                frame.state = name.clone();
                frame.input = output;
                frame.input_text = text;
                frame.waiting = Waiting::Enter;
                Ok(Progress::Blocked)
            }
            Transition::End => Ok(self.frame_ended(frame, Ok(output))),
        }
    }

    pub(super) fn prefix<T>(
        &self,
        frame: &Frame,
        result: Result<T, Failure>,
    ) -> Result<T, Failure> {
        result.map_err(|f| self.with_prefix(frame, f))
    }

    /// AWS prefixes the cause of a `States.Runtime` error with the state and the id of
    /// its Entered event.
    pub(super) fn with_prefix(&self, frame: &Frame, failure: Failure) -> Failure {
        if failure.error != names::RUNTIME {
            return failure;
        }
        let cause = failure.cause.unwrap_or_default();
        if cause.starts_with("An error occurred while executing the state") {
            return Failure {
                error: failure.error,
                cause: Some(cause),
            };
        }
        Failure {
            error: failure.error,
            cause: Some(format!(
                "An error occurred while executing the state '{}' (entered at the event id #{}). {}",
                frame.state, frame.entered_event, cause
            )),
        }
    }
}

pub(super) fn data_limit(state: &str) -> Failure {
    Failure::new(
        names::DATA_LIMIT_EXCEEDED,
        format!("The state/task '{state}' returned a result with a size exceeding the maximum number of bytes service limit."),
    )
}

/// A value as AWS prints it inside error causes: strings bare, everything else as JSON.
pub(super) fn display_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => payload::to_text(other),
    }
}
