//! Step Functions Local's mock configuration (`MockConfigFile.json`): test cases that
//! answer chosen Task states with mocked responses instead of invoking their targets.
//!
//! ```json
//! {
//!   "StateMachines": {
//!     "OrderProcessing": {
//!       "TestCases": {
//!         "HappyPath": { "ValidateOrder": "ValidOrder", "ProcessPayment": "FlakyThenPaid" }
//!       }
//!     }
//!   },
//!   "MockedResponses": {
//!     "ValidOrder": { "0": { "Return": { "validated": true } } },
//!     "FlakyThenPaid": {
//!       "0-1": { "Throw": { "Error": "PaymentGatewayTimeout", "Cause": "slow" } },
//!       "2": { "Return": { "paid": true } }
//!     }
//!   }
//! }
//! ```
//!
//! A test case maps state names to mocked responses; a state it does not name invokes
//! its target as usual. A mocked response maps invocation numbers (`"0"`, or a range
//! `"1-2"`) to a `Return` (the task's result) or a `Throw` (its `Error` and `Cause`).
//! As in Step Functions Local, each state of an execution counts its invocations from 0
//! — every retry, every visit of a loop and every Map iteration is the next number — so
//! `"0"` answers the first invocation, `"1-2"` the next two. An invocation the response
//! has no number for fails the task with `States.Runtime`, saying so: a test should not
//! go on with an answer it did not define.
//!
//! [`MockConfig::parse`] checks the whole file and refuses one with any error, naming
//! where: a test should not run against a configuration it misread.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::{names, Failure};
use crate::task::TaskOutcome;

/// A mock configuration, read and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct MockConfig {
    /// Test cases by state machine name, then by test case name.
    machines: BTreeMap<String, BTreeMap<String, TestCase>>,
}

/// One test case: the mocked states and their responses.
#[derive(Debug, Clone, PartialEq)]
pub struct TestCase {
    name: String,
    /// State name → (the mocked response's name, its answers).
    states: BTreeMap<String, (String, MockedResponse)>,
}

/// A mocked response: its answers by invocation number.
#[derive(Debug, Clone, PartialEq)]
pub struct MockedResponse {
    /// Non-overlapping, sorted by `from`.
    ranges: Vec<(u64, u64, Answer)>,
}

/// What a mocked invocation answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Return(Value),
    Throw {
        error: String,
        cause: Option<String>,
    },
}

/// Why a mock configuration was refused: where, and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mock configuration: {location}: {message}")]
pub struct MockConfigError {
    /// A path into the file, such as `MockedResponses.Flaky."1-2"`.
    pub location: String,
    pub message: String,
}

fn error(location: impl Into<String>, message: impl Into<String>) -> MockConfigError {
    MockConfigError {
        location: location.into(),
        message: message.into(),
    }
}

fn object<'v>(value: &'v Value, location: &str) -> Result<&'v Map<String, Value>, MockConfigError> {
    value
        .as_object()
        .ok_or_else(|| error(location, "must be a JSON object"))
}

fn only(map: &Map<String, Value>, location: &str, allowed: &[&str]) -> Result<(), MockConfigError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(error(
            location,
            format!("unknown field '{key}' (expected {})", allowed.join(", ")),
        )),
        None => Ok(()),
    }
}

