//! Parallel and Map states wait for their children: the [`Join`], starting child frames
//! and Map iterations, taking in a child's end, leaving the state once all are done, and
//! aborting the children still running.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map as JsonMap, Value};

use crate::error::{names, Failure};
use crate::history::Details;
use crate::model::{ChildExecutionType, ProcessorMode, StateKind, StateMachine};

use super::children::CHILD_EXECUTION;
use super::context::{ChildScope, ExpressChild};
use super::frame::{Frame, ScopeStep, Waiting};
use super::item_selector::{has_selector, items_in};
use super::map_run::{MapRunConfig, MapRunStatus};
use super::record::details;
use super::retry::error_output;
use super::run::{Progress, Run};
use super::stored::{StoredKind, StoredMap};
use super::FrameId;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Join {
    pub(super) is_map: bool,
    /// The state's input after InputPath (Map's ItemSelector reads it).
    pub(super) effective_input: Value,
    /// Map: the items still to start, by index.
    pub(super) items: Vec<Value>,
    pub(super) next_item: usize,
    pub(super) running: BTreeMap<usize, FrameId>,
    pub(super) results: Vec<Option<Value>>,
    pub(super) done: usize,
    pub(super) failures: u64,
    /// Of `failures`, the children that timed out: EXPRESS iterations past their five
    /// minutes (module `express_cap`) and STANDARD child executions.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub(super) timed_out: u64,
    pub(super) tolerated_failures: Option<u64>,
    pub(super) max_concurrency: usize,
    /// A large Map's items, results and input kept by the driver (`items` and
    /// `results` are then empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) stored: Option<Box<StoredMap>>,
    /// Children that failed or were aborted, by index: their frames wait in
    /// `Snapshot::frozen` for a redrive to run them again.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) redo: BTreeMap<usize, Redo>,
    /// Redriven children not restarted yet (MaxConcurrency was reached): they start
    /// before the items not started at all.
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    pub(super) relaunch: VecDeque<(usize, FrameId)>,
    /// Restored by a redrive and not advanced since: its next advance relaunches what
    /// it must run again (`Run::join_redriven`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(super) redriven: bool,
    /// A Distributed Map's Map Run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) map_run: Option<Box<MapRunConfig>>,
    /// A STANDARD Distributed Map's iterations run as child executions (module
    /// `children`), not as frames.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(super) children: bool,
    /// With `children` and a ResultWriter: when each ended child started and stopped,
    /// by index, for its result record.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) child_dates: BTreeMap<usize, super::children::ChildDates>,
    /// A Map with an `ItemBatcher` and an `ItemSelector`: how many items the batches
    /// started so far held, so the index of the next batch's first item in the whole
    /// item list (its items' `$$.Map.Item.Index` counts on from there).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(super) batched_items: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

/// A child of a join kept for a redrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Redo {
    pub(super) frame: FrameId,
    /// A Map iteration that failed (rather than being aborted): it counts in `done` and
    /// `failures`, and a tolerated one left its error output as its result.
    pub(super) failed: bool,
    /// A failed iteration that timed out: it counts in `Join::timed_out` too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(super) timed_out: bool,
}

impl Join {
    /// The child executions still running are stopped with the run or their parent
    /// (by the driver): kept as aborted, for a redrive to redrive them.
    pub(super) fn keep_running_children_as_aborted(&mut self) {
        for (index, _) in std::mem::take(&mut self.running) {
            self.redo.insert(
                index,
                Redo {
                    frame: CHILD_EXECUTION,
                    failed: false,
                    timed_out: false,
                },
            );
        }
    }

    /// The key of the values the driver keeps for this join, if it keeps any.
    pub(super) fn stored_key(&self) -> Option<u64> {
        self.stored.as_ref().map(|stored| stored.map)
    }

    /// How many children the join waits for in all.
    pub(super) fn total(&self) -> usize {
        self.stored
            .as_ref()
            .map_or(self.results.len(), |stored| stored.total)
    }
}

