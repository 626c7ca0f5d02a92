//! Tasks a scheduler leases to its own process's worker in the advance that creates
//! them. A task so leased skips the round through the database a worker's lease loop
//! would make — finding the row, leasing it, queueing `TaskStarted` for the scheduler and
//! rewriting the snapshot once more for it — because the advance that inserts the row
//! inserts it leased and applies `TaskStarted` itself.
//!
//! Durability is unchanged: the leased row commits with the advance, so if this process
//! dies before the task runs, the lease expires and any worker takes the task over, as it
//! would take over a task leased the ordinary way.

use std::sync::Arc;
use std::time::Duration;

use cairn_asl::interpreter::TaskRequest;
use cairn_asl::task::Route;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::LeasedTask;

/// Whether a worker invokes `task`: not an activity (its workers poll GetActivityTask)
/// and not a nested execution (started inside the advance).
pub fn runs_on_worker(task: &TaskRequest) -> bool {
    Route::of(&task.resource).runs_on_worker()
}

/// The lease an advance gives the tasks it hands over.
#[derive(Debug, Clone)]
pub struct TaskLease {
    /// The worker's name in lease rows.
    pub owner: String,
    pub duration: Duration,
}

/// A task leased in the advance that created it, with the worker slot it runs in.
pub struct HandedTask {
    pub task: LeasedTask,
    pub slot: OwnedSemaphorePermit,
}

/// The scheduler's end: takes a free slot of the local worker for a task, and passes the
/// task over once its advance has committed.
#[derive(Debug, Clone)]
pub struct Handoff {
    pub lease: TaskLease,
    slots: Arc<Semaphore>,
    tasks: mpsc::UnboundedSender<HandedTask>,
}

/// The worker's end: its slots (shared with the scheduler, which takes one per task it
/// hands over) and the tasks handed over.
pub struct LocalTasks {
    pub slots: Arc<Semaphore>,
    pub tasks: mpsc::UnboundedReceiver<HandedTask>,
}

/// Connects a scheduler to a worker of `concurrency` slots that leases as `lease`.
pub fn local_worker(lease: TaskLease, concurrency: usize) -> (Handoff, LocalTasks) {
    let slots = Arc::new(Semaphore::new(concurrency.max(1)));
    let (sender, receiver) = mpsc::unbounded_channel();
    (
        Handoff {
            lease,
            slots: slots.clone(),
            tasks: sender,
        },
        LocalTasks {
            slots,
            tasks: receiver,
        },
    )
}

impl Handoff {
    /// A free worker slot, if there is one: the task that takes it will be leased in
    /// its advance. Dropping the slot unused gives it back.
    pub fn try_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }

    /// Passes a committed, leased task to the worker. When the worker has stopped
    /// taking tasks (it is shutting down) the slot is given back and the row keeps its
    /// lease, which the worker's shutdown releases or which expires.
    pub fn hand_over(&self, task: LeasedTask, slot: OwnedSemaphorePermit) {
        if self.tasks.send(HandedTask { task, slot }).is_err() {
            tracing::debug!("the local worker has stopped; the task's lease will be released");
        }
    }
}
