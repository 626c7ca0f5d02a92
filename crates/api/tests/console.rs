//! The console's routes over HTTP on loopback, on the in-memory store: the page and its
//! embedded bundle with their headers, and `POST /console/api/<Operation>` answering as
//! the API does, for the operations the console uses only, behind the cross-site guard.
//! (The pages themselves are tested in a browser: `e2e/test_console.py`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use cairn_api::{ApiConfig, ApiState};
use cairn_store::memory::MemoryStore;
use cairn_worker::TargetConfig;
use serde_json::{json, Value};

async fn serve() -> (String, reqwest::Client) {
    let api = ApiState::new(
        MemoryStore::new(),
        ApiConfig::default(),
        support::task_targets(TargetConfig::default()),
    );
    let app = cairn_api::router(api.clone()).merge(cairn_api::console::router(api));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    (format!("http://{addr}"), client)
}

async fn console(
    client: &reqwest::Client,
    base: &str,
    operation: &str,
    content_type: &str,
    body: Value,
) -> (u16, Value) {
    let reply = client
        .post(format!("{base}/console/api/{operation}"))
        .header("content-type", content_type)
        .header("x-cairn-console", "1")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    (
        status,
        serde_json::from_slice(&reply.bytes().await.unwrap()).unwrap(),
    )
}

#[tokio::test]
async fn pages_and_assets_are_served_from_the_binary() {
    let (base, client) = serve().await;
    let reply = client.get(format!("{base}/console")).send().await.unwrap();
    assert_eq!(reply.status().as_u16(), 308);
    assert_eq!(reply.headers()["location"], "/console/");
    for path in [
        "/console/",
        "/console/state-machines/arn:aws:states:us-east-1:123456789012:stateMachine:m",
        "/console/executions/arn:aws:states:us-east-1:123456789012:execution:m:e",
    ] {
        let reply = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(reply.status().as_u16(), 200, "{path}");
        assert!(reply.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let csp = reply.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"));
        let page = reply.text().await.unwrap();
        assert!(page.contains(r#"src="/console/assets/app.js""#), "{page}");
        assert!(
            page.contains("no sign-in"),
            "the page says the console is open"
        );
    }
    let reply = client
        .get(format!("{base}/console/assets/app.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 200);
    assert!(reply.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert_eq!(
        reply.text().await.unwrap(),
        include_str!("../../../console/dist/app.js")
    );
    let reply = client
        .get(format!("{base}/console/assets/nothing.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 404);
}

#[tokio::test]
async fn console_calls_answer_as_the_api_behind_the_guard() {
    let (base, client) = serve().await;
    let machine = client
        .post(format!("{base}/"))
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", "AWSStepFunctions.CreateStateMachine")
        .body(
            json!({
                "name": "m",
                "roleArn": support::ROLE,
                "definition": r#"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":3600,"End":true}}}"#,
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let machine: Value = serde_json::from_slice(&machine.bytes().await.unwrap()).unwrap();
    let arn = machine["stateMachineArn"].as_str().unwrap().to_string();

    let (status, listed) = console(
        &client,
        &base,
        "ListStateMachines",
        "application/json",
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(listed["stateMachines"][0]["stateMachineArn"], arn);

    // The API's own errors, as the API shapes them.
    let (status, error) = console(
        &client,
        &base,
        "DescribeExecution",
        "application/json",
        json!({"executionArn": "arn:aws:states:us-east-1:123456789012:execution:m:none"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(error["__type"]
        .as_str()
        .unwrap()
        .ends_with("#ExecutionDoesNotExist"));

    // A form's content type is refused before anything runs.
    let (status, error) = console(
        &client,
        &base,
        "StartExecution",
        "text/plain",
        json!({"stateMachineArn": arn}),
    )
    .await;
    assert_eq!(status, 403);
    assert!(error["__type"]
        .as_str()
        .unwrap()
        .ends_with("#AccessDeniedException"));
    let (_, listed) = console(
        &client,
        &base,
        "ListExecutions",
        "application/json",
        json!({"stateMachineArn": arn}),
    )
    .await;
    assert_eq!(listed["executions"], json!([]));

    // Only the operations the console uses.
    let (status, error) = console(
        &client,
        &base,
        "DeleteStateMachine",
        "application/json",
        json!({"stateMachineArn": arn}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(error["__type"]
        .as_str()
        .unwrap()
        .ends_with("#UnknownOperationException"));
    let (status, started) = console(
        &client,
        &base,
        "StartExecution",
        "application/json; charset=utf-8",
        json!({"stateMachineArn": arn, "name": "e"}),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    assert!(started["executionArn"]
        .as_str()
        .unwrap()
        .ends_with(":execution:m:e"));
}
