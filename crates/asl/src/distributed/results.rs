//! What a `ResultWriter` writes, as AWS writes it: one record per child execution
//! (shaped by `WriterConfig.Transformation`), records of the same status in files
//! `SUCCEEDED_n.json`, `FAILED_n.json` (failed, timed-out and aborted children) and
//! `PENDING_n.json` (items no child ran for) under `<Prefix>/<map run id>/`, a
//! `manifest.json` listing them, and the Map state's output pointing at the manifest.
//!
//! The worker streams the bytes this module gives it ([`FileSplitter`]); nothing here
//! holds more than one record.
//!
//! A record with `Transformation: NONE` (the default when exporting) is the child
//! execution as `DescribeExecution` describes it, in PascalCase, with `Input` and
//! `Output` as JSON text:
//! `{"ExecutionArn", "Input", "InputDetails": {"Included": true}, "Name", "Output",
//! "OutputDetails": {"Included": true}, "RedriveCount", "RedriveStatus",
//! "RedriveStatusReason", "StartDate", "StateMachineArn", "Status", "StopDate"}`
//! (`Error` and `Cause` instead of `Output` for a child that did not succeed). `COMPACT`
//! keeps a succeeded child's output alone, `FLATTEN` also spreads an output that is an
//! array; a failed child's record stays as with `NONE`, as AWS documents.

use serde_json::{json, Map, Value};

use crate::distributed::config::{Destination, OutputType, Transformation};
use crate::distributed::map_run::{child_name, MapRunArn};

/// AWS starts a new result file when one would pass 5 GB (S3's limit for one PUT).
pub const DEFAULT_FILE_LIMIT_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// How one item ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ChildResult {
    /// A child execution ran for the item (or batch) and ended.
    Ran(Box<ChildExecution>),
    /// No child ran for the item: the Map Run ended first (failed or stopped).
    Pending { input: Value },
}

/// A child execution that ended, with what `DescribeExecution` shows of it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChildExecution {
    pub execution_arn: String,
    pub name: String,
    pub state_machine_arn: String,
    pub input: Value,
    /// As AWS writes dates in these files: `2024-05-01T12:00:00.123Z`.
    pub start_date: String,
    pub stop_date: String,
    pub redrive_count: u64,
    pub redrive_status: String,
    pub redrive_status_reason: String,
    pub outcome: ChildOutcome,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ChildOutcome {
    Succeeded {
        output: Value,
    },
    Failed {
        error: Option<String>,
        cause: Option<String>,
    },
    TimedOut {
        error: Option<String>,
        cause: Option<String>,
    },
    Aborted {
        error: Option<String>,
        cause: Option<String>,
    },
}

/// The input of the internal task that exports a Map Run's results
/// ([`WRITE_RESULTS_RESOURCE`]): where, how, and every item's result in item order.
/// Its output is the Map state's output ([`exported_output`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WriteResultsRequest {
    pub destination: Destination,
    pub map_run_arn: String,
    pub output_type: OutputType,
    pub transformation: Transformation,
    /// Every item's result in item order, when the Map kept them in its join.
    #[serde(default)]
    pub results: Vec<ChildResult>,
    /// Where the results are when the driver keeps them (a stored Map): the worker
    /// pages them from the store, so they are never whole in a task's input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<StoredResults>,
}

/// A stored Map's results, as the writer finds them among the execution's stored
/// values: item `i`'s input is the Item row `i` (the child's input, after
/// `ItemSelector`), its result the Result row `i` (none: PENDING).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredResults {
    /// The Map's key among the stored values.
    pub map: u64,
    pub total: u64,
    /// The items whose child failed (their Result row is the error output).
    pub failed: Vec<u64>,
    /// Of `failed`, the items whose child timed out: their records say `TIMED_OUT`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timed_out: Vec<u64>,
    /// What every record says of the children's runs.
    pub run: RunFacts,
}

