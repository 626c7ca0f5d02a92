//! Asynchronous Express runs recorded together: the StartExecution calls of EXPRESS
//! machines that arrive while earlier records are being written form the next batch,
//! one statement and one commit for all of them (as `starts` does for STANDARD
//! machines). Nothing waits to form a batch: a lone caller sees one insert's latency.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};

use super::PgStore;
use crate::express_runs::ExpressRun;
use crate::{Result, StoreError, Time};

/// Most records written by one statement.
const BATCH: usize = 256;
/// Batches being written at once; more records wait (and batch up) meanwhile.
const IN_FLIGHT: usize = 4;

struct Request {
    run: ExpressRun,
    owner: String,
    lease_until: Time,
    reply: oneshot::Sender<Result<()>>,
}

/// The queue of a store's Express records; its writer runs while the store is in use.
#[derive(Debug)]
pub(crate) struct RecordQueue {
    requests: mpsc::UnboundedSender<Request>,
}

impl RecordQueue {
    /// Starts the writer for `store` (on the current tokio runtime).
    pub(crate) fn new(store: PgStore) -> RecordQueue {
        let (requests, queued) = mpsc::unbounded_channel();
        tokio::spawn(write_batches(store, queued));
        RecordQueue { requests }
    }

    /// Queues the record; resolves once its batch has committed.
    pub(crate) async fn record(
        &self,
        run: &ExpressRun,
        owner: &str,
        lease_until: Time,
    ) -> Result<()> {
        let stopped = || StoreError::Unavailable("the Express record writer has stopped".into());
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request {
                run: run.clone(),
                owner: owner.to_string(),
                lease_until,
                reply,
            })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn write_batches(store: PgStore, mut queued: mpsc::UnboundedReceiver<Request>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(first) = queued.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match queued.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let store = store.clone();
        // Boxed, so that spawning moves a pointer rather than the batch's future.
        tokio::spawn(Box::pin(async move {
            write(&store, batch).await;
            drop(slot);
        }));
    }
}

/// Writes one batch and answers each caller; if the batch fails, each record is tried
/// alone so that one bad record does not fail the others.
async fn write(store: &PgStore, batch: Vec<Request>) {
    match insert(store, &batch).await {
        Ok(()) => {
            for request in batch {
                let _ = request.reply.send(Ok(()));
            }
        }
        Err(error) if batch.len() == 1 => {
            if let Some(request) = batch.into_iter().next() {
                let _ = request.reply.send(Err(error));
            }
        }
        Err(_) => {
            for request in batch {
                let alone = insert(store, std::slice::from_ref(&request)).await;
                let _ = request.reply.send(alone);
            }
        }
    }
}

async fn insert(store: &PgStore, batch: &[Request]) -> Result<()> {
    let text = |f: fn(&Request) -> &str| -> Vec<String> {
        batch.iter().map(|r| f(r).to_string()).collect()
    };
    let optional = |f: fn(&Request) -> &Option<String>| -> Vec<Option<String>> {
        batch.iter().map(|r| f(r).clone()).collect()
    };
    let arn = text(|r| &r.run.arn);
    let machine_arn = text(|r| &r.run.state_machine_arn);
    let machine_name = text(|r| &r.run.state_machine_name);
    let definition_id: Vec<i64> = batch.iter().map(|r| r.run.definition_id).collect();
    let role_arn = text(|r| &r.run.role_arn);
    let logging = optional(|r| &r.run.logging);
    let tracing = optional(|r| &r.run.tracing);
    let name = text(|r| &r.run.name);
    let input = text(|r| &r.run.input);
    let started_at: Vec<Time> = batch.iter().map(|r| r.run.started_at).collect();
    let owner = text(|r| &r.owner);
    let lease_until: Vec<Time> = batch.iter().map(|r| r.lease_until).collect();
    sqlx::query!(
        "insert into express_runs (arn, state_machine_arn, state_machine_name,
             definition_id, role_arn, logging, tracing, name, input, started_at,
             owner, lease_until)
         select arn, machine_arn, machine_name, definition_id, role_arn, logging, tracing,
                name, input::json, started_at, owner, lease_until
         from unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::text[],
                     $7::text[], $8::text[], $9::text[], $10::timestamptz[], $11::text[],
                     $12::timestamptz[])
              as r(arn, machine_arn, machine_name, definition_id, role_arn, logging, tracing,
                   name, input, started_at, owner, lease_until)",
        &arn,
        &machine_arn,
        &machine_name,
        &definition_id,
        &role_arn,
        &logging as &[Option<String>],
        &tracing as &[Option<String>],
        &name,
        &input,
        &started_at,
        &owner,
        &lease_until
    )
    .execute(&store.pool)
    .await?;
    Ok(())
}
