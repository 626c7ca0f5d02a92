//! A STANDARD Distributed Map's iterations as child executions.
//!
//! Such a Map creates no frames for its iterations: for each item it asks the driver to
//! start a child execution ([`Command::StartMapChild`]) running the Map's ItemProcessor
//! with the item (after ItemSelector) as its input, and counts it running in its join.
//! The child's end comes back as [`Event::MapChildEnded`], which the join takes in as it
//! takes in a frame's end (results, tolerated failures, the Map Run's counts). So the
//! number of running children is in the parent's snapshot: MaxConcurrency holds however
//! many replicas advance the children, and across restarts.
//!
//! One step starts at most [`MAX_CHILD_STARTS_PER_STEP`] children, so that one commit
//! stays bounded; the rest start on [`Event::Resume`], which
//! [`Snapshot::needs_resume`](super::Snapshot::needs_resume) asks the driver for.
//!
//! When the Map Run ends without succeeding (a failure past the tolerance, the
//! execution stopped, timed out or failed), the driver stops its children still running:
//! the parent no longer waits for them, and an end they report later changes nothing.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::distributed::map_run::{child_name, MapRunArn};
use crate::error::Failure;

use super::frame::{Frame, ScopeStep, Waiting};
use super::join::Join;
use super::run::Run;
use super::{Command, FrameId, Snapshot};
use crate::model::StateKind;
use crate::timestamp::Timestamp;

/// Most children one step starts; the others wait for [`super::Event::Resume`].
pub const MAX_CHILD_STARTS_PER_STEP: usize = 500;

/// The join's `running` entry of an iteration that runs as a child execution: no frame
/// of this execution (frame ids count from 1).
pub(super) const CHILD_EXECUTION: FrameId = 0;

/// A child execution to start for a Map iteration, in the same commit as the step that
/// asks for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapChildStart {
    pub map_run_arn: String,
    /// The item's index in the Map.
    pub index: u64,
    /// `…:execution:<machine>/<label>:<name>`, as AWS names a Map Run's children.
    pub execution_arn: String,
    pub name: String,
    /// `…:stateMachine:<machine>/<label>`.
    pub state_machine_arn: String,
    /// The item after ItemSelector: the child execution's input.
    pub input: Value,
    /// Where the Map state's ItemProcessor sits in this execution's machine: the child
    /// runs that machine (see [`super::machine_at`]).
    pub processor: Vec<ScopeStep>,
}

/// A child execution that failed or was aborted, to redrive (RedriveExecution) because
/// its parent was redriven: it runs again from where it stopped, and ends with
/// [`Event::MapChildEnded`] again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapChildRedrive {
    pub map_run_arn: String,
    pub index: u64,
    pub execution_arn: String,
}

/// When a Map's child execution started and stopped, as its DescribeExecution says.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChildDates {
    pub start: Timestamp,
    pub stop: Timestamp,
}

/// How a Map's child execution ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MapChildOutcome {
    Succeeded {
        output: Value,
    },
    /// Failed or aborted, with the child's error and cause.
    Failed {
        error: String,
        cause: Option<String>,
    },
    /// Timed out (`States.Timeout`): a failure to the Map's tolerance, counted as timed
    /// out in its Map Run and its ResultWriter record.
    TimedOut {
        error: String,
        cause: Option<String>,
    },
}

impl Snapshot {
    /// Whether a Map that runs its iterations as child executions has items left to
    /// start and room under its MaxConcurrency (one step's starts are bounded).
    pub(super) fn children_to_start(&self) -> bool {
        self.frames.values().any(|frame| match &frame.waiting {
            Waiting::Children(join) => {
                join.children
                    && (join_has_room(join)
                        || (!join.relaunch.is_empty() && join.running.len() < join.max_concurrency))
            }
            _ => false,
        })
    }
}

fn join_has_room(join: &Join) -> bool {
    join.next_item < join.total() && join.running.len() < join.max_concurrency
}

