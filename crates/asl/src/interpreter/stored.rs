//! Large inline Maps, and Maps whose items a reader wrote as rows (module
//! `item_source`), kept out of the snapshot (see [`Limits::store_map_items_over`]).
//!
//! A durable driver rewrites an execution's snapshot at every step. A Map that held all
//! its items, its results so far and its input there would make each step cost as much
//! as the whole Map, and the Map as a whole cost the square of its size. Instead, such a
//! Map hands its values to the driver as [`Command::Store`] when it starts (the items
//! past a small buffer, and its input) and as each iteration ends (the result), and
//! keeps only the running iterations and counters. Before each step the driver gives
//! back what [`Snapshot::wanted`] asks for ([`Snapshot::restore`]): the next items to
//! start, and, once every iteration has ended (or the Map has failed), the results and
//! the input that leaving the state needs. Both are taken up on [`super::Event::Resume`],
//! which the driver queues when [`Snapshot::needs_resume`] says so.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::frame::{Frame, Waiting};
use super::join::Join;
use super::run::{Progress, Run};
use super::{Command, ExecutionStatus, FrameId, Limits, Snapshot};
use crate::error::Failure;
use crate::model::{State, StateKind};

/// Which of a Map's values a [`StoredValue`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum StoredKind {
    /// An item not started yet.
    Item,
    /// An iteration's output (or, for a tolerated failure, its error output).
    Result,
    /// The Map state's input: ResultPath, Catch and Retry need it when the Map ends.
    Input,
}

/// One value a large Map keeps outside the snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredValue {
    /// Names the Map run the value belongs to: the id of its `MapStateStarted` event.
    pub map: u64,
    pub kind: StoredKind,
    /// The item's or result's index; 0 for the input.
    pub index: u64,
    pub value: Value,
}

/// What the next step needs of one Map's stored values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wanted {
    pub map: u64,
    /// The stored items from index `items_from` on, at most `items` of them.
    pub items_from: u64,
    pub items: u64,
    /// Every result, and the input.
    pub results_and_input: bool,
    /// With `results_and_input`: the input only, the Map failed and its results are
    /// not needed (they stay stored for a redrive or a ResultWriter).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub input_only: bool,
}

/// The part of a large Map's join the snapshot keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct StoredMap {
    pub(super) map: u64,
    pub(super) total: usize,
    /// How many items the buffer is refilled up to.
    chunk: usize,
    /// Items loaded and not started, from `Join::next_item` on.
    pub(super) buffer: VecDeque<Value>,
    /// The results, once given back (all of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    results: Option<Vec<Option<Value>>>,
    /// The state's input, once given back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    input: Option<Value>,
    /// Why the Map failed, and the events to record if it is not retried: handled once
    /// the input is back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failure: Option<(Failure, Vec<String>)>,
    /// The ItemSelector does not read the state's input, which is left out of the
    /// join: an error it raises is evaluated again with the input back, since its
    /// cause shows the input.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    selection_without_input: bool,
    /// The item whose selection failed, by index, while the input was left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failed_selection: Option<(usize, Value)>,
    /// What was asked for did not come back: the Map fails rather than wait forever.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    missing: bool,
    /// The length of the stored results' JSON texts, summed as they arrive: a Map
    /// whose results array would exceed the payload limit fails without loading them.
    #[serde(default, skip_serializing_if = "is_zero")]
    result_bytes: u64,
    /// A redrive runs some iterations again, whose earlier results the count holds
    /// already: the count is then not trusted and the results are loaded to be checked.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    uncounted: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl StoredMap {
    pub(super) fn forget_result_bytes(&mut self) {
        self.uncounted = true;
    }

    pub(super) fn failed_selection(&mut self, index: usize, item: Value) {
        if self.selection_without_input {
            self.failed_selection = Some((index, item));
        }
    }

    /// Every iteration has ended, or the Map failed: it needs its results and input.
    fn ending(&self, join: &Join) -> bool {
        self.failure.is_some() || join.done == self.total
    }

    fn wanted(&self, join: &Join) -> Option<Wanted> {
        let ending = self.ending(join);
        let next_stored = join.next_item + self.buffer.len();
        let items = if !ending && next_stored < self.total && self.buffer.len() < self.chunk / 2 {
            (self.chunk - self.buffer.len()).min(self.total - next_stored)
        } else {
            0
        };
        let results_and_input = ending && self.input.is_none();
        (items > 0 || results_and_input).then_some(Wanted {
            map: self.map,
            items_from: next_stored as u64,
            items: items as u64,
            results_and_input,
            input_only: results_and_input && self.failure.is_some(),
        })
    }

    /// Whether a step can make progress only with values not loaded yet.
    fn starved(&self, join: &Join) -> bool {
        self.ending(join)
            || (self.buffer.is_empty()
                && join.next_item < self.total
                && join.running.len() < join.max_concurrency)
    }
}

