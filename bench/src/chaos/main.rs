//! `cairn-chaos`: three `cairn server` replicas on a Postgres of the run's own, a stream
//! of executions (the seed's order workflow down each of its paths, a fan-out, callbacks,
//! waits, and executions that fail and are redriven with RedriveExecution), a random
//! replica `kill -9`'d and restarted every few seconds and Postgres crashed and restarted
//! once; then every execution is read back and checked.
//!
//! ```sh
//! cargo build --release -p cairn -p cairn-bench
//! target/release/cairn-chaos --duration 300
//! ```
//!
//! It prints executions, kills, restarts, lost executions, duplicated transitions and
//! duplicated invocations, and fails (exit 1) unless nothing was lost, no transition was
//! duplicated and every execution ended as its input says it must.
//!
//! With `--failover`, Postgres is a primary and a synchronous standby and the replicas
//! get both in one multi-host `DATABASE_URL`; half-way through, the primary is killed
//! (`kill -9` of the postmaster and its backends) and the standby promoted. The run then
//! also reports the time without service as the clients saw it and checks that every
//! replica became ready again by itself.

mod client;
mod distributed;
mod postgres;
mod replicas;
mod target;
mod verify;
mod workload;

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde_json::{json, Value};
use tokio::sync::Mutex as AsyncMutex;

use client::{Answer, Client};
use replicas::{Launch, Replica};
use workload::{Kind, Machine, MACHINES, MIX};

#[derive(Parser)]
#[command(
    about = "Kills cairn server replicas and Postgres under load, then checks that no execution was lost and no transition duplicated",
    long_about = None
)]
struct Args {
    /// Seconds of load and chaos (the drain and the checks come after).
    #[arg(long, default_value_t = 120)]
    duration: u64,
    /// Executions started per second.
    #[arg(long, default_value_t = 20)]
    rate: u64,
    /// `cairn server` processes.
    #[arg(long, default_value_t = 3)]
    replicas: usize,
    /// Mean seconds between two kills.
    #[arg(long, default_value_t = 4.0)]
    kill_every: f64,
    /// Half-way through, kill the primary and promote a synchronous standby instead of
    /// restarting Postgres (the replicas are given both servers in one URL).
    #[arg(long)]
    failover: bool,
    /// With `--failover`: seconds between the primary's death and the promotion (what
    /// an operator such as CloudNativePG takes to notice).
    #[arg(long, default_value_t = 2.0)]
    promote_after: f64,
    /// Crash and restart Postgres once, half-way through.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    restart_postgres: bool,
    /// Task lease of the replicas: how soon a killed replica's tasks are taken over.
    #[arg(long, default_value_t = 3)]
    lease_seconds: u64,
    /// The cairn binary.
    #[arg(long, default_value = "target/release/cairn")]
    cairn: PathBuf,
    /// Where the seed's workflows are.
    #[arg(long, default_value = "../shared/seed/workflows")]
    seed: PathBuf,
    /// Postgres's server binaries (initdb, pg_ctl); found under /usr/lib/postgresql if not given.
    #[arg(long)]
    pg_bin: Option<PathBuf>,
    /// Where the replicas' logs go.
    #[arg(long, default_value = "target/chaos-logs")]
    logs: PathBuf,
    /// Seconds to wait, after the chaos, for every execution to end.
    #[arg(long, default_value_t = 180)]
    drain: u64,
    /// Seed of the kill schedule (default: the clock).
    #[arg(long)]
    rng: Option<u64>,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Run the replicas with API credentials, so every call the run makes is signed
    /// and verified (SigV4).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    signing: bool,
    /// A Python with moto[server] (e.g. target/e2e-venv/bin/python): the run starts
    /// moto's S3 server with it and also runs Distributed Maps (items read from S3,
    /// STANDARD children, results written to S3). Without it, no Distributed Maps.
    #[arg(long)]
    moto: Option<PathBuf>,
    /// Seconds between two Distributed Map executions (with `--moto`).
    #[arg(long, default_value_t = 8.0)]
    map_every: f64,
    /// Asynchronous Express executions (StartExecution on an EXPRESS machine) started
    /// per second; 0 for none.
    #[arg(long, default_value_t = 2.0)]
    express_rate: f64,
}

