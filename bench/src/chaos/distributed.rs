//! The chaos run's Distributed Maps and asynchronous Express executions.
//!
//! - **Distributed Maps** (with `--moto`): the run starts moto's S3 server on a free
//!   loopback port, uploads a CSV of [`MAP_ITEMS`] rows, and points the replicas at it.
//!   The `distributed` machine reads the CSV (`ItemReader`), runs one STANDARD child
//!   execution per row ([`MAP_CONCURRENCY`] at a time) and writes the results to S3
//!   (`ResultWriter`). [`check_map`] then verifies that every item was processed exactly
//!   once: one child per item, no child duplicated (`ListExecutions` of the Map Run), each
//!   child's own history clean, the Map Run `SUCCEEDED` with its counts (`resultsWritten`
//!   too), and the result files holding every item once, each record naming its child.
//! - **Asynchronous Express**: StartExecution on an EXPRESS machine (a Wait, then a task
//!   that tells the target its id). Each must run at least once (AWS's promise); the run
//!   reports how many ran more than once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_credential_types::Credentials;
use cairn_worker::s3::{S3Client, S3Config};
use serde_json::{json, Value};

use crate::client::Client;
use crate::verify;
use crate::workload::Expected;
use crate::PATIENCE;

/// Rows of the CSV each Distributed Map reads: one child execution each.
pub const MAP_ITEMS: usize = 24;
/// The Distributed Map's MaxConcurrency.
pub const MAP_CONCURRENCY: usize = 5;
/// The bucket the items are read from and the results written to.
pub const BUCKET: &str = "cairn-chaos";
const ITEMS_KEY: &str = "items.csv";
/// The Map Run's label: child ARNs are `…:execution:distributed/<label>:<name>`.
const LABEL: &str = "chaos";

/// moto's S3 server, stopped when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `python -m moto.server` on a free loopback port and waits until it answers.
pub async fn start_moto(python: &Path, log: &Path) -> Result<Moto> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let log_file = std::fs::File::create(log)
        .with_context(|| format!("creating moto's log {}", log.display()))?;
    let child = Command::new(python)
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("starting moto's server with {}", python.display()))?;
    let mut moto = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + PATIENCE;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = moto.child.try_wait() {
            bail!(
                "moto's server exited ({status}); is moto[server] installed for {}? See {}",
                python.display(),
                log.display()
            );
        }
        if Instant::now() > deadline {
            bail!(
                "moto's server did not listen on {port}; see {}",
                log.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(moto)
}

/// What the replicas need to reach moto's S3 (dummy credentials, no shared config).
pub fn replica_env(moto: &Moto) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL_S3", moto.endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "chaos"),
        ("AWS_SECRET_ACCESS_KEY", "chaos"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_CONFIG_FILE", "/nonexistent/aws-config"),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// An S3 client for moto, through the same code the engine uses.
pub fn s3(moto: &Moto) -> Result<S3Client> {
    Ok(S3Client::new(
        S3Config {
            region: "us-east-1".into(),
            endpoint: Some(moto.endpoint.parse()?),
            force_path_style: true,
        },
        Credentials::new("chaos", "chaos", None, None, "chaos"),
    )?)
}

/// Creates the bucket and uploads the items' CSV.
pub async fn upload_items(s3: &S3Client) -> Result<()> {
    s3.create_bucket(BUCKET).await?;
    let mut csv = String::from("n,word\n");
    for n in 0..MAP_ITEMS {
        csv.push_str(&format!("{n},item-{n}\n"));
    }
    s3.put_object(BUCKET, ITEMS_KEY, csv.into_bytes(), "text/csv")
        .await?;
    Ok(())
}

fn lambda(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:123456789012:function:{name}")
}

/// The Distributed Map: items from the CSV, a STANDARD child per item calling `step`,
/// results to `s3://BUCKET/<input prefix>/`.
pub fn map_definition() -> Value {
    json!({"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "Label": LABEL, "MaxConcurrency": MAP_CONCURRENCY, "End": true,
        "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
                       "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
                       "Parameters": {"Bucket": BUCKET, "Key": ITEMS_KEY}},
        "ItemSelector": {"n.$": "$$.Map.Item.Value.n", "word.$": "$$.Map.Item.Value.word",
                         "parent.$": "$.id"},
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "Item",
            "States": {"Item": {"Type": "Task", "Resource": lambda("step"), "End": true}}},
        "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject",
                         "Parameters": {"Bucket": BUCKET, "Prefix.$": "$.prefix"}}
    }}})
}

/// The input of Distributed Map execution `id`.
pub fn map_input(id: u64) -> Value {
    json!({"id": id, "prefix": format!("results/d{id}")})
}

