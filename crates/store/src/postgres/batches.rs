//! Requests that arrive together are written together: one statement and one commit for
//! a batch instead of one each. Nothing waits to form a batch — a batch is written at
//! once when one of [`IN_FLIGHT`] slots is free, and the requests that arrive while the
//! slots are busy form the next one — so a lone caller sees the latency of a single
//! write and a crowd shares the commits. Each caller still gets its own answer.
//!
//! The StartExecution calls of STANDARD machines (`starts`) and the records of
//! asynchronous Express runs (`express_records`) are written this way.

use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::{Result, StoreError};

/// Most requests one batch holds.
const BATCH: usize = 256;
/// Batches being written at once; more requests wait (and batch up) meanwhile.
const IN_FLIGHT: usize = 4;

/// A request waiting in a batch for its answer; reads as the request itself.
pub(crate) struct Pending<R, A> {
    request: R,
    reply: oneshot::Sender<Result<A>>,
}

impl<R, A> Pending<R, A> {
    /// Answers the caller (who may have gone: then nobody hears it).
    pub(crate) fn answer(self, answer: Result<A>) {
        let _ = self.reply.send(answer);
    }
}

impl<R, A> Deref for Pending<R, A> {
    type Target = R;

    fn deref(&self) -> &R {
        &self.request
    }
}

/// The queue of one kind of request; its writer runs while the queue is in use.
pub(crate) struct BatchQueue<R, A> {
    requests: mpsc::UnboundedSender<Pending<R, A>>,
    /// Names the writer in the error a caller gets once it has stopped.
    writer: &'static str,
}

impl<R, A> std::fmt::Debug for BatchQueue<R, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchQueue")
            .field("writer", &self.writer)
            .finish()
    }
}

impl<R: Send + 'static, A: Send + 'static> BatchQueue<R, A> {
    /// Starts the writer (on the current tokio runtime): `write` writes one batch and
    /// answers every request in it.
    pub(crate) fn new<W, F>(writer: &'static str, write: W) -> BatchQueue<R, A>
    where
        W: Fn(Vec<Pending<R, A>>) -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let (requests, queued) = mpsc::unbounded_channel();
        tokio::spawn(write_batches(queued, write));
        BatchQueue { requests, writer }
    }

    /// Queues `request`; resolves with its answer once its batch is written.
    pub(crate) async fn submit(&self, request: R) -> Result<A> {
        let stopped = || StoreError::Unavailable(format!("{} has stopped", self.writer));
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Pending { request, reply })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Takes whatever has queued, up to [`BATCH`], whenever a slot is free, until every
/// sender is gone.
async fn write_batches<R, A, W, F>(mut queued: mpsc::UnboundedReceiver<Pending<R, A>>, write: W)
where
    W: Fn(Vec<Pending<R, A>>) -> F,
    F: Future<Output = ()> + Send + 'static,
{
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
        let written = write(batch);
        // Boxed, so that spawning moves a pointer rather than the batch's future.
        tokio::spawn(Box::pin(async move {
            written.await;
            drop(slot);
        }));
    }
}
