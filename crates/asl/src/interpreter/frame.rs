//! The execution's tree: one [`Frame`] per running scope (the machine, a Parallel
//! branch, a Map iteration), where it sits in the definition, what it waits for
//! ([`Waiting`], [`TimerPurpose`]) and the variables it sees.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map as JsonMap, Value};

use crate::model::{StateKind, StateMachine};
use crate::timestamp::Timestamp;
use crate::variables::Variables;

use super::context::ChildScope;
use super::join::Join;
use super::{FrameId, TaskId, TimerId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) enum TimerPurpose {
    /// A Wait state's time has come.
    Resume(FrameId),
    /// A retry back-off is over: the state runs again.
    Retry(FrameId),
    /// A task's TimeoutSeconds.
    TaskTimeout(FrameId, TaskId),
    /// The machine's TimeoutSeconds.
    ExecutionTimeout,
    /// The five minutes of the EXPRESS Distributed Map iteration whose frame this is
    /// (module `express_cap`).
    ExpressCap(FrameId),
}

/// One step of one scope (the machine, a Parallel branch, a Map iteration) down the
/// execution's tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScopeStep {
    /// A Parallel or Map state.
    pub state: String,
    /// The Parallel's branch (0 for a Map's ItemProcessor).
    pub branch: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Frame {
    pub(super) id: FrameId,
    /// Where this frame's machine sits in the definition.
    pub(super) scope: Vec<ScopeStep>,
    pub(super) parent: Option<(FrameId, usize)>,
    /// Distributed Map children: their events belong to child executions, not here.
    pub(super) quiet: bool,
    /// A Map iteration not yet announced with `MapIterationStarted`.
    pub(super) announce_iteration: Option<(String, usize)>,
    pub(super) state: String,
    /// The current state's input, before InputPath.
    pub(super) input: Value,
    /// `input` as JSON text when already known (the previous state's output text), so
    /// the Entered event does not serialize it again. Never persisted.
    #[serde(skip)]
    pub(super) input_text: Option<String>,
    pub(super) entered_event: u64,
    pub(super) entered_time: Timestamp,
    /// Last event this frame recorded, for `previousEventId`.
    pub(super) last_event: u64,
    /// Per retrier of the current state: attempts made so far.
    pub(super) retries: Vec<u64>,
    pub(super) waiting: Waiting,
    /// The workflow variables this frame assigned. A child frame (a Parallel branch, a
    /// Map iteration) also reads its ancestors' (see [`FrameVariables`]); the parent is
    /// waiting on it, so those cannot change meanwhile.
    #[serde(default, skip_serializing_if = "JsonMap::is_empty")]
    pub(super) variables: JsonMap<String, Value>,
    /// An EXPRESS Distributed Map iteration, or a frame nested in one: the Express child
    /// execution `$$` shows while it evaluates (module `context`). Such an iteration
    /// sees none of the variables around it, as a child execution sees none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) child: Option<ChildScope>,
}

impl Frame {
    /// Whether this frame stands for a child execution, whose variables begin with it.
    pub(super) fn is_child_execution(&self) -> bool {
        matches!(self.child, Some(ChildScope::Express(_)))
    }

    /// What a frame nested in this one (`id`) is towards an EXPRESS Distributed Map
    /// iteration.
    pub(super) fn nested_child_scope(&self, id: FrameId) -> Option<ChildScope> {
        match &self.child {
            None => None,
            Some(ChildScope::Express(_)) => Some(ChildScope::Within(id)),
            Some(ChildScope::Within(root)) => Some(ChildScope::Within(*root)),
        }
    }
}

/// The variables a frame sees: its own, then those of the frames it runs inside, up to
/// the first that stands for a child execution.
pub(super) struct FrameVariables<'s> {
    own: &'s JsonMap<String, Value>,
    frames: &'s BTreeMap<FrameId, Frame>,
    parent: Option<FrameId>,
}

impl Variables for FrameVariables<'_> {
    fn variable(&self, name: &str) -> Option<&Value> {
        if let Some(value) = self.own.get(name) {
            return Some(value);
        }
        let mut next = self.parent;
        while let Some(id) = next {
            let frame = self.frames.get(&id)?;
            if let Some(value) = frame.variables.get(name) {
                return Some(value);
            }
            if frame.is_child_execution() {
                return None;
            }
            next = frame.parent.map(|(parent, _)| parent);
        }
        None
    }
}

/// `frame`'s variables; `frames` holds its ancestors (the frame itself is out of the
/// map while it runs).
pub(super) fn variables_of<'s>(
    frames: &'s BTreeMap<FrameId, Frame>,
    frame: &'s Frame,
) -> FrameVariables<'s> {
    FrameVariables {
        own: &frame.variables,
        frames,
        parent: if frame.is_child_execution() {
            None
        } else {
            frame.parent.map(|(parent, _)| parent)
        },
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) enum Waiting {
    /// Enter `state` with `input`.
    Enter,
    /// Re-run the current state after a retry back-off, without a new Entered event.
    Retry,
    Task {
        task: TaskId,
        timeout_timer: Option<TimerId>,
    },
    /// A Wait state's timer, or a retry back-off.
    Timer(TimerId),
    Children(Box<Join>),
    /// A Map with an `ItemReader` waits for the task that reads its items (module
    /// `item_source`).
    ReadingItems {
        task: TaskId,
    },
    /// The items were read (or the read failed): the Map starts with them. Taken up
    /// in the step that sets it, never persisted as such.
    ItemsRead(Result<super::item_source::ReadItems, crate::error::Failure>),
    /// A Distributed Map that exports its results waits for the task that writes them
    /// (module `result_writer`).
    WritingResults {
        task: TaskId,
        /// The key of the Map's stored values, which the writer read: released once
        /// the write has ended.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stored: Option<u64>,
        /// The Map Run as it succeeded, reported again with its `results_written` once
        /// the files are written.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run: Option<Box<super::map_run::MapRunState>>,
    },
    /// The results were written (the Map's output) or the write failed. Taken up in the
    /// step that sets it, never persisted as such.
    ResultsWritten(Result<Value, crate::error::Failure>),
    /// A Distributed Map whose run failed writes its results first, as AWS does (module
    /// `result_writer`); it then fails as it would have without a writer.
    FailingWritingResults {
        task: TaskId,
        failed: Box<FailedRun>,
    },
    /// The failed run's results were written (or could not be): the Map fails now.
    /// Taken up in the step that sets it, never persisted as such.
    FailedResultsWritten(Box<FailedRun>),
}

/// A Distributed Map Run that failed, kept while its results are written: its join (for
/// a redrive), the failure and the events the Map fails with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct FailedRun {
    pub(super) join: Box<Join>,
    pub(super) failure: crate::error::Failure,
    pub(super) events: Vec<String>,
}

/// The machine a scope path leads to: the root, a Parallel branch or a Map's processor.
pub fn machine_at<'m>(root: &'m StateMachine, scope: &[ScopeStep]) -> Option<&'m StateMachine> {
    let mut machine = root;
    for step in scope {
        machine = match &machine.state(&step.state)?.kind {
            StateKind::Parallel(p) => p.branches.get(step.branch)?,
            StateKind::Map(m) => &m.item_processor,
            _ => return None,
        };
    }
    Some(machine)
}
