//! StartExecution's token bucket on a real `cairn server`: a burst larger than the bucket
//! is partly refused with AWS's `ThrottlingException` (HTTP 400), the refused starts
//! leave nothing behind, and each is counted in `cairn_execution_throttled_total`
//! (AWS/States ExecutionThrottled) for its state machine. The state-transition bucket
//! slows executions down without failing them, and counts what it held back there too.

mod support;

use cairn_store::testing;
use serde_json::{json, Value};
use support::Server;

/// A call's answer: the body, or the HTTP status and error body.
type Answer = Result<Value, (u16, Value)>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_bucket_throttles_starts_and_writes_nothing() {
    let (_store, database) = testing::fresh_store("throttling", 2)
        .await
        .expect("a database");
    // Three tokens and no refill: exactly three starts get through, however fast.
    let server = Server::spawn(
        &database,
        &[],
        &[
            ("CAIRN_START_EXECUTION_BUCKET", "3"),
            ("CAIRN_START_EXECUTION_REFILL", "0"),
        ],
    );
    let api = server.ready().await;
    let machine = api
        .create_machine(
            "throttled",
            &json!({"StartAt": "Only", "States": {"Only": {"Type": "Pass", "End": true}}}),
        )
        .await;

    let burst = (0..10).map(|i| {
        let api = api.clone();
        let machine = machine.clone();
        async move {
            let name = format!("burst-{i}");
            let answer = api
                .try_call(
                    "StartExecution",
                    &json!({"stateMachineArn": machine, "name": name, "input": "{}"}),
                )
                .await;
            (name, answer)
        }
    });
    let answers: Vec<(String, Answer)> = join_all(burst).await;
    let started: Vec<&String> = answers
        .iter()
        .filter(|(_, a)| a.is_ok())
        .map(|(n, _)| n)
        .collect();
    let refused: Vec<(&String, &(u16, Value))> = answers
        .iter()
        .filter_map(|(n, a)| a.as_ref().err().map(|e| (n, e)))
        .collect();
    assert_eq!(started.len(), 3, "{answers:?}");
    assert_eq!(refused.len(), 7, "{answers:?}");
    for (name, (status, body)) in &refused {
        assert_eq!(*status, 400, "{name}: {body}");
        assert_eq!(
            body["__type"], "com.amazon.coral.availability#ThrottlingException",
            "{name}: {body}"
        );
        assert_eq!(body["message"], "Rate exceeded");
    }

    // Nothing half-written: only the admitted starts exist.
    let listed = api
        .call("ListExecutions", &json!({"stateMachineArn": machine}))
        .await;
    let mut names: Vec<String> = listed["executions"]
        .as_array()
        .expect("executions")
        .iter()
        .filter_map(|e| e["name"].as_str().map(str::to_string))
        .collect();
    names.sort();
    let mut expected: Vec<String> = started.iter().map(|n| n.to_string()).collect();
    expected.sort();
    assert_eq!(names, expected);
    for (name, _) in &refused {
        let arn = format!(
            "{}:{name}",
            machine.replace(":stateMachine:", ":execution:")
        );
        let described = api
            .try_call("DescribeExecution", &json!({"executionArn": arn}))
            .await;
        let (status, body) = described.expect_err("a refused start left no execution");
        assert_eq!(status, 400);
        assert!(
            body["__type"]
                .as_str()
                .is_some_and(|t| t.ends_with("#ExecutionDoesNotExist")),
            "{body}"
        );
    }
    // Other actions have no bucket unless configured.
    for _ in 0..20 {
        api.call("DescribeStateMachine", &json!({"stateMachineArn": machine}))
            .await;
    }

    // AWS/States ExecutionThrottled counts the refusals, per state machine.
    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text");
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("cairn_execution_throttled_total{")
                && l.contains(&format!("state_machine_arn=\"{machine}\""))
        })
        .unwrap_or_else(|| panic!("no throttled series for {machine}:\n{metrics}"));
    let value: f64 = line
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .expect("a number");
    assert_eq!(value, 7.0, "{line}");
}

/// Ten Pass states: ten state transitions per execution.
fn ten_passes() -> Value {
    let mut states = serde_json::Map::new();
    for i in 1..=10 {
        let mut state =
            json!({"Type": "Pass", "Result": {"step": i}, "ResultPath": format!("$.s{i}")});
        if i < 10 {
            state["Next"] = json!(format!("P{}", i + 1));
        } else {
            state["End"] = json!(true);
        }
        states.insert(format!("P{i}"), state);
    }
    json!({"StartAt": "P1", "States": states})
}

