//! `arn:aws:states:::http:invoke` over real HTTP on loopback.

mod common;

use std::collections::BTreeMap;

use cairn_worker::{
    EndpointAuth, HttpAuth, HttpTaskConfig, LambdaApi, TargetConfig, Targets, TaskOutcome,
};
use common::*;
use serde_json::{json, Value};
use url::Url;

const HTTP: &str = "arn:aws:states:::http:invoke";
const CONNECTION: &str = "arn:aws:events:us-east-1:123456789012:connection/orders/abc";

async fn targets() -> (Targets, String) {
    let addr = start().await;
    let base = format!("http://{addr}/http");
    let config = TargetConfig {
        http: HttpTaskConfig {
            connections: [(
                CONNECTION.to_string(),
                HttpAuth {
                    bearer_token: Some("s3cret".into()),
                    headers: BTreeMap::new(),
                },
            )]
            .into(),
            endpoints: vec![EndpointAuth {
                url_prefix: Url::parse(&format!("{base}/echo")).expect("url"),
                auth: HttpAuth {
                    bearer_token: None,
                    headers: [("x-api-key".to_string(), "k-123".to_string())].into(),
                },
            }],
        },
        ..TargetConfig::default()
    };
    let targets = Targets::new(config, LambdaApi::new(None, credentials())).expect("targets");
    (targets, base)
}

#[tokio::test]
async fn get_with_query_parameters_returns_aws_shape() {
    let (targets, base) = targets().await;
    let outcome = targets
        .invoke(&invocation(
            HTTP,
            json!({
                "ApiEndpoint": format!("{base}/echo"),
                "Method": "GET",
                "Headers": {"x-custom": "yes"},
                "QueryParameters": {"q": "a b&c", "n": 3, "tags": ["x", "y"]}
            }),
        ))
        .await;
    let result = succeeded(outcome);
    let keys: Vec<&String> = result.as_object().expect("object").keys().collect();
    assert_eq!(
        keys,
        ["Headers", "ResponseBody", "StatusCode", "StatusText"]
    );
    assert_eq!(result["StatusCode"], 200);
    assert_eq!(result["StatusText"], "OK");
    assert_eq!(result["Headers"]["x-request-id"], json!(["r-1"]));
    assert_eq!(
        result["Headers"]["content-type"],
        json!(["application/json"])
    );
    let body = &result["ResponseBody"];
    assert_eq!(body["method"], "GET");
    assert_eq!(body["query"], "q=a+b%26c&n=3&tags=x&tags=y");
    assert_eq!(body["x_custom"], "yes");
    assert_eq!(body["key"], KEY);
    // The endpoint rule's header is added; no bearer token leaks from the connection.
    assert_eq!(body["x_api_key"], "k-123");
    assert_eq!(body["authorization"], Value::Null);
}

#[tokio::test]
async fn url_encoded_bodies_follow_the_array_format() {
    let (targets, base) = targets().await;
    for (format, expected) in [
        ("INDICES", "items%5B0%5D=a&items%5B1%5D=b&order%5Bid%5D=7"),
        ("REPEAT", "items=a&items=b&order%5Bid%5D=7"),
        ("COMMAS", "items=a%2Cb&order%5Bid%5D=7"),
        ("BRACKETS", "items%5B%5D=a&items%5B%5D=b&order%5Bid%5D=7"),
    ] {
        let outcome = targets
            .invoke(&invocation(
                HTTP,
                json!({
                    "ApiEndpoint": format!("{base}/echo"),
                    "Method": "POST",
                    "RequestBody": {"items": ["a", "b"], "order": {"id": 7}},
                    "Transform": {
                        "RequestBodyEncoding": "URL_ENCODED",
                        "RequestEncodingOptions": {"ArrayFormat": format}
                    }
                }),
            ))
            .await;
        let body = &succeeded(outcome)["ResponseBody"];
        assert_eq!(body["body"], expected, "{format}");
        assert_eq!(body["content_type"], "application/x-www-form-urlencoded");
    }
}

#[tokio::test]
async fn json_bodies_are_sent_as_json() {
    let (targets, base) = targets().await;
    let outcome = targets
        .invoke(&invocation(
            HTTP,
            json!({
                "ApiEndpoint": format!("{base}/echo"),
                "Method": "PUT",
                "RequestBody": {"b": 1, "a": [true]}
            }),
        ))
        .await;
    let body = &succeeded(outcome)["ResponseBody"];
    assert_eq!(body["method"], "PUT");
    assert_eq!(body["body"], r#"{"b":1,"a":[true]}"#);
    assert_eq!(body["content_type"], "application/json");
}

#[tokio::test]
async fn a_configured_connection_supplies_the_bearer_token() {
    let (targets, base) = targets().await;
    let outcome = targets
        .invoke(&invocation(
            HTTP,
            json!({
                "ApiEndpoint": format!("{base}/echo"),
                "Method": "POST",
                "Authentication": {"ConnectionArn": CONNECTION}
            }),
        ))
        .await;
    let body = &succeeded(outcome)["ResponseBody"];
    assert_eq!(body["authorization"], "Bearer s3cret");
}

#[tokio::test]
async fn an_unknown_connection_is_refused_clearly() {
    let (targets, base) = targets().await;
    let outcome = targets
        .invoke(&invocation(
            HTTP,
            json!({
                "ApiEndpoint": format!("{base}/echo"),
                "Method": "GET",
                "InvocationConfig": {"ConnectionArn": "arn:aws:events:us-east-1:1:connection/other/x"}
            }),
        ))
        .await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "States.TaskFailed");
    let cause = cause.expect("cause");
    assert!(
        cause.contains(
            "connection 'arn:aws:events:us-east-1:1:connection/other/x' is not configured"
        ),
        "{cause}"
    );
    assert!(
        cause.contains("does not read EventBridge connections"),
        "{cause}"
    );
}

