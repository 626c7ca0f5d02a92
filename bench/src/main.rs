//! `cairn-bench`: starts a real `cairn server` on a fresh database of the local Postgres,
//! drives it over the Step Functions API and reports durable throughput.
//!
//! ```sh
//! cargo build --release -p cairn -p cairn-bench
//! target/release/cairn-bench tasks3 --executions 2000
//! target/release/cairn-bench pass10 --executions 5000
//! ```
//!
//! Workloads: `pass3` and `pass10` (3 and 10 Pass states), `tasks3` (3 sequential Tasks against a local
//! HTTP target, the shape of the seed's order pipeline), `fanout` (a Parallel of 3 Task
//! branches, then a Map of a Task over 100 items), `map` (one Map of a Task over
//! `--map-items` items, 10 at a time) and `wait` (a Wait of 1 s: latency is
//! how late the timer fired), all Standard; `express3` (StartSyncExecution of an Express
//! machine of 3 Pass states). Reported: executions/s and transitions/s from the first
//! start to the last execution finished, latency percentiles (Standard: start to stop
//! date of each execution as stored; Express: each StartSyncExecution call), Postgres commits per execution
//! (`pg_stat_database.xact_commit` of the bench database: every transaction, read-only ones
//! included — also the one a `LISTEN`ing backend runs for each `NOTIFY` it is woken by),
//! write transactions per execution (transaction ids assigned, the cluster's: the commits
//! that write WAL), WAL bytes per execution (the cluster's), and the server's CPU time and
//! peak memory. `--replicas N` runs N servers on
//! the one database and sends the starts to each in turn.

use std::io::Write;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use axum::routing::post;
use axum::{Json, Router};
use clap::{Parser, ValueEnum};
use serde_json::{json, Value};

#[derive(Parser)]
#[command(
    about = "Throughput and latency of a real cairn server on the local Postgres, driven over the Step Functions API"
)]
struct Args {
    /// The workload to run.
    workload: Workload,
    /// How many executions to start.
    #[arg(long, default_value_t = 2000)]
    executions: usize,
    /// StartExecution calls in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// The cairn binary to run (build it with --release first).
    #[arg(long, default_value = "target/release/cairn")]
    cairn: String,
    /// Postgres server URL, without a database name.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres: String,
    /// Before the measured run, park this many executions on a 30-day Wait, to measure
    /// the workload with that many pending (the scale run uses 1,000,000 with `wait`).
    #[arg(long, default_value_t = 0)]
    waiting: usize,
    /// Keep the bench's database afterwards (it is dropped by default).
    #[arg(long)]
    keep: bool,
    /// Items of the `map` workload's one Map state (run 10 at a time).
    #[arg(long, default_value_t = 1000)]
    map_items: usize,
    /// How many `cairn server` replicas share the bench's database; starts go to them
    /// in turn. CPU is summed over the replicas, peak memory is the largest one's.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    replicas: u16,
    /// Just before the measured run, make this many closed executions (copies of one
    /// finished `tasks3` execution, history included) that ended 100 days ago, with the
    /// server's retention at 30 days, polled every second: the retention loop deletes
    /// them while the workload runs. Reports how fast they were deleted.
    #[arg(long, default_value_t = 0)]
    purge: usize,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Workload {
    Pass3,
    Pass10,
    Tasks3,
    Express3,
    Fanout,
    /// One inline Map of `--map-items` Tasks, `MaxConcurrency` 10: how an execution's
    /// cost grows with the size of its fan-out.
    Map,
    Wait,
}

impl Workload {
    fn definition(self) -> Value {
        match self {
            Workload::Pass10 => {
                let mut states = serde_json::Map::new();
                for i in 1..=10 {
                    let mut state = json!({"Type": "Pass", "Result": i, "ResultPath": "$.last"});
                    if i == 10 {
                        state["End"] = json!(true);
                    } else {
                        state["Next"] = json!(format!("P{}", i + 1));
                    }
                    states.insert(format!("P{i}"), state);
                }
                json!({"StartAt": "P1", "States": states})
            }
            Workload::Fanout => {
                let task = |n: u32| json!({"Type": "Task", "Resource": format!("arn:aws:lambda:us-east-1:123456789012:function:step{n}"), "End": true});
                json!({"StartAt": "Fan", "States": {
                    "Fan": {"Type": "Parallel", "ResultPath": "$.branches", "Next": "Each", "Branches": [
                        {"StartAt": "A", "States": {"A": task(1)}},
                        {"StartAt": "B", "States": {"B": task(2)}},
                        {"StartAt": "C", "States": {"C": task(3)}}
                    ]},
                    "Each": {"Type": "Map", "ItemsPath": "$.items", "ResultPath": "$.mapped", "End": true,
                             "ItemProcessor": {"StartAt": "Item", "States": {"Item": task(1)}}}
                }})
            }
            Workload::Map => json!({"StartAt": "Each", "States": {
                "Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 10, "End": true,
                         "ItemProcessor": {"StartAt": "Item", "States": {"Item": {"Type": "Task",
                             "Resource": "arn:aws:lambda:us-east-1:123456789012:function:step1", "End": true}}}}
            }}),
            Workload::Wait => json!({"StartAt": "W", "States": {
                "W": {"Type": "Wait", "Seconds": 1, "End": true}
            }}),
            Workload::Express3 | Workload::Pass3 => json!({"StartAt": "A", "States": {
                "A": {"Type": "Pass", "Result": 1, "ResultPath": "$.a", "Next": "B"},
                "B": {"Type": "Pass", "Result": 2, "ResultPath": "$.b", "Next": "C"},
                "C": {"Type": "Pass", "Result": 3, "ResultPath": "$.c", "End": true}
            }}),
            Workload::Tasks3 => json!({"StartAt": "Validate", "States": {
                "Validate": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:step1", "Next": "Charge"},
                "Charge": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:step2", "Next": "Ship"},
                "Ship": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:step3", "End": true}
            }}),
        }
    }

