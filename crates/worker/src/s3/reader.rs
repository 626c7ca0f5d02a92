//! An `ItemReader`'s items, streamed out of S3 one at a time with their index.
//!
//! [`ItemStream::next`] gives `(index, item)` pairs in order and reads only as far as it
//! must: one chunk of the object, or one page of keys, at a time; it stops reading at
//! `MaxItems`. A durable engine stores items as rows in batches and, after a crash,
//! opens the stream again with the index it had stored up to ([`ItemStream::open`]'s
//! `resume_from`): the items before it are read again (an object has no index to seek
//! to) but not returned.
//!
//! Every failure is `States.ItemReaderFailed` with AWS's cause: S3's error, or what was
//! wrong with the data.

use std::collections::VecDeque;

use cairn_asl::distributed::config::{ItemReader, ObjectFormat, Source};
use cairn_asl::distributed::csv::CsvDecoder;
use cairn_asl::distributed::json::{JsonArrayDecoder, JsonlDecoder};
use cairn_asl::distributed::{Decoder, ReadError, MAX_ITEMS};
use cairn_asl::error::Failure;
use cairn_asl::timestamp::Timestamp;
use serde_json::{json, Value};

use crate::s3::client::{ObjectBody, ObjectSummary, S3Client};
use crate::s3::inventory::Inventory;

/// The items of one `ItemReader`, in order.
pub struct ItemStream {
    client: S3Client,
    source: State,
    max_items: u64,
    /// Items before this index are read but not returned.
    resume_from: u64,
    next_index: u64,
    ready: VecDeque<Value>,
    done: bool,
}

impl std::fmt::Debug for ItemStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemStream")
            .field("next_index", &self.next_index)
            .field("max_items", &self.max_items)
            .finish_non_exhaustive()
    }
}

enum State {
    Object(Box<ObjectReader>),
    List {
        bucket: String,
        prefix: Option<String>,
        token: Option<String>,
        finished: bool,
    },
    Inventory(Box<Inventory>),
}

/// One object decoded as it streams.
pub(crate) struct ObjectReader {
    bucket: String,
    key: String,
    version_id: Option<String>,
    body: Option<ObjectBody>,
    decoder: Box<dyn Decoder + Send + Sync>,
    finished: bool,
    /// Bytes to pass through before decoding (gzip for inventory data files).
    gunzip: Option<flate2::write::GzDecoder<Vec<u8>>>,
}

impl ObjectReader {
    pub(crate) fn new(
        bucket: String,
        key: String,
        version_id: Option<String>,
        decoder: Box<dyn Decoder + Send + Sync>,
        gzip: bool,
    ) -> ObjectReader {
        ObjectReader {
            bucket,
            key,
            version_id,
            body: None,
            decoder,
            finished: false,
            gunzip: gzip.then(|| flate2::write::GzDecoder::new(Vec::new())),
        }
    }

    /// Reads one more chunk into `items`; `false` once the object is done.
    pub(crate) async fn fill(
        &mut self,
        client: &S3Client,
        items: &mut VecDeque<Value>,
    ) -> Result<bool, Failure> {
        if self.finished {
            return Ok(false);
        }
        let body = match &mut self.body {
            Some(body) => body,
            None => {
                let opened = client
                    .get_object(&self.bucket, &self.key, self.version_id.as_deref())
                    .await
                    .map_err(|e| e.item_reader_failed())?;
                self.body.insert(opened)
            }
        };
        let chunk = body.chunk().await.map_err(|e| e.item_reader_failed())?;
        let mut out = Vec::new();
        match chunk {
            Some(bytes) => {
                let plain = self.gunzipped(&bytes, false)?;
                self.decoder
                    .push(&plain, &mut out)
                    .map_err(ReadError::into_failure)?;
            }
            None => {
                let plain = self.gunzipped(&[], true)?;
                self.decoder
                    .push(&plain, &mut out)
                    .map_err(ReadError::into_failure)?;
                self.decoder
                    .finish(&mut out)
                    .map_err(ReadError::into_failure)?;
                self.finished = true;
                self.body = None;
            }
        }
        items.extend(out);
        Ok(true)
    }

