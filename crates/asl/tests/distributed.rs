//! The Distributed Map's building blocks without I/O: `ItemReader`/`ItemBatcher`/
//! `ResultWriter` checked and resolved, the decoders fed byte streams (whole, and one
//! byte at a time so every chunk boundary is crossed), batching, and the result files.
//! Expected items marked "AWS" are the outputs AWS recorded for the same files.

use cairn_asl::diagnostic::Diagnostic;
use cairn_asl::distributed::batch::{batch_all, Batcher, Batching};
use cairn_asl::distributed::config::{
    batch_limit_from_value, max_items_from_value, Count, CsvDelimiter, CsvFormat, CsvHeaders,
    ItemBatcherSpec, ItemReaderSpec, Language, ObjectFormat, OutputType, ResultWriterSpec, Source,
    SourceSpec, Transformation,
};
use cairn_asl::distributed::csv::{java_hash_order, CsvDecoder};
use cairn_asl::distributed::json::{JsonArrayDecoder, JsonlDecoder};
use cairn_asl::distributed::results::{
    exported_output, inline_output, manifest, run_folder, ChildExecution, ChildOutcome,
    ChildResult, FileSplitter, ResultClass, Write,
};
use cairn_asl::distributed::{Decoder, ReadError, MAX_ITEM_BYTES};
use serde_json::{json, Value};

const LOC: &str = "/States/Map/ItemReader";

fn reader(value: Value) -> Result<ItemReaderSpec, Vec<Diagnostic>> {
    let mut d = Vec::new();
    ItemReaderSpec::parse(&value, LOC, Language::JsonPath, &mut d).ok_or(d)
}

fn refused(value: Value, location: &str, message: &str) {
    let d = reader(value.clone()).expect_err("refused");
    assert!(
        d.iter()
            .any(|d| d.location == location && d.message.contains(message)),
        "{value}: {d:?}"
    );
}

// ---- ItemReader ---------------------------------------------------------------------