impl Run<'_> {
    /// The failure of `item`'s ItemSelector, evaluated with the state's input back.
    fn select_again(
        &mut self,
        frame: &Frame,
        map: &crate::model::Map,
        index: usize,
        item: &Value,
    ) -> Option<Failure> {
        let state = self.state_of(frame)?;
        let selector = map.item_selector.as_ref()?;
        let effective = self.effective_input(frame, state).ok()?;
        self.update_context(frame, Some((index, item)));
        let variables = super::frame::variables_of(&self.snapshot.frames, frame);
        let scope = crate::template::Scope {
            input: &effective,
            context: &self.snapshot.context,
            variables: &variables,
        };
        let failure = selector
            .evaluate(scope, &mut self.random, "ItemSelector")
            .err()?;
        Some(self.with_prefix(frame, failure))
    }
}

/// How many items a stored Map's buffer is refilled up to, and so how many iterations
/// one advance can start (docs/benchmarks.md: 1,024 against 256, `bench/dmap_s3.py`).
fn chunk_of(join: &Join) -> usize {
    join.max_concurrency.clamp(16, 1024)
}

/// The stored joins' frames.
fn stored_joins(snapshot: &Snapshot) -> impl Iterator<Item = (FrameId, &Join, &StoredMap)> {
    snapshot
        .frames
        .iter()
        .filter_map(|(id, frame)| match &frame.waiting {
            Waiting::Children(join) => join.stored.as_deref().map(|stored| (*id, &**join, stored)),
            _ => None,
        })
}

impl Snapshot {
    /// The stored values the next step needs, for the driver to give back through
    /// [`Snapshot::restore`] before it.
    pub fn wanted(&self) -> Vec<Wanted> {
        stored_joins(self)
            .filter_map(|(_, join, stored)| stored.wanted(join))
            .collect()
    }

    /// Whether a Map waits for stored values to go on: the driver should load them
    /// ([`Snapshot::wanted`]) and step with [`super::Event::Resume`].
    pub fn needs_resume(&self) -> bool {
        self.status == ExecutionStatus::Running
            && (stored_joins(self).any(|(_, join, stored)| stored.starved(join))
                || self.children_to_start())
    }

    /// Gives back stored values [`Snapshot::wanted`] asked for. Values no Map waits
    /// for are ignored; when the results and input were asked for and not all came
    /// back, the Map fails on the next [`super::Event::Resume`].
    pub fn restore(&mut self, wanted: &[Wanted], values: Vec<StoredValue>) {
        // Moved, not cloned: a Map's last advance gives back every result, and a copy
        // of them all would double that advance's memory and time.
        let mut by_map: std::collections::BTreeMap<u64, Vec<StoredValue>> = Default::default();
        for value in values {
            by_map.entry(value.map).or_default().push(value);
        }
        for frame in self.frames.values_mut() {
            let Waiting::Children(join) = &mut frame.waiting else {
                continue;
            };
            let next_item = join.next_item;
            let Some(stored) = join.stored.as_deref_mut() else {
                continue;
            };
            let Some(asked) = wanted.iter().find(|w| w.map == stored.map) else {
                continue;
            };
            let mut items: Vec<(u64, Value)> = Vec::new();
            let mut results = vec![None; stored.total];
            let mut input = None;
            for value in by_map.remove(&stored.map).unwrap_or_default() {
                match value.kind {
                    StoredKind::Item => items.push((value.index, value.value)),
                    StoredKind::Result => {
                        if let Some(slot) = results.get_mut(value.index as usize) {
                            *slot = Some(value.value);
                        }
                    }
                    StoredKind::Input => input = Some(value.value),
                }
            }
            items.sort_by_key(|(index, _)| *index);
            let asked_items = asked.items_from..asked.items_from + asked.items;
            for (index, item) in items {
                if asked_items.contains(&index) && index as usize == next_item + stored.buffer.len()
                {
                    stored.buffer.push_back(item);
                }
            }
            if asked.items > 0 && stored.buffer.is_empty() {
                // Without them the Map could only ask again, forever.
                stored.missing = true;
            }
            if asked.results_and_input && stored.input.is_none() {
                let complete = stored.failure.is_some() || results.iter().all(Option::is_some);
                match input {
                    Some(input) if complete => {
                        stored.input = Some(input);
                        stored.results = Some(results);
                    }
                    _ => stored.missing = true,
                }
            }
        }
    }

