//! A JSONata state's data: its templates evaluated with `$states` (the input, the
//! context, the result or the error output) and the frame's variables, `Assign` and
//! `Output` as the state is left, and AWS's `EvaluationFailed` event when an
//! evaluation fails (`States.QueryEvaluationError`).
//!
//! `Assign` and `Output` of one state are evaluated against the same `$states` and
//! the variables as they were before the state: neither sees the other's values.

use serde_json::{Map as JsonMap, Value};

use crate::error::{names, Failure};
use crate::history::Details;
use crate::jsonata::template::EvaluationFailure;
use crate::jsonata::{self, Environment, Expression, JsonataTemplate, Limits, Session};
use crate::model::{State, Transition};
use crate::payload;
use crate::variables::Assign;

use super::frame::{variables_of, Frame};
use super::run::{Progress, Run};

/// What `$states` holds for one evaluation, besides the context.
#[derive(Clone, Copy)]
pub(super) struct States<'v> {
    pub(super) input: &'v Value,
    pub(super) result: Option<&'v Value>,
    pub(super) error_output: Option<&'v Value>,
}

impl<'v> States<'v> {
    pub(super) fn input(input: &'v Value) -> Self {
        States {
            input,
            result: None,
            error_output: None,
        }
    }
}

impl Run<'_> {
    /// Runs `evaluate` in a JSONata session for `frame` (`item`: the Map item
    /// `$states.context.Map.Item` shows). A failure is recorded as `EvaluationFailed`
    /// and becomes the state's `States.QueryEvaluationError`.
    pub(super) fn with_jsonata<T>(
        &mut self,
        frame: &mut Frame,
        item: Option<(usize, &Value)>,
        states: States<'_>,
        evaluate: impl FnOnce(&mut Session<'_>) -> Result<T, EvaluationFailure>,
    ) -> Result<T, Failure> {
        self.update_context(frame, item);
        let outcome = {
            let variables = variables_of(&self.snapshot.frames, frame);
            let mut session = jsonata::session(Environment {
                input: states.input,
                context: &self.snapshot.context,
                result: states.result,
                error_output: states.error_output,
                variables: &variables,
                now: self.now,
                random: &mut self.random,
                limits: Limits::default(),
            });
            evaluate(&mut session)
        };
        outcome.map_err(|failure| self.evaluation_failed(frame, &failure.location, failure.cause()))
    }

    /// Evaluates one template for `frame`.
    pub(super) fn jsonata_value(
        &mut self,
        frame: &mut Frame,
        template: &JsonataTemplate,
        states: States<'_>,
        field: &str,
    ) -> Result<Value, Failure> {
        self.with_jsonata(frame, None, states, |session| {
            template.evaluate(session, field)
        })
    }

    /// Evaluates one expression for `frame`.
    pub(super) fn jsonata_expression(
        &mut self,
        frame: &mut Frame,
        expression: &Expression,
        states: States<'_>,
        field: &str,
    ) -> Result<Value, Failure> {
        self.with_jsonata(frame, None, states, |session| {
            expression.evaluate_at(session, field)
        })
    }

    /// Records `EvaluationFailed` for `frame` and returns the state's failure, its
    /// cause prefixed as AWS prefixes a state's errors.
    pub(super) fn evaluation_failed(
        &mut self,
        frame: &mut Frame,
        location: &str,
        cause: String,
    ) -> Failure {
        let cause = format!(
            "An error occurred while executing the state '{}' (entered at the event id #{}). {cause}",
            frame.state, frame.entered_event
        );
        let details = Details {
            error: Some(names::QUERY_EVALUATION_ERROR.to_string()),
            cause: Some(cause.clone()),
            location: Some(location.to_string()),
            state: Some(frame.state.clone()),
            ..Details::default()
        };
        self.record_for_frame(frame, "EvaluationFailed", details);
        Failure::new(names::QUERY_EVALUATION_ERROR, cause)
    }

    /// `Assign` and `Output` of a JSONata state, against the same `$states`: the
    /// variables to assign and the output (`default` without an `Output`).
    pub(super) fn jsonata_leave_values(
        &mut self,
        frame: &mut Frame,
        assign: Option<&Assign>,
        output: Option<&JsonataTemplate>,
        states: States<'_>,
        default: Value,
    ) -> Result<(Option<JsonMap<String, Value>>, Value), Failure> {
        let assign = assign.and_then(Assign::jsonata);
        let (assigned, output) = self.with_jsonata(frame, None, states, |session| {
            crate::jsonata::template::assign_and_output(session, assign, output)
        })?;
        let assigned = match assigned {
            Some(values) => Some(self.prefix(frame, Assign::accept(values))?),
            None => None,
        };
        Ok((assigned, output.unwrap_or(default)))
    }

    /// Leaves a JSONata state: `Assign`, `Output` (default `default`), the size limit,
    /// the Exited event and the transition.
    pub(super) fn jsonata_leave(
        &mut self,
        frame: &mut Frame,
        state: &State,
        states: States<'_>,
        default: Value,
        next: &Transition,
    ) -> Result<Progress, Failure> {
        let (assigned, output) = self.jsonata_leave_values(
            frame,
            state.assign.as_ref(),
            state.output.as_ref(),
            states,
            default,
        )?;
        self.output_of(frame, state, output, next, assigned)
    }

    /// A JSONata state whose work produced `result` (Task, Parallel, Map): Assign and
    /// Output see `$states.input` and `$states.result`; the output is the result by
    /// default.
    pub(super) fn jsonata_complete(
        &mut self,
        frame: &mut Frame,
        state: &State,
        result: Value,
        next: &Transition,
    ) -> Result<Progress, Failure> {
        if payload::json_size_exceeds(&result, self.snapshot.limits.max_payload_bytes) {
            return Err(super::data::data_limit(&frame.state));
        }
        let input = std::mem::take(&mut frame.input);
        let states = States {
            input: &input,
            result: Some(&result),
            error_output: None,
        };
        let left = self.jsonata_leave_values(
            frame,
            state.assign.as_ref(),
            state.output.as_ref(),
            states,
            Value::Null,
        );
        let (assigned, output) = match left {
            Ok(left) => left,
            Err(failure) => {
                frame.input = input;
                return Err(failure);
            }
        };
        let output = if state.output.is_some() {
            output
        } else {
            result
        };
        self.output_of(frame, state, output, next, assigned)
    }
}
