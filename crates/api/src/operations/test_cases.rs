//! StartExecution under a test case of the mock configuration (`CAIRN_MOCK_CONFIG`), as
//! Step Functions Local starts one: the machine's ARN with `#CASE` after it. The
//! execution is the machine's own (its ARN names the machine, without the case); the
//! workers answer the states the case mocks from their mocked responses
//! (`cairn_worker::mocked`).
//!
//! Checked before anything is written: the case exists for the machine (by name), the
//! machine is a STANDARD one and not a version or alias, and every state the case mocks
//! is a Task whose target a worker invokes (Cairn cannot mock an activity, whose worker
//! is someone else's, or a nested execution, which the store starts).

use cairn_asl::mock_config::MockConfig;
use cairn_asl::model::{StateKind, StateMachine};
use cairn_asl::task::Route;
use cairn_asl::validate::{validate, ValidateOptions};
use cairn_store::catalog::MachineType;
use cairn_store::Store;
use serde_json::Value;

use super::executions::{new_execution, read_start, started_answer};
use crate::error::ApiError;
use crate::input::Input;
use crate::ApiState;

pub(crate) async fn start<S: Store>(
    state: &ApiState<S>,
    mocks: &MockConfig,
    input: &Input,
    machine_arn: &str,
    case: &str,
) -> Result<Value, ApiError> {
    let input = input.with_string("stateMachineArn", machine_arn);
    let request = read_start(&input)?;
    if request.machine.qualifier.is_some() {
        return Err(ApiError::Validation(
            "A test case runs a state machine, not one of its versions or aliases".to_string(),
        ));
    }
    let target = super::versions::start_target(state, &request.machine).await?;
    let machine = &target.machine;
    if machine.machine_type == MachineType::Express {
        return Err(ApiError::Validation(format!(
            "Cairn runs test cases of the mock configuration on STANDARD state machines only; '{}' is EXPRESS",
            machine.name
        )));
    }
    let Some(test_case) = mocks.test_case(&machine.name, case) else {
        return Err(ApiError::Validation(format!(
            "Test case '{case}' is not defined for state machine '{}' in the mock configuration",
            machine.name
        )));
    };
    let (definition, _) = validate(&machine.definition, &ValidateOptions::default())
        .map_err(|_| ApiError::Internal("the stored definition cannot be read".to_string()))?;
    for name in test_case.states() {
        check_mockable(&definition, name, case)?;
    }

    let traced = state.machine_traced(&request.machine.machine).await;
    let execution = new_execution(&request, None, None, traced);
    let recorded = state
        .store()
        .attach_test_case(&execution.arn, test_case.name())
        .await?;
    let started = state.store().start_execution(&execution).await;
    // A start that created nothing leaves no test case behind: the name belonged to an
    // execution that runs without one.
    let created = matches!(&started, Ok(Some(started)) if started.created);
    if recorded && !created {
        state.store().detach_test_case(&execution.arn).await?;
    }
    match started? {
        Some(started) => {
            tracing::info!(execution = %started.arn, test_case = case, "test case started");
            Ok(started_answer(&request.machine.machine, started))
        }
        None => Err(ApiError::StateMachineDoesNotExist(request.machine.arn())),
    }
}

/// `name` is a Task state of `definition` whose target a worker invokes.
fn check_mockable(definition: &StateMachine, name: &str, case: &str) -> Result<(), ApiError> {
    let refused = |why: &str| {
        Err(ApiError::Validation(format!(
            "Test case '{case}' mocks state '{name}', {why}"
        )))
    };
    match find(definition, name).map(|state| &state.kind) {
        None => refused("which the state machine does not have"),
        Some(StateKind::Task(task)) if Route::of(&task.resource).runs_on_worker() => Ok(()),
        Some(StateKind::Task(_)) => refused(
            "an activity or a nested execution: Cairn mocks the Task states whose target a worker invokes",
        ),
        Some(_) => refused("which is not a Task state"),
    }
}

fn find<'m>(machine: &'m StateMachine, name: &str) -> Option<&'m cairn_asl::model::State> {
    if let Some(state) = machine.state(name) {
        return Some(state);
    }
    machine.states.values().find_map(|state| match &state.kind {
        StateKind::Parallel(parallel) => parallel.branches.iter().find_map(|b| find(b, name)),
        StateKind::Map(map) => find(&map.item_processor, name),
        _ => None,
    })
}