    fn transitions(self, map_items: usize) -> usize {
        match self {
            Workload::Map => 1 + map_items,
            Workload::Pass10 => 10,
            Workload::Tasks3 | Workload::Express3 | Workload::Pass3 => 3,
            // Parallel, its 3 tasks, Map and its 100 items.
            Workload::Fanout => 2 + 3 + FANOUT_ITEMS,
            Workload::Wait => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Workload::Pass3 => "pass3",
            Workload::Pass10 => "pass10",
            Workload::Tasks3 => "tasks3",
            Workload::Express3 => "express3",
            Workload::Fanout => "fanout",
            Workload::Map => "map",
            Workload::Wait => "wait",
        }
    }

    fn input(self, i: usize, map_items: usize) -> Value {
        match self {
            Workload::Map => json!({"order": i, "items": (0..map_items).collect::<Vec<_>>()}),
            Workload::Fanout => json!({"order": i, "items": (0..FANOUT_ITEMS).collect::<Vec<_>>()}),
            _ => json!({"order": i}),
        }
    }

    fn express(self) -> bool {
        self == Workload::Express3
    }
}

/// Items of the `fanout` workload's Map.
const FANOUT_ITEMS: usize = 100;

/// p50, p90, p99 and max of `samples` (seconds), in milliseconds.
fn percentiles(mut samples: Vec<f64>) -> [f64; 4] {
    if samples.is_empty() {
        return [0.0; 4];
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| {
        let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i] * 1000.0
    };
    [
        at(0.50),
        at(0.90),
        at(0.99),
        samples[samples.len() - 1] * 1000.0,
    ]
}