    fn gunzipped(&mut self, bytes: &[u8], end: bool) -> Result<Vec<u8>, Failure> {
        use std::io::Write;
        let Some(gz) = &mut self.gunzip else {
            return Ok(bytes.to_vec());
        };
        let broken = |e: std::io::Error| {
            ReadError::new(format!("The object {} is not valid gzip: {e}", self.key)).into_failure()
        };
        gz.write_all(bytes).map_err(broken)?;
        if end {
            gz.try_finish().map_err(broken)?;
        }
        Ok(std::mem::take(gz.get_mut()))
    }
}

pub(crate) fn decoder_for(
    format: &ObjectFormat,
) -> Result<Box<dyn Decoder + Send + Sync>, Failure> {
    Ok(match format {
        ObjectFormat::Csv(csv) => Box::new(CsvDecoder::new(csv).map_err(ReadError::into_failure)?),
        ObjectFormat::Json => Box::new(JsonArrayDecoder::new()),
        ObjectFormat::Jsonl => Box::new(JsonlDecoder::new()),
        // A manifest is no list of items: `Inventory` reads it and its data files.
        ObjectFormat::S3Inventory => {
            return Err(
                ReadError::new("An S3 Inventory manifest is read by its own reader.")
                    .into_failure(),
            )
        }
    })
}

impl ItemStream {
    /// The items `reader` names, starting at index `resume_from` (0 for a first read).
    pub fn open(
        client: &S3Client,
        reader: &ItemReader,
        resume_from: u64,
    ) -> Result<ItemStream, Failure> {
        let source = match &reader.source {
            Source::Object {
                bucket,
                key,
                version_id,
                format: ObjectFormat::S3Inventory,
            } => State::Inventory(Box::new(Inventory::new(
                bucket.clone(),
                key.clone(),
                version_id.clone(),
            ))),
            Source::Object {
                bucket,
                key,
                version_id,
                format,
            } => State::Object(Box::new(ObjectReader::new(
                bucket.clone(),
                key.clone(),
                version_id.clone(),
                decoder_for(format)?,
                false,
            ))),
            Source::List { bucket, prefix } => State::List {
                bucket: bucket.clone(),
                prefix: prefix.clone(),
                token: None,
                finished: false,
            },
        };
        Ok(ItemStream {
            client: client.clone(),
            source,
            max_items: reader.max_items.unwrap_or(MAX_ITEMS).min(MAX_ITEMS),
            resume_from,
            next_index: 0,
            ready: VecDeque::new(),
            done: false,
        })
    }

    /// The next item and its index; `None` after the last one (or after a failure,
    /// which is returned once).
    pub async fn next(&mut self) -> Option<Result<(u64, Value), Failure>> {
        loop {
            if self.done || self.next_index >= self.max_items {
                self.done = true;
                return None;
            }
            if let Some(item) = self.ready.pop_front() {
                let index = self.next_index;
                self.next_index += 1;
                if index < self.resume_from {
                    continue;
                }
                return Some(Ok((index, item)));
            }
            match self.fill().await {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Err(failure) => {
                    self.done = true;
                    return Some(Err(failure));
                }
            }
        }
    }

    async fn fill(&mut self) -> Result<bool, Failure> {
        match &mut self.source {
            State::Object(object) => object.fill(&self.client, &mut self.ready).await,
            State::Inventory(inventory) => inventory.fill(&self.client, &mut self.ready).await,
            State::List {
                bucket,
                prefix,
                token,
                finished,
            } => {
                if *finished {
                    return Ok(false);
                }
                let page = self
                    .client
                    .list_objects_v2(bucket, prefix.as_deref(), token.as_deref())
                    .await
                    .map_err(|e| e.item_reader_failed())?;
                self.ready.extend(page.objects.iter().map(list_item));
                *token = page.next_continuation_token;
                *finished = token.is_none();
                Ok(true)
            }
        }
    }
}

/// An `s3:listObjectsV2` item as Step Functions shapes it: `Etag` (quotes included, as
/// S3 gives it), `Key`, `LastModified` (seconds since the epoch), `Size`, `StorageClass`.
pub fn list_item(object: &ObjectSummary) -> Value {
    let last_modified = Timestamp::parse(&object.last_modified)
        .map(|t| json!(t.unix_millis().div_euclid(1000)))
        .unwrap_or_else(|| json!(object.last_modified));
    json!({
        "Etag": object.etag,
        "Key": object.key,
        "LastModified": last_modified,
        "Size": object.size,
        "StorageClass": object.storage_class,
    })
}
