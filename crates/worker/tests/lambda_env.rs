//! The production set-up, `Targets::from_env`: endpoint from `AWS_ENDPOINT_URL_LAMBDA`,
//! credentials from the standard chain's environment variables.
//!
//! This binary holds ONE test, which sets the variables before any other thread exists:
//! changing the environment while other threads read it is not safe.

mod common;

use cairn_worker::{TargetConfig, Targets};
use common::*;
use serde_json::json;

#[test]
fn from_env_reads_the_endpoint_and_credentials_from_the_environment() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    listener.set_nonblocking(true).expect("nonblocking");

    // Only this thread runs yet; nothing reads the environment concurrently.
    for (name, value) in [
        ("AWS_ENDPOINT_URL_LAMBDA", format!("http://{addr}")),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
    ] {
        std::env::set_var(name, value);
    }
    std::env::remove_var("AWS_SESSION_TOKEN");
    std::env::remove_var("AWS_PROFILE");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
        tokio::spawn(serve(listener));
        let targets = Targets::from_env(TargetConfig::default())
            .await
            .expect("targets");
        let outcome = targets
            .invoke(&invocation(
                "arn:aws:states:::lambda:invoke",
                json!({"FunctionName": "hello", "Payload": {"via": "env"}}),
            ))
            .await;
        let result = succeeded(outcome);
        assert_eq!(result["Payload"]["payload"], json!({"via": "env"}));
        assert_eq!(result["Payload"]["key"], KEY);
        let auth = result["Payload"]["authorization"].as_str().expect("auth");
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=test/"),
            "{auth}"
        );
        assert!(auth.contains("/us-east-1/lambda/aws4_request"), "{auth}");

        // A function error through the same path.
        let outcome = targets
            .invoke(&invocation(
                "arn:aws:lambda:us-east-1:123456789012:function:fails",
                json!({}),
            ))
            .await;
        assert_eq!(failed(&outcome).0, "PaymentDeclined");
    });
}
