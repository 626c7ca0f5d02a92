//! StartExecution, StopExecution, RedriveExecution, DescribeExecution, ListExecutions,
//! GetExecutionHistory.

use cairn_asl::history::details_key;
use cairn_asl::ExecutionStatus;
use cairn_store::catalog::MachineType;
use cairn_store::executions::{ExecutionCursor, ExecutionsOf, NewExecution, Started, StoredEvent};
use cairn_store::Store;
use serde_json::{json, Map, Value};

use super::page;
use super::state_machines::read_included_data;
use crate::arn::{self, Kind, MachineArn, Qualifier};
use crate::error::ApiError;
use crate::input::{check_enum, check_length, Input};
use crate::{epoch, page as token, ApiState};

/// AWS's limit on an execution's input, in UTF-8 bytes.
const MAX_INPUT_BYTES: usize = 256 * 1024;
/// What AWS's ExecutionStatus has beyond Cairn's statuses: a redriven execution is
/// RUNNING from the redrive's commit on, so none is ever waiting to be redriven here, but
/// the filter is valid.
const PENDING_REDRIVE: &str = "PENDING_REDRIVE";

/// A checked StartExecution / StartSyncExecution request.
pub(crate) struct StartRequest<'a> {
    /// The ARN as given: the machine's, or one of its versions' or aliases'.
    pub machine_arn: &'a str,
    pub machine: MachineArn,
    /// The caller's name, or a fresh UUID.
    pub name: String,
    /// The input as sent: valid JSON within AWS's size limit.
    pub input: &'a str,
    pub trace_header: Option<&'a str>,
    /// The request's W3C `traceparent` and `tracestate` headers.
    pub traceparent: Option<&'a str>,
    pub tracestate: Option<&'a str>,
}

/// Checks the members StartExecution and StartSyncExecution share, as AWS checks them.
impl<'a> StartRequest<'a> {
    /// A W3C Trace Context header of the request: `traceparent` or `tracestate`.
    pub fn trace_context(&self, name: &str) -> Option<&'a str> {
        match name {
            "traceparent" => self.traceparent,
            "tracestate" => self.tracestate,
            _ => None,
        }
    }
}

pub(crate) fn read_start(input: &Input) -> Result<StartRequest<'_>, ApiError> {
    let machine_arn = input.required_string("stateMachineArn")?;
    let machine = arn::check_machine("stateMachineArn", machine_arn)?;
    let name = match input.string("name")? {
        Some(name) => {
            arn::check_name("name", name)?;
            name.to_string()
        }
        None => uuid::Uuid::new_v4().to_string(),
    };
    let execution_input = input.string("input")?.unwrap_or("{}");
    if execution_input.len() > MAX_INPUT_BYTES {
        return Err(ApiError::constraint(
            "input",
            None,
            &format!("Member must have length less than or equal to {MAX_INPUT_BYTES}"),
        ));
    }
    let trace_header = input.string("traceHeader")?;
    if let Some(header) = trace_header {
        check_length("traceHeader", header, 0, 256, false)?;
    }
    if let Err(e) = serde_json::from_str::<Value>(execution_input) {
        return Err(ApiError::InvalidExecutionInput(e.to_string()));
    }
    Ok(StartRequest {
        machine_arn,
        machine,
        name,
        input: execution_input,
        trace_header,
        traceparent: input.trace_header("traceparent"),
        tracestate: input.trace_header("tracestate"),
    })
}

/// Starts an execution. A STANDARD one goes through the durable path (idempotent by
/// name); an EXPRESS one runs in this process, recorded only until it ends (see
/// [`super::express::start_async`]).
pub async fn start<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    if let Some(mocks) = state.targets().mock_config() {
        if let Some(arn) = input.string("stateMachineArn")? {
            if let Some((machine_arn, case)) = arn.rsplit_once('#') {
                return super::test_cases::start(state, mocks, input, machine_arn, case).await;
            }
        }
    }
    let request = read_start(input)?;
    let traced = state.machine_traced(&request.machine.machine).await;
    let execution = |version: Option<i64>, alias_arn: Option<String>| {
        new_execution(&request, version, alias_arn, traced)
    };
    if request.machine.qualifier.is_none() {
        // The common case, a STANDARD machine, in one statement: the machine's lookup
        // folded into the execution's insert.
        if let Some(started) = state
            .store()
            .start_execution(&execution(None, None))
            .await?
        {
            return Ok(started_answer(&request.machine.machine, started));
        }
    }
    // Twice at most: a STANDARD machine created between the start and the lookup is
    // started on the second try.
    for _ in 0..2 {
        let target = super::versions::start_target(state, &request.machine).await?;
        if target.machine.machine_type == MachineType::Express {
            return super::express::start_async(state, &target.as_run(), request).await;
        }
        let version = target.version.as_ref().map(|v| v.version);
        let started = state
            .store()
            .start_execution(&execution(version, target.alias_arn.clone()))
            .await?;
        if let Some(started) = started {
            return Ok(started_answer(&request.machine.machine, started));
        }
    }
    Err(ApiError::Internal(format!(
        "the STANDARD machine {} could not be started",
        request.machine_arn
    )))
}

