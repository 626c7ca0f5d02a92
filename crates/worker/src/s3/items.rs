//! The internal task a Distributed Map with an `ItemReader` asks for
//! ([`cairn_asl::interpreter::READ_ITEMS_RESOURCE`], its input a [`ReadItemsRequest`]):
//! read the items the resolved reader names, or fail with `States.ItemReaderFailed`.
//!
//! The object streams through [`ItemStream`] a chunk at a time. When the request asks
//! for rows (a driver that keeps stored values: `cairn server`, `cairn dev`), the items
//! go, batched as the request says, into the Map's stored values [`ROWS_PER_WRITE`] at
//! a time ([`read_item_rows`]), and the answer is only `{"ItemCount": n}`: memory stays
//! flat whatever the object's size. Without rows ([`read_items`]: Express executions)
//! they are gathered into `{"Items": [...]}`.

use cairn_asl::distributed::batch::Batcher;
use cairn_asl::error::names;
use cairn_asl::interpreter::{ReadItemsRequest, StoredKind};
use cairn_store::Tasks;
use serde_json::{json, Value};

use crate::error::InvokeError;
use crate::s3::{ItemStream, S3Client};

/// How many rows one insert writes.
pub const ROWS_PER_WRITE: usize = 1_000;

fn request_of(input: &Value) -> Result<ReadItemsRequest, InvokeError> {
    if input.get("Reader").is_none() {
        return Err(InvokeError::BadParameters(
            "the item reader's input has no Reader".into(),
        ));
    }
    serde_json::from_value(input.clone())
        .map_err(|e| InvokeError::BadParameters(format!("the item reader's input: {e}")))
}

fn open(client: Option<&S3Client>, request: &ReadItemsRequest) -> Result<ItemStream, InvokeError> {
    let Some(client) = client else {
        return Err(InvokeError::named(
            names::ITEM_READER_FAILED,
            "No S3 client is configured for this worker",
        ));
    };
    ItemStream::open(client, &request.reader, 0).map_err(failed)
}

/// Reads every item of the reader in `input` and answers `{"Items": [...]}` (a request
/// for rows is answered the same way: a caller without a store cannot write them).
pub async fn read_items(client: Option<&S3Client>, input: &Value) -> Result<Value, InvokeError> {
    let request = request_of(input)?;
    let mut stream = open(client, &request)?;
    let mut items = Vec::new();
    while let Some(next) = stream.next().await {
        let (_, item) = next.map_err(failed)?;
        items.push(item);
    }
    Ok(json!({ "Items": items }))
}

/// Reads the items of the reader in `input` into the stored values its `Rows` name,
/// for execution `execution_arn`, and answers `{"ItemCount": n}` (n rows: batches when
/// batched). A request without `Rows` is answered as [`read_items`] does.
pub async fn read_item_rows<S: Tasks>(
    store: &S,
    client: Option<&S3Client>,
    execution_arn: &str,
    input: &Value,
) -> Result<Value, InvokeError> {
    let request = request_of(input)?;
    let Some(rows) = &request.rows else {
        return read_items(client, input).await;
    };
    let mut stream = open(client, &request)?;
    let mut batcher = rows.batching.clone().map(Batcher::new);
    let mut written: u64 = 0;
    let mut chunk: Vec<Value> = Vec::with_capacity(ROWS_PER_WRITE);
    let write = |chunk: Vec<Value>, first: u64| async move {
        store
            .store_map_values(execution_arn, rows.map, StoredKind::Item, first, &chunk)
            .await
            .map_err(|e| {
                InvokeError::named(
                    names::ITEM_READER_FAILED,
                    format!("The items could not be stored: {e}"),
                )
            })
    };
    while let Some(next) = stream.next().await {
        let (_, item) = next.map_err(failed)?;
        let row = match batcher.as_mut() {
            None => Some(item),
            Some(batcher) => batcher.push(item).map_err(|e| failed(e.into_failure()))?,
        };
        chunk.extend(row);
        if chunk.len() >= ROWS_PER_WRITE {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(ROWS_PER_WRITE));
            let count = full.len() as u64;
            write(full, written).await?;
            written += count;
        }
    }
    chunk.extend(batcher.as_mut().and_then(Batcher::finish));
    let count = chunk.len() as u64;
    write(chunk, written).await?;
    written += count;
    Ok(json!({ "ItemCount": written }))
}

fn failed(failure: cairn_asl::error::Failure) -> InvokeError {
    InvokeError::Named {
        error: failure.error,
        cause: failure.cause,
    }
}