async fn start_target() -> Result<SocketAddr> {
    async fn step(Json(input): Json<Value>) -> Json<Value> {
        match input {
            Value::Object(mut fields) => {
                let n = fields.get("steps").and_then(Value::as_u64).unwrap_or(0);
                fields.insert("steps".into(), json!(n + 1));
                Json(Value::Object(fields))
            }
            // A Map item is a bare value.
            item => Json(json!({"item": item, "steps": 1})),
        }
    }
    let app = Router::new().route("/{name}", post(step));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    // Without TCP_NODELAY, a response written in two parts waits for the client's
    // delayed ACK (40 ms on Linux): measured, see docs/benchmarks.md.
    let listener = axum::serve::ListenerExt::tap_io(listener, |stream| {
        let _ = stream.set_nodelay(true);
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn peak_rss_mb(pid: u32) -> Option<f64> {
    status_mb(pid, "VmHWM:")
}

fn rss_mb(pid: u32) -> Option<f64> {
    status_mb(pid, "VmRSS:")
}

fn status_mb(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Starts `args.waiting` executions of a 30-day Wait and reports the server's memory
/// before and after, so that a run shows whether memory grows with the number waiting.
async fn park(client: &reqwest::Client, endpoint: &str, args: &Args, pid: u32) -> Result<Value> {
    let machine = call(
        client,
        endpoint,
        "CreateStateMachine",
        json!({"name": "parked", "roleArn": "arn:aws:iam::123456789012:role/bench",
               "definition": json!({"StartAt": "Park", "States": {
                   "Park": {"Type": "Wait", "Seconds": 30 * 86400, "End": true}}}).to_string()}),
    )
    .await?["stateMachineArn"]
        .as_str()
        .context("stateMachineArn")?
        .to_string();
    let rss_before = rss_mb(pid).unwrap_or(0.0);
    let began = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut starters = Vec::new();
    for _ in 0..args.concurrency {
        let (client, endpoint, machine, next) = (
            client.clone(),
            endpoint.to_string(),
            machine.clone(),
            next.clone(),
        );
        let total = args.waiting;
        starters.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    return Ok::<(), anyhow::Error>(());
                }
                call(
                    &client,
                    &endpoint,
                    "StartExecution",
                    json!({"stateMachineArn": machine, "name": format!("parked{i}")}),
                )
                .await?;
            }
        }));
    }
    let mut samples = Vec::new();
    loop {
        let done = next
            .load(std::sync::atomic::Ordering::Relaxed)
            .min(args.waiting);
        let rss = rss_mb(pid).unwrap_or(0.0);
        eprint!(
            "\rparking: {done}/{} executions waiting, server RSS {rss:.0} MB, {:.0} s   ",
            args.waiting,
            began.elapsed().as_secs_f64()
        );
        let _ = std::io::stderr().flush();
        samples.push(json!({"waiting": done, "rss_mb": rss}));
        if starters.iter().all(|s| s.is_finished()) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    eprintln!();
    for starter in starters {
        starter.await??;
    }
    Ok(json!({
        "executions": args.waiting,
        "seconds_to_start": began.elapsed().as_secs_f64(),
        "server_rss_before_mb": rss_before,
        "server_rss_after_mb": rss_mb(pid).unwrap_or(0.0),
        "rss_samples": samples,
    }))
}

/// One `cairn server` of the bench, on a free loopback port.
struct Replica {
    process: tokio::process::Child,
    pid: u32,
    endpoint: String,
}

impl Replica {
    /// Starts a server on `database_url` and waits until it answers.
    async fn start(
        args: &Args,
        database_url: &str,
        functions: &str,
        client: &reqwest::Client,
    ) -> Result<Replica> {
        let cairn = &args.cairn;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let endpoint = format!("http://127.0.0.1:{port}/");
        let mut command = tokio::process::Command::new(cairn);
        command
            .arg("server")
            .env("DATABASE_URL", database_url)
            .env("CAIRN_LISTEN", format!("127.0.0.1:{port}"))
            .env("CAIRN_FUNCTIONS", functions)
            .env("RUST_LOG", "warn");
        if args.purge > 0 {
            // The aged executions ended 100 days ago: a 30-day retention, looked at
            // every second, deletes them while the workload runs.
            command
                .env("CAIRN_RETENTION", "30d")
                .env("CAIRN_RETENTION_INTERVAL", "1s");
        }
        let process = command
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!("starting {cairn} (build it with cargo build --release -p cairn)")
            })?;
        let pid = process.id().context("server pid")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while call(client, &endpoint, "ListStateMachines", json!({}))
            .await
            .is_err()
        {
            if Instant::now() > deadline {
                bail!("cairn server did not come up at {endpoint}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Replica {
            process,
            pid,
            endpoint,
        })
    }
}

fn total_cpu_seconds(pids: &[u32]) -> f64 {
    pids.iter().filter_map(|&p| cpu_seconds(p)).sum()
}

