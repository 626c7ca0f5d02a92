//! A `ResultWriter`'s export, streamed: results are pushed one at a time, in item order,
//! and written to `SUCCEEDED_n`, `FAILED_n` and `PENDING_n` files under
//! `<Prefix>/<map run id>/`; [`ResultUpload::finish`] closes them, writes
//! `manifest.json` and returns the Map state's output (`MapRunArn` and
//! `ResultWriterDetails`).
//!
//! Memory stays bounded: each open file holds at most one part (8 MiB by default) before
//! it goes to S3 as a part of a multipart upload; a file that stays under one part is a
//! single `PutObject`. A file passes to the next number at 5 GB, as AWS's do. Any S3
//! failure is `States.ResultWriterFailed`, and the multipart uploads already begun are
//! aborted.

use cairn_asl::distributed::config::{Destination, OutputType, Transformation};
use cairn_asl::distributed::results::{
    exported_output, manifest, run_folder, ChildResult, FileSplitter, ResultClass, Write,
    WrittenFile, DEFAULT_FILE_LIMIT_BYTES,
};
use cairn_asl::error::Failure;
use serde_json::Value;

use crate::s3::client::S3Client;
use crate::s3::error::S3Error;

/// The smallest part S3 takes in a multipart upload (all but the last), and the size
/// a part is sent at by default.
pub const DEFAULT_PART_BYTES: usize = 8 * 1024 * 1024;
const MIN_PART_BYTES: usize = 5 * 1024 * 1024;
const CONTENT_TYPE: &str = "application/json";

/// One Map Run's export in progress.
pub struct ResultUpload {
    client: S3Client,
    destination: Destination,
    map_run_arn: String,
    transformation: Transformation,
    part_bytes: usize,
    classes: Vec<ClassFiles>,
}

impl std::fmt::Debug for ResultUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultUpload")
            .field("destination", &self.destination)
            .field("map_run_arn", &self.map_run_arn)
            .finish_non_exhaustive()
    }
}

/// The files of one class (SUCCEEDED, FAILED or PENDING).
struct ClassFiles {
    class: ResultClass,
    splitter: FileSplitter,
    open: Option<OpenFile>,
}

struct OpenFile {
    key: String,
    buffer: Vec<u8>,
    /// The multipart upload, once the file outgrew one part.
    upload: Option<(String, Vec<(u32, String)>)>,
}

impl ResultUpload {
    /// An export to `destination` for the Map Run `map_run_arn`.
    pub fn new(
        client: &S3Client,
        destination: Destination,
        map_run_arn: &str,
        output_type: OutputType,
        transformation: Transformation,
    ) -> ResultUpload {
        ResultUpload::with_limits(
            client,
            destination,
            map_run_arn,
            output_type,
            transformation,
            DEFAULT_FILE_LIMIT_BYTES,
            DEFAULT_PART_BYTES,
        )
    }

    /// The same with another file size limit and part size (at least S3's 5 MiB).
    pub fn with_limits(
        client: &S3Client,
        destination: Destination,
        map_run_arn: &str,
        output_type: OutputType,
        transformation: Transformation,
        file_limit: u64,
        part_bytes: usize,
    ) -> ResultUpload {
        let folder = run_folder(&destination.prefix, map_run_arn);
        let classes = ResultClass::ALL
            .iter()
            .map(|&class| ClassFiles {
                class,
                splitter: FileSplitter::new(class, &folder, output_type, file_limit),
                open: None,
            })
            .collect();
        ResultUpload {
            client: client.clone(),
            destination,
            map_run_arn: map_run_arn.to_string(),
            transformation,
            part_bytes: part_bytes.max(MIN_PART_BYTES),
            classes,
        }
    }

