//! `ItemReader`, `ItemBatcher` and `ResultWriter` as typed values.
//!
//! Each has two steps, because paths and expressions are the interpreter's to evaluate:
//! - `parse`: the definition's field as written (what `model::Map` keeps as raw JSON),
//!   checked as AWS checks it at `CreateStateMachine`. Diagnostics are located under the
//!   field (`/States/Map/ItemReader/ReaderConfig/InputType`) and worded as the rest of
//!   Cairn's schema diagnostics are. What Cairn does not build (Parquet files, Athena
//!   manifests, `LOAD_AND_FLATTEN`) is refused here, never accepted and ignored.
//! - `resolve`: the evaluated `Parameters`/`Arguments` and `…Path` values at run time →
//!   what the worker's S3 reader and writer take, failing as AWS fails at run time
//!   (`States.ItemReaderFailed`, `States.ResultWriterFailed`, `States.Runtime`).

use serde_json::{Map as JsonMap, Value};

use crate::diagnostic::{pointer, Diagnostic};
use crate::distributed::batch::Batching;
use crate::distributed::{ReadError, MAX_ITEMS};
use crate::error::{names, Failure};

/// AWS's limit for `MaxInputBytesPerBatch`: a child execution's input limit, 256 KiB.
pub const MAX_INPUT_BYTES_PER_BATCH: u64 = 256 * 1024;

type Obj = JsonMap<String, Value>;

// ---- ItemReader ---------------------------------------------------------------------

/// `ItemReader` as written in the definition.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemReaderSpec {
    pub source: SourceSpec,
    /// `ReaderConfig.MaxItems` or `MaxItemsPath`; `None` reads every item.
    pub max_items: Option<Count>,
}

/// What the reader reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// `arn:aws:states:::s3:getObject`: one object, in a format.
    GetObject(ObjectFormat),
    /// `arn:aws:states:::s3:listObjectsV2`: the objects under a prefix, one item each.
    ListObjectsV2,
}

/// `ReaderConfig.InputType` (and what goes with it) for `s3:getObject`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ObjectFormat {
    /// Text-delimited rows; each item an object of strings keyed by header.
    Csv(CsvFormat),
    /// A JSON array; each element an item.
    Json,
    /// JSON Lines; each line an item.
    Jsonl,
    /// An S3 Inventory `manifest.json` (`ManifestType: S3_INVENTORY`): the rows of the
    /// CSV (gzip) data files it lists; each item an object keyed by the manifest's
    /// `fileSchema`.
    S3Inventory,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CsvFormat {
    pub headers: CsvHeaders,
    pub delimiter: CsvDelimiter,
}

/// `CSVHeaderLocation`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CsvHeaders {
    /// `FIRST_ROW` (the default): the file's first row names the fields.
    FirstRow,
    /// `GIVEN`: `CSVHeaders` names them and every row is data.
    Given(Vec<String>),
}

/// `CSVDelimiter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum CsvDelimiter {
    #[default]
    Comma,
    Pipe,
    Semicolon,
    Space,
    Tab,
}

impl CsvDelimiter {
    pub fn byte(self) -> u8 {
        match self {
            CsvDelimiter::Comma => b',',
            CsvDelimiter::Pipe => b'|',
            CsvDelimiter::Semicolon => b';',
            CsvDelimiter::Space => b' ',
            CsvDelimiter::Tab => b'\t',
        }
    }
}

/// A count written as a literal, as a reference path (JSONPath) or as a JSONata
/// expression; the interpreter evaluates the last two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Count {
    Literal(u64),
    Path(String),
    Expression(String),
}

/// `ItemReader` resolved at run time: what the worker reads.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ItemReader {
    pub source: Source,
    /// At most this many items; `None`: all (up to [`MAX_ITEMS`]).
    pub max_items: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Source {
    Object {
        bucket: String,
        key: String,
        version_id: Option<String>,
        format: ObjectFormat,
    },
    List {
        bucket: String,
        prefix: Option<String>,
    },
}

/// Which query language the Map state is written in: JSONata states use `Arguments`
/// and `{% … %}` expressions where JSONPath states use `Parameters` and `…Path`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    JsonPath,
    JsonAta,
}

