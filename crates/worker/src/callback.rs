//! Recording the invocation of a task whose resource ends in `.waitForTaskToken`: the
//! target's answer does not end the task; it is recorded as `TaskSubmitted` and the task
//! waits for `SendTaskSuccess`/`SendTaskFailure` with its token. A failed invocation
//! fails the task as for any other resource.

use cairn_asl::callback::Pattern;
use cairn_asl::interpreter::Event;
use cairn_store::{LeasedTask, Result, Store};

/// Records `event`, the outcome of invoking `task`'s target, the way its pattern asks.
/// `false` when the task row is gone and the outcome was dropped.
pub(crate) async fn record<S: Store>(store: &S, task: &LeasedTask, event: &Event) -> Result<bool> {
    match Pattern::of(&task.resource) {
        Pattern::WaitForTaskToken => store.record_callback_invocation(task, event).await,
        // Activity tasks never reach a worker (they wait in `activity_tasks`).
        Pattern::RequestResponse | Pattern::Activity => store.complete_task(task, event).await,
    }
}
