//! `ItemBatcher`: items grouped, in order, into the input of one child each:
//! `{"BatchInput": …, "Items": […]}` (`BatchInput` only when the definition has one).
//!
//! A batch closes when it holds `MaxItemsPerBatch` items, or when the next item would
//! take its JSON text past `MaxInputBytesPerBatch` bytes (the whole batch input counts,
//! `BatchInput` included). An item that alone would pass the byte limit fails the Map
//! Run: no batch could carry it.

use serde_json::{Map, Value};

use crate::distributed::ReadError;

/// The batching of one Map Run: [`crate::distributed::config::ItemBatcherSpec::resolve`]
/// builds it.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Batching {
    /// At most this many items a batch; `None`: no count limit.
    pub max_items: Option<u64>,
    /// At most this many bytes of JSON a batch input; `None`: no byte limit (the child
    /// execution's input limit still applies).
    pub max_bytes: Option<u64>,
    /// The evaluated `BatchInput`.
    pub batch_input: Option<Value>,
}

/// Groups items pushed one at a time into batches.
#[derive(Debug)]
pub struct Batcher {
    batching: Batching,
    /// Bytes of `{"BatchInput":…,"Items":[]}` with no item.
    base_bytes: u64,
    items: Vec<Value>,
    bytes: u64,
    /// Items pushed so far (for messages).
    seen: u64,
}

impl Batcher {
    pub fn new(batching: Batching) -> Batcher {
        let empty = batch_value(batching.batch_input.as_ref(), Vec::new());
        let base_bytes = json_len(&empty);
        Batcher {
            batching,
            base_bytes,
            items: Vec::new(),
            bytes: base_bytes,
            seen: 0,
        }
    }

    /// Adds `item`; returns the batch it closed, if it closed one (the item then starts
    /// the next batch).
    pub fn push(&mut self, item: Value) -> Result<Option<Value>, ReadError> {
        let index = self.seen;
        self.seen += 1;
        let item_bytes = json_len(&item);
        if let Some(max) = self.batching.max_bytes {
            if self.base_bytes + item_bytes > max {
                return Err(ReadError::new(format!(
                    "Item at index {index} is {item_bytes} bytes and cannot fit in a batch of at most {max} bytes (MaxInputBytesPerBatch)."
                )));
            }
        }
        let grown = self.bytes + item_bytes + u64::from(!self.items.is_empty());
        let over_bytes = self.batching.max_bytes.is_some_and(|max| grown > max);
        let closed = if !self.items.is_empty() && over_bytes {
            self.take()
        } else {
            None
        };
        self.bytes += item_bytes + u64::from(!self.items.is_empty());
        self.items.push(item);
        let full = self
            .batching
            .max_items
            .is_some_and(|max| self.items.len() as u64 >= max);
        match closed {
            Some(batch) => Ok(Some(batch)),
            None if full => Ok(self.take()),
            None => Ok(None),
        }
    }

    /// The last, partial batch, if any item is waiting.
    pub fn finish(&mut self) -> Option<Value> {
        self.take()
    }

    fn take(&mut self) -> Option<Value> {
        if self.items.is_empty() {
            return None;
        }
        self.bytes = self.base_bytes;
        let items = std::mem::take(&mut self.items);
        Some(batch_value(self.batching.batch_input.as_ref(), items))
    }
}

/// `{"BatchInput": …, "Items": […]}`, or `{"Items": […]}` without a `BatchInput`.
pub fn batch_value(batch_input: Option<&Value>, items: Vec<Value>) -> Value {
    let mut batch = Map::new();
    if let Some(input) = batch_input {
        batch.insert("BatchInput".into(), input.clone());
    }
    batch.insert("Items".into(), Value::Array(items));
    Value::Object(batch)
}

/// All of `items` in batches (for callers that hold the items anyway).
pub fn batch_all(
    batching: &Batching,
    items: impl IntoIterator<Item = Value>,
) -> Result<Vec<Value>, ReadError> {
    let mut batcher = Batcher::new(batching.clone());
    let mut batches = Vec::new();
    for item in items {
        batches.extend(batcher.push(item)?);
    }
    batches.extend(batcher.finish());
    Ok(batches)
}

fn json_len(value: &Value) -> u64 {
    serde_json::to_vec(value).map_or(u64::MAX / 4, |v| v.len() as u64)
}
