//! The Wait state: its due time (`Seconds`, `Timestamp` or a path to either), AWS's
//! limit on it, and its timer.

use serde_json::Value;

use crate::error::Failure;
use crate::interpreter::data::display_value;
use crate::interpreter::frame::{Frame, TimerPurpose, Waiting};
use crate::interpreter::jsonata::States;
use crate::interpreter::run::{Progress, Run};
use crate::interpreter::{Command, FrameId};
use crate::model::{QueryLanguage, State, Transition, WaitFor};
use crate::timestamp::Timestamp;

/// AWS refuses waits beyond this (a little over a year is allowed; 24,855 days is the
/// largest accepted value in the recorded corpus).
pub(in crate::interpreter) const MAX_WAIT_SECONDS: i64 = 24_855 * 24 * 3600;

impl Run<'_> {
    pub(super) fn run_wait(
        &mut self,
        frame_id: FrameId,
        frame: &mut Frame,
        state: &State,
        wait_for: &WaitFor,
        next: &Transition,
    ) -> Result<Progress, Failure> {
        let effective = self.effective_input(frame, state)?;
        let due = match wait_for {
            WaitFor::Seconds(seconds) => self.now.plus_seconds(*seconds as f64),
            WaitFor::Timestamp(at) => *at,
            WaitFor::SecondsPath(path) => {
                let value = self.wait_parameter(frame, "SecondsPath", path, &effective)?;
                // The overall limit below also catches values too large to add.
                match value.as_i64() {
                    Some(seconds) if seconds >= 0 => self
                        .now
                        .plus_seconds(seconds.min(MAX_WAIT_SECONDS + 1) as f64),
                    Some(_) => {
                        return Err(self.wait_error(
                            frame,
                            "SecondsPath",
                            path,
                            "references a negative value",
                            &value,
                        ))
                    }
                    None => {
                        return Err(self.wait_error(
                            frame,
                            "SecondsPath",
                            path,
                            "cannot be parsed as a long value",
                            &value,
                        ))
                    }
                }
            }
            WaitFor::SecondsExpression(expression) => {
                let value = self.jsonata_expression(
                    frame,
                    expression,
                    States::input(&effective),
                    "Seconds",
                )?;
                match value.as_i64() {
                    Some(seconds) if seconds >= 0 => self
                        .now
                        .plus_seconds(seconds.min(MAX_WAIT_SECONDS + 1) as f64),
                    _ => {
                        return Err(self.evaluation_failed(
                            frame,
                            "Seconds",
                            format!(
                                "The Seconds field must be a non-negative integer: {}",
                                display_value(&value)
                            ),
                        ))
                    }
                }
            }
            WaitFor::TimestampExpression(expression) => {
                let value = self.jsonata_expression(
                    frame,
                    expression,
                    States::input(&effective),
                    "Timestamp",
                )?;
                match value.as_str().and_then(Timestamp::parse) {
                    Some(at) => at,
                    None => {
                        return Err(self.evaluation_failed(
                            frame,
                            "Timestamp",
                            format!(
                                "The Timestamp field cannot be parsed as an ISO-8601 extended \
                                 offset date-time format string: {}",
                                display_value(&value)
                            ),
                        ))
                    }
                }
            }
            WaitFor::TimestampPath(path) => {
                let value = self.wait_parameter(frame, "TimestampPath", path, &effective)?;
                match value.as_str().and_then(Timestamp::parse) {
                    Some(at) => at,
                    None => {
                        return Err(self.wait_error(
                            frame,
                            "TimestampPath",
                            path,
                            "does not reference a valid ISO-8601 extended offset date-time format string",
                            &value,
                        ))
                    }
                }
            }
        };
        if due.0 - self.now.0 > MAX_WAIT_SECONDS as i128 * Timestamp::NANOS_PER_SECOND {
            return Err(self.with_prefix(frame, Failure::runtime("Wait state delay is too long")));
        }
        if due <= self.now {
            return self.leave_wait(frame, state, effective, next);
        }
        let timer = self.new_timer(TimerPurpose::Resume(frame_id));
        self.output
            .commands
            .push(Command::StartTimer { timer, due });
        frame.waiting = Waiting::Timer(timer);
        Ok(Progress::Blocked)
    }

    /// The Wait is over: Assign and the output, in the state's language.
    pub(in crate::interpreter) fn leave_wait(
        &mut self,
        frame: &mut Frame,
        state: &State,
        input: Value,
        next: &Transition,
    ) -> Result<Progress, Failure> {
        if state.query_language == QueryLanguage::JsonAta {
            return self.jsonata_leave(frame, state, States::input(&input), input.clone(), next);
        }
        let assigned = self.assign(frame, state.assign.as_ref(), &input)?;
        self.output_of(frame, state, input, next, assigned)
    }

    /// The value a Wait's `SecondsPath`/`TimestampPath` points at, or AWS's error.
    fn wait_parameter(
        &mut self,
        frame: &Frame,
        field: &str,
        path: &crate::path::Path,
        effective: &Value,
    ) -> Result<Value, Failure> {
        self.lookup(frame, path, effective).ok_or_else(|| {
            self.with_prefix(
                frame,
                Failure::runtime(format!(
                    "The {field} parameter does not reference an input value: {}",
                    path.source()
                )),
            )
        })
    }

    /// AWS's cause for a Wait parameter of the wrong kind, e.g. `The SecondsPath
    /// parameter references a negative value: $.s == -1`.
    fn wait_error(
        &self,
        frame: &Frame,
        field: &str,
        path: &crate::path::Path,
        problem: &str,
        value: &Value,
    ) -> Failure {
        self.with_prefix(
            frame,
            Failure::runtime(format!(
                "The {field} parameter {problem}: {} == {}",
                path.source(),
                display_value(value)
            )),
        )
    }
}