#[test]
fn item_reader_forms_parse() {
    let spec = reader(json!({
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "GIVEN",
                         "CSVHeaders": ["a", "b"], "CSVDelimiter": "PIPE", "MaxItems": 5},
        "Parameters": {"Bucket.$": "$.b", "Key": "k.csv"}
    }))
    .expect("valid");
    assert_eq!(
        spec.source,
        SourceSpec::GetObject(ObjectFormat::Csv(CsvFormat {
            headers: CsvHeaders::Given(vec!["a".into(), "b".into()]),
            delimiter: CsvDelimiter::Pipe
        }))
    );
    assert_eq!(spec.max_items, Some(Count::Literal(5)));

    let spec = reader(json!({"Resource": "arn:aws:states:::s3:listObjectsV2",
        "Parameters": {"Bucket": "b", "Prefix": "p/"}, "ReaderConfig": {"MaxItemsPath": "$.n"}}))
    .expect("valid");
    assert_eq!(spec.source, SourceSpec::ListObjectsV2);
    assert_eq!(spec.max_items, Some(Count::Path("$.n".into())));

    for (input_type, format) in [
        ("JSON", ObjectFormat::Json),
        ("JSONL", ObjectFormat::Jsonl),
        ("MANIFEST", ObjectFormat::S3Inventory),
    ] {
        let spec = reader(json!({"Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": input_type}, "Parameters": {"Bucket": "b", "Key": "k"}}))
        .expect("valid");
        assert_eq!(spec.source, SourceSpec::GetObject(format));
    }
    // CSV defaults: FIRST_ROW, comma.
    let spec = reader(json!({"Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "CSV"}, "Parameters": {"Bucket": "b", "Key": "k"}}))
    .expect("valid");
    assert_eq!(
        spec.source,
        SourceSpec::GetObject(ObjectFormat::Csv(CsvFormat {
            headers: CsvHeaders::FirstRow,
            delimiter: CsvDelimiter::Comma
        }))
    );

    // JSONata: Arguments and an expression for MaxItems.
    let mut d = Vec::new();
    let spec = ItemReaderSpec::parse(
        &json!({"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "JSON",
            "MaxItems": "{% $states.input.n %}"}, "Arguments": {"Bucket": "{% $b %}", "Key": "k"}}),
        LOC,
        Language::JsonAta,
        &mut d,
    )
    .expect("valid");
    assert_eq!(
        spec.max_items,
        Some(Count::Expression("{% $states.input.n %}".into()))
    );
}

#[test]
fn item_reader_mistakes_are_located() {
    let get = "arn:aws:states:::s3:getObject";
    refused(
        json!({"ReaderConfig": {"InputType": "JSON"}}),
        LOC,
        "These fields are required: [Resource]",
    );
    refused(
        json!({"Resource": "arn:aws:states:::s3:putObject"}),
        &format!("{LOC}/Resource"),
        "is not supported here",
    );
    refused(
        json!({"Resource": get, "Parameters": {}}),
        LOC,
        "These fields are required: [ReaderConfig]",
    );
    refused(
        json!({"Resource": get, "ReaderConfig": {}}),
        &format!("{LOC}/ReaderConfig"),
        "These fields are required: [InputType]",
    );
    refused(
        json!({"Resource": get, "ReaderConfig": {"InputType": "XML"}}),
        &format!("{LOC}/ReaderConfig/InputType"),
        "must be one of [CSV, JSON, JSONL, MANIFEST, PARQUET]",
    );
    refused(
        json!({"Resource": get, "ReaderConfig": {"InputType": "PARQUET"}}),
        &format!("{LOC}/ReaderConfig/InputType"),
        "Cairn does not support InputType PARQUET",
    );
    refused(
        json!({"Resource": get, "ReaderConfig": {"InputType": "MANIFEST", "ManifestType": "ATHENA_DATA"}}),
        &format!("{LOC}/ReaderConfig/ManifestType"),
        "ATHENA_DATA",
    );
    refused(
        json!({"Resource": "arn:aws:states:::s3:listObjectsV2", "ReaderConfig": {"Transformation": "LOAD_AND_FLATTEN"}}),
        &format!("{LOC}/ReaderConfig/Transformation"),
        "LOAD_AND_FLATTEN",
    );
    refused(
        json!({"Resource": get, "ReaderConfig": {"InputType": "JSON", "CSVDelimiter": "COMMA"}}),
        &format!("{LOC}/ReaderConfig"),
        "only supported when InputType is CSV",
    );
    refused(
        json!({"Resource": get, "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "GIVEN"}}),
        &format!("{LOC}/ReaderConfig"),
        "These fields are required: [CSVHeaders]",
    );
    refused(
        json!({"Resource": get, "ReaderConfig": {"InputType": "CSV", "CSVHeaders": ["a"]}}),
        &format!("{LOC}/ReaderConfig"),
        "only supported when CSVHeaderLocation is GIVEN",
    );
    refused(
        json!({"Resource": get, "ReaderConfig": {"InputType": "CSV", "CSVDelimiter": "COLON"}}),
        &format!("{LOC}/ReaderConfig/CSVDelimiter"),
        "COMMA, PIPE, SEMICOLON, SPACE, TAB",
    );
    // AWS's linter takes 0..=100,000,000.
    refused(
        json!({"Resource": get, "ReaderConfig": {"InputType": "JSON", "MaxItems": 100_000_001}}),
        &format!("{LOC}/ReaderConfig/MaxItems"),
        "between 0 and 100000000",
    );
    refused(
        json!({"Resource": get, "ReaderConfig": {"InputType": "JSON", "MaxItems": 1, "MaxItemsPath": "$.n"}}),
        &format!("{LOC}/ReaderConfig"),
        "cannot be used together",
    );
    refused(
        json!({"Resource": get, "ReaderConfig": {"InputType": "JSON"}, "Arguments": {}}),
        LOC,
        "only supported for the 'JSONata' QueryLanguage",
    );
    refused(
        json!({"Resource": get, "ReaderConfig": {"InputType": "JSON"}, "Extra": 1}),
        LOC,
        "Field 'Extra' is not supported",
    );
    refused(
        json!({"Resource": "arn:aws:states:::s3:listObjectsV2", "ReaderConfig": {"InputType": "CSV"}}),
        &format!("{LOC}/ReaderConfig"),
        "not supported with s3:listObjectsV2",
    );
    refused(json!("s3"), LOC, "Expected value of type Object");
}

#[test]
fn item_reader_resolves_evaluated_parameters() {
    let spec = reader(json!({"Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON", "MaxItems": 0}, "Parameters": {}}))
    .expect("valid");
    let resolved = spec
        .resolve(&json!({"Bucket": "b", "Key": "k", "VersionId": "v1"}), None)
        .expect("resolved");
    assert_eq!(
        resolved.source,
        Source::Object {
            bucket: "b".into(),
            key: "k".into(),
            version_id: Some("v1".into()),
            format: ObjectFormat::Json
        }
    );
    assert_eq!(resolved.max_items, None, "0 means every item");
    assert_eq!(
        spec.resolve(&json!({"Bucket": "b", "Key": "k"}), Some(7))
            .expect("ok")
            .max_items,
        Some(7)
    );
    let err = spec
        .resolve(&json!({"Bucket": "b"}), None)
        .expect_err("no key");
    assert_eq!(err.cause, "The ItemReader's parameter Key is required");
    let err = spec
        .resolve(&json!({"Bucket": "b", "Key": "k", "Delimiter": "/"}), None)
        .expect_err("unknown");
    assert!(
        err.cause.contains("Delimiter is not supported"),
        "{}",
        err.cause
    );
}

#[test]
fn max_items_values_fail_as_aws_fails_them() {
    // AWS: -1 fails the Map Run, 1.5 is a runtime error, 0 means all, more than
    // 100,000,000 reads 100,000,000.
    let f = max_items_from_value(&json!(-1), "$.MaxItems").expect_err("negative");
    assert_eq!(
        (f.error.as_str(), f.cause.as_deref()),
        (
            "States.ItemReaderFailed",
            Some("field MaxItems must be positive")
        )
    );
    let f = max_items_from_value(&json!(1.5), "$.MaxItems").expect_err("fraction");
    assert_eq!(f.error, "States.Runtime");
    assert_eq!(f.cause.as_deref(), Some("The MaxItemsPath field refers to value \"1.5\" which is not a valid integer: $.MaxItems"));
    assert_eq!(max_items_from_value(&json!(0), "$.m").expect("ok"), None);
    assert_eq!(max_items_from_value(&json!(2), "$.m").expect("ok"), Some(2));
    assert_eq!(
        max_items_from_value(&json!(100_000_001), "$.m").expect("ok"),
        Some(100_000_000)
    );
}

// ---- ItemBatcher and ResultWriter specs ---------------------------------------------

#[test]
fn item_batcher_and_result_writer_specs() {
    let mut d = Vec::new();
    let spec = ItemBatcherSpec::parse(
        &json!({"MaxItemsPerBatch": 2, "MaxInputBytesPerBatchPath": "$.bytes", "BatchInput": {"k": 1}}),
        "/States/M/ItemBatcher",
        Language::JsonPath,
        &mut d,
    )
    .expect("valid");
    let batching = spec.resolve(None, Some(100), Some(json!({"k": 1})));
    assert_eq!(
        (batching.max_items, batching.max_bytes),
        (Some(2), Some(100))
    );

    for (bad, message) in [
        (
            json!({"BatchInput": {}}),
            "At least one of these fields is required",
        ),
        (
            json!({"MaxInputBytesPerBatch": 262_145}),
            "between 1 and 262144",
        ),
        (json!({"MaxItemsPerBatch": 0}), "between 1 and"),
        (
            json!({"MaxItemsPerBatch": 1, "BatchInput": 3}),
            "Expected value of type Object",
        ),
    ] {
        let mut d = Vec::new();
        assert!(ItemBatcherSpec::parse(&bad, "/B", Language::JsonPath, &mut d).is_none());
        assert!(
            d.iter().any(|d| d.message.contains(message)),
            "{bad}: {d:?}"
        );
    }
    let f = batch_limit_from_value(&json!("x"), "MaxItemsPerBatchPath", "$.n").expect_err("bad");
    assert_eq!(f.error, "States.Runtime");
    assert_eq!(
        batch_limit_from_value(&json!(3), "MaxItemsPerBatchPath", "$.n").expect("ok"),
        3
    );

    let parse = |v: Value| {
        let mut d = Vec::new();
        ResultWriterSpec::parse(&v, "/W", Language::JsonPath, &mut d).ok_or(d)
    };
    let spec = parse(json!({"Resource": "arn:aws:states:::s3:putObject",
        "Parameters": {"Bucket": "b", "Prefix": "p"}}))
    .expect("valid");
    let writer = spec
        .resolve(Some(&json!({"Bucket": "b", "Prefix": "p"})))
        .expect("ok");
    assert_eq!(writer.transformation, Transformation::None);
    assert_eq!(writer.destination.map(|d| d.prefix), Some("p".to_string()));
    let spec = parse(json!({"WriterConfig": {"OutputType": "JSONL", "Transformation": "FLATTEN"}}))
        .expect("valid");
    let writer = spec.resolve(None).expect("ok");
    assert_eq!(
        (
            writer.destination,
            writer.output_type,
            writer.transformation
        ),
        (None, OutputType::Jsonl, Transformation::Flatten)
    );
    for (bad, message) in [
        (json!({}), "cannot be empty"),
        (
            json!({"Resource": "arn:aws:states:::s3:putObject"}),
            "These fields are required: [Parameters]",
        ),
        (
            json!({"Parameters": {"Bucket": "b"}}),
            "These fields are required: [Resource]",
        ),
        (
            json!({"Resource": "arn:aws:states:::s3:getObject", "Parameters": {}}),
            "not supported here",
        ),
        (
            json!({"WriterConfig": {"OutputType": "CSV"}}),
            "must be one of [JSON, JSONL]",
        ),
    ] {
        let d = parse(bad.clone()).expect_err("refused");
        assert!(
            d.iter().any(|d| d.message.contains(message)),
            "{bad}: {d:?}"
        );
    }
    let spec = parse(json!({"Resource": "arn:aws:states:::s3:putObject", "Parameters": {}}))
        .expect("valid");
    let f = spec
        .resolve(Some(&json!({"Prefix": "p"})))
        .expect_err("no bucket");
    assert_eq!(f.error, "States.ResultWriterFailed");
}

// ---- decoders -----------------------------------------------------------------------

/// Decodes `bytes` twice — in one chunk and one byte at a time — and checks both agree.
fn decode<D: Decoder>(make: impl Fn() -> D, bytes: &[u8]) -> Result<Vec<Value>, ReadError> {
    let whole = {
        let mut d = make();
        let mut items = Vec::new();
        d.push(bytes, &mut items)
            .and_then(|()| d.finish(&mut items))
            .map(|()| items)
    };
    let bytewise = {
        let mut d = make();
        let mut items = Vec::new();
        let mut result = Ok(());
        for b in bytes {
            result = d.push(std::slice::from_ref(b), &mut items);
            if result.is_err() {
                break;
            }
        }
        result.and_then(|()| d.finish(&mut items)).map(|()| items)
    };
    assert_eq!(whole, bytewise, "chunking changed the result");
    whole
}

fn csv(text: &str, headers: CsvHeaders, delimiter: CsvDelimiter) -> Result<Vec<Value>, ReadError> {
    let format = CsvFormat { headers, delimiter };
    decode(
        || CsvDecoder::new(&format).expect("headers"),
        text.as_bytes(),
    )
}

fn first_row(text: &str) -> Vec<Value> {
    csv(text, CsvHeaders::FirstRow, CsvDelimiter::Comma).expect("valid CSV")
}

/// Items as JSON text, so key order is compared too.
fn texts(items: &[Value]) -> Vec<String> {
    items.iter().map(Value::to_string).collect()
}

#[test]
fn csv_as_aws_recorded_it() {
    // AWS: test_map_item_reader_base_csv_headers_first_line.
    let items = first_row("Col1,Col2,Col3\nValue1,Value2,Value3\nValue4,Value5,Value6\n,,,\ntrue,1,'HelloWorld'\nNull,None,\n   \n");
    assert_eq!(
        Value::Array(items),
        json!([{"Col1":"Value1","Col2":"Value2","Col3":"Value3"},{"Col1":"Value4","Col2":"Value5","Col3":"Value6"},
               {"Col1":"","Col2":"","Col3":""},{"Col1":"true","Col2":"1","Col3":"'HelloWorld'"},
               {"Col1":"Null","Col2":"None","Col3":""},{"Col1":"   ","Col2":"","Col3":""}])
    );
    // AWS: typed-looking headers, and the key order AWS's map gives them.
    let items = first_row("0,True,{}\nValue4,Value5,Value6\n,,,\n");
    assert_eq!(
        texts(&items),
        [
            r#"{"0":"Value4","{}":"Value6","True":"Value5"}"#,
            r#"{"0":"","{}":"","True":""}"#
        ]
    );
    // AWS: a header `H1,` names a field "" and extra fields are dropped.
    let items = first_row("H1,\nValue4,Value5,Value6\ntrue,1,'HelloWorld'\n");
    assert_eq!(
        texts(&items),
        [r#"{"":"Value5","H1":"Value4"}"#, r#"{"":"1","H1":"true"}"#]
    );
    // AWS: GIVEN headers, fewer than the fields.
    let items = csv(
        "Value1,Value2,Value3\n,,,\n",
        CsvHeaders::Given(vec!["H1".into()]),
        CsvDelimiter::Comma,
    )
    .expect("valid");
    assert_eq!(texts(&items), [r#"{"H1":"Value1"}"#, r#"{"H1":""}"#]);
    // AWS: duplicate GIVEN headers.
    let err = CsvDecoder::new(&CsvFormat {
        headers: CsvHeaders::Given(vec!["H1".into(), "H1".into(), "H3".into()]),
        delimiter: CsvDelimiter::Comma,
    })
    .expect_err("duplicates");
    assert_eq!(err.cause, "CSV headers cannot contain duplicates.");
    assert_eq!(
        csv("a,a\n1,2\n", CsvHeaders::FirstRow, CsvDelimiter::Comma)
            .expect_err("dup")
            .cause,
        "CSV headers cannot contain duplicates."
    );
}

#[test]
fn csv_quoting_escapes_and_line_ends() {
    // AWS's documented example: quotes around commas, doubled quotes, a newline.
    let items = csv(
        "abc,123,\"This string contains commas, a double quotation marks (\"\"), and a newline (\n)\",{\"\"MyKey\"\":\"\"MyValue\"\"},\"[1,2,3]\"\n",
        CsvHeaders::Given(vec!["L".into(), "N".into(), "S".into(), "O".into(), "A".into()]),
        CsvDelimiter::Comma,
    )
    .expect("valid");
    let item = &items[0];
    assert_eq!(
        item["S"],
        "This string contains commas, a double quotation marks (\"), and a newline (\n)"
    );
    assert_eq!(
        item["O"], "{\"MyKey\":\"MyValue\"}",
        "doubled quotes count once outside quotes too"
    );
    assert_eq!(item["A"], "[1,2,3]");

    // Backslashes: `\\`, `\"` and `\<delimiter>` keep the character; before anything
    // else the backslash is dropped.
    let items = first_row("path,size\nC:\\\\Program Files\\\\MyApp.exe,6534512\na\\,b,\\x\\\"y\n");
    assert_eq!(items[0]["path"], "C:\\Program Files\\MyApp.exe");
    assert_eq!(items[1]["path"], "a,b");
    assert_eq!(items[1]["size"], "x\"y");

    // CRLF and CR line ends, a BOM, empty lines, no final newline, other delimiters.
    let items = first_row("\u{feff}a,b\r\n1,2\r\n\r\n\n3,4\r5,6");
    assert_eq!(
        Value::Array(items),
        json!([{"a":"1","b":"2"},{"a":"3","b":"4"},{"a":"5","b":"6"}])
    );
    let items = csv("a|b\n\"x|y\"|z\n", CsvHeaders::FirstRow, CsvDelimiter::Pipe).expect("valid");
    assert_eq!(items[0], json!({"a": "x|y", "b": "z"}));
    let items = csv("a\tb\n1\t2\n", CsvHeaders::FirstRow, CsvDelimiter::Tab).expect("valid");
    assert_eq!(items[0], json!({"a": "1", "b": "2"}));
    let items = csv("a;b\n1;2\n", CsvHeaders::FirstRow, CsvDelimiter::Semicolon).expect("valid");
    assert_eq!(items[0], json!({"a": "1", "b": "2"}));
    let items = csv("a b\n1 2\n", CsvHeaders::FirstRow, CsvDelimiter::Space).expect("valid");
    assert_eq!(items[0], json!({"a": "1", "b": "2"}));
    // A lone quote inside an unquoted field is text.
    assert_eq!(
        first_row("a,b\n5\" tall,x\"\n"),
        vec![json!({"a": "5\" tall", "b": "x\""})]
    );
    // A quoted empty field is a row, not an empty line.
    assert_eq!(first_row("a\n\"\"\n"), vec![json!({"a": ""})]);
}

#[test]
fn csv_degenerate_files() {
    assert!(first_row("").is_empty(), "empty file");
    assert!(first_row("a,b,c\n").is_empty(), "header only");
    assert!(first_row("a,b,c").is_empty(), "header only, no newline");
    assert!(first_row("\u{feff}").is_empty(), "BOM only");
    let err =
        csv("a\n\"open\n", CsvHeaders::FirstRow, CsvDelimiter::Comma).expect_err("unterminated");
    assert!(
        err.cause.contains("ends inside a quoted field"),
        "{}",
        err.cause
    );
    let mut bytes = b"a\n".to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe, b'\n']);
    let format = CsvFormat {
        headers: CsvHeaders::FirstRow,
        delimiter: CsvDelimiter::Comma,
    };
    let err = decode(|| CsvDecoder::new(&format).expect("ok"), &bytes).expect_err("not UTF-8");
    assert!(err.cause.contains("not valid UTF-8"), "{}", err.cause);
    let big = format!("a\n{}\n", "x".repeat(MAX_ITEM_BYTES + 10));
    let err = csv(&big, CsvHeaders::FirstRow, CsvDelimiter::Comma).expect_err("too big");
    assert!(err.cause.contains("over the limit"), "{}", err.cause);
}

#[test]
fn java_hash_order_grows_its_table() {
    let few: Vec<String> = ["Col1", "Col2", "Col3"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(java_hash_order(&few), [0, 1, 2]);
    // 13 keys: the table has doubled to 32 buckets; every key is still listed once.
    let many: Vec<String> = (0..13).map(|i| format!("k{i}")).collect();
    let mut order = java_hash_order(&many);
    order.sort_unstable();
    assert_eq!(order, (0..13).collect::<Vec<_>>());
}

fn json_items(text: &str) -> Result<Vec<Value>, ReadError> {
    decode(JsonArrayDecoder::new, text.as_bytes())
}

#[test]
fn json_arrays() {
    let items = json_items(
        "\u{feff} [ {\"a\": [1, {\"b\": \"]\\\"\"}]}, \"x,y\", 3, -1.5e2, true, null, [] ] \n",
    )
    .expect("valid");
    assert_eq!(
        Value::Array(items),
        json!([{"a": [1, {"b": "]\""}]}, "x,y", 3, -150.0, true, null, []])
    );
    // Key order is the file's.
    assert_eq!(
        texts(&json_items(r#"[{"z":1,"a":2}]"#).expect("valid")),
        [r#"{"z":1,"a":2}"#]
    );
    assert!(json_items("[]").expect("valid").is_empty());
    // AWS: a file that is not an array.
    for not_array in [r#"{"Hello": "world"}"#, "\"s\"", "3"] {
        assert_eq!(
            json_items(not_array).expect_err("not an array").cause,
            "Attempting to map over non-iterable node."
        );
    }
    for bad in [
        "",
        "[1,",
        "[1,]",
        "[,1]",
        "[1] x",
        "[{\"a\" 1}]",
        "[1 2]",
        "<xml/>",
        "[}]",
    ] {
        let err = json_items(bad).expect_err(bad);
        assert!(
            err.cause.starts_with("The JSON file is not valid JSON"),
            "{bad}: {}",
            err.cause
        );
    }
    let big = format!("[\"{}\"]", "x".repeat(MAX_ITEM_BYTES));
    assert!(json_items(&big)
        .expect_err("too big")
        .cause
        .contains("over the limit"));
}

#[test]
fn json_lines() {
    let items = decode(JsonlDecoder::new, b"{\"a\":1}\r\n\n  \n[2]\n\"s\"").expect("valid");
    assert_eq!(Value::Array(items), json!([{"a": 1}, [2], "s"]));
    let err = decode(JsonlDecoder::new, b"{\"a\":1}\n{oops}\n").expect_err("invalid");
    assert!(err.cause.contains("line 2"), "{}", err.cause);
    assert!(decode(JsonlDecoder::new, b"").expect("empty").is_empty());
}

// ---- batching -----------------------------------------------------------------------

#[test]
fn batches_by_count_and_bytes() {
    let items: Vec<Value> = (0..5).map(|i| json!({"n": i})).collect();
    let by_count = batch_all(
        &Batching {
            max_items: Some(2),
            max_bytes: None,
            batch_input: Some(json!({"t": "x"})),
        },
        items.clone(),
    )
    .expect("ok");
    assert_eq!(
        Value::Array(by_count),
        json!([{"BatchInput": {"t": "x"}, "Items": [{"n": 0}, {"n": 1}]},
               {"BatchInput": {"t": "x"}, "Items": [{"n": 2}, {"n": 3}]},
               {"BatchInput": {"t": "x"}, "Items": [{"n": 4}]}])
    );
    // `{"Items":[]}` is 12 bytes, each `{"n":i}` 7 and a comma 1: 12+7+1+7 = 27 fits two
    // items in 27 bytes, not three.
    let by_bytes = batch_all(
        &Batching {
            max_items: None,
            max_bytes: Some(27),
            batch_input: None,
        },
        items.clone(),
    )
    .expect("ok");
    assert_eq!(by_bytes.len(), 3);
    for batch in &by_bytes {
        assert!(batch.to_string().len() <= 27, "{batch}");
    }
    assert_eq!(by_bytes[0], json!({"Items": [{"n": 0}, {"n": 1}]}));
    // Both limits: whichever closes first.
    let both = batch_all(
        &Batching {
            max_items: Some(1),
            max_bytes: Some(1000),
            batch_input: None,
        },
        items.clone(),
    )
    .expect("ok");
    assert_eq!(both.len(), 5);
    // An item that fits no batch.
    let mut batcher = Batcher::new(Batching {
        max_items: None,
        max_bytes: Some(20),
        batch_input: None,
    });
    assert!(batcher.push(json!({"n": 1})).expect("fits").is_none());
    let err = batcher
        .push(json!({"long": "xxxxxxxx"}))
        .expect_err("too big");
    assert!(err.cause.contains("MaxInputBytesPerBatch"), "{}", err.cause);
    assert!(batch_all(&Batching::default(), Vec::new())
        .expect("ok")
        .is_empty());
}

// ---- result files -------------------------------------------------------------------

fn child(n: u32, outcome: ChildOutcome) -> ChildResult {
    ChildResult::Ran(Box::new(ChildExecution {
        execution_arn: format!("arn:aws:states:us-east-1:123456789012:execution:m/Map:{n}"),
        name: format!("{n}"),
        state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:m/Map".into(),
        input: json!({"n": n}),
        start_date: "2026-01-02T03:04:05.006Z".into(),
        stop_date: "2026-01-02T03:04:06.007Z".into(),
        redrive_count: 0,
        redrive_status: "NOT_REDRIVABLE".into(),
        redrive_status_reason: "Execution is SUCCEEDED and cannot be redriven".into(),
        outcome,
    }))
}

#[test]
fn records_by_transformation() {
    let ok = child(
        1,
        ChildOutcome::Succeeded {
            output: json!([1, 2]),
        },
    );
    let failed = child(
        2,
        ChildOutcome::Failed {
            error: Some("E".into()),
            cause: Some("c".into()),
        },
    );
    let record = &ok.records(Transformation::None)[0];
    assert_eq!(
        record
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>()),
        Some(
            [
                "ExecutionArn",
                "Input",
                "InputDetails",
                "Name",
                "Output",
                "OutputDetails",
                "RedriveCount",
                "RedriveStatus",
                "RedriveStatusReason",
                "StartDate",
                "StateMachineArn",
                "Status",
                "StopDate"
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()
        )
    );
    assert_eq!(record["Input"], "{\"n\":1}");
    assert_eq!(record["Output"], "[1,2]");
    assert_eq!(record["Status"], "SUCCEEDED");
    assert_eq!(ok.records(Transformation::Compact), vec![json!([1, 2])]);
    assert_eq!(
        ok.records(Transformation::Flatten),
        vec![json!(1), json!(2)]
    );
    let f = &failed.records(Transformation::Flatten)[0];
    assert_eq!(
        (
            f["Error"].as_str(),
            f["Cause"].as_str(),
            f["Status"].as_str()
        ),
        (Some("E"), Some("c"), Some("FAILED"))
    );
    assert!(f.get("Output").is_none());
    assert_eq!(failed.class(), ResultClass::Failed);
    assert_eq!(
        child(
            3,
            ChildOutcome::TimedOut {
                error: None,
                cause: None
            }
        )
        .class(),
        ResultClass::Failed
    );
    let pending = ChildResult::Pending { input: json!("x") };
    assert_eq!(
        pending.records(Transformation::Compact),
        vec![json!({"Input": "\"x\"", "InputDetails": {"Included": true}, "Status": "PENDING"})]
    );
    assert_eq!(
        inline_output(
            &[ok.clone(), failed.clone()],
            OutputType::Json,
            Transformation::Flatten
        ),
        json!([1, 2, f])
    );
    assert_eq!(
        inline_output(&[ok], OutputType::Jsonl, Transformation::Compact),
        json!("[1,2]\n")
    );
}

#[test]
fn files_split_and_manifest() {
    let arn = "arn:aws:states:us-east-1:123456789012:mapRun:m/Map:5f1c";
    assert_eq!(run_folder("mapJobs", arn), "mapJobs/5f1c/");
    assert_eq!(run_folder("mapJobs/", arn), "mapJobs/5f1c/");
    assert_eq!(run_folder("", arn), "5f1c/");
    let destination = cairn_asl::distributed::config::Destination {
        bucket: "b".into(),
        prefix: "mapJobs".into(),
    };
    // AWS: the Map state's output after an export.
    assert_eq!(
        exported_output(&destination, arn),
        json!({"MapRunArn": arn, "ResultWriterDetails": {"Bucket": "b", "Key": "mapJobs/5f1c/manifest.json"}})
    );

    // Records of 7 bytes (`{"n":1}`); a limit of 20 bytes holds `[` + two + `,` + `]`.
    let mut splitter = FileSplitter::new(
        ResultClass::Succeeded,
        "mapJobs/5f1c/",
        OutputType::Json,
        20,
    );
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for n in 0..5 {
        match splitter.record(&json!({"n": n})) {
            Write::Start { key, bytes } => {
                if let (Some(last), Some(close)) = (files.last_mut(), Some(b"]")) {
                    last.1.extend_from_slice(close);
                }
                files.push((key, bytes));
            }
            Write::Append(bytes) => files.last_mut().expect("open").1.extend_from_slice(&bytes),
        }
    }
    let close = splitter.closing_bytes().expect("open file");
    files.last_mut().expect("open").1.extend_from_slice(close);
    let (class, written) = splitter.finish();
    assert_eq!(class, ResultClass::Succeeded);
    let keys: Vec<&str> = files.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "mapJobs/5f1c/SUCCEEDED_0.json",
            "mapJobs/5f1c/SUCCEEDED_1.json",
            "mapJobs/5f1c/SUCCEEDED_2.json"
        ]
    );
    assert_eq!(files[0].1, br#"[{"n":0},{"n":1}]"#);
    assert_eq!(files[2].1, br#"[{"n":4}]"#);
    assert_eq!(
        written.iter().map(|w| w.size).collect::<Vec<_>>(),
        files.iter().map(|f| f.1.len() as u64).collect::<Vec<_>>()
    );

    let m = manifest(
        &destination,
        arn,
        &[(class, written), (ResultClass::Failed, Vec::new())],
    );
    assert_eq!(m["DestinationBucket"], "b");
    assert_eq!(m["MapRunArn"], arn);
    assert_eq!(
        m["ResultFiles"]["SUCCEEDED"][0],
        json!({"Key": "mapJobs/5f1c/SUCCEEDED_0.json", "Size": 17})
    );
    assert_eq!(m["ResultFiles"]["FAILED"], json!([]));
    assert_eq!(m["ResultFiles"]["PENDING"], json!([]));

    let mut lines = FileSplitter::new(ResultClass::Pending, "p/", OutputType::Jsonl, 1 << 20);
    let Write::Start { key, bytes } = lines.record(&json!(1)) else {
        panic!("first record starts a file")
    };
    assert_eq!(
        (key.as_str(), bytes.as_slice()),
        ("p/PENDING_0.jsonl", b"1\n".as_slice())
    );
    assert_eq!(lines.record(&json!(2)), Write::Append(b"2\n".to_vec()));
    assert_eq!(lines.closing_bytes(), Some(b"".as_slice()));
}
