//! The Distributed Map's S3 layer against moto's S3 server, through the same client
//! code that talks to AWS: objects put, read back as items in every input type,
//! `listObjectsV2` paged past 1,000 keys, an S3 Inventory manifest with gzip data
//! files, S3's errors as `States.ItemReaderFailed`/`States.ResultWriterFailed`, and
//! result files written and read back.

#[path = "common/moto.rs"]
mod moto;

use std::io::Write;

use cairn_asl::distributed::config::{
    CsvDelimiter, CsvFormat, CsvHeaders, Destination, ItemReader, ObjectFormat, OutputType, Source,
    Transformation,
};
use cairn_asl::distributed::results::{
    ChildExecution, ChildOutcome, ChildResult, WriteResultsRequest,
};
use cairn_asl::error::Failure;
use cairn_worker::s3::items::read_item_rows;
use cairn_worker::s3::results::{write_results, write_stored_results};
use cairn_worker::s3::{ItemStream, ResultUpload, S3Client};
use cairn_worker::InvokeError;
use moto::Moto;
use serde_json::{json, Value};

const BUCKET: &str = "items";

async fn setup() -> (Moto, S3Client) {
    let moto = Moto::start();
    let client = moto.client();
    client.create_bucket(BUCKET).await.expect("bucket");
    (moto, client)
}

async fn put(client: &S3Client, key: &str, body: &[u8]) {
    client
        .put_object(BUCKET, key, body.to_vec(), "application/octet-stream")
        .await
        .expect("put");
}

fn object(key: &str, format: ObjectFormat, max_items: Option<u64>) -> ItemReader {
    ItemReader {
        source: Source::Object {
            bucket: BUCKET.into(),
            key: key.into(),
            version_id: None,
            format,
        },
        max_items,
    }
}

/// Every `(index, item)` the stream gives, or its failure.
async fn read(
    client: &S3Client,
    reader: &ItemReader,
    from: u64,
) -> Result<Vec<(u64, Value)>, Failure> {
    let mut stream = ItemStream::open(client, reader, from)?;
    let mut items = Vec::new();
    while let Some(next) = stream.next().await {
        items.push(next?);
    }
    Ok(items)
}

fn values(items: &[(u64, Value)]) -> Vec<Value> {
    items.iter().map(|(_, v)| v.clone()).collect()
}

#[tokio::test]
async fn every_input_type_reads_back_as_items() {
    let (_moto, client) = setup().await;
    let first_row = ObjectFormat::Csv(CsvFormat {
        headers: CsvHeaders::FirstRow,
        delimiter: CsvDelimiter::Comma,
    });

    put(
        &client,
        "data/rows.csv",
        b"\xEF\xBB\xBFid,name\r\n1,\"Smith, J\"\r\n2,\"multi\nline\"\r\n\r\n3\r\n",
    )
    .await;
    let items = read(
        &client,
        &object("data/rows.csv", first_row.clone(), None),
        0,
    )
    .await
    .expect("csv");
    assert_eq!(
        items,
        vec![
            (0, json!({"id": "1", "name": "Smith, J"})),
            (1, json!({"id": "2", "name": "multi\nline"})),
            (2, json!({"id": "3", "name": ""})),
        ]
    );
    // MaxItems stops the read; resuming skips what was stored already.
    let items = read(
        &client,
        &object("data/rows.csv", first_row.clone(), Some(2)),
        0,
    )
    .await
    .expect("csv");
    assert_eq!(items.len(), 2);
    let items = read(&client, &object("data/rows.csv", first_row, None), 2)
        .await
        .expect("resume");
    assert_eq!(items, vec![(2, json!({"id": "3", "name": ""}))]);

    put(&client, "given.psv", b"a|b\nc|d\n").await;
    let given = ObjectFormat::Csv(CsvFormat {
        headers: CsvHeaders::Given(vec!["x".into(), "y".into()]),
        delimiter: CsvDelimiter::Pipe,
    });
    let items = read(&client, &object("given.psv", given, None), 0)
        .await
        .expect("given");
    assert_eq!(
        values(&items),
        vec![json!({"x": "a", "y": "b"}), json!({"x": "c", "y": "d"})]
    );

    put(
        &client,
        "items.json",
        br#"[{"verdict":"true","n":1},{"verdict":"false","n":2},{"verdict":"mostly-true","n":3}]"#,
    )
    .await;
    let items = read(
        &client,
        &object("items.json", ObjectFormat::Json, Some(2)),
        0,
    )
    .await
    .expect("json");
    // AWS keeps a JSON item's keys in the file's order.
    assert_eq!(
        values(&items)
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>(),
        [
            r#"{"verdict":"true","n":1}"#,
            r#"{"verdict":"false","n":2}"#
        ]
    );

    put(&client, "items.jsonl", b"{\"a\":1}\n\n[2]\n\"three\"\n").await;
    let items = read(
        &client,
        &object("items.jsonl", ObjectFormat::Jsonl, None),
        0,
    )
    .await
    .expect("jsonl");
    assert_eq!(
        values(&items),
        vec![json!({"a": 1}), json!([2]), json!("three")]
    );

    // A key with spaces and characters that need encoding.
    put(&client, "dir/a b+c=é.json", b"[1]").await;
    let items = read(
        &client,
        &object("dir/a b+c=é.json", ObjectFormat::Json, None),
        0,
    )
    .await
    .expect("encoded key");
    assert_eq!(values(&items), vec![json!(1)]);
}

