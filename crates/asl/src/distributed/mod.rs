//! The Distributed Map's S3 building blocks that need no I/O: `ItemReader`,
//! `ItemBatcher` and `ResultWriter` as typed values checked as AWS checks them
//! ([`config`]), the decoders that turn an object's bytes into items ([`csv`],
//! [`json`]), the grouping of items into batches ([`batch`]) and the shapes of the files
//! a `ResultWriter` exports ([`results`]), and the names of a Map Run and its children
//! ([`map_run`]).
//!
//! How the engine uses them (steps 2 and 3 are not wired yet, so a new definition with
//! these fields is refused: `validate/not_built.rs`, `docs/asl-support.md`):
//! 1. At validation, [`config::ItemReaderSpec::parse`], [`config::ItemBatcherSpec::parse`]
//!    and [`config::ResultWriterSpec::parse`] check the raw fields `model::Map` keeps and
//!    report AWS-shaped diagnostics.
//! 2. At run time, the interpreter evaluates `Parameters` (or `Arguments`) and the
//!    `…Path` fields, then [`config::ItemReaderSpec::resolve`] (and its siblings) turn the
//!    evaluated values into what the worker's S3 reader and writer take.
//! 3. The worker feeds an object's bytes to a [`Decoder`] chunk by chunk and stores each
//!    item as it comes; nothing here holds a whole object.
//!
//! Everything here is sans-IO: bytes in, items out; no clock (dates arrive as text).

pub mod batch;
pub mod config;
pub mod csv;
pub mod json;
pub mod map_run;
pub mod results;

use serde_json::Value;

use crate::error::{names, Failure};

/// The largest item an item reader accepts, in bytes of compact JSON: the input limit of
/// the child execution that will receive it (256 KiB). A larger item fails the Map Run
/// with `States.ItemReaderFailed` rather than a child later.
pub const MAX_ITEM_BYTES: usize = 256 * 1024;

/// The most items one Map Run reads: AWS stops reading at 100,000,000 whatever
/// `MaxItems` says (a larger value is accepted and means this).
pub const MAX_ITEMS: u64 = 100_000_000;

/// Why reading items failed: `States.ItemReaderFailed` with `cause`, as AWS reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("States.ItemReaderFailed: {cause}")]
pub struct ReadError {
    pub cause: String,
}

impl ReadError {
    pub fn new(cause: impl Into<String>) -> Self {
        ReadError {
            cause: cause.into(),
        }
    }

    /// What the state machine sees.
    pub fn into_failure(self) -> Failure {
        Failure::new(names::ITEM_READER_FAILED, self.cause)
    }
}

/// A decoder of one object's bytes into items: push chunks as they arrive, pull the
/// items each chunk completes, then [`Decoder::finish`] at the end of the object.
pub trait Decoder {
    /// Consumes `chunk` and appends every item it completes to `items`.
    fn push(&mut self, chunk: &[u8], items: &mut Vec<Value>) -> Result<(), ReadError>;
    /// The end of the object: appends the last item, if any, or reports a truncated one.
    fn finish(&mut self, items: &mut Vec<Value>) -> Result<(), ReadError>;
}

/// Fails an item over [`MAX_ITEM_BYTES`]; `index` is its 0-based position.
pub(crate) fn check_item_size(bytes: usize, index: u64) -> Result<(), ReadError> {
    if bytes > MAX_ITEM_BYTES {
        return Err(ReadError::new(format!(
            "Item at index {index} is {bytes} bytes, over the limit of {MAX_ITEM_BYTES} bytes for one item."
        )));
    }
    Ok(())
}

/// Skips a UTF-8 byte order mark at the start of an object, even when it arrives split
/// across chunks.
#[derive(Debug)]
pub(crate) struct Bom {
    /// The object's first bytes, held until they tell whether a mark is there.
    head: Option<Vec<u8>>,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl Bom {
    pub(crate) fn new() -> Bom {
        Bom {
            head: Some(Vec::new()),
        }
    }

    /// The bytes of `chunk` to decode: nothing while the start is still undecided.
    pub(crate) fn strip<'a>(&mut self, chunk: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        use std::borrow::Cow;
        let Some(mut head) = self.head.take() else {
            return Cow::Borrowed(chunk);
        };
        head.extend_from_slice(chunk);
        if head.len() < BOM.len() && BOM.starts_with(&head) {
            self.head = Some(head);
            return Cow::Borrowed(&[]);
        }
        match head.strip_prefix(BOM) {
            Some(rest) => Cow::Owned(rest.to_vec()),
            None => Cow::Owned(head),
        }
    }

    /// At the end of the object: bytes still held (a short start that was no mark).
    pub(crate) fn rest(&mut self) -> Vec<u8> {
        match self.head.take() {
            Some(head) if !BOM.starts_with(&head) => head,
            _ => Vec::new(),
        }
    }
}