impl MockConfig {
    /// Reads a mock configuration file's text.
    pub fn parse(text: &str) -> Result<MockConfig, MockConfigError> {
        let root: Value =
            serde_json::from_str(text).map_err(|e| error("(file)", format!("not JSON: {e}")))?;
        let root = object(&root, "(file)")?;
        only(root, "(file)", &["StateMachines", "MockedResponses"])?;
        let responses = match root.get("MockedResponses") {
            None => BTreeMap::new(),
            Some(value) => {
                let mut responses = BTreeMap::new();
                for (name, response) in object(value, "MockedResponses")? {
                    let location = format!("MockedResponses.{name}");
                    responses.insert(name.clone(), MockedResponse::parse(response, &location)?);
                }
                responses
            }
        };
        let mut machines = BTreeMap::new();
        if let Some(value) = root.get("StateMachines") {
            for (machine, cases) in object(value, "StateMachines")? {
                let location = format!("StateMachines.{machine}");
                let fields = object(cases, &location)?;
                only(fields, &location, &["TestCases"])?;
                let mut parsed = BTreeMap::new();
                if let Some(cases) = fields.get("TestCases") {
                    let location = format!("{location}.TestCases");
                    for (case, states) in object(cases, &location)? {
                        let location = format!("{location}.{case}");
                        let mut mocked = BTreeMap::new();
                        for (state, response) in object(states, &location)? {
                            let here = format!("{location}.{state}");
                            let Some(name) = response.as_str() else {
                                return Err(error(here, "must name a mocked response"));
                            };
                            let Some(answers) = responses.get(name) else {
                                return Err(error(
                                    here,
                                    format!(
                                        "names '{name}', which MockedResponses does not define"
                                    ),
                                ));
                            };
                            mocked.insert(state.clone(), (name.to_string(), answers.clone()));
                        }
                        parsed.insert(
                            case.clone(),
                            TestCase {
                                name: case.clone(),
                                states: mocked,
                            },
                        );
                    }
                }
                machines.insert(machine.clone(), parsed);
            }
        }
        Ok(MockConfig { machines })
    }

    /// The test case `case` of the state machine named `machine`.
    pub fn test_case(&self, machine: &str, case: &str) -> Option<&TestCase> {
        self.machines.get(machine)?.get(case)
    }

    /// The names of the state machines with test cases.
    pub fn machines(&self) -> impl Iterator<Item = &str> {
        self.machines.keys().map(String::as_str)
    }

    /// The state machines that have a test case named `case`.
    pub fn machines_with_case<'a>(&'a self, case: &'a str) -> impl Iterator<Item = &'a str> {
        self.machines
            .iter()
            .filter(move |(_, cases)| cases.contains_key(case))
            .map(|(machine, _)| machine.as_str())
    }
}

impl TestCase {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The states this test case mocks.
    pub fn states(&self) -> impl Iterator<Item = &str> {
        self.states.keys().map(String::as_str)
    }

    /// Whether `state` is mocked.
    pub fn mocks(&self, state: &str) -> bool {
        self.states.contains_key(state)
    }

    /// How invocation number `invocation` (from 0) of `state` ends, or `None` when the
    /// test case does not mock `state` (its target is invoked).
    pub fn outcome(&self, state: &str, invocation: u64) -> Option<TaskOutcome> {
        let (response, answers) = self.states.get(state)?;
        Some(match answers.answer(invocation) {
            Some(Answer::Return(value)) => TaskOutcome::Succeeded(value.clone()),
            Some(Answer::Throw { error, cause }) => TaskOutcome::Failed {
                error: error.clone(),
                cause: cause.clone(),
            },
            None => {
                let failure = Failure::runtime(format!(
                    "Test case '{}' mocks state '{state}' with '{response}', which has no response for invocation {invocation}",
                    self.name
                ));
                TaskOutcome::Failed {
                    error: names::RUNTIME.to_string(),
                    cause: failure.cause,
                }
            }
        })
    }
}

impl MockedResponse {
    fn parse(value: &Value, location: &str) -> Result<MockedResponse, MockConfigError> {
        let mut ranges = Vec::new();
        for (key, answer) in object(value, location)? {
            let here = format!("{location}.\"{key}\"");
            let (from, to) = parse_range(key).ok_or_else(|| {
                error(
                    &here,
                    "must be an invocation number (\"0\") or a range (\"1-2\")",
                )
            })?;
            let fields = object(answer, &here)?;
            only(fields, &here, &["Return", "Throw"])?;
            let answer = match (fields.get("Return"), fields.get("Throw")) {
                (Some(value), None) => Answer::Return(value.clone()),
                (None, Some(thrown)) => {
                    let thrown_at = format!("{here}.Throw");
                    let thrown = object(thrown, &thrown_at)?;
                    only(thrown, &thrown_at, &["Error", "Cause"])?;
                    let text = |field: &str| match thrown.get(field) {
                        None => Ok(None),
                        Some(Value::String(s)) => Ok(Some(s.clone())),
                        Some(_) => Err(error(format!("{thrown_at}.{field}"), "must be a string")),
                    };
                    let Some(name) = text("Error")? else {
                        return Err(error(thrown_at, "must have an Error"));
                    };
                    Answer::Throw {
                        error: name,
                        cause: text("Cause")?,
                    }
                }
                _ => return Err(error(here, "must have exactly one of Return and Throw")),
            };
            ranges.push((from, to, answer));
        }
        ranges.sort_by_key(|(from, _, _)| *from);
        for pair in ranges.windows(2) {
            if pair[1].0 <= pair[0].1 {
                return Err(error(
                    location,
                    format!(
                        "invocation {} is answered twice ({}-{} and {}-{})",
                        pair[1].0, pair[0].0, pair[0].1, pair[1].0, pair[1].1
                    ),
                ));
            }
        }
        Ok(MockedResponse { ranges })
    }

