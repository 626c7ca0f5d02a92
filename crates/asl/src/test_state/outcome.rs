//! A tested state's error: the retrier that takes it (`RETRIABLE`, with the back-off it
//! would wait), else the catcher (`CAUGHT_ERROR`, with the catcher's output and `Next`),
//! else `FAILED`. `States.Runtime` is neither retried nor caught, as in an execution.

use serde_json::Value;

use crate::error::{names, Failure};
use crate::interpreter::{error_output, matches_error};
use crate::model::{Catcher, QueryLanguage, Retrier, State, StateKind};
use crate::payload;

use super::run::Tester;
use super::{ErrorDetails, Response, Status};

impl Tester {
    pub(super) fn handle_error(&mut self, state: &State, failure: Failure) -> Response {
        let (retriers, catchers): (&[Retrier], &[Catcher]) = match &state.kind {
            StateKind::Task(t) => (&t.retry, &t.catch),
            StateKind::Parallel(p) => (&p.retry, &p.catch),
            StateKind::Map(m) => (&m.retry, &m.catch),
            _ => (&[], &[]),
        };
        let handled = failure.error != names::RUNTIME;
        let mut details = ErrorDetails::default();
        if handled {
            if let Some(index) = retriers
                .iter()
                .position(|r| matches_error(&r.error_equals, &failure))
            {
                details.retry_index = Some(index);
                let retrier = &retriers[index];
                let retries = self.p.configuration.retrier_retry_count.unwrap_or(0);
                if retries < retrier.max_attempts {
                    details.retry_backoff_interval_seconds = Some(backoff(retrier, retries));
                    self.inspection.error_details = Some(details);
                    return failed(Status::Retriable, failure);
                }
            }
            if let Some(index) = catchers
                .iter()
                .position(|c| matches_error(&c.error_equals, &failure))
            {
                details.catch_index = Some(index);
                self.inspection.error_details = Some(details);
                return match self.caught(state, &catchers[index], &failure) {
                    Ok(output) => Response {
                        status: Status::CaughtError,
                        output: Some(output),
                        next_state: Some(catchers[index].next.clone()),
                        ..failed(Status::CaughtError, failure)
                    },
                    // The catcher's own Output or ResultPath failed: so does the state.
                    Err(worse) => failed(Status::Failed, worse),
                };
            }
        }
        if details != ErrorDetails::default() {
            self.inspection.error_details = Some(details);
        }
        failed(Status::Failed, failure)
    }

    /// The output a catcher gives: the error output placed by its ResultPath (JSONPath)
    /// or its `Output` (JSONata, default the error output); its `Assign` takes effect.
    fn caught(
        &mut self,
        state: &State,
        catcher: &Catcher,
        failure: &Failure,
    ) -> Result<Value, Failure> {
        let error_output = error_output(failure);
        let input = self.p.input.clone();
        let (assigned, output) = if state.query_language == QueryLanguage::JsonAta {
            self.jsonata_leave(
                catcher.assign.as_ref(),
                catcher.output.as_ref(),
                &input,
                None,
                Some(&error_output),
                error_output.clone(),
            )?
        } else {
            let assigned = self.assign(catcher.assign.as_ref(), &error_output)?;
            let placed = payload::place_result(input, error_output, &catcher.result_path)?;
            (assigned, placed)
        };
        if let Some(assigned) = assigned {
            self.p.variables.extend(assigned);
        }
        Ok(output)
    }
}

/// The back-off before retry number `retries + 1`, in whole seconds, without jitter
/// (a test shows the interval the retrier is configured for).
fn backoff(retrier: &Retrier, retries: u64) -> u64 {
    let exponent = i32::try_from(retries).unwrap_or(i32::MAX);
    let mut delay = retrier.interval_seconds as f64 * retrier.backoff_rate.powi(exponent);
    if let Some(max) = retrier.max_delay_seconds {
        delay = delay.min(max as f64);
    }
    if !delay.is_finite() || delay >= u64::MAX as f64 {
        return u64::MAX;
    }
    delay.floor() as u64
}

fn failed(status: Status, failure: Failure) -> Response {
    Response {
        status,
        output: None,
        error: Some(failure.error).filter(|e| !e.is_empty()),
        cause: failure.cause,
        next_state: None,
        inspection: None,
    }
}