    /// Adds one item's result (in item order).
    pub async fn push(&mut self, result: &ChildResult) -> Result<(), Failure> {
        match self.try_push(result).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.fail(e).await),
        }
    }

    async fn try_push(&mut self, result: &ChildResult) -> Result<(), S3Error> {
        let class = result.class();
        let records = result.records(self.transformation);
        let Some(index) = self.classes.iter().position(|c| c.class == class) else {
            return Ok(());
        };
        for record in records {
            let write = self.classes[index].splitter.record(&record);
            match write {
                Write::Start { key, bytes } => {
                    self.close(index).await?;
                    self.classes[index].open = Some(OpenFile {
                        key,
                        buffer: bytes,
                        upload: None,
                    });
                }
                Write::Append(bytes) => {
                    if let Some(open) = &mut self.classes[index].open {
                        open.buffer.extend_from_slice(&bytes);
                    }
                }
            }
            self.flush_part(index).await?;
        }
        Ok(())
    }

    /// Sends the open file's buffer as a part once it holds a whole part.
    async fn flush_part(&mut self, index: usize) -> Result<(), S3Error> {
        let part_bytes = self.part_bytes;
        let bucket = self.destination.bucket.clone();
        let Some(open) = &mut self.classes[index].open else {
            return Ok(());
        };
        while open.buffer.len() >= part_bytes {
            let rest = open.buffer.split_off(part_bytes);
            let part = std::mem::replace(&mut open.buffer, rest);
            if open.upload.is_none() {
                let id = self
                    .client
                    .create_multipart_upload(&bucket, &open.key, CONTENT_TYPE)
                    .await?;
                open.upload = Some((id, Vec::new()));
            }
            if let Some((id, parts)) = &mut open.upload {
                let number = parts.len() as u32 + 1;
                let etag = self
                    .client
                    .upload_part(&bucket, &open.key, id, number, part)
                    .await?;
                parts.push((number, etag));
            }
        }
        Ok(())
    }

    /// Ends the open file of a class: its closing bytes, then the last part or the one
    /// `PutObject`.
    async fn close(&mut self, index: usize) -> Result<(), S3Error> {
        let closing = self.classes[index].splitter.closing_bytes();
        let bucket = self.destination.bucket.clone();
        let Some(mut open) = self.classes[index].open.take() else {
            return Ok(());
        };
        open.buffer.extend_from_slice(closing.unwrap_or_default());
        match open.upload.take() {
            None => {
                self.client
                    .put_object(&bucket, &open.key, open.buffer, CONTENT_TYPE)
                    .await
            }
            Some((id, mut parts)) => {
                let result = async {
                    if !open.buffer.is_empty() {
                        let number = parts.len() as u32 + 1;
                        let etag = self
                            .client
                            .upload_part(&bucket, &open.key, &id, number, open.buffer)
                            .await?;
                        parts.push((number, etag));
                    }
                    self.client
                        .complete_multipart_upload(&bucket, &open.key, &id, &parts)
                        .await
                }
                .await;
                if result.is_err() {
                    let _ = self
                        .client
                        .abort_multipart_upload(&bucket, &open.key, &id)
                        .await;
                }
                result
            }
        }
    }

    /// Closes every file, writes `manifest.json` and returns the Map state's output.
    pub async fn finish(mut self) -> Result<Value, Failure> {
        match self.try_finish().await {
            Ok(output) => Ok(output),
            Err(e) => Err(self.fail(e).await),
        }
    }

    async fn try_finish(&mut self) -> Result<Value, S3Error> {
        for index in 0..self.classes.len() {
            self.close(index).await?;
        }
        let folder = run_folder(&self.destination.prefix, &self.map_run_arn);
        let mut listed: Vec<(ResultClass, Vec<WrittenFile>)> = Vec::new();
        for class in std::mem::take(&mut self.classes) {
            listed.push(class.splitter.finish());
        }
        let body = manifest(&self.destination, &self.map_run_arn, &listed);
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        self.client
            .put_object(
                &self.destination.bucket,
                &format!("{folder}manifest.json"),
                bytes,
                CONTENT_TYPE,
            )
            .await?;
        Ok(exported_output(&self.destination, &self.map_run_arn))
    }

    /// Aborts the multipart uploads still open and names the failure.
    async fn fail(&mut self, error: S3Error) -> Failure {
        let bucket = self.destination.bucket.clone();
        for class in &mut self.classes {
            if let Some(OpenFile {
                key,
                upload: Some((id, _)),
                ..
            }) = class.open.take()
            {
                let _ = self.client.abort_multipart_upload(&bucket, &key, &id).await;
            }
        }
        error.result_writer_failed()
    }
}
