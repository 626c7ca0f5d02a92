//! The Map state: MaxConcurrency, ItemsPath, the tolerated failures, and its first
//! iterations (the rest are launched in `join`; a large Map's values go to `stored`).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::callback::derived_uuid;
use crate::distributed::map_run::{default_label, MapRunArn};
use crate::error::Failure;
use crate::history::Details;
use crate::interpreter::data::display_value;
use crate::interpreter::frame::{Frame, Waiting};
use crate::interpreter::item_source::ReadItems;
use crate::interpreter::join::Join;
use crate::interpreter::jsonata::States;
use crate::interpreter::map_run::{MapRunConfig, MapRunStatus};
use crate::interpreter::run::{Progress, Run};
use crate::interpreter::FrameId;
use crate::jsonata::EvalError;
use crate::model::{NumberSource, ProcessorMode, QueryLanguage, State};
use crate::payload;

impl Run<'_> {
    pub(in crate::interpreter) fn run_map(
        &mut self,
        frame_id: FrameId,
        frame: &mut Frame,
        state: &State,
        map: &crate::model::Map,
        read: Option<ReadItems>,
    ) -> Result<Progress, Failure> {
        let effective = self.effective_input(frame, state)?;
        // A Distributed Map with an ItemReader first has its items read by a worker
        // (module `item_source`), then runs again here with them.
        let read = match read {
            Some(items) => Some(items),
            None if map.mode == ProcessorMode::Distributed => {
                if let Some(progress) =
                    self.request_items(frame_id, frame, state, map, &effective)?
                {
                    return Ok(progress);
                }
                None
            }
            None => None,
        };
        // Items a reader wrote as rows stay with the driver (module `stored`).
        let (read, rows) = match read {
            Some(ReadItems::Inline(items)) => (Some(items), None),
            Some(ReadItems::Rows { map, count }) => (Some(Vec::new()), Some((map, count))),
            None => (None, None),
        };
        let jsonata_items = if read.is_some() {
            None
        } else if state.query_language == QueryLanguage::JsonAta {
            Some(self.jsonata_items(frame, map, &effective)?)
        } else {
            None
        };
        let max_concurrency = match &map.max_concurrency {
            NumberSource::Literal(n) => *n,
            NumberSource::Jsonata(expression) => {
                let n = self.jsonata_count(frame, expression, &effective, "MaxConcurrency")?;
                if n < 0.0 || n.fract() != 0.0 {
                    return Err(self.evaluation_failed(
                        frame,
                        "MaxConcurrency",
                        format!("The MaxConcurrency field must be a non-negative integer: {n}"),
                    ));
                }
                n as u64
            }
            NumberSource::Path(path) => {
                let value = self.select_for(frame, path, &effective)?;
                match lenient_i64(&value).and_then(|n| u64::try_from(n).ok()) {
                    Some(n) => n,
                    None => {
                        return Err(self.with_prefix(
                            frame,
                            Failure::runtime(format!(
                                "The MaxConcurrencyPath field refers to value \"{}\" which is not a valid integer: {}",
                                display_value(&value),
                                path.source()
                            )),
                        ))
                    }
                }
            }
        };
        let items = if let Some(items) = read {
            items
        } else if let Some(items) = jsonata_items {
            items
        } else {
            match self.lookup(frame, &map.items_path, &effective) {
                Some(Value::Array(items)) => items,
                Some(other) => {
                    return Err(self.with_prefix(
                        frame,
                        Failure::runtime(format!(
                            "Item path {} did not resolve to a JSON array: {}",
                            map.items_path.source(),
                            payload::to_text(&other)
                        )),
                    ))
                }
                None => return Err(self.with_prefix(frame, payload::no_results(&map.items_path))),
            }
        };
        // Rows were batched as the reader wrote them.
        let items = match rows {
            Some(_) => items,
            None => self.batch_items(frame, state, map, &effective, items)?,
        };
        let length = rows.map_or(items.len(), |(_, count)| count);
        let started = Details {
            length: Some(length as u64),
            ..Details::default()
        };
        self.record_for_frame(frame, "MapStateStarted", started);
        // Names the Map's stored values: unique within the execution, and for each run
        // of the state (a retry records a new MapStateStarted).
        let map_key = frame.last_event;
        let tolerated_count = match &map.tolerated_failure_count {
            None => None,
            Some(NumberSource::Literal(n)) => Some(*n),
            Some(NumberSource::Jsonata(expression)) => {
                let n =
                    self.jsonata_count(frame, expression, &effective, "ToleratedFailureCount")?;
                if n < 0.0 {
                    return Err(self.evaluation_failed(
                        frame,
                        "ToleratedFailureCount",
                        "ToleratedFailureCount cannot be negative.".to_string(),
                    ));
                }
                Some(n as u64)
            }
            Some(NumberSource::Path(path)) => {
                let value = self.select_for(frame, path, &effective)?;
                match lenient_i64(&value) {
                    Some(n) if n < 0 => {
                        return Err(self.with_prefix(frame, Failure::runtime("ToleratedFailureCount cannot be negative.")))
                    }
                    Some(n) => Some(n as u64),
                    None => {
                        return Err(self.with_prefix(
                            frame,
                            Failure::runtime(format!(
                                "The ToleratedFailureCountPath field refers to value \"{}\" which is not a valid integer: {}",
                                display_value(&value),
                                path.source()
                            )),
                        ))
                    }
                }
            }
        };
        let tolerated_percentage = match &map.tolerated_failure_percentage {
            None => None,
            Some(NumberSource::Literal(p)) => Some(*p),
            Some(NumberSource::Jsonata(expression)) => {
                let p = self.jsonata_count(
                    frame,
                    expression,
                    &effective,
                    "ToleratedFailurePercentage",
                )?;
                if !(0.0..=100.0).contains(&p) {
                    return Err(self.evaluation_failed(
                        frame,
                        "ToleratedFailurePercentage",
                        "ToleratedFailurePercentage must be between 0 and 100.".to_string(),
                    ));
                }
                Some(p)
            }
            Some(NumberSource::Path(path)) => {
                let value = self.select_for(frame, path, &effective)?;
                match lenient_f64(&value) {
                    Some(p) if !(0.0..=100.0).contains(&p) => {
                        return Err(self.with_prefix(
                            frame,
                            Failure::runtime("ToleratedFailurePercentage must be between 0 and 100."),
                        ))
                    }
                    Some(p) => Some(p),
                    None => {
                        return Err(self.with_prefix(
                            frame,
                            Failure::runtime(format!(
                                "The ToleratedFailurePercentagePath field refers to value \"{}\" which is not a valid float: {}",
                                display_value(&value),
                                path.source()
                            )),
                        ))
                    }
                }
            }
        };
        let total = length as u64;
        let tolerated_failures = match (tolerated_count, tolerated_percentage) {
            (None, None) => None,
            (count, percentage) => {
                let by_count = count.unwrap_or(0);
                let by_percentage = percentage
                    .map(|p| ((p / 100.0) * total as f64).floor() as u64)
                    .unwrap_or(0);
                Some(by_count.max(by_percentage))
            }
        };
        let distributed = map.mode == ProcessorMode::Distributed;
        let mut map_run = None;
        if distributed {
            // Inside a Distributed Map's iterations nothing is recorded (they are not
            // the parent's history) and the key is not unique per iteration: no Map Run.
            let map_run_arn = if frame.quiet {
                None
            } else {
                self.map_run_arn(&frame.state, map, map_key)
            };
            map_run = map_run_arn.clone().map(|arn| {
                Box::new(MapRunConfig {
                    arn,
                    max_concurrency,
                    tolerated_failure_count: tolerated_count.unwrap_or(0),
                    tolerated_failure_percentage: tolerated_percentage.unwrap_or(0.0),
                    redrive_count: 0,
                })
            });
            let details = Details {
                map_run_arn,
                ..Details::default()
            };
            self.record_for_frame(frame, "MapRunStarted", details);
        }
        // AWS runs a STANDARD Distributed Map's iterations as child executions; an
        // EXPRESS one's stay quiet frames of this execution (docs/asl-support.md).
        let children = map_run.is_some()
            && self.snapshot.limits.map_child_executions
            && map.execution_type == crate::model::ChildExecutionType::Standard;
        let join = Join {
            children,
            child_dates: BTreeMap::new(),
            batched_items: 0,
            is_map: true,
            effective_input: effective,
            results: vec![None; items.len()],
            items,
            next_item: 0,
            running: BTreeMap::new(),
            done: 0,
            failures: 0,
            timed_out: 0,
            tolerated_failures,
            max_concurrency: if max_concurrency == 0 {
                usize::MAX
            } else {
                max_concurrency as usize
            },
            stored: None,
            redo: BTreeMap::new(),
            relaunch: Default::default(),
            redriven: false,
            map_run,
        };
        let mut join = Box::new(join);
        if let Some((rows_key, count)) = rows {
            if count > 0 {
                self.store_read_map(rows_key, count, frame, &mut join, map);
                self.report_map_run(&join, MapRunStatus::Running);
                frame.waiting = Waiting::Children(join);
                return Ok(Progress::Blocked);
            }
            self.output
                .commands
                .push(crate::interpreter::Command::ReleaseStored { map: rows_key });
        }
        if join.items.is_empty() {
            self.report_map_run(&join, MapRunStatus::Succeeded);
            return self.join_complete(frame, *join);
        }
        if let Err(failure) = self.launch_iterations(frame_id, frame, &mut join, map) {
            self.abort_children(&mut join);
            self.report_map_run(&join, MapRunStatus::Failed);
            return Err(failure);
        }
        self.report_map_run(&join, MapRunStatus::Running);
        let store_over = self.snapshot.limits.store_map_items_over;
        if !distributed && store_over.is_some_and(|over| join.items.len() > over) {
            self.store_map(map_key, frame, &mut join, map);
        }
        frame.waiting = Waiting::Children(join);
        Ok(Progress::Blocked)
    }
}

