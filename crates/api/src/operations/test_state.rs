//! TestState: one state run on its own (`cairn_asl::test_state`), its Task invoked as a
//! worker invokes it unless a mock stands in. Nothing is stored: a test is not an
//! execution.
//!
//! A test runs for at most five minutes, as on AWS; a Task that takes longer fails with
//! `States.Timeout`. An HTTP Task at `TRACE` shows its request and response, the values
//! of configured credentials redacted unless `revealSecrets`.

use std::time::Duration;

use cairn_asl::interpreter::Clock;
use cairn_asl::task::TaskOutcome;
use cairn_asl::test_state::{
    self, Environment, FieldValidationMode, InspectionLevel, Mock, MockError, Request,
    RequestError, Response, StateConfiguration, Step,
};
use cairn_store::time::from_time;
use cairn_store::Store;
use cairn_worker::{Invocation, Recording};
use serde_json::{json, Map, Value};

use crate::arn;
use crate::error::ApiError;
use crate::input::{check_enum, check_length, Input};
use crate::ApiState;

/// AWS: a test runs for up to five minutes.
const MAX_DURATION: Duration = Duration::from_secs(300);
const MAX_DEFINITION: usize = 1024 * 1024;
const MAX_DATA: usize = 262_144;

/// The inspection fields that hold JSON, sent as JSON text.
const JSON_FIELDS: &[&str] = &[
    "input",
    "afterArguments",
    "afterInputPath",
    "afterParameters",
    "result",
    "afterResultSelector",
    "afterResultPath",
    "variables",
    "afterItemsPath",
    "afterItemSelector",
    "afterItemBatcher",
];

pub(crate) async fn test_state<S: Store>(
    state: &ApiState<S>,
    input: &Input,
) -> Result<Value, ApiError> {
    let request = read_request(input)?;
    let reveal_secrets = request.reveal_secrets;
    let prepared = test_state::prepare(request).map_err(refused)?;
    let config = state.config();
    let clock = Clock {
        now: from_time(chrono::Utc::now()),
        seed: u64::from_le_bytes(random_bytes()[..8].try_into().unwrap_or_default()),
        entropy: random_bytes(),
    };
    let environment = Environment {
        region: &config.region,
        account: &config.account_id,
        clock,
        max_payload_bytes: config.limits.max_payload_bytes,
    };
    let response = match prepared.start(&environment) {
        Step::Done(response) => *response,
        Step::Invoke(pending) => {
            let call = &pending.call;
            let invocation = Invocation {
                execution_arn: format!(
                    "arn:{}:states:{}:{}:express:TestState:{}",
                    config.partition,
                    config.region,
                    config.account_id,
                    uuid::Uuid::new_v4()
                ),
                state_name: call.state_name.clone(),
                task_id: 1,
                attempt: 0,
                resource: call.resource.clone(),
                input: call.input.clone(),
                timeout_seconds: call.timeout_seconds,
            };
            let mut recording = Recording {
                reveal_secrets,
                trace: None,
            };
            let outcome = tokio::time::timeout(
                MAX_DURATION,
                state.targets().invoke_recorded(&invocation, &mut recording),
            )
            .await
            .unwrap_or(TaskOutcome::TimedOut);
            let trace = recording.trace.filter(|_| pending.wants_http_trace());
            pending.resume(outcome, trace)
        }
    };
    Ok(answer(response))
}

fn refused(error: RequestError) -> ApiError {
    match error {
        RequestError::InvalidDefinition(message) => ApiError::InvalidDefinition(message),
        RequestError::InvalidExecutionInput(message) => ApiError::InvalidExecutionInput(message),
        RequestError::Validation(message) => ApiError::Validation(message),
    }
}

fn random_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes
}

/// A string member of a nested structure (`mock.result`).
fn member<'a>(
    object: &'a Map<String, Value>,
    parent: &str,
    name: &str,
) -> Result<Option<&'a str>, ApiError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::Serialization(format!(
            "Member '{parent}.{name}' has the wrong type: expected a string"
        ))),
    }
}

/// A non-negative integer member of `stateConfiguration`.
fn count(object: &Map<String, Value>, name: &str) -> Result<Option<u64>, ApiError> {
    let field = format!("stateConfiguration.{name}");
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(n) if n < 0 => Err(ApiError::constraint(
                &field,
                Some(&n.to_string()),
                "Member must have value greater than or equal to 0",
            )),
            Some(n) => Ok(Some(n as u64)),
            None => Err(ApiError::Serialization(format!(
                "Member '{field}' has the wrong type: expected an integer"
            ))),
        },
        Some(_) => Err(ApiError::Serialization(format!(
            "Member '{field}' has the wrong type: expected an integer"
        ))),
    }
}

