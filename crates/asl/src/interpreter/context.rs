//! The context object `$$`, rewritten for the frame about to evaluate something.

use serde_json::{json, Map as JsonMap, Value};

use crate::model::StateKind;

use super::frame::Frame;
use super::run::Run;

impl Run<'_> {
    /// Rewrites `$$.State` (and `$$.Map`) for the frame about to evaluate something.
    pub(super) fn update_context(&mut self, frame: &Frame, item: Option<(usize, &Value)>) {
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
}