#[tokio::test]
async fn a_large_csv_streams_in_many_chunks() {
    let (_moto, client) = setup().await;
    let mut csv = String::from("n,text\n");
    for i in 0..50_000 {
        csv.push_str(&format!("{i},\"row {i}, quoted\"\n"));
    }
    put(&client, "big.csv", csv.as_bytes()).await;
    let format = ObjectFormat::Csv(CsvFormat {
        headers: CsvHeaders::FirstRow,
        delimiter: CsvDelimiter::Comma,
    });
    let items = read(&client, &object("big.csv", format, None), 0)
        .await
        .expect("big");
    assert_eq!(items.len(), 50_000);
    assert_eq!(
        items[49_999],
        (49_999, json!({"n": "49999", "text": "row 49999, quoted"}))
    );
    assert!(items
        .iter()
        .enumerate()
        .all(|(i, (index, _))| *index == i as u64));
}

#[tokio::test]
async fn list_objects_v2_pages_past_1000_keys() {
    let (_moto, client) = setup().await;
    for i in 0..1_005 {
        put(
            &client,
            &format!("in/{i:05}.txt"),
            format!("{i}HelloWorld!").as_bytes(),
        )
        .await;
    }
    put(&client, "other/x.txt", b"x").await;
    let reader = ItemReader {
        source: Source::List {
            bucket: BUCKET.into(),
            prefix: Some("in/".into()),
        },
        max_items: None,
    };
    let items = read(&client, &reader, 0).await.expect("listed");
    assert_eq!(
        items.len(),
        1_005,
        "every key under the prefix, across two pages"
    );
    let first = &items[0].1;
    let keys: Vec<&str> = first
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        ["Etag", "Key", "LastModified", "Size", "StorageClass"]
    );
    assert_eq!(first["Key"], "in/00000.txt");
    assert_eq!(first["Size"], 12, "`0HelloWorld!`");
    assert_eq!(first["StorageClass"], "STANDARD");
    assert!(
        first["Etag"]
            .as_str()
            .is_some_and(|e| e.starts_with('"') && e.ends_with('"')),
        "{first}"
    );
    assert!(
        first["LastModified"]
            .as_i64()
            .is_some_and(|t| t > 1_600_000_000),
        "{first}"
    );
    assert_eq!(items[1_004].1["Key"], "in/01004.txt");
    // MaxItems past the first page, and a resume inside the second.
    let limited = ItemReader {
        max_items: Some(1_002),
        ..reader.clone()
    };
    assert_eq!(
        read(&client, &limited, 1_000)
            .await
            .expect("resumed")
            .iter()
            .map(|(i, _)| *i)
            .collect::<Vec<_>>(),
        [1_000, 1_001]
    );
}

