//! An S3 Inventory report as an item source: its `manifest.json` names the data files
//! (CSV, gzip-compressed, no header row) and the columns (`fileSchema`); each row is an
//! item, an object of strings keyed by column, as the CSV reader makes them. Reports in
//! ORC or Parquet are refused with a clear cause.

use std::collections::VecDeque;

use cairn_asl::distributed::config::{CsvDelimiter, CsvFormat, CsvHeaders};
use cairn_asl::distributed::csv::CsvDecoder;
use cairn_asl::distributed::ReadError;
use cairn_asl::error::Failure;
use serde_json::Value;

use crate::s3::client::S3Client;
use crate::s3::reader::ObjectReader;

/// A manifest lists one entry per data file; this bounds a hostile one.
const MANIFEST_LIMIT: usize = 64 * 1024 * 1024;

pub(crate) struct Inventory {
    bucket: String,
    key: String,
    version_id: Option<String>,
    /// Read from the manifest on the first fill.
    plan: Option<Plan>,
    current: Option<ObjectReader>,
}

struct Plan {
    data_bucket: String,
    columns: Vec<String>,
    files: VecDeque<String>,
}

impl Inventory {
    pub(crate) fn new(bucket: String, key: String, version_id: Option<String>) -> Inventory {
        Inventory {
            bucket,
            key,
            version_id,
            plan: None,
            current: None,
        }
    }

    pub(crate) async fn fill(
        &mut self,
        client: &S3Client,
        items: &mut VecDeque<Value>,
    ) -> Result<bool, Failure> {
        if self.plan.is_none() {
            self.plan = Some(self.read_manifest(client).await?);
        }
        loop {
            if let Some(current) = &mut self.current {
                if current.fill(client, items).await? {
                    return Ok(true);
                }
                self.current = None;
            }
            let Some(plan) = &mut self.plan else {
                return Ok(false);
            };
            let Some(file) = plan.files.pop_front() else {
                return Ok(false);
            };
            let decoder = CsvDecoder::new(&CsvFormat {
                headers: CsvHeaders::Given(plan.columns.clone()),
                delimiter: CsvDelimiter::Comma,
            })
            .map_err(ReadError::into_failure)?;
            let gzip = file.ends_with(".gz");
            self.current = Some(ObjectReader::new(
                plan.data_bucket.clone(),
                file,
                None,
                Box::new(decoder),
                gzip,
            ));
        }
    }

    async fn read_manifest(&self, client: &S3Client) -> Result<Plan, Failure> {
        let mut body = client
            .get_object(&self.bucket, &self.key, self.version_id.as_deref())
            .await
            .map_err(|e| e.item_reader_failed())?;
        let mut bytes = Vec::new();
        while let Some(chunk) = body.chunk().await.map_err(|e| e.item_reader_failed())? {
            if bytes.len() + chunk.len() > MANIFEST_LIMIT {
                return Err(self.invalid(&format!("it is larger than {MANIFEST_LIMIT} bytes")));
            }
            bytes.extend_from_slice(&chunk);
        }
        let manifest: Value =
            serde_json::from_slice(&bytes).map_err(|e| self.invalid(&e.to_string()))?;
        plan(&manifest, &self.bucket).map_err(|why| self.invalid(&why))
    }

    fn invalid(&self, why: &str) -> Failure {
        ReadError::new(format!(
            "The S3 Inventory manifest s3://{}/{} is not valid: {why}",
            self.bucket, self.key
        ))
        .into_failure()
    }
}

/// What a manifest says to read. `manifest_bucket` is used when the manifest names no
/// `destinationBucket`.
fn plan(manifest: &Value, manifest_bucket: &str) -> Result<Plan, String> {
    let text = |name: &str| manifest.get(name).and_then(Value::as_str);
    match text("fileFormat") {
        Some(f) if f.eq_ignore_ascii_case("CSV") => {}
        Some(other) => {
            return Err(format!(
                "its fileFormat is {other}; Cairn reads CSV inventory reports only"
            ))
        }
        None => return Err("it has no fileFormat".into()),
    }
    let columns: Vec<String> = text("fileSchema")
        .ok_or("it has no fileSchema")?
        .split(',')
        .map(|c| c.trim().to_string())
        .collect();
    // `arn:aws:s3:::bucket` (any partition), or a bare name.
    let data_bucket = match text("destinationBucket") {
        Some(arn) => arn.rsplit(":::").next().unwrap_or(arn).to_string(),
        None => manifest_bucket.to_string(),
    };
    let files = manifest
        .get("files")
        .and_then(Value::as_array)
        .ok_or("it has no files")?
        .iter()
        .map(|f| f.get("key").and_then(Value::as_str).map(str::to_string))
        .collect::<Option<VecDeque<String>>>()
        .ok_or("a file has no key")?;
    Ok(Plan {
        data_bucket,
        columns,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn manifests_are_read_or_refused() {
        let p = plan(
            &json!({"sourceBucket": "src", "destinationBucket": "arn:aws:s3:::inv",
                "fileFormat": "CSV", "fileSchema": "Bucket, Key, Size",
                "files": [{"key": "data/a.csv.gz", "size": 1, "MD5checksum": "x"}]}),
            "m",
        )
        .expect("valid");
        assert_eq!(p.data_bucket, "inv");
        assert_eq!(p.columns, ["Bucket", "Key", "Size"]);
        assert_eq!(p.files, ["data/a.csv.gz"]);
        let why = plan(
            &json!({"fileFormat": "Parquet", "fileSchema": "x", "files": []}),
            "m",
        )
        .err()
        .unwrap_or_default();
        assert!(why.contains("CSV inventory reports only"), "{why}");
        assert!(plan(&json!({"fileFormat": "CSV", "files": []}), "m").is_err());
        assert!(plan(
            &json!({"fileFormat": "CSV", "fileSchema": "Key", "files": [{}]}),
            "m"
        )
        .is_err());
    }
}
