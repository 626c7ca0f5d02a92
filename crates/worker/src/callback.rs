//! Recording the invocation of a task whose resource ends in `.waitForTaskToken`: the
//! target's answer does not end the task; it is recorded as `TaskSubmitted` and the task
//! waits for `SendTaskSuccess`/`SendTaskFailure` with its token. A failed invocation
//! fails the task as for any other resource.

use cairn_asl::task::Route;
use cairn_store::tasks::Completion;
use cairn_store::{Result, Store};

/// Records the outcomes of invoking `completions`' targets, each the way its pattern
/// asks: plain tasks all together in one commit, `.waitForTaskToken` ones (rare, and each
/// with its own token bookkeeping) one by one. A completion marked `true` was answered
/// by a mock and ends its task whatever the pattern. One flag per completion, in order:
/// `false` when the task row was gone and the outcome dropped.
pub(crate) async fn record<S: Store>(
    store: &S,
    completions: &[(Completion, bool)],
) -> Result<Vec<bool>> {
    let is_callback = |(c, mocked): &(Completion, bool)| {
        !mocked && Route::of(&c.task.resource) == Route::InvokeThenWait
    };
    let plain: Vec<Completion> = completions
        .iter()
        .filter(|c| !is_callback(c))
        .map(|(c, _)| c.clone())
        .collect();
    let mut plain_recorded = store.complete_tasks(&plain).await?.into_iter();
    let mut recorded = Vec::with_capacity(completions.len());
    for completion in completions {
        if is_callback(completion) {
            let (completion, _) = completion;
            recorded.push(
                store
                    .record_submission(&completion.task, &completion.event)
                    .await?,
            );
        } else {
            // Activity tasks never reach a worker (they wait in `activity_tasks`).
            recorded.push(plain_recorded.next().unwrap_or(false));
        }
    }
    Ok(recorded)
}