/// The execution `request` starts (of `version`, through `alias_arn`, when given).
pub(crate) fn new_execution(
    request: &StartRequest<'_>,
    version: Option<i64>,
    alias_arn: Option<String>,
    traced: bool,
) -> NewExecution {
    let machine_name = request.machine.name();
    let prefix = request
        .machine
        .machine
        .rsplit_once(":stateMachine:")
        .map(|(p, _)| p)
        .unwrap_or_default();
    NewExecution {
        machine_arn: request.machine.machine.clone(),
        version,
        alias_arn,
        // The execution's ARN shares the machine's partition, region and account, and
        // names the machine, not the version or alias.
        arn: format!("{prefix}:execution:{machine_name}:{}", request.name),
        name: request.name.clone(),
        input: request.input.to_string(),
        started_at: chrono::Utc::now(),
        trace: cairn_telemetry::trace::start_execution(traced, |name| request.trace_context(name)),
    }
}

/// StartExecution's answer, once the execution is stored.
pub(crate) fn started_answer(machine_arn: &str, started: Started) -> Value {
    if started.created {
        cairn_telemetry::execution_started(machine_arn);
    }
    tracing::info!(execution = %started.arn, created = started.created, "execution started");
    json!({
        "executionArn": started.arn,
        "startDate": epoch(started.started_at),
    })
}

pub async fn stop<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let execution_arn = input.required_string("executionArn")?;
    arn::check("executionArn", execution_arn, Kind::Execution)?;
    let error = input.string("error")?;
    if let Some(e) = error {
        check_length("error", e, 0, 256, true)?;
    }
    let cause = input.string("cause")?;
    if let Some(c) = cause {
        check_length("cause", c, 0, 32768, true)?;
    }
    let execution = state.store().describe_execution(execution_arn).await?;
    if let Some(stopped) = execution.stopped_at {
        return Ok(json!({ "stopDate": epoch(stopped) }));
    }
    state
        .store()
        .stop_execution(execution_arn, error, cause)
        .await?;
    // The stop is an event the scheduler applies; AWS answers once the execution is
    // ABORTED, so a DescribeExecution right after shows it. Wait for that (a scheduler is
    // woken at once), answering the stored stop date; without a scheduler to apply it in
    // time, the stop stays queued and the answer is now.
    let deadline = tokio::time::Instant::now() + STOP_WAIT;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let execution = state.store().describe_execution(execution_arn).await?;
        if let Some(stopped) = execution.stopped_at {
            return Ok(json!({ "stopDate": epoch(stopped) }));
        }
    }
    Ok(json!({ "stopDate": epoch(chrono::Utc::now()) }))
}

/// How long StopExecution waits for the stop to be applied before it answers anyway.
const STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

pub async fn redrive<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let execution_arn = input.required_string("executionArn")?;
    arn::check("executionArn", execution_arn, Kind::Execution)?;
    let client_token = input.string("clientToken")?;
    if let Some(token) = client_token {
        check_length("clientToken", token, 1, 64, false)?;
        if !token.chars().all(|c| ('!'..='~').contains(&c)) {
            return Err(ApiError::constraint(
                "clientToken",
                Some(token),
                "Member must satisfy regular expression pattern: [!-~]+",
            ));
        }
    }
    let redriven = state
        .store()
        .redrive_execution(execution_arn, client_token, chrono::Utc::now())
        .await?;
    if redriven.redriven {
        cairn_telemetry::execution_redriven(&redriven.state_machine_arn);
        tracing::info!(execution = %execution_arn, "execution redriven");
    }
    Ok(json!({ "redriveDate": epoch(redriven.redrive_date) }))
}

