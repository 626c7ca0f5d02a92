//! Express executions: StartSyncExecution, and StartExecution on an EXPRESS machine.
//!
//! Both run the machine in this process with [`cairn_worker::express::run`] — the real
//! clock, the same task targets as the durable path — and keep no history: AWS keeps no
//! history of Express executions either (it goes to CloudWatch Logs only).
//! StartSyncExecution stores nothing (at most once, as AWS); StartExecution records the
//! run until it ends, so that a replica's crash runs it again elsewhere (at least once,
//! as AWS; see [`cairn_worker::express_runs`]). So
//! DescribeExecution, GetExecutionHistory and StopExecution refuse the `express:` ARN as
//! AWS does (`InvalidArn`, the resource type is not valid in that context), and
//! ListExecutions refuses an EXPRESS machine (`StateMachineTypeNotSupported`).
//!
//! Names are not idempotent for Express (AWS: "Idempotency is not automatically managed.
//! Starting multiple workflows with the same name results in concurrent executions");
//! each execution's ARN ends in a fresh UUID:
//! `arn:PARTITION:states:REGION:ACCOUNT:express:MACHINE:NAME:UUID`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cairn_asl::interpreter::ExecutionInfo;
use cairn_asl::validate::{validate, ValidateOptions};
use cairn_asl::StateMachine;
use cairn_store::catalog::{MachineType, StateMachineRecord};
use cairn_store::express_runs::ExpressRun;
use cairn_store::time::{from_time, to_time};
use cairn_store::Store;
use cairn_telemetry::execution_log::LoggingConfig;
use cairn_worker::express::{self, ExpressOptions, ExpressOutcome};
use cairn_worker::express_runs::ExpressRunError;
use serde_json::{json, Map, Value};
use tracing::Instrument;

use super::executions::{read_start, StartRequest};
use super::state_machines::read_included_data;
use crate::error::ApiError;
use crate::input::Input;
use crate::{epoch, ApiState};

/// AWS bills Express duration in 100 ms steps and memory in 64 MB steps.
const BILLED_DURATION_STEP_MS: u64 = 100;
const BILLED_MEMORY_MB: u64 = 64;

/// Parsed definitions by id: a stored definition never changes, so each is parsed once
/// per process rather than once per execution.
#[derive(Default)]
pub(crate) struct Definitions(Mutex<HashMap<i64, Arc<StateMachine>>>);

impl Definitions {
    fn get_or_parse(&self, id: i64, text: &str) -> Result<Arc<StateMachine>, ApiError> {
        if let Some(machine) = self.0.lock().ok().and_then(|m| m.get(&id).cloned()) {
            return Ok(machine);
        }
        let (machine, _) = validate(text, &ValidateOptions::default()).map_err(|d| {
            // A stored definition passed validation when it was created; failing now
            // means this build reads it differently, which is Cairn's fault.
            ApiError::Internal(format!(
                "the stored definition cannot be run: {}",
                cairn_asl::diagnostic::invalid_definition_message(&d)
            ))
        })?;
        let machine = Arc::new(machine);
        if let Ok(mut m) = self.0.lock() {
            m.insert(id, machine.clone());
        }
        Ok(machine)
    }
}

/// What AWS answers when an operation does not apply to the machine's type.
pub(crate) fn type_not_supported() -> ApiError {
    ApiError::StateMachineTypeNotSupported(
        "This operation is not supported by this type of state machine".to_string(),
    )
}

/// One Express execution, ready to run.
struct Prepared {
    machine: Arc<StateMachine>,
    input: Value,
    options: ExpressOptions,
}

fn prepare<S: Store>(
    state: &ApiState<S>,
    machine: &StateMachineRecord,
    request: &StartRequest<'_>,
    started_at: chrono::DateTime<chrono::Utc>,
) -> Result<Prepared, ApiError> {
    let parsed = state
        .express_definitions()
        .get_or_parse(machine.definition_id, &machine.definition)?;
    let input = serde_json::from_str(request.input)
        .map_err(|e| ApiError::InvalidExecutionInput(e.to_string()))?;
    // The execution's ARN shares the machine's partition, region and account.
    let prefix = machine
        .arn
        .rsplit_once(":stateMachine:")
        .map(|(p, _)| p)
        .unwrap_or_default();
    let info = ExecutionInfo {
        execution_arn: format!(
            "{prefix}:express:{}:{}:{}",
            machine.name,
            request.name,
            uuid::Uuid::new_v4()
        ),
        execution_name: request.name.clone(),
        state_machine_arn: machine.arn.clone(),
        state_machine_name: machine.name.clone(),
        role_arn: machine.role_arn.clone(),
        start_time: from_time(started_at),
        // Express executions cannot be redriven and show no count.
        redrive_count: None,
    };
    Ok(Prepared {
        machine: parsed,
        input,
        options: ExpressOptions {
            info,
            limits: state.config().limits,
            max_duration: state.config().express_max_duration,
            already_elapsed: std::time::Duration::ZERO,
            logging: LoggingConfig::from_stored(machine.logging.as_deref()),
        },
    })
}