/// `cairn_execution_throttled_total` of `machine` on `server`, 0 when it has no series.
async fn throttled_count(server: &Server, machine: &str) -> f64 {
    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text");
    metrics
        .lines()
        .find(|l| {
            l.starts_with("cairn_execution_throttled_total{")
                && l.contains(&format!("state_machine_arn=\"{machine}\""))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Runs `executions` executions of [`ten_passes`] on `server` at once; checks each
/// SUCCEEDED with its whole, dense history; returns the earliest startDate and the
/// latest stopDate (seconds since the epoch, as DescribeExecution gives them).
async fn run_ten_passes(api: &support::Api, machine: &str, executions: usize) -> (f64, f64) {
    let mut arns = Vec::new();
    for i in 0..executions {
        arns.push(
            api.start(machine, &format!("paced-{i}"), &json!({"n": i}))
                .await,
        );
    }
    let mut expected = vec!["ExecutionStarted".to_string()];
    for _ in 0..10 {
        expected.push("PassStateEntered".to_string());
        expected.push("PassStateExited".to_string());
    }
    expected.push("ExecutionSucceeded".to_string());
    let (mut first_start, mut last_stop) = (f64::MAX, f64::MIN);
    for (i, arn) in arns.iter().enumerate() {
        let finished = api.finished(arn).await;
        let output = finished.output();
        assert_eq!(output["n"], i, "{output}");
        assert_eq!(output["s10"], json!({"step": 10}), "{output}");
        // event_types checks the ids are dense from 1.
        assert_eq!(api.event_types(arn).await, expected, "{arn}");
        let date = |field: &str| {
            finished.0[field]
                .as_f64()
                .unwrap_or_else(|| panic!("{field}: {}", finished.0))
        };
        first_start = first_start.min(date("startDate"));
        last_stop = last_stop.max(date("stopDate"));
    }
    (first_start, last_stop)
}

/// A tiny state-transition bucket paces executions instead of failing them: every one
/// succeeds with its whole history, the engine's own dates show the run took at least
/// as long as the bucket allows, and the held-back transitions are counted as
/// ExecutionThrottled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transition_bucket_paces_executions_and_counts_throttled_transitions() {
    let (_store, database) = testing::fresh_store("transition_throttling", 2)
        .await
        .expect("a database");
    const BUCKET: f64 = 5.0;
    const REFILL: f64 = 10.0;
    const EXECUTIONS: usize = 3;
    let server = Server::spawn(
        &database,
        &[],
        &[
            ("CAIRN_TRANSITION_BUCKET", "5"),
            ("CAIRN_TRANSITION_REFILL", "10"),
        ],
    );
    let api = server.ready().await;
    let machine = api.create_machine("paced", &ten_passes()).await;

    let (first_start, last_stop) = run_ten_passes(&api, &machine, EXECUTIONS).await;

    // Every start finds the bucket at most full: the transitions beyond it wait for
    // refills. Measured on the dates the engine recorded, not on the test's clock.
    let transitions = (EXECUTIONS * 10) as f64;
    // Dates are kept to the millisecond: allow for their rounding at both ends.
    let least = (transitions - BUCKET) / REFILL - 0.01;
    assert!(
        last_stop - first_start >= least,
        "{transitions} transitions through a bucket of {BUCKET} refilled at {REFILL}/s took \
         {:.3} s by the executions' dates, less than {least} s",
        last_stop - first_start
    );
    assert!(
        throttled_count(&server, &machine).await > 0.0,
        "held-back transitions are counted as ExecutionThrottled"
    );
}

/// With no transition bucket (the default) nothing waits and nothing is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_transition_bucket_nothing_is_throttled() {
    let (_store, database) = testing::fresh_store("transition_unthrottled", 2)
        .await
        .expect("a database");
    let server = Server::spawn(&database, &[], &[]);
    let api = server.ready().await;
    let machine = api.create_machine("unpaced", &ten_passes()).await;
    run_ten_passes(&api, &machine, 3).await;
    assert_eq!(throttled_count(&server, &machine).await, 0.0);
}

/// Runs the futures concurrently on the runtime and returns their outputs in order.
async fn join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    for handle in handles {
        outputs.push(handle.await.expect("the task ran"));
    }
    outputs
}