const GET_OBJECT: &str = "s3:getObject";
const LIST_OBJECTS_V2: &str = "s3:listObjectsV2";
const PUT_OBJECT: &str = "s3:putObject";

impl ItemReaderSpec {
    /// Checks `ItemReader` as written, at `loc` (its own location, such as
    /// `/States/Map/ItemReader`). `None` with diagnostics when it is invalid.
    pub fn parse(
        value: &Value,
        loc: &str,
        language: Language,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<ItemReaderSpec> {
        let mut c = Checker::new(diagnostics);
        let obj = c.object_at(value, loc)?;
        let args = c.arguments_field(language);
        c.fields(obj, loc, &["Resource", args, "ReaderConfig"], language);
        c.require(obj, loc, &["Resource"]);
        let resource = c.s3_resource(obj, loc, &[GET_OBJECT, LIST_OBJECTS_V2]);
        c.arguments(obj, loc, args, language);
        let config_loc = pointer(loc, "ReaderConfig");
        let config = match obj.get("ReaderConfig") {
            None => None,
            Some(v) => c.object_at(v, &config_loc),
        };
        let empty = Obj::new();
        let config = config.unwrap_or(&empty);
        c.fields(
            config,
            &config_loc,
            &[
                "InputType",
                "CSVHeaderLocation",
                "CSVHeaders",
                "CSVDelimiter",
                "MaxItems",
                "MaxItemsPath",
                "ManifestType",
                "Transformation",
            ],
            language,
        );
        if config.contains_key("Transformation") {
            c.err(
                &pointer(&config_loc, "Transformation"),
                "Cairn does not support ReaderConfig.Transformation (LOAD_AND_FLATTEN) yet",
            );
        }
        let max_items = c.count(config, &config_loc, "MaxItems", 0, MAX_ITEMS, language);
        let input_type = c.one_of(
            config,
            &config_loc,
            "InputType",
            &["CSV", "JSON", "JSONL", "MANIFEST", "PARQUET"],
        );
        let csv_only = ["CSVHeaderLocation", "CSVHeaders", "CSVDelimiter"];
        let source = match resource? {
            LIST_OBJECTS_V2 => {
                if config.contains_key("InputType") {
                    c.err(
                        &config_loc,
                        "Field 'InputType' is not supported with s3:listObjectsV2",
                    );
                }
                for key in csv_only.iter().chain(&["ManifestType"]) {
                    if config.contains_key(*key) {
                        c.err(
                            &config_loc,
                            format!("Field '{key}' is not supported with s3:listObjectsV2"),
                        );
                    }
                }
                Some(SourceSpec::ListObjectsV2)
            }
            _ => {
                if !obj.contains_key("ReaderConfig") {
                    c.err(loc, "These fields are required: [ReaderConfig]");
                } else if !config.contains_key("InputType") {
                    c.err(&config_loc, "These fields are required: [InputType]");
                }
                let input_type = input_type?;
                if input_type != "CSV" {
                    for key in csv_only {
                        if config.contains_key(key) {
                            c.err(
                                &config_loc,
                                format!("Field '{key}' is only supported when InputType is CSV"),
                            );
                        }
                    }
                }
                if input_type != "MANIFEST" && config.contains_key("ManifestType") {
                    c.err(
                        &config_loc,
                        "Field 'ManifestType' is only supported when InputType is MANIFEST",
                    );
                }
                let format = match input_type {
                    "CSV" => ObjectFormat::Csv(c.csv_format(config, &config_loc)?),
                    "JSON" => ObjectFormat::Json,
                    "JSONL" => ObjectFormat::Jsonl,
                    "MANIFEST" => {
                        match c.one_of(
                            config,
                            &config_loc,
                            "ManifestType",
                            &["S3_INVENTORY", "ATHENA_DATA"],
                        ) {
                            Some("ATHENA_DATA") => {
                                c.err(
                                    &pointer(&config_loc, "ManifestType"),
                                    "Cairn does not support ManifestType ATHENA_DATA yet",
                                );
                                return None;
                            }
                            None if config.contains_key("ManifestType") => return None,
                            _ => ObjectFormat::S3Inventory,
                        }
                    }
                    _ => {
                        c.err(
                            &pointer(&config_loc, "InputType"),
                            "Cairn does not support InputType PARQUET yet",
                        );
                        return None;
                    }
                };
                Some(SourceSpec::GetObject(format))
            }
        };
        if c.failed {
            return None;
        }
        Some(ItemReaderSpec {
            source: source?,
            max_items: max_items.flatten(),
        })
    }

    /// The reader for one run: `parameters` are the evaluated `Parameters` (or
    /// `Arguments`), `max_items` the evaluated `MaxItemsPath`/expression when the
    /// definition has one ([`max_items_from_value`] checks such a value).
    pub fn resolve(
        &self,
        parameters: &Value,
        max_items: Option<u64>,
    ) -> Result<ItemReader, ReadError> {
        let Value::Object(fields) = parameters else {
            return Err(ReadError::new(format!(
                "The ItemReader's parameters must be an object, got {parameters}"
            )));
        };
        let text = |name: &str| -> Result<Option<String>, ReadError> {
            match fields.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(ReadError::new(format!(
                    "The ItemReader's parameter {name} must be a string, got {other}"
                ))),
            }
        };
        let required = |name: &str| -> Result<String, ReadError> {
            text(name)?.ok_or_else(|| {
                ReadError::new(format!("The ItemReader's parameter {name} is required"))
            })
        };
        let allowed: &[&str] = match self.source {
            SourceSpec::GetObject(_) => &["Bucket", "Key", "VersionId"],
            SourceSpec::ListObjectsV2 => &["Bucket", "Prefix"],
        };
        if let Some(unknown) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(ReadError::new(format!(
                "The ItemReader's parameter {unknown} is not supported; expected [{}]",
                allowed.join(", ")
            )));
        }
        let source = match &self.source {
            SourceSpec::GetObject(format) => Source::Object {
                bucket: required("Bucket")?,
                key: required("Key")?,
                version_id: text("VersionId")?,
                format: format.clone(),
            },
            SourceSpec::ListObjectsV2 => Source::List {
                bucket: required("Bucket")?,
                prefix: text("Prefix")?.filter(|p| !p.is_empty()),
            },
        };
        let max_items = match (&self.max_items, max_items) {
            (_, Some(n)) => Some(n),
            (Some(Count::Literal(n)), None) => Some(*n),
            _ => None,
        }
        .filter(|n| *n > 0)
        .map(|n| n.min(MAX_ITEMS));
        Ok(ItemReader { source, max_items })
    }
}

