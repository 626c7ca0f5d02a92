//! Redrive: a failed, timed-out or aborted execution runs again from the states that
//! did not succeed, as AWS's `RedriveExecution` does. States that succeeded are not run
//! again; inside a Parallel or Map only the branches and iterations that failed or were
//! aborted run again, and the results of the others are kept.
//!
//! What makes that possible is kept as the execution goes: a frame whose state fails
//! without being caught is *frozen* (kept in `Snapshot::frozen`, set to enter that state
//! again) instead of dropped, and so are the children a failing Parallel or Map aborts,
//! each registered in its parent's join (`Join::redo`). A Parallel or Map frame that
//! fails because of its children is frozen with its join (`Run::failing_join` carries the
//! join from the child's end to the parent's). When the execution ends without
//! succeeding, the frames still running are frozen too and the frozen root becomes
//! `Snapshot::redrive_from`. Frozen frames no redrive can reach (their Parallel or Map
//! was retried or caught, or the execution succeeded) are dropped at the end of each
//! step ([`Run::collect_frozen`]).
//!
//! [`Run::redrive`] records `ExecutionRedriven`, restarts the execution's timeout, and
//! restores the frozen tree: leaf frames enter their state again (retry counts start
//! over), joins relaunch their redone children, failed Map iterations first, within
//! MaxConcurrency.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::history::Details;
use crate::model::StateKind;
use crate::status::ExecutionStatus;

use super::children::CHILD_EXECUTION;
use super::frame::{Frame, Waiting};
use super::join::Join;
use super::run::{Progress, Run};
use super::{Command, FrameId};