#[tokio::test]
async fn an_s3_inventory_manifest_reads_its_gzip_data_files() {
    let (_moto, client) = setup().await;
    let gzip = |text: &str| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(text.as_bytes()).expect("gzip");
        encoder.finish().expect("gzip")
    };
    put(
        &client,
        "inv/data/1.csv.gz",
        &gzip("\"src\",\"photos/a.jpg\",\"100\"\n\"src\",\"photos/b.jpg\",\"200\"\n"),
    )
    .await;
    put(
        &client,
        "inv/data/2.csv.gz",
        &gzip("\"src\",\"photos/c, d.jpg\",\"300\"\n"),
    )
    .await;
    let manifest = json!({
        "sourceBucket": "src", "destinationBucket": format!("arn:aws:s3:::{BUCKET}"),
        "version": "2016-11-30", "fileFormat": "CSV", "fileSchema": "Bucket, Key, Size",
        "files": [{"key": "inv/data/1.csv.gz", "size": 1, "MD5checksum": "x"},
                  {"key": "inv/data/2.csv.gz", "size": 1, "MD5checksum": "y"}]
    });
    put(
        &client,
        "inv/manifest.json",
        manifest.to_string().as_bytes(),
    )
    .await;
    let items = read(
        &client,
        &object("inv/manifest.json", ObjectFormat::S3Inventory, None),
        0,
    )
    .await
    .expect("inventory");
    assert_eq!(
        values(&items),
        vec![
            json!({"Bucket": "src", "Key": "photos/a.jpg", "Size": "100"}),
            json!({"Bucket": "src", "Key": "photos/b.jpg", "Size": "200"}),
            json!({"Bucket": "src", "Key": "photos/c, d.jpg", "Size": "300"}),
        ]
    );
    put(
        &client,
        "inv/orc.json",
        json!({"fileFormat": "ORC", "fileSchema": "x", "files": []})
            .to_string()
            .as_bytes(),
    )
    .await;
    let failed = read(
        &client,
        &object("inv/orc.json", ObjectFormat::S3Inventory, None),
        0,
    )
    .await
    .expect_err("orc");
    assert_eq!(failed.error, "States.ItemReaderFailed");
    assert!(
        failed
            .cause
            .as_deref()
            .is_some_and(|c| c.contains("CSV inventory reports only")),
        "{failed:?}"
    );
}

