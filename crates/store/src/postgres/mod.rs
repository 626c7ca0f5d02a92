//! The durable [`Store`]: Postgres through sqlx. One module per concern:
//!
//! | module | what |
//! |---|---|
//! | `executions` | StartExecution (batched with `starts`), DescribeExecution, ListExecutions, history pages, StopExecution |
//! | `engine` | the scheduler's claim and the batch commit that writes its plans |
//! | `tasks` | task leases and the recording of outcomes |
//! | `callbacks` | task tokens, `SendTask*`, the activity queue |
//! | `nested` | starting child executions inside a commit, stopping them |
//! | `stored` | large Maps' values kept outside the snapshot |
//! | `catalog` | state machines (with their deletion), activities, tags |
//! | `versions` | published versions and aliases |
//! | `rules` | EventBridge buses, rules, targets, events, deliveries; Scheduler groups and schedules |
//! | `retention` | deleting closed executions and what belongs to them |
//! | `express_runs` | asynchronous Express runs in flight: leases, renewals, takeovers, deletions (records batched by `express_records`) |
//! | `test_cases` | executions under a mock configuration's test case, their mocked invocations |
//! | `signals` | wake-ups: in-process at once, `NOTIFY` after commit |
//! | `observe` | the queues' backlog, the schema's state, the pool |
//! | `nodelay` | TCP_NODELAY on the connections (sqlx 0.9.0 leaves it off) |
//! | `hosts` | connection strings naming several servers (libpq's syntax) |
//! | `primary` | following the writable server of a primary and its standbys |
//!
//! Every query has a name a person can grep for (the function it is in), and SQL lives
//! nowhere else in Cairn but here and in `migrations/`.

mod batches;
mod callbacks;
mod catalog;
mod engine;
mod executions;
mod express_records;
mod express_runs;
mod hosts;
mod map_children;
mod map_runs;
mod nested;
mod nodelay;
mod observe;
mod primary;
mod retention;
mod rules;
mod signals;
mod starts;
mod stored;
mod tasks;
mod test_cases;
mod versions;

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};

pub use engine::PgBatch;
pub use hosts::{ConnectStringError, ConnectTarget, SessionAttrs};
pub use primary::OnStandby;

use crate::engine::InboxEvent;
use crate::signals::Channel;
use crate::{Result, Store, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// A pool of Postgres connections, and the doorbells its writes ring.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    signals: Arc<signals::Signals>,
    /// StartExecution's batches (see `starts`), begun at the first start.
    starts: Arc<std::sync::OnceLock<starts::StartQueue>>,
    /// StartExecution's Express records, batched the same way, begun at the first one.
    express_records: Arc<std::sync::OnceLock<express_records::RecordQueue>>,
}

impl PgStore {
    /// Connects to `url`, creating the database first if it does not exist.
    ///
    /// `url` may name several servers (`postgres://h1:5432,h2:5432/db`, libpq's syntax):
    /// with `target_session_attrs=read-write` (the default for several hosts) the pool
    /// connects only to the server that is not in recovery, and follows it when a
    /// standby is promoted (see `primary`).
    pub async fn connect(url: &str, max_connections: u32) -> Result<PgStore> {
        use sqlx::migrate::MigrateDatabase;
        let target: ConnectTarget = url.parse()?;
        let primary = if target.follows_primary() {
            Some(primary::Primary::find(target.clone(), Duration::from_secs(30)).await?)
        } else {
            None
        };
        let server = match &primary {
            Some(primary) => primary.server().clone(),
            None => target.servers[0].clone(),
        };
        if !sqlx::Postgres::database_exists(&server.url).await? {
            sqlx::Postgres::create_database(&server.url).await?;
        }
        let ports: Vec<u16> = target
            .servers
            .iter()
            .map(|s| s.options.get_port())
            .collect();
        let checked = primary.clone();
        let mut options = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                let ports = ports.clone();
                let checked = checked.clone();
                Box::pin(async move {
                    for port in ports {
                        nodelay::on_sockets_to(port);
                    }
                    match checked {
                        Some(primary) => primary.check_new(conn).await,
                        None => Ok(()),
                    }
                })
            });
        if let Some(primary) = &primary {
            let on_take = primary.clone();
            let on_give_back = primary.clone();
            options = options
                .before_acquire(move |_, meta| {
                    let fresh = !on_take.predates_move(meta.age);
                    Box::pin(async move { Ok(fresh) })
                })
                .after_release(move |_, meta| {
                    let fresh = !on_give_back.predates_move(meta.age);
                    Box::pin(async move { Ok(fresh) })
                });
        }
        let pool = options.connect_with(server.options.clone()).await?;
        if let Some(primary) = &primary {
            primary.watch(pool.clone());
        }
        Ok(PgStore::from_pool(pool))
    }

    pub fn from_pool(pool: PgPool) -> PgStore {
        PgStore {
            pool,
            signals: Arc::default(),
            starts: Arc::default(),
            express_records: Arc::default(),
        }
    }

    /// The pool, for tests and tools that read the tables directly.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Tells loops here and elsewhere that `channel` has news; call after the commit.
    pub(crate) fn announce(&self, channel: Channel) {
        self.signals.announce(&self.pool, channel);
    }
}

impl Store for PgStore {
    fn doorbell(&self, channel: Channel) -> Arc<tokio::sync::Notify> {
        self.signals.doorbell(&self.pool, channel)
    }

    fn catalog_generation(&self) -> Option<u64> {
        self.signals.generation(&self.pool, Channel::Catalog)
    }

    async fn backlog(&self) -> Result<crate::observe::Backlog> {
        observe::backlog(&self.pool).await
    }

    async fn readiness(&self) -> Result<crate::observe::Readiness> {
        observe::readiness(&self.pool, &MIGRATOR).await
    }

    fn connections(&self) -> Option<crate::observe::Connections> {
        let open = self.pool.size();
        let idle = u32::try_from(self.pool.num_idle())
            .unwrap_or(u32::MAX)
            .min(open);
        Some(crate::observe::Connections {
            open,
            idle,
            max: self.pool.options().get_max_connections(),
        })
    }
}

/// Queues events due now, in order: `events[i]` (an inbox event) for `executions[i]`.
pub(crate) async fn enqueue_now(
    tx: &mut sqlx::PgConnection,
    executions: &[String],
    events: &[InboxEvent],
) -> Result<()> {
    let events = events
        .iter()
        .map(to_json_text)
        .collect::<Result<Vec<_>>>()?;
    sqlx::query!(
        r#"insert into inbox (execution_arn, due_at, event)
           select a, now(), e::json
           from unnest($1::text[], $2::text[]) with ordinality as u(a, e, n)
           order by n"#,
        executions,
        &events,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Queues `events` for one execution, due now, in order.
pub(crate) async fn enqueue_for(
    tx: &mut sqlx::PgConnection,
    execution: &str,
    events: Vec<cairn_asl::interpreter::Event>,
) -> Result<()> {
    let executions = vec![execution.to_string(); events.len()];
    let events: Vec<InboxEvent> = events.into_iter().map(InboxEvent::Step).collect();
    enqueue_now(tx, &executions, &events).await
}

pub(crate) fn to_json_text<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn from_json_text<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A stored status; what cannot be read is reported corrupt.
pub(crate) fn status_of(text: &str) -> Result<cairn_asl::ExecutionStatus> {
    cairn_asl::ExecutionStatus::parse(text)
        .ok_or_else(|| StoreError::Corrupt(format!("execution status {text:?}")))
}