impl Run<'_> {
    /// Applies [`super::Event::Redrive`] to an execution that ended without succeeding.
    pub(super) fn redrive(&mut self) {
        if !matches!(
            self.snapshot.status,
            ExecutionStatus::Failed | ExecutionStatus::TimedOut | ExecutionStatus::Aborted
        ) {
            return;
        }
        let count = self.snapshot.info.redrive_count.unwrap_or(0) + 1;
        self.snapshot.info.redrive_count = Some(count);
        if let Some(Value::Object(execution)) = self.snapshot.context.get_mut("Execution") {
            execution.insert("RedriveCount".into(), json!(count));
            execution.insert("RedriveTime".into(), json!(self.now.to_rfc3339_millis()));
        }
        self.snapshot.status = ExecutionStatus::Running;
        let redriven = self.record(
            None,
            "ExecutionRedriven",
            Details {
                redrive_count: Some(count),
                ..Details::default()
            },
        );
        // AWS restarts the machine's TimeoutSeconds with the redrive.
        self.start_execution_timeout();
        match self.snapshot.redrive_from.take() {
            Some(root) if self.snapshot.frozen.contains_key(&root) => {
                self.restore(root, redriven, None);
            }
            // It ended before entering a state (an input over the size limit): it starts
            // over.
            _ => {
                let input = self.snapshot.input.clone();
                let root = self.root_frame(input, redriven);
                self.ready.push_back(root);
            }
        }
        self.drain();
    }

    /// Moves a frozen frame (and the children its join was running) back among the
    /// running frames, ready to advance: a leaf enters its state again; a Parallel or
    /// Map takes up its join (`Join::redriven`, see [`Self::join_redriven`]). Returns
    /// false when there is no such frozen frame.
    fn restore(
        &mut self,
        id: FrameId,
        redriven_event: u64,
        announce: Option<(String, usize)>,
    ) -> bool {
        let Some(mut frame) = self.snapshot.frozen.remove(&id) else {
            return false;
        };
        frame.last_event = redriven_event;
        // A restored EXPRESS iteration counts its five minutes anew (module `express_cap`).
        self.express_iterations_begun |= frame.is_child_execution();
        if !frame.quiet {
            frame.announce_iteration = announce;
        }
        let mut running = Vec::new();
        match &mut frame.waiting {
            Waiting::Children(join) if self.restorable(join) => {
                for (index, redo) in std::mem::take(&mut join.redo) {
                    if redo.failed {
                        join.done = join.done.saturating_sub(1);
                        join.failures = join.failures.saturating_sub(1);
                        if redo.timed_out {
                            join.timed_out = join.timed_out.saturating_sub(1);
                        }
                        if let Some(slot) = join.results.get_mut(index) {
                            *slot = None;
                        }
                    }
                    join.relaunch.push_back((index, redo.frame));
                }
                if let Some(stored) = join.stored.as_deref_mut() {
                    stored.forget_result_bytes();
                }
                join.redriven = true;
                running.extend(join.running.values().copied());
            }
            // A join whose children are lost enters its state again, whole.
            waiting => *waiting = Waiting::Enter,
        }
        self.snapshot.frames.insert(id, frame);
        self.ready.push_back(id);
        for child in running {
            self.restore(child, redriven_event, None);
        }
        true
    }

    /// Whether every child a frozen join names is frozen too.
    fn restorable(&self, join: &Join) -> bool {
        let frozen = &self.snapshot.frozen;
        // A Map's child execution is redriven, not restored from a frame.
        let kept = |c: &FrameId| *c == CHILD_EXECUTION || frozen.contains_key(c);
        join.running.values().all(kept)
            && join.redo.values().all(|r| kept(&r.frame))
            && join.relaunch.iter().all(|(_, c)| kept(c))
    }

    /// A redriven Parallel or Map frame's first advance: it relaunches its redone
    /// children; a Map then starts its next items or ends, a Parallel with nothing left
    /// to run ends.
    pub(super) fn join_redriven(
        &mut self,
        id: FrameId,
        frame: &mut Frame,
        mut join: Box<Join>,
    ) -> Progress {
        join.redriven = false;
        match self.state_of(frame).map(|state| &state.kind) {
            Some(StateKind::Map(map)) => {
                if let Some(run) = join.map_run.as_deref_mut() {
                    run.redrive_count += 1;
                    let details = Details {
                        map_run_arn: Some(run.arn.clone()),
                        redrive_count: Some(run.redrive_count),
                        ..Details::default()
                    };
                    self.record_for_frame(frame, "MapRunRedriven", details);
                }
                self.map_continue(id, frame, join, map)
            }
            Some(StateKind::Parallel(_)) => {
                self.relaunch_redriven(frame, &mut join);
                if !join.running.is_empty() {
                    frame.waiting = Waiting::Children(join);
                    return Progress::Blocked;
                }
                match self.join_complete(frame, *join) {
                    Ok(progress) => progress,
                    Err(failure) => self.handle_error(frame, failure),
                }
            }
            _ => {
                frame.waiting = Waiting::Enter;
                Progress::Blocked
            }
        }
    }

    /// Restarts redriven children of `frame`'s join, within MaxConcurrency for a Map.
    pub(super) fn relaunch_redriven(&mut self, frame: &Frame, join: &mut Join) {
        if join.children {
            self.redrive_map_children(join);
            return;
        }
        let limit = if join.is_map {
            join.max_concurrency
        } else {
            usize::MAX
        };
        while join.running.len() < limit {
            let Some((index, child)) = join.relaunch.pop_front() else {
                break;
            };
            let announce = join.is_map.then(|| (frame.state.clone(), index));
            if self.restore(child, frame.last_event, announce) {
                join.running.insert(index, child);
            }
        }
    }

    /// A frame's state failed and nothing caught it: it is kept to enter that state
    /// again on a redrive, with the join that failed it if it is a Parallel or Map.
    pub(super) fn freeze_failed(&mut self, frame: &Frame) {
        let mut frozen = frame.clone();
        frozen.input_text = None;
        frozen.waiting = match self.failing_join.take() {
            Some((id, join)) if id == frame.id => Waiting::Children(join),
            other => {
                self.failing_join = other;
                Waiting::Enter
            }
        };
        self.snapshot.frozen.insert(frame.id, frozen);
    }

    /// Stops a running frame and everything below it, cancelling their tasks and
    /// timers, and keeps them frozen: each leaf enters its state again on a redrive.
    pub(super) fn freeze_subtree(&mut self, id: FrameId) {
        let mut stack = vec![id];
        while let Some(id) = stack.pop() {
            let Some(mut frame) = self.snapshot.frames.remove(&id) else {
                continue;
            };
            self.drop_express_cap(&mut frame);
            frame.waiting = match std::mem::replace(&mut frame.waiting, Waiting::Enter) {
                Waiting::Task {
                    task,
                    timeout_timer,
                } => {
                    self.snapshot.tasks.remove(&task);
                    self.output.commands.push(Command::CancelTask { task });
                    if let Some(timer) = timeout_timer {
                        self.cancel_timer(timer);
                    }
                    Waiting::Enter
                }
                Waiting::Timer(timer) => {
                    self.cancel_timer(timer);
                    Waiting::Enter
                }
                Waiting::ReadingItems { task } => {
                    self.snapshot.tasks.remove(&task);
                    self.output.commands.push(Command::CancelTask { task });
                    Waiting::Enter
                }
                Waiting::ItemsRead(_) => Waiting::Enter,
                Waiting::WritingResults { task, .. } => {
                    self.snapshot.tasks.remove(&task);
                    self.output.commands.push(Command::CancelTask { task });
                    Waiting::Enter
                }
                Waiting::ResultsWritten(_) => Waiting::Enter,
                // A failed run stopped while writing its results: kept as the failed
                // Map it is, for a redrive to run its failed items again.
                Waiting::FailingWritingResults { task, failed } => {
                    self.snapshot.tasks.remove(&task);
                    self.output.commands.push(Command::CancelTask { task });
                    Waiting::Children(failed.join)
                }
                Waiting::FailedResultsWritten(failed) => Waiting::Children(failed.join),
                // A Map's child executions have no frames here: the driver stops them
                // with the run, and they are kept as aborted, for a redrive to redrive
                // them (as `abort_children` keeps them when the run fails).
                Waiting::Children(mut join) if join.children => {
                    join.keep_running_children_as_aborted();
                    Waiting::Children(join)
                }
                Waiting::Children(join) => {
                    stack.extend(join.running.values().copied());
                    Waiting::Children(join)
                }
                Waiting::Enter | Waiting::Retry => Waiting::Enter,
            };
            frame.input_text = None;
            self.snapshot.frozen.insert(id, frame);
        }
    }

    fn cancel_timer(&mut self, timer: u64) {
        self.snapshot.timers.remove(&timer);
        self.output.commands.push(Command::CancelTimer { timer });
    }

    /// The execution ended without succeeding: what still runs is frozen, and the
    /// frozen root is where a redrive starts.
    pub(super) fn keep_for_redrive(&mut self) {
        let running: Vec<FrameId> = self.snapshot.frames.keys().copied().collect();
        for id in running {
            self.freeze_subtree(id);
        }
        self.snapshot.redrive_from = self
            .snapshot
            .frozen
            .iter()
            .find(|(_, frame)| frame.parent.is_none())
            .map(|(id, _)| *id);
    }

    /// [`Self::handle_error_with`] for a Parallel or Map that failed with its `join`:
    /// if the failure is not retried or caught, the frame is frozen with the join (see
    /// [`Self::freeze_failed`]); otherwise the join goes, and a large Map's stored
    /// values with it.
    pub(super) fn handle_error_failing_join(
        &mut self,
        frame: &mut Frame,
        join: Box<Join>,
        failure: crate::error::Failure,
        final_events: &[&str],
    ) -> Progress {
        self.failing_join = Some((frame.id, join));
        let progress = self.handle_error_with(frame, failure, final_events);
        if let Some((_, join)) = self.failing_join.take() {
            if let Some(map) = join.stored_key() {
                self.output.commands.push(Command::ReleaseStored { map });
            }
        }
        progress
    }

    /// Drops the frozen frames no redrive can reach: below a Parallel or Map that was
    /// retried or caught, or all of them once the execution succeeded. A large Map's
    /// stored values go with its frame.
    pub(super) fn collect_frozen(&mut self) {
        if self.snapshot.frozen.is_empty() {
            return;
        }
        let mut stack: Vec<FrameId> = Vec::new();
        if self.snapshot.status != ExecutionStatus::Succeeded {
            stack.extend(self.snapshot.redrive_from);
        }
        for frame in self.snapshot.frames.values() {
            match &frame.waiting {
                Waiting::Children(join) => stack.extend(kept_children(join)),
                Waiting::FailingWritingResults { failed, .. }
                | Waiting::FailedResultsWritten(failed) => {
                    stack.extend(kept_children(&failed.join))
                }
                _ => {}
            }
        }
        let mut keep = BTreeSet::new();
        while let Some(id) = stack.pop() {
            if !keep.insert(id) {
                continue;
            }
            if let Some(Frame {
                waiting: Waiting::Children(join),
                ..
            }) = self.snapshot.frozen.get(&id)
            {
                stack.extend(join.running.values().copied());
                stack.extend(kept_children(join));
            }
        }
        let dropped: Vec<FrameId> = self
            .snapshot
            .frozen
            .keys()
            .filter(|id| !keep.contains(id))
            .copied()
            .collect();
        for id in dropped {
            if let Some(Frame {
                waiting: Waiting::Children(join),
                ..
            }) = self.snapshot.frozen.remove(&id)
            {
                if let Some(map) = join.stored_key() {
                    self.output.commands.push(Command::ReleaseStored { map });
                }
            }
        }
    }
}

/// The frozen children a join keeps for a redrive, or to relaunch.
fn kept_children(join: &Join) -> impl Iterator<Item = FrameId> + '_ {
    join.redo
        .values()
        .map(|redo| redo.frame)
        .chain(join.relaunch.iter().map(|(_, child)| *child))
}
