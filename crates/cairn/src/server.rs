//! `cairn server`, `cairn worker` and `cairn dev`: the long-running processes. They share
//! one wiring ([`serve`]), generic over the store: Postgres for `server` and `worker`,
//! the in-memory store for `dev`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::routing::get;
use axum::Router;
use cairn_scheduler::{Handoff, Scheduler, SchedulerConfig};
use cairn_store::memory::MemoryStore;
use cairn_store::postgres::PgStore;
use cairn_store::tasks::TaskLease;
use cairn_store::{Channel, Store};
use cairn_worker::runner::{self, LocalTasks, RunnerConfig};
use cairn_worker::{TargetConfig, Targets};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::Config;

/// What a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// API, schedulers and workers.
    Server,
    /// Workers only.
    Worker,
}

/// Connects, migrates and runs until SIGTERM or Ctrl-C, then stops claiming work, lets
/// in-flight tasks finish and record their results, gives back leases and exits.
pub async fn run(config: Config, role: Role) -> Result<()> {
    let store = connect(&config).await?;
    serve(store, config, role).await
}

/// `cairn dev`: the API, schedulers and workers of `cairn server` on the in-memory store.
/// `database_url` is not used; nothing survives a restart.
pub async fn dev(config: Config) -> Result<()> {
    tracing::warn!(
        "cairn dev keeps everything in this process's memory: nothing survives a restart \
         (use `cairn server` with Postgres for durable executions)"
    );
    serve(MemoryStore::new(), config, Role::Server).await
}

/// Runs `role` on `store` until SIGTERM or Ctrl-C.
async fn serve<S: Store>(store: S, config: Config, role: Role) -> Result<()> {
    let (stop, stopping) = watch::channel(false);
    let mut loops = JoinSet::new();

    let mut targets = Targets::from_env(target_config(&config)?)
        .await
        .context("setting up task targets")?;
    if let Some(mocks) = config.mocks()? {
        let machines: Vec<&str> = mocks.machines().collect();
        tracing::info!(
            machines = %machines.join(", "),
            "mock configuration loaded: StartExecution on MACHINE#CASE runs a test case"
        );
        targets = targets.with_mock_config(Arc::new(mocks));
    }
    let targets = Arc::new(targets);
    let owner = format!(
        "{}-{}-{:08x}",
        hostname(),
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    let worker = RunnerConfig {
        owner: owner.clone(),
        concurrency: config.worker_concurrency,
        lease: Duration::from_secs(config.lease_seconds.max(1)),
        idle_poll: Duration::from_secs(5),
    };
    // The schedulers hand the tasks they create to this process's worker while it has
    // free slots (see cairn_scheduler::handoff).
    let (handoff, local_tasks) = match role {
        Role::Server => {
            let lease = TaskLease {
                owner: owner.clone(),
                duration: worker.lease,
            };
            let (handoff, slots, tasks) = Handoff::new(lease, worker.concurrency);
            (Some(handoff), Some(LocalTasks { slots, tasks }))
        }
        Role::Worker => (None, None),
    };

    if let Some(handoff) = handoff {
        let scheduler = Arc::new(
            Scheduler::new(
                store.clone(),
                SchedulerConfig {
                    batch_size: config.scheduler_batch,
                    limits: config
                        .limits()
                        .storing_maps_over(config.store_map_items_over)
                        .capping_executions_at(config.max_execution_time.0.as_secs())
                        .with_map_child_executions(),
                    transitions: config.transitions(),
                    ..SchedulerConfig::default()
                },
            )
            .with_handoff(handoff),
        );
        let bell = store.doorbell(Channel::Inbox);
        for _ in 0..config.schedulers {
            let scheduler = scheduler.clone();
            let bell = bell.clone();
            let stopping = stopping.clone();
            loops.spawn(async move { scheduler.run(bell, stopping).await });
        }
    }

    {
        let store = store.clone();
        let bell = store.doorbell(Channel::Tasks);
        let stopping = stopping.clone();
        let targets = targets.clone();
        loops.spawn(async move {
            runner::run(store, targets, worker, bell, stopping, local_tasks).await
        });
    }

    // Retention: closed executions deleted once kept long enough, on every replica,
    // coordinated through the store.
    {
        let store = store.clone();
        let stopping = stopping.clone();
        let retention = config.retention();
        loops.spawn(
            async move { cairn_scheduler::retention::run(store, retention, stopping).await },
        );
    }

    // Asynchronous Express runs: this replica's leases renewed and expired ones taken
    // over, on every replica, coordinated through the store (at least once).
    let express_runs = Arc::new(cairn_worker::express_runs::AsyncExpress::new(
        store.clone(),
        targets.clone(),
        owner.clone(),
        config.express_runs(),
    ));
    {
        let runs = express_runs.clone();
        let stopping = stopping.clone();
        loops.spawn(async move { runs.run_loop(stopping).await });
    }

    // EventBridge: deliveries, dead letters, scheduled rules and schedules, on every
    // replica, coordinated through the store.
    {
        let store = store.clone();
        let bell = store.doorbell(Channel::Events);
        let stopping = stopping.clone();
        let targets = targets.clone();
        let events = cairn_worker::eventloop::EventLoopConfig {
            account: config.account.clone(),
            region: config.region.clone(),
        };
        loops.spawn(async move {
            cairn_worker::eventloop::run(store, targets, events, bell, stopping).await
        });
    }

    let http = if role == Role::Server {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        let address = listener.local_addr()?;
        let api = cairn_api::ApiConfig {
            region: config.region.clone(),
            account_id: config.account.clone(),
            limits: config.limits(),
            throttle: config.throttle(),
            ..cairn_api::ApiConfig::default()
        };
        let auth = config.auth()?;
        if auth.is_open() {
            tracing::warn!(
                %address,
                "the API is open: no access keys are configured (CAIRN_API_CREDENTIALS or \
                 CAIRN_API_CREDENTIALS_FILE), so anyone who reaches this address can call \
                 every operation unsigned"
            );
        } else {
            tracing::info!(?auth, "the API verifies SigV4 signatures");
        }
        let api = cairn_api::ApiState::new(store.clone(), api, targets.clone())
            .with_auth(auth)
            .with_express_runs(express_runs);
        let metrics_token = config.metrics_token.clone().map(|t| t.0);
        let mut app = router(store.clone(), metrics_token)
            .merge(cairn_api::router(api.clone()))
            .merge(cairn_api::console::router(api.clone()));
        if let Some(approval) = config.approval()? {
            tracing::info!(public_url = %approval.public_url, "approval links are on");
            app = app.merge(cairn_api::approval::router(api, approval));
        }
        let mut stopping = stopping.clone();
        match config.tls()? {
            Some(certificates) => {
                let tls = crate::tls::server_config(Arc::new(certificates))?;
                tracing::info!(%address, "Step Functions API listening (TLS)");
                Some(tokio::spawn(async move {
                    crate::tls::serve(listener, tls, app, stopping).await;
                    Ok(())
                }))
            }
            None => {
                tracing::info!(%address, "Step Functions API listening");
                Some(tokio::spawn(async move {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = stopping.wait_for(|s| *s).await;
                        })
                        .await
                }))
            }
        }
    } else {
        None
    };
    tracing::info!(worker = %owner, ?role, "cairn is running");

    shutdown_signal().await;
    tracing::info!("shutting down: no new work is claimed; in-flight tasks finish");
    let _ = stop.send(true);
    while loops.join_next().await.is_some() {}
    if let Some(http) = http {
        let _ = http.await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// `cairn migrate`: creates the database if needed and applies migrations.
pub async fn migrate(config: &Config) -> Result<()> {
    connect(config).await?;
    Ok(())
}

async fn connect(config: &Config) -> Result<PgStore> {
    let store = PgStore::connect(&config.database_url, config.pool_size)
        .await
        .with_context(|| format!("connecting to {}", redact(&config.database_url)))?;
    store.migrate().await.context("applying migrations")?;
    Ok(store)
}

/// Health and metrics, beside the API. `/healthz` says the process is alive; `/readyz`
/// says it can serve: the store answers (Postgres carries every migration this build
/// expects). Both stay open to probes; `/metrics` asks for `metrics_token` as a bearer
/// token when one is set (API credentials do not apply to it).
fn router<S: Store>(store: S, metrics_token: Option<String>) -> Router {
    let mut metrics = cairn_telemetry::router(store.clone());
    if let Some(token) = metrics_token {
        let token = std::sync::Arc::new(token);
        metrics = metrics.layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let token = token.clone();
                async move { bearer(&token, request, next).await }
            },
        ));
    }
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get({
                let store = store.clone();
                move || {
                    let store = store.clone();
                    async move { readiness(&store).await }
                }
            }),
        )
        .merge(metrics)
}

