//! Cairn's configuration: one typed struct, loaded once at start from an optional TOML
//! file and then the environment (`DATABASE_URL`, `CAIRN_*`), which wins. Every field is
//! documented in `docs/configuration.md`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Postgres connection URL. The database is created if it does not exist.
    pub database_url: String,
    /// Address the Step Functions API listens on.
    pub listen: SocketAddr,
    /// Region used in ARNs.
    pub region: String,
    /// Account id used in ARNs.
    pub account: String,
    /// Most Postgres connections this process opens.
    pub pool_size: u32,
    /// Scheduler loops in this process.
    pub schedulers: usize,
    /// Most executions one scheduler transaction advances.
    pub scheduler_batch: i64,
    /// Most task invocations in flight in this process.
    pub worker_concurrency: usize,
    /// How long a worker's lease on a task lasts before another worker may take it over;
    /// renewed while the invocation runs.
    pub lease_seconds: u64,
    /// Largest state input/output, in bytes (AWS: 262144).
    pub max_payload_bytes: usize,
    /// Most history events per execution (AWS: 25000).
    pub max_history_events: usize,
    /// Inline Maps of more items than this keep their items, results and input as rows
    /// instead of in the execution's snapshot.
    pub store_map_items_over: usize,
    /// Address S3 buckets path-style (`host/bucket/key`) whatever the endpoint, as a
    /// MinIO-like store behind a host name wants (IP addresses and `localhost` get
    /// path-style anyway).
    pub s3_force_path_style: bool,
    /// Lambda function names served by plain HTTP URLs instead of the Lambda API.
    pub functions: BTreeMap<String, String>,
    /// Key that signs approval links (at least 32 bytes); approval links are off without it.
    pub approval_key: Option<Secret>,
    /// Base URL approval links start with, as their readers reach this server; default
    /// `http://<listen>`.
    pub public_url: Option<String>,
    /// StartExecution's token bucket in this process: most starts admitted at once; 0
    /// (the default) turns throttling of StartExecution off. AWS: 1300.
    pub start_execution_bucket: u32,
    /// Tokens StartExecution's bucket regains per second. AWS: 300.
    pub start_execution_refill: f64,
    /// The bucket of every other API action (each its own) in this process; 0 (the
    /// default) turns it off.
    pub api_bucket: u32,
    /// Tokens each other action's bucket regains per second.
    pub api_refill: f64,
    /// The state-transition token bucket of this process's schedulers (AWS's
    /// StateTransition quota, shared by every state machine): the most transitions made
    /// at once; 0 (the default) turns it off. AWS (Standard, large Regions): 5000.
    pub transition_bucket: u32,
    /// Transitions the bucket regains per second; more than 0. AWS: 5000.
    pub transition_refill: f64,
    /// A Step Functions Local mock configuration (`MockConfigFile.json`): StartExecution
    /// on `…:stateMachine:NAME#CASE` runs test case `CASE`, whose mocked states invoke
    /// nothing. Off by default.
    pub mock_config: Option<PathBuf>,
    /// How long a closed execution (with its history and everything else of it) is
    /// kept before the retention loop deletes it. AWS: 90 days.
    pub retention: Span,
    /// How often each replica's retention loop looks for executions to delete.
    pub retention_interval: Span,
    /// Most executions one retention transaction deletes.
    pub retention_batch: i64,
    /// How long an asynchronous Express run's lease lasts without renewal: after a
    /// replica dies, its runs start again on another replica within about this long.
    pub express_lease: Span,
    /// How often a replica renews its Express leases and looks for expired ones; a
    /// third of `express_lease` when unset. Must be shorter than the lease.
    pub express_renew: Option<Span>,
    /// How many times an asynchronous Express run may be taken over before it is
    /// abandoned (ended FAILED in the log): a run that stops every replica that runs it
    /// must not go round the cluster for ever.
    pub express_max_takeovers: i32,
    /// How long a Standard execution may run, from its start, redrives included, before
    /// it times out with `States.Timeout`. AWS: one year.
    pub max_execution_time: Span,
    /// The API's access keys, `ACCESS_KEY_ID:SECRET` pairs separated by commas: every
    /// request must then carry a valid SigV4 signature of one of them. With neither this
    /// nor `api_credentials_file`, the API is open.
    pub api_credentials: Option<Secret>,
    /// A file of `ACCESS_KEY_ID:SECRET` lines (a mounted Kubernetes Secret), re-read
    /// when it changes.
    pub api_credentials_file: Option<PathBuf>,
    /// Each key's policy: a JSON object from access key id to `"full"`, `"read-only"` or
    /// an IAM-shaped policy document. Keys not named have full access.
    pub api_policies: Option<String>,
    /// The same JSON in a file, re-read when it changes.
    pub api_policies_file: Option<PathBuf>,
    /// PEM certificate chain the API's listener serves over TLS (with `tls_key`);
    /// re-read when it changes. Without both, the listener speaks plain HTTP.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Bearer token `/metrics` asks for; without it `/metrics` is open (health
    /// endpoints always are).
    pub metrics_token: Option<Secret>,
}

