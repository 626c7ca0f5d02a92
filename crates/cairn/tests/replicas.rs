//! Three `cairn server` processes on one Postgres, one of them stopped by SIGTERM while it
//! holds tasks in flight: the stopped one exits by itself with status 0 after finishing
//! and recording what it had started, and every execution finishes exactly once, with no
//! task invoked twice (a graceful stop loses no lease, so nothing is taken over).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use cairn_store::postgres::PgStore;
use cairn_store::testing;
use serde_json::{json, Value};
use tokio::sync::watch;

mod support;
use support::{Api, Server};

const EXECUTIONS: usize = 300;
/// Invocations let through before the target holds every further one until the gate
/// opens: a third of the run, so the signal lands mid-run however fast the engine is.
const HOLD_AFTER: usize = EXECUTIONS;

/// The local task target: counts invocations by idempotency key and, past
/// [`HOLD_AFTER`], holds them until the test opens the gate.
#[derive(Clone)]
struct Target {
    seen: Arc<Mutex<HashMap<String, u32>>>,
    /// Keys of the invocations being held at the gate right now.
    held: Arc<Mutex<std::collections::HashSet<String>>>,
    gate: Arc<watch::Sender<bool>>,
}

impl Target {
    fn invocations(&self) -> usize {
        self.seen
            .lock()
            .expect("lock")
            .values()
            .map(|n| *n as usize)
            .sum()
    }

    fn is_held(&self, key: &str) -> bool {
        self.held.lock().expect("lock").contains(key)
    }

    fn open(&self) {
        self.gate.send_replace(true);
    }
}