/// Checks the value a `MaxItemsPath` (or JSONata `MaxItems`) gave, as AWS does: a value
/// that is not an integer is `States.Runtime` (the interpreter adds its usual "An error
/// occurred while executing the state …" prefix); a negative one fails the Map Run with
/// `States.ItemReaderFailed`; 0 means no limit (`None`); a value over 100,000,000 reads
/// 100,000,000.
pub fn max_items_from_value(value: &Value, path: &str) -> Result<Option<u64>, Failure> {
    let n = integer_value(value).ok_or_else(|| {
        Failure::runtime(format!(
            "The MaxItemsPath field refers to value \"{}\" which is not a valid integer: {path}",
            shown(value)
        ))
    })?;
    if n < 0 {
        return Err(Failure::new(
            names::ITEM_READER_FAILED,
            "field MaxItems must be positive",
        ));
    }
    Ok(u64::try_from(n)
        .ok()
        .filter(|n| *n > 0)
        .map(|n| n.min(MAX_ITEMS)))
}

fn integer_value(value: &Value) -> Option<i64> {
    match value {
        Value::String(text) => text.trim().parse().ok(),
        other => other.as_i64(),
    }
}

fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

// ---- ItemBatcher --------------------------------------------------------------------

/// `ItemBatcher` as written.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemBatcherSpec {
    pub max_items_per_batch: Option<Count>,
    pub max_input_bytes_per_batch: Option<Count>,
    /// `BatchInput` as written (a template the interpreter evaluates); `None` when absent.
    pub batch_input: Option<Value>,
}