/// Lets the request through if it carries `Authorization: Bearer <token>`; 401 if not.
async fn bearer(
    token: &str,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let given = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Compared in time independent of where they differ.
    let same = given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        return next.run(request).await;
    }
    (
        axum::http::StatusCode::UNAUTHORIZED,
        [(axum::http::header::WWW_AUTHENTICATE, "Bearer")],
        "metrics need the bearer token (CAIRN_METRICS_TOKEN)",
    )
        .into_response()
}

async fn readiness<S: Store>(store: &S) -> (axum::http::StatusCode, String) {
    use axum::http::StatusCode;
    use cairn_store::observe::Readiness;
    match store.readiness().await {
        Ok(Readiness::Current { version }) => (StatusCode::OK, format!("ready (schema {version})")),
        Ok(Readiness::InMemory) => (
            StatusCode::OK,
            "ready (in memory: nothing survives a restart)".to_string(),
        ),
        Ok(Readiness::Behind { missing }) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("migration {missing} is not applied"),
        ),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "database unreachable".to_string(),
            )
        }
    }
}

fn target_config(config: &Config) -> Result<TargetConfig> {
    let mut functions = std::collections::BTreeMap::new();
    for (name, url) in &config.functions {
        let url = url
            .parse()
            .with_context(|| format!("function {name:?} maps to an invalid URL {url:?}"))?;
        functions.insert(name.clone(), url);
    }
    Ok(TargetConfig {
        region: config.region.clone(),
        account: config.account.clone(),
        functions,
        max_response_bytes: config.max_payload_bytes,
        s3_force_path_style: config.s3_force_path_style,
        ..TargetConfig::default()
    })
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "cairn".to_string())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            super::redact("postgres://cairn:s3cret@db:5432/cairn"),
            "postgres://cairn:***@db:5432/cairn"
        );
        assert_eq!(
            super::redact("postgres://postgres@127.0.0.1/x"),
            "postgres://postgres@127.0.0.1/x"
        );
    }
}
