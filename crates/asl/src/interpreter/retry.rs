//! A state failed: Retry (matching `ErrorEquals`, the back-off delay), Catch (the error
//! output), or the end of the frame.

use serde_json::{Map as JsonMap, Value};

use crate::error::{names, Failure};
use crate::history::Details;
use crate::model::{Catcher, Jitter, QueryLanguage, Retrier, State, StateKind};
use crate::payload;
use crate::random::Random;

use super::frame::{Frame, TimerPurpose, Waiting};
use super::jsonata::States;
use super::run::{Progress, Run};
use super::states::wait::MAX_WAIT_SECONDS;
use super::Command;

impl Run<'_> {
    /// A state failed: retry it, catch the error, or end the frame with it.
    pub(super) fn handle_error(&mut self, frame: &mut Frame, failure: Failure) -> Progress {
        self.handle_error_with(frame, failure, &[])
    }

    /// Like [`Self::handle_error`]; `final_events` (e.g. `MapStateFailed`) are recorded
    /// only when the state is not retried, as AWS records them.
    pub(super) fn handle_error_with(
        &mut self,
        frame: &mut Frame,
        failure: Failure,
        final_events: &[&str],
    ) -> Progress {
        let Some(state) = self.state_of(frame) else {
            return self.frame_ended(frame, Err(failure));
        };
        let (retriers, catchers, next_kind): (&[Retrier], &[Catcher], bool) = match &state.kind {
            StateKind::Task(t) => (&t.retry, &t.catch, true),
            StateKind::Parallel(p) => (&p.retry, &p.catch, true),
            StateKind::Map(m) => (&m.retry, &m.catch, true),
            _ => (&[], &[], false),
        };
        if next_kind && failure.error != names::RUNTIME {
            if frame.retries.len() < retriers.len() {
                frame.retries.resize(retriers.len(), 0);
            }
            if let Some(index) = retriers
                .iter()
                .position(|r| matches_error(&r.error_equals, &failure))
            {
                let retrier = &retriers[index];
                let attempts = frame.retries[index];
                if attempts < retrier.max_attempts {
                    frame.retries[index] += 1;
                    let delay = retry_delay(retrier, attempts, &mut self.random);
                    let timer = self.new_timer(TimerPurpose::Retry(frame.id));
                    let due = self.now.plus_seconds(delay);
                    self.output
                        .commands
                        .push(Command::StartTimer { timer, due });
                    frame.waiting = Waiting::Timer(timer);
                    return Progress::Blocked;
                }
            }
        }
        for event in final_events {
            self.record_for_frame(frame, event, Details::default());
        }
        if next_kind && failure.error != names::RUNTIME {
            if let Some(catcher) = catchers
                .iter()
                .find(|c| matches_error(&c.error_equals, &failure))
            {
                let error_output = error_output(&failure);
                if state.query_language == QueryLanguage::JsonAta {
                    return self.jsonata_catch(frame, state, catcher, error_output);
                }
                // `$` in a catcher's Assign is the error output.
                let assigned = match self.assign(frame, catcher.assign.as_ref(), &error_output) {
                    Ok(assigned) => assigned,
                    Err(f) => return self.frame_ended(frame, Err(f)),
                };
                let input = std::mem::take(&mut frame.input);
                let placed = payload::place_result(input, error_output, &catcher.result_path);
                return match placed {
                    Ok(output) => self.caught(frame, state, catcher, output, assigned),
                    Err(f) => self.frame_ended(frame, Err(f)),
                };
            }
        }
        self.frame_ended(frame, Err(failure))
    }
}

impl Run<'_> {
    /// A JSONata state's catcher took the error: its `Assign` and `Output` (default
    /// `$states.errorOutput`) see the state's input and the error output.
    fn jsonata_catch(
        &mut self,
        frame: &mut Frame,
        state: &State,
        catcher: &Catcher,
        error_output: Value,
    ) -> Progress {
        let input = std::mem::take(&mut frame.input);
        let states = States {
            input: &input,
            result: None,
            error_output: Some(&error_output),
        };
        let left = self.jsonata_leave_values(
            frame,
            catcher.assign.as_ref(),
            catcher.output.as_ref(),
            states,
            error_output.clone(),
        );
        match left {
            Ok((assigned, output)) => self.caught(frame, state, catcher, output, assigned),
            Err(failure) => self.frame_ended(frame, Err(failure)),
        }
    }

    /// A catcher took the error: the state exits with `output`, its variables take
    /// effect and the frame goes on to the catcher's `Next`.
    fn caught(
        &mut self,
        frame: &mut Frame,
        state: &State,
        catcher: &Catcher,
        output: Value,
        assigned: Option<JsonMap<String, Value>>,
    ) -> Progress {
        self.exited(frame, state, &output, assigned.as_ref());
        if let Some(assigned) = assigned {
            frame.variables.extend(assigned);
        }
        frame.state = catcher.next.clone();
        frame.input = output;
        frame.waiting = Waiting::Enter;
        Progress::Blocked
    }
}

/// `{"Error": …, "Cause": …}`: what Catch places with its ResultPath.
pub(crate) fn error_output(failure: &Failure) -> Value {
    let mut out = JsonMap::new();
    out.insert("Error".into(), Value::String(failure.error.clone()));
    if let Some(cause) = &failure.cause {
        out.insert("Cause".into(), Value::String(cause.clone()));
    }
    Value::Object(out)
}

/// Whether a Retrier's or Catcher's `ErrorEquals` takes this failure. `States.Timeout`
/// also takes `States.HeartbeatTimeout`: AWS documents States.Timeout as covering a
/// missed heartbeat, and the narrower name came later for those who want to tell them
/// apart.
pub(crate) fn matches_error(error_equals: &[String], failure: &Failure) -> bool {
    error_equals.iter().any(|name| {
        name == &failure.error
            || (name == names::ALL && failure.is_catchable_by_all())
            || (name == names::TIMEOUT && failure.error == names::HEARTBEAT_TIMEOUT)
    })
}

/// Seconds to wait before retry number `attempts + 1`.
fn retry_delay(retrier: &Retrier, attempts: u64, random: &mut dyn Random) -> f64 {
    let exponent = i32::try_from(attempts).unwrap_or(i32::MAX);
    let mut delay = retrier.interval_seconds as f64 * retrier.backoff_rate.powi(exponent);
    if let Some(max) = retrier.max_delay_seconds {
        delay = delay.min(max as f64);
    }
    if !delay.is_finite() {
        delay = MAX_WAIT_SECONDS as f64;
    }
    match retrier.jitter {
        Jitter::None => delay,
        Jitter::Full => delay * random.next_f64(),
    }
}