impl ItemBatcherSpec {
    pub fn parse(
        value: &Value,
        loc: &str,
        language: Language,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<ItemBatcherSpec> {
        let mut c = Checker::new(diagnostics);
        let obj = c.object_at(value, loc)?;
        c.fields(
            obj,
            loc,
            &[
                "MaxItemsPerBatch",
                "MaxItemsPerBatchPath",
                "MaxInputBytesPerBatch",
                "MaxInputBytesPerBatchPath",
                "BatchInput",
            ],
            language,
        );
        let items = c.count(
            obj,
            loc,
            "MaxItemsPerBatch",
            1,
            u64::from(u32::MAX),
            language,
        );
        let bytes = c.count(
            obj,
            loc,
            "MaxInputBytesPerBatch",
            1,
            MAX_INPUT_BYTES_PER_BATCH,
            language,
        );
        if ![
            "MaxItemsPerBatch",
            "MaxItemsPerBatchPath",
            "MaxInputBytesPerBatch",
            "MaxInputBytesPerBatchPath",
        ]
        .iter()
        .any(|k| obj.contains_key(*k))
        {
            c.err(
                loc,
                "At least one of these fields is required: [MaxItemsPerBatch, MaxItemsPerBatchPath, MaxInputBytesPerBatch, MaxInputBytesPerBatchPath]",
            );
        }
        let batch_input = obj.get("BatchInput").cloned();
        if language == Language::JsonPath {
            if let Some(input) = &batch_input {
                if !input.is_object() {
                    c.err(&pointer(loc, "BatchInput"), "Expected value of type Object");
                }
            }
        }
        if c.failed {
            return None;
        }
        Some(ItemBatcherSpec {
            max_items_per_batch: items.flatten(),
            max_input_bytes_per_batch: bytes.flatten(),
            batch_input,
        })
    }

    /// The batching for one run. `max_items` and `max_bytes` are the evaluated `…Path`
    /// values (checked with [`batch_limit_from_value`]) where the definition has paths;
    /// `batch_input` the evaluated `BatchInput`.
    pub fn resolve(
        &self,
        max_items: Option<u64>,
        max_bytes: Option<u64>,
        batch_input: Option<Value>,
    ) -> Batching {
        let literal = |count: &Option<Count>| match count {
            Some(Count::Literal(n)) => Some(*n),
            _ => None,
        };
        Batching {
            max_items: max_items.or(literal(&self.max_items_per_batch)),
            max_bytes: max_bytes.or(literal(&self.max_input_bytes_per_batch)),
            batch_input,
        }
    }
}

/// Checks the value of `MaxItemsPerBatchPath` or `MaxInputBytesPerBatchPath`: a positive
/// integer (bytes at most 256 KiB), else `States.Runtime`.
pub fn batch_limit_from_value(value: &Value, field: &str, path: &str) -> Result<u64, Failure> {
    let n = integer_value(value).ok_or_else(|| {
        Failure::runtime(format!(
            "The {field} field refers to value \"{}\" which is not a valid integer: {path}",
            shown(value)
        ))
    })?;
    let max = if field.starts_with("MaxInputBytes") {
        MAX_INPUT_BYTES_PER_BATCH
    } else {
        u64::from(u32::MAX)
    };
    match u64::try_from(n) {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(Failure::runtime(format!(
            "The {field} field refers to value \"{n}\" which must be between 1 and {max}: {path}"
        ))),
    }
}

// ---- ResultWriter -------------------------------------------------------------------

/// `ResultWriter` as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultWriterSpec {
    /// `Resource` (`s3:putObject`) and `Parameters`/`Arguments` are present: the
    /// results are exported to S3.
    pub exports: bool,
    pub writer_config: Option<WriterConfig>,
}

/// `WriterConfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterConfig {
    pub output_type: OutputType,
    pub transformation: Transformation,
}

/// `WriterConfig.OutputType`: how a result file holds its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum OutputType {
    /// A JSON array.
    #[default]
    Json,
    /// One record a line.
    Jsonl,
}

/// `WriterConfig.Transformation`: what a child's record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Transformation {
    /// The child's output with its execution's metadata (the default when exporting).
    #[default]
    None,
    /// The child's output alone (the default without a `ResultWriter`).
    Compact,
    /// As `Compact`, with an output that is an array spread into the results.
    Flatten,
}