impl Run<'_> {
    /// The ARN of the Map Run that the Distributed Map state `state_name` starts as its run keyed
    /// `map_key`: under the execution's root machine, labelled by `Label` or the state's
    /// name, its id derived from the execution and the key, so a replayed advance names
    /// the same run. `None` when the execution's ARN is not one (it always is, outside
    /// tests that give no context).
    fn map_run_arn(
        &mut self,
        state_name: &str,
        map: &crate::model::Map,
        map_key: u64,
    ) -> Option<String> {
        // This execution's own Id, not an EXPRESS iteration's child's.
        self.show_own_execution();
        let execution = self
            .snapshot
            .context
            .get("Execution")?
            .get("Id")?
            .as_str()?;
        let label = map
            .label
            .clone()
            .unwrap_or_else(|| default_label(state_name));
        let id = derived_uuid(&format!("{execution}/mapRun/{map_key}"));
        MapRunArn::for_execution(execution, &label, &id).map(|run| run.arn())
    }

    /// A JSONata Map's items: `Items`, or else the state's input, which must be an
    /// array. A failure is recorded with `MapStateFailed`, as AWS records it.
    fn jsonata_items(
        &mut self,
        frame: &mut Frame,
        map: &crate::model::Map,
        input: &Value,
    ) -> Result<Vec<Value>, Failure> {
        let items = match &map.items {
            Some(template) => {
                let value = self.jsonata_value(frame, template, States::input(input), "Items");
                match value {
                    Ok(Value::Array(items)) => Ok(items),
                    Ok(other) => {
                        let source = template
                            .as_expression()
                            .map(|e| e.source().to_string())
                            .unwrap_or_default();
                        let error = EvalError::UnexpectedType {
                            expected: "array",
                            value: Box::new(other),
                        };
                        Err(self.evaluation_failed(frame, "Items", error.cause(&source, "Items")))
                    }
                    Err(failure) => Err(failure),
                }
            }
            None => match input {
                Value::Array(items) => Ok(items.clone()),
                other => Err(self.evaluation_failed(
                    frame,
                    "Items",
                    format!(
                        "Map state input must be an array but was: {}",
                        payload::to_text(other)
                    ),
                )),
            },
        };
        if items.is_err() {
            self.record_for_frame(frame, "MapStateFailed", Details::default());
        }
        items
    }

    /// A number a JSONata expression gives a Map's count or percentage.
    fn jsonata_count(
        &mut self,
        frame: &mut Frame,
        expression: &crate::jsonata::Expression,
        input: &Value,
        field: &str,
    ) -> Result<f64, Failure> {
        let value = self.jsonata_expression(frame, expression, States::input(input), field)?;
        match value.as_f64() {
            Some(n) => Ok(n),
            None => {
                let error = EvalError::UnexpectedType {
                    expected: "number",
                    value: Box::new(value),
                };
                Err(self.evaluation_failed(frame, field, error.cause(expression.source(), field)))
            }
        }
    }
}

/// An integer for the Map's `MaxConcurrencyPath`/`ToleratedFailureCountPath`: a JSON
/// integer or a string holding one (AWS accepts `"1"` there, as the recorded corpus shows).
fn lenient_i64(value: &Value) -> Option<i64> {
    match value {
        Value::String(text) => text.trim().parse().ok(),
        other => other.as_i64(),
    }
}

/// A number for `ToleratedFailurePercentagePath`, accepting numeric strings likewise.
fn lenient_f64(value: &Value) -> Option<f64> {
    match value {
        Value::String(text) => text.trim().parse().ok().filter(|f: &f64| f.is_finite()),
        other => other.as_f64(),
    }
}
