//! What a TestState request may combine, checked before anything runs. The messages
//! are AWS's where AWS's are recorded (`State type 'Pass' is not supported when a mock
//! is specified`, …); the others say plainly what to change.

use serde_json::{Map, Value};

use crate::error::Failure;
use crate::model::{State, StateKind};
use crate::task::{Nested, Route};

use super::definition::locate;
use super::{fields, Mock, MockOutcome, Prepared, Request, RequestError, StateConfiguration};

fn invalid(message: impl Into<String>) -> RequestError {
    RequestError::Validation(message.into())
}

pub(super) fn prepare(request: Request) -> Result<Prepared, RequestError> {
    let located = locate(&request.definition, request.state_name.as_deref())?;
    let state = located.state;
    let input = match request.input.as_deref() {
        None => Value::Object(Map::new()),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| RequestError::InvalidExecutionInput(e.to_string()))?,
    };
    let variables = match request.variables.as_deref() {
        None => Map::new(),
        Some(text) => match serde_json::from_str(text) {
            Ok(Value::Object(variables)) => {
                if let Some(problem) = variables
                    .keys()
                    .find_map(|name| crate::variables::name_problem(name))
                {
                    return Err(invalid(format!("Invalid variables: {problem}")));
                }
                variables
            }
            Ok(_) => return Err(invalid("variables must be a JSON object")),
            Err(e) => return Err(invalid(format!("variables is not valid JSON: {e}"))),
        },
    };
    let context = match request.context.as_deref() {
        None => None,
        Some(text) => match serde_json::from_str(text) {
            Ok(value @ Value::Object(_)) => Some(value),
            Ok(_) => return Err(invalid("context must be a JSON object")),
            Err(e) => return Err(invalid(format!("context is not valid JSON: {e}"))),
        },
    };
    let mock = match &request.mock {
        Some(mock) => Some(check_mock(&state, mock, request.reveal_secrets)?),
        None => {
            without_mock(&state, request.role_arn.as_deref())?;
            None
        }
    };
    let reader_items = check_configuration(&state, &request.configuration, &located.inner_states)?;
    Ok(Prepared {
        state_name: located.name,
        state,
        input,
        variables,
        context,
        mock,
        configuration: request.configuration,
        level: request.inspection_level,
        role_arn: request.role_arn,
        reader_items,
    })
}

/// A mock is for a Task, Map or Parallel state, holds a result or an error (not both),
/// and a result has the shape the state's work would give.
fn check_mock(
    state: &State,
    mock: &Mock,
    reveal_secrets: bool,
) -> Result<MockOutcome, RequestError> {
    if !matches!(
        state.kind,
        StateKind::Task(_) | StateKind::Map(_) | StateKind::Parallel(_)
    ) {
        return Err(invalid(format!(
            "State type '{}' is not supported when a mock is specified",
            state.type_name()
        )));
    }
    if reveal_secrets {
        return Err(invalid(
            "TestState does not support RevealSecrets when a mock is specified.",
        ));
    }
    match (&mock.result, &mock.error_output) {
        (Some(_), Some(_)) => Err(invalid(
            "A test mock should have only one of the following fields: [result, errorOutput].",
        )),
        (None, None) => Err(invalid(
            "A test mock should have one of the following fields: [result, errorOutput].",
        )),
        (None, Some(error)) => Ok(MockOutcome::Error(Failure {
            error: error.error.clone().unwrap_or_default(),
            cause: error.cause.clone(),
        })),
        (Some(text), None) => {
            let result: Value = serde_json::from_str(text)
                .map_err(|e| invalid(format!("Mocked result must be valid JSON: {e}")))?;
            match &state.kind {
                StateKind::Parallel(parallel) => {
                    let Value::Array(items) = &result else {
                        return Err(invalid("Mocked result must be an array."));
                    };
                    if items.len() != parallel.branches.len() {
                        return Err(invalid(
                            "Mocked result must contain the same number of items as number of Parallel branches.",
                        ));
                    }
                }
                StateKind::Map(map) if map.result_writer.is_some() && !result.is_object() => {
                    return Err(invalid("Mocked result must be a JSON object."));
                }
                StateKind::Map(map) if map.result_writer.is_none() && !result.is_array() => {
                    return Err(invalid("Mocked result must be an array."));
                }
                StateKind::Task(task) => {
                    fields::check(&task.resource, &result, mock.field_validation_mode)
                        .map_err(invalid)?;
                }
                _ => {}
            }
            Ok(MockOutcome::Result(result))
        }
    }
}