/// A duration as settings write it: a number and a unit, `d`, `h`, `m` or `s` (`90d`,
/// `12h`, `30s`); a bare number is seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Span(pub std::time::Duration);

impl Span {
    pub const fn days(days: u64) -> Span {
        Span(std::time::Duration::from_secs(days * 86_400))
    }
}

impl std::str::FromStr for Span {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Span, String> {
        let text = text.trim();
        let (number, unit) = match text.char_indices().last() {
            Some((at, unit)) if unit.is_ascii_alphabetic() => (&text[..at], unit),
            _ => (text, 's'),
        };
        let scale = match unit {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return Err(format!("{text:?}: the unit must be d, h, m or s")),
        };
        let number: u64 = number
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not a whole number and a unit (90d, 12h, 30s)"))?;
        number
            .checked_mul(scale)
            .filter(|&seconds| seconds > 0)
            .map(|seconds| Span(std::time::Duration::from_secs(seconds)))
            .ok_or_else(|| format!("{text:?} must be more than 0 and less than forever"))
    }
}

impl TryFrom<String> for Span {
    type Error = String;

    fn try_from(text: String) -> std::result::Result<Span, String> {
        text.parse()
    }
}

/// A configuration value that must never reach a log: `Debug` prints it redacted.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: "postgres://postgres@127.0.0.1:5432/cairn".to_string(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8083)),
            region: "us-east-1".to_string(),
            account: "123456789012".to_string(),
            pool_size: 16,
            schedulers: 2,
            scheduler_batch: 256,
            worker_concurrency: 256,
            lease_seconds: 30,
            max_payload_bytes: 256 * 1024,
            max_history_events: 25_000,
            store_map_items_over: cairn_scheduler::STORE_MAP_ITEMS_OVER,
            s3_force_path_style: false,
            functions: BTreeMap::new(),
            approval_key: None,
            public_url: None,
            start_execution_bucket: 0,
            start_execution_refill: 300.0,
            api_bucket: 0,
            api_refill: 50.0,
            transition_bucket: 0,
            transition_refill: 5000.0,
            mock_config: None,
            retention: Span::days(cairn_store::retention::RETENTION_DAYS as u64),
            retention_interval: Span(std::time::Duration::from_secs(60)),
            retention_batch: 500,
            max_execution_time: Span::days(cairn_store::executions::MAX_OPEN_DAYS as u64),
            express_lease: Span(std::time::Duration::from_secs(30)),
            express_renew: None,
            express_max_takeovers: 3,
            api_credentials: None,
            api_credentials_file: None,
            api_policies: None,
            api_policies_file: None,
            tls_cert: None,
            tls_key: None,
            metrics_token: None,
        }
    }
}