    fn answer(&self, invocation: u64) -> Option<&Answer> {
        self.ranges
            .iter()
            .find(|(from, to, _)| (*from..=*to).contains(&invocation))
            .map(|(_, _, answer)| answer)
    }
}

/// `"3"` → (3, 3); `"1-2"` → (1, 2).
fn parse_range(key: &str) -> Option<(u64, u64)> {
    let number = |text: &str| -> Option<u64> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok()
    };
    match key.split_once('-') {
        None => number(key).map(|n| (n, n)),
        Some((from, to)) => {
            let (from, to) = (number(from)?, number(to)?);
            (from <= to).then_some((from, to))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> MockConfig {
        MockConfig::parse(
            &json!({
                "StateMachines": {"Orders": {"TestCases": {
                    "Retry": {"Pay": "Flaky", "Check": "Ok"}
                }}},
                "MockedResponses": {
                    "Flaky": {
                        "0-1": {"Throw": {"Error": "Timeout", "Cause": "slow"}},
                        "2": {"Return": {"paid": true}}
                    },
                    "Ok": {"0": {"Return": "fine"}}
                }
            })
            .to_string(),
        )
        .unwrap()
    }

    #[test]
    fn answers_by_invocation_number() {
        let config = config();
        let case = config.test_case("Orders", "Retry").unwrap();
        let timeout = TaskOutcome::Failed {
            error: "Timeout".into(),
            cause: Some("slow".into()),
        };
        assert_eq!(case.outcome("Pay", 0), Some(timeout.clone()));
        assert_eq!(case.outcome("Pay", 1), Some(timeout));
        assert_eq!(
            case.outcome("Pay", 2),
            Some(TaskOutcome::Succeeded(json!({"paid": true})))
        );
        let Some(TaskOutcome::Failed { error, cause }) = case.outcome("Pay", 3) else {
            panic!("an invocation without a response fails");
        };
        assert_eq!(error, "States.Runtime");
        assert!(cause.unwrap().contains("invocation 3"));
        assert_eq!(case.outcome("Other", 0), None);
        assert!(case.mocks("Check") && !case.mocks("Other"));
        assert_eq!(
            config.machines_with_case("Retry").collect::<Vec<_>>(),
            ["Orders"]
        );
        assert!(config.test_case("Orders", "Nope").is_none());
    }

    #[test]
    fn refuses_what_it_cannot_read_and_says_where() {
        let refused = |value: Value| MockConfig::parse(&value.to_string()).unwrap_err();
        assert_eq!(
            refused(json!({"StateMachines": {"M": {"TestCases": {"C": {"S": "Missing"}}}}}))
                .location,
            "StateMachines.M.TestCases.C.S"
        );
        assert_eq!(
            refused(json!({"MockedResponses": {"R": {"x": {"Return": 1}}}})).location,
            "MockedResponses.R.\"x\""
        );
        assert_eq!(
            refused(json!({"MockedResponses": {"R": {"2-1": {"Return": 1}}}})).location,
            "MockedResponses.R.\"2-1\""
        );
        assert!(refused(json!({"MockedResponses": {"R": {
            "0-2": {"Return": 1}, "2": {"Return": 2}}}}))
        .message
        .contains("answered twice"));
        assert!(refused(json!({"MockedResponses": {"R": {
            "0": {"Return": 1, "Throw": {"Error": "E"}}}}}))
        .message
        .contains("exactly one"));
        assert!(
            refused(json!({"MockedResponses": {"R": {"0": {"Throw": {"Cause": "c"}}}}}))
                .message
                .contains("Error")
        );
        assert!(refused(json!({"Bogus": {}}))
            .message
            .contains("unknown field"));
        assert!(MockConfig::parse("{").is_err());
    }
}
