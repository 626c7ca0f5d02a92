//! StartExecution's token bucket on a real `cairn server`: a burst larger than the bucket
//! is partly refused with AWS's `ThrottlingException` (HTTP 400), the refused starts
//! leave nothing behind, and each is counted in `cairn_execution_throttled_total`
//! (AWS/States ExecutionThrottled) for its state machine.

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
