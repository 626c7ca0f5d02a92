//! Where a Distributed Map's items come from, and how they are grouped.
//!
//! A Map with an `ItemReader` cannot iterate its input: its items are in S3, and the
//! interpreter does no I/O. So when such a Map starts, it evaluates the reader's
//! `Parameters`/`Arguments` and `MaxItems(Path)` into a resolved
//! [`crate::distributed::config::ItemReader`] and asks the driver for an internal task
//! ([`READ_ITEMS_RESOURCE`]) that a worker leases and invokes like any other, so retries,
//! leases and crash recovery are those of tasks. The frame waits in
//! [`Waiting::ReadingItems`]; the task's outcome (`{"Items": [...]}` or
//! `States.ItemReaderFailed`) comes back as an ordinary task event, which records no
//! history of its own (AWS shows no task events for a reader), and the Map then starts
//! with those items as if they had been its input ([`Waiting::ItemsRead`]).
//!
//! `ItemBatcher` is applied to the items wherever they came from (read or inline): each
//! iteration's input is then `{"BatchInput": …, "Items": […]}`.

use serde_json::{json, Value};

use super::frame::{Frame, Waiting};
use super::internal_task::Taken;
use super::jsonata::States;
use super::run::{Progress, Run};
use super::{Command, Event, FrameId, TaskRequest};
use crate::distributed::batch::batch_all;
use crate::distributed::config::{
    batch_limit_from_value, max_items_from_value, Count, ItemBatcherSpec, ItemReaderSpec, Language,
};
use crate::error::{names, Failure};
use crate::jsonata::JsonataTemplate;
use crate::model::{QueryLanguage, State};
use crate::template::Template;

/// The resource of the internal task that reads a Map's items: its input is
/// `{"Reader": ItemReader}`, its output `{"Items": [...]}`.
pub const READ_ITEMS_RESOURCE: &str = "arn:aws:states:::cairn:readItems";

fn language_of(state: &State) -> Language {
    match state.query_language {
        QueryLanguage::JsonPath => Language::JsonPath,
        QueryLanguage::JsonAta => Language::JsonAta,
    }
}

