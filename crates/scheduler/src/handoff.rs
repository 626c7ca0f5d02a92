//! Tasks a scheduler leases to its own process's worker in the advance that creates
//! them. A task so leased skips the round through the database a worker's lease loop
//! would make — finding the row, leasing it, queueing `TaskStarted` for the scheduler and
//! rewriting the snapshot once more for it — because the plan applies `TaskStarted`
//! itself and the commit inserts the row leased ([`cairn_store::engine::NewTask::leased`]).
//!
//! Durability is unchanged: the leased row commits with the advance, so if this process
//! dies before the task runs, the lease expires and any worker takes the task over, as it
//! would take over a task leased the ordinary way. Nothing is handed over before its
//! commit.

use std::sync::Arc;

use cairn_store::tasks::{LeasedTask, TaskLease};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// A committed task leased to the local worker, with the worker slot it runs in.
pub type HandedTask = (LeasedTask, OwnedSemaphorePermit);

/// The scheduler's end of the link to its process's worker: takes the worker's free
/// slots for the tasks a plan starts, and passes each task over once its advance has
/// committed.
#[derive(Debug, Clone)]
pub struct Handoff {
    pub lease: TaskLease,
    slots: Arc<Semaphore>,
    tasks: mpsc::UnboundedSender<HandedTask>,
}

impl Handoff {
    /// A link to a worker of `concurrency` slots that leases as `lease`, and the worker's
    /// end: the slots it shares with the scheduler (which takes one per task it hands
    /// over) and the tasks handed over.
    pub fn new(
        lease: TaskLease,
        concurrency: usize,
    ) -> (Handoff, Arc<Semaphore>, mpsc::UnboundedReceiver<HandedTask>) {
        let slots = Arc::new(Semaphore::new(concurrency.max(1)));
        let (sender, receiver) = mpsc::unbounded_channel();
        let handoff = Handoff {
            lease,
            slots: slots.clone(),
            tasks: sender,
        };
        (handoff, slots, receiver)
    }

    /// How many of the worker's slots are free now.
    pub(crate) fn free_slots(&self) -> usize {
        self.slots.available_permits()
    }

    /// `n` free slots as one permit (split it per task), or `None` when fewer are free.
    pub(crate) fn take_slots(&self, n: usize) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(n).ok()?;
        self.slots.clone().try_acquire_many_owned(n).ok()
    }

    /// Passes a committed, leased task to the worker. When the worker has stopped
    /// taking tasks (it is shutting down) the slot is given back and the row keeps its
    /// lease, which the worker's shutdown releases or which expires.
    pub(crate) fn hand_over(&self, task: LeasedTask, slot: OwnedSemaphorePermit) {
        if self.tasks.send((task, slot)).is_err() {
            tracing::debug!("the local worker has stopped; the task's lease will be released");
        }
    }
}
