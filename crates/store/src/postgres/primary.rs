//! Following the writable server of a primary and its standbys (libpq's
//! `target_session_attrs=read-write`, which sqlx 0.9 does not implement).
//!
//! The pool always connects to one server of the list, the one believed to be the
//! primary. Three things keep that belief true:
//! - every new connection asks `pg_is_in_recovery()`; one that landed on a standby is
//!   closed (the pool then tries again) and a rescan is asked for;
//! - a watcher keeps one small connection to the believed primary and asks the same
//!   question every [`PROBE_EVERY`]; when the answer is "in recovery" or the connection
//!   is lost, it tries each server in turn until one is writable, and points the pool at
//!   it with `Pool::set_connect_options`;
//! - when the pool moves, every connection opened before the move is closed the next
//!   time it is taken from the pool or given back, so none keeps talking to a server
//!   that may be a standby (or fenced) now.
//!
//! While no server is writable (the primary died, the standby is not yet promoted),
//! callers get database errors and retry: a transaction that failed to commit is not
//! known committed, and every write Cairn makes is idempotent on retry (see
//! docs/operations.md, "Postgres failover").

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnection, PgPool};
use sqlx::Connection;
use tokio::sync::Notify;

use super::hosts::{ConnectTarget, Server};

/// How often the watcher asks the believed primary whether it still is one.
pub(crate) const PROBE_EVERY: Duration = Duration::from_millis(500);
/// How long one server may take to accept a connection before the next is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The error a new connection to a standby fails with; the pool retries.
#[derive(Debug, thiserror::Error)]
#[error("connected to {0}, which is in recovery (a standby): looking for the primary")]
pub struct OnStandby(String);

/// Which server of the list the pool connects to, and since when.
#[derive(Debug)]
pub(crate) struct Primary {
    target: ConnectTarget,
    state: Mutex<Current>,
    rescan: Notify,
    pool: OnceLock<PgPool>,
}

#[derive(Debug, Clone, Copy)]
struct Current {
    index: usize,
    since: Instant,
}

impl Primary {
    /// Finds the writable server, trying each in order, for up to `patience`.
    pub(crate) async fn find(
        target: ConnectTarget,
        patience: Duration,
    ) -> crate::Result<Arc<Primary>> {
        let deadline = Instant::now() + patience;
        loop {
            match writable_among(&target.servers, 0).await {
                Ok(index) => {
                    tracing::info!(server = %target.servers[index].name, "connected to the primary");
                    return Ok(Arc::new(Primary {
                        target,
                        state: Mutex::new(Current {
                            index,
                            since: Instant::now(),
                        }),
                        rescan: Notify::new(),
                        pool: OnceLock::new(),
                    }));
                }
                Err(why) if Instant::now() >= deadline => {
                    return Err(crate::StoreError::Unavailable(why));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }

    /// The server the pool connects to now.
    pub(crate) fn server(&self) -> &Server {
        &self.target.servers[self.current().index]
    }

    fn current(&self) -> Current {
        *self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a connection `age` old was opened before the pool last moved.
    pub(crate) fn predates_move(&self, age: Duration) -> bool {
        age > self.current().since.elapsed()
    }

    /// Checked on every new connection: a standby is refused, and a rescan asked for.
    pub(crate) async fn check_new(&self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        if in_recovery(conn).await? {
            self.rescan.notify_one();
            return Err(sqlx::Error::Configuration(Box::new(OnStandby(
                self.server().name.clone(),
            ))));
        }
        Ok(())
    }

    /// Starts the watcher that moves `pool` to the writable server.
    pub(crate) fn watch(self: &Arc<Self>, pool: PgPool) {
        if self.pool.set(pool).is_err() {
            return;
        }
        let primary = self.clone();
        tokio::spawn(async move { primary.watcher().await });
    }

    async fn watcher(&self) {
        let Some(pool) = self.pool.get() else { return };
        let mut probe: Option<PgConnection> = None;
        while !pool.is_closed() {
            let healthy = match probe.as_mut() {
                Some(conn) => matches!(
                    tokio::time::timeout(CONNECT_TIMEOUT, in_recovery(conn)).await,
                    Ok(Ok(false))
                ),
                None => false,
            };
            if healthy {
                // Woken early when a new connection found a standby.
                let _ = tokio::time::timeout(PROBE_EVERY, self.rescan.notified()).await;
                continue;
            }
            drop(probe.take());
            let current = self.current().index;
            match writable_among(&self.target.servers, current).await {
                Ok(index) => {
                    if index != current {
                        self.move_to(pool, index);
                    }
                    probe = connect(&self.target.servers[index]).await.ok();
                }
                Err(why) => {
                    tracing::warn!(%why, "no writable Postgres server; trying again");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    fn move_to(&self, pool: &PgPool, index: usize) {
        let server = &self.target.servers[index];
        pool.set_connect_options(server.options.clone());
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        tracing::warn!(
            from = %self.target.servers[state.index].name,
            to = %server.name,
            "the primary moved: new connections go to the new primary, older ones are closed"
        );
        *state = Current {
            index,
            since: Instant::now(),
        };
    }
}

/// The first writable server, trying them in order from `first`.
async fn writable_among(servers: &[Server], first: usize) -> Result<usize, String> {
    let mut reasons = Vec::new();
    for offset in 0..servers.len() {
        let index = (first + offset) % servers.len();
        let server = &servers[index];
        match connect(server).await {
            Ok(mut conn) => {
                let answer = tokio::time::timeout(CONNECT_TIMEOUT, in_recovery(&mut conn)).await;
                // Dropped, not closed: sqlx 0.9's `close_hard` on a connection that
                // has just answered can wait forever.
                drop(conn);
                match answer {
                    Ok(Ok(false)) => return Ok(index),
                    Ok(Ok(true)) => reasons.push(format!("{}: in recovery", server.name)),
                    Ok(Err(e)) => reasons.push(format!("{}: {e}", server.name)),
                    Err(_) => reasons.push(format!("{}: no answer", server.name)),
                }
            }
            Err(e) => reasons.push(format!("{}: {e}", server.name)),
        }
    }
    Err(reasons.join("; "))
}

/// A connection to `server` for asking questions; to its `postgres` database while
/// Cairn's own is not created yet (`PgStore::connect` creates it on the primary).
async fn connect(server: &Server) -> Result<PgConnection, sqlx::Error> {
    let attempt = |options: sqlx::postgres::PgConnectOptions| async move {
        match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options)).await {
            Ok(result) => result,
            Err(_) => Err(sqlx::Error::PoolTimedOut),
        }
    };
    match attempt(server.options.clone()).await {
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(INVALID_CATALOG_NAME) => {
            attempt(server.options.clone().database("postgres")).await
        }
        other => other,
    }
}

/// SQLSTATE 3D000: the database does not exist.
const INVALID_CATALOG_NAME: &str = "3D000";

/// `pg_is_in_recovery()`: true on a standby, false on the primary.
async fn in_recovery(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(r#"select pg_is_in_recovery() as "in_recovery!""#)
        .fetch_one(conn)
        .await
}
