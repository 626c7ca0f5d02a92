//! Where a Distributed Map's items come from, and how they are grouped.
//!
//! A Map with an `ItemReader` cannot iterate its input: its items are in S3, and the
//! interpreter does no I/O. So when such a Map starts, it evaluates the reader's
//! `Parameters`/`Arguments` and `MaxItems(Path)` into a resolved
//! [`crate::distributed::config::ItemReader`] and asks the driver for an internal task
//! ([`READ_ITEMS_RESOURCE`], its input a [`ReadItemsRequest`]) that a worker leases and
//! invokes like any other, so retries, leases and crash recovery are those of tasks. The
//! frame waits in [`Waiting::ReadingItems`]; the task's outcome comes back as an ordinary
//! task event, which records no history of its own (AWS shows no task events for a
//! reader), and the Map then starts ([`Waiting::ItemsRead`]) in one of two ways:
//!
//! - **as rows** ([`ItemRows`]), when the driver keeps stored values
//!   (`Limits::store_map_items_over` is set: `cairn server`, `cairn dev`): the worker
//!   writes the items (batched by the `ItemBatcher`, evaluated here before the read)
//!   straight into the stored values of the Map (kind Item, key [`rows_key`]), and
//!   answers only `{"ItemCount": n}`. The Map starts as a stored Map with no item in its
//!   snapshot and pulls them through `Snapshot::wanted`, so neither the task's output
//!   nor the snapshot ever holds the items. Its `ResultWriter`, if it exports, pages
//!   the results from the rows too (module `result_writer`); one with a `WriterConfig`
//!   alone still reads inline, as it shapes every result into the Map's output.
//! - **inline** (`{"Items": [...]}`), for drivers that keep nothing (`cairn run`, Express
//!   executions): the Map starts with those items as if they had been its input.
//!
//! `ItemBatcher` is applied to inline items wherever they came from (read or the input):
//! each iteration's input is then `{"BatchInput": …, "Items": […]}`. The batches hold
//! the items as read; an `ItemSelector` selects each of them as the batch's iteration
//! starts (module `item_selector`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::frame::{Frame, Waiting};
use super::internal_task::Taken;
use super::jsonata::States;
use super::run::{Progress, Run};
use super::{Command, Event, FrameId, TaskId, TaskRequest};
use crate::distributed::batch::{batch_all, Batching};
use crate::distributed::config::{
    batch_limit_from_value, max_items_from_value, Count, ItemBatcherSpec, ItemReader,
    ItemReaderSpec, Language,
};
use crate::error::{names, Failure};
use crate::jsonata::JsonataTemplate;
use crate::model::{QueryLanguage, State};
use crate::template::Template;

/// The resource of the internal task that reads a Map's items: its input is a
/// [`ReadItemsRequest`], its output `{"ItemCount": n}` when the request asks for rows,
/// else `{"Items": [...]}`.
pub const READ_ITEMS_RESOURCE: &str = "arn:aws:states:::cairn:readItems";

/// The input of the [`READ_ITEMS_RESOURCE`] task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadItemsRequest {
    #[serde(rename = "Reader")]
    pub reader: ItemReader,
    /// Write the items as stored values rather than answer them.
    #[serde(rename = "Rows", default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<ItemRows>,
}

/// Where a reader writes its items: the stored values of one Map (kind Item, index
/// from 0), each row an item, or a batch when `batching` is given. Writing a row again
/// overwrites it, so a read retried or leased again does not duplicate items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemRows {
    /// The Map's key among the execution's stored values ([`rows_key`]).
    #[serde(rename = "Map")]
    pub map: u64,
    /// The Map's `ItemBatcher`, evaluated.
    #[serde(rename = "Batching", default, skip_serializing_if = "Option::is_none")]
    pub batching: Option<Batching>,
}

/// The stored-values key of a Map whose items the task `task` reads as rows. A stored
/// inline Map's key is its `MapStateStarted` event id, which is not known before the
/// read (that event records the item count); task ids are unique within an execution,
/// and offset past any event id (an execution's history is far shorter than 2^40).
pub fn rows_key(task: TaskId) -> u64 {
    (1 << 40) + task
}

/// What a read gave the Map to start with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) enum ReadItems {
    /// The items themselves.
    Inline(Vec<Value>),
    /// `count` items (or batches) written as the stored values of Map `map`.
    Rows { map: u64, count: usize },
}

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
        // A `WriterConfig` alone shapes every result inline: those need the join.
        let inline_writer = map
            .result_writer
            .as_ref()
            .is_some_and(|writer| writer.get("Resource").is_none());
        let rows = if self.snapshot.limits.store_map_items_over.is_some() && !inline_writer {
            Some(ItemRows {
                map: rows_key(task_id),
                batching: self.batching(frame, state, map, effective)?,
            })
        } else {
            None
        };
        let input = serde_json::to_value(ReadItemsRequest { reader, rows })
            .map_err(|e| Failure::new(names::ITEM_READER_FAILED, e.to_string()))?;
        self.snapshot.next_task += 1;
        let attempt = frame.retries.iter().sum();
        self.output.commands.push(Command::InvokeTask(TaskRequest {
            task: task_id,
            state_name: frame.state.clone(),
            resource: READ_ITEMS_RESOURCE.to_string(),
            input,
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
        let map = rows_key(ended.task);
        let result = ended.outcome.and_then(|output| {
            if let Some(count) = output.get("ItemCount").and_then(Value::as_u64) {
                return Ok(ReadItems::Rows {
                    map,
                    count: count as usize,
                });
            }
            match output.get("Items") {
                Some(Value::Array(items)) => Ok(ReadItems::Inline(items.clone())),
                _ => Err(Failure::new(
                    names::ITEM_READER_FAILED,
                    "The item reader returned no items array",
                )),
            }
        });
        if result.is_err() && self.snapshot.limits.store_map_items_over.is_some() {
            // Whatever rows a failed read wrote are of no use: a retry reads again
            // under a new key.
            self.output.commands.push(Command::ReleaseStored { map });
        }
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
        match self.batching(frame, state, map, effective)? {
            Some(batching) => batch_all(&batching, items).map_err(|e| e.into_failure()),
            None => Ok(items),
        }
    }

    /// The Map's `ItemBatcher` evaluated; `None` without one.
    fn batching(
        &mut self,
        frame: &mut Frame,
        state: &State,
        map: &crate::model::Map,
        effective: &Value,
    ) -> Result<Option<Batching>, Failure> {
        let Some(raw) = &map.item_batcher else {
            return Ok(None);
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
        Ok(Some(spec.resolve(max_items, max_bytes, batch_input)))
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