/// `ResultWriter` resolved at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultWriter {
    /// Where the files go; `None`: the results are returned as the state's output.
    pub destination: Option<Destination>,
    pub output_type: OutputType,
    pub transformation: Transformation,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Destination {
    pub bucket: String,
    /// The key prefix as given (may be empty); files go under `<prefix>/<map run id>/`.
    pub prefix: String,
}

impl ResultWriterSpec {
    pub fn parse(
        value: &Value,
        loc: &str,
        language: Language,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<ResultWriterSpec> {
        let mut c = Checker::new(diagnostics);
        let obj = c.object_at(value, loc)?;
        let args = c.arguments_field(language);
        c.fields(obj, loc, &["Resource", args, "WriterConfig"], language);
        let resource = obj.contains_key("Resource");
        let parameters = obj.contains_key(args);
        if resource {
            c.s3_resource(obj, loc, &[PUT_OBJECT]);
        }
        c.arguments(obj, loc, args, language);
        match (resource, parameters, obj.contains_key("WriterConfig")) {
            (false, false, false) => c.err(
                loc,
                format!("The ResultWriter field cannot be empty: it needs WriterConfig, or Resource and {args}, or all three"),
            ),
            (true, false, _) => c.err(loc, format!("These fields are required: [{args}]")),
            (false, true, _) => c.err(loc, "These fields are required: [Resource]"),
            _ => {}
        }
        let writer_config = match obj.get("WriterConfig") {
            None => None,
            Some(v) => {
                let here = pointer(loc, "WriterConfig");
                let config = c.object_at(v, &here)?;
                c.fields(config, &here, &["OutputType", "Transformation"], language);
                let output_type = match c.one_of(config, &here, "OutputType", &["JSON", "JSONL"]) {
                    Some("JSONL") => OutputType::Jsonl,
                    _ => OutputType::Json,
                };
                let transformation = match c.one_of(
                    config,
                    &here,
                    "Transformation",
                    &["NONE", "COMPACT", "FLATTEN"],
                ) {
                    Some("COMPACT") => Transformation::Compact,
                    Some("FLATTEN") => Transformation::Flatten,
                    _ => Transformation::None,
                };
                Some(WriterConfig {
                    output_type,
                    transformation,
                })
            }
        };
        if c.failed {
            return None;
        }
        Some(ResultWriterSpec {
            exports: resource && parameters,
            writer_config,
        })
    }

    /// The writer for one run: `parameters` are the evaluated `Parameters`/`Arguments`
    /// (`None` when the definition has none). A bad value is `States.ResultWriterFailed`.
    pub fn resolve(&self, parameters: Option<&Value>) -> Result<ResultWriter, Failure> {
        let failed = |cause: String| Failure::new(names::RESULT_WRITER_FAILED, cause);
        let destination = match (self.exports, parameters) {
            (false, _) => None,
            (true, None) => {
                return Err(failed("The ResultWriter's parameters are required".into()))
            }
            (true, Some(Value::Object(fields))) => {
                if let Some(unknown) = fields
                    .keys()
                    .find(|k| !matches!(k.as_str(), "Bucket" | "Prefix"))
                {
                    return Err(failed(format!(
                        "The ResultWriter's parameter {unknown} is not supported; expected [Bucket, Prefix]"
                    )));
                }
                let bucket = match fields.get("Bucket") {
                    Some(Value::String(b)) if !b.is_empty() => b.clone(),
                    Some(other) => {
                        return Err(failed(format!(
                        "The ResultWriter's parameter Bucket must be a bucket name, got {other}"
                    )))
                    }
                    None => {
                        return Err(failed(
                            "The ResultWriter's parameter Bucket is required".into(),
                        ))
                    }
                };
                let prefix = match fields.get("Prefix") {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(p)) => p.clone(),
                    Some(other) => {
                        return Err(failed(format!(
                            "The ResultWriter's parameter Prefix must be a string, got {other}"
                        )))
                    }
                };
                Some(Destination { bucket, prefix })
            }
            (true, Some(other)) => {
                return Err(failed(format!(
                    "The ResultWriter's parameters must be an object, got {other}"
                )))
            }
        };
        let config = self.writer_config.unwrap_or(WriterConfig {
            output_type: OutputType::Json,
            transformation: Transformation::None,
        });
        Ok(ResultWriter {
            destination,
            output_type: config.output_type,
            transformation: config.transformation,
        })
    }
}