impl Run<'_> {
    /// Starts the child execution of iteration `index` with `input`, counted running.
    pub(super) fn start_map_child(
        &mut self,
        frame: &Frame,
        join: &mut Join,
        index: usize,
        input: Value,
    ) {
        let Some(run) = join.map_run.as_ref() else {
            return;
        };
        let Some(arn) = MapRunArn::parse(&run.arn) else {
            return;
        };
        let name = child_name(&run.arn, index as u64);
        let mut processor = frame.scope.clone();
        processor.push(ScopeStep {
            state: frame.state.clone(),
            branch: 0,
        });
        self.children_started += 1;
        join.running.insert(index, CHILD_EXECUTION);
        self.output
            .commands
            .push(Command::StartMapChild(MapChildStart {
                map_run_arn: run.arn.clone(),
                index: index as u64,
                execution_arn: arn.child_execution_arn(&name),
                state_machine_arn: arn.child_state_machine_arn(),
                name,
                input,
                processor,
            }));
    }

    /// Redrives the failed or aborted children a redrive of this execution restored,
    /// while below MaxConcurrency (AWS redrives a Map Run's children, not its items).
    pub(super) fn redrive_map_children(&mut self, join: &mut Join) {
        let Some(run) = join.map_run.as_ref() else {
            return;
        };
        let Some(arn) = MapRunArn::parse(&run.arn) else {
            return;
        };
        while join.running.len() < join.max_concurrency && self.may_start_child() {
            let Some((index, _)) = join.relaunch.pop_front() else {
                break;
            };
            self.children_started += 1;
            join.running.insert(index, CHILD_EXECUTION);
            self.output
                .commands
                .push(Command::RedriveMapChild(MapChildRedrive {
                    map_run_arn: run.arn.clone(),
                    index: index as u64,
                    execution_arn: arn.child_execution_arn(&child_name(&run.arn, index as u64)),
                }));
        }
    }

    /// Whether this step may start another child execution.
    pub(super) fn may_start_child(&self) -> bool {
        self.children_started < MAX_CHILD_STARTS_PER_STEP
    }

    /// A child execution of the Map Run `map_run_arn` ended: its join takes it in. An end
    /// no running Map waits for (the run ended, or the end came twice) changes nothing.
    pub(super) fn map_child_ended(
        &mut self,
        map_run_arn: &str,
        index: u64,
        outcome: MapChildOutcome,
        dates: Option<ChildDates>,
    ) {
        let index = index as usize;
        let found = self
            .snapshot
            .frames
            .iter()
            .find_map(|(id, frame)| match &frame.waiting {
                Waiting::Children(join)
                    if join.children
                        && join.running.get(&index) == Some(&CHILD_EXECUTION)
                        && join
                            .map_run
                            .as_ref()
                            .is_some_and(|run| run.arn == map_run_arn) =>
                {
                    Some((*id, frame.last_event))
                }
                _ => None,
            });
        let Some((frame_id, last_event)) = found else {
            return;
        };
        // The dates go to the ResultWriter's records, so a Map without one keeps none;
        // nor does a Map kept as rows, whose snapshot must not grow with its children
        // (its records carry the run's dates).
        let writes_results = self
            .snapshot
            .frames
            .get(&frame_id)
            .and_then(|frame| self.state_of(frame))
            .is_some_and(
                |state| matches!(&state.kind, StateKind::Map(map) if map.result_writer.is_some()),
            );
        if let (Some(dates), true) = (dates, writes_results) {
            if let Some(Waiting::Children(join)) = self
                .snapshot
                .frames
                .get_mut(&frame_id)
                .map(|frame| &mut frame.waiting)
            {
                if join.stored.is_none() {
                    join.child_dates.insert(index, dates);
                }
            }
        }
        let (result, timed_out) = match outcome {
            MapChildOutcome::Succeeded { output } => (Ok(output), false),
            MapChildOutcome::Failed { error, cause } => (Err(Failure { error, cause }), false),
            MapChildOutcome::TimedOut { error, cause } => (Err(Failure { error, cause }), true),
        };
        self.child_ended(frame_id, index, result, last_event, timed_out);
    }

    /// On [`super::Event::Resume`]: Maps that held back child starts start them now.
    pub(super) fn resume_map_children(&mut self) {
        let ids: Vec<FrameId> = self
            .snapshot
            .frames
            .iter()
            .filter(|(_, frame)| {
                matches!(&frame.waiting, Waiting::Children(join) if join.children
                    && (join_has_room(join) || !join.relaunch.is_empty()))
            })
            .map(|(id, _)| *id)
            .collect();
        for frame_id in ids {
            let Some(mut frame) = self.snapshot.frames.remove(&frame_id) else {
                continue;
            };
            let Waiting::Children(join) = std::mem::replace(&mut frame.waiting, Waiting::Enter)
            else {
                self.snapshot.frames.insert(frame_id, frame);
                continue;
            };
            let Some(StateKind::Map(map)) = self.state_of(&frame).map(|s| &s.kind) else {
                frame.waiting = Waiting::Children(join);
                self.snapshot.frames.insert(frame_id, frame);
                continue;
            };
            let progress = self.map_continue(frame_id, &mut frame, join, map);
            self.put_back(frame_id, frame, progress);
        }
    }
}