/// The parent of a Distributed Map: the Map state entered once, no task of its own
/// (the results are written by an internal task that records no events).
pub fn map_parent_expected() -> Expected {
    Expected {
        status: "SUCCEEDED",
        error: None,
        output: None,
        entered: vec![("Each", 1)],
        scheduled: 0,
        map_items: None,
        redrives: 0,
    }
}

/// The input a child receives for item `n` of parent `id`.
fn child_input(id: u64, n: usize) -> Value {
    json!({"n": n.to_string(), "word": format!("item-{n}"), "parent": id})
}

/// The asynchronous Express machine: a nap, then a task that reports the run's id.
pub fn express_definition() -> Value {
    json!({"StartAt": "Nap", "States": {
        "Nap": {"Type": "Wait", "Seconds": 1, "Next": "Report"},
        "Report": {"Type": "Task", "Resource": lambda("express-done"),
                   "Parameters": {"id.$": "$.id", "execution.$": "$$.Execution.Id"},
                   "End": true}
    }})
}

/// What checking one Distributed Map execution found.
#[derive(Default)]
pub struct MapVerdict {
    /// Children listed for the Map Run.
    pub children: usize,
    /// Everything wrong (lost, duplicated or mis-recorded), one line each.
    pub problems: Vec<String>,
    /// Task invocations of its children beyond one per attempt (each explained by a
    /// lease takeover, as for the other executions).
    pub duplicate_invocations: u32,
    /// Task attempts its children scheduled that never reached the target.
    pub never_invoked: usize,
    pub scheduled: usize,
}