#[tokio::test]
async fn s3_errors_and_bad_files_fail_the_reader() {
    let (_moto, client) = setup().await;
    let failed = read(
        &client,
        &object("missing.json", ObjectFormat::Json, None),
        0,
    )
    .await
    .expect_err("no key");
    assert_eq!(failed.error, "States.ItemReaderFailed");
    let cause = failed.cause.unwrap_or_default();
    assert!(cause.starts_with("The specified key does not exist. (Service: Amazon S3; Status Code: 404; Error Code: NoSuchKey;"), "{cause}");

    let reader = ItemReader {
        source: Source::List {
            bucket: "no-such-bucket".into(),
            prefix: None,
        },
        max_items: None,
    };
    let cause = read(&client, &reader, 0)
        .await
        .expect_err("no bucket")
        .cause
        .unwrap_or_default();
    assert!(cause.contains("Error Code: NoSuchBucket"), "{cause}");

    put(&client, "object.json", br#"{"Hello": "world"}"#).await;
    let failed = read(&client, &object("object.json", ObjectFormat::Json, None), 0)
        .await
        .expect_err("not an array");
    assert_eq!(
        failed.cause.as_deref(),
        Some("Attempting to map over non-iterable node.")
    );
    put(&client, "broken.json", b"[1, 2, {\"a\": ]").await;
    let failed = read(&client, &object("broken.json", ObjectFormat::Json, None), 0)
        .await
        .expect_err("broken");
    assert!(
        failed
            .cause
            .as_deref()
            .is_some_and(|c| c.starts_with("The JSON file is not valid JSON")),
        "{failed:?}"
    );
    put(&client, "dup.csv", b"a,a\n1,2\n").await;
    let format = ObjectFormat::Csv(CsvFormat {
        headers: CsvHeaders::FirstRow,
        delimiter: CsvDelimiter::Comma,
    });
    let failed = read(&client, &object("dup.csv", format, None), 0)
        .await
        .expect_err("dup");
    assert_eq!(
        failed.cause.as_deref(),
        Some("CSV headers cannot contain duplicates.")
    );

    // Nothing listens: the request never got an answer.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let nowhere = cairn_worker::s3::S3Client::new(
        cairn_worker::s3::S3Config {
            region: "us-east-1".into(),
            endpoint: url::Url::parse(&format!("http://{closed}")).ok(),
            force_path_style: false,
        },
        aws_credential_types::Credentials::new("a", "b", None, None, "t"),
    )
    .expect("client");
    let cause = read(&nowhere, &object("k", ObjectFormat::Json, None), 0)
        .await
        .expect_err("refused")
        .cause
        .unwrap_or_default();
    assert!(
        cause.starts_with(&format!(
            "Unable to execute HTTP request to http://{closed}/items/k"
        )),
        "{cause}"
    );
}

const MAP_RUN: &str = "arn:aws:states:us-east-1:123456789012:mapRun:orders/Process:7d1e2a10-0b1c-3c7e-9f2a-1c2d3e4f5a6b";

fn child(n: u32, outcome: ChildOutcome) -> ChildResult {
    ChildResult::Ran(Box::new(ChildExecution {
        execution_arn: format!(
            "arn:aws:states:us-east-1:123456789012:execution:orders/Process:{n}"
        ),
        name: n.to_string(),
        state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:orders/Process"
            .into(),
        input: json!({"n": n}),
        start_date: "2026-01-02T03:04:05.006Z".into(),
        stop_date: "2026-01-02T03:04:06.007Z".into(),
        redrive_count: 0,
        redrive_status: "NOT_REDRIVABLE".into(),
        redrive_status_reason: "Execution is SUCCEEDED and cannot be redriven".into(),
        outcome,
    }))
}

async fn get_json(client: &S3Client, bucket: &str, key: &str) -> (Value, usize) {
    let mut body = client.get_object(bucket, key, None).await.expect("get");
    let mut bytes = Vec::new();
    while let Some(chunk) = body.chunk().await.expect("chunk") {
        bytes.extend_from_slice(&chunk);
    }
    (serde_json::from_slice(&bytes).expect("json"), bytes.len())
}