/// The access key of a run with `--signing` (a run's own throwaway key).
const CHAOS_KEY: (&str, &str) = ("CAIRNCHAOS", "chaos-run-secret-0123456789abcdef");

/// A small xorshift: the kill schedule needs no more, and a printed seed replays it.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Uniform in [lo, hi) seconds.
    fn seconds(&mut self, lo: f64, hi: f64) -> Duration {
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        Duration::from_secs_f64(lo + (hi - lo) * unit)
    }
}

struct Started {
    arn: String,
    kind: Kind,
    id: u64,
}

#[derive(Default)]
struct Chaos {
    kills: usize,
    /// Lease takeovers counted by the replicas, read from each just before it is killed
    /// and from all at the end: each may invoke a task a second time.
    takeovers: u64,
    postgres_restarts: usize,
    /// With `--failover`: when the primary died, and when the standby was promoted.
    failover: Option<Failover>,
    /// Replicas that exited without being killed.
    crashed: Vec<String>,
}

pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

#[derive(Clone, Copy)]
struct Failover {
    killed_at: Instant,
    promoted_at: Instant,
    /// From the promotion until every replica's `/readyz` said ready, none restarted.
    replicas_ready_after: Duration,
}

/// The run's Postgres: one cluster, or a primary with a standby for `--failover`.
enum Database {
    One(postgres::PrivatePostgres),
    Pair(postgres::Pair),
}

impl Database {
    /// The URL the replicas get: the pair's is a multi-host one.
    fn url(&self, database: &str) -> String {
        match self {
            Database::One(one) => one.url(database),
            Database::Pair(pair) => pair.url(database),
        }
    }

    /// A single-host URL to the (first) primary, for setting up.
    fn admin_url(&self) -> String {
        match self {
            Database::One(one) => one.url("postgres"),
            Database::Pair(pair) => pair.primary.url("postgres"),
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rng_seed = args.rng.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            | 1
    });
    eprintln!(
        "cairn-chaos: {} replicas, {} s at {} executions/s, a kill every ~{} s, Postgres {}, rng seed {rng_seed}",
        args.replicas,
        args.duration,
        args.rate,
        args.kill_every,
        if args.failover {
            "failover (primary killed, standby promoted)"
        } else if args.restart_postgres {
            "restart"
        } else {
            "left alone"
        }
    );

    let dir = std::env::temp_dir().join(format!("cairn-chaos-{}", std::process::id()));
    let postgres = if args.failover {
        Database::Pair(
            postgres::Pair::start(args.pg_bin.clone(), dir, two_free_ports()?)
                .context("starting the run's own primary and standby")?,
        )
    } else {
        Database::One(
            postgres::PrivatePostgres::start(args.pg_bin.clone(), dir, free_port()?)
                .context("starting the run's own Postgres")?,
        )
    };
    let admin = sqlx::PgPool::connect(&postgres.admin_url()).await?;
    sqlx::query("create database cairn").execute(&admin).await?;
    admin.close().await;
    let database_url = postgres.url("cairn");

    std::fs::create_dir_all(&args.logs)?;
    let moto = match &args.moto {
        Some(python) => {
            let moto = distributed::start_moto(python, &args.logs.join("moto.log")).await?;
            let s3 = distributed::s3(&moto)?;
            distributed::upload_items(&s3)
                .await
                .context("uploading the Distributed Maps' items to moto")?;
            Some((moto, s3))
        }
        None => None,
    };

    let (target, seen, mut approvals) = target::start().await?;
    let functions = target::FUNCTIONS
        .iter()
        .map(|name| format!("{name}=http://{target}/fn/{name}"))
        .collect::<Vec<_>>()
        .join(",");
    let launch = Launch {
        cairn: args.cairn.clone(),
        database_url: database_url.clone(),
        functions,
        lease_seconds: args.lease_seconds,
        credentials: args
            .signing
            .then(|| format!("{}:{}", CHAOS_KEY.0, CHAOS_KEY.1)),
        env: moto
            .as_ref()
            .map(|(moto, _)| distributed::replica_env(moto))
            .unwrap_or_default(),
    };
    let migrate = tokio::process::Command::new(&args.cairn)
        .arg("migrate")
        .env("DATABASE_URL", &database_url)
        .status()
        .await
        .with_context(|| format!("running {} migrate", args.cairn.display()))?;
    if !migrate.success() {
        bail!("cairn migrate failed: {migrate}");
    }