/// Checks a Distributed Map execution that ended (`describe`): its Map Run, its
/// children and its result files.
pub async fn check_map(
    client: &Client,
    s3: &S3Client,
    arn: &str,
    id: u64,
    describe: &Value,
    invocations: &HashMap<String, u32>,
) -> Result<MapVerdict> {
    let mut verdict = MapVerdict::default();
    let output: Value = describe["output"]
        .as_str()
        .and_then(|o| serde_json::from_str(o).ok())
        .unwrap_or(Value::Null);
    let Some(map_run_arn) = output["MapRunArn"].as_str() else {
        verdict
            .problems
            .push(format!("output without MapRunArn: {output}"));
        return Ok(verdict);
    };

    // The Map Run: succeeded, every item counted once.
    let run = client
        .ok(
            "DescribeMapRun",
            &json!({"mapRunArn": map_run_arn}),
            PATIENCE,
        )
        .await?;
    if run["status"] != "SUCCEEDED" {
        verdict
            .problems
            .push(format!("Map Run {}: status {}", map_run_arn, run["status"]));
    }
    for counts in ["itemCounts", "executionCounts"] {
        let c = &run[counts];
        let n = MAP_ITEMS as u64;
        let expected = [
            ("total", n),
            ("succeeded", n),
            ("failed", 0),
            ("aborted", 0),
            ("running", 0),
            ("pending", 0),
            // Every item's record written by the ResultWriter.
            ("resultsWritten", n),
        ];
        for (field, want) in expected {
            if c[field].as_u64() != Some(want) {
                verdict.problems.push(format!(
                    "Map Run {map_run_arn}: {counts}.{field} {}, expected {want}",
                    c[field]
                ));
            }
        }
    }

    // The children: one per item, none twice, each clean.
    let mut children = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({"mapRunArn": map_run_arn, "maxResults": 1000});
        if let Some(t) = &token {
            body["nextToken"] = json!(t);
        }
        let page = client.ok("ListExecutions", &body, PATIENCE).await?;
        children.extend(page["executions"].as_array().cloned().unwrap_or_default());
        match page["nextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    verdict.children = children.len();
    let arns: HashSet<&str> = children
        .iter()
        .filter_map(|c| c["executionArn"].as_str())
        .collect();
    if children.len() != MAP_ITEMS || arns.len() != MAP_ITEMS {
        verdict.problems.push(format!(
            "Map Run {map_run_arn}: {} children listed ({} distinct), expected {MAP_ITEMS}",
            children.len(),
            arns.len()
        ));
    }
    let mut inputs_seen: BTreeMap<String, usize> = BTreeMap::new();
    for child in &children {
        let child_arn = child["executionArn"].as_str().unwrap_or_default();
        let described = client
            .ok(
                "DescribeExecution",
                &json!({"executionArn": child_arn}),
                PATIENCE,
            )
            .await?;
        let input: Value = described["input"]
            .as_str()
            .and_then(|i| serde_json::from_str(i).ok())
            .unwrap_or(Value::Null);
        *inputs_seen.entry(input.to_string()).or_default() += 1;
        if described["mapRunArn"] != map_run_arn {
            verdict.problems.push(format!(
                "{child_arn}: mapRunArn {}, expected {map_run_arn}",
                described["mapRunArn"]
            ));
        }
        let expected = Expected {
            status: "SUCCEEDED",
            error: None,
            output: Some(json!({"stepped": input})),
            entered: vec![("Item", 1)],
            scheduled: 1,
            map_items: None,
            redrives: 0,
        };
        let history = crate::history(client, child_arn).await?;
        let v = verify::check(child_arn, &expected, &described, &history, invocations);
        verdict.scheduled += v.scheduled;
        verdict.never_invoked += v.never_invoked;
        verdict.duplicate_invocations += v.duplicate_invocations;
        if let Some(why) = v.duplicated.or(v.wrong) {
            verdict.problems.push(format!("child {child_arn}: {why}"));
        }
    }
    for n in 0..MAP_ITEMS {
        let key = child_input(id, n).to_string();
        let times = inputs_seen.get(&key).copied().unwrap_or(0);
        if times != 1 {
            verdict.problems.push(format!(
                "{arn}: item {n} processed by {times} children, expected 1"
            ));
        }
    }

    // The result files: the manifest lists SUCCEEDED files only, and they hold every
    // item once, each record naming its child.
    let details = &output["ResultWriterDetails"];
    let (Some(bucket), Some(key)) = (details["Bucket"].as_str(), details["Key"].as_str()) else {
        verdict.problems.push(format!(
            "{arn}: output without ResultWriterDetails: {output}"
        ));
        return Ok(verdict);
    };
    let manifest = read_json(s3, bucket, key).await?;
    if manifest["MapRunArn"] != map_run_arn {
        verdict.problems.push(format!(
            "{key}: MapRunArn {}, expected {map_run_arn}",
            manifest["MapRunArn"]
        ));
    }
    let files = &manifest["ResultFiles"];
    for class in ["FAILED", "PENDING"] {
        if files[class].as_array().is_some_and(|f| !f.is_empty()) {
            verdict
                .problems
                .push(format!("{key}: {class} files listed: {}", files[class]));
        }
    }
    let mut records = Vec::new();
    for file in files["SUCCEEDED"].as_array().cloned().unwrap_or_default() {
        let file_key = file["Key"].as_str().unwrap_or_default();
        match read_json(s3, bucket, file_key).await? {
            Value::Array(rs) => records.extend(rs),
            other => verdict
                .problems
                .push(format!("{file_key}: not a JSON array: {other}")),
        }
    }
    let mut recorded: BTreeMap<String, usize> = BTreeMap::new();
    let mut record_arns = HashSet::new();
    for record in &records {
        let input: Value = record["Input"]
            .as_str()
            .and_then(|i| serde_json::from_str(i).ok())
            .unwrap_or(Value::Null);
        let output: Value = record["Output"]
            .as_str()
            .and_then(|o| serde_json::from_str(o).ok())
            .unwrap_or(Value::Null);
        if record["Status"] != "SUCCEEDED" || output != json!({"stepped": input}) {
            verdict.problems.push(format!(
                "{key}: a record is not its child's success: {record}"
            ));
        }
        let record_arn = record["ExecutionArn"].as_str().unwrap_or_default();
        if !arns.contains(record_arn) {
            verdict.problems.push(format!(
                "{key}: a record names {record_arn}, not a child of the Map Run"
            ));
        }
        record_arns.insert(record_arn.to_string());
        *recorded.entry(input.to_string()).or_default() += 1;
    }
    if records.len() != MAP_ITEMS || record_arns.len() != MAP_ITEMS {
        verdict.problems.push(format!(
            "{key}: {} result records ({} children), expected {MAP_ITEMS}",
            records.len(),
            record_arns.len()
        ));
    }
    for n in 0..MAP_ITEMS {
        let times = recorded
            .get(&child_input(id, n).to_string())
            .copied()
            .unwrap_or(0);
        if times != 1 {
            verdict.problems.push(format!(
                "{key}: item {n} recorded {times} times, expected 1"
            ));
        }
    }
    Ok(verdict)
}

async fn read_json(s3: &S3Client, bucket: &str, key: &str) -> Result<Value> {
    let mut body = s3
        .get_object(bucket, key, None)
        .await
        .with_context(|| format!("reading s3://{bucket}/{key}"))?;
    let mut bytes = Vec::new();
    while let Some(chunk) = body.chunk().await? {
        bytes.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&bytes).with_context(|| format!("s3://{bucket}/{key} is not JSON"))
}
