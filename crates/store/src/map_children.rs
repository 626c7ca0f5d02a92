//! A STANDARD Distributed Map's child executions, as both stores run them (the
//! interpreter's side is `cairn_asl::interpreter`'s `children` module).
//!
//! - **Start.** An advance whose interpreter asked for [`MapChildStart`]s starts those
//!   children in its own commit ([`crate::engine::Effect::StartMapChild`]): each child's
//!   execution row — the parent's definition and role, the ItemProcessor's place in that
//!   definition ([`MapChild::processor`]), its Map Run and index — and its `Start` event.
//!   The child exists if and only if the parent's snapshot that counts it running
//!   committed, so MaxConcurrency holds across replicas and restarts. A child's name is
//!   derived from its run and index, so a replayed advance names the same child; a
//!   child whose row exists already is not started twice.
//! - **End.** The advance that ends a child queues [`ended_event`] for its parent in the
//!   same transaction (an [`crate::engine::Effect::Notify`]), as a `.sync` child does.
//! - **Redrive.** A redriven parent redrives its Map Run's failed and aborted children
//!   in the commit that restarts the run ([`crate::engine::Effect::RedriveMapChild`]),
//!   as RedriveExecution would; a child that cannot be (it is gone, or ended in a way
//!   that cannot be redriven) is reported to the parent as failed at once
//!   ([`not_redriven_event`]), so the parent never waits for it. One still running (its
//!   stop not yet applied) reports its end when it comes.
//! - **Stop.** A commit that reports a Map Run no longer `RUNNING` and `SUCCEEDED`-less
//!   (failed or aborted), or that ends the parent, queues [`stop_event`] for the run's
//!   children still running.
//!
//! Children run the ItemProcessor of their parent's definition: the scheduler reads the
//! parent's definition and takes the machine at [`MapChild::processor`].

use cairn_asl::interpreter::{ChildDates, Event, MapChildOutcome, ScopeStep};
use cairn_asl::ExecutionStatus;

pub use cairn_asl::interpreter::{MapChildRedrive, MapChildStart};

use crate::engine::Ending;

/// What a claimed execution that is a Map Run's child knows of its parent.
#[derive(Debug, Clone, PartialEq)]
pub struct MapChild {
    /// The execution whose Distributed Map started it.
    pub parent_arn: String,
    pub map_run_arn: String,
    pub index: u64,
    /// Where the ItemProcessor it runs sits in its (the parent's) definition.
    pub processor: Vec<ScopeStep>,
}

/// The parent's event for its child's end; `started_at` is the child's start.
pub fn ended_event(child: &MapChild, ending: &Ending, started_at: crate::Time) -> Event {
    let outcome = match ending.status {
        ExecutionStatus::Succeeded => MapChildOutcome::Succeeded {
            output: ending
                .output
                .as_deref()
                .and_then(|text| serde_json::from_str(text).ok())
                .unwrap_or(serde_json::Value::Null),
        },
        ExecutionStatus::TimedOut => MapChildOutcome::TimedOut {
            error: ending
                .error
                .clone()
                .unwrap_or_else(|| cairn_asl::error::names::TIMEOUT.to_string()),
            cause: ending.cause.clone(),
        },
        status => MapChildOutcome::Failed {
            error: ending
                .error
                .clone()
                .unwrap_or_else(|| format!("States.{}", aws_word(status))),
            cause: ending.cause.clone(),
        },
    };
    Event::MapChildEnded {
        map_run_arn: child.map_run_arn.clone(),
        index: child.index,
        outcome,
        dates: Some(ChildDates {
            start: crate::time::from_time(started_at),
            stop: crate::time::from_time(ending.stopped_at),
        }),
    }
}

/// `Aborted`, `Timeout`, `Failed`: the error of a child that ended without one.
fn aws_word(status: ExecutionStatus) -> &'static str {
    match status {
        ExecutionStatus::TimedOut => "Timeout",
        ExecutionStatus::Aborted => "Aborted",
        _ => "Failed",
    }
}