impl Config {
    /// Reads `file` (if given), then applies the environment.
    pub fn load(file: Option<&Path>) -> Result<Config> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => Config::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        Ok(config)
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<()> {
        fn parse<T: std::str::FromStr>(name: &str, value: String) -> Result<T>
        where
            T::Err: std::fmt::Display,
        {
            value
                .parse()
                .map_err(|e| anyhow::anyhow!("{name}={value:?} is invalid: {e}"))
        }
        if let Some(v) = var("DATABASE_URL") {
            self.database_url = v;
        }
        if let Some(v) = var("CAIRN_LISTEN") {
            self.listen = parse("CAIRN_LISTEN", v)?;
        }
        if let Some(v) = var("CAIRN_REGION") {
            self.region = v;
        }
        if let Some(v) = var("CAIRN_ACCOUNT") {
            self.account = v;
        }
        if let Some(v) = var("CAIRN_POOL_SIZE") {
            self.pool_size = parse("CAIRN_POOL_SIZE", v)?;
        }
        if let Some(v) = var("CAIRN_SCHEDULERS") {
            self.schedulers = parse("CAIRN_SCHEDULERS", v)?;
        }
        if let Some(v) = var("CAIRN_SCHEDULER_BATCH") {
            self.scheduler_batch = parse("CAIRN_SCHEDULER_BATCH", v)?;
        }
        if let Some(v) = var("CAIRN_WORKER_CONCURRENCY") {
            self.worker_concurrency = parse("CAIRN_WORKER_CONCURRENCY", v)?;
        }
        if let Some(v) = var("CAIRN_LEASE_SECONDS") {
            self.lease_seconds = parse("CAIRN_LEASE_SECONDS", v)?;
        }
        if let Some(v) = var("CAIRN_MAX_PAYLOAD_BYTES") {
            self.max_payload_bytes = parse("CAIRN_MAX_PAYLOAD_BYTES", v)?;
        }
        if let Some(v) = var("CAIRN_MAX_HISTORY_EVENTS") {
            self.max_history_events = parse("CAIRN_MAX_HISTORY_EVENTS", v)?;
        }
        if let Some(v) = var("CAIRN_STORE_MAP_ITEMS_OVER") {
            self.store_map_items_over = parse("CAIRN_STORE_MAP_ITEMS_OVER", v)?;
        }
        if let Some(v) = var("CAIRN_S3_FORCE_PATH_STYLE") {
            self.s3_force_path_style = parse("CAIRN_S3_FORCE_PATH_STYLE", v)?;
        }
        if let Some(v) = var("CAIRN_APPROVAL_KEY") {
            self.approval_key = Some(Secret(v));
        }
        if let Some(v) = var("CAIRN_MOCK_CONFIG") {
            self.mock_config = Some(PathBuf::from(v));
        }
        if let Some(v) = var("CAIRN_API_CREDENTIALS") {
            self.api_credentials = Some(Secret(v));
        }
        if let Some(v) = var("CAIRN_API_CREDENTIALS_FILE") {
            self.api_credentials_file = Some(PathBuf::from(v));
        }
        if let Some(v) = var("CAIRN_API_POLICIES") {
            self.api_policies = Some(v);
        }
        if let Some(v) = var("CAIRN_API_POLICIES_FILE") {
            self.api_policies_file = Some(PathBuf::from(v));
        }
        if let Some(v) = var("CAIRN_METRICS_TOKEN") {
            self.metrics_token = Some(Secret(v));
        }
        if let Some(v) = var("CAIRN_TLS_CERT") {
            self.tls_cert = Some(PathBuf::from(v));
        }
        if let Some(v) = var("CAIRN_TLS_KEY") {
            self.tls_key = Some(PathBuf::from(v));
        }
        if let Some(v) = var("CAIRN_PUBLIC_URL") {
            self.public_url = Some(v);
        }
        if let Some(v) = var("CAIRN_START_EXECUTION_BUCKET") {
            self.start_execution_bucket = parse("CAIRN_START_EXECUTION_BUCKET", v)?;
        }
        if let Some(v) = var("CAIRN_START_EXECUTION_REFILL") {
            self.start_execution_refill = parse("CAIRN_START_EXECUTION_REFILL", v)?;
        }
        if let Some(v) = var("CAIRN_API_BUCKET") {
            self.api_bucket = parse("CAIRN_API_BUCKET", v)?;
        }
        if let Some(v) = var("CAIRN_API_REFILL") {
            self.api_refill = parse("CAIRN_API_REFILL", v)?;
        }
        if let Some(v) = var("CAIRN_TRANSITION_BUCKET") {
            self.transition_bucket = parse("CAIRN_TRANSITION_BUCKET", v)?;
        }
        if let Some(v) = var("CAIRN_TRANSITION_REFILL") {
            self.transition_refill = parse("CAIRN_TRANSITION_REFILL", v)?;
        }
        if let Some(v) = var("CAIRN_RETENTION") {
            self.retention = parse("CAIRN_RETENTION", v)?;
        }
        if let Some(v) = var("CAIRN_RETENTION_INTERVAL") {
            self.retention_interval = parse("CAIRN_RETENTION_INTERVAL", v)?;
        }
        if let Some(v) = var("CAIRN_RETENTION_BATCH") {
            self.retention_batch = parse("CAIRN_RETENTION_BATCH", v)?;
        }
        if let Some(v) = var("CAIRN_EXPRESS_LEASE") {
            self.express_lease = parse("CAIRN_EXPRESS_LEASE", v)?;
        }
        if let Some(v) = var("CAIRN_EXPRESS_RENEW") {
            self.express_renew = Some(parse("CAIRN_EXPRESS_RENEW", v)?);
        }
        if let Some(v) = var("CAIRN_EXPRESS_MAX_TAKEOVERS") {
            self.express_max_takeovers = parse("CAIRN_EXPRESS_MAX_TAKEOVERS", v)?;
        }
        if let Some(v) = var("CAIRN_MAX_EXECUTION_TIME") {
            self.max_execution_time = parse("CAIRN_MAX_EXECUTION_TIME", v)?;
        }
        // CAIRN_FUNCTIONS="name=url,name2=url2"
        if let Some(v) = var("CAIRN_FUNCTIONS") {
            for pair in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (name, url) = pair
                    .split_once('=')
                    .with_context(|| format!("CAIRN_FUNCTIONS entry {pair:?} is not name=url"))?;
                self.functions
                    .insert(name.trim().to_string(), url.trim().to_string());
            }
        }
        for (name, refill) in [
            ("start_execution_refill", self.start_execution_refill),
            ("api_refill", self.api_refill),
        ] {
            if !refill.is_finite() || refill < 0.0 {
                anyhow::bail!("{name} must be a number of tokens per second, 0 or more");
            }
        }
        if self.transition_bucket > 0
            && !(self.transition_refill.is_finite() && self.transition_refill >= 0.001)
        {
            anyhow::bail!(
                "transition_refill must be at least 0.001 tokens per second when \
                 transition_bucket is on: executions waiting for tokens would never resume"
            );
        }
        if let Some(renew) = self.express_renew {
            if renew.0 >= self.express_lease.0 {
                anyhow::bail!(
                    "express_renew ({}s) must be shorter than express_lease ({}s): leases \
                     would expire before they are renewed",
                    renew.0.as_secs(),
                    self.express_lease.0.as_secs()
                );
            }
        }
        if self.express_max_takeovers < 0 {
            anyhow::bail!("express_max_takeovers must be 0 or more");
        }
        if self.retention_batch <= 0 {
            anyhow::bail!("retention_batch must be positive");
        }
        if self.schedulers == 0 || self.scheduler_batch <= 0 || self.pool_size < 2 {
            anyhow::bail!(
                "schedulers and scheduler_batch must be positive and pool_size at least 2"
            );
        }
        Ok(())
    }

    /// The mock configuration `mock_config` names, read and checked; `None` without one.
    pub fn mocks(&self) -> Result<Option<cairn_asl::mock_config::MockConfig>> {
        let Some(path) = &self.mock_config else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading CAIRN_MOCK_CONFIG {}", path.display()))?;
        let mocks = cairn_asl::mock_config::MockConfig::parse(&text)
            .with_context(|| format!("in CAIRN_MOCK_CONFIG {}", path.display()))?;
        Ok(Some(mocks))
    }

    /// Approval links' settings, or `None` when no key is configured (the feature is off).
    pub fn approval(&self) -> Result<Option<cairn_api::approval::ApprovalConfig>> {
        let Some(Secret(key)) = &self.approval_key else {
            return Ok(None);
        };
        let key = cairn_api::approval::link::SigningKey::new(key.as_bytes())
            .map_err(|e| anyhow::anyhow!("CAIRN_APPROVAL_KEY: {e}"))?;
        let public_url = match &self.public_url {
            Some(url) => url.clone(),
            None => format!("http://{}", self.listen),
        };
        Ok(Some(cairn_api::approval::ApprovalConfig {
            key,
            public_url,
        }))
    }

    /// The API's authentication: open without credentials, else the keys (loaded now,
    /// re-read from their files as those change).
    pub fn auth(&self) -> Result<cairn_api::auth::Auth> {
        use cairn_api::auth::keys::{Keys, KeysConfig, Source};
        let credentials = match (&self.api_credentials, &self.api_credentials_file) {
            (Some(_), Some(_)) => anyhow::bail!(
                "set api_credentials or api_credentials_file (CAIRN_API_CREDENTIALS or \
                 CAIRN_API_CREDENTIALS_FILE), not both"
            ),
            (Some(Secret(text)), None) => Source::Inline(text.clone()),
            (None, Some(path)) => Source::File(path.clone()),
            (None, None) => {
                if self.api_policies.is_some() || self.api_policies_file.is_some() {
                    anyhow::bail!(
                        "api_policies need api_credentials or api_credentials_file: \
                         without keys the API is open and no policy applies"
                    );
                }
                return Ok(cairn_api::auth::Auth::open());
            }
        };
        let policies = match (&self.api_policies, &self.api_policies_file) {
            (Some(_), Some(_)) => anyhow::bail!(
                "set api_policies or api_policies_file (CAIRN_API_POLICIES or \
                 CAIRN_API_POLICIES_FILE), not both"
            ),
            (Some(text), None) => Some(Source::Inline(text.clone())),
            (None, Some(path)) => Some(Source::File(path.clone())),
            (None, None) => None,
        };
        let keys = Keys::load(KeysConfig {
            credentials,
            policies,
        })
        .map_err(|e| anyhow::anyhow!("API credentials: {e}"))?;
        if keys.count() == 0 {
            anyhow::bail!("API credentials: no ACCESS_KEY_ID:SECRET pair is configured");
        }
        Ok(cairn_api::auth::Auth::with_keys(keys))
    }

    /// The listener's TLS files, loaded and checked; `None` for plain HTTP.
    pub fn tls(&self) -> Result<Option<crate::tls::Certificates>> {
        match (&self.tls_cert, &self.tls_key) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => {
                crate::tls::Certificates::load(cert.clone(), key.clone()).map(Some)
            }
            _ => anyhow::bail!(
                "TLS needs both tls_cert and tls_key (CAIRN_TLS_CERT and CAIRN_TLS_KEY)"
            ),
        }
    }

    /// The API's token buckets.
    pub fn throttle(&self) -> cairn_api::throttle::ThrottleConfig {
        let bucket = |size: u32, refill: f64| {
            (size > 0).then_some(cairn_api::throttle::Bucket {
                size: f64::from(size),
                refill_per_second: refill,
            })
        };
        cairn_api::throttle::ThrottleConfig {
            start_execution: bucket(self.start_execution_bucket, self.start_execution_refill),
            other_actions: bucket(self.api_bucket, self.api_refill),
        }
    }

    /// The schedulers' state-transition bucket; `None` when off.
    pub fn transitions(&self) -> Option<cairn_scheduler::TransitionRate> {
        (self.transition_bucket > 0).then_some(cairn_scheduler::TransitionRate {
            bucket: self.transition_bucket,
            refill_per_second: self.transition_refill,
        })
    }

    pub fn retention(&self) -> cairn_scheduler::retention::RetentionConfig {
        cairn_scheduler::retention::RetentionConfig {
            keep: self.retention.0,
            batch: self.retention_batch,
            interval: self.retention_interval.0,
        }
    }

    /// How asynchronous Express runs are leased and taken over.
    pub fn express_runs(&self) -> cairn_worker::express_runs::ExpressRunsConfig {
        let lease = self.express_lease.0;
        cairn_worker::express_runs::ExpressRunsConfig {
            lease,
            renew_every: self.express_renew.map(|s| s.0).unwrap_or(lease / 3),
            max_takeovers: self.express_max_takeovers,
            limits: self.limits(),
            ..Default::default()
        }
    }

    pub fn limits(&self) -> cairn_asl::interpreter::Limits {
        cairn_asl::interpreter::Limits {
            max_payload_bytes: self.max_payload_bytes,
            max_history_events: self.max_history_events,
            // Express runs keep their Maps in memory; the schedulers add this.
            store_map_items_over: None,
            // Express runs end within five minutes; the schedulers add the cap.
            max_execution_seconds: None,
            // Express runs keep Distributed Map iterations as frames; the schedulers
            // add this.
            map_child_executions: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_defaults_and_bad_values_are_named() {
        let mut config = Config::default();
        let env: BTreeMap<&str, &str> = [
            ("CAIRN_LISTEN", "0.0.0.0:9000"),
            (
                "CAIRN_FUNCTIONS",
                "validate-order=http://127.0.0.1:3000/v, pay=http://x/p",
            ),
        ]
        .into();
        config
            .apply_env(|n| env.get(n).map(|v| v.to_string()))
            .expect("valid environment");
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(
            config.functions["validate-order"],
            "http://127.0.0.1:3000/v"
        );
        assert_eq!(config.functions["pay"], "http://x/p");

        assert_eq!(config.throttle(), Default::default(), "off by default");
        let throttled: BTreeMap<&str, &str> = [
            ("CAIRN_START_EXECUTION_BUCKET", "5"),
            ("CAIRN_START_EXECUTION_REFILL", "0.5"),
        ]
        .into();
        config
            .apply_env(|n| throttled.get(n).map(|v| v.to_string()))
            .expect("valid throttling");
        assert_eq!(
            config.throttle().start_execution,
            Some(cairn_api::throttle::Bucket {
                size: 5.0,
                refill_per_second: 0.5
            })
        );
        assert_eq!(config.throttle().other_actions, None);
        let negative: BTreeMap<&str, &str> = [("CAIRN_API_REFILL", "-1")].into();
        assert!(Config::default()
            .apply_env(|n| negative.get(n).map(|v| v.to_string()))
            .is_err());

        assert_eq!(config.transitions(), None, "off by default");
        let transitions: BTreeMap<&str, &str> = [
            ("CAIRN_TRANSITION_BUCKET", "5"),
            ("CAIRN_TRANSITION_REFILL", "2.5"),
        ]
        .into();
        config
            .apply_env(|n| transitions.get(n).map(|v| v.to_string()))
            .expect("valid transition bucket");
        assert_eq!(
            config.transitions(),
            Some(cairn_scheduler::TransitionRate {
                bucket: 5,
                refill_per_second: 2.5
            })
        );
        let stranded: BTreeMap<&str, &str> = [
            ("CAIRN_TRANSITION_BUCKET", "5"),
            ("CAIRN_TRANSITION_REFILL", "0"),
        ]
        .into();
        let error = Config::default()
            .apply_env(|n| stranded.get(n).map(|v| v.to_string()))
            .expect_err("a bucket that never refills");
        assert!(error.to_string().contains("transition_refill"), "{error}");

        let bad: BTreeMap<&str, &str> = [("CAIRN_POOL_SIZE", "many")].into();
        let error = Config::default()
            .apply_env(|n| bad.get(n).map(|v| v.to_string()))
            .expect_err("invalid");
        assert!(error.to_string().contains("CAIRN_POOL_SIZE"), "{error}");
    }

    #[test]
    fn spans_take_a_unit_and_refuse_nonsense() {
        let span = |text: &str| text.parse::<Span>().map(|s| s.0.as_secs());
        assert_eq!(span("90d"), Ok(90 * 86_400));
        assert_eq!(span("12h"), Ok(12 * 3_600));
        assert_eq!(span("30m"), Ok(1_800));
        assert_eq!(span("5s"), Ok(5));
        assert_eq!(span("7"), Ok(7));
        for bad in ["", "0s", "d", "1w", "-1d", "1.5h", "99999999999999999999d"] {
            assert!(span(bad).is_err(), "{bad:?} was accepted");
        }
        let mut config = Config::default();
        assert_eq!(config.retention.0.as_secs(), 90 * 86_400);
        assert_eq!(config.max_execution_time.0.as_secs(), 365 * 86_400);
        let env: BTreeMap<&str, &str> =
            [("CAIRN_RETENTION", "2s"), ("CAIRN_RETENTION_BATCH", "10")]
                .into_iter()
                .collect();
        config
            .apply_env(|n| env.get(n).map(|v| v.to_string()))
            .expect("valid environment");
        assert_eq!(
            (config.retention.0.as_secs(), config.retention_batch),
            (2, 10)
        );
        let express: BTreeMap<&str, &str> = [("CAIRN_EXPRESS_LEASE", "3s")].into_iter().collect();
        let mut config = Config::default();
        config
            .apply_env(|n| express.get(n).map(|v| v.to_string()))
            .expect("valid environment");
        let runs = config.express_runs();
        assert_eq!(
            (runs.lease.as_millis(), runs.renew_every.as_millis()),
            (3000, 1000)
        );
        assert_eq!(runs.max_takeovers, 3);
        let slow: BTreeMap<&str, &str> =
            [("CAIRN_EXPRESS_LEASE", "3s"), ("CAIRN_EXPRESS_RENEW", "3s")]
                .into_iter()
                .collect();
        let error = Config::default()
            .apply_env(|n| slow.get(n).map(|v| v.to_string()))
            .expect_err("a renewal no shorter than the lease");
        assert!(error.to_string().contains("express_renew"), "{error}");
        let bad: BTreeMap<&str, &str> = [("CAIRN_RETENTION", "soon")].into_iter().collect();
        let error = Config::default()
            .apply_env(|n| bad.get(n).map(|v| v.to_string()))
            .expect_err("refused");
        assert!(error.to_string().contains("CAIRN_RETENTION"), "{error}");
    }

    #[test]
    fn approval_links_need_a_long_enough_key() {
        let mut config = Config::default();
        assert!(config.approval().expect("off").is_none());
        config.approval_key = Some(Secret("short".to_string()));
        let error = config.approval().expect_err("short key");
        assert!(error.to_string().contains("CAIRN_APPROVAL_KEY"), "{error}");
        config.approval_key = Some(Secret("k".repeat(32)));
        let approval = config.approval().expect("valid").expect("on");
        assert_eq!(approval.public_url, "http://127.0.0.1:8083");
        assert!(!format!("{config:?}").contains(&"k".repeat(32)));
    }

    #[test]
    fn api_credentials_turn_authentication_on_and_never_print() {
        let config = Config::default();
        assert!(config.auth().expect("open").is_open());
        let env: BTreeMap<&str, &str> = [
            (
                "CAIRN_API_CREDENTIALS",
                "AKID1:very-secret-1,AKID2:very-secret-2",
            ),
            ("CAIRN_API_POLICIES", r#"{"AKID2": "read-only"}"#),
        ]
        .into();
        let mut config = Config::default();
        config
            .apply_env(|n| env.get(n).map(|v| v.to_string()))
            .expect("valid");
        let auth = config.auth().expect("keys");
        assert!(!auth.is_open());
        assert!(!format!("{config:?} {auth:?}").contains("very-secret"));

        let mut both = config.clone();
        both.api_credentials_file = Some(PathBuf::from("/x"));
        assert!(both.auth().is_err());
        let policies_alone = Config {
            api_policies: Some("{}".to_string()),
            ..Config::default()
        };
        assert!(policies_alone.auth().is_err());
        let mut unknown_key = config.clone();
        unknown_key.api_policies = Some(r#"{"NOBODY": "full"}"#.to_string());
        assert!(unknown_key.auth().is_err());
        let bad = Config {
            api_credentials: Some(Secret("no colon here".to_string())),
            ..Config::default()
        };
        let error = bad.auth().expect_err("bad pair");
        assert!(!error.to_string().contains("no colon here"), "{error}");
    }

    #[test]
    fn tls_needs_both_files_and_the_metrics_token_never_prints() {
        assert!(Config::default().tls().expect("off").is_none());
        let half = Config {
            tls_cert: Some(PathBuf::from("/nonexistent/cert.pem")),
            ..Config::default()
        };
        let error = half.tls().expect_err("a certificate without a key");
        assert!(error.to_string().contains("CAIRN_TLS_KEY"), "{error}");
        let missing = Config {
            tls_key: Some(PathBuf::from("/nonexistent/key.pem")),
            ..half
        };
        assert!(missing.tls().is_err(), "files that do not exist");
        let env: BTreeMap<&str, &str> = [("CAIRN_METRICS_TOKEN", "scrape-token-value")].into();
        let mut config = Config::default();
        config
            .apply_env(|n| env.get(n).map(|v| v.to_string()))
            .expect("valid");
        assert!(config.metrics_token.is_some());
        assert!(!format!("{config:?}").contains("scrape-token-value"));
    }

    #[test]
    fn a_file_with_an_unknown_field_is_refused() {
        assert!(toml::from_str::<Config>("listen = \"127.0.0.1:1\"\nbogus = 1").is_err());
        let config: Config =
            toml::from_str("[functions]\npay = \"http://127.0.0.1:1/pay\"").expect("parses");
        assert_eq!(config.functions.len(), 1);
    }
}
