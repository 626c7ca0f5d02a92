//! The `cairn server` replicas: each on a fixed loopback port so that it comes back at
//! the same address after a `kill -9`, logging to a file of its own (appended across
//! restarts).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

pub struct Replica {
    pub port: u16,
    pub log: PathBuf,
    child: Option<tokio::process::Child>,
}

/// How every replica is started.
pub struct Launch {
    pub cairn: PathBuf,
    pub database_url: String,
    pub functions: String,
    pub lease_seconds: u64,
    /// `CAIRN_API_CREDENTIALS` of every replica (`ID:SECRET`); `None` leaves the API open.
    pub credentials: Option<String>,
    /// More environment (moto's S3 endpoint and dummy credentials, with `--moto`).
    pub env: Vec<(String, String)>,
}

impl Replica {
    pub fn new(port: u16, log: PathBuf) -> Replica {
        Replica {
            port,
            log,
            child: None,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    pub fn start(&mut self, launch: &Launch) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let mut command = tokio::process::Command::new(&launch.cairn);
        if let Some(credentials) = &launch.credentials {
            command.env("CAIRN_API_CREDENTIALS", credentials);
        }
        command.envs(launch.env.iter().map(|(k, v)| (k, v)));
        let child = command
            .arg("server")
            .env("DATABASE_URL", &launch.database_url)
            .env("CAIRN_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("CAIRN_FUNCTIONS", &launch.functions)
            .env("CAIRN_LEASE_SECONDS", launch.lease_seconds.to_string())
            .env("CAIRN_POOL_SIZE", "8")
            // The fan-out's 4-item Maps keep their items, results and input as rows, so
            // kills land on stored Maps too (a real deployment stores only large ones).
            .env("CAIRN_STORE_MAP_ITEMS_OVER", "2")
            // An asynchronous Express run of a killed replica starts again elsewhere
            // within seconds (the default 30 s lease would outlast the run).
            .env("CAIRN_EXPRESS_LEASE", "6s")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} (build it first: cargo build -p cairn)",
                    launch.cairn.display()
                )
            })?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL: no shutdown, no lease released, nothing flushed.
    pub async fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// Whether the process has exited by itself (it should never).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// `cairn_task_lease_takeovers_total` as this process counts it (0 if it does not
    /// answer): tasks it leased after another worker's lease had expired.
    pub async fn takeovers(&self, http: &reqwest::Client) -> u64 {
        let url = format!("http://127.0.0.1:{}/metrics", self.port);
        let Ok(response) = http.get(&url).send().await else {
            return 0;
        };
        let text = response.text().await.unwrap_or_default();
        text.lines()
            .filter(|line| line.starts_with("cairn_task_lease_takeovers_total"))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    pub async fn healthy(&self, http: &reqwest::Client, patience: Duration) -> Result<()> {
        let deadline = Instant::now() + patience;
        loop {
            let url = format!("http://127.0.0.1:{}/healthz", self.port);
            if let Ok(r) = http.get(&url).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "replica on port {} not healthy after {patience:?}; see {}",
                    self.port,
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