// ---- shared checks ------------------------------------------------------------------

struct Checker<'d> {
    diagnostics: &'d mut Vec<Diagnostic>,
    failed: bool,
}

impl<'d> Checker<'d> {
    fn new(diagnostics: &'d mut Vec<Diagnostic>) -> Self {
        Checker {
            diagnostics,
            failed: false,
        }
    }

    fn err(&mut self, loc: &str, message: impl Into<String>) {
        self.failed = true;
        let loc = if loc.is_empty() { "/" } else { loc };
        self.diagnostics
            .push(Diagnostic::schema(loc, message.into()));
    }

    fn object_at<'v>(&mut self, value: &'v Value, loc: &str) -> Option<&'v Obj> {
        match value.as_object() {
            Some(o) => Some(o),
            None => {
                self.err(loc, "Expected value of type Object");
                None
            }
        }
    }

    fn arguments_field(&self, language: Language) -> &'static str {
        match language {
            Language::JsonPath => "Parameters",
            Language::JsonAta => "Arguments",
        }
    }

    /// Unknown fields, and the other language's argument field, as AWS reports them.
    fn fields(&mut self, obj: &Obj, loc: &str, allowed: &[&str], language: Language) {
        for key in obj.keys() {
            if allowed.contains(&key.as_str()) {
                continue;
            }
            let message = match (key.as_str(), language) {
                ("Arguments", Language::JsonPath) => "The QueryLanguage is set to 'JSONPath', but field 'Arguments' is only supported for the 'JSONata' QueryLanguage".to_string(),
                ("Parameters", Language::JsonAta) => "The QueryLanguage is set to 'JSONata', but field 'Parameters' is only supported for the 'JSONPath' QueryLanguage".to_string(),
                _ => format!("Field '{key}' is not supported"),
            };
            self.err(loc, message);
        }
    }

    fn require(&mut self, obj: &Obj, loc: &str, keys: &[&str]) {
        let missing: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| !obj.contains_key(*k))
            .collect();
        if !missing.is_empty() {
            self.err(
                loc,
                format!("These fields are required: [{}]", missing.join(", ")),
            );
        }
    }

    /// `Resource`: `arn:<partition>:states:::<action>` with one of `actions`.
    fn s3_resource(
        &mut self,
        obj: &Obj,
        loc: &str,
        actions: &[&'static str],
    ) -> Option<&'static str> {
        let here = pointer(loc, "Resource");
        let value = obj.get("Resource")?;
        let Some(text) = value.as_str() else {
            self.err(&here, "Expected value of type String");
            return None;
        };
        let action = text
            .strip_prefix("arn:")
            .and_then(|rest| rest.split_once(':'))
            .filter(|(partition, _)| partition.starts_with("aws"))
            .and_then(|(_, rest)| rest.strip_prefix("states:::"));
        match actions.iter().find(|a| Some(**a) == action) {
            Some(found) => Some(*found),
            None => {
                let arns: Vec<String> = actions
                    .iter()
                    .map(|a| format!("arn:aws:states:::{a}"))
                    .collect();
                self.err(
                    &here,
                    format!(
                        "Resource '{text}' is not supported here; expected one of [{}]",
                        arns.join(", ")
                    ),
                );
                None
            }
        }
    }

    /// `Parameters` (an object) or `Arguments` (an object or a JSONata expression).
    fn arguments(&mut self, obj: &Obj, loc: &str, key: &str, language: Language) {
        let Some(value) = obj.get(key) else { return };
        let ok = value.is_object()
            || (language == Language::JsonAta && value.as_str().is_some_and(is_expression));
        if !ok {
            self.err(&pointer(loc, key), "Expected value of type Object");
        }
    }

    /// A string field that must be one of `values`.
    fn one_of(
        &mut self,
        obj: &Obj,
        loc: &str,
        key: &str,
        values: &[&'static str],
    ) -> Option<&'static str> {
        let value = obj.get(key)?;
        let found = value
            .as_str()
            .and_then(|s| values.iter().find(|v| **v == s).copied());
        if found.is_none() {
            self.err(
                &pointer(loc, key),
                format!(
                    "'{key}' must be one of [{}], got {}",
                    values.join(", "),
                    shown(value)
                ),
            );
        }
        found
    }

    /// `key` (an integer in `min..=max`, or a JSONata expression) or `keyPath`
    /// (JSONPath only); `Some(None)` when neither is present, `None` when invalid.
    fn count(
        &mut self,
        obj: &Obj,
        loc: &str,
        key: &str,
        min: u64,
        max: u64,
        language: Language,
    ) -> Option<Option<Count>> {
        let path_key = format!("{key}Path");
        if obj.contains_key(key) && obj.contains_key(&path_key) {
            self.err(
                loc,
                format!("These fields cannot be used together: [{key}, {path_key}]"),
            );
            return None;
        }
        if let Some(value) = obj.get(key) {
            let here = pointer(loc, key);
            if language == Language::JsonAta {
                if let Some(text) = value.as_str().filter(|t| is_expression(t)) {
                    return Some(Some(Count::Expression(text.to_string())));
                }
            }
            return match value.as_u64().filter(|n| (min..=max).contains(n)) {
                Some(n) => Some(Some(Count::Literal(n))),
                None => {
                    self.err(
                        &here,
                        format!("The value of '{key}' must be an integer between {min} and {max}"),
                    );
                    None
                }
            };
        }
        if let Some(value) = obj.get(&path_key) {
            let here = pointer(loc, &path_key);
            if language == Language::JsonAta {
                self.err(loc, format!("The QueryLanguage is set to 'JSONata', but field '{path_key}' is only supported for the 'JSONPath' QueryLanguage"));
                return None;
            }
            return match value.as_str() {
                Some(path) if crate::path::Path::parse_reference(path).is_ok() => {
                    Some(Some(Count::Path(path.to_string())))
                }
                Some(path) => {
                    self.err(&here, format!("The value for the field '{path_key}' must be a valid ReferencePath: {path}"));
                    None
                }
                None => {
                    self.err(&here, "Expected value of type String");
                    None
                }
            };
        }
        Some(None)
    }

    fn csv_format(&mut self, config: &Obj, loc: &str) -> Option<CsvFormat> {
        let delimiter = match self.one_of(
            config,
            loc,
            "CSVDelimiter",
            &["COMMA", "PIPE", "SEMICOLON", "SPACE", "TAB"],
        ) {
            Some("PIPE") => CsvDelimiter::Pipe,
            Some("SEMICOLON") => CsvDelimiter::Semicolon,
            Some("SPACE") => CsvDelimiter::Space,
            Some("TAB") => CsvDelimiter::Tab,
            Some(_) => CsvDelimiter::Comma,
            None if config.contains_key("CSVDelimiter") => return None,
            None => CsvDelimiter::Comma,
        };
        let location = self.one_of(config, loc, "CSVHeaderLocation", &["FIRST_ROW", "GIVEN"]);
        if location.is_none() && config.contains_key("CSVHeaderLocation") {
            return None;
        }
        let headers = match location {
            Some("GIVEN") => {
                let here = pointer(loc, "CSVHeaders");
                let Some(value) = config.get("CSVHeaders") else {
                    self.err(loc, "These fields are required: [CSVHeaders]");
                    return None;
                };
                let names: Option<Vec<String>> = value
                    .as_array()
                    .and_then(|a| a.iter().map(|h| h.as_str().map(str::to_string)).collect());
                match names {
                    Some(names) if !names.is_empty() => CsvHeaders::Given(names),
                    _ => {
                        self.err(&here, "CSVHeaders must be a non-empty array of strings");
                        return None;
                    }
                }
            }
            _ => {
                if config.contains_key("CSVHeaders") {
                    self.err(
                        loc,
                        "Field 'CSVHeaders' is only supported when CSVHeaderLocation is GIVEN",
                    );
                    return None;
                }
                CsvHeaders::FirstRow
            }
        };
        Some(CsvFormat { headers, delimiter })
    }
}

fn is_expression(text: &str) -> bool {
    let t = text.trim();
    t.len() >= 4 && t.starts_with("{%") && t.ends_with("%}")
}