pub async fn describe<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let execution_arn = input.required_string("executionArn")?;
    arn::check("executionArn", execution_arn, Kind::Execution)?;
    let metadata_only = read_included_data(input)?;
    let e = state.store().describe_execution(execution_arn).await?;
    let mut out = Map::new();
    out.insert("executionArn".into(), json!(e.arn));
    out.insert("stateMachineArn".into(), json!(e.state_machine_arn));
    if let Some(version) = &e.version_arn {
        out.insert("stateMachineVersionArn".into(), json!(version));
    }
    if let Some(alias) = &e.alias_arn {
        out.insert("stateMachineAliasArn".into(), json!(alias));
    }
    out.insert("name".into(), json!(e.name));
    out.insert("status".into(), json!(e.status.as_str()));
    out.insert("startDate".into(), epoch(e.started_at));
    if let Some(stopped) = e.stopped_at {
        out.insert("stopDate".into(), epoch(stopped));
    }
    if let Some(run) = &e.map_run_arn {
        out.insert("mapRunArn".into(), json!(run));
    }
    if !metadata_only {
        out.insert("input".into(), json!(e.input));
        out.insert("inputDetails".into(), json!({"included": true}));
        if let Some(output) = &e.output {
            out.insert("output".into(), json!(output));
            out.insert("outputDetails".into(), json!({"included": true}));
        }
    }
    if let Some(error) = &e.error {
        out.insert("error".into(), json!(error));
    }
    if let Some(cause) = &e.cause {
        out.insert("cause".into(), json!(cause));
    }
    out.insert("redriveCount".into(), json!(e.redrive_count));
    if let Some(redriven) = e.redrive_date {
        out.insert("redriveDate".into(), epoch(redriven));
    }
    match e.redrivability(chrono::Utc::now()) {
        Ok(()) => {
            out.insert("redriveStatus".into(), json!("REDRIVABLE"));
        }
        Err(why) => {
            out.insert("redriveStatus".into(), json!("NOT_REDRIVABLE"));
            out.insert("redriveStatusReason".into(), json!(why.reason()));
        }
    }
    Ok(Value::Object(out))
}

fn execution_cursor(text: &str) -> Option<ExecutionCursor> {
    let (micros, arn) = text.split_once(' ')?;
    let started_at = chrono::DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    Some(ExecutionCursor {
        started_at,
        arn: arn.to_string(),
    })
}

pub async fn list<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let machine_arn = input.string("stateMachineArn")?;
    let map_run = input.string("mapRunArn")?;
    // The ARN's shape is checked before the filters, as AWS does.
    let target = match (machine_arn, map_run) {
        (Some(_), Some(_)) => {
            return Err(ApiError::Validation(
                "Specify either a stateMachineArn or a mapRunArn, not both".to_string(),
            ))
        }
        (None, None) => {
            return Err(ApiError::Validation(
                "Must provide a StateMachine ARN or MapRun ARN".to_string(),
            ))
        }
        (Some(machine), None) => {
            arn::check_machine("stateMachineArn", machine)?;
            Ok(machine)
        }
        (None, Some(run)) => {
            super::map_runs::check_map_run_arn(run)?;
            Err(run)
        }
    };
    let status = input.string("statusFilter")?;
    if let Some(s) = status {
        let mut statuses: Vec<&str> = ExecutionStatus::ALL.iter().map(|s| s.as_str()).collect();
        statuses.push(PENDING_REDRIVE);
        check_enum("statusFilter", s, &statuses)?;
    }
    let redrive = input.string("redriveFilter")?;
    if let Some(r) = redrive {
        check_enum("redriveFilter", r, &["REDRIVEN", "NOT_REDRIVEN"])?;
    }
    let limit = input.page_size("maxResults", 100, 1000)?;
    let after = match input.string("nextToken")? {
        Some(t) => {
            let cursor = token::decode("ListExecutions", t, 3096)?;
            Some(
                execution_cursor(&cursor)
                    .ok_or_else(|| ApiError::InvalidToken(format!("Invalid token: {t}")))?,
            )
        }
        None => None,
    };
    let of = match target {
        Ok(machine_arn) => machines_executions(state, machine_arn).await?,
        Err(run) => {
            if state.store().describe_map_run(run).await?.is_none() {
                return Err(super::map_runs::no_map_run(run));
            }
            ExecutionsOf::MapRun(run.to_string())
        }
    };
    // None is ever waiting to be redriven (PENDING_REDRIVE): see the constant.
    let status = match status.map(ExecutionStatus::parse) {
        Some(None) => return Ok(page("executions", Vec::new(), None)),
        Some(Some(status)) => Some(status),
        None => None,
    };
    let redriven = redrive.map(|r| r == "REDRIVEN");
    let mut executions = state
        .store()
        .list_executions(&of, status, redriven, after.as_ref(), limit + 1)
        .await?;
    let next = if executions.len() as i64 > limit {
        executions.truncate(limit as usize);
        executions.last().map(|e| {
            token::encode(
                "ListExecutions",
                &format!("{} {}", e.started_at.timestamp_micros(), e.arn),
            )
        })
    } else {
        None
    };
    let items = executions
        .into_iter()
        .map(|e| {
            let mut item = Map::new();
            item.insert("executionArn".into(), json!(e.arn));
            item.insert("stateMachineArn".into(), json!(e.state_machine_arn));
            if let Some(version) = &e.version_arn {
                item.insert("stateMachineVersionArn".into(), json!(version));
            }
            if let Some(alias) = &e.alias_arn {
                item.insert("stateMachineAliasArn".into(), json!(alias));
            }
            item.insert("name".into(), json!(e.name));
            item.insert("status".into(), json!(e.status.as_str()));
            item.insert("startDate".into(), epoch(e.started_at));
            if let Some(stopped) = e.stopped_at {
                item.insert("stopDate".into(), epoch(stopped));
            }
            if let ExecutionsOf::MapRun(run) = &of {
                item.insert("mapRunArn".into(), json!(run));
            }
            item.insert("redriveCount".into(), json!(e.redrive_count));
            if let Some(redriven) = e.redrive_date {
                item.insert("redriveDate".into(), epoch(redriven));
            }
            Value::Object(item)
        })
        .collect();
    Ok(page("executions", items, next))
}

