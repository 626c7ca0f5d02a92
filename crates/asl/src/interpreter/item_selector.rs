//! A Map iteration's input: its item after `ItemSelector`, or, with an `ItemBatcher`,
//! its batch with each item in it selected.
//!
//! AWS applies a Distributed Map's fields in this order: ItemReader, ItemsPath/Items,
//! ItemSelector, ItemBatcher. Cairn groups the raw items into batches first (where
//! they are read or listed: `item_source`, or the reader's worker as it writes rows),
//! and selects each item of a batch here, as the iteration starts, with the item's own
//! index in the whole item list as `$$.Map.Item.Index`. Inline items, stored items and
//! items read as rows all start here, so all are selected the same way. Only
//! `MaxInputBytesPerBatch` sees the difference: it measures the items before selection
//! (docs/asl-support.md).

use serde_json::Value;

use crate::error::Failure;
use crate::model::Map;
use crate::template::Scope;

use super::frame::{variables_of, Frame};
use super::jsonata::States;
use super::run::Run;

/// The selector failed on one item: which, for the stored Map that evaluates it again
/// once the state's input is back (module `stored`).
pub(super) struct SelectionFailed {
    /// The failing item's index in the whole item list.
    pub(super) index: usize,
    /// The failing item, as read.
    pub(super) item: Value,
    pub(super) failure: Failure,
}

/// Whether the Map has an `ItemSelector` (either language).
pub(super) fn has_selector(map: &Map) -> bool {
    map.item_selector.is_some() || map.jsonata_item_selector.is_some()
}

/// How many items the batch `batch` holds.
pub(super) fn items_in(batch: &Value) -> usize {
    batch
        .get("Items")
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
}

impl Run<'_> {
    /// The input of the iteration of `map` whose item (or batch of raw items) is
    /// `item`; `effective` is the state's input after InputPath. `first_item` is the
    /// item's index, or with an `ItemBatcher` that of the batch's first item, in the
    /// whole item list. A batch is never selected as a whole: each of its items is.
    pub(super) fn iteration_input(
        &mut self,
        frame: &mut Frame,
        effective: &Value,
        map: &Map,
        first_item: usize,
        item: &Value,
    ) -> Result<Value, Box<SelectionFailed>> {
        if !has_selector(map) {
            return Ok(item.clone());
        }
        if map.item_batcher.is_none() {
            return self.select_item(frame, effective, map, first_item, item);
        }
        let mut batch = item.clone();
        if let Some(Value::Array(items)) = batch.get_mut("Items") {
            for (offset, slot) in items.iter_mut().enumerate() {
                *slot = self.select_item(frame, effective, map, first_item + offset, slot)?;
            }
        }
        Ok(batch)
    }

    /// `item` (at `index` in the whole item list) after the Map's `ItemSelector`.
    fn select_item(
        &mut self,
        frame: &mut Frame,
        effective: &Value,
        map: &Map,
        index: usize,
        item: &Value,
    ) -> Result<Value, Box<SelectionFailed>> {
        let failed = |failure| {
            Box::new(SelectionFailed {
                index,
                item: item.clone(),
                failure,
            })
        };
        match (&map.item_selector, &map.jsonata_item_selector) {
            (Some(selector), _) => {
                self.update_context(frame, Some((index, item)));
                let variables = variables_of(&self.snapshot.frames, frame);
                let scope = Scope {
                    input: effective,
                    context: &self.snapshot.context,
                    variables: &variables,
                };
                selector
                    .evaluate(scope, &mut self.random, "ItemSelector")
                    .map_err(|failure| failed(self.with_prefix(frame, failure)))
            }
            (None, Some(selector)) => self
                .with_jsonata(frame, Some((index, item)), States::input(effective), |s| {
                    selector.evaluate(s, "ItemSelector")
                })
                .map_err(failed),
            (None, None) => Ok(item.clone()),
        }
    }
}