async fn start_target() -> (SocketAddr, Target) {
    let target = Target {
        seen: Arc::default(),
        held: Arc::default(),
        gate: Arc::new(watch::channel(false).0),
    };
    async fn step(
        State(target): State<Target>,
        headers: HeaderMap,
        Json(mut input): Json<Value>,
    ) -> Json<Value> {
        let key = headers
            .get("x-cairn-idempotency-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("missing")
            .to_string();
        let nth = {
            let mut seen = target.seen.lock().expect("lock");
            *seen.entry(key.clone()).or_default() += 1;
            seen.values().map(|n| *n as usize).sum::<usize>()
        };
        if nth > HOLD_AFTER {
            target.held.lock().expect("lock").insert(key.clone());
            let _ = target.gate.subscribe().wait_for(|open| *open).await;
            target.held.lock().expect("lock").remove(&key);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        let steps = input["steps"].as_u64().unwrap_or(0);
        input["steps"] = json!(steps + 1);
        Json(input)
    }
    let app = Router::new()
        .route("/{name}", post(step))
        .with_state(target.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    (addr, target)
}

fn functions(target: SocketAddr) -> Vec<(String, String)> {
    (1..=3)
        .map(|i| (format!("step{i}"), format!("http://{target}/step{i}")))
        .collect()
}

/// The server's log, one JSON object a line (`CAIRN_LOG_FORMAT=json`).
fn log_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

fn logged(path: &Path, message: &str) -> Option<Value> {
    log_lines(path)
        .into_iter()
        .find(|line| line["fields"]["message"] == message)
}

async fn wait_for<F: Fn() -> bool>(what: &str, limit: Duration, ready: F) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Tasks leased by `owner` whose invocation the target is holding at its gate: work the
/// replica cannot finish before the gate opens.
async fn held_at_target(store: &PgStore, owner: &str, target: &Target) -> usize {
    let keys = sqlx::query_scalar::<_, String>(
        "select execution_arn || '/' || state_name || '/' || task_id || '/' || attempt
         from tasks where lease_owner = $1",
    )
    .bind(owner)
    .fetch_all(store.pool())
    .await
    .expect("leased tasks");
    keys.iter().filter(|key| target.is_held(key)).count()
}

async fn leases_held_by(store: &PgStore, owner: &str) -> i64 {
    sqlx::query_scalar::<_, i64>("select count(*) from tasks where lease_owner = $1")
        .bind(owner)
        .fetch_one(store.pool())
        .await
        .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_stopped_by_sigterm_mid_load_finishes_its_work_and_loses_nothing() {
    let began = Instant::now();
    let (addr, target) = start_target().await;
    let (store, url) = testing::fresh_store("replicas_sigterm", 4)
        .await
        .expect("database");
    let log = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("replicas-sigterm-{}.log", std::process::id()));
    // The one to be stopped logs its runner and server at info, as JSON, to a file.
    let mut doomed = Server::spawn_logged(
        &url,
        &functions(addr),
        &[
            ("CAIRN_LOG_FORMAT", "json"),
            (
                "RUST_LOG",
                "warn,cairn::server=info,cairn_worker::runner=info",
            ),
        ],
        &log,
    );
    // Its API answers only once migrations ran; the others start on a migrated database.
    let doomed_api = doomed.ready().await;
    let others = [
        Server::spawn(&url, &functions(addr), &[]),
        Server::spawn(&url, &functions(addr), &[]),
    ];
    let mut apis: Vec<Api> = vec![doomed_api];
    for server in &others {
        apis.push(server.ready().await);
    }
    let owner = logged(&log, "cairn is running")
        .and_then(|line| line["fields"]["worker"].as_str().map(str::to_string))
        .expect("the stopped replica logs its worker name");

    let definition = json!({"StartAt": "Validate", "States": {
        "Validate": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:step1", "Next": "Charge"},
        "Charge": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:step2", "Next": "Ship"},
        "Ship": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:step3", "End": true}
    }});
    let machine = apis[1].create_machine("orders", &definition).await;
    // Started through all three APIs in turn, the one to be stopped included.
    let mut starts = tokio::task::JoinSet::new();
    for i in 0..EXECUTIONS {
        let api = apis[i % apis.len()].clone();
        let machine = machine.clone();
        starts.spawn(async move {
            (
                i,
                api.start(&machine, &format!("o{i}"), &json!({"order": i}))
                    .await,
            )
        });
    }
    let mut arns = vec![String::new(); EXECUTIONS];
    while let Some(started) = starts.join_next().await {
        let (i, arn) = started.expect("start task");
        arns[i] = arn;
    }

    // Mid-run: the target holds every invocation past HOLD_AFTER, so the replicas pile
    // up leased, in-flight tasks. Wait until the one to be stopped holds some that the
    // target is holding (a leased task whose invocation got through may end at once).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if held_at_target(&store, &owner, &target).await > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stopped replica never held a task in flight"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let in_flight = leases_held_by(&store, &owner).await;
    let invoked = target.invocations();
    doomed.sigterm();
    wait_for("the shutdown to begin", Duration::from_secs(5), || {
        logged(
            &log,
            "shutting down: no new work is claimed; in-flight tasks finish",
        )
        .is_some()
    })
    .await;
    // The signal has landed while its tasks are held at the target: it must wait for
    // them, keeping their leases, rather than exit and leave them to be redone.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        doomed.exited(Duration::ZERO).await.is_none(),
        "the stopped replica exited with invocations in flight"
    );
    assert!(
        leases_held_by(&store, &owner).await > 0,
        "the stopped replica keeps the leases of its in-flight tasks"
    );
    target.open();

    let opened = Instant::now();
    let status = doomed
        .exited(Duration::from_secs(15))
        .await
        .expect("the stopped replica exits by itself within 15 s");
    eprintln!(
        "stopped replica: {in_flight} tasks leased at SIGTERM, {invoked} of {} invocations \
         begun by then; exited {status} {:?} after the gate opened",
        3 * EXECUTIONS,
        opened.elapsed()
    );
    assert!(status.success(), "graceful shutdown exits 0: {status}");
    assert_eq!(
        leases_held_by(&store, &owner).await,
        0,
        "the stopped replica left no lease behind ({in_flight} were in flight at SIGTERM)"
    );
    let messages: Vec<String> = log_lines(&log)
        .iter()
        .filter_map(|l| l["fields"]["message"].as_str().map(str::to_string))
        .collect();
    let said = |message: &str| messages.iter().any(|m| m == message);
    assert!(
        said("gave back leases") || said("no leases to give back"),
        "the stopped replica says what became of its leases: {messages:?}"
    );
    assert!(said("stopped"), "the stopped replica logs its end");

    // The other two carry the run to its end.
    let survivors = &apis[1..];
    let mut outcomes = tokio::task::JoinSet::new();
    for (i, arn) in arns.iter().enumerate() {
        let api = survivors[i % survivors.len()].clone();
        let arn = arn.clone();
        outcomes.spawn(async move { (arn.clone(), api.finished(&arn).await.output()) });
    }
    while let Some(outcome) = outcomes.join_next().await {
        let (arn, output) = outcome.expect("describe task");
        assert_eq!(output["steps"], json!(3), "{arn}: three steps, once each");
    }
    let task = [
        "TaskStateEntered",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionSucceeded",
        "TaskStateExited",
    ];
    let expected: Vec<String> = std::iter::once("ExecutionStarted")
        .chain(task.iter().copied().cycle().take(3 * task.len()))
        .chain(std::iter::once("ExecutionSucceeded"))
        .map(str::to_string)
        .collect();
    for (i, arn) in arns.iter().enumerate() {
        // Dense ids from 1 and exactly this sequence: no event recorded twice, each task
        // succeeded once, the execution succeeded once.
        let types = survivors[i % survivors.len()].event_types(arn).await;
        assert_eq!(types, expected, "{arn}");
    }

    let seen = target.seen.lock().expect("lock").clone();
    assert_eq!(
        seen.len(),
        3 * EXECUTIONS,
        "every (execution, state, attempt) was invoked"
    );
    let duplicated: Vec<_> = seen.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        duplicated.is_empty(),
        "a graceful stop hands nothing over, so nothing is invoked twice: {duplicated:?}"
    );
    let tasks_left = sqlx::query_scalar::<_, i64>("select count(*) from tasks")
        .fetch_one(store.pool())
        .await
        .expect("count");
    assert_eq!(tasks_left, 0, "every task row was consumed");
    assert!(
        began.elapsed() < Duration::from_secs(40),
        "the run took {:?}",
        began.elapsed()
    );
    let _ = std::fs::remove_file(&log);
    drop(others);
}
