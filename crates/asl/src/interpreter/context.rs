//! The context object `$$`, rewritten for the frame about to evaluate something.
//!
//! An EXPRESS Distributed Map's iterations run as frames of this execution, but AWS runs
//! each as an Express child execution: inside one, `$$.Execution` and `$$.StateMachine`
//! are the child's. Such an iteration's frame holds its child's context
//! ([`ChildScope::Express`]) and every frame nested in it points at that frame
//! ([`ChildScope::Within`]); while one of them evaluates, the snapshot's context shows
//! the child's, the execution's own being set aside in [`Run::shown_child`] and put back
//! before any other frame evaluates and before the step ends, so the stored snapshot
//! always holds the execution's own. Executions without such Maps never set anything
//! aside.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map as JsonMap, Value};

use crate::distributed::map_run::{child_name, MapRunArn};
use crate::model::StateKind;
use crate::timestamp::Timestamp;

use super::frame::Frame;
use super::run::Run;
use super::{FrameId, TimerId};

/// Where a frame stands towards an EXPRESS Distributed Map iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) enum ChildScope {
    /// The iteration's own frame: the child execution it stands for.
    Express(Box<ExpressChild>),
    /// A frame nested in the iteration whose frame this is.
    Within(FrameId),
}

/// The Express child execution an EXPRESS Distributed Map iteration stands for. Only
/// what names it is kept: the `$$` it shows is derived when an evaluation inside the
/// iteration first needs it ([`ExpressChild::context`]), so the many iterations that
/// never read `$$` (a Pass, a Task without context paths) pay nothing for their names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct ExpressChild {
    /// The Map Run the iteration belongs to, and its item's index in it.
    pub(super) map_run_arn: String,
    pub(super) index: usize,
    /// The iteration's input (the item after `ItemSelector`, or its batch): the child's
    /// `$$.Execution.Input`.
    pub(super) input: Value,
    /// When the iteration first started: the child's `$$.Execution.StartTime`.
    pub(super) start_time: Timestamp,
    /// When this run of the iteration began: its five-minute cap counts from here
    /// (module `express_cap`). `None` once the iteration was stopped (a redrive runs it
    /// with a cap counted from the redrive) and in snapshots older than the cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) started: Option<Timestamp>,
    /// The cap's timer, set once the iteration outlived the step that started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) cap_timer: Option<TimerId>,
}

impl ExpressChild {
    /// The child of item `index` of the Map Run `map_run_arn`, started at `start_time`
    /// with `input`.
    pub(super) fn new(
        map_run_arn: &str,
        index: usize,
        input: &Value,
        start_time: Timestamp,
    ) -> ExpressChild {
        ExpressChild {
            map_run_arn: map_run_arn.to_string(),
            index,
            input: input.clone(),
            start_time,
            started: Some(start_time),
            cap_timer: None,
        }
    }

    /// `$$.Execution` and `$$.StateMachine` inside the iteration: named as a STANDARD
    /// child would be ([`child_name`]), its ARN in the Express form
    /// ([`MapRunArn::express_child_execution_arn`]), under the labelled machine. `None`
    /// when the Map Run's ARN is not one.
    fn context(&self, role_arn: &str) -> Option<(Value, Value)> {
        let run = MapRunArn::parse(&self.map_run_arn)?;
        let name = child_name(&self.map_run_arn, self.index as u64);
        let execution = execution_context(
            &run.express_child_execution_arn(&name),
            self.input.clone(),
            self.start_time,
            &name,
            role_arn,
            None,
        );
        let machine_arn = run.child_state_machine_arn();
        let machine_name = format!("{}/{}", run.machine, run.label);
        Some((
            Value::Object(execution),
            json!({ "Id": machine_arn, "Name": machine_name }),
        ))
    }
}