#[tokio::test]
async fn results_are_written_as_aws_writes_them() {
    let (_moto, client) = setup().await;
    client.create_bucket("results").await.expect("bucket");
    let destination = Destination {
        bucket: "results".into(),
        prefix: "mapJobs".into(),
    };
    // Small files (300 bytes) so the successes split over several.
    let mut upload = ResultUpload::with_limits(
        &client,
        destination,
        MAP_RUN,
        OutputType::Json,
        Transformation::None,
        1_500,
        0,
    );
    for n in 0..6 {
        upload
            .push(&child(
                n,
                ChildOutcome::Succeeded {
                    output: json!({"ok": n}),
                },
            ))
            .await
            .expect("push");
    }
    upload
        .push(&child(
            6,
            ChildOutcome::Failed {
                error: Some("Boom".into()),
                cause: Some("bad item".into()),
            },
        ))
        .await
        .expect("push");
    upload
        .push(&ChildResult::Pending {
            input: json!({"n": 7}),
        })
        .await
        .expect("push");
    let output = upload.finish().await.expect("written");
    let id = "7d1e2a10-0b1c-3c7e-9f2a-1c2d3e4f5a6b";
    assert_eq!(
        output,
        json!({"MapRunArn": MAP_RUN, "ResultWriterDetails": {"Bucket": "results", "Key": format!("mapJobs/{id}/manifest.json")}})
    );

    let (manifest, _) = get_json(&client, "results", &format!("mapJobs/{id}/manifest.json")).await;
    assert_eq!(manifest["DestinationBucket"], "results");
    assert_eq!(manifest["MapRunArn"], MAP_RUN);
    let succeeded = manifest["ResultFiles"]["SUCCEEDED"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(succeeded.len() >= 2, "split into several files: {manifest}");
    let mut records = Vec::new();
    for (i, file) in succeeded.iter().enumerate() {
        let key = file["Key"].as_str().unwrap_or("");
        assert_eq!(key, format!("mapJobs/{id}/SUCCEEDED_{i}.json"));
        let (content, size) = get_json(&client, "results", key).await;
        assert_eq!(
            file["Size"], size as u64,
            "the manifest gives each file's size"
        );
        assert!(size <= 1_500);
        records.extend(content.as_array().cloned().unwrap_or_default());
    }
    assert_eq!(records.len(), 6);
    assert_eq!(
        records[0]["ExecutionArn"],
        "arn:aws:states:us-east-1:123456789012:execution:orders/Process:0"
    );
    assert_eq!(records[0]["Input"], "{\"n\":0}");
    assert_eq!(records[0]["Output"], "{\"ok\":0}");
    assert_eq!(records[0]["Status"], "SUCCEEDED");
    assert_eq!(records[5]["Output"], "{\"ok\":5}");

    let failed = &manifest["ResultFiles"]["FAILED"];
    assert_eq!(failed[0]["Key"], format!("mapJobs/{id}/FAILED_0.json"));
    let (content, _) = get_json(&client, "results", &format!("mapJobs/{id}/FAILED_0.json")).await;
    assert_eq!(
        (
            content[0]["Error"].as_str(),
            content[0]["Cause"].as_str(),
            content[0]["Status"].as_str()
        ),
        (Some("Boom"), Some("bad item"), Some("FAILED"))
    );
    let (content, _) = get_json(&client, "results", &format!("mapJobs/{id}/PENDING_0.json")).await;
    assert_eq!(
        content,
        json!([{"Input": "{\"n\":7}", "InputDetails": {"Included": true}, "Status": "PENDING"}])
    );
}

#[tokio::test]
async fn a_large_result_file_goes_up_in_parts() {
    let (_moto, client) = setup().await;
    let destination = Destination {
        bucket: BUCKET.into(),
        prefix: String::new(),
    };
    let mut upload = ResultUpload::new(
        &client,
        destination,
        MAP_RUN,
        OutputType::Jsonl,
        Transformation::Compact,
    );
    // About 10 MiB of outputs: more than one 8 MiB part.
    let text = "x".repeat(10 * 1024);
    for n in 0..1_000 {
        upload
            .push(&child(
                n,
                ChildOutcome::Succeeded {
                    output: json!({"n": n, "text": text}),
                },
            ))
            .await
            .expect("push");
    }
    let output = upload.finish().await.expect("written");
    let id = "7d1e2a10-0b1c-3c7e-9f2a-1c2d3e4f5a6b";
    assert_eq!(
        output["ResultWriterDetails"]["Key"],
        format!("{id}/manifest.json")
    );
    let mut body = client
        .get_object(BUCKET, &format!("{id}/SUCCEEDED_0.jsonl"), None)
        .await
        .expect("get");
    let mut bytes = Vec::new();
    while let Some(chunk) = body.chunk().await.expect("chunk") {
        bytes.extend_from_slice(&chunk);
    }
    let lines: Vec<Value> = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("line"))
        .collect();
    assert_eq!(lines.len(), 1_000);
    assert_eq!(
        lines[999],
        json!({"n": 999, "text": text}),
        "COMPACT keeps the output alone"
    );
    assert!(bytes.len() > 8 * 1024 * 1024);
}

