//! The lease loop: takes ready task rows from the store, invokes their targets and
//! records each outcome as an event for its execution — in one transaction with the
//! removal of the task row. Outcomes that finish together are recorded together: one
//! recorder commits whatever has queued up while its previous commit was in flight.
//!
//! Invocation is at-least-once. A lease lasts [`RunnerConfig::lease`] and is renewed
//! while the target runs; if this process dies, the lease expires and another worker
//! takes the task over. Whichever result is recorded first wins; the interpreter ignores
//! a second one for the same task.

use std::sync::Arc;
use std::time::Duration;

use cairn_asl::task::TaskOutcome;
use cairn_store::tasks::{Completion, LeasedTask};
use cairn_store::Store;
use tokio::sync::{mpsc, watch, Notify, OwnedSemaphorePermit, Semaphore};

use crate::{Invocation, Targets};

/// How a worker loop behaves.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Names this worker in lease rows; unique per process.
    pub owner: String,
    /// Most invocations in flight.
    pub concurrency: usize,
    /// How long a lease lasts before another worker may take the task.
    pub lease: Duration,
    /// Longest sleep when idle, in case a notification was missed.
    pub idle_poll: Duration,
}

/// The tasks this process's scheduler leases to this worker in the advance that creates
/// them (`cairn_scheduler::handoff`), each with the worker slot it holds; the slots are
/// shared with the scheduler, which takes one per task it hands over.
pub struct LocalTasks {
    pub slots: Arc<Semaphore>,
    pub tasks: mpsc::UnboundedReceiver<(LeasedTask, OwnedSemaphorePermit)>,
}

/// Runs until `shutdown` turns true, then waits for in-flight invocations (they finish
/// and are recorded) and gives back any lease still held. With `local`, it also runs the
/// tasks this process's scheduler hands over, in the same slots (`config.concurrency`
/// is then `local.slots`'s size).
pub async fn run<S>(
    store: S,
    targets: Arc<Targets>,
    config: RunnerConfig,
    doorbell: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
    local: Option<LocalTasks>,
) where
    S: Store,
{
    let (outcomes, queued) = mpsc::channel(config.concurrency.max(1));
    let recorder = tokio::spawn(record(store.clone(), queued));
    let (permits, handed) = match local {
        Some(local) => {
            let handed = tokio::spawn(run_handed(
                local.tasks,
                store.clone(),
                targets.clone(),
                config.clone(),
                outcomes.clone(),
                shutdown.clone(),
            ));
            (local.slots, Some(handed))
        }
        None => (Arc::new(Semaphore::new(config.concurrency.max(1))), None),
    };
    let mut failures = 0u32;
    while !*shutdown.borrow() {
        let notified = doorbell.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let free = permits.available_permits();
        let leased = if free == 0 {
            Vec::new()
        } else {
            match store
                .lease_tasks(&config.owner, free as i64, config.lease)
                .await
            {
                Ok(tasks) => {
                    failures = 0;
                    tasks
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    tracing::error!(%error, "leasing tasks failed");
                    tokio::time::sleep(Duration::from_millis(100 * 2u64.pow(failures.min(6))))
                        .await;
                    continue;
                }
            }
        };
        let full = leased.len() == free && free > 0;
        let takeovers = leased.iter().filter(|t| t.taken_over).count();
        if takeovers > 0 {
            cairn_telemetry::task_lease_takeovers(takeovers as u64);
            tracing::info!(takeovers, "took over tasks whose lease had expired");
        }
        for task in leased {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            spawn_invocation(&store, &targets, &config, &outcomes, task, permit);
        }
        if full {
            continue;
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep(config.idle_poll) => {}
            _ = shutdown.changed() => {}
            // A slot freed up while all were busy.
            _ = permits.clone().acquire_owned(), if free == 0 => {}
        }
    }
    // No more handed-over tasks; let in-flight invocations finish and record their
    // results. (A scheduler holds a slot until its task is handed over or given back.)
    if let Some(handed) = handed {
        let _ = handed.await;
    }
    // Holding every slot, so that no scheduler leases a task here after the release.
    let _all_slots = permits.acquire_many(config.concurrency.max(1) as u32).await;
    drop(outcomes);
    let _ = recorder.await;
    match store.release_leases(&config.owner).await {
        // Said either way, so an operator can tell a clean stop from one cut short.
        Ok(0) => tracing::info!("no leases to give back"),
        Ok(n) => tracing::info!(released = n, "gave back leases"),
        Err(error) => tracing::warn!(%error, "could not give back leases; they will expire"),
    }
}

/// Runs the tasks the scheduler hands over until shutdown; then stops taking them (the
/// scheduler gives the slots of any it could not hand over back).
async fn run_handed<S>(
    mut handed: mpsc::UnboundedReceiver<(LeasedTask, OwnedSemaphorePermit)>,
    store: S,
    targets: Arc<Targets>,
    config: RunnerConfig,
    outcomes: mpsc::Sender<(Completion, tokio::time::Instant, bool)>,
    mut shutdown: watch::Receiver<bool>,
) where
    S: Store,
{
    loop {
        tokio::select! {
            next = handed.recv() => match next {
                Some((task, slot)) => {
                    spawn_invocation(&store, &targets, &config, &outcomes, task, slot);
                }
                None => return,
            },
            _ = shutdown.wait_for(|stop| *stop) => break,
        }
    }
    handed.close();
    // Committed and handed over before the close: still ours to run.
    while let Ok((task, slot)) = handed.try_recv() {
        spawn_invocation(&store, &targets, &config, &outcomes, task, slot);
    }
}

