//! The retention loop: every replica runs one, and each pass deletes, in small batches,
//! the executions closed for longer than they are kept (`CAIRN_RETENTION`, AWS's 90
//! days by default). Replicas need no leader for it: a batch takes only executions no
//! other transaction holds (see [`cairn_store::retention`]), so two replicas purging at
//! once split the work, and a batch is short enough never to hold up a scheduler.

use std::time::Duration;

use cairn_store::{Result, Store, Time};
use tokio::sync::watch;

/// What the retention loop keeps and how it deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionConfig {
    /// How long a closed execution is kept.
    pub keep: Duration,
    /// Most executions one transaction deletes.
    pub batch: i64,
    /// How long the loop sleeps between passes.
    pub interval: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            keep: Duration::from_secs(cairn_store::retention::RETENTION_DAYS as u64 * 86_400),
            batch: 500,
            interval: Duration::from_secs(60),
        }
    }
}

/// Deletes every execution closed before `closed_before`, `batch` at a time, each batch
/// its own transaction; stops early when `stop` says so. Returns how many were deleted.
pub async fn purge_closed_before<S: Store>(
    store: &S,
    closed_before: Time,
    batch: i64,
    stop: impl Fn() -> bool,
) -> Result<u64> {
    let mut purged = 0;
    loop {
        let deleted = store.purge_closed(closed_before, batch).await?;
        if deleted > 0 {
            cairn_telemetry::executions_purged(deleted);
        }
        purged += deleted;
        if deleted < batch.max(1) as u64 || stop() {
            return Ok(purged);
        }
        // Let the schedulers in between batches.
        tokio::task::yield_now().await;
    }
}

/// Runs passes every `config.interval` until `shutdown` turns true.
pub async fn run<S: Store>(store: S, config: RetentionConfig, mut shutdown: watch::Receiver<bool>) {
    let keep = chrono::Duration::from_std(config.keep).unwrap_or(chrono::Duration::MAX);
    while !*shutdown.borrow() {
        let closed_before = chrono::Utc::now()
            .checked_sub_signed(keep)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        let stop = || *shutdown.borrow();
        match purge_closed_before(&store, closed_before, config.batch, stop).await {
            Ok(0) => {}
            Ok(purged) => {
                tracing::info!(purged, %closed_before, "retention: closed executions deleted")
            }
            Err(error) => {
                tracing::warn!(%error, "retention: a purge failed; the next pass tries again")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(config.interval) => {}
            _ = shutdown.changed() => {}
        }
    }
}
