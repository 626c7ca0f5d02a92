//! SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat and GetActivityTask: the
//! operations that complete `.waitForTaskToken` and activity tasks through their token.

use cairn_store::Store;
use std::time::Duration;

use cairn_store::callbacks::{TokenAnswer, TokenOutcome};
use serde_json::{json, Value};

use crate::arn::{self, Kind};
use crate::error::ApiError;
use crate::input::{check_length, Input};
use crate::ApiState;

/// AWS's limit on `output`: 256 KiB of UTF-8.
const MAX_OUTPUT_BYTES: usize = 256 * 1024;
/// AWS's model limit on `taskToken`.
const MAX_TOKEN_CHARS: usize = 2048;
/// Longest a poll sleeps between two looks at the queue when no NOTIFY arrives. The
/// doorbell rings for every queued task (and after a listener reconnect), so this only
/// bounds the damage of a lost notification; idle pollers cost one query per period.
const POLL_RESCAN: Duration = Duration::from_secs(2);

fn token(input: &Input) -> Result<&str, ApiError> {
    let token = input.required_string("taskToken")?;
    check_length("taskToken", token, 1, MAX_TOKEN_CHARS, true)?;
    Ok(token)
}

/// AWS's answer for a token that no longer works or never did.
fn answer(outcome: TokenOutcome) -> Result<Value, ApiError> {
    match outcome {
        TokenOutcome::Done => Ok(json!({})),
        TokenOutcome::Unknown => Err(ApiError::InvalidToken("Invalid token".to_string())),
        TokenOutcome::Closed => Err(ApiError::TaskTimedOut(
            "Provided task does not exist anymore".to_string(),
        )),
    }
}

pub async fn send_success<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let token = token(input)?;
    let output = input.required_string("output")?;
    if output.len() > MAX_OUTPUT_BYTES {
        return Err(ApiError::constraint(
            "output",
            None,
            &format!("Member must have length less than or equal to {MAX_OUTPUT_BYTES}"),
        ));
    }
    let output: Value = serde_json::from_str(output)
        .map_err(|e| ApiError::InvalidOutput(format!("the output is not JSON: {e}")))?;
    let outcome = state
        .store()
        .complete_by_token(token, TokenAnswer::Success(output))
        .await?;
    answer(outcome)
}

pub async fn send_failure<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let token = token(input)?;
    let error = input.string("error")?.unwrap_or_default();
    check_length("error", error, 0, 256, true)?;
    let cause = input.string("cause")?;
    if let Some(cause) = cause {
        check_length("cause", cause, 0, 32768, true)?;
    }
    let completion = TokenAnswer::Failure {
        error: error.to_string(),
        cause: cause.map(str::to_string),
    };
    let outcome = state.store().complete_by_token(token, completion).await?;
    answer(outcome)
}

pub async fn send_heartbeat<S: Store>(
    state: &ApiState<S>,
    input: &Input,
) -> Result<Value, ApiError> {
    let token = token(input)?;
    let outcome = state.store().heartbeat_by_token(token).await?;
    answer(outcome)
}

/// Long-polls for up to [`crate::ApiConfig::activity_poll`] (AWS: 60 s): answers the
/// first task queued for the activity, or `{}` when none came, as AWS answers with no
/// `taskToken`. Each task goes to exactly one poller, whichever replica serves it.
pub async fn get_activity_task<S: Store>(
    state: &ApiState<S>,
    input: &Input,
) -> Result<Value, ApiError> {
    let activity_arn = input.required_string("activityArn")?;
    check_length("activityArn", activity_arn, 1, 256, false)?;
    arn::check("activityArn", activity_arn, Kind::Activity)?;
    let worker_name = input.string("workerName")?;
    if let Some(name) = worker_name {
        check_length("workerName", name, 1, 80, false)?;
    }
    if state.store().activity(activity_arn).await?.is_none() {
        return Err(ApiError::ActivityDoesNotExist(activity_arn.to_string()));
    }
    let deadline = tokio::time::Instant::now() + state.config().activity_poll;
    let doorbell = state.tasks_doorbell().await;
    loop {
        // Listen before looking, so a task queued in between still rings.
        let rung = doorbell.notified();
        tokio::pin!(rung);
        rung.as_mut().enable();
        if let Some(task) = state
            .store()
            .claim_activity_task(activity_arn, worker_name)
            .await?
        {
            return Ok(json!({ "taskToken": task.token, "input": task.input }));
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(json!({}));
        }
        let nap = (deadline - now).min(POLL_RESCAN);
        tokio::select! {
            _ = &mut rung => {}
            _ = tokio::time::sleep(nap) => {}
        }
    }
}