    let http = reqwest::Client::new();
    let mut replicas = Vec::new();
    for i in 0..args.replicas {
        let mut replica = Replica::new(free_port()?, args.logs.join(format!("replica-{i}.log")));
        let _ = std::fs::remove_file(&replica.log);
        replica.start(&launch)?;
        replicas.push(replica);
    }
    for replica in &replicas {
        replica.healthy(&http, PATIENCE).await?;
    }
    let mut client = Client::new(replicas.iter().map(Replica::endpoint).collect());
    if args.signing {
        client = client.signing((CHAOS_KEY.0.to_string(), CHAOS_KEY.1.to_string()));
    }
    let mut machines = HashMap::new();
    for machine in MACHINES {
        if machine == Machine::Distributed && moto.is_none() {
            continue;
        }
        let definition = machine.definition(&args.seed, &target.to_string())?;
        let created = client
            .ok(
                "CreateStateMachine",
                &json!({"name": machine.name(), "definition": definition.to_string(),
                        "type": machine.kind(),
                        "roleArn": "arn:aws:iam::123456789012:role/chaos"}),
                PATIENCE,
            )
            .await?;
        let arn = created["stateMachineArn"]
            .as_str()
            .context("stateMachineArn")?
            .to_string();
        machines.insert(machine.name(), arn);
    }

