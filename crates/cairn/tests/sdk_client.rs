//! The AWS SDK for Rust (`aws-sdk-sfn`) as a client of a real `cairn server` whose API
//! requires SigV4: the SDK's own signing is accepted with the configured key, and a wrong
//! secret or an unknown key is refused with AWS's error codes, changing nothing.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sfn::error::ProvideErrorMetadata;
use cairn_store::testing;

const KEY: &str = "AKIDCAIRNSDKTEST";
const SECRET: &str = "sdk-test-secret-not-used-anywhere-else";
const ROLE: &str = "arn:aws:iam::123456789012:role/sdk";

struct Server {
    child: Child,
    endpoint: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn launch(database_url: &str) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("server")
        .env("DATABASE_URL", database_url)
        .env("CAIRN_LISTEN", format!("127.0.0.1:{port}"))
        .env("CAIRN_API_CREDENTIALS", format!("{KEY}:{SECRET}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cairn server starts");
    let server = Server {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let ready = format!("{}/readyz", server.endpoint);
    loop {
        let up = reqwest::get(&ready).await.map(|r| r.status().is_success());
        if up.unwrap_or(false) {
            return server;
        }
        assert!(Instant::now() < deadline, "server never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn client(endpoint: &str, key: &str, secret: &str) -> aws_sdk_sfn::Client {
    let config = aws_sdk_sfn::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(key, secret, None, None, "cairn-test"))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_sfn::Client::from_conf(config)
}

fn pass_machine() -> String {
    r#"{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}"#.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_sdk_is_verified_and_refused_as_aws_refuses_it() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = testing::fresh_database_url("sdk_client");
    let server = launch(&url).await;
    let signed = client(&server.endpoint, KEY, SECRET);

    let created = signed
        .create_state_machine()
        .name("sdk-signed")
        .definition(pass_machine())
        .role_arn(ROLE)
        .send()
        .await
        .expect("a request signed with the configured key is served");
    let started = signed
        .start_execution()
        .state_machine_arn(created.state_machine_arn())
        .name("first")
        .input("{\"n\": 1}")
        .send()
        .await
        .expect("start");
    assert!(started.execution_arn().ends_with(":sdk-signed:first"));

    let wrong_secret = client(&server.endpoint, KEY, "not-the-secret");
    let refused = wrong_secret
        .create_state_machine()
        .name("sdk-wrong-secret")
        .definition(pass_machine())
        .role_arn(ROLE)
        .send()
        .await
        .expect_err("a wrong secret is refused");
    assert_eq!(
        refused.code(),
        Some("InvalidSignatureException"),
        "{refused:?}"
    );

    let unknown_key = client(&server.endpoint, "AKIDNOBODY", SECRET);
    let refused = unknown_key
        .list_state_machines()
        .send()
        .await
        .expect_err("an unknown key is refused");
    assert_eq!(
        refused.code(),
        Some("UnrecognizedClientException"),
        "{refused:?}"
    );

    // The refused create changed nothing.
    let names: Vec<String> = signed
        .list_state_machines()
        .send()
        .await
        .expect("list")
        .state_machines()
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    assert_eq!(names, ["sdk-signed"]);
}
