//! The Lambda Invoke API, against a fake that speaks the real wire protocol and checks
//! SigV4 signatures. Credentials and endpoint are given explicitly (no environment).

mod common;

use cairn_worker::{Credentials, LambdaApi, TargetConfig, Targets, TaskOutcome};
use common::*;
use serde_json::{json, Value};
use url::Url;

async fn targets() -> Targets {
    let addr = start().await;
    let endpoint = Url::parse(&format!("http://{addr}")).ok();
    Targets::new(
        TargetConfig::default(),
        LambdaApi::new(endpoint, credentials()),
    )
    .expect("targets")
}

fn assert_signed_for_us_east_1(authorization: &Value) {
    let auth = authorization.as_str().expect("an Authorization header");
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=test/"),
        "{auth}"
    );
    assert!(auth.contains("/us-east-1/lambda/aws4_request"), "{auth}");
    assert!(
        auth.contains("x-cairn-idempotency-key"),
        "the key is signed: {auth}"
    );
}

#[tokio::test]
async fn function_arn_result_is_the_payload() {
    let targets = targets().await;
    let outcome = targets
        .invoke(&invocation(
            "arn:aws:lambda:us-east-1:123456789012:function:hello",
            json!({"order": 42}),
        ))
        .await;
    let result = succeeded(outcome);
    assert_eq!(result["payload"], json!({"order": 42}));
    assert_eq!(
        result["function"],
        "arn:aws:lambda:us-east-1:123456789012:function:hello"
    );
    assert_eq!(result["qualifier"], Value::Null);
    assert_eq!(result["key"], KEY);
    assert_signed_for_us_east_1(&result["authorization"]);
}

#[tokio::test]
async fn lambda_invoke_result_has_aws_shape() {
    let targets = targets().await;
    let outcome = targets
        .invoke(&invocation(
            "arn:aws:states:::lambda:invoke",
            json!({"FunctionName": "hello", "Payload": {"a": [1, 2]}, "Qualifier": "prod"}),
        ))
        .await;
    let result = succeeded(outcome);
    assert_eq!(result["ExecutedVersion"], "prod");
    assert_eq!(result["StatusCode"], 200);
    assert_eq!(result["Payload"]["payload"], json!({"a": [1, 2]}));
    assert_eq!(result["Payload"]["function"], "hello");
    assert_eq!(result["Payload"]["qualifier"], "prod");
    assert_eq!(
        result["SdkResponseMetadata"]["RequestId"],
        "4f5b0b9a-0000-4000-8000-000000000001"
    );
    assert_eq!(result["SdkHttpMetadata"]["HttpStatusCode"], 200);
    assert_eq!(
        result["SdkHttpMetadata"]["HttpHeaders"]["x-amz-executed-version"],
        "prod"
    );
    assert_eq!(
        result["SdkHttpMetadata"]["AllHttpHeaders"]["x-amz-executed-version"],
        json!(["prod"])
    );
    assert_signed_for_us_east_1(&result["Payload"]["authorization"]);
}

#[tokio::test]
async fn event_invocations_answer_202_with_an_empty_payload() {
    let targets = targets().await;
    let outcome = targets
        .invoke(&invocation(
            "arn:aws:states:::lambda:invoke",
            json!({"FunctionName": "hello", "InvocationType": "Event"}),
        ))
        .await;
    let result = succeeded(outcome);
    assert_eq!(result["StatusCode"], 202);
    assert_eq!(result["Payload"], "");
}

#[tokio::test]
async fn function_error_is_error_type_with_the_payload_as_cause() {
    let targets = targets().await;
    let payload =
        r#"{"errorMessage":"card expired","errorType":"PaymentDeclined","stackTrace":[]}"#;
    for (resource, input) in [
        (
            "arn:aws:lambda:us-east-1:123456789012:function:fails",
            json!({}),
        ),
        (
            "arn:aws:states:::lambda:invoke",
            json!({"FunctionName": "fails"}),
        ),
    ] {
        let outcome = targets.invoke(&invocation(resource, input)).await;
        assert_eq!(
            failed(&outcome),
            ("PaymentDeclined", Some(payload)),
            "{resource}"
        );
    }
}