    // The approver answers each callback a moment after it arrives, through whichever
    // replica is up.
    let answered = Arc::new(AtomicUsize::new(0));
    let approver = {
        let client = client.clone();
        let answered = answered.clone();
        tokio::spawn(async move {
            while let Some(approval) = approvals.recv().await {
                let client = client.clone();
                let answered = answered.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(500 + approval.id % 1500)).await;
                    let body = json!({"taskToken": approval.token,
                                      "output": json!({"approved": approval.id}).to_string()});
                    // A refusal means an earlier try got through before its answer was lost.
                    if client
                        .call("SendTaskSuccess", &body, PATIENCE * 3)
                        .await
                        .is_ok()
                    {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        })
    };

    // The stream of executions.
    let started: Arc<Mutex<Vec<Started>>> = Arc::new(Mutex::new(Vec::new()));
    // When each successful StartExecution answered: the gaps are the time without service.
    let answered_at: Arc<Mutex<Vec<Instant>>> = Arc::new(Mutex::new(Vec::new()));
    let start_errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let begin = Instant::now();
    let load_for = Duration::from_secs(args.duration);
    let stream = {
        let client = client.clone();
        let started = started.clone();
        let start_errors = start_errors.clone();
        let answered_at = answered_at.clone();
        let machines = machines.clone();
        let rate = args.rate.max(1);
        tokio::spawn(async move {
            let mut starts = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
            let mut id = 0u64;
            while begin.elapsed() < load_for {
                tick.tick().await;
                let kind = MIX[id as usize % MIX.len()];
                let machine = machines[kind.machine().name()].clone();
                let client = client.clone();
                let started = started.clone();
                let start_errors = start_errors.clone();
                let answered_at = answered_at.clone();
                starts.push(tokio::spawn(async move {
                    let name = format!("e{id}");
                    let body = json!({"stateMachineArn": machine, "name": name,
                                      "input": kind.input(id).to_string()});
                    // The name makes a repeated start safe: while the execution runs
                    // it answers the same ARN; once it has ended, ExecutionAlreadyExists
                    // (its input is unique to it, so it can only be this one).
                    let arn = format!(
                        "{}:{name}",
                        machine.replace(":stateMachine:", ":execution:")
                    );
                    match client.call("StartExecution", &body, PATIENCE).await {
                        Ok(Answer::Ok(_)) => push(&answered_at, Instant::now()),
                        Ok(Answer::Refused { error, .. }) if error == "ExecutionAlreadyExists" => {}
                        Ok(Answer::Refused { error, message }) => {
                            push(&start_errors, format!("{name}: {error}: {message}"));
                            return;
                        }
                        Err(e) => {
                            push(&start_errors, format!("{name}: {e:#}"));
                            return;
                        }
                    }
                    if let Ok(mut started) = started.lock() {
                        started.push(Started {
                            arn: arn.clone(),
                            kind,
                            id,
                        });
                    }
                    if kind == Kind::Redriven {
                        if let Err(e) = redrive_once_failed(&client, &arn, id).await {
                            push(&start_errors, format!("{name}: redrive: {e:#}"));
                        }
                    }
                }));
                id += 1;
            }
            for start in starts {
                let _ = start.await;
            }
            id
        })
    };

    // Distributed Maps, a few over the run, started as the stream starts its executions
    // (a repeated start answers the same ARN, or ExecutionAlreadyExists once it ended).
    let maps = machines
        .get(Machine::Distributed.name())
        .cloned()
        .map(|machine| {
            let client = client.clone();
            let started = started.clone();
            let start_errors = start_errors.clone();
            let every = Duration::from_secs_f64(args.map_every.max(1.0));
            tokio::spawn(async move {
                let mut id = 0u64;
                while begin.elapsed() < load_for {
                    let name = format!("d{id}");
                    let body = json!({"stateMachineArn": machine, "name": name,
                                  "input": Kind::Distributed.input(id).to_string()});
                    let arn = format!(
                        "{}:{name}",
                        machine.replace(":stateMachine:", ":execution:")
                    );
                    match client.call("StartExecution", &body, PATIENCE).await {
                        Ok(Answer::Ok(_)) => push(
                            &started,
                            Started {
                                arn,
                                kind: Kind::Distributed,
                                id,
                            },
                        ),
                        Ok(Answer::Refused { error, .. }) if error == "ExecutionAlreadyExists" => {
                            push(
                                &started,
                                Started {
                                    arn,
                                    kind: Kind::Distributed,
                                    id,
                                },
                            )
                        }
                        Ok(Answer::Refused { error, message }) => {
                            push(&start_errors, format!("{name}: {error}: {message}"))
                        }
                        Err(e) => push(&start_errors, format!("{name}: {e:#}")),
                    }
                    id += 1;
                    tokio::time::sleep(every).await;
                }
            })
        });

    // Asynchronous Express executions: each must run at least once.
    let express_started: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(Vec::new()));
    let express = (args.express_rate > 0.0).then(|| {
        let client = client.clone();
        let express_started = express_started.clone();
        let start_errors = start_errors.clone();
        let machine = machines[Machine::Express.name()].clone();
        let period = Duration::from_secs_f64(1.0 / args.express_rate);
        tokio::spawn(async move {
            let mut starts = Vec::new();
            let mut tick = tokio::time::interval(period);
            let mut id = 0u64;
            while begin.elapsed() < load_for {
                tick.tick().await;
                let client = client.clone();
                let machine = machine.clone();
                let express_started = express_started.clone();
                let start_errors = start_errors.clone();
                starts.push(tokio::spawn(async move {
                    let name = format!("x{id}");
                    let body = json!({"stateMachineArn": machine, "name": name,
                                      "input": json!({"id": id}).to_string()});
                    match client.call("StartExecution", &body, PATIENCE).await {
                        Ok(Answer::Ok(_)) => push(&express_started, id),
                        Ok(Answer::Refused { error, message }) => {
                            push(&start_errors, format!("{name}: {error}: {message}"))
                        }
                        Err(e) => push(&start_errors, format!("{name}: {e:#}")),
                    }
                }));
                id += 1;
            }
            for start in starts {
                let _ = start.await;
            }
        })
    });