/// What the records of one Map Run's children share: dates (the Map state's entry and
/// the write) and the redrive count.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunFacts {
    pub map_run_arn: String,
    /// The iterations ran as STANDARD child executions, named from the Map Run and the
    /// index ([`child_name`]); else as frames of the parent, named by index (unless
    /// `express`).
    #[serde(default)]
    pub children: bool,
    /// The iterations stood for EXPRESS child executions: named as STANDARD ones,
    /// with ARNs in the Express form ([`MapRunArn::express_child_execution_arn`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub express: bool,
    pub start_date: String,
    pub stop_date: String,
    pub redrive_count: u64,
}

impl RunFacts {
    /// The result of item `index`: its child's (succeeded, or failed as `failed`
    /// says) when it has a `result`, else PENDING. `dates` are the child's own start
    /// and stop, when known; else the run's.
    pub fn child_result(
        &self,
        index: u64,
        input: Value,
        result: Option<Value>,
        failed: bool,
        dates: Option<(String, String)>,
    ) -> ChildResult {
        let Some(value) = result else {
            return ChildResult::Pending { input };
        };
        let outcome = if failed {
            let text = |field: &str| value.get(field).and_then(Value::as_str).map(String::from);
            ChildOutcome::Failed {
                error: text("Error"),
                cause: text("Cause"),
            }
        } else {
            ChildOutcome::Succeeded { output: value }
        };
        let name = if self.children || self.express {
            child_name(&self.map_run_arn, index)
        } else {
            index.to_string()
        };
        let (start_date, stop_date) =
            dates.unwrap_or_else(|| (self.start_date.clone(), self.stop_date.clone()));
        let (execution_arn, state_machine_arn) = match MapRunArn::parse(&self.map_run_arn) {
            Some(arn) if self.express => (
                arn.express_child_execution_arn(&name),
                arn.child_state_machine_arn(),
            ),
            Some(arn) => (
                arn.child_execution_arn(&name),
                arn.child_state_machine_arn(),
            ),
            None => (String::new(), String::new()),
        };
        let (redrive_status, reason) = if failed {
            ("REDRIVABLE_BY_MAP_RUN", "None")
        } else {
            (
                "NOT_REDRIVABLE",
                "Execution is SUCCEEDED and cannot be redriven",
            )
        };
        ChildResult::Ran(Box::new(ChildExecution {
            execution_arn,
            name,
            state_machine_arn,
            input,
            start_date,
            stop_date,
            redrive_count: self.redrive_count,
            redrive_status: redrive_status.into(),
            redrive_status_reason: reason.into(),
            outcome,
        }))
    }
}

/// The resource of the internal task a worker runs to write a Map Run's results to S3
/// (its input a [`WriteResultsRequest`]); it fails with `States.ResultWriterFailed`.
pub const WRITE_RESULTS_RESOURCE: &str = "arn:aws:states:::cairn:writeResults";

/// Which file a record goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResultClass {
    Succeeded,
    Failed,
    Pending,
}

impl ResultClass {
    /// The name in file names and in the manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            ResultClass::Succeeded => "SUCCEEDED",
            ResultClass::Failed => "FAILED",
            ResultClass::Pending => "PENDING",
        }
    }

    pub const ALL: [ResultClass; 3] = [
        ResultClass::Succeeded,
        ResultClass::Failed,
        ResultClass::Pending,
    ];
}

impl ChildResult {
    /// This result as a child that timed out, if it is one that failed.
    pub fn timed_out(self) -> ChildResult {
        match self {
            ChildResult::Ran(mut execution) => {
                if let ChildOutcome::Failed { error, cause } = execution.outcome {
                    execution.outcome = ChildOutcome::TimedOut { error, cause };
                }
                ChildResult::Ran(execution)
            }
            pending => pending,
        }
    }

    pub fn class(&self) -> ResultClass {
        match self {
            ChildResult::Ran(execution)
                if matches!(execution.outcome, ChildOutcome::Succeeded { .. }) =>
            {
                ResultClass::Succeeded
            }
            ChildResult::Ran(_) => ResultClass::Failed,
            ChildResult::Pending { .. } => ResultClass::Pending,
        }
    }

