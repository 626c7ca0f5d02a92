//! History events: their ids and `previousEventId`, each state type's Entered and Exited
//! events, the visits reported for tracing ([`super::Output::states`]) and [`details`].

use serde_json::{Map as JsonMap, Value};

use crate::history::{Details, HistoryEvent};
use crate::model::{State, StateKind};
use crate::payload;

use super::frame::Frame;
use super::run::Run;
use super::{FrameId, StateVisit};

impl Run<'_> {
    /// Appends an event; returns its id.
    pub(super) fn record(
        &mut self,
        previous: Option<u64>,
        event_type: &str,
        details: Details,
    ) -> u64 {
        let id = self.snapshot.next_event_id;
        self.snapshot.next_event_id += 1;
        self.output.history.push(HistoryEvent {
            id,
            previous_event_id: previous.unwrap_or(id - 1),
            timestamp: self.now,
            event_type: event_type.to_string(),
            details: details.with_payload_details(),
        });
        id
    }

    pub(super) fn record_quiet(
        &mut self,
        quiet: bool,
        previous: Option<u64>,
        event_type: &str,
        details: Details,
    ) -> u64 {
        if quiet {
            return 0;
        }
        self.record(previous, event_type, details)
    }

    pub(super) fn record_for_frame(
        &mut self,
        frame: &mut Frame,
        event_type: &str,
        details: Details,
    ) {
        let id = self.record_quiet(frame.quiet, Some(frame.last_event), event_type, details);
        if !frame.quiet {
            frame.last_event = id;
        }
    }

    pub(super) fn record_for(&mut self, frame_id: FrameId, event_type: &str, details: Details) {
        let Some(mut frame) = self.snapshot.frames.remove(&frame_id) else {
            return;
        };
        self.record_for_frame(&mut frame, event_type, details);
        self.snapshot.frames.insert(frame_id, frame);
    }

    pub(super) fn exited(
        &mut self,
        frame: &mut Frame,
        state: &State,
        output: &Value,
        assigned: Option<&JsonMap<String, Value>>,
    ) {
        if frame.quiet {
            return;
        }
        let text = payload::to_text(output);
        self.exited_with_text(frame, state, text, assigned.map(assigned_texts));
    }

    pub(super) fn exited_with_text(
        &mut self,
        frame: &mut Frame,
        state: &State,
        output_text: String,
        assigned: Option<JsonMap<String, Value>>,
    ) {
        let mut d = details([
            ("name", Value::String(frame.state.clone())),
            ("output", Value::String(output_text)),
        ]);
        d.assigned_variables = assigned;
        let id = self.record_quiet(frame.quiet, Some(frame.last_event), exited_event(state), d);
        if !frame.quiet {
            frame.last_event = id;
            self.visit_ended(frame, state, None);
        }
    }

    /// Reports the end of `frame`'s visit to `state` in [`Output::states`](super::Output::states).
    pub(super) fn visit_ended(&mut self, frame: &Frame, state: &State, error: Option<String>) {
        let visit = self.visit_of(frame, state, error);
        self.output.states.push(visit);
    }

    pub(super) fn visit_of(
        &self,
        frame: &Frame,
        state: &State,
        error: Option<String>,
    ) -> StateVisit {
        let parent_entered_event = frame
            .parent
            .and_then(|(parent, _)| self.snapshot.frames.get(&parent))
            .map(|parent| parent.entered_event);
        StateVisit {
            state: frame.state.clone(),
            state_type: entered_event(state).trim_end_matches("StateEntered"),
            entered_event: frame.entered_event,
            entered_at: frame.entered_time,
            parent_entered_event,
            error,
        }
    }
}

pub(super) fn details<const N: usize>(fields: [(&str, Value); N]) -> Details {
    fn text(value: Value) -> Option<String> {
        Some(match value {
            Value::String(s) => s,
            other => other.to_string(),
        })
    }
    let mut d = Details::default();
    for (key, value) in fields {
        match key {
            "name" => d.name = text(value),
            "input" => d.input = text(value),
            "output" => d.output = text(value),
            "roleArn" => d.role_arn = text(value),
            "resourceType" => d.resource_type = text(value),
            "resource" => d.resource = text(value),
            "region" => d.region = text(value),
            "parameters" => d.parameters = text(value),
            "index" => d.index = value.as_u64(),
            _ => {}
        }
    }
    d
}

pub(super) fn entered_event(state: &State) -> &'static str {
    match state.kind {
        StateKind::Pass(_) => "PassStateEntered",
        StateKind::Task(_) => "TaskStateEntered",
        StateKind::Choice(_) => "ChoiceStateEntered",
        StateKind::Wait(_) => "WaitStateEntered",
        StateKind::Succeed => "SucceedStateEntered",
        StateKind::Fail(_) => "FailStateEntered",
        StateKind::Parallel(_) => "ParallelStateEntered",
        StateKind::Map(_) => "MapStateEntered",
    }
}

fn exited_event(state: &State) -> &'static str {
    match state.kind {
        StateKind::Pass(_) => "PassStateExited",
        StateKind::Task(_) => "TaskStateExited",
        StateKind::Choice(_) => "ChoiceStateExited",
        StateKind::Wait(_) => "WaitStateExited",
        StateKind::Succeed => "SucceedStateExited",
        StateKind::Fail(_) => "FailStateExited",
        StateKind::Parallel(_) => "ParallelStateExited",
        StateKind::Map(_) => "MapStateExited",
    }
}

/// AWS's `assignedVariables`: each assigned variable's value as JSON text.
pub(super) fn assigned_texts(assigned: &JsonMap<String, Value>) -> JsonMap<String, Value> {
    assigned
        .iter()
        .map(|(name, value)| (name.clone(), Value::String(payload::to_text(value))))
        .collect()
}