#[tokio::test]
async fn text_responses_stay_text() {
    let (targets, base) = targets().await;
    let outcome = targets
        .invoke(&invocation(
            HTTP,
            json!({"ApiEndpoint": format!("{base}/text"), "Method": "GET"}),
        ))
        .await;
    assert_eq!(succeeded(outcome)["ResponseBody"], "plain words");
}

#[tokio::test]
async fn non_2xx_is_states_http_status_code_with_the_response_as_cause() {
    let (targets, base) = targets().await;
    let outcome = targets
        .invoke(&invocation(
            HTTP,
            json!({"ApiEndpoint": format!("{base}/missing"), "Method": "GET"}),
        ))
        .await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "States.Http.StatusCode.404");
    let cause: Value = serde_json::from_str(cause.expect("cause")).expect("JSON cause");
    assert_eq!(cause["StatusCode"], 404);
    assert_eq!(cause["StatusText"], "Not Found");
    assert_eq!(cause["ResponseBody"], json!({"message": "no such order"}));
}

#[tokio::test]
async fn slow_endpoints_time_out() {
    let (targets, base) = targets().await;
    let mut slow = invocation(
        HTTP,
        json!({"ApiEndpoint": format!("{base}/slow"), "Method": "GET"}),
    );
    slow.timeout_seconds = Some(1);
    assert_eq!(targets.invoke(&slow).await, TaskOutcome::TimedOut);
}

#[tokio::test]
async fn bad_parameters_are_refused() {
    let (targets, base) = targets().await;
    for (input, needle) in [
        (
            json!({"ApiEndpoint": format!("{base}/echo"), "Method": "TRACE"}),
            "Method must be",
        ),
        (
            json!({"ApiEndpoint": "ftp://example.com", "Method": "GET"}),
            "must be an http or https URL",
        ),
        (json!({"Method": "GET"}), "missing field `ApiEndpoint`"),
        (
            json!({"ApiEndpoint": format!("{base}/echo"), "Method": "GET", "Headers": {"Host": "x"}}),
            "the header 'Host' cannot be set",
        ),
        (
            json!({"ApiEndpoint": format!("{base}/echo"), "Method": "POST", "RequestBody": [1], "Transform": {"RequestBodyEncoding": "URL_ENCODED"}}),
            "must be an object",
        ),
    ] {
        let outcome = targets.invoke(&invocation(HTTP, input)).await;
        let (error, cause) = failed(&outcome);
        assert_eq!(error, "States.TaskFailed");
        assert!(cause.expect("cause").contains(needle), "{needle}");
    }
}

#[tokio::test]
async fn a_refused_connection_is_a_task_failure() {
    let (targets, _) = targets().await;
    let closed = closed_port().await;
    let outcome = targets
        .invoke(&invocation(
            HTTP,
            json!({"ApiEndpoint": format!("http://{closed}/x"), "Method": "GET"}),
        ))
        .await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "States.TaskFailed");
    assert!(cause
        .expect("cause")
        .starts_with(&format!("request to http://{closed}/x failed")));
}

#[tokio::test]
async fn redirects_are_followed_only_within_the_origin() {
    let (targets, base) = targets().await;
    let outcome = targets
        .invoke(&invocation(
            HTTP,
            json!({"ApiEndpoint": format!("{base}/redirect-same"), "Method": "GET"}),
        ))
        .await;
    let body = &succeeded(outcome)["ResponseBody"];
    assert_eq!(body["query"], "from=redirect");
    assert_eq!(body["key"], KEY);

    let outcome = targets
        .invoke(&invocation(
            HTTP,
            json!({"ApiEndpoint": format!("{base}/redirect-away"), "Method": "GET", "Headers": {"x-custom": "private"}}),
        ))
        .await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "States.Http.StatusCode.302");
    let cause: Value = serde_json::from_str(cause.expect("cause")).expect("JSON cause");
    assert!(cause["Headers"]["location"][0]
        .as_str()
        .is_some_and(|l| l.starts_with("http://localhost:")));
}