/// `$$.Execution` with its keys in the order AWS shows them.
pub(super) fn execution_context(
    arn: &str,
    input: Value,
    start_time: Timestamp,
    name: &str,
    role_arn: &str,
    redrive_count: Option<u64>,
) -> JsonMap<String, Value> {
    let mut execution = JsonMap::new();
    execution.insert("Id".into(), json!(arn));
    execution.insert("Input".into(), input);
    execution.insert("StartTime".into(), json!(start_time.to_rfc3339_millis()));
    execution.insert("Name".into(), json!(name));
    execution.insert("RoleArn".into(), json!(role_arn));
    if let Some(count) = redrive_count {
        execution.insert("RedriveCount".into(), json!(count));
    }
    execution
}

/// The execution's own `$$.Execution` and `$$.StateMachine`, set aside while the
/// context shows the child of the iteration frame `root`.
pub(super) struct ShownChild {
    root: FrameId,
    execution: Option<Value>,
    state_machine: Option<Value>,
}

impl Run<'_> {
    /// Rewrites `$$.State` (and `$$.Map`) for the frame about to evaluate something, and
    /// `$$.Execution` and `$$.StateMachine` for the execution it runs in.
    pub(super) fn update_context(&mut self, frame: &Frame, item: Option<(usize, &Value)>) {
        self.show_execution_of(frame);
        let mut state = JsonMap::new();
        state.insert("Name".into(), json!(frame.state));
        state.insert(
            "EnteredTime".into(),
            json!(frame.entered_time.to_rfc3339_millis()),
        );
        // Only states that can retry have a retry count.
        if matches!(
            self.state_of(frame).map(|s| &s.kind),
            Some(StateKind::Task(_) | StateKind::Parallel(_) | StateKind::Map(_))
        ) {
            state.insert(
                "RetryCount".into(),
                json!(frame.retries.iter().sum::<u64>()),
            );
        }
        let Value::Object(context) = &mut self.snapshot.context else {
            return;
        };
        context.insert("State".into(), Value::Object(state));
        // `$$.Task` exists only while a callback task's Parameters are evaluated.
        match &self.task_token {
            Some(token) => {
                context.insert("Task".into(), json!({ "Token": token }));
            }
            None => {
                context.shift_remove("Task");
            }
        }
        match item {
            Some((index, value)) => {
                context.insert(
                    "Map".into(),
                    json!({"Item": {"Index": index, "Value": value}}),
                );
            }
            None => {
                context.shift_remove("Map");
            }
        }
    }

    /// Makes `$$.Execution` and `$$.StateMachine` those of the execution `frame` runs
    /// in: the Express child of the EXPRESS Distributed Map iteration it is in, else
    /// this execution.
    fn show_execution_of(&mut self, frame: &Frame) {
        let root = match &frame.child {
            None => None,
            Some(ChildScope::Express(_)) => Some(frame.id),
            Some(ChildScope::Within(root)) => Some(*root),
        };
        if self.shown_child.as_ref().map(|shown| shown.root) == root {
            return;
        }
        self.show_own_execution();
        let Some(root) = root else {
            return;
        };
        let child = match &frame.child {
            Some(ChildScope::Express(child)) => Some(child),
            _ => match self.snapshot.frames.get(&root).map(|f| &f.child) {
                Some(Some(ChildScope::Express(child))) => Some(child),
                _ => None,
            },
        };
        let Some((execution, state_machine)) =
            child.and_then(|child| child.context(&self.snapshot.info.role_arn))
        else {
            return;
        };
        let Value::Object(context) = &mut self.snapshot.context else {
            return;
        };
        self.shown_child = Some(ShownChild {
            root,
            execution: context.insert("Execution".into(), execution),
            state_machine: context.insert("StateMachine".into(), state_machine),
        });
    }

    /// Puts back this execution's own `$$.Execution` and `$$.StateMachine` if a child's
    /// are shown.
    pub(super) fn show_own_execution(&mut self) {
        let Some(shown) = self.shown_child.take() else {
            return;
        };
        let Value::Object(context) = &mut self.snapshot.context else {
            return;
        };
        for (key, value) in [
            ("Execution", shown.execution),
            ("StateMachine", shown.state_machine),
        ] {
            match value {
                Some(value) => context.insert(key.into(), value),
                None => context.shift_remove(key),
            };
        }
    }
}
