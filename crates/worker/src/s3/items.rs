//! The internal task a Distributed Map with an `ItemReader` asks for
//! ([`cairn_asl::interpreter::READ_ITEMS_RESOURCE`]): read the items the resolved reader
//! names and answer `{"Items": [...]}`, or fail with `States.ItemReaderFailed`.
//!
//! The object streams through [`ItemStream`] a chunk at a time; the items it yields are
//! gathered into the task's answer, which the engine keeps like any task output.

use cairn_asl::distributed::config::ItemReader;
use cairn_asl::error::names;
use serde_json::{json, Value};

use crate::error::InvokeError;
use crate::s3::{ItemStream, S3Client};

/// Reads every item of the reader in `input` (`{"Reader": …}`).
pub async fn read_items(client: Option<&S3Client>, input: &Value) -> Result<Value, InvokeError> {
    let reader: ItemReader = input
        .get("Reader")
        .cloned()
        .ok_or_else(|| InvokeError::BadParameters("the item reader's input has no Reader".into()))
        .and_then(|value| {
            serde_json::from_value(value)
                .map_err(|e| InvokeError::BadParameters(format!("the item reader's input: {e}")))
        })?;
    let Some(client) = client else {
        return Err(InvokeError::named(
            names::ITEM_READER_FAILED,
            "No S3 client is configured for this worker",
        ));
    };
    let mut stream = ItemStream::open(client, &reader, 0).map_err(failed)?;
    let mut items = Vec::new();
    while let Some(next) = stream.next().await {
        let (_, item) = next.map_err(failed)?;
        items.push(item);
    }
    Ok(json!({ "Items": items }))
}

fn failed(failure: cairn_asl::error::Failure) -> InvokeError {
    InvokeError::Named {
        error: failure.error,
        cause: failure.cause,
    }
}