async fn call(
    client: &reqwest::Client,
    endpoint: &str,
    operation: &str,
    body: Value,
) -> Result<Value> {
    let response = client
        .post(endpoint)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", format!("AWSStepFunctions.{operation}"))
        .body(body.to_string())
        .send()
        .await?;
    let status = response.status();
    let value: Value = response.json().await?;
    if !status.is_success() {
        bail!("{operation} failed: {value}");
    }
    Ok(value)
}

/// Closed executions made for the retention loop to delete (`--purge`).
struct Aged {
    machine: String,
    count: usize,
    events: i64,
    /// When they were committed: the retention loop may start then.
    committed: Instant,
}

/// Runs one `tasks3` execution of a machine of its own to its end, then copies it
/// `count` times, history included, as if all had ended 100 days ago: past the bench
/// server's 30-day retention, so its retention loop starts deleting them at once.
async fn age(
    client: &reqwest::Client,
    endpoint: &str,
    pool: &sqlx::PgPool,
    count: usize,
) -> Result<Aged> {
    let machine = call(
        client,
        endpoint,
        "CreateStateMachine",
        json!({"name": "aged", "roleArn": "arn:aws:iam::123456789012:role/bench",
               "definition": Workload::Tasks3.definition().to_string()}),
    )
    .await?["stateMachineArn"]
        .as_str()
        .context("stateMachineArn")?
        .to_string();
    let seed = call(
        client,
        endpoint,
        "StartExecution",
        json!({"stateMachineArn": machine, "name": "seed",
               "input": Workload::Tasks3.input(0, 0).to_string()}),
    )
    .await?["executionArn"]
        .as_str()
        .context("executionArn")?
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let events = loop {
        let row: Option<(String, i64)> =
            sqlx::query_as("select status, history_length from executions where arn = $1")
                .bind(&seed)
                .fetch_optional(pool)
                .await?;
        match row {
            Some((status, events)) if status == "SUCCEEDED" => break events,
            Some((status, _)) if status != "RUNNING" => bail!("the seed execution ended {status}"),
            _ if Instant::now() > deadline => bail!("the seed execution did not finish"),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    eprintln!("making {count} closed executions for the retention loop to delete");
    // One transaction: the retention loop sees them all at once, when it commits.
    let mut tx = pool.begin().await?;
    sqlx::query(
        "insert into executions (arn, state_machine_arn, name, definition_id, role_arn,
                                 status, input, output, started_at, stopped_at, snapshot,
                                 version, history_length)
         select arn || '-' || i, state_machine_arn, name || '-' || i, definition_id, role_arn,
                status, input, output, started_at - interval '100 days',
                stopped_at - interval '100 days', snapshot, version, history_length
         from executions, generate_series(1, $2) i where arn = $1",
    )
    .bind(&seed)
    .bind(count as i64)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into history_batches (execution_arn, first_id, last_id, events)
         select execution_arn || '-' || i, first_id, last_id, events
         from history_batches, generate_series(1, $2) i where execution_arn = $1",
    )
    .bind(&seed)
    .bind(count as i64)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Aged {
        machine,
        count,
        events,
        committed: Instant::now(),
    })
}