#[tokio::test]
async fn a_missing_bucket_fails_the_writer() {
    let (_moto, client) = setup().await;
    let destination = Destination {
        bucket: "no-such-bucket".into(),
        prefix: "p".into(),
    };
    let mut upload = ResultUpload::new(
        &client,
        destination,
        MAP_RUN,
        OutputType::Json,
        Transformation::None,
    );
    upload
        .push(&child(0, ChildOutcome::Succeeded { output: json!(1) }))
        .await
        .expect("buffered");
    let failed = upload.finish().await.expect_err("no bucket");
    assert_eq!(failed.error, "States.ResultWriterFailed");
    assert!(
        failed
            .cause
            .as_deref()
            .is_some_and(|c| c.contains("Error Code: NoSuchBucket")),
        "{failed:?}"
    );
}

/// The internal task's input as the engine sends it: serialized results in, the Map
/// state's output back, the files in the bucket.
fn write_request(bucket: &str, results: Vec<ChildResult>) -> Value {
    serde_json::to_value(WriteResultsRequest {
        destination: Destination {
            bucket: bucket.into(),
            prefix: "out/".into(),
        },
        map_run_arn: MAP_RUN.into(),
        output_type: OutputType::Json,
        transformation: Transformation::Compact,
        results,
        stored: None,
    })
    .expect("serializable")
}

#[tokio::test]
async fn the_write_results_task_writes_every_class_and_answers_the_manifest() {
    let (_moto, client) = setup().await;
    client.create_bucket("exports").await.expect("bucket");
    let input = write_request(
        "exports",
        vec![
            child(
                0,
                ChildOutcome::Succeeded {
                    output: json!({"ok": 0}),
                },
            ),
            child(
                1,
                ChildOutcome::Failed {
                    error: Some("Boom".into()),
                    cause: Some("bad item".into()),
                },
            ),
            ChildResult::Pending {
                input: json!({"n": 2}),
            },
        ],
    );
    let output = write_results(Some(&client), &input).await.expect("written");
    let folder = "out/7d1e2a10-0b1c-3c7e-9f2a-1c2d3e4f5a6b/";
    assert_eq!(
        output,
        json!({
            "MapRunArn": MAP_RUN,
            "ResultWriterDetails": {"Bucket": "exports", "Key": format!("{folder}manifest.json")},
        })
    );
    let (manifest, _) = get_json(&client, "exports", &format!("{folder}manifest.json")).await;
    for class in ["SUCCEEDED", "FAILED", "PENDING"] {
        let key = format!("{folder}{class}_0.json");
        assert_eq!(
            manifest["ResultFiles"][class][0]["Key"],
            json!(key),
            "{manifest}"
        );
    }
    let (succeeded, _) = get_json(&client, "exports", &format!("{folder}SUCCEEDED_0.json")).await;
    assert_eq!(succeeded, json!([{"ok": 0}]), "COMPACT: the output alone");
    let (failed, _) = get_json(&client, "exports", &format!("{folder}FAILED_0.json")).await;
    assert_eq!(failed[0]["Status"], "FAILED");
    assert_eq!(failed[0]["Error"], "Boom");
    assert_eq!(failed[0]["Cause"], "bad item");
    let (pending, _) = get_json(&client, "exports", &format!("{folder}PENDING_0.json")).await;
    assert_eq!(
        pending,
        json!([{"Input": "{\"n\":2}", "InputDetails": {"Included": true}, "Status": "PENDING"}])
    );
}

