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

/// With API keys: nothing runs without a session; signing in sets an HttpOnly,
/// SameSite=Strict cookie; the session acts within its key's policy; a forged, expired
/// or cross-site use is refused; rotating the key ends the session.
#[tokio::test]
async fn with_api_keys_the_console_needs_a_session_within_the_key_policy() {
    use cairn_api::auth::keys::{Keys, KeysConfig, Source};
    let keys = Keys::load(KeysConfig {
        credentials: Source::Inline("FULL:full-secret,READER:reader-secret".to_string()),
        policies: Some(Source::Inline(r#"{"READER": "read-only"}"#.to_string())),
    })
    .unwrap();
    let api = ApiState::new(
        MemoryStore::new(),
        ApiConfig::default(),
        support::task_targets(TargetConfig::default()),
    )
    .with_auth(cairn_api::auth::Auth::with_keys(keys));
    let app = cairn_api::console::router(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let client = reqwest::Client::new();
    let post = |path: &str, cookie: Option<&str>, body: Value| {
        let mut request = client
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .header("x-cairn-console", "1")
            .body(body.to_string());
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        async move {
            let reply = request.send().await.unwrap();
            let status = reply.status().as_u16();
            let set_cookie = reply
                .headers()
                .get("set-cookie")
                .map(|v| v.to_str().unwrap().to_string());
            let body: Value = serde_json::from_slice(&reply.bytes().await.unwrap()).unwrap();
            (status, body, set_cookie)
        }
    };

    let (status, body, _) = post("/console/auth/status", None, json!({})).await;
    assert_eq!(
        (status, &body),
        (200, &json!({"open": false, "accessKeyId": null}))
    );
    let (status, body, _) = post("/console/api/ListStateMachines", None, json!({})).await;
    assert_eq!(status, 403, "{body}");

    let (status, _, cookie) = post(
        "/console/auth/sign-in",
        None,
        json!({"accessKeyId": "READER", "secretAccessKey": "wrong"}),
    )
    .await;
    assert_eq!((status, cookie), (403, None));
    let (status, _, cookie) = post(
        "/console/auth/sign-in",
        None,
        json!({"accessKeyId": "NOBODY", "secretAccessKey": "reader-secret"}),
    )
    .await;
    assert_eq!((status, cookie), (403, None));

    let (status, body, cookie) = post(
        "/console/auth/sign-in",
        None,
        json!({"accessKeyId": "READER", "secretAccessKey": "reader-secret"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let set_cookie = cookie.expect("a session cookie");
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/console",
        "Max-Age=43200",
    ] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(!set_cookie.contains("reader-secret"));
    let session = set_cookie.split(';').next().unwrap().to_string();

    let (status, body, _) = post("/console/auth/status", Some(&session), json!({})).await;
    assert_eq!(
        (status, body["accessKeyId"].as_str()),
        (200, Some("READER"))
    );
    let (status, body, _) = post("/console/api/ListStateMachines", Some(&session), json!({})).await;
    assert_eq!(status, 200, "{body}");
    let machine = "arn:aws:states:us-east-1:123456789012:stateMachine:m";
    let (status, body, _) = post(
        "/console/api/StartExecution",
        Some(&session),
        json!({"stateMachineArn": machine}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["message"], format!("User: arn:aws:iam::123456789012:user/READER is not authorized to perform: states:StartExecution on resource: {machine} because no identity-based policy allows the states:StartExecution action"));

    // A cookie for another key, one re-dated, and one already expired: refused.
    let forged = session.replace("v1.READER.", "v1.FULL.");
    // `<name>=v1.<key id>.<expiry>.<mac>`
    let expiry = session.split('.').nth(2).unwrap().to_string();
    let redated = session.replace(&format!(".{expiry}."), ".99999999999.");
    let expired = format!(
        "{}={}",
        cairn_api::console::session::COOKIE,
        cairn_api::console::session::issue("reader-secret", "READER", 1)
    );
    for cookie in [forged, redated, expired] {
        let (status, _, _) = post("/console/api/ListStateMachines", Some(&cookie), json!({})).await;
        assert_eq!(status, 403, "{cookie}");
    }

    let (status, _, cleared) = post("/console/auth/sign-out", Some(&session), json!({})).await;
    assert_eq!(status, 200);
    assert!(cleared.unwrap().contains("Max-Age=0"));
}
