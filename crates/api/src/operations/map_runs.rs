//! DescribeMapRun, ListMapRuns and UpdateMapRun: the Map Runs of Distributed Maps, as the scheduler's
//! commits keep them (`cairn_store::map_runs`).
//!
//! One iteration per item (a STANDARD run's child executions, an EXPRESS run's
//! iterations inside the parent: `docs/asl-support.md`), so `executionCounts` equal
//! `itemCounts`. As AWS's, the counts are disjoint and `total` is their sum: a child that
//! timed out is in `timedOut`, not in `failed`.

use cairn_asl::distributed::map_run::MapRunArn;
use cairn_asl::interpreter::MapRunUpdate;
use cairn_store::map_runs::{MapRunCursor, MapRunRecord, UpdateOutcome};
use cairn_store::Store;
use serde_json::{json, Map, Value};

use super::page;
use crate::arn::{self, Kind};
use crate::error::ApiError;
use crate::input::{check_length, Input};
use crate::{epoch, page as token, ApiState};

/// Checks a `mapRunArn` member: AWS's length limits, then its shape.
pub(super) fn check_map_run_arn(arn: &str) -> Result<MapRunArn, ApiError> {
    check_length("mapRunArn", arn, 1, 2000, false)?;
    let parsed = arn::parse(arn)?;
    if parsed.resource_type != "mapRun" {
        return Err(ApiError::InvalidArn(format!(
            "Resource type not valid in this context: {}",
            parsed.resource_type
        )));
    }
    MapRunArn::parse(arn).ok_or_else(|| ApiError::InvalidArn(arn.to_string()))
}

pub(super) fn no_map_run(arn: &str) -> ApiError {
    ApiError::ResourceNotFound(format!("Map Run Does Not Exist: '{arn}'"))
}

/// `itemCounts` / `executionCounts`.
fn counts(run: &MapRunRecord) -> Value {
    json!({
        "pending": run.pending(),
        "running": run.running,
        "succeeded": run.succeeded,
        "failed": run.failed,
        "timedOut": run.timed_out,
        "aborted": run.aborted,
        "total": run.total,
        "resultsWritten": run.results_written,
        "failuresNotRedrivable": 0,
        "pendingRedrive": 0,
    })
}

pub async fn describe<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let map_run_arn = input.required_string("mapRunArn")?;
    check_map_run_arn(map_run_arn)?;
    let run = state
        .store()
        .describe_map_run(map_run_arn)
        .await?
        .ok_or_else(|| no_map_run(map_run_arn))?;
    let mut out = Map::new();
    out.insert("mapRunArn".into(), json!(run.arn));
    out.insert("executionArn".into(), json!(run.execution_arn));
    out.insert("status".into(), json!(run.status.as_str()));
    out.insert("startDate".into(), epoch(run.started_at));
    if let Some(stopped) = run.stopped_at {
        out.insert("stopDate".into(), epoch(stopped));
    }
    out.insert("maxConcurrency".into(), json!(run.max_concurrency));
    out.insert(
        "toleratedFailurePercentage".into(),
        json!(run.tolerated_failure_percentage),
    );
    out.insert(
        "toleratedFailureCount".into(),
        json!(run.tolerated_failure_count),
    );
    out.insert("itemCounts".into(), counts(&run));
    out.insert("executionCounts".into(), counts(&run));
    out.insert("redriveCount".into(), json!(run.redrive_count));
    if let Some(redriven) = run.redrive_date {
        out.insert("redriveDate".into(), epoch(redriven));
    }
    Ok(Value::Object(out))
}

fn cursor(text: &str) -> Option<MapRunCursor> {
    let (micros, arn) = text.split_once(' ')?;
    let started_at = chrono::DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    Some(MapRunCursor {
        started_at,
        arn: arn.to_string(),
    })
}

pub async fn list<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let execution_arn = input.required_string("executionArn")?;
    arn::check("executionArn", execution_arn, Kind::Execution)?;
    let limit = input.page_size("maxResults", 100, 1000)?;
    let after = match input.string("nextToken")? {
        Some(t) => {
            let text = token::decode("ListMapRuns", t, 3096)?;
            Some(
                cursor(&text)
                    .ok_or_else(|| ApiError::InvalidToken(format!("Invalid token: {t}")))?,
            )
        }
        None => None,
    };
    // ExecutionDoesNotExist when there is no such execution.
    state.store().describe_execution(execution_arn).await?;
    let mut runs = state
        .store()
        .list_map_runs(execution_arn, after.as_ref(), limit + 1)
        .await?;
    let next = if runs.len() as i64 > limit {
        runs.truncate(limit as usize);
        runs.last().map(|r| {
            token::encode(
                "ListMapRuns",
                &format!("{} {}", r.started_at.timestamp_micros(), r.arn),
            )
        })
    } else {
        None
    };
    let items = runs
        .into_iter()
        .map(|run| {
            let mut item = Map::new();
            item.insert("executionArn".into(), json!(run.execution_arn));
            item.insert("mapRunArn".into(), json!(run.arn));
            if let Some(parsed) = MapRunArn::parse(&run.arn) {
                item.insert(
                    "stateMachineArn".into(),
                    json!(parsed.child_state_machine_arn()),
                );
            }
            item.insert("startDate".into(), epoch(run.started_at));
            if let Some(stopped) = run.stopped_at {
                item.insert("stopDate".into(), epoch(stopped));
            }
            Value::Object(item)
        })
        .collect();
    Ok(page("mapRuns", items, next))
}

/// A `Long` or `Integer` member at least 0.
fn non_negative(input: &Input, field: &str) -> Result<Option<u64>, ApiError> {
    match input.integer(field)? {
        None => Ok(None),
        Some(n) => u64::try_from(n).map(Some).map_err(|_| {
            ApiError::constraint(
                field,
                Some(&n.to_string()),
                "Member must have value greater than or equal to 0",
            )
        }),
    }
}

/// UpdateMapRun: checks everything, then queues the change for the run's execution,
/// which applies it in its next advance (more iterations start at once when the
/// concurrency grew; the tolerance applies to the failures still to come).
pub async fn update<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let map_run_arn = input.required_string("mapRunArn")?;
    check_map_run_arn(map_run_arn)?;
    let max_concurrency = non_negative(input, "maxConcurrency")?;
    let tolerated_failure_count = non_negative(input, "toleratedFailureCount")?;
    let tolerated_failure_percentage = input.number("toleratedFailurePercentage")?;
    if let Some(p) = tolerated_failure_percentage {
        if !(0.0..=100.0).contains(&p) {
            return Err(ApiError::constraint(
                "toleratedFailurePercentage",
                Some(&p.to_string()),
                "Member must have value between 0 and 100",
            ));
        }
    }
    if max_concurrency.is_none()
        && tolerated_failure_count.is_none()
        && tolerated_failure_percentage.is_none()
    {
        return Err(ApiError::Validation(
            "At least one of maxConcurrency, toleratedFailureCount and toleratedFailurePercentage must be given".to_string(),
        ));
    }
    let update = MapRunUpdate {
        map_run_arn: map_run_arn.to_string(),
        max_concurrency,
        tolerated_failure_count,
        tolerated_failure_percentage,
    };
    match state.store().update_map_run(&update).await? {
        UpdateOutcome::Queued => Ok(json!({})),
        UpdateOutcome::Missing => Err(no_map_run(map_run_arn)),
        UpdateOutcome::NotRunning => Err(ApiError::Validation(format!(
            "Map Run is not running and cannot be updated: '{map_run_arn}'"
        ))),
    }
}
