//! Signed approval links end to end: a workflow's `http:invoke.waitForTaskToken` task
//! asks this server for links (`POST /approval-links`), a person follows one. Real
//! Postgres, real HTTP on loopback (the worker's HTTP Task calls the server itself), the
//! real scheduler and worker loops in-process.

mod support;

use std::time::{Duration, Instant};

use cairn_api::approval::link::SigningKey;
use cairn_api::approval::{self, ApprovalConfig};
use cairn_api::{router, ApiConfig, ApiState};
use cairn_scheduler::{Scheduler, SchedulerConfig};
use cairn_store::postgres::PgStore;
use cairn_store::{Channel, Store};
use cairn_worker::runner::{self, RunnerConfig};
use serde_json::{json, Value};
use support::{unique, Harness};
use tokio::sync::watch;

const KEY: &[u8] = b"an approval key of at least 32 bytes, for tests";

/// The scheduler and worker loops; dropped with the test's runtime.
fn engine(store: &PgStore) -> watch::Sender<bool> {
    let (stop, stopping) = watch::channel(false);
    let scheduler = Scheduler::new(
        store.clone(),
        SchedulerConfig {
            idle_poll: Duration::from_millis(200),
            ..SchedulerConfig::default()
        },
    );
    let inbox = store.doorbell(Channel::Inbox);
    let scheduler_stop = stopping.clone();
    tokio::spawn(async move { scheduler.run(inbox, scheduler_stop).await });
    let config = RunnerConfig {
        owner: unique("worker"),
        concurrency: 4,
        lease: Duration::from_secs(30),
        idle_poll: Duration::from_millis(200),
    };
    tokio::spawn(runner::run(
        store.clone(),
        support::task_targets(Default::default()),
        config,
        store.doorbell(Channel::Tasks),
        stopping,
        None,
    ));
    stop
}

/// The API with approval links on, on a database of its own, and the engine.
async fn harness(suffix: &str) -> (Harness, watch::Sender<bool>) {
    let base = Harness::isolated(suffix).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let api = ApiState::new(
        base.store.clone(),
        ApiConfig::default(),
        support::task_targets(Default::default()),
    );
    let config = ApprovalConfig {
        key: SigningKey::new(KEY).expect("a long key"),
        // A trailing slash is tolerated.
        public_url: format!("http://{addr}/"),
    };
    let app = router(api.clone()).merge(approval::router(api, config));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let stop = engine(&base.store);
    (
        Harness {
            base: format!("http://{addr}/"),
            ..base
        },
        stop,
    )
}

/// The seed's approval step, reduced: the waiting task asks for links; approval goes on
/// to `Approved`, rejection is caught into `Denied`.
fn machine(base: &str, expires: u64) -> Value {
    json!({
        "StartAt": "RequestApproval",
        "States": {
            "RequestApproval": {
                "Type": "Task",
                "Resource": "arn:aws:states:::http:invoke.waitForTaskToken",
                "Parameters": {
                    "ApiEndpoint": format!("{base}approval-links"),
                    "Method": "POST",
                    "RequestBody": {"taskToken.$": "$$.Task.Token", "expiresInSeconds": expires}
                },
                "ResultPath": "$.decision",
                "Catch": [{"ErrorEquals": ["Rejected"], "ResultPath": "$.rejection", "Next": "Denied"}],
                "Next": "Approved"
            },
            "Approved": {"Type": "Pass", "End": true},
            "Denied": {"Type": "Pass", "End": true}
        }
    })
}

async fn start(h: &Harness, definition: &Value) -> String {
    let machine = h.machine(&unique("approval"), definition).await;
    h.call(
        "StartExecution",
        json!({"stateMachineArn": machine, "input": "{\"request\":\"laptop\"}"}),
    )
    .await
    .ok()["executionArn"]
        .as_str()
        .expect("executionArn")
        .to_string()
}

async fn history(h: &Harness, arn: &str) -> Vec<Value> {
    h.call(
        "GetExecutionHistory",
        json!({"executionArn": arn, "maxResults": 1000}),
    )
    .await
    .ok()["events"]
        .as_array()
        .expect("events")
        .clone()
}

