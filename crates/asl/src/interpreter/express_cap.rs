//! The five minutes an EXPRESS Distributed Map iteration may run.
//!
//! On AWS each such iteration is an Express child execution, which ends `TIMED_OUT`
//! with `States.Timeout` once it has run for [`EXPRESS_MAX_SECONDS`]; the Map Run
//! counts it as a failed child that timed out, toward its tolerated failures. Cairn runs
//! the iteration as a frame of this execution ([`ChildScope::Express`]), so the cap is a
//! timer of this execution ([`TimerPurpose::ExpressCap`]), due at the iteration's start
//! plus the cap. When it fires while the iteration still runs, the iteration and
//! everything nested in it are stopped as a failing Map stops its running iterations
//! (`Run::freeze_subtree`: tasks and timers cancelled, frames kept for a redrive), and
//! the Map takes in a timed-out child.
//!
//! A timer is an inbox row to a durable driver, so an iteration gets one only when it
//! is still running at the end of the step that started it ([`Run::start_express_caps`]):
//! the many iterations that end within that step (a few Pass or Choice states) cost
//! none. The timer is cancelled when the iteration ends first.

use crate::error::{names, Failure};
use crate::status::ExecutionStatus;

use super::context::ChildScope;
use super::frame::{Frame, TimerPurpose};
use super::run::Run;
use super::{Command, FrameId, EXPRESS_MAX_SECONDS};

impl Run<'_> {
    /// At the end of a step: every EXPRESS iteration still running without a cap timer
    /// gets one, due [`EXPRESS_MAX_SECONDS`] after it began (after now, for one a
    /// redrive restored).
    pub(super) fn start_express_caps(&mut self) {
        if !self.express_iterations_begun || self.snapshot.status != ExecutionStatus::Running {
            return;
        }
        let now = self.now;
        let mut uncapped = Vec::new();
        for (id, frame) in &mut self.snapshot.frames {
            if let Some(ChildScope::Express(child)) = &mut frame.child {
                if child.cap_timer.is_none() {
                    let started = *child.started.get_or_insert(now);
                    uncapped.push((*id, started.plus_seconds(EXPRESS_MAX_SECONDS as f64)));
                }
            }
        }
        for (id, due) in uncapped {
            let timer = self.new_timer(TimerPurpose::ExpressCap(id));
            if let Some(Some(ChildScope::Express(child))) =
                self.snapshot.frames.get_mut(&id).map(|f| f.child.as_mut())
            {
                child.cap_timer = Some(timer);
            }
            self.output
                .commands
                .push(Command::StartTimer { timer, due });
        }
    }

    /// `frame` ended or was stopped: if it is an EXPRESS iteration, its cap no longer
    /// matters, and a redrive that restores it counts a new one.
    pub(super) fn drop_express_cap(&mut self, frame: &mut Frame) {
        let Some(ChildScope::Express(child)) = &mut frame.child else {
            return;
        };
        child.started = None;
        if let Some(timer) = child.cap_timer.take() {
            if self.snapshot.timers.remove(&timer).is_some() {
                self.output.commands.push(Command::CancelTimer { timer });
            }
        }
    }

    /// The cap of the EXPRESS iteration `frame_id` was reached: if it still runs, it is
    /// stopped and its Map takes it in as a child that timed out.
    pub(super) fn express_cap_reached(&mut self, frame_id: FrameId) {
        let Some(frame) = self.snapshot.frames.get_mut(&frame_id) else {
            return;
        };
        let Some((parent, index)) = frame.parent else {
            return;
        };
        let last_event = frame.last_event;
        // Its timer has fired: nothing to cancel.
        if let Some(ChildScope::Express(child)) = &mut frame.child {
            child.cap_timer = None;
        }
        self.freeze_subtree(frame_id);
        let failure = Failure::new(
            names::TIMEOUT,
            format!(
                "The execution ran longer than the {EXPRESS_MAX_SECONDS} seconds an Express \
                 execution may last"
            ),
        );
        self.child_ended(parent, index, Err(failure), last_event, true);
    }
}