    // The chaos: kill -9 a random replica, bring it back; crash Postgres once.
    let replicas = Arc::new(AsyncMutex::new(replicas));
    let chaos = Arc::new(Mutex::new(Chaos::default()));
    let killer = {
        let replicas = replicas.clone();
        let chaos = chaos.clone();
        let http = http.clone();
        let kill_every = args.kill_every;
        let restart_postgres = args.restart_postgres || args.failover;
        let promote_after = Duration::from_secs_f64(args.promote_after);
        let launch = Arc::new(launch);
        let postgres = Arc::new(postgres);
        let killer_launch = launch.clone();
        let killer_postgres = postgres.clone();
        let handle = tokio::spawn(async move {
            let launch = killer_launch;
            let postgres = killer_postgres;
            let mut rng = Rng(rng_seed);
            let mut postgres_done = !restart_postgres;
            while begin.elapsed() < load_for {
                tokio::time::sleep(rng.seconds(kill_every * 0.5, kill_every * 1.5)).await;
                if begin.elapsed() >= load_for {
                    break;
                }
                if !postgres_done && begin.elapsed() >= load_for / 2 {
                    postgres_done = true;
                    if let Database::Pair(pair) = &*postgres {
                        let failover = fail_over(pair, promote_after, &replicas, &http).await?;
                        lock(&chaos).failover = Some(failover);
                        continue;
                    }
                    let Database::One(postgres) = &*postgres else {
                        continue;
                    };
                    let crashed = tokio::task::block_in_place(|| postgres.crash_and_restart());
                    match crashed {
                        Ok(()) => lock(&chaos).postgres_restarts += 1,
                        Err(e) => return Err(e.context("restarting Postgres")),
                    }
                    continue;
                }
                let mut replicas = replicas.lock().await;
                let count = replicas.len() as u64;
                let victim = &mut replicas[rng.below(count) as usize];
                if let Some(status) = victim.exited() {
                    lock(&chaos)
                        .crashed
                        .push(format!("port {}: {status}", victim.port));
                }
                let takeovers = victim.takeovers(&http).await;
                victim.kill9().await;
                {
                    let mut c = lock(&chaos);
                    c.kills += 1;
                    c.takeovers += takeovers;
                }
                tokio::time::sleep(rng.seconds(0.2, 1.5)).await;
                victim.start(&launch)?;
                victim.healthy(&http, PATIENCE).await?;
            }
            Ok::<(), anyhow::Error>(())
        });
        (handle, postgres)
    };
    let (killer, postgres) = killer;

    // Progress while the load runs.
    while begin.elapsed() < load_for {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (kills, restarts) = {
            let c = lock(&chaos);
            (c.kills, c.postgres_restarts)
        };
        progress(format!(
            "[{:>4} s / {} s] {} started, {} kills, {} Postgres restarts",
            begin.elapsed().as_secs(),
            args.duration,
            lock(&started).len(),
            kills,
            restarts
        ));
    }
    killer.await??;
    let attempted = stream.await?;
    if let Some(maps) = maps {
        maps.await?;
    }
    if let Some(express) = express {
        express.await?;
    }
    eprintln!();
    {
        let mut replicas = replicas.lock().await;
        for replica in replicas.iter_mut() {
            if let Some(status) = replica.exited() {
                lock(&chaos)
                    .crashed
                    .push(format!("port {}: {status}", replica.port));
            }
        }
    }

