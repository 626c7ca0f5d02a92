//! Ending frames and the execution (succeeded, failed, timed out, aborted, or over the
//! history limit), cancelling whatever is still pending.

use serde_json::Value;

use crate::error::{names, Failure};
use crate::history::Details;
use crate::payload;
use crate::status::ExecutionStatus;

use super::frame::{Frame, Waiting};
use super::record::details;
use super::run::{Progress, Run};
use super::{Command, Finish, StateVisit};

impl Run<'_> {
    /// A frame reached its end (`End`, Succeed, Fail, or an uncaught error).
    pub(super) fn frame_ended(
        &mut self,
        frame: &mut Frame,
        result: Result<Value, Failure>,
    ) -> Progress {
        self.drop_express_cap(frame);
        if let Err(failure) = &result {
            if !frame.quiet && !matches!(frame.waiting, Waiting::Enter) {
                if let Some(state) = self.state_of(frame) {
                    self.visit_ended(frame, state, Some(failure.error.clone()));
                }
            }
            self.freeze_failed(frame);
        }
        match frame.parent {
            Some((parent, index)) => {
                self.child_ended(parent, index, result, frame.last_event, false)
            }
            None => {
                let last = frame.last_event;
                self.end_execution_after(last, result);
            }
        }
        Progress::Ended
    }

    pub(super) fn end_execution(&mut self, result: Result<Value, Failure>) {
        let previous = self.snapshot.next_event_id - 1;
        self.end_execution_after(previous, result);
    }

    fn end_execution_after(&mut self, previous: u64, result: Result<Value, Failure>) {
        if self.snapshot.status != ExecutionStatus::Running {
            return;
        }
        match result {
            Ok(output) => {
                self.record(
                    Some(previous),
                    "ExecutionSucceeded",
                    details([("output", Value::String(payload::to_text(&output)))]),
                );
                self.finish_with(Finish {
                    status: ExecutionStatus::Succeeded,
                    output: Some(output),
                    error: None,
                    cause: None,
                });
            }
            Err(failure) => {
                let d = Details {
                    error: Some(failure.error.clone()),
                    cause: failure.cause.clone(),
                    ..Details::default()
                };
                self.record(Some(previous), "ExecutionFailed", d);
                self.finish_with(Finish {
                    status: ExecutionStatus::Failed,
                    output: None,
                    error: Some(failure.error),
                    cause: failure.cause,
                });
            }
        }
    }

    /// Timed out or aborted from outside.
    pub(super) fn end_with_status(
        &mut self,
        status: ExecutionStatus,
        error: Option<String>,
        cause: Option<String>,
    ) {
        if self.snapshot.status != ExecutionStatus::Running {
            return;
        }
        let event_type = match status {
            ExecutionStatus::TimedOut => "ExecutionTimedOut",
            _ => "ExecutionAborted",
        };
        let (error, cause) = match status {
            ExecutionStatus::TimedOut => (Some(names::TIMEOUT.to_string()), cause),
            _ => (error, cause),
        };
        let mut d = Details::default();
        if let Some(e) = &error {
            d.error = Some(e.clone());
        }
        if let Some(c) = &cause {
            d.cause = Some(c.clone());
        }
        self.record(None, event_type, d);
        self.finish_with(Finish {
            status,
            output: None,
            error,
            cause,
        });
    }

    /// Ends the execution: everything still pending is cancelled.
    fn finish_with(&mut self, finish: Finish) {
        self.snapshot.status = finish.status;
        // Visits still open end with the execution.
        let error = finish.error.clone().or_else(|| match finish.status {
            ExecutionStatus::Aborted => Some(ExecutionStatus::Aborted.as_str().to_string()),
            ExecutionStatus::TimedOut => Some(names::TIMEOUT.to_string()),
            _ => None,
        });
        let open: Vec<StateVisit> = self
            .snapshot
            .frames
            .values()
            .filter(|f| !f.quiet && f.entered_event > 0 && !matches!(f.waiting, Waiting::Enter))
            .filter_map(|f| Some(self.visit_of(f, self.state_of(f)?, error.clone())))
            .collect();
        self.output.states.extend(open);
        if finish.status == ExecutionStatus::Succeeded {
            for frame in self.snapshot.frames.values() {
                if let Waiting::Children(join) = &frame.waiting {
                    if let Some(map) = join.stored_key() {
                        self.output.commands.push(Command::ReleaseStored { map });
                    }
                }
            }
        } else {
            // Kept, with a large Map's stored values, for a redrive.
            self.keep_for_redrive();
        }
        for task in std::mem::take(&mut self.snapshot.tasks).into_keys() {
            self.output.commands.push(Command::CancelTask { task });
        }
        for timer in std::mem::take(&mut self.snapshot.timers).into_keys() {
            self.output.commands.push(Command::CancelTimer { timer });
        }
        self.snapshot.frames.clear();
        self.ready.clear();
        self.output.commands.push(Command::Finish(finish));
    }

    pub(super) fn fail_history_limit(&mut self) {
        let limit = self.snapshot.limits.max_history_events;
        self.end_execution(Err(Failure::runtime(format!(
            "The execution reached the maximum number of history events ({limit})."
        ))));
    }

    pub(super) fn history_exceeded(&self) -> bool {
        self.snapshot.history_len() > self.snapshot.limits.max_history_events as u64
    }
}