impl Run<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn child_frame(
        &mut self,
        parent_id: FrameId,
        parent: &Frame,
        index: usize,
        scope_branch: usize,
        machine: &StateMachine,
        input: Value,
        quiet: bool,
        announce_iteration: Option<(String, usize)>,
    ) -> FrameId {
        let mut scope = parent.scope.clone();
        scope.push(ScopeStep {
            state: parent.state.clone(),
            branch: scope_branch,
        });
        let frame = Frame {
            id: 0,
            scope,
            parent: Some((parent_id, index)),
            quiet,
            announce_iteration,
            state: machine.start_at.clone(),
            input,
            input_text: None,
            entered_event: 0,
            entered_time: self.now,
            last_event: parent.last_event,
            retries: Vec::new(),
            waiting: Waiting::Enter,
            variables: JsonMap::new(),
            child: parent.nested_child_scope(parent_id),
        };
        self.add_frame(frame)
    }

    /// Starts Map iterations while below MaxConcurrency.
    pub(super) fn launch_iterations(
        &mut self,
        frame_id: FrameId,
        frame: &mut Frame,
        join: &mut Join,
        map: &crate::model::Map,
    ) -> Result<(), Failure> {
        let distributed = map.mode == ProcessorMode::Distributed;
        self.relaunch_redriven(frame, join);
        while join.next_item < join.total() && join.running.len() < join.max_concurrency {
            if join.children && !self.may_start_child() {
                break;
            }
            let index = join.next_item;
            let item = match join.stored.as_mut() {
                // The rest arrive through `Snapshot::restore`.
                Some(stored) => match stored.buffer.pop_front() {
                    Some(item) => item,
                    None => break,
                },
                // A ResultWriter's records carry each child's input: kept until written
                // (the item, then what ItemSelector made of it, below).
                None if map.result_writer.is_some() => join.items[index].clone(),
                None => std::mem::take(&mut join.items[index]),
            };
            join.next_item += 1;
            let input = if has_selector(map) {
                // With an ItemBatcher, `item` is a batch of the items as read.
                let first_item = if map.item_batcher.is_some() {
                    join.batched_items
                } else {
                    index
                };
                let selected =
                    self.iteration_input(frame, &join.effective_input, map, first_item, &item);
                match selected {
                    Ok(input) => {
                        if map.item_batcher.is_some() {
                            join.batched_items += items_in(&item);
                        }
                        input
                    }
                    Err(failed) => {
                        if map.item_selector.is_some() {
                            // The item goes back, unstarted, for a redrive to select
                            // again.
                            join.next_item = index;
                            match join.stored.as_deref_mut() {
                                Some(stored) => stored.buffer.push_front(item),
                                None => join.items[index] = item,
                            }
                        }
                        if let Some(stored) = join.stored.as_deref_mut() {
                            stored.failed_selection(failed.index, failed.item);
                        }
                        return Err(failed.failure);
                    }
                }
            } else {
                item
            };
            if map.result_writer.is_some() {
                // As on AWS, a record's `Input` is the child's input.
                match join.stored_key() {
                    None => join.items[index] = input.clone(),
                    // The item's row is not read again once started: it becomes the
                    // record's input.
                    Some(key) if has_selector(map) => {
                        self.store_value(key, StoredKind::Item, index, input.clone())
                    }
                    Some(_) => {}
                }
            }
            if join.children {
                self.start_map_child(frame, join, index, input);
                continue;
            }
            let announce = if distributed || frame.quiet {
                None
            } else {
                Some((frame.state.clone(), index))
            };
            let quiet = distributed || frame.quiet;
            let child = self.child_frame(
                frame_id,
                frame,
                index,
                0,
                &map.item_processor,
                input,
                quiet,
                announce,
            );
            if distributed && map.execution_type == ChildExecutionType::Express {
                self.make_express_child(child, join, index);
            }
            join.running.insert(index, child);
            self.ready.push_back(child);
        }
        Ok(())
    }

    /// Makes the iteration frame `child` of an EXPRESS Distributed Map stand for the
    /// Express child execution AWS would run for item `index` (module `context`). A
    /// Map without a Map Run (nested in another Distributed Map's iterations, or in an
    /// Express execution) leaves it as it is.
    fn make_express_child(&mut self, child: FrameId, join: &Join, index: usize) {
        let Some(run) = join.map_run.as_ref() else {
            return;
        };
        let Some(frame) = self.snapshot.frames.get_mut(&child) else {
            return;
        };
        let express = ExpressChild::new(&run.arn, index, &frame.input, frame.entered_time);
        frame.child = Some(ChildScope::Express(Box::new(express)));
        self.express_iterations_begun = true;
    }

    /// A child frame ended: record it in its parent's join. `timed_out`: the child
    /// timed out (an EXPRESS iteration past its five minutes, or a STANDARD child
    /// execution); `result` is its `States.Timeout`.
    pub(super) fn child_ended(
        &mut self,
        parent_id: FrameId,
        index: usize,
        result: Result<Value, Failure>,
        child_last_event: u64,
        timed_out: bool,
    ) {
        let Some(mut parent) = self.snapshot.frames.remove(&parent_id) else {
            return;
        };
        let Waiting::Children(mut join) = std::mem::replace(&mut parent.waiting, Waiting::Enter)
        else {
            self.snapshot.frames.insert(parent_id, parent);
            return;
        };
        // A child that failed left its frame frozen for a redrive (`frame_ended`).
        // A child execution is not frozen here: a redrive redrives the execution.
        let frozen_child = join
            .running
            .remove(&index)
            .filter(|child| *child == CHILD_EXECUTION || self.snapshot.frozen.contains_key(child));
        let Some(state) = self.state_of(&parent) else {
            return;
        };
        let progress = match (result, &state.kind) {
            (Ok(value), StateKind::Map(map)) => {
                if !parent.quiet && map.mode == ProcessorMode::Inline {
                    self.record(
                        Some(child_last_event),
                        "MapIterationSucceeded",
                        details([
                            ("name", Value::String(parent.state.clone())),
                            ("index", json!(index)),
                        ]),
                    );
                }
                self.keep_result(&mut join, index, value);
                join.done += 1;
                self.map_continue(parent_id, &mut parent, join, map)
            }
            (Err(failure), StateKind::Map(map)) => {
                if !parent.quiet && map.mode == ProcessorMode::Inline {
                    let mut d = details([
                        ("name", Value::String(parent.state.clone())),
                        ("index", json!(index)),
                    ]);
                    d.error = Some(failure.error.clone());
                    if let Some(cause) = &failure.cause {
                        d.cause = Some(cause.clone());
                    }
                    self.record(Some(child_last_event), "MapIterationFailed", d);
                }
                join.failures += 1;
                if timed_out {
                    join.timed_out += 1;
                }
                join.done += 1;
                if let Some(frame) = frozen_child {
                    join.redo.insert(
                        index,
                        Redo {
                            frame,
                            failed: true,
                            timed_out,
                        },
                    );
                }
                match join.tolerated_failures {
                    Some(tolerated) if join.failures <= tolerated => {
                        self.keep_result(&mut join, index, error_output(&failure));
                        self.map_continue(parent_id, &mut parent, join, map)
                    }
                    tolerance => {
                        self.abort_children(&mut join);
                        if map.mode == ProcessorMode::Distributed {
                            // The failed item's record, for a ResultWriter (a redrive
                            // runs it again whatever it holds).
                            self.keep_result(&mut join, index, error_output(&failure));
                        }
                        let failure = if tolerance.is_some() {
                            Failure::new(
                                names::EXCEED_TOLERATED_FAILURE_THRESHOLD,
                                "The specified tolerated failure threshold was exceeded",
                            )
                        } else {
                            failure
                        };
                        self.report_map_run(&join, MapRunStatus::Failed);
                        if map.mode == ProcessorMode::Distributed {
                            self.write_failed_run_results(
                                parent_id,
                                &mut parent,
                                map,
                                join,
                                failure,
                                &["MapRunFailed", "MapStateFailed"],
                            )
                        } else {
                            self.map_failed(&mut parent, join, failure, &["MapStateFailed"])
                        }
                    }
                }
            }
            (Ok(value), StateKind::Parallel(_)) => {
                join.results[index] = Some(value);
                join.done += 1;
                if join.done == join.results.len() {
                    match self.join_complete(&mut parent, *join) {
                        Ok(p) => p,
                        Err(f) => self.handle_error(&mut parent, f),
                    }
                } else {
                    parent.waiting = Waiting::Children(join);
                    Progress::Blocked
                }
            }
            (Err(failure), StateKind::Parallel(_)) => {
                if let Some(frame) = frozen_child {
                    join.redo.insert(
                        index,
                        Redo {
                            frame,
                            failed: false,
                            timed_out: false,
                        },
                    );
                }
                self.abort_children(&mut join);
                self.handle_error_failing_join(&mut parent, join, failure, &["ParallelStateFailed"])
            }
            _ => Progress::Blocked,
        };
        self.put_back(parent_id, parent, progress);
    }

    pub(super) fn map_continue(
        &mut self,
        parent_id: FrameId,
        parent: &mut Frame,
        mut join: Box<Join>,
        map: &crate::model::Map,
    ) -> Progress {
        if join.done == join.total() {
            if map.mode == ProcessorMode::Distributed {
                self.record_for_frame(parent, "MapRunSucceeded", Details::default());
            }
            self.report_map_run(&join, MapRunStatus::Succeeded);
            if map.mode == ProcessorMode::Distributed {
                if let Some(state) = self.state_of(parent) {
                    match self.request_results_write(parent_id, parent, state, map, &join) {
                        Ok(Some(progress)) => return progress,
                        Ok(None) => {}
                        Err(f) => return self.handle_error(parent, f),
                    }
                }
            }
            if join.stored.is_some() {
                if self
                    .state_of(parent)
                    .is_some_and(|state| self.stored_results_exceed(&join, state))
                {
                    // As `join_complete` then `complete` would: the Map ends and its
                    // result is too large; only the input is loaded for Retry/Catch.
                    self.record_for_frame(parent, "MapStateSucceeded", Details::default());
                    let failure = super::data::data_limit(&parent.state);
                    return self.map_failed(parent, join, failure, &[]);
                }
                // Joined once the driver gives the results back (`resume_stored`).
                parent.waiting = Waiting::Children(join);
                return Progress::Blocked;
            }
            return match self.join_complete(parent, *join) {
                Ok(p) => p,
                Err(f) => self.handle_error(parent, f),
            };
        }
        if let Err(failure) = self.launch_iterations(parent_id, parent, &mut join, map) {
            self.abort_children(&mut join);
            self.report_map_run(&join, MapRunStatus::Failed);
            return self.map_failed(parent, join, failure, &[]);
        }
        self.report_map_run(&join, MapRunStatus::Running);
        parent.waiting = Waiting::Children(join);
        Progress::Blocked
    }

    /// All children of a Parallel or Map succeeded: build the result and leave the state.
    pub(super) fn join_complete(
        &mut self,
        frame: &mut Frame,
        join: Join,
    ) -> Result<Progress, Failure> {
        let state = self
            .state_of(frame)
            .ok_or_else(|| Failure::runtime("missing state"))?;
        let results = Value::Array(
            join.results
                .into_iter()
                .map(|r| r.unwrap_or(Value::Null))
                .collect(),
        );
        let (selector, result_path, next) = match &state.kind {
            StateKind::Parallel(p) => {
                self.record_for_frame(frame, "ParallelStateSucceeded", Details::default());
                (p.result_selector.as_ref(), &p.result_path, &p.next)
            }
            StateKind::Map(m) => {
                self.record_for_frame(frame, "MapStateSucceeded", Details::default());
                (m.result_selector.as_ref(), &m.result_path, &m.next)
            }
            _ => return Err(Failure::runtime("join on a state without children")),
        };
        self.complete(frame, state, results, selector, result_path, next)
    }

    /// Stops the running children of a join (and their descendants), cancelling their
    /// tasks and timers; their frames are frozen for a redrive (`redo`).
    pub(super) fn abort_children(&mut self, join: &mut Join) {
        if join.children {
            // Child executions: the driver stops them once the Map Run ends, and a
            // redrive redrives them.
            join.keep_running_children_as_aborted();
            return;
        }
        for (index, child) in std::mem::take(&mut join.running) {
            self.freeze_subtree(child);
            join.redo.insert(
                index,
                Redo {
                    frame: child,
                    failed: false,
                    timed_out: false,
                },
            );
        }
    }
}