impl Run<'_> {
    /// For a Map with an `ItemReader`: asks for the items to be read and blocks the
    /// frame until they are. `None` when the Map has no reader.
    pub(super) fn request_items(
        &mut self,
        frame_id: FrameId,
        frame: &mut Frame,
        state: &State,
        map: &crate::model::Map,
        effective: &Value,
    ) -> Result<Option<Progress>, Failure> {
        let Some(raw) = &map.item_reader else {
            return Ok(None);
        };
        let language = language_of(state);
        let mut diagnostics = Vec::new();
        let Some(spec) = ItemReaderSpec::parse(raw, "/ItemReader", language, &mut diagnostics)
        else {
            // Validation accepted the definition, so this does not happen; fail rather
            // than read something else.
            return Err(Failure::new(
                names::ITEM_READER_FAILED,
                "The ItemReader field is not valid",
            ));
        };
        let arguments = match language {
            Language::JsonPath => match raw.get("Parameters") {
                None => json!({}),
                Some(value) => {
                    let template = Template::compile(value).map_err(|_| {
                        Failure::new(
                            names::ITEM_READER_FAILED,
                            "The ItemReader's Parameters are not valid",
                        )
                    })?;
                    self.evaluate(frame, &template, effective, "ItemReader.Parameters")?
                }
            },
            Language::JsonAta => match raw.get("Arguments") {
                None => json!({}),
                Some(value) => {
                    let template = JsonataTemplate::compile(value).map_err(|_| {
                        Failure::new(
                            names::ITEM_READER_FAILED,
                            "The ItemReader's Arguments are not valid",
                        )
                    })?;
                    self.jsonata_value(
                        frame,
                        &template,
                        States::input(effective),
                        "ItemReader.Arguments",
                    )?
                }
            },
        };
        let max_items = match &spec.max_items {
            None | Some(Count::Literal(_)) => None,
            Some(count) => {
                let (value, source) = self.count_value(frame, count, effective, "MaxItems")?;
                max_items_from_value(&value, &source).map_err(|f| self.with_prefix(frame, f))?
            }
        };
        let reader = spec
            .resolve(&arguments, max_items)
            .map_err(|e| e.into_failure())?;
        let task_id = self.snapshot.next_task;
        self.snapshot.next_task += 1;
        let attempt = frame.retries.iter().sum();
        self.output.commands.push(Command::InvokeTask(TaskRequest {
            task: task_id,
            state_name: frame.state.clone(),
            resource: READ_ITEMS_RESOURCE.to_string(),
            input: json!({ "Reader": reader }),
            timeout_seconds: None,
            heartbeat_seconds: None,
            attempt,
            token: None,
            entered_event: frame.entered_event,
        }));
        self.snapshot.tasks.insert(task_id, frame_id);
        frame.waiting = Waiting::ReadingItems { task: task_id };
        Ok(Some(Progress::Blocked))
    }

    /// Takes up a task event for a Map reading its items; `false` when the event is for
    /// another kind of task (or none).
    pub(super) fn items_event(&mut self, event: &Event) -> bool {
        let reading = |waiting: &Waiting, task| matches!(waiting, Waiting::ReadingItems { task: t } if *t == task);
        let ended = match self.internal_task_event(
            event,
            reading,
            names::ITEM_READER_FAILED,
            "Reading the items timed out",
        ) {
            Taken::NotMine => return false,
            Taken::GoesOn => return true,
            Taken::Ended(ended) => ended,
        };
        let result = ended.outcome.and_then(|output| match output.get("Items") {
            Some(Value::Array(items)) => Ok(items.clone()),
            _ => Err(Failure::new(
                names::ITEM_READER_FAILED,
                "The item reader returned no items array",
            )),
        });
        self.snapshot.tasks.remove(&ended.task);
        if let Some(frame) = self.snapshot.frames.get_mut(&ended.frame) {
            frame.waiting = Waiting::ItemsRead(result);
            self.ready.push_back(ended.frame);
        }
        true
    }

    /// `items` grouped as the Map's `ItemBatcher` says, or as they are without one.
    pub(super) fn batch_items(
        &mut self,
        frame: &mut Frame,
        state: &State,
        map: &crate::model::Map,
        effective: &Value,
        items: Vec<Value>,
    ) -> Result<Vec<Value>, Failure> {
        let Some(raw) = &map.item_batcher else {
            return Ok(items);
        };
        let language = language_of(state);
        let mut diagnostics = Vec::new();
        let Some(spec) = ItemBatcherSpec::parse(raw, "/ItemBatcher", language, &mut diagnostics)
        else {
            return Err(Failure::runtime("The ItemBatcher field is not valid"));
        };
        let limit = |run: &mut Self,
                     frame: &mut Frame,
                     count: &Option<Count>,
                     field: &str|
         -> Result<Option<u64>, Failure> {
            match count {
                None | Some(Count::Literal(_)) => Ok(None),
                Some(count) => {
                    let (value, source) = run.count_value(frame, count, effective, field)?;
                    let path_field = format!("{field}Path");
                    batch_limit_from_value(&value, &path_field, &source)
                        .map(Some)
                        .map_err(|f| run.with_prefix(frame, f))
                }
            }
        };
        let max_items = limit(self, frame, &spec.max_items_per_batch, "MaxItemsPerBatch")?;
        let max_bytes = limit(
            self,
            frame,
            &spec.max_input_bytes_per_batch,
            "MaxInputBytesPerBatch",
        )?;
        let batch_input = match &spec.batch_input {
            None => None,
            Some(value) => Some(match language {
                Language::JsonPath => {
                    let template = Template::compile(value)
                        .map_err(|_| Failure::runtime("The BatchInput field is not valid"))?;
                    self.evaluate(frame, &template, effective, "BatchInput")?
                }
                Language::JsonAta => {
                    let template = JsonataTemplate::compile(value)
                        .map_err(|_| Failure::runtime("The BatchInput field is not valid"))?;
                    self.jsonata_value(frame, &template, States::input(effective), "BatchInput")?
                }
            }),
        };
        let batching = spec.resolve(max_items, max_bytes, batch_input);
        batch_all(&batching, items).map_err(|e| e.into_failure())
    }

    /// The value a `…Path` (JSONPath) or an expression (JSONata) count gives, with its
    /// source for messages.
    fn count_value(
        &mut self,
        frame: &mut Frame,
        count: &Count,
        effective: &Value,
        field: &str,
    ) -> Result<(Value, String), Failure> {
        match count {
            Count::Literal(n) => Ok((json!(n), n.to_string())),
            Count::Path(text) => {
                let path = crate::path::Path::parse_reference(text).map_err(|e| {
                    Failure::runtime(format!("The {field}Path field is not a valid path: {e}"))
                })?;
                let value = self.select_for(frame, &path, effective)?;
                Ok((value, text.clone()))
            }
            Count::Expression(source) => {
                let template =
                    JsonataTemplate::compile(&Value::String(source.clone())).map_err(|_| {
                        Failure::runtime(format!("The {field} field is not a valid expression"))
                    })?;
                let value =
                    self.jsonata_value(frame, &template, States::input(effective), field)?;
                Ok((value, source.clone()))
            }
        }
    }
}