/// The links the waiting task received: the HTTP Task's answer, in `TaskSubmitted`.
async fn links(h: &Harness, arn: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        for event in history(h, arn).await {
            if event["type"] == "TaskSubmitted" {
                let output = event["taskSubmittedEventDetails"]["output"]
                    .as_str()
                    .expect("output");
                let output: Value = serde_json::from_str(output).expect("JSON output");
                assert_eq!(output["StatusCode"], 200, "{output}");
                return output["ResponseBody"].clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{arn} never recorded TaskSubmitted: {:?}",
        history(h, arn).await
    );
}

async fn describe(h: &Harness, arn: &str) -> Value {
    h.call("DescribeExecution", json!({"executionArn": arn}))
        .await
        .ok()
}

async fn wait_end(h: &Harness, arn: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let described = describe(h, arn).await;
        if described["status"] != "RUNNING" {
            return described;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{arn} did not finish");
}

/// A page: its status and body.
async fn get(h: &Harness, url: &str) -> (u16, String) {
    let response = h.client.get(url).send().await.expect("GET");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// Presses the confirmation form's button: posts the link's fields, as a browser does.
async fn press(h: &Harness, url: &str) -> (u16, String) {
    let query = url.split_once('?').expect("a query").1;
    let response = h
        .client
        .post(format!("{}approval", h.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query.to_string())
        .send()
        .await
        .expect("POST");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// `url` with query field `name` set to `value` (the rest untouched).
fn with_field(url: &str, name: &str, value: &str) -> String {
    let (path, query) = url.split_once('?').expect("a query");
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (n, v) in form_urlencoded::parse(query.as_bytes()) {
        out.append_pair(&n, if n == name { value } else { &v });
    }
    format!("{path}?{}", out.finish())
}

fn field(url: &str, name: &str) -> String {
    let query = url.split_once('?').expect("a query").1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
        .expect("the field")
}

#[tokio::test]
async fn refused_links_change_nothing_and_approval_completes_once() {
    let (h, _stop) = harness("approve").await;
    let arn = start(&h, &machine(&h.base, 3600)).await;
    let links = links(&h, &arn).await;
    let approve = links["approveUrl"]
        .as_str()
        .expect("approveUrl")
        .to_string();
    let reject = links["rejectUrl"].as_str().expect("rejectUrl").to_string();
    assert!(
        approve.starts_with(&format!("{}approval?", h.base)),
        "{approve}"
    );
    let expires_at = links["expiresAt"].as_i64().expect("expiresAt");
    let now = chrono::Utc::now().timestamp();
    assert!((now + 3590..=now + 3600).contains(&expires_at), "{links}");

    // GET only shows the form; fetching it twice (a preview bot) completes nothing.
    for _ in 0..2 {
        let (status, page) = get(&h, &approve).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("<form method=\"post\""), "{page}");
        assert!(page.contains(">Approve</button>"), "{page}");
    }

    // Tampering: another signature, the other action under this signature, a later
    // expiry, an expired (but correctly signed) link, a missing field.
    let signature = field(&approve, "signature");
    let mut flipped = signature.into_bytes();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    let tampered = with_field(
        &approve,
        "signature",
        &String::from_utf8(flipped).expect("ascii"),
    );
    let wrong_action = with_field(&approve, "action", "reject");
    let later = with_field(&approve, "expires", &(expires_at + 60).to_string());
    let key = SigningKey::new(KEY).expect("key");
    let token = field(&approve, "token");
    let expired_link = cairn_api::approval::link::Link {
        token: &token,
        action: cairn_api::approval::link::Action::Approve,
        expires: now - 1,
    };
    let expired = format!("{}approval?{}", h.base, expired_link.query(&key));
    let missing = approve.replace("&signature=", "&nosignature=");
    for (url, code, title) in [
        (&tampered, 400, "Invalid link"),
        (&wrong_action, 400, "Invalid link"),
        (&later, 400, "Invalid link"),
        (&missing, 400, "Invalid link"),
        (&expired, 410, "Expired"),
    ] {
        let (status, page) = get(&h, url).await;
        assert_eq!(
            (status, page.contains(title)),
            (code, true),
            "GET {url}: {page}"
        );
        let (status, page) = press(&h, url).await;
        assert_eq!(
            (status, page.contains(title)),
            (code, true),
            "POST {url}: {page}"
        );
    }
    // Still waiting, its token still open: nothing above reached the store.
    assert_eq!(describe(&h, &arn).await["status"], "RUNNING");
    let types: Vec<Value> = history(&h, &arn)
        .await
        .into_iter()
        .map(|e| e["type"].clone())
        .collect();
    assert!(!types.contains(&json!("TaskSucceeded")), "{types:?}");
    assert!(!types.contains(&json!("TaskFailed")), "{types:?}");

    let (status, page) = press(&h, &approve).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<h1>Approved</h1>"), "{page}");
    let described = wait_end(&h, &arn).await;
    assert_eq!(described["status"], "SUCCEEDED", "{described}");
    let output: Value =
        serde_json::from_str(described["output"].as_str().expect("output")).expect("JSON");
    assert_eq!(output["request"], "laptop");
    assert_eq!(output["decision"]["approved"], true, "{output}");
    let decided_at = output["decision"]["decidedAt"].as_str().expect("decidedAt");
    assert!(
        chrono::DateTime::parse_from_rfc3339(decided_at).is_ok(),
        "{decided_at}"
    );
    let last = history(&h, &arn).await;
    assert!(
        last.iter().any(|e| e["type"] == "PassStateEntered"
            && e["stateEnteredEventDetails"]["name"] == "Approved"),
        "{last:?}"
    );

    // A second click, on either link, or a SendTaskSuccess with the token: answered.
    for url in [&approve, &reject] {
        let (status, page) = press(&h, url).await;
        assert_eq!(status, 409, "{page}");
        assert!(page.contains("Already answered"), "{page}");
        let (status, page) = get(&h, url).await;
        assert_eq!(status, 409, "{page}");
    }
    // Minting links for the spent token answers as SendTask* would.
    let reply = h
        .client
        .post(format!("{}approval-links", h.base))
        .body(json!({"taskToken": token}).to_string())
        .send()
        .await
        .expect("POST");
    assert_eq!(reply.status().as_u16(), 400);
    let body: Value = serde_json::from_str(&reply.text().await.expect("body")).expect("JSON");
    assert!(
        body["__type"]
            .as_str()
            .unwrap_or_default()
            .ends_with("#TaskTimedOut"),
        "{body}"
    );
}

#[tokio::test]
async fn rejection_takes_the_catch_path() {
    let (h, _stop) = harness("reject").await;
    let arn = start(&h, &machine(&h.base, 600)).await;
    let links = links(&h, &arn).await;
    let reject = links["rejectUrl"].as_str().expect("rejectUrl").to_string();
    let (status, page) = get(&h, &reject).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(">Reject</button>"), "{page}");
    let (status, page) = press(&h, &reject).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<h1>Rejected</h1>"), "{page}");

    let described = wait_end(&h, &arn).await;
    assert_eq!(described["status"], "SUCCEEDED", "{described}");
    let output: Value =
        serde_json::from_str(described["output"].as_str().expect("output")).expect("JSON");
    assert_eq!(output["rejection"]["Error"], "Rejected", "{output}");
    assert_eq!(
        output["rejection"]["Cause"], "Rejected through an approval link",
        "{output}"
    );
    let events = history(&h, &arn).await;
    assert!(
        events.iter().any(|e| e["type"] == "PassStateEntered"
            && e["stateEnteredEventDetails"]["name"] == "Denied"),
        "{events:?}"
    );
    let approve = links["approveUrl"].as_str().expect("approveUrl");
    let (status, _) = press(&h, approve).await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn minting_refuses_unknown_tokens_and_bad_expiries() {
    let (h, _stop) = harness("mint").await;
    let post = |body: Value| {
        let client = h.client.clone();
        let url = format!("{}approval-links", h.base);
        async move {
            let reply = client
                .post(url)
                .body(body.to_string())
                .send()
                .await
                .expect("POST");
            let status = reply.status().as_u16();
            let body: Value =
                serde_json::from_str(&reply.text().await.expect("body")).expect("JSON");
            (
                status,
                body["__type"].as_str().unwrap_or_default().to_string(),
            )
        }
    };
    let (status, kind) = post(json!({"taskToken": "no-such-token"})).await;
    assert_eq!(
        (status, kind.ends_with("#InvalidToken")),
        (400, true),
        "{kind}"
    );
    let (status, kind) = post(json!({})).await;
    assert_eq!(
        (status, kind.ends_with("#ValidationException")),
        (400, true),
        "{kind}"
    );
    for expires in [0, 365 * 24 * 3600 + 1] {
        let (status, kind) =
            post(json!({"taskToken": "no-such-token", "expiresInSeconds": expires})).await;
        assert_eq!(
            (status, kind.ends_with("#ValidationException")),
            (400, true),
            "{kind}"
        );
    }
    // A well-signed link whose token never existed is still an invalid link.
    let key = SigningKey::new(KEY).expect("key");
    let link = cairn_api::approval::link::Link {
        token: "no-such-token",
        action: cairn_api::approval::link::Action::Approve,
        expires: chrono::Utc::now().timestamp() + 600,
    };
    let url = format!("{}approval?{}", h.base, link.query(&key));
    let (status, page) = press(&h, &url).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("Invalid link"), "{page}");
}