/// StartExecution on an EXPRESS machine: the run is recorded with this replica's lease
/// (so that another replica runs it again should this one die: at least once, as AWS
/// promises for asynchronous Express), then spawned, and the ARN returned at once. The
/// record is deleted when the run ends (see [`cairn_worker::express_runs`]).
pub(crate) async fn start_async<S: Store>(
    state: &ApiState<S>,
    machine: &StateMachineRecord,
    request: StartRequest<'_>,
) -> Result<Value, ApiError> {
    let started_at = chrono::Utc::now();
    let prepared = prepare(state, machine, &request, started_at)?;
    let arn = prepared.options.info.execution_arn.clone();
    let run = ExpressRun {
        arn: arn.clone(),
        state_machine_arn: machine.arn.clone(),
        state_machine_name: machine.name.clone(),
        definition_id: machine.definition_id,
        role_arn: machine.role_arn.clone(),
        logging: machine.logging.clone(),
        tracing: machine.tracing.clone(),
        name: request.name.clone(),
        input: request.input.to_string(),
        started_at,
    };
    let runs = state.express_runs();
    runs.record(&run).await.map_err(|error| match error {
        ExpressRunError::Store(error) => ApiError::from(error),
    })?;
    tracing::info!(execution = %arn, "express execution started");
    cairn_telemetry::execution_started(&machine.arn);
    let span = express_span(&arn, machine, |name| request.trace_context(name));
    let Prepared {
        machine: parsed,
        input,
        options,
    } = prepared;
    runs.launch(&run, parsed, input, options, span);
    Ok(json!({
        "executionArn": arn,
        "startDate": epoch(started_at),
    }))
}

/// The span of an Express execution (exported when tracing is on): its task attempts
/// are its children, and a caller's `traceparent` makes it the caller's child.
fn express_span<'h>(
    arn: &str,
    machine: &StateMachineRecord,
    header: impl Fn(&str) -> Option<&'h str>,
) -> tracing::Span {
    let machine_arn = &machine.arn;
    let span = tracing::info_span!(
        "express_execution",
        otel.name = "execution",
        cairn.execution.arn = %arn,
        cairn.state_machine.arn = %machine_arn,
        cairn.execution.status = tracing::field::Empty,
    );
    if cairn_telemetry::trace::machine_traced(machine.tracing.as_deref()) {
        cairn_telemetry::trace::adopt_caller(&span, header);
    } else {
        cairn_telemetry::trace::leave_untraced(&span);
    }
    span
}

/// StartSyncExecution: runs an EXPRESS machine to the end and answers its outcome, with
/// HTTP 200 whether the execution succeeded or not.
pub async fn start_sync<S: Store>(state: &ApiState<S>, input: &Input) -> Result<Value, ApiError> {
    let request = read_start(input)?;
    let metadata_only = read_included_data(input)?;
    // A version or alias runs its version's definition.
    let machine = super::versions::start_target(state, &request.machine)
        .await?
        .as_run();
    if machine.machine_type != MachineType::Express {
        return Err(type_not_supported());
    }
    let started_at = chrono::Utc::now();
    let prepared = prepare(state, &machine, &request, started_at)?;
    let arn = prepared.options.info.execution_arn.clone();
    let span = express_span(&arn, &machine, |name| request.trace_context(name));
    cairn_telemetry::execution_started(&machine.arn);
    let outcome = express::run(
        &prepared.machine,
        prepared.input,
        prepared.options,
        state.targets().clone(),
    )
    .instrument(span.clone())
    .await;
    cairn_telemetry::execution_finished(&machine.arn, outcome.status, started_at);
    span.record("cairn.execution.status", outcome.status.as_str());
    Ok(sync_response(
        &arn,
        &machine,
        &request,
        started_at,
        &outcome,
        metadata_only,
    ))
}

fn sync_response(
    arn: &str,
    machine: &StateMachineRecord,
    request: &StartRequest<'_>,
    started_at: chrono::DateTime<chrono::Utc>,
    outcome: &ExpressOutcome,
    metadata_only: bool,
) -> Value {
    // The wall clock may step back during a run; a stop before the start is nonsense.
    let stopped_at = to_time(outcome.stopped_at).max(started_at);
    let mut out = Map::new();
    out.insert("executionArn".into(), json!(arn));
    out.insert("stateMachineArn".into(), json!(machine.arn));
    out.insert("name".into(), json!(request.name));
    out.insert("startDate".into(), epoch(started_at));
    out.insert("stopDate".into(), epoch(stopped_at));
    out.insert("status".into(), json!(outcome.status.as_str()));
    if let Some(error) = &outcome.error {
        out.insert("error".into(), json!(error));
    }
    if let Some(cause) = &outcome.cause {
        out.insert("cause".into(), json!(cause));
    }
    if !metadata_only {
        out.insert("input".into(), json!(request.input));
    }
    out.insert("inputDetails".into(), json!({ "included": !metadata_only }));
    if let Some(output) = &outcome.output {
        if !metadata_only {
            out.insert("output".into(), json!(output.to_string()));
        }
        out.insert(
            "outputDetails".into(),
            json!({ "included": !metadata_only }),
        );
    }
    if let Some(header) = request.trace_header {
        out.insert("traceHeader".into(), json!(header));
    }
    out.insert(
        "billingDetails".into(),
        billing(outcome.duration.as_millis() as u64),
    );
    Value::Object(out)
}

/// AWS's billing figures for a run of `millis`: the duration rounded up to the next
/// 100 ms (at least 100), and the smallest memory step, 64 MB — Cairn does not measure
/// an execution's memory.
fn billing(millis: u64) -> Value {
    let steps = millis.div_ceil(BILLED_DURATION_STEP_MS).max(1);
    json!({
        "billedMemoryUsedInMB": BILLED_MEMORY_MB,
        "billedDurationInMilliseconds": steps * BILLED_DURATION_STEP_MS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_is_billed_in_100_ms_steps() {
        assert_eq!(billing(0)["billedDurationInMilliseconds"], 100);
        assert_eq!(billing(1)["billedDurationInMilliseconds"], 100);
        assert_eq!(billing(100)["billedDurationInMilliseconds"], 100);
        assert_eq!(billing(101)["billedDurationInMilliseconds"], 200);
        assert_eq!(billing(1_234)["billedDurationInMilliseconds"], 1_300);
        assert_eq!(billing(5)["billedMemoryUsedInMB"], 64);
    }
}