#[tokio::test]
async fn a_function_error_without_error_type_is_lambda_unknown() {
    let targets = targets().await;
    let outcome = targets
        .invoke(&invocation(
            "arn:aws:states:::lambda:invoke",
            json!({"FunctionName": "crashes"}),
        ))
        .await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "Lambda.Unknown");
    assert!(cause
        .expect("cause")
        .contains("Task timed out after 3.00 seconds"));
}

#[tokio::test]
async fn service_errors_are_named_lambda_exception() {
    let targets = targets().await;
    let outcome = targets
        .invoke(&invocation(
            "arn:aws:states:::lambda:invoke",
            json!({"FunctionName": "nope"}),
        ))
        .await;
    assert_eq!(
        failed(&outcome),
        (
            "Lambda.ResourceNotFoundException",
            Some("Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope (Service: AWSLambda; Status Code: 404; Error Code: ResourceNotFoundException; Request ID: 4f5b0b9a-0000-4000-8000-000000000001; Proxy: null)")
        )
    );

    let outcome = targets
        .invoke(&invocation(
            "arn:aws:lambda:us-east-1:123456789012:function:throttled",
            json!({}),
        ))
        .await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "Lambda.TooManyRequestsException");
    assert!(cause
        .expect("cause")
        .starts_with("Rate Exceeded. (Service: AWSLambda; Status Code: 429"));

    let outcome = targets
        .invoke(&invocation(
            "arn:aws:lambda:us-east-1:123456789012:function:broken",
            json!({}),
        ))
        .await;
    assert_eq!(failed(&outcome).0, "Lambda.ServiceException");
}

#[tokio::test]
async fn wrong_credentials_are_refused_by_the_signature_check() {
    let addr = start().await;
    let endpoint = Url::parse(&format!("http://{addr}")).ok();
    let wrong = Credentials::new(ACCESS_KEY, "not-the-secret", None, None, "test");
    let targets =
        Targets::new(TargetConfig::default(), LambdaApi::new(endpoint, wrong)).expect("targets");
    let outcome = targets
        .invoke(&invocation(
            "arn:aws:lambda:us-east-1:123456789012:function:hello",
            json!({}),
        ))
        .await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "Lambda.InvalidSignatureException");
    assert!(cause.expect("cause").contains("signature mismatch"));
}

#[tokio::test]
async fn a_function_in_another_region_is_signed_for_that_region() {
    let targets = targets().await;
    let outcome = targets
        .invoke(&invocation(
            "arn:aws:lambda:eu-west-1:123456789012:function:hello",
            json!({}),
        ))
        .await;
    let result = succeeded(outcome);
    let auth = result["authorization"].as_str().expect("auth");
    assert!(auth.contains("/eu-west-1/lambda/aws4_request"), "{auth}");
}

#[tokio::test]
async fn an_unreachable_lambda_api_is_sdk_client_exception() {
    let closed = closed_port().await;
    let endpoint = Url::parse(&format!("http://{closed}")).ok();
    let targets = Targets::new(
        TargetConfig::default(),
        LambdaApi::new(endpoint, credentials()),
    )
    .expect("targets");
    let outcome = targets
        .invoke(&invocation(
            "arn:aws:lambda:us-east-1:123456789012:function:hello",
            json!({}),
        ))
        .await;
    let (error, cause) = failed(&outcome);
    assert_eq!(error, "Lambda.SdkClientException");
    let cause = cause.expect("cause");
    assert!(
        cause.starts_with(&format!(
            "Unable to execute HTTP request to http://{closed}/2015-03-31/functions/"
        )),
        "{cause}"
    );
}

#[tokio::test]
async fn bad_parameters_fail_before_any_request() {
    let targets = targets().await;
    let outcome = targets
        .invoke(&invocation(
            "arn:aws:states:::lambda:invoke",
            json!({"Payload": {}}),
        ))
        .await;
    assert_eq!(
        failed(&outcome),
        (
            "States.TaskFailed",
            Some("lambda:invoke: the parameter FunctionName is required")
        )
    );
    let outcome = targets
        .invoke(&invocation(
            "arn:aws:states:::lambda:invoke",
            json!({"FunctionName": "bad name"}),
        ))
        .await;
    assert_eq!(failed(&outcome).0, "States.TaskFailed");
    assert_ne!(outcome, TaskOutcome::TimedOut);
}