/// The request's members, checked against AWS's model (types, lengths, enums).
fn read_request(input: &Input) -> Result<Request, ApiError> {
    let definition = input.required_string("definition")?;
    check_length("definition", definition, 1, MAX_DEFINITION, true)?;
    let role_arn = input.string("roleArn")?;
    if let Some(role) = role_arn {
        arn::check_role("roleArn", role)?;
    }
    let data = |field: &str| -> Result<Option<String>, ApiError> {
        let value = input.string(field)?;
        if let Some(text) = value {
            check_length(field, text, 0, MAX_DATA, true)?;
        }
        Ok(value.map(str::to_string))
    };
    let inspection_level = match input.string("inspectionLevel")? {
        None => InspectionLevel::Info,
        Some(level) => {
            check_enum("inspectionLevel", level, &["INFO", "DEBUG", "TRACE"])?;
            InspectionLevel::parse(level).unwrap_or_default()
        }
    };
    let state_name = input.string("stateName")?;
    if let Some(name) = state_name {
        check_length("stateName", name, 1, 80, true)?;
    }
    let mock = match input.object("mock")? {
        None => None,
        Some(mock) => {
            let result = member(mock, "mock", "result")?;
            if let Some(result) = result {
                check_length("mock.result", result, 0, MAX_DATA, true)?;
            }
            let error_output = match mock.get("errorOutput") {
                None | Some(Value::Null) => None,
                Some(Value::Object(error)) => {
                    let name = member(error, "mock.errorOutput", "error")?;
                    let cause = member(error, "mock.errorOutput", "cause")?;
                    if let Some(name) = name {
                        check_length("mock.errorOutput.error", name, 0, 256, true)?;
                    }
                    if let Some(cause) = cause {
                        check_length("mock.errorOutput.cause", cause, 0, 32_768, true)?;
                    }
                    Some(MockError {
                        error: name.map(str::to_string),
                        cause: cause.map(str::to_string),
                    })
                }
                Some(_) => {
                    return Err(ApiError::Serialization(
                        "Member 'mock.errorOutput' has the wrong type: expected an object"
                            .to_string(),
                    ))
                }
            };
            let field_validation_mode = match member(mock, "mock", "fieldValidationMode")? {
                None | Some("STRICT") => FieldValidationMode::Strict,
                Some("PRESENT") => FieldValidationMode::Present,
                Some("NONE") => FieldValidationMode::None,
                Some(other) => {
                    check_enum(
                        "mock.fieldValidationMode",
                        other,
                        &["STRICT", "PRESENT", "NONE"],
                    )?;
                    FieldValidationMode::Strict
                }
            };
            Some(Mock {
                result: result.map(str::to_string),
                error_output,
                field_validation_mode,
            })
        }
    };
    let configuration = match input.object("stateConfiguration")? {
        None => StateConfiguration::default(),
        Some(c) => {
            let origin = member(c, "stateConfiguration", "errorCausedByState")?;
            if let Some(origin) = origin {
                check_length("stateConfiguration.errorCausedByState", origin, 1, 80, true)?;
            }
            let reader = member(c, "stateConfiguration", "mapItemReaderData")?;
            if let Some(reader) = reader {
                check_length(
                    "stateConfiguration.mapItemReaderData",
                    reader,
                    0,
                    MAX_DATA,
                    true,
                )?;
            }
            StateConfiguration {
                retrier_retry_count: count(c, "retrierRetryCount")?,
                error_caused_by_state: origin.map(str::to_string),
                map_iteration_failure_count: count(c, "mapIterationFailureCount")?,
                map_item_reader_data: reader.map(str::to_string),
            }
        }
    };
    Ok(Request {
        definition: definition.to_string(),
        role_arn: role_arn.map(str::to_string),
        input: data("input")?,
        inspection_level,
        reveal_secrets: input.bool("revealSecrets")?.unwrap_or(false),
        variables: data("variables")?,
        state_name: state_name.map(str::to_string),
        mock,
        context: data("context")?,
        configuration,
    })
}

/// TestState's answer, as AWS's JSON protocol carries it: the output and the JSON
/// inspection fields as JSON text.
fn answer(response: Response) -> Value {
    let mut out = Map::new();
    out.insert("status".into(), json!(response.status.as_str()));
    if let Some(output) = &response.output {
        out.insert("output".into(), json!(output.to_string()));
    }
    for (key, value) in [
        ("error", response.error),
        ("cause", response.cause),
        ("nextState", response.next_state),
    ] {
        if let Some(value) = value {
            out.insert(key.into(), json!(value));
        }
    }
    if let Some(inspection) = response.inspection {
        if let Ok(Value::Object(mut data)) = serde_json::to_value(inspection) {
            for field in JSON_FIELDS {
                if let Some(value) = data.get_mut(*field) {
                    *value = Value::String(value.to_string());
                }
            }
            out.insert("inspectionData".into(), Value::Object(data));
        }
    }
    Value::Object(out)
}
