//! The service integrations' requests as they leave Cairn (an axum stand-in records
//! them) and their failures on the client's side. Their behaviour against a real
//! implementation of SQS, SNS, DynamoDB and EventBridge is tested with moto's server in
//! `e2e/test_service_integrations.py`.

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use cairn_worker::{LambdaApi, ServiceEndpoints, TargetConfig, Targets, TaskOutcome};
use common::*;
use serde_json::{json, Value};
use url::Url;

type Seen = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A stand-in that records each request and answers `answer`.
async fn recorder(answer: &'static str) -> (Url, Seen) {
    let seen: Seen = Arc::default();
    let kept = seen.clone();
    let app = Router::new().route(
        "/",
        post(move |headers: HeaderMap, body: Bytes| {
            let kept = kept.clone();
            async move {
                if let Ok(mut kept) = kept.lock() {
                    kept.push((headers, body));
                }
                ([("content-type", "application/x-amz-json-1.0")], answer)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (Url::parse(&format!("http://{addr}")).expect("url"), seen)
}

fn targets(endpoints: ServiceEndpoints) -> Targets {
    Targets::new(TargetConfig::default(), LambdaApi::new(None, credentials()))
        .expect("targets")
        .with_service_endpoints(endpoints)
}

#[tokio::test]
async fn send_message_is_signed_for_sqs_in_the_queue_region_without_the_idempotency_key() {
    let (url, seen) = recorder(r#"{"MD5OfMessageBody":"m","MessageId":"id-1"}"#).await;
    let outcome = targets(ServiceEndpoints::all_at(&url))
        .invoke(&invocation(
            "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            json!({
                "QueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/q",
                "MessageBody": {"a": [1, "x"]},
                "DelaySeconds": 5,
                "Unknown": true
            }),
        ))
        .await;
    let result = succeeded(outcome);
    assert_eq!(result["MessageId"], "id-1");
    assert_eq!(result["SdkHttpMetadata"]["HttpStatusCode"], 200);

    let seen = seen.lock().expect("lock");
    let (headers, body) = &seen[0];
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    assert_eq!(header("x-amz-target"), "AmazonSQS.SendMessage");
    assert_eq!(header("content-type"), "application/x-amz-json-1.0");
    assert!(
        header("authorization").contains("/eu-west-1/sqs/aws4_request"),
        "{}",
        header("authorization")
    );
    assert!(header("authorization").contains("x-amz-target"));
    assert!(headers.get("x-cairn-idempotency-key").is_none());
    let sent: Value = serde_json::from_slice(body).expect("json");
    assert_eq!(
        sent,
        json!({
            "QueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/q",
            "MessageBody": "{\"a\":[1,\"x\"]}",
            "DelaySeconds": 5
        })
    );
}

#[tokio::test]
async fn an_unreachable_service_is_sdk_client_exception() {
    let closed = closed_port().await;
    let url = Url::parse(&format!("http://{closed}")).expect("url");
    let targets = targets(ServiceEndpoints::all_at(&url));
    for (resource, input, error) in [
        (
            "arn:aws:states:::sqs:sendMessage",
            json!({"QueueUrl": "q", "MessageBody": "b"}),
            "SQS.SdkClientException",
        ),
        (
            "arn:aws:states:::sns:publish",
            json!({"TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "Message": "m"}),
            "SNS.SdkClientException",
        ),
        (
            "arn:aws:states:::dynamodb:getItem",
            json!({"TableName": "t", "Key": {}}),
            "DynamoDB.SdkClientException",
        ),
        (
            "arn:aws:states:::events:putEvents",
            json!({"Entries": []}),
            "EventBridge.SdkClientException",
        ),
    ] {
        let outcome = targets.invoke(&invocation(resource, input)).await;
        let (name, cause) = failed(&outcome);
        assert_eq!(name, error);
        assert!(
            cause.is_some_and(|c| c.starts_with(&format!(
                "Unable to execute HTTP request to http://{closed}/"
            ))),
            "{cause:?}"
        );
    }
}

#[tokio::test]
async fn unusable_parameters_send_nothing() {
    let (url, seen) = recorder("{}").await;
    let targets = targets(ServiceEndpoints::all_at(&url));
    for (resource, input) in [
        (
            "arn:aws:states:::sqs:sendMessage",
            json!({"MessageBody": "b"}),
        ),
        ("arn:aws:states:::sqs:sendMessage", json!({"QueueUrl": "q"})),
        ("arn:aws:states:::sns:publish", json!({"TopicArn": "t"})),
        (
            "arn:aws:states:::sns:publish",
            json!({"Message": "m", "Subject": 3}),
        ),
        ("arn:aws:states:::dynamodb:putItem", json!({"Item": {}})),
        ("arn:aws:states:::events:putEvents", json!({"Entries": [1]})),
        ("arn:aws:states:::events:putEvents", json!("not an object")),
    ] {
        let outcome = targets.invoke(&invocation(resource, input.clone())).await;
        assert!(
            matches!(&outcome, TaskOutcome::Failed { error, .. } if error == "States.TaskFailed"),
            "{resource} {input}: {outcome:?}"
        );
    }
    assert!(seen.lock().expect("lock").is_empty());
}