/// Without a mock, Map and Parallel states cannot be tested (their iterations and
/// branches are not run), nor what waits for someone else (an activity, `.sync`,
/// `.waitForTaskToken`); a Task calls its target with the caller's role.
fn without_mock(state: &State, role_arn: Option<&str>) -> Result<(), RequestError> {
    match &state.kind {
        StateKind::Map(_) | StateKind::Parallel(_) => Err(RequestError::InvalidDefinition(
            "TestState API does not support Map or Parallel states. Supported state types include: [Task, Wait, Pass, Succeed, Fail, Choice]"
                .to_string(),
        )),
        StateKind::Task(task) => {
            let route = Route::of(&task.resource);
            let waits = match route {
                Route::Activity | Route::InvokeThenWait => true,
                Route::StartExecution(nested) => nested != Nested::RequestResponse,
                Route::Invoke => task.resource.contains(".sync"),
            };
            if waits {
                return Err(RequestError::InvalidDefinition(
                    "TestState API does not support Activity tasks, .sync or .waitForTaskToken service integration patterns unless a mock is specified."
                        .to_string(),
                ));
            }
            if role_arn.is_none() {
                return Err(invalid("RoleArn must be specified when testing a Task state"));
            }
            if let Route::StartExecution(_) = route {
                // A test that starts a real execution would leave it running: Cairn
                // does not do it.
                return Err(invalid(format!(
                    "Cairn runs '{}' in TestState only with a mock (mock.result): a test does not start executions",
                    task.resource
                )));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `stateConfiguration` fits the state: a failure count or reader data for a Map, an
/// error's origin inside the Map or Parallel state. Returns the reader's items.
fn check_configuration(
    state: &State,
    configuration: &StateConfiguration,
    inner_states: &[String],
) -> Result<Option<Vec<Value>>, RequestError> {
    let is_map = matches!(state.kind, StateKind::Map(_));
    if configuration.map_iteration_failure_count.is_some() && !is_map {
        return Err(invalid(
            "mapIterationFailureCount can only be specified when testing a Map state",
        ));
    }
    if let Some(origin) = &configuration.error_caused_by_state {
        if !matches!(state.kind, StateKind::Map(_) | StateKind::Parallel(_)) {
            return Err(invalid(
                "errorCausedByState can only be specified when testing a Map or Parallel state",
            ));
        }
        if !inner_states.contains(origin) {
            return Err(invalid(format!(
                "errorCausedByState '{origin}' is not a state of the Map or Parallel state under test"
            )));
        }
    }
    let Some(text) = &configuration.map_item_reader_data else {
        return Ok(None);
    };
    let StateKind::Map(map) = &state.kind else {
        return Err(invalid(
            "mapItemReaderData can only be specified when testing a Map state",
        ));
    };
    let Some(reader) = &map.item_reader else {
        return Err(invalid(
            "mapItemReaderData can only be specified for a Map state with an ItemReader",
        ));
    };
    let input_type = reader
        .get("ReaderConfig")
        .and_then(|c| c.get("InputType"))
        .and_then(Value::as_str)
        .unwrap_or("JSON");
    let items = match input_type {
        "JSON" => match serde_json::from_str(text) {
            Ok(Value::Array(items)) => items,
            Ok(_) => return Err(invalid("mapItemReaderData must be a JSON array for InputType JSON")),
            Err(e) => return Err(invalid(format!("mapItemReaderData is not valid JSON: {e}"))),
        },
        "JSONL" => {
            let mut items = Vec::new();
            for (line, text) in text.lines().enumerate() {
                if text.trim().is_empty() {
                    continue;
                }
                let item = serde_json::from_str(text).map_err(|e| {
                    invalid(format!(
                        "mapItemReaderData line {} is not valid JSON: {e}",
                        line + 1
                    ))
                })?;
                items.push(item);
            }
            items
        }
        other => {
            return Err(invalid(format!(
                "Cairn reads mapItemReaderData as JSON or JSONL; ReaderConfig InputType {other} is not supported in TestState"
            )))
        }
    };
    Ok(Some(items))
}
