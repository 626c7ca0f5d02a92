//! `test_state` cases: the request run through `cairn_asl::test_state` as the API runs
//! it, compared as `run.py` compares (status, then `output`, `error`, `cause` and
//! `nextState` where AWS recorded them) and, like `run.py --inspection`, the
//! `inspectionData` too.
//!
//! Like `run.py`, every request carries a role ARN (but see `RECORDED_WITHOUT_ROLE`).

use std::collections::HashSet;

use serde_json::{json, Value};

use cairn_asl::interpreter::Clock;
use cairn_asl::test_state::{
    self, Environment, FieldValidationMode, InspectionLevel, Mock, MockError, Request,
    StateConfiguration, Step,
};
use cairn_asl::timestamp::Timestamp;

use super::compare;

/// A JSON field of the request as the API receives it: text.
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The case's request as `run.py` sends it.
pub fn request(req: &Value, role_arn: Option<&str>) -> Result<Request, String> {
    let mock = match req.get("mock") {
        None => None,
        Some(mock) => Some(Mock {
            result: mock
                .get("result")
                .and_then(Value::as_str)
                .map(str::to_string),
            error_output: mock.get("errorOutput").map(|e| MockError {
                error: e.get("error").and_then(Value::as_str).map(str::to_string),
                cause: e.get("cause").and_then(Value::as_str).map(str::to_string),
            }),
            field_validation_mode: match mock.get("fieldValidationMode").and_then(Value::as_str) {
                None | Some("STRICT") => FieldValidationMode::Strict,
                Some("PRESENT") => FieldValidationMode::Present,
                Some("NONE") => FieldValidationMode::None,
                Some(other) => return Err(format!("bad fieldValidationMode {other}")),
            },
        }),
    };
    let configuration = match req.get("stateConfiguration") {
        None => StateConfiguration::default(),
        Some(c) => StateConfiguration {
            retrier_retry_count: c.get("retrierRetryCount").and_then(Value::as_u64),
            error_caused_by_state: c
                .get("errorCausedByState")
                .and_then(Value::as_str)
                .map(str::to_string),
            map_iteration_failure_count: c.get("mapIterationFailureCount").and_then(Value::as_u64),
            map_item_reader_data: c
                .get("mapItemReaderData")
                .and_then(Value::as_str)
                .map(str::to_string),
        },
    };
    let level = match req.get("inspectionLevel").and_then(Value::as_str) {
        None => InspectionLevel::Info,
        Some(level) => InspectionLevel::parse(level).ok_or(format!("bad level {level}"))?,
    };
    Ok(Request {
        definition: text(req.get("definition")).ok_or("no definition")?,
        role_arn: role_arn.map(str::to_string),
        input: text(req.get("input")),
        inspection_level: level,
        reveal_secrets: req.get("revealSecrets").and_then(Value::as_bool) == Some(true),
        variables: text(req.get("variables")),
        state_name: req
            .get("stateName")
            .and_then(Value::as_str)
            .map(str::to_string),
        mock,
        context: text(req.get("context")),
        configuration,
    })
}

/// Runs the case; `Ok` holds the response as TestState's JSON answer shows it (with the
/// JSON-text fields parsed, as `run.py` parses them).
pub fn run(
    req: &Value,
    role_arn: Option<&str>,
    now_millis: i64,
    seed: u64,
) -> Result<Value, String> {
    let request = request(req, role_arn)?;
    let prepared = match test_state::prepare(request) {
        Ok(prepared) => prepared,
        Err(e) => {
            return Err(format!(
                "TestState refused the request: {}: {e}",
                e.aws_name()
            ))
        }
    };
    let environment = Environment {
        region: "us-east-1",
        account: "123456789012",
        clock: Clock {
            now: Timestamp::from_unix_millis(now_millis),
            seed,
            entropy: [7; 32],
        },
        max_payload_bytes: 256 * 1024,
    };
    let response = match prepared.start(&environment) {
        Step::Done(response) => *response,
        Step::Invoke(pending) => {
            return Err(format!(
                "the test calls {} (the corpus mocks every Task)",
                pending.call.resource
            ))
        }
    };
    let mut actual = json!({ "status": response.status.as_str() });
    if let Some(output) = response.output {
        actual["output"] = output;
    }
    for (key, value) in [
        ("error", response.error),
        ("cause", response.cause),
        ("nextState", response.next_state),
    ] {
        if let Some(value) = value {
            actual[key] = Value::String(value);
        }
    }
    if let Some(inspection) = response.inspection {
        actual["inspectionData"] =
            serde_json::to_value(inspection).map_err(|e| format!("inspection: {e}"))?;
    }
    Ok(actual)
}

/// `run.py`'s comparison of a TestState answer, with `inspectionData`.
pub fn compare(expected: &Value, actual: &Value, loose: &HashSet<compare::Path>) -> Vec<String> {
    let mut problems = Vec::new();
    if actual.get("status") != expected.get("status") {
        problems.push(format!(
            "status: expected {}, got {} ({}: {})",
            compare::short(expected.get("status"), 40),
            compare::short(actual.get("status"), 40),
            compare::short(actual.get("error"), 80),
            compare::short(actual.get("cause"), 200),
        ));
        return problems;
    }
    for key in ["output", "error", "cause", "nextState", "inspectionData"] {
        let Some(exp) = expected.get(key) else {
            continue;
        };
        let mut path = vec![compare::Seg::Key(key.to_string())];
        match actual.get(key) {
            None => problems.push(format!("{key}: missing")),
            Some(act) => compare::diff(exp, act, &mut path, loose, &mut problems),
        }
    }
    problems
}