#[tokio::test]
async fn the_write_results_task_fails_on_a_missing_bucket_and_a_bad_input() {
    let (_moto, client) = setup().await;
    let input = write_request(
        "no-such-bucket",
        vec![child(0, ChildOutcome::Succeeded { output: json!(1) })],
    );
    match write_results(Some(&client), &input).await {
        Err(InvokeError::Named { error, .. }) => assert_eq!(error, "States.ResultWriterFailed"),
        other => panic!("expected States.ResultWriterFailed, got {other:?}"),
    }
    assert!(matches!(
        write_results(Some(&client), &json!({"Results": 1})).await,
        Err(InvokeError::BadParameters(_))
    ));
}

/// Reads `input` into `store`'s rows for `arn` twice (a retried or leased-again read),
/// checking each answer is only the count; the rows then.
async fn read_rows_twice<S: cairn_store::Store>(
    store: &S,
    client: &S3Client,
    arn: &str,
    input: &Value,
    expected: u64,
) -> Vec<(u64, Value)> {
    use cairn_asl::interpreter::StoredKind;
    for _ in 0..2 {
        let output = read_item_rows(store, Some(client), arn, input)
            .await
            .expect("read");
        assert_eq!(output, json!({ "ItemCount": expected }));
    }
    let map = input["Rows"]["Map"].as_u64().expect("a map key");
    store
        .map_values(arn, map, StoredKind::Item, 0, u64::MAX)
        .await
        .expect("rows")
}

/// 2,500 JSONL items: more than two inserts' worth.
async fn put_many_lines(client: &S3Client) -> u64 {
    let lines: String = (0..2_500).map(|n| format!("{{\"n\":{n}}}\n")).collect();
    put(client, "many.jsonl", lines.as_bytes()).await;
    2_500
}

async fn items_go_into_rows_once_and_the_answer_is_the_count<S: cairn_store::Store>(
    store: S,
    client: &S3Client,
) {
    let count = put_many_lines(client).await;
    let reader = object("many.jsonl", ObjectFormat::Jsonl, None);
    let arn = "arn:aws:states:us-east-1:123456789012:execution:m:rows";
    let input = json!({"Reader": reader, "Rows": {"Map": 1_099_511_627_777u64}});
    let rows = read_rows_twice(&store, client, arn, &input, count).await;
    assert_eq!(rows.len() as u64, count, "a second read duplicates no row");
    for (at, (index, value)) in rows.iter().enumerate() {
        assert_eq!(*index, at as u64);
        assert_eq!(value, &json!({ "n": at }));
    }
    // Batched: a row is a batch, as the Map's children will get it.
    let input = json!({"Reader": reader, "Rows": {"Map": 7, "Batching": {
        "max_items": 1000, "max_bytes": null, "batch_input": {"b": 1}}}});
    let rows = read_rows_twice(&store, client, arn, &input, 3).await;
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].1["BatchInput"], json!({"b": 1}));
    assert_eq!(rows[0].1["Items"].as_array().map(Vec::len), Some(1000));
    assert_eq!(rows[2].1["Items"][499], json!({"n": 2499}));
}

#[tokio::test]
async fn the_read_items_task_writes_rows_in_postgres() {
    let (_moto, client) = setup().await;
    let (store, _) = cairn_store::testing::fresh_store("read_rows", 4)
        .await
        .expect("store");
    items_go_into_rows_once_and_the_answer_is_the_count(store, &client).await;
}

#[tokio::test]
async fn the_read_items_task_writes_rows_in_memory() {
    let (_moto, client) = setup().await;
    let store = cairn_store::memory::MemoryStore::new();
    items_go_into_rows_once_and_the_answer_is_the_count(store, &client).await;
}

#[tokio::test]
async fn a_read_without_rows_answers_the_items() {
    let (_moto, client) = setup().await;
    put(&client, "few.jsonl", b"{\"n\":1}\n{\"n\":2}\n").await;
    let store = cairn_store::memory::MemoryStore::new();
    let input = json!({"Reader": object("few.jsonl", ObjectFormat::Jsonl, None)});
    let output = read_item_rows(&store, Some(&client), "arn", &input)
        .await
        .expect("read");
    assert_eq!(output, json!({"Items": [{"n": 1}, {"n": 2}]}));
}

