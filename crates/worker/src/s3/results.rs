//! The internal task that exports a Distributed Map's results
//! ([`cairn_asl::distributed::results::WRITE_RESULTS_RESOURCE`]): its input a
//! [`WriteResultsRequest`], its output the Map state's output (`MapRunArn` and
//! `ResultWriterDetails`), or `States.ResultWriterFailed`.
//!
//! The results go through [`ResultUpload`] one at a time, so the files are streamed to
//! S3 as they are written.

use cairn_asl::distributed::results::WriteResultsRequest;
use cairn_asl::error::names;
use cairn_asl::interpreter::StoredKind;
use cairn_store::Tasks;
use serde_json::Value;

use crate::error::InvokeError;
use crate::s3::{ResultUpload, S3Client};

/// How many items' inputs and results one page from the store holds.
pub const RESULTS_PER_PAGE: u64 = 1_000;

/// Writes the results in the request, the manifest last, and answers the Map state's
/// output. A request whose results the store keeps is refused: [`write_stored_results`]
/// writes those.
pub async fn write_results(client: Option<&S3Client>, input: &Value) -> Result<Value, InvokeError> {
    let request = request_of(input)?;
    if request.stored.is_some() {
        return Err(InvokeError::named(
            names::RESULT_WRITER_FAILED,
            "The results are stored and this worker has no store",
        ));
    }
    let mut upload = upload_for(client, &request)?;
    for result in &request.results {
        upload.push(result).await.map_err(failed)?;
    }
    upload.finish().await.map_err(failed)
}

/// Writes the results as [`write_results`] does; when the request says the store keeps
/// them (a Map kept as rows), pages them from `store`, [`RESULTS_PER_PAGE`] items at a
/// time, so they are never all in memory.
pub async fn write_stored_results<S: Tasks>(
    store: &S,
    client: Option<&S3Client>,
    execution_arn: &str,
    input: &Value,
) -> Result<Value, InvokeError> {
    let request = request_of(input)?;
    let Some(stored) = &request.stored else {
        return write_results(client, input).await;
    };
    let mut upload = upload_for(client, &request)?;
    let failed_items: std::collections::HashSet<u64> = stored.failed.iter().copied().collect();
    let timed_out_items: std::collections::HashSet<u64> =
        stored.timed_out.iter().copied().collect();
    let unreadable = |e: cairn_store::StoreError| {
        InvokeError::named(
            names::RESULT_WRITER_FAILED,
            format!("The stored results could not be read: {e}"),
        )
    };
    let mut from = 0;
    while from < stored.total {
        let page = RESULTS_PER_PAGE.min(stored.total - from);
        let page_of = |kind| store.map_values(execution_arn, stored.map, kind, from, page);
        let inputs = page_of(StoredKind::Item).await.map_err(unreadable)?;
        let results = page_of(StoredKind::Result).await.map_err(unreadable)?;
        let mut inputs = inputs.into_iter().peekable();
        let mut results = results.into_iter().peekable();
        for index in from..from + page {
            let input = inputs
                .next_if(|(at, _)| *at == index)
                .map_or(Value::Null, |(_, value)| value);
            let result = results.next_if(|(at, _)| *at == index).map(|(_, v)| v);
            let child_failed = failed_items.contains(&index);
            let mut record = stored
                .run
                .child_result(index, input, result, child_failed, None);
            if timed_out_items.contains(&index) {
                record = record.timed_out();
            }
            upload.push(&record).await.map_err(failed)?;
        }
        from += page;
    }
    upload.finish().await.map_err(failed)
}

fn request_of(input: &Value) -> Result<WriteResultsRequest, InvokeError> {
    serde_json::from_value(input.clone())
        .map_err(|e| InvokeError::BadParameters(format!("the result writer's input: {e}")))
}

fn upload_for(
    client: Option<&S3Client>,
    request: &WriteResultsRequest,
) -> Result<ResultUpload, InvokeError> {
    let Some(client) = client else {
        return Err(InvokeError::named(
            names::RESULT_WRITER_FAILED,
            "No S3 client is configured for this worker",
        ));
    };
    Ok(ResultUpload::new(
        client,
        request.destination.clone(),
        &request.map_run_arn,
        request.output_type,
        request.transformation,
    ))
}

fn failed(failure: cairn_asl::error::Failure) -> InvokeError {
    InvokeError::Named {
        error: failure.error,
        cause: failure.cause,
    }
}