    /// The record(s) of this result under `transformation`: one, except for `FLATTEN`
    /// of a succeeded output that is an array (its elements, possibly none).
    pub fn records(&self, transformation: Transformation) -> Vec<Value> {
        match (self, transformation) {
            (ChildResult::Ran(execution), Transformation::Compact | Transformation::Flatten) => {
                match (&execution.outcome, transformation) {
                    (
                        ChildOutcome::Succeeded {
                            output: Value::Array(items),
                        },
                        Transformation::Flatten,
                    ) => items.clone(),
                    (ChildOutcome::Succeeded { output }, _) => vec![output.clone()],
                    _ => vec![execution.record()],
                }
            }
            (ChildResult::Ran(execution), Transformation::None) => vec![execution.record()],
            (ChildResult::Pending { input }, _) => vec![json!({
                "Input": text(input),
                "InputDetails": {"Included": true},
                "Status": "PENDING",
            })],
        }
    }
}

impl ChildExecution {
    /// The `NONE` record.
    pub fn record(&self) -> Value {
        let mut r = Map::new();
        let (status, error, cause) = match &self.outcome {
            ChildOutcome::Succeeded { .. } => ("SUCCEEDED", &None, &None),
            ChildOutcome::Failed { error, cause } => ("FAILED", error, cause),
            ChildOutcome::TimedOut { error, cause } => ("TIMED_OUT", error, cause),
            ChildOutcome::Aborted { error, cause } => ("ABORTED", error, cause),
        };
        if let Some(cause) = cause {
            r.insert("Cause".into(), Value::String(cause.clone()));
        }
        if let Some(error) = error {
            r.insert("Error".into(), Value::String(error.clone()));
        }
        r.insert(
            "ExecutionArn".into(),
            Value::String(self.execution_arn.clone()),
        );
        r.insert("Input".into(), Value::String(text(&self.input)));
        r.insert("InputDetails".into(), json!({"Included": true}));
        r.insert("Name".into(), Value::String(self.name.clone()));
        if let ChildOutcome::Succeeded { output } = &self.outcome {
            r.insert("Output".into(), Value::String(text(output)));
            r.insert("OutputDetails".into(), json!({"Included": true}));
        }
        r.insert("RedriveCount".into(), json!(self.redrive_count));
        r.insert(
            "RedriveStatus".into(),
            Value::String(self.redrive_status.clone()),
        );
        r.insert(
            "RedriveStatusReason".into(),
            Value::String(self.redrive_status_reason.clone()),
        );
        r.insert("StartDate".into(), Value::String(self.start_date.clone()));
        r.insert(
            "StateMachineArn".into(),
            Value::String(self.state_machine_arn.clone()),
        );
        r.insert("Status".into(), Value::String(status.into()));
        r.insert("StopDate".into(), Value::String(self.stop_date.clone()));
        Value::Object(r)
    }
}

fn text(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// The map run's id: the last `:`-separated part of its ARN
/// (`arn:aws:states:…:mapRun:machine/Label:<id>`), which names its folder.
pub fn map_run_id(map_run_arn: &str) -> &str {
    map_run_arn.rsplit(':').next().unwrap_or(map_run_arn)
}

/// The folder (ending in `/`) the files of a map run go to: `<Prefix>/<id>/`, or
/// `<id>/` without a prefix.
pub fn run_folder(prefix: &str, map_run_arn: &str) -> String {
    let id = map_run_id(map_run_arn);
    if prefix.is_empty() {
        format!("{id}/")
    } else if prefix.ends_with('/') {
        format!("{prefix}{id}/")
    } else {
        format!("{prefix}/{id}/")
    }
}

/// One file written: its key and size, as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    pub key: String,
    pub size: u64,
}

/// `manifest.json`'s content.
pub fn manifest(
    destination: &Destination,
    map_run_arn: &str,
    files: &[(ResultClass, Vec<WrittenFile>)],
) -> Value {
    let listed = |class: ResultClass| -> Value {
        files
            .iter()
            .filter(|(c, _)| *c == class)
            .flat_map(|(_, f)| f.iter())
            .map(|f| json!({"Key": f.key, "Size": f.size}))
            .collect()
    };
    json!({
        "DestinationBucket": destination.bucket,
        "MapRunArn": map_run_arn,
        "ResultFiles": {
            "FAILED": listed(ResultClass::Failed),
            "PENDING": listed(ResultClass::Pending),
            "SUCCEEDED": listed(ResultClass::Succeeded),
        },
    })
}