/// 2,500 items kept as rows: a page and a half past the writer's page size. Every
/// tenth failed (its result the error output), the last 100 never ran.
async fn results_are_paged_from_the_rows<S: cairn_store::Store>(store: S, client: &S3Client) {
    use cairn_asl::distributed::results::{RunFacts, StoredResults};
    use cairn_asl::interpreter::StoredKind;
    client.create_bucket("paged").await.expect("bucket");
    let arn = "arn:aws:states:us-east-1:123456789012:execution:orders:paged";
    let map = 1_099_511_627_776u64;
    let inputs: Vec<Value> = (0..2_500).map(|n| json!({"n": n})).collect();
    store
        .store_map_values(arn, map, StoredKind::Item, 0, &inputs)
        .await
        .expect("items");
    let results: Vec<Value> = (0..2_400)
        .map(|n| match n % 10 {
            0 => json!({"Error": "Ten", "Cause": format!("item {n}")}),
            _ => json!({"doubled": n * 2}),
        })
        .collect();
    store
        .store_map_values(arn, map, StoredKind::Result, 0, &results)
        .await
        .expect("results");
    let mut request: Value = write_request("paged", Vec::new());
    request["stored"] = serde_json::to_value(StoredResults {
        map,
        total: 2_500,
        failed: (0..2_400).step_by(10).collect(),
        // An EXPRESS child that ran past its five minutes.
        timed_out: vec![30],
        run: RunFacts {
            map_run_arn: MAP_RUN.into(),
            children: false,
            express: false,
            start_date: "2026-01-02T03:04:05.006Z".into(),
            stop_date: "2026-01-02T03:04:06.007Z".into(),
            redrive_count: 0,
        },
    })
    .expect("serializable");
    // A worker without a store cannot write them, and says so.
    assert!(write_results(Some(client), &request).await.is_err());
    let output = write_stored_results(&store, Some(client), arn, &request)
        .await
        .expect("written");
    let folder = "out/7d1e2a10-0b1c-3c7e-9f2a-1c2d3e4f5a6b/";
    assert_eq!(
        output["ResultWriterDetails"]["Key"],
        json!(format!("{folder}manifest.json"))
    );
    let (succeeded, _) = get_json(client, "paged", &format!("{folder}SUCCEEDED_0.json")).await;
    let expected: Vec<Value> = (0..2_400)
        .filter(|n| n % 10 != 0)
        .map(|n| json!({"doubled": n * 2}))
        .collect();
    assert_eq!(succeeded, Value::Array(expected));
    let (failed, _) = get_json(client, "paged", &format!("{folder}FAILED_0.json")).await;
    assert_eq!(failed.as_array().map(Vec::len), Some(240));
    assert_eq!(failed[3]["Cause"], "item 30");
    assert_eq!(failed[3]["Status"], "TIMED_OUT");
    assert_eq!(failed[2]["Status"], "FAILED");
    assert_eq!(failed[3]["Input"], "{\"n\":30}");
    let (pending, _) = get_json(client, "paged", &format!("{folder}PENDING_0.json")).await;
    assert_eq!(pending.as_array().map(Vec::len), Some(100));
    assert_eq!(pending[99]["Input"], "{\"n\":2499}");
}

#[tokio::test]
async fn stored_results_are_paged_from_postgres() {
    let (_moto, client) = setup().await;
    let (store, _) = cairn_store::testing::fresh_store("paged_results", 4)
        .await
        .expect("store");
    results_are_paged_from_the_rows(store, &client).await;
}

#[tokio::test]
async fn stored_results_are_paged_from_memory() {
    let (_moto, client) = setup().await;
    results_are_paged_from_the_rows(cairn_store::memory::MemoryStore::new(), &client).await;
}
