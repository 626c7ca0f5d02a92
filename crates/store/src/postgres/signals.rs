//! Wake-ups between Cairn's loops: at once inside this process, and across processes
//! through Postgres `NOTIFY`.
//!
//! A notification is a hint, never data: every loop that sleeps on a doorbell also polls,
//! and a rescan finds whatever was committed. So `NOTIFY` is sent *after* a commit, on its
//! own connection, and coalesced: many commits while one `NOTIFY` is on its way cause one
//! more, not many. Sending it inside the writing transaction would make every such
//! commit queue behind Postgres's single notification-queue lock, held through the
//! commit's WAL flush — which capped the engine at one commit per flush.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sqlx::postgres::PgPool;
use tokio::sync::Notify;

use crate::signals::Channel;

/// The doorbells of one store: one per [`Channel`].
#[derive(Debug, Default)]
pub(crate) struct Signals {
    inbox: Bell,
    tasks: Bell,
    catalog: Bell,
    events: Bell,
}

impl Signals {
    fn bell(&self, channel: Channel) -> &Bell {
        match channel {
            Channel::Inbox => &self.inbox,
            Channel::Tasks => &self.tasks,
            Channel::Catalog => &self.catalog,
            Channel::Events => &self.events,
        }
    }

    /// Wakes this process's waiters now and other processes' soon after.
    pub(crate) fn announce(&self, pool: &PgPool, channel: Channel) {
        let bell = self.bell(channel);
        bell.news.ring();
        bell.local.notify_waiters();
        bell.outgoing
            .get_or_init(|| spawn_sender(pool.clone(), channel))
            .notify_one();
    }

    /// The [`Notify`] rung for `channel`, by this process's own writes and by `NOTIFY`s
    /// from any process; the first call starts the listener.
    pub(crate) fn doorbell(&self, pool: &PgPool, channel: Channel) -> Arc<Notify> {
        self.listen(pool, channel);
        self.bell(channel).local.clone()
    }

    /// How many times `channel` has rung in this process, counting this process's own
    /// news and every `NOTIFY` and reconnect of the listener; `None` while the listener
    /// is not listening, when news from other processes would be missed. The first
    /// call starts the listener.
    pub(crate) fn generation(&self, pool: &PgPool, channel: Channel) -> Option<u64> {
        self.listen(pool, channel);
        let news = &self.bell(channel).news;
        news.listening
            .load(Ordering::SeqCst)
            .then(|| news.rung.load(Ordering::SeqCst))
    }

    fn listen(&self, pool: &PgPool, channel: Channel) {
        let bell = self.bell(channel);
        bell.listener.get_or_init(|| {
            spawn_listener(pool.clone(), channel, bell.local.clone(), bell.news.clone());
        });
    }
}

/// What a bell has heard, for readers that do not sleep on it but check whether
/// anything happened since they last looked.
#[derive(Debug, Default)]
struct News {
    rung: AtomicU64,
    listening: AtomicBool,
}

impl News {
    fn ring(&self) {
        self.rung.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Debug, Default)]
struct Bell {
    local: Arc<Notify>,
    /// Wakes the task that sends `NOTIFY`; a stored permit coalesces bursts.
    outgoing: OnceLock<Arc<Notify>>,
    listener: OnceLock<()>,
    news: Arc<News>,
}

fn spawn_sender(pool: PgPool, channel: Channel) -> Arc<Notify> {
    let wanted = Arc::new(Notify::new());
    let waiting = wanted.clone();
    tokio::spawn(async move {
        loop {
            waiting.notified().await;
            if let Err(error) = sqlx::query!("select pg_notify($1, '')", channel.name())
                .execute(&pool)
                .await
            {
                // Other processes fall back to their poll interval.
                tracing::warn!(%error, channel = channel.name(), "NOTIFY failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    });
    wanted
}

/// Rings `bell` whenever a `NOTIFY` arrives — and after every reconnect, because
/// notifications sent while the listener was away are lost and waiters must rescan.
fn spawn_listener(pool: PgPool, channel: Channel, bell: Arc<Notify>, news: Arc<News>) {
    tokio::spawn(async move {
        loop {
            if let Err(error) = listen(&pool, channel.name(), &bell, &news).await {
                tracing::warn!(%error, channel = channel.name(), "listener lost; reconnecting");
            }
            news.listening.store(false, Ordering::SeqCst);
            news.ring();
            bell.notify_waiters();
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
}

async fn listen(
    pool: &PgPool,
    channel: &str,
    bell: &Notify,
    news: &News,
) -> Result<(), sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
    listener.listen(channel).await?;
    // Anything sent before we listened is unknown: make waiters rescan.
    news.ring();
    news.listening.store(true, Ordering::SeqCst);
    bell.notify_waiters();
    loop {
        // `None` is a lost connection, which the listener has already re-opened through
        // the pool (so on the new primary after a failover) and listened on again: what
        // was sent meanwhile is lost, so waiters rescan, as after any reconnect.
        if listener.try_recv().await?.is_none() {
            tracing::warn!(channel, "listener reconnected");
        }
        news.ring();
        bell.notify_waiters();
    }
}