/// The Map state's output when the results were exported.
pub fn exported_output(destination: &Destination, map_run_arn: &str) -> Value {
    json!({
        "MapRunArn": map_run_arn,
        "ResultWriterDetails": {
            "Bucket": destination.bucket,
            "Key": format!("{}manifest.json", run_folder(&destination.prefix, map_run_arn)),
        },
    })
}

/// The Map state's output with a `WriterConfig` and no export: every result's records
/// in item order, as one JSON array (`JSON`) or as JSON Lines text (`JSONL`).
pub fn inline_output(
    results: &[ChildResult],
    output_type: OutputType,
    transformation: Transformation,
) -> Value {
    let records = results.iter().flat_map(|r| r.records(transformation));
    match output_type {
        OutputType::Json => Value::Array(records.collect()),
        OutputType::Jsonl => Value::String(
            records
                .map(|r| format!("{}\n", text(&r)))
                .collect::<String>(),
        ),
    }
}

/// Cuts one class's records into files of at most `limit` bytes (a record larger than
/// the limit gets a file to itself) and says which bytes to write where.
#[derive(Debug)]
pub struct FileSplitter {
    class: ResultClass,
    folder: String,
    output_type: OutputType,
    limit: u64,
    /// The file being written: its number and bytes so far.
    current: Option<(u32, u64)>,
    written: Vec<WrittenFile>,
}

/// What to do with the next bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Start the file `key` (ending the one before, if any) with these bytes.
    Start { key: String, bytes: Vec<u8> },
    /// Append to the current file.
    Append(Vec<u8>),
}

impl FileSplitter {
    pub fn new(class: ResultClass, folder: &str, output_type: OutputType, limit: u64) -> Self {
        FileSplitter {
            class,
            folder: folder.to_string(),
            output_type,
            limit: limit.max(1),
            current: None,
            written: Vec::new(),
        }
    }

    fn key(&self, n: u32) -> String {
        let extension = match self.output_type {
            OutputType::Json => "json",
            OutputType::Jsonl => "jsonl",
        };
        format!("{}{}_{n}.{extension}", self.folder, self.class.as_str())
    }

    fn closing(&self) -> &'static [u8] {
        match self.output_type {
            OutputType::Json => b"]",
            OutputType::Jsonl => b"",
        }
    }

    /// The bytes for `record`, and where they go.
    pub fn record(&mut self, record: &Value) -> Write {
        let body = serde_json::to_vec(record).unwrap_or_default();
        let closing = self.closing().len() as u64;
        if let Some((n, size)) = self.current {
            let piece = body.len() as u64 + 1;
            if size + piece + closing <= self.limit {
                self.current = Some((n, size + piece));
                return Write::Append(self.framed(body, b','));
            }
            self.close_current();
        }
        let n = self.written.len() as u32;
        let bytes = self.framed(body, b'[');
        self.current = Some((n, bytes.len() as u64));
        Write::Start {
            key: self.key(n),
            bytes,
        }
    }

    /// A record's bytes in the file: after `before` (`[` or `,`) in a JSON array, or
    /// as a line.
    fn framed(&self, body: Vec<u8>, before: u8) -> Vec<u8> {
        match self.output_type {
            OutputType::Json => {
                let mut bytes = Vec::with_capacity(body.len() + 1);
                bytes.push(before);
                bytes.extend_from_slice(&body);
                bytes
            }
            OutputType::Jsonl => {
                let mut bytes = body;
                bytes.push(b'\n');
                bytes
            }
        }
    }

    /// The bytes that end the current file (`]` for a JSON array), if one is open.
    pub fn closing_bytes(&self) -> Option<&'static [u8]> {
        self.current.map(|_| self.closing())
    }

    fn close_current(&mut self) {
        if let Some((n, size)) = self.current.take() {
            let key = self.key(n);
            self.written.push(WrittenFile {
                key,
                size: size + self.closing().len() as u64,
            });
        }
    }

    /// Ends the current file and returns every file written, for the manifest.
    pub fn finish(mut self) -> (ResultClass, Vec<WrittenFile>) {
        self.close_current();
        (self.class, self.written)
    }
}