/// The parent's event for a child it asked to redrive that could not be.
pub fn not_redriven_event(redrive: &MapChildRedrive) -> Event {
    Event::MapChildEnded {
        map_run_arn: redrive.map_run_arn.clone(),
        index: redrive.index,
        outcome: MapChildOutcome::Failed {
            error: cairn_asl::error::names::RUNTIME.to_string(),
            cause: Some(format!(
                "The child execution [{}] could not be redriven",
                redrive.execution_arn
            )),
        },
        dates: None,
    }
}

/// The `Stop` a child still running receives when its Map Run ends without it.
pub fn stop_event(map_run_arn: &str) -> Event {
    Event::Stop {
        error: None,
        cause: Some(format!(
            "The Map Run [{map_run_arn}] that started this execution was aborted"
        )),
    }
}

/// The text a row keeps of [`MapChild::processor`].
pub fn processor_text(processor: &[ScopeStep]) -> String {
    serde_json::to_string(processor).unwrap_or_else(|_| "[]".to_string())
}

/// [`MapChild::processor`] from its row's text; `None` when unreadable.
pub fn processor_of(text: &str) -> Option<Vec<ScopeStep>> {
    serde_json::from_str(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn child() -> MapChild {
        MapChild {
            parent_arn: "arn:p".into(),
            map_run_arn: "arn:r".into(),
            index: 3,
            processor: vec![ScopeStep {
                state: "M".into(),
                branch: 0,
            }],
        }
    }

    fn ending(status: ExecutionStatus, output: Option<&str>, error: Option<&str>) -> Ending {
        Ending {
            status,
            output: output.map(str::to_string),
            error: error.map(str::to_string),
            cause: None,
            stopped_at: chrono::DateTime::from_timestamp(0, 0).unwrap_or_default(),
        }
    }

    #[test]
    fn a_childs_end_is_its_parents_event() {
        let started = chrono::DateTime::from_timestamp(-5, 250_000_000).unwrap_or_default();
        let ok = ended_event(
            &child(),
            &ending(ExecutionStatus::Succeeded, Some(r#"{"b":1,"a":2}"#), None),
            started,
        );
        assert_eq!(
            ok,
            Event::MapChildEnded {
                map_run_arn: "arn:r".into(),
                index: 3,
                outcome: MapChildOutcome::Succeeded {
                    output: json!({"b": 1, "a": 2})
                },
                // The child's start and stop (its ending's time, here the epoch).
                dates: Some(ChildDates {
                    start: cairn_asl::timestamp::Timestamp(-4_750_000_000),
                    stop: cairn_asl::timestamp::Timestamp(0),
                }),
            }
        );
        let stopped = ended_event(
            &child(),
            &ending(ExecutionStatus::Aborted, None, None),
            started,
        );
        assert!(matches!(
            stopped,
            Event::MapChildEnded { outcome: MapChildOutcome::Failed { ref error, .. }, .. }
                if error == "States.Aborted"
        ));
        let timed_out = ended_event(
            &child(),
            &ending(ExecutionStatus::TimedOut, None, None),
            started,
        );
        assert!(matches!(
            timed_out,
            Event::MapChildEnded { outcome: MapChildOutcome::TimedOut { ref error, .. }, .. }
                if error == "States.Timeout"
        ));
        let failed = ended_event(
            &child(),
            &ending(ExecutionStatus::Failed, None, Some("Boom")),
            started,
        );
        assert!(matches!(
            failed,
            Event::MapChildEnded { outcome: MapChildOutcome::Failed { ref error, .. }, .. }
                if error == "Boom"
        ));
    }

    #[test]
    fn the_processor_path_round_trips() {
        let text = processor_text(&child().processor);
        assert_eq!(processor_of(&text), Some(child().processor));
        assert_eq!(processor_of("nonsense"), None);
    }
}
