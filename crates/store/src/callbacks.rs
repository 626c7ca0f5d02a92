//! Task tokens as the API's callbacks use them — `SendTaskSuccess`, `SendTaskFailure`,
//! `SendTaskHeartbeat`, approval links — and the activity queue `GetActivityTask` takes
//! from.
//!
//! A store keeps a token's SHA-256 only ([`cairn_asl::callback::token_hash`]). A token is
//! single-use: completing its task closes it, and a closed token answers
//! [`TokenOutcome::Closed`] (AWS's `TaskTimedOut`) for ever after.

use std::future::Future;

use crate::Result;

/// What a token lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenOutcome {
    /// The request took effect.
    Done,
    /// No task ever had this token: AWS's `InvalidToken`.
    Unknown,
    /// The task is over (completed, timed out, its execution ended): AWS's `TaskTimedOut`.
    Closed,
}

/// How a callback ends a task.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenAnswer {
    /// `SendTaskSuccess`: the output, already validated as JSON.
    Success(serde_json::Value),
    /// `SendTaskFailure`.
    Failure {
        error: String,
        cause: Option<String>,
    },
}

/// An activity task handed to a `GetActivityTask` poller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityTask {
    pub token: String,
    /// JSON text.
    pub input: String,
}

/// What a callback queues for task `task`: its start first when nobody started it (a
/// task row not yet leased: `TaskStarted`; an activity task no poller took:
/// `ActivityStarted`), then the answer.
pub(crate) fn answer_events(
    task: u64,
    unstarted_task: bool,
    unstarted_activity: bool,
    answer: TokenAnswer,
) -> Vec<cairn_asl::interpreter::Event> {
    use cairn_asl::interpreter::Event;
    let mut events = Vec::with_capacity(2);
    if unstarted_task {
        events.push(Event::TaskStarted { task });
    } else if unstarted_activity {
        events.push(Event::ActivityStarted {
            task,
            worker_name: None,
        });
    }
    events.push(match answer {
        TokenAnswer::Success(output) => Event::TaskSucceeded { task, output },
        TokenAnswer::Failure { error, cause } => Event::TaskFailed { task, error, cause },
    });
    events
}

/// Tokens and the activity queue.
pub trait Callbacks: Send + Sync {
    /// Whether `token` could still complete its task, changing nothing: `Done` when it
    /// is open, else what [`Callbacks::complete_by_token`] would answer. A hint only (the
    /// task can end a moment later); `complete_by_token` decides.
    fn token_state(&self, token: &str) -> impl Future<Output = Result<TokenOutcome>> + Send;

    /// `SendTaskSuccess` / `SendTaskFailure`: in one transaction, the task's outcome goes
    /// to its execution's inbox (after its `TaskStarted`/`ActivityStarted`, when the
    /// callback came before the task was started) and the token closes, so it works once.
    fn complete_by_token(
        &self,
        token: &str,
        answer: TokenAnswer,
    ) -> impl Future<Output = Result<TokenOutcome>> + Send;

    /// `SendTaskHeartbeat`: moves the task's heartbeat timer a full `HeartbeatSeconds`
    /// into the future.
    fn heartbeat_by_token(&self, token: &str) -> impl Future<Output = Result<TokenOutcome>> + Send;

    /// Takes the oldest queued task of `activity_arn`, if any, for one poller (two
    /// pollers never get the same task), recording `ActivityStarted` and starting the
    /// heartbeat timer in the same transaction.
    fn claim_activity_task(
        &self,
        activity_arn: &str,
        worker_name: Option<&str>,
    ) -> impl Future<Output = Result<Option<ActivityTask>>> + Send;
}