    /// Leaves the execution's input out of the snapshot (before storing it): the driver
    /// keeps the input anyway, and gives it back with [`Snapshot::attach_input`].
    pub fn detach_input(&mut self) {
        self.input = Value::Null;
        if let Some(execution) = self.context.get_mut("Execution") {
            if let Some(input) = execution.get_mut("Input") {
                *input = Value::Null;
            }
        }
        self.input_detached = true;
    }

    /// Puts back the input [`Snapshot::detach_input`] left out (a snapshot that kept it
    /// is left as it is).
    pub fn attach_input(&mut self, input: Value) {
        if !self.input_detached {
            return;
        }
        if let Some(execution) = self.context.get_mut("Execution") {
            if let Some(slot) = execution.get_mut("Input") {
                *slot = input.clone();
            }
        }
        self.input = input;
        self.input_detached = false;
    }
}

impl Limits {
    /// Limits under which inline Maps of more than `items` items keep their values out
    /// of the snapshot.
    pub fn storing_maps_over(self, items: usize) -> Limits {
        Limits {
            store_map_items_over: Some(items),
            ..self
        }
    }

    /// Limits under which an execution times out `seconds` after its start (AWS:
    /// one year).
    pub fn capping_executions_at(self, seconds: u64) -> Limits {
        Limits {
            max_execution_seconds: Some(seconds),
            ..self
        }
    }

    /// Limits under which STANDARD Distributed Maps run their iterations as child
    /// executions (see [`Limits::map_child_executions`]).
    pub fn with_map_child_executions(self) -> Limits {
        Limits {
            map_child_executions: true,
            ..self
        }
    }
}