/// Which executions `ListExecutions(stateMachineArn)` lists, once the machine (and its
/// version or alias) is known to exist and to be STANDARD.
async fn machines_executions<S: Store>(
    state: &ApiState<S>,
    machine_arn: &str,
) -> Result<ExecutionsOf, ApiError> {
    let listed = arn::check_machine("stateMachineArn", machine_arn)?;
    match state.store().state_machine(&listed.machine).await? {
        None => return Err(ApiError::StateMachineDoesNotExist(machine_arn.to_string())),
        // Express executions are not recorded (AWS: their history goes to CloudWatch
        // Logs only), so there is nothing to list.
        Some(m) if m.machine_type == MachineType::Express => {
            return Err(super::express::type_not_supported())
        }
        Some(_) => {}
    }
    let qualifier_exists = match &listed.qualifier {
        None => true,
        Some(Qualifier::Version(number)) => state
            .store()
            .state_machine_version(&listed.machine, *number)
            .await?
            .is_some(),
        Some(Qualifier::Alias(_)) => state.store().alias(machine_arn).await?.is_some(),
    };
    if !qualifier_exists {
        return Err(ApiError::StateMachineDoesNotExist(machine_arn.to_string()));
    }
    Ok(match &listed.qualifier {
        None => ExecutionsOf::Machine(listed.machine.clone()),
        Some(Qualifier::Version(_)) => ExecutionsOf::Version(machine_arn.to_string()),
        Some(Qualifier::Alias(_)) => ExecutionsOf::Alias(machine_arn.to_string()),
    })
}

/// Members of a details object that carry execution data.
const DATA_MEMBERS: &[&str] = &["input", "inputDetails", "output", "outputDetails"];

/// One stored event as `GetExecutionHistory` shows it.
fn event_json(event: StoredEvent, include_data: bool) -> Result<Value, ApiError> {
    let mut out = Map::new();
    out.insert("timestamp".into(), epoch(event.at));
    out.insert("type".into(), json!(event.event_type));
    out.insert("id".into(), json!(event.id));
    out.insert("previousEventId".into(), json!(event.previous_event_id));
    if let Some(key) = details_key(&event.event_type) {
        let mut details: Map<String, Value> = serde_json::from_str(&event.details)
            .map_err(|e| ApiError::Internal(format!("stored event details: {e}")))?;
        if !include_data {
            details.retain(|k, _| !DATA_MEMBERS.contains(&k.as_str()));
        }
        out.insert(key, Value::Object(details));
    }
    Ok(Value::Object(out))
}

pub async fn history<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let execution_arn = input.required_string("executionArn")?;
    arn::check("executionArn", execution_arn, Kind::Execution)?;
    let limit = input.page_size("maxResults", 100, 1000)?;
    let reverse = input.bool("reverseOrder")?.unwrap_or(false);
    let include_data = input.bool("includeExecutionData")?.unwrap_or(true);
    let direction = if reverse { "reverse" } else { "forward" };
    let after = match input.string("nextToken")? {
        Some(t) => {
            let cursor = token::decode("GetExecutionHistory", t, 1024)?;
            let invalid = || ApiError::InvalidToken(format!("Invalid token: {t}"));
            let (arn, rest) = cursor.rsplit_once(' ').ok_or_else(invalid)?;
            let (dir, id) = rest.split_once('@').ok_or_else(invalid)?;
            if arn != execution_arn || dir != direction {
                return Err(invalid());
            }
            Some(id.parse::<i64>().map_err(|_| invalid())?)
        }
        None => None,
    };
    let mut events = state
        .store()
        .history_page(execution_arn, after, limit + 1, reverse)
        .await?
        .ok_or_else(|| ApiError::ExecutionDoesNotExist(execution_arn.to_string()))?;
    let next = if events.len() as i64 > limit {
        events.truncate(limit as usize);
        events.last().map(|e| {
            token::encode(
                "GetExecutionHistory",
                &format!("{execution_arn} {direction}@{}", e.id),
            )
        })
    } else {
        None
    };
    let items = events
        .into_iter()
        .map(|e| event_json(e, include_data))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(page("events", items, next))
}
