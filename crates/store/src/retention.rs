//! Retention: a closed execution, and everything that belongs to it, is deleted once it
//! has been closed for longer than the operator keeps executions (`CAIRN_RETENTION`;
//! AWS keeps closed executions 90 days).
//!
//! "Everything that belongs to it": its row, its history, its inbox (late answers and
//! timers nobody cancelled), its task rows, its task tokens (the tombstones that make a
//! used token answer `TaskTimedOut`), its queued activity tasks, a large Map's stored
//! values, its redrive client tokens, its test case and its mocked invocations. Once it
//! is gone, DescribeExecution, GetExecutionHistory and RedriveExecution answer
//! `ExecutionDoesNotExist`, and a token it issued `InvalidToken`.
//!
//! Any number of replicas may purge at once: each call takes a small batch of closed
//! executions that no other transaction holds (Postgres: `FOR UPDATE SKIP LOCKED`), so
//! two purges never delete the same rows twice nor wait on each other, and a purge
//! never waits on an execution a scheduler or a redrive holds.

use std::future::Future;

use crate::{Result, Time};

/// How long closed executions are kept by default (AWS: 90 days).
pub const RETENTION_DAYS: i64 = 90;

/// Deleting executions that closed long enough ago.
pub trait Retention: Send + Sync {
    /// Deletes, in one transaction, at most `limit` executions that closed (SUCCEEDED,
    /// FAILED, TIMED_OUT or ABORTED) before `closed_before`, oldest first, with
    /// everything that belongs to them. Executions another transaction holds are
    /// skipped, to be taken by a later call. Returns how many were deleted: fewer than
    /// `limit` means nothing more was due (or free) at this call.
    fn purge_closed(
        &self,
        closed_before: Time,
        limit: i64,
    ) -> impl Future<Output = Result<u64>> + Send;
}
