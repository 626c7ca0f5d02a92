//! The internal task that exports a Distributed Map's results
//! ([`cairn_asl::distributed::results::WRITE_RESULTS_RESOURCE`]): its input a
//! [`WriteResultsRequest`], its output the Map state's output (`MapRunArn` and
//! `ResultWriterDetails`), or `States.ResultWriterFailed`.
//!
//! The results go through [`ResultUpload`] one at a time, so the files are streamed to
//! S3 as they are written.

use cairn_asl::distributed::results::WriteResultsRequest;
use cairn_asl::error::names;
use serde_json::Value;

use crate::error::InvokeError;
use crate::s3::{ResultUpload, S3Client};

/// Writes the results, the manifest last, and answers the Map state's output.
pub async fn write_results(client: Option<&S3Client>, input: &Value) -> Result<Value, InvokeError> {
    let request: WriteResultsRequest = serde_json::from_value(input.clone())
        .map_err(|e| InvokeError::BadParameters(format!("the result writer's input: {e}")))?;
    let Some(client) = client else {
        return Err(InvokeError::named(
            names::RESULT_WRITER_FAILED,
            "No S3 client is configured for this worker",
        ));
    };
    let mut upload = ResultUpload::new(
        client,
        request.destination,
        &request.map_run_arn,
        request.output_type,
        request.transformation,
    );
    for result in &request.results {
        upload.push(result).await.map_err(failed)?;
    }
    upload.finish().await.map_err(failed)
}

fn failed(failure: cairn_asl::error::Failure) -> InvokeError {
    InvokeError::Named {
        error: failure.error,
        cause: failure.cause,
    }
}
