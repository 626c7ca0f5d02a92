//! moto's S3 server (`python -m moto.server`), started by a test on a free loopback
//! port and stopped when the test ends.
//!
//! Python comes from `CAIRN_TEST_PYTHON`, else from the venv `scripts/test.sh` builds
//! (`target/e2e-venv`, with `e2e/requirements.txt`'s pinned `moto[server]`). Without
//! either the test fails and says how to get one: it never skips.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use cairn_worker::s3::{S3Client, S3Config};
use url::Url;

pub struct Moto {
    child: Child,
    pub endpoint: Url,
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Only the process this test started, by its id.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("CAIRN_TEST_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/e2e-venv/bin/python");
    if !venv.exists() {
        panic!(
            "moto's S3 server is needed and no Python with moto[server] was found: run \
             scripts/test.sh (it creates target/e2e-venv from e2e/requirements.txt before \
             cargo test), or set CAIRN_TEST_PYTHON to a python that has moto[server]==5.2.5"
        );
    }
    venv
}

impl Moto {
    pub fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let python = python();
        let child = Command::new(&python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto with {}: {e}", python.display()));
        let moto = Moto {
            child,
            endpoint: Url::parse(&format!("http://127.0.0.1:{port}")).expect("url"),
        };
        // Readiness, not timing: poll until the port answers (bounded, so a broken
        // install fails the test instead of hanging it).
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto did not start listening on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// A client of this moto, path-style (its endpoint is an IP address).
    pub fn client(&self) -> S3Client {
        S3Client::new(
            S3Config {
                region: "us-east-1".into(),
                endpoint: Some(self.endpoint.clone()),
                force_path_style: false,
            },
            Credentials::new("test", "test-secret", None, None, "test"),
        )
        .expect("client")
    }
}