    // Drain: every execution started must end.
    let executions = std::mem::take(&mut *lock(&started));
    let drain_until = Instant::now() + Duration::from_secs(args.drain);
    let mut describes: HashMap<String, Value> = HashMap::new();
    let mut lost = Vec::new();
    loop {
        // A redriven kind has not ended until its redrive has.
        let open: Vec<&Started> = executions
            .iter()
            .filter(|e| {
                describes.get(&e.arn).is_none_or(|d| {
                    d["status"] == "RUNNING" || (e.kind == Kind::Redriven && d["redriveCount"] == 0)
                })
            })
            .collect();
        progress(format!(
            "draining: {} of {} executions ended",
            executions.len() - open.len(),
            executions.len()
        ));
        if open.is_empty() {
            break;
        }
        if Instant::now() > drain_until {
            for e in open {
                lost.push(format!("{} ({}): never ended", e.arn, e.kind.label()));
            }
            break;
        }
        let mut asked = Vec::new();
        for e in open {
            let client = client.clone();
            let arn = e.arn.clone();
            asked.push(tokio::spawn(async move {
                let answer = client
                    .call("DescribeExecution", &json!({"executionArn": arn}), PATIENCE)
                    .await;
                (arn, answer)
            }));
        }
        for ask in asked {
            let (arn, answer) = ask.await?;
            match answer? {
                Answer::Ok(describe) => {
                    describes.insert(arn, describe);
                }
                Answer::Refused { error, message } => {
                    lost.push(format!("{arn}: {error}: {message}"));
                    describes.insert(arn, json!({"status": "LOST"}));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!();

    // Every asynchronous Express execution must run at least once: wait for the last
    // ones (those of a killed replica start again once their lease expires).
    let express_ids = std::mem::take(&mut *lock(&express_started));
    loop {
        let missing = {
            let seen = lock(&seen);
            express_ids
                .iter()
                .filter(|id| !seen.express.contains_key(id))
                .count()
        };
        progress(format!(
            "express: {} of {} ran",
            express_ids.len() - missing,
            express_ids.len()
        ));
        if missing == 0 || Instant::now() > drain_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!();
    let (express_ran, express_twice, express_never) = {
        let seen = lock(&seen);
        let runs: Vec<u32> = express_ids
            .iter()
            .map(|id| seen.express.get(id).copied().unwrap_or(0))
            .collect();
        (
            runs.iter().filter(|r| **r >= 1).count(),
            runs.iter().filter(|r| **r > 1).count(),
            express_ids
                .iter()
                .zip(&runs)
                .filter(|(_, r)| **r == 0)
                .map(|(id, _)| format!("express x{id}: never ran"))
                .collect::<Vec<_>>(),
        )
    };

    // Verify each ended execution.
    let invocations = lock(&seen).invocations.clone();
    let mut duplicated = Vec::new();
    let mut wrong = Vec::new();
    let mut never_invoked = 0;
    let mut duplicate_invocations = 0;
    let mut scheduled = 0;
    let mut by_kind: HashMap<&str, usize> = HashMap::new();
    let mut map_children = 0;
    let mut map_problems = Vec::new();
    for e in &executions {
        *by_kind.entry(e.kind.label()).or_default() += 1;
        let Some(describe) = describes.get(&e.arn) else {
            continue;
        };
        if describe["status"] == "RUNNING" || describe["status"] == "LOST" {
            continue;
        }
        let history = history(&client, &e.arn).await?;
        let verdict = verify::check(
            &e.arn,
            &e.kind.expected(e.id),
            describe,
            &history,
            &invocations,
        );
        scheduled += verdict.scheduled;
        never_invoked += verdict.never_invoked;
        duplicate_invocations += verdict.duplicate_invocations;
        if let Some(why) = verdict.duplicated {
            duplicated.push(format!("{} ({}): {why}", e.arn, e.kind.label()));
        }
        if let Some(why) = verdict.wrong {
            wrong.push(format!("{} ({}): {why}", e.arn, e.kind.label()));
        }
        if let (Kind::Distributed, Some((_, s3))) = (e.kind, &moto) {
            let map =
                distributed::check_map(&client, s3, &e.arn, e.id, describe, &invocations).await?;
            map_children += map.children;
            scheduled += map.scheduled;
            never_invoked += map.never_invoked;
            duplicate_invocations += map.duplicate_invocations;
            map_problems.extend(map.problems);
        }
    }
    let start_errors = std::mem::take(&mut *lock(&start_errors));
    approver.abort();
    {
        let mut replicas = replicas.lock().await;
        for replica in replicas.iter_mut() {
            let takeovers = replica.takeovers(&http).await;
            lock(&chaos).takeovers += takeovers;
            replica.kill9().await;
        }
    }
    let chaos = std::mem::take(&mut *lock(&chaos));
    drop(postgres);
    drop(moto);

    let failover = chaos
        .failover
        .as_ref()
        .map(|f| failover_figures(f, &lock(&answered_at)));
    if args.failover && failover.is_none() {
        bail!("the run ended before the failover: give it a longer --duration");
    }

    let mut kinds: Vec<_> = by_kind.into_iter().collect();
    kinds.sort();
    let report = json!({
        "seconds": args.duration,
        "replicas": args.replicas,
        "rng_seed": rng_seed,
        "executions": executions.len(),
        "executions_by_kind": kinds.iter().map(|(k, n)| (k.to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "start_attempts": attempted,
        "start_errors": start_errors.len(),
        "kills": chaos.kills,
        "replica_restarts": chaos.kills,
        "postgres_restarts": chaos.postgres_restarts,
        "replicas_crashed_by_themselves": chaos.crashed.len(),
        "lost": lost.len(),
        "duplicated_transitions": duplicated.len(),
        "wrong_outcomes": wrong.len(),
        "task_attempts": scheduled,
        "attempts_never_invoked": never_invoked,
        "duplicated_invocations": duplicate_invocations,
        "lease_takeovers": chaos.takeovers,
        "callbacks_answered": answered.load(Ordering::Relaxed),
        "distributed_maps": by_kind_count(&kinds, Kind::Distributed.label()),
        "distributed_map_items": by_kind_count(&kinds, Kind::Distributed.label()) * distributed::MAP_ITEMS,
        "distributed_map_children": map_children,
        "distributed_map_problems": map_problems.len(),
        "express_started": express_ids.len(),
        "express_ran": express_ran,
        "express_ran_more_than_once": express_twice,
        "express_never_ran": express_never.len(),
        "signing": args.signing,
        "failover": failover,
    });
    println!(
        "executions              {} ({})",
        executions.len(),
        kinds
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "signing                 {}",
        if args.signing {
            "on (every call SigV4-signed and verified)"
        } else {
            "off"
        }
    );
    println!("kills (kill -9)         {}", chaos.kills);
    println!("replica restarts        {}", chaos.kills);
    println!("Postgres restarts       {}", chaos.postgres_restarts);
    if let Some(f) = &failover {
        println!(
            "failover                primary killed, standby promoted {} s later",
            f["promoted_after_kill_s"]
        );
        println!(
            "without service         {} s (kill to the first StartExecution answered after the promotion); longest gap between successful starts {} s",
            f["unavailable_s"], f["longest_start_gap_s"]
        );
        println!(
            "replicas ready again    {} s after the promotion, none restarted",
            f["replicas_ready_after_promotion_s"]
        );
    }
    println!("lost                    {}", lost.len());
    println!("duplicated transitions  {}", duplicated.len());
    println!("wrong outcomes          {}", wrong.len());
    println!("task attempts           {scheduled} ({never_invoked} never reached the target)");
    println!(
        "duplicated invocations  {duplicate_invocations} (lease takeovers: {})",
        chaos.takeovers
    );
    if args.moto.is_some() {
        let maps = by_kind_count(&kinds, Kind::Distributed.label());
        println!(
            "distributed maps        {maps} ({} items, {map_children} STANDARD children; {} problems: lost, duplicated, counts or result files)",
            maps * distributed::MAP_ITEMS,
            map_problems.len()
        );
    }
    println!(
        "async express           {} started, {express_ran} ran, {express_twice} more than once, {} never",
        express_ids.len(),
        express_never.len()
    );
    println!("start errors            {}", start_errors.len());
    println!("{report}");
    if let Some(path) = &args.json {
        std::fs::write(path, format!("{report}\n"))?;
    }
    let problems: Vec<&String> = lost
        .iter()
        .chain(&duplicated)
        .chain(&wrong)
        .chain(&start_errors)
        .chain(&chaos.crashed)
        .chain(&map_problems)
        .chain(&express_never)
        .collect();
    for problem in problems.iter().take(20) {
        eprintln!("  {problem}");
    }
    // A task is invoked again only when its lease was lost (taken over after expiring).
    let unexplained = u64::from(duplicate_invocations).saturating_sub(chaos.takeovers);
    if unexplained > 0 {
        eprintln!(
            "  {unexplained} duplicated invocations beyond the {} lease takeovers",
            chaos.takeovers
        );
    }
    if !problems.is_empty() || never_invoked > 0 || unexplained > 0 {
        bail!(
            "chaos run failed: {} lost, {} duplicated, {} wrong, {} start errors, {} self-crashes, {} Distributed Map problems, {} Express executions never ran, {never_invoked} attempts never invoked, {unexplained} invocations duplicated without a lease lost (logs in {})",
            lost.len(),
            duplicated.len(),
            wrong.len(),
            start_errors.len(),
            chaos.crashed.len(),
            map_problems.len(),
            express_never.len(),
            args.logs.display()
        );
    }
    Ok(())
}

/// Kills the primary, promotes the standby `promote_after` later, then waits until every
/// replica says it is ready again (its `/readyz` reads Postgres), restarting none.
async fn fail_over(
    pair: &postgres::Pair,
    promote_after: Duration,
    replicas: &AsyncMutex<Vec<Replica>>,
    http: &reqwest::Client,
) -> Result<Failover> {
    let killed_at = Instant::now();
    tokio::task::block_in_place(|| pair.kill_primary()).context("killing the primary")?;
    eprintln!();
    eprintln!("primary killed (kill -9 of the postmaster and its backends)");
    tokio::time::sleep(promote_after).await;
    tokio::task::block_in_place(|| pair.promote_standby()).context("promoting the standby")?;
    let promoted_at = Instant::now();
    eprintln!(
        "standby promoted, {:.1} s after the kill",
        (promoted_at - killed_at).as_secs_f64()
    );
    // Held so that no replica is killed or restarted while they recover by themselves.
    let replicas = replicas.lock().await;
    let deadline = promoted_at + PATIENCE;
    for replica in replicas.iter() {
        let url = format!("http://127.0.0.1:{}/readyz", replica.port);
        loop {
            let ready = http
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "the replica on port {} was not ready {PATIENCE:?} after the promotion",
                    replica.port
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(Failover {
        killed_at,
        promoted_at,
        replicas_ready_after: promoted_at.elapsed(),
    })
}

/// The figures of a failover from the clients' side: seconds from the kill to the first
/// StartExecution that succeeded after the promotion (so committed on the new primary),
/// and the longest gap between two successful StartExecution answers in the whole run.
fn failover_figures(failover: &Failover, answered_at: &[Instant]) -> Value {
    let mut answered = answered_at.to_vec();
    answered.sort();
    let first_after = answered.iter().find(|at| **at > failover.promoted_at);
    let unavailable = first_after.map(|at| (*at - failover.killed_at).as_secs_f64());
    let longest_gap = answered
        .windows(2)
        .map(|pair| (pair[1] - pair[0]).as_secs_f64())
        .fold(0.0, f64::max);
    json!({
        "promoted_after_kill_s": round2((failover.promoted_at - failover.killed_at).as_secs_f64()),
        "unavailable_s": unavailable.map(round2),
        "longest_start_gap_s": round2(longest_gap),
        "replicas_ready_after_promotion_s": round2(failover.replicas_ready_after.as_secs_f64()),
    })
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Waits for the execution to fail, then redrives it, through whichever replica is up.
/// The client token, the same on every try, makes a try whose answer was lost (its
/// replica killed) and the next one a single redrive.
async fn redrive_once_failed(client: &Client, arn: &str, id: u64) -> Result<()> {
    let token = format!("chaos-redrive-{id}");
    let deadline = Instant::now() + PATIENCE * 5;
    while Instant::now() < deadline {
        let described = client
            .ok("DescribeExecution", &json!({"executionArn": arn}), PATIENCE)
            .await?;
        if described["redriveCount"].as_u64() != Some(0) {
            return Ok(());
        }
        if described["status"] == "FAILED" {
            let body = json!({"executionArn": arn, "clientToken": token});
            match client.call("RedriveExecution", &body, PATIENCE).await? {
                Answer::Ok(_) => return Ok(()),
                // Another try got through first: the next describe shows it.
                Answer::Refused { error, .. } if error == "ExecutionNotRedrivable" => {}
                Answer::Refused { error, message } => bail!("{error}: {message}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    bail!("{arn} never failed, or its redrive never went through")
}

async fn history(client: &Client, arn: &str) -> Result<Vec<Value>> {
    let mut events = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({"executionArn": arn, "maxResults": 1000});
        if let Some(t) = &token {
            body["nextToken"] = json!(t);
        }
        let page = client.ok("GetExecutionHistory", &body, PATIENCE).await?;
        events.extend(page["events"].as_array().cloned().unwrap_or_default());
        match page["nextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => return Ok(events),
        }
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Two different free ports (a port released by `free_port` may come back at once).
fn two_free_ports() -> Result<(u16, u16)> {
    let first = std::net::TcpListener::bind("127.0.0.1:0")?;
    let second = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok((first.local_addr()?.port(), second.local_addr()?.port()))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A status line: rewritten in place on a terminal, one line every 5 s in a log.
fn progress(line: String) {
    static LAST: Mutex<Option<Instant>> = Mutex::new(None);
    let mut stderr = std::io::stderr();
    if stderr.is_terminal() {
        let _ = write!(stderr, "\r{line}   ");
        let _ = stderr.flush();
        return;
    }
    let mut last = lock(&LAST);
    if last.is_none_or(|at| at.elapsed() >= Duration::from_secs(5)) {
        let _ = writeln!(stderr, "{line}");
        *last = Some(Instant::now());
    }
}

fn by_kind_count(kinds: &[(&str, usize)], label: &str) -> usize {
    kinds
        .iter()
        .find(|(k, _)| *k == label)
        .map_or(0, |(_, n)| *n)
}

fn push<T>(list: &Mutex<Vec<T>>, item: T) {
    lock(list).push(item);
}