impl Run<'_> {
    /// Hands a Map that just started its first iterations over to the driver: the items
    /// past the buffer and the state's input are stored.
    pub(super) fn store_map(
        &mut self,
        map_key: u64,
        frame: &mut Frame,
        join: &mut Join,
        map: &crate::model::Map,
    ) {
        let total = join.items.len();
        let chunk = chunk_of(join);
        let mut rest = std::mem::take(&mut join.items)
            .into_iter()
            .enumerate()
            .skip(join.next_item);
        let buffer: VecDeque<Value> = rest.by_ref().take(chunk).map(|(_, item)| item).collect();
        for (index, value) in rest {
            self.store(map_key, StoredKind::Item, index, value);
        }
        self.hand_over(map_key, total, buffer, frame, join, map);
    }

    /// Hands a Map whose `total` items a reader wrote as the stored values of `map_key`
    /// over to the driver before any iteration starts: the items come through
    /// [`Snapshot::wanted`], and the state's input is stored.
    pub(super) fn store_read_map(
        &mut self,
        map_key: u64,
        total: usize,
        frame: &mut Frame,
        join: &mut Join,
        map: &crate::model::Map,
    ) {
        self.hand_over(map_key, total, VecDeque::new(), frame, join, map);
    }

    fn hand_over(
        &mut self,
        map_key: u64,
        total: usize,
        buffer: VecDeque<Value>,
        frame: &mut Frame,
        join: &mut Join,
        map: &crate::model::Map,
    ) {
        let chunk = chunk_of(join);
        // A ResultWriter leaves the Map with its own output, without the results
        // coming back: the state's input (for ResultPath) and the effective input (for
        // the writer's Parameters) stay in the snapshot then.
        let writes = map.result_writer.is_some();
        let input = if writes {
            frame.input.clone()
        } else {
            std::mem::take(&mut frame.input)
        };
        self.store(map_key, StoredKind::Input, 0, input);
        // A JSONata ItemSelector may read `$states.input` in any of its expressions.
        let selection_without_input = !writes
            && map.jsonata_item_selector.is_none()
            && !map
                .item_selector
                .as_ref()
                .is_some_and(|selector| selector.reads_input());
        if selection_without_input {
            join.effective_input = Value::Null;
        }
        join.items = Vec::new();
        join.results = Vec::new();
        join.stored = Some(Box::new(StoredMap {
            map: map_key,
            total,
            chunk,
            buffer,
            results: None,
            input: None,
            failure: None,
            selection_without_input,
            failed_selection: None,
            missing: false,
            result_bytes: 0,
            uncounted: false,
        }));
    }

    pub(super) fn store_value(&mut self, map: u64, kind: StoredKind, index: usize, value: Value) {
        self.store(map, kind, index, value);
    }

    fn store(&mut self, map: u64, kind: StoredKind, index: usize, value: Value) {
        self.output.commands.push(Command::Store(StoredValue {
            map,
            kind,
            index: index as u64,
            value,
        }));
    }

    /// Keeps an iteration's result: in the join, or with the driver.
    pub(super) fn keep_result(&mut self, join: &mut Join, index: usize, value: Value) {
        match join.stored.as_deref_mut() {
            Some(stored) => {
                stored.result_bytes = stored
                    .result_bytes
                    .saturating_add(crate::payload::json_size(&value) as u64);
                let map = stored.map;
                self.store(map, StoredKind::Result, index, value)
            }
            None => join.results[index] = Some(value),
        }
    }

    /// Whether a stored Map whose iterations all ended would leave the state with a
    /// results array over the payload limit: the size check `complete` makes on the
    /// loaded results (`data::data_limit`), made from the running count instead, so
    /// the results are not loaded for it. With a JSONPath ResultSelector the check
    /// waits for the selected value, as for any state.
    pub(super) fn stored_results_exceed(&self, join: &Join, state: &State) -> bool {
        let Some(stored) = join.stored.as_deref().filter(|s| !s.uncounted) else {
            return false;
        };
        if let StateKind::Map(map) = &state.kind {
            if state.query_language == crate::model::QueryLanguage::JsonPath
                && map.result_selector.is_some()
            {
                return false;
            }
        }
        // `[` and `]`, and a comma between two results.
        let array = stored.result_bytes + 2 + stored.total.saturating_sub(1) as u64;
        array > self.snapshot.limits.max_payload_bytes as u64
    }

    /// The Map failed (its children are aborted already). A stored Map handles the
    /// failure once its input is back, since Retry and Catch need it.
    pub(super) fn map_failed(
        &mut self,
        frame: &mut Frame,
        mut join: Box<Join>,
        failure: Failure,
        events: &[&str],
    ) -> Progress {
        match join.stored.as_deref_mut() {
            Some(stored) => {
                let events = events.iter().map(|e| e.to_string()).collect();
                stored.failure = Some((failure, events));
                frame.waiting = Waiting::Children(join);
                Progress::Blocked
            }
            None => self.handle_error_failing_join(frame, join, failure, events),
        }
    }

    /// On [`super::Event::Resume`]: every stored Map takes up what the driver gave back.
    pub(super) fn resume_stored_maps(&mut self) {
        let ids: Vec<FrameId> = stored_joins(self.snapshot).map(|(id, ..)| id).collect();
        for frame_id in ids {
            let Some(mut frame) = self.snapshot.frames.remove(&frame_id) else {
                continue;
            };
            let progress = self.resume_stored(frame_id, &mut frame);
            self.put_back(frame_id, frame, progress);
        }
    }

    fn resume_stored(&mut self, frame_id: FrameId, frame: &mut Frame) -> Progress {
        let Waiting::Children(mut join) = std::mem::replace(&mut frame.waiting, Waiting::Enter)
        else {
            return Progress::Blocked;
        };
        let Some(State {
            kind: StateKind::Map(map),
            ..
        }) = self.state_of(frame)
        else {
            return Progress::Blocked;
        };
        let Some(stored) = join.stored.as_deref() else {
            frame.waiting = Waiting::Children(join);
            return Progress::Blocked;
        };
        let (map_key, missing, ending) = (stored.map, stored.missing, stored.ending(&join));
        if missing {
            self.abort_children(&mut join);
            self.output
                .commands
                .push(Command::ReleaseStored { map: map_key });
            let failure = Failure::runtime(format!(
                "The stored items, results or input of Map state '{}' could not be read",
                frame.state
            ));
            return self.frame_ended(frame, Err(failure));
        }
        if !ending {
            if let Err(failure) = self.launch_iterations(frame_id, frame, &mut join, map) {
                self.abort_children(&mut join);
                return self.map_failed(frame, join, failure, &[]);
            }
            frame.waiting = Waiting::Children(join);
            return Progress::Blocked;
        }
        let Some(stored) = join.stored.as_deref_mut() else {
            return Progress::Blocked;
        };
        let Some(input) = stored.input.take() else {
            frame.waiting = Waiting::Children(join);
            return Progress::Blocked;
        };
        frame.input = input;
        if let Some((failure, events)) = stored.failure.take() {
            let failure = match stored.failed_selection.take() {
                Some((index, item)) => self
                    .select_again(frame, map, index, &item)
                    .unwrap_or(failure),
                None => failure,
            };
            // The results stay with the driver: a redrive reads them again.
            stored.results = None;
            let events: Vec<&str> = events.iter().map(String::as_str).collect();
            return self.handle_error_failing_join(frame, join, failure, &events);
        }
        self.output
            .commands
            .push(Command::ReleaseStored { map: map_key });
        join.results = stored.results.take().unwrap_or_default();
        join.stored = None;
        match self.join_complete(frame, *join) {
            Ok(progress) => progress,
            Err(failure) => self.handle_error(frame, failure),
        }
    }
}