/// How many of `machine`'s aged executions are left (the seed is not aged).
async fn left_of(pool: &sqlx::PgPool, machine: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "select count(*) from executions
         where state_machine_arn = $1 and stopped_at < now() - interval '30 days'",
    )
    .bind(machine)
    .fetch_one(pool)
    .await?)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let target = start_target().await?;
    let database = format!(
        "cairn_bench_{}_{}",
        args.workload.name(),
        std::process::id()
    );
    let database_url = format!("{}/{database}", args.postgres.trim_end_matches('/'));
    let functions = (1..=3)
        .map(|i| format!("step{i}=http://{target}/step{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let client = reqwest::Client::new();
    // The first replica creates and migrates the database; the others start after it.
    let mut servers = Vec::new();
    for _ in 0..args.replicas {
        servers.push(Replica::start(&args, &database_url, &functions, &client).await?);
    }
    let pid = servers[0].pid;
    let pids: Vec<u32> = servers.iter().map(|s| s.pid).collect();
    let endpoints: Vec<String> = servers.iter().map(|s| s.endpoint.clone()).collect();
    let endpoint = endpoints[0].clone();
    let machine = call(
        &client,
        &endpoint,
        "CreateStateMachine",
        json!({"name": "bench", "roleArn": "arn:aws:iam::123456789012:role/bench",
               "type": if args.workload.express() { "EXPRESS" } else { "STANDARD" },
               "definition": args.workload.definition().to_string()}),
    )
    .await?["stateMachineArn"]
        .as_str()
        .context("stateMachineArn")?
        .to_string();

    let pool = sqlx::PgPool::connect(&database_url).await?;
    let commits = |pool: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, i64>(
            "select xact_commit from pg_stat_database where datname = current_database()",
        )
        .fetch_one(&pool)
        .await
    };
    // Only the measured machine's executions: parked ones (--waiting) stay RUNNING.
    let finished = |pool: sqlx::PgPool, machine: String| async move {
        sqlx::query_scalar::<_, i64>(
            "select count(*) from executions where state_machine_arn = $1 and status <> 'RUNNING'",
        )
        .bind(machine)
        .fetch_one(&pool)
        .await
    };
    let parked = if args.waiting > 0 {
        park(&client, &endpoint, &args, pid).await?
    } else {
        json!(null)
    };
    let aged = if args.purge > 0 {
        Some(age(&client, &endpoint, &pool, args.purge).await?)
    } else {
        None
    };
    if aged.is_none() {
        tokio::time::sleep(Duration::from_millis(600)).await; // let statistics settle
    }
    let commits_before = commits(pool.clone()).await?;
    // WAL written meanwhile: the whole cluster's, so meaningful on an otherwise idle one.
    let wal = |pool: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, f64>("select pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8")
            .fetch_one(&pool)
            .await
    };
    let wal_before = wal(pool.clone()).await?;
    // Transaction ids assigned meanwhile, the cluster's: only transactions that write get
    // one, so these are the commits that flush WAL (read-only ones, such as the one a
    // listening backend runs per NOTIFY it is woken by, are in xact_commit only).
    let xids = |pool: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, i64>("select pg_snapshot_xmax(pg_current_snapshot())::text::int8")
            .fetch_one(&pool)
            .await
    };
    let xids_before = xids(pool.clone()).await?;
    let cpu_before = total_cpu_seconds(&pids);

    // The run's interval is read from the database's clock: from here to the last
    // execution's stopDate, so that how often progress is polled does not change it.
    // Profilers (bench/profile.py) start and stop at these two lines.
    eprintln!("==> measured run: {} executions", args.executions);
    let epoch_started: f64 =
        sqlx::query_scalar("select extract(epoch from clock_timestamp())::float8")
            .fetch_one(&pool)
            .await?;
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let done_sync = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let express = args.workload.express();
    let mut starters = Vec::new();
    for _ in 0..args.concurrency {
        let client = client.clone();
        let endpoints = endpoints.clone();
        let machine = machine.clone();
        let next = next.clone();
        let done_sync = done_sync.clone();
        let total = args.executions;
        let workload = args.workload;
        let map_items = args.map_items;
        starters.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    return Ok::<Vec<f64>, anyhow::Error>(latencies);
                }
                let operation = if express { "StartSyncExecution" } else { "StartExecution" };
                let began = Instant::now();
                let endpoint = &endpoints[i % endpoints.len()];
                let answer = call(&client, endpoint, operation,
                     json!({"stateMachineArn": machine, "name": format!("e{i}"), "input": workload.input(i, map_items).to_string()}))
                    .await?;
                if express {
                    if answer["status"] != "SUCCEEDED" {
                        bail!("express execution e{i} ended {answer}");
                    }
                    latencies.push(began.elapsed().as_secs_f64());
                    done_sync.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    let mut last = 0;
    // When the last aged execution was seen gone.
    let mut purged_at: Option<Instant> = None;
    loop {
        if let (Some(aged), None) = (&aged, purged_at) {
            let left = left_of(&pool, &aged.machine).await?;
            eprint!(
                " [{left} aged left at {:.1} s] ",
                started.elapsed().as_secs_f64()
            );
            if left == 0 {
                purged_at = Some(Instant::now());
            }
        }
        let done = if express {
            done_sync.load(std::sync::atomic::Ordering::Relaxed)
        } else {
            finished(pool.clone(), machine.clone()).await? as usize
        };
        if done != last || done == args.executions {
            let width = 40;
            let filled = done * width / args.executions.max(1);
            eprint!(
                "\r[{}{}] {done}/{} executions finished, {:.1} s",
                "#".repeat(filled),
                " ".repeat(width - filled),
                args.executions,
                started.elapsed().as_secs_f64()
            );
            let _ = std::io::stderr().flush();
            last = done;
        }
        if done >= args.executions {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("only {done} of {} finished in 10 minutes", args.executions);
        }
        // Each poll is a count over the machine's executions, work for the same
        // Postgres the engine uses: a few per second are enough for a progress bar.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!();
    eprintln!("==> measured run over");
    // The executions still aged when the run ended, then the time the rest took.
    let purge = match &aged {
        Some(aged) => {
            let left_at_end = left_of(&pool, &aged.machine).await?;
            while purged_at.is_none() {
                if left_of(&pool, &aged.machine).await? == 0 {
                    purged_at = Some(Instant::now());
                } else if started.elapsed() > Duration::from_secs(1200) {
                    bail!("the aged executions were not deleted in 20 minutes");
                } else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            let seconds = purged_at.map_or(0.0, |at| (at - aged.committed).as_secs_f64());
            json!({"executions": aged.count, "history_events_each": aged.events,
                   "seconds": seconds,
                   "executions_per_second": aged.count as f64 / seconds,
                   "left_when_the_workload_ended": left_at_end})
        }
        None => json!(null),
    };
    let elapsed = if express {
        started.elapsed().as_secs_f64()
    } else {
        let ended: f64 = sqlx::query_scalar(
            "select extract(epoch from max(stopped_at))::float8 from executions
             where state_machine_arn = $1",
        )
        .bind(&machine)
        .fetch_one(&pool)
        .await?;
        ended - epoch_started
    };
    let mut latencies = Vec::new();
    for starter in starters {
        latencies.extend(starter.await??);
    }
    if !express {
        latencies = sqlx::query_scalar::<_, f64>(
            "select extract(epoch from stopped_at - started_at)::float8 from executions
             where state_machine_arn = $1",
        )
        .bind(&machine)
        .fetch_all(&pool)
        .await?;
    }
    if args.workload == Workload::Wait {
        // What matters for timers is how late they fire: the time beyond the 1 s wait.
        for latency in &mut latencies {
            *latency -= 1.0;
        }
    }
    let [p50, p90, p99, max] = percentiles(latencies);
    let cpu = total_cpu_seconds(&pids) - cpu_before;
    let peak = pids
        .iter()
        .filter_map(|&p| peak_rss_mb(p))
        .fold(0.0, f64::max);
    let rss_at_end = pids.iter().filter_map(|&p| rss_mb(p)).fold(0.0, f64::max);
    let disk = sqlx::query_as::<_, (i64, i64, i64, i64)>(
        "select pg_total_relation_size('executions'), (select count(*) from executions),
                pg_total_relation_size('history_batches'),
                (select coalesce(sum(last_id - first_id + 1), 0)::int8 from history_batches)",
    )
    .fetch_one(&pool)
    .await?;
    let wal_bytes = wal(pool.clone()).await? - wal_before;
    let write_transactions = xids(pool.clone()).await? - xids_before;
    // Postgres backends report their commits lazily (an idle one up to 10 s later) but
    // always when they exit: stop the server first, so every commit it made is counted.
    // SIGTERM, as Kubernetes stops a pod, so a server run under a profiler (bench/profile.sh)
    // exits and writes its profile; one that does not exit in 10 s is killed.
    for server in &mut servers {
        stop(&mut server.process).await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let commits_after = commits(pool.clone()).await?;
    // Express runs store nothing; each answer was checked as it came.
    let failed = sqlx::query_scalar::<_, i64>(
        "select count(*) from executions where state_machine_arn = $1 and status <> 'SUCCEEDED'",
    )
    .bind(&machine)
    .fetch_one(&pool)
    .await?;
    let executions = args.executions as f64;
    // The bench's own progress queries commit too: two per poll.
    let commits_per_execution = (commits_after - commits_before) as f64 / executions;
    let report = json!({
        "workload": args.workload.name(),
        "replicas": args.replicas,
        "executions": args.executions,
        "failed": failed,
        "seconds": elapsed,
        "executions_per_second": executions / elapsed,
        "transitions_per_second": executions * args.workload.transitions(args.map_items) as f64 / elapsed,
        "commits_per_execution": commits_per_execution,
        "write_transactions_per_execution": write_transactions as f64 / executions,
        "wal_bytes_per_execution": wal_bytes / executions,
        "latency_ms": {"p50": p50, "p90": p90, "p99": p99, "max": max},
        "server_cpu_seconds": cpu,
        "server_peak_rss_mb": peak,
        "server_rss_at_end_mb": rss_at_end,
        // Express executions store nothing: no figure rather than an empty table's size.
        "disk_bytes_per_execution": (disk.1 > 0).then(|| disk.0 as f64 / disk.1 as f64),
        "disk_bytes_per_history_event": (disk.3 > 0).then(|| disk.2 as f64 / disk.3 as f64),
        "waiting": parked.clone(),
        "purge": purge.clone(),
    });
    println!("workload  executions  seconds  exec/s  transitions/s  p50 ms  p90 ms  p99 ms  max ms  commits/exec  server CPU s  peak RSS MB");
    println!(
        "{:<9} {:>10} {:>8.2} {:>7.0} {:>14.0} {:>7.1} {:>7.1} {:>7.1} {:>7.1} {:>13.2} {:>12.2} {:>12.1}",
        args.workload.name(),
        args.executions,
        elapsed,
        executions / elapsed,
        executions * args.workload.transitions(args.map_items) as f64 / elapsed,
        p50,
        p90,
        p99,
        max,
        commits_per_execution,
        cpu,
        peak
    );
    println!(
        "WAL: {:.0} bytes per execution; write transactions: {:.2} per execution",
        wal_bytes / executions,
        write_transactions as f64 / executions
    );
    if let (Some(execution), Some(event)) = (
        report["disk_bytes_per_execution"].as_f64(),
        report["disk_bytes_per_history_event"].as_f64(),
    ) {
        println!("disk: {execution:.0} bytes per execution, {event:.0} bytes per history event");
    }
    if !parked.is_null() {
        println!(
            "waiting: {} executions parked in {:.0} s; server RSS {:.1} MB before, {:.1} MB after, {rss_at_end:.1} MB at the end",
            parked["executions"],
            parked["seconds_to_start"].as_f64().unwrap_or(0.0),
            parked["server_rss_before_mb"].as_f64().unwrap_or(0.0),
            parked["server_rss_after_mb"].as_f64().unwrap_or(0.0),
        );
    }
    if !purge.is_null() {
        println!(
            "purge: {} closed executions ({} history events each) deleted in {:.1} s: {:.0} executions/s; {} were left when the workload ended",
            purge["executions"],
            purge["history_events_each"],
            purge["seconds"].as_f64().unwrap_or(0.0),
            purge["executions_per_second"].as_f64().unwrap_or(0.0),
            purge["left_when_the_workload_ended"],
        );
    }
    println!("{report}");
    pool.close().await;
    if args.keep {
        eprintln!("kept the database: {database_url}");
    } else {
        // A scale run leaves gigabytes behind: drop the bench's database.
        let admin = format!("{}/postgres", args.postgres.trim_end_matches('/'));
        let admin = sqlx::PgPool::connect(&admin).await?;
        // The name is the bench's own (workload and process id), not input.
        let drop = format!("drop database if exists \"{database}\" with (force)");
        sqlx::query(sqlx::AssertSqlSafe(drop))
            .execute(&admin)
            .await?;
        admin.close().await;
    }
    if failed > 0 {
        bail!("{failed} executions did not succeed");
    }
    Ok(())
}

/// Stops a server as Kubernetes stops a pod: SIGTERM, then SIGKILL after 10 s.
async fn stop(process: &mut tokio::process::Child) -> Result<()> {
    if let Some(pid) = process.id() {
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .context("kill -TERM")?;
        if tokio::time::timeout(Duration::from_secs(10), process.wait())
            .await
            .is_ok()
        {
            return Ok(());
        }
    }
    process.start_kill()?;
    let _ = process.wait().await;
    Ok(())
}
