//! CPU-heavy work off the async runtime's worker threads.
//!
//! A poll that computes for seconds holds its worker thread for seconds, and with it
//! more than its own task: the tasks queued on that worker, and, when the other workers
//! are parked waiting for it, the I/O driver itself, so no socket of the process is
//! read until the poll returns (measured: a Distributed Map's last advance, which loads
//! and assembles 300,000 results, kept DescribeExecution from answering for 13 s on 2
//! cores; docs/benchmarks.md). [`run`] hands the worker's duties to another thread for
//! the length of such work (`tokio::task::block_in_place`), so the rest of the process
//! goes on. Small work runs in place: the hand-over costs a thread switch.

use tokio::runtime::{Handle, RuntimeFlavor};

/// Runs `work` where it does not hold up the runtime when `heavy` and the caller is on a
/// multi-threaded runtime; otherwise (light work, a current-thread runtime as in tests,
/// no runtime) runs it in place.
pub fn run<R>(heavy: bool, work: impl FnOnce() -> R) -> R {
    let multi_threaded = heavy
        && Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
    if multi_threaded {
        tokio::task::block_in_place(work)
    } else {
        work()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One worker thread, busy in `run`: a task spawned meanwhile still runs, which it
    /// could not if the work held the worker (the guard's long wait only keeps a broken
    /// build from hanging).
    fn other_task_runs_during(heavy: bool) -> bool {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            tokio::spawn(async move {
                run(heavy, || {
                    let (tx, rx) = std::sync::mpsc::channel();
                    tokio::spawn(async move { tx.send(()).ok() });
                    rx.recv_timeout(std::time::Duration::from_secs(if heavy { 60 } else { 1 }))
                        .is_ok()
                })
            })
            .await
            .expect("the heavy task ends")
        })
    }

    #[test]
    fn heavy_work_leaves_the_only_worker_free_for_other_tasks() {
        assert!(other_task_runs_during(true));
        // The same work in place holds the worker: what `run` is for.
        assert!(!other_task_runs_during(false));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_current_thread_runtime_runs_it_in_place() {
        assert_eq!(run(true, || 7), 7);
    }

    #[test]
    fn without_a_runtime_it_runs_in_place() {
        assert_eq!(run(true, || "done"), "done");
    }
}
