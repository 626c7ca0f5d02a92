//! Lambda functions mapped to plain URLs, over real HTTP on loopback.

mod common;

use std::collections::BTreeMap;

use cairn_worker::{LambdaApi, TargetConfig, Targets, TaskOutcome};
use common::*;
use serde_json::json;
use url::Url;

const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:";

async fn targets() -> Targets {
    let addr = start().await;
    let functions: BTreeMap<String, Url> = [
        "echo", "declined", "alt", "text", "empty", "boom", "slow", "huge",
    ]
    .into_iter()
    .map(|name| {
        let url = Url::parse(&format!("http://{addr}/fn/{name}")).expect("url");
        (name.to_string(), url)
    })
    .collect();
    let config = TargetConfig {
        functions,
        ..TargetConfig::default()
    };
    // The Lambda API points nowhere: a mapped function must never reach it.
    let closed = closed_port().await;
    let lambda = LambdaApi::new(Url::parse(&format!("http://{closed}")).ok(), credentials());
    Targets::new(config, lambda).expect("targets")
}

#[tokio::test]
async fn function_arn_posts_the_input_and_returns_the_json_body() {
    let targets = targets().await;
    let outcome = targets
        .invoke(&invocation(&format!("{ARN}echo"), json!({"order": 42})))
        .await;
    assert_eq!(
        succeeded(outcome),
        json!({"input": {"order": 42}, "key": KEY, "content_type": "application/json"})
    );
}

#[tokio::test]
async fn lambda_invoke_wraps_the_payload_as_aws_does() {
    let targets = targets().await;
    let outcome = targets
        .invoke(&invocation(
            "arn:aws:states:::lambda:invoke",
            json!({"FunctionName": "echo", "Payload": {"order": 1}}),
        ))
        .await;
    let result = succeeded(outcome);
    assert_eq!(result["ExecutedVersion"], "$LATEST");
    assert_eq!(result["StatusCode"], 200);
    assert_eq!(result["Payload"]["input"], json!({"order": 1}));
    assert_eq!(result["Payload"]["key"], KEY);
    assert_eq!(result["SdkHttpMetadata"]["HttpStatusCode"], 200);
    assert_eq!(
        result["SdkHttpMetadata"]["AllHttpHeaders"]["content-type"],
        json!(["application/json"])
    );
    let keys: Vec<&String> = result.as_object().expect("object").keys().collect();
    assert_eq!(
        keys,
        [
            "ExecutedVersion",
            "Payload",
            "SdkHttpMetadata",
            "SdkResponseMetadata",
            "StatusCode"
        ]
    );
}

#[tokio::test]
async fn a_full_arn_in_function_name_also_maps_to_the_url() {
    let targets = targets().await;
    let outcome = targets
        .invoke(&invocation(
            "arn:aws:states:::lambda:invoke",
            json!({"FunctionName": format!("{ARN}echo:prod"), "Payload": 5}),
        ))
        .await;
    assert_eq!(succeeded(outcome)["Payload"]["input"], 5);
}

#[tokio::test]
async fn error_type_and_message_become_error_and_cause() {
    let targets = targets().await;
    let outcome = targets
        .invoke(&invocation(&format!("{ARN}declined"), json!({})))
        .await;
    assert_eq!(failed(&outcome), ("PaymentDeclined", Some("card expired")));

    let outcome = targets
        .invoke(&invocation(&format!("{ARN}alt"), json!({})))
        .await;
    assert_eq!(failed(&outcome), ("OutOfStock", Some("no widgets left")));
}

#[tokio::test]
async fn non_json_success_is_a_task_failure_with_a_clear_cause() {
    let targets = targets().await;
    let outcome = targets
        .invoke(&invocation(&format!("{ARN}text"), json!({})))
        .await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "States.TaskFailed");
    let cause = cause.expect("cause");
    assert!(
        cause.contains("/fn/text answered 200 OK with a body that is not JSON"),
        "{cause}"
    );
    assert!(cause.contains("hello, not json"), "{cause}");
}

#[tokio::test]
async fn an_empty_success_body_is_null() {
    let targets = targets().await;
    let outcome = targets
        .invoke(&invocation(&format!("{ARN}empty"), json!({})))
        .await;
    assert_eq!(succeeded(outcome), serde_json::Value::Null);
}

#[tokio::test]
async fn a_plain_500_is_a_task_failure_with_status_and_body() {
    let targets = targets().await;
    let outcome = targets
        .invoke(&invocation(&format!("{ARN}boom"), json!({})))
        .await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "States.TaskFailed");
    let cause = cause.expect("cause");
    assert!(
        cause.ends_with("/fn/boom answered HTTP 500 Internal Server Error: boom"),
        "{cause}"
    );
}

#[tokio::test]
async fn a_slow_function_times_out() {
    let targets = targets().await;
    let mut slow = invocation(&format!("{ARN}slow"), json!({}));
    slow.timeout_seconds = Some(1);
    let started = std::time::Instant::now();
    assert_eq!(targets.invoke(&slow).await, TaskOutcome::TimedOut);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn a_body_over_the_limit_is_data_limit_exceeded() {
    let targets = targets().await;
    let outcome = targets
        .invoke(&invocation(&format!("{ARN}huge"), json!({})))
        .await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "States.DataLimitExceeded");
    assert!(cause
        .expect("cause")
        .contains("larger than the limit of 262144 bytes"));
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_cut_off_while_streaming() {
    let addr = start_chunked(4 * 1024 * 1024).await;
    let config = TargetConfig {
        functions: [(
            "stream".to_string(),
            Url::parse(&format!("http://{addr}/")).expect("url"),
        )]
        .into(),
        max_response_bytes: 64 * 1024,
        ..TargetConfig::default()
    };
    let targets = Targets::new(config, LambdaApi::new(None, credentials())).expect("targets");
    let outcome = targets
        .invoke(&invocation(&format!("{ARN}stream"), json!({})))
        .await;
    assert_eq!(failed(&outcome).0, "States.DataLimitExceeded");
}

#[tokio::test]
async fn a_refused_connection_names_the_url() {
    let closed = closed_port().await;
    let url = format!("http://{closed}/fn");
    let config = TargetConfig {
        functions: [("gone".to_string(), Url::parse(&url).expect("url"))].into(),
        ..TargetConfig::default()
    };
    let targets = Targets::new(config, LambdaApi::new(None, credentials())).expect("targets");
    let outcome = targets
        .invoke(&invocation(&format!("{ARN}gone"), json!({})))
        .await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "States.TaskFailed");
    let cause = cause.expect("cause");
    assert!(
        cause.starts_with(&format!("request to {url} failed: ")),
        "{cause}"
    );
    assert!(cause.to_lowercase().contains("connect"), "{cause}");
}

#[tokio::test]
async fn unsupported_resources_fail_clearly() {
    let targets = targets().await;
    let outcome = targets
        .invoke(&invocation(
            "arn:aws:states:::sqs:receiveMessage",
            json!({}),
        ))
        .await;
    assert_eq!(
        failed(&outcome),
        (
            "States.TaskFailed",
            Some("resource not supported: arn:aws:states:::sqs:receiveMessage")
        )
    );
}