/// Invokes `task` in the background, queues its outcome for recording and frees its
/// slot.
fn spawn_invocation<S>(
    store: &S,
    targets: &Arc<Targets>,
    config: &RunnerConfig,
    outcomes: &mpsc::Sender<(Completion, tokio::time::Instant, bool)>,
    task: LeasedTask,
    slot: OwnedSemaphorePermit,
) where
    S: Store,
{
    let store = store.clone();
    let targets = targets.clone();
    let config = config.clone();
    let outcomes = outcomes.clone();
    // Boxed: an invocation's future is kilobytes (the lease renewal around the target's
    // call), and tokio moves an unboxed one several times while spawning and finishing it.
    tokio::spawn(Box::pin(async move {
        let (completion, mocked) = invoke(&store, &targets, &config, task).await;
        let give_up = tokio::time::Instant::now() + config.lease;
        let _ = outcomes.send((completion, give_up, mocked)).await;
        drop(slot);
    }));
}

/// Invokes one task, renewing its lease meanwhile; a task its execution's test case
/// mocks is answered without invoking anything. `true` with the completion: a mock
/// answered, which ends even a `.waitForTaskToken` task (Step Functions Local takes the
/// mocked response as the answer the token would bring).
async fn invoke<S: Store>(
    store: &S,
    targets: &Targets,
    config: &RunnerConfig,
    task: LeasedTask,
) -> (Completion, bool) {
    if let Some(outcome) = crate::mocked::answer(store, targets, &task).await {
        let event = outcome.into_event(task.task_id as u64);
        return (Completion { task, event }, true);
    }
    let invocation = Invocation::from(&task);
    let span = tracing::info_span!("task", execution = %task.execution_arn, state = %task.state_name, attempt = task.attempt);
    let _enter = span.enter();
    let renew_every = config.lease / 3;
    let outcome = {
        let attempt = cairn_telemetry::trace::within_parent(
            task.trace_parent.as_deref(),
            task.trace_state.as_deref(),
            invoke_with_store(store, targets, &invocation),
        );
        let invoke = cairn_telemetry::timed_task(&task.resource, attempt);
        tokio::pin!(invoke);
        loop {
            tokio::select! {
                outcome = &mut invoke => break outcome,
                _ = tokio::time::sleep(renew_every) => {
                    if let Err(error) = store.renew_leases(&config.owner, &[task.id], config.lease).await {
                        tracing::warn!(%error, "lease renewal failed");
                    }
                }
            }
        }
    };
    let event = outcome.into_event(task.task_id as u64);
    (Completion { task, event }, false)
}

/// Invokes one attempt: as [`Targets::invoke`] does, except a Map's item read, whose
/// items go into the store rather than into the task's output (`crate::s3::items`),
/// and its results' write, which pages them from the store (`crate::s3::results`).
async fn invoke_with_store<S: Store>(
    store: &S,
    targets: &Targets,
    invocation: &Invocation,
) -> TaskOutcome {
    let (arn, input) = (&invocation.execution_arn, &invocation.input);
    let done = if invocation.resource == cairn_asl::interpreter::READ_ITEMS_RESOURCE {
        crate::s3::items::read_item_rows(store, targets.s3(), arn, input).await
    } else if invocation.resource == cairn_asl::distributed::results::WRITE_RESULTS_RESOURCE {
        crate::s3::results::write_stored_results(store, targets.s3(), arn, input).await
    } else {
        return targets.invoke(invocation).await;
    };
    match done {
        Ok(output) => TaskOutcome::Succeeded(output),
        Err(error) => error.into_outcome(),
    }
}

/// Most outcomes recorded in one commit.
const RECORD_BATCH: usize = 512;

/// Records outcomes as they arrive, each commit taking everything queued meanwhile,
/// until every sender is gone.
async fn record<S: Store>(
    store: S,
    mut queued: mpsc::Receiver<(Completion, tokio::time::Instant, bool)>,
) {
    let mut batch: Vec<(Completion, tokio::time::Instant, bool)> = Vec::new();
    while let Some(first) = queued.recv().await {
        batch.push(first);
        while batch.len() < RECORD_BATCH {
            match queued.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        // The database may be briefly away (a restart): keep the results and try again
        // while their leases can still be valid.
        let mut delay = Duration::from_millis(50);
        loop {
            let completions: Vec<(Completion, bool)> = batch
                .iter()
                .map(|(c, _, mocked)| (c.clone(), *mocked))
                .collect();
            match crate::callback::record(&store, &completions).await {
                Ok(recorded) => {
                    let dropped = recorded.iter().filter(|r| !**r).count();
                    if dropped > 0 {
                        cairn_telemetry::task_results_dropped(dropped as u64);
                        tracing::info!(
                            dropped,
                            "tasks were cancelled or completed elsewhere; results dropped"
                        );
                    }
                    batch.clear();
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "recording task results failed; retrying");
                    let now = tokio::time::Instant::now();
                    let before = batch.len();
                    // Past its lease, another worker will redo the task.
                    batch.retain(|(_, give_up, _)| *give_up > now);
                    if batch.len() < before {
                        tracing::error!(
                            expired = before - batch.len(),
                            "giving up on recording results whose leases have expired"
                        );
                    }
                    if batch.is_empty() {
                        break;
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}
