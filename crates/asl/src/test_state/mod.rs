//! TestState: one state run on its own, as AWS's `TestState` API runs it, with mocks and
//! inspection data. Pure like the rest of the crate: the caller brings the clock, and
//! when an unmocked Task must call its target, [`Prepared::start`] stops and hands the
//! call over ([`Step::Invoke`]); the caller makes it and gives the answer back
//! ([`PendingTask::resume`]).
//!
//! How a caller drives it:
//!
//! 1. [`prepare`] reads and checks the whole request — the definition (one state, or a
//!    machine and `stateName`), the input, `variables`, `context`, the mock and the
//!    `stateConfiguration` — and refuses a bad one with AWS's error ([`RequestError`]).
//!    Nothing has run yet.
//! 2. [`Prepared::start`] runs the state: its input and output processing, the mocked
//!    result or error, Retry (`RETRIABLE`) and Catch (`CAUGHT_ERROR`), and records what
//!    the inspection level shows. A Task without a mock returns [`Step::Invoke`].
//! 3. [`PendingTask::resume`] with the target's answer finishes the state.
//!
//! What differs from an execution, as AWS does it: a retrier does not wait and run the
//! state again, the test stops with `RETRIABLE` and the back-off it would wait
//! (`stateConfiguration.retrierRetryCount` says how many retries already happened); a
//! catcher's `Next` is reported, not entered; a Map or Parallel state runs none of its
//! iterations or branches, its result is the mock; a Wait state does not wait;
//! `$$.State.Name` is `StateName`.
//!
//! Module map: `definition` (finding the state under test), `check` (what a request may
//! combine), `fields` (mocked results against API shapes), `context` (the context
//! object), `run` (each state type's data flow), `outcome` (errors, Retry and Catch, and
//! the response).

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::Failure;
use crate::interpreter::Clock;
use crate::model::State;

mod check;
mod context;
mod definition;
pub mod fields;
mod outcome;
mod run;

pub use fields::FieldValidationMode;

/// What the caller asked for, as the API received it (JSON fields still text).
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// One state, or a whole machine when `state_name` is set.
    pub definition: String,
    pub role_arn: Option<String>,
    /// JSON text; `{}` when absent.
    pub input: Option<String>,
    pub inspection_level: InspectionLevel,
    pub reveal_secrets: bool,
    /// JSON text of an object: the workflow variables the state sees.
    pub variables: Option<String>,
    /// The state of `definition` (a machine) to test.
    pub state_name: Option<String>,
    pub mock: Option<Mock>,
    /// JSON text: the context object (`$$`, `$states.context`) to use instead of the one
    /// TestState makes up.
    pub context: Option<String>,
    pub configuration: StateConfiguration,
}

/// How much [`Response::inspection`] shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InspectionLevel {
    /// The output only.
    #[default]
    Info,
    /// The data at each step of the input and output processing.
    Debug,
    /// `Debug`, and the HTTP request and response of an HTTP Task.
    Trace,
}

impl InspectionLevel {
    pub fn parse(text: &str) -> Option<InspectionLevel> {
        match text {
            "INFO" => Some(InspectionLevel::Info),
            "DEBUG" => Some(InspectionLevel::Debug),
            "TRACE" => Some(InspectionLevel::Trace),
            _ => None,
        }
    }
}

/// `mock`: the state's result, or its error, instead of invoking anything.
#[derive(Debug, Clone, Default)]
pub struct Mock {
    /// JSON text.
    pub result: Option<String>,
    pub error_output: Option<MockError>,
    pub field_validation_mode: FieldValidationMode,
}

/// `mock.errorOutput`.
#[derive(Debug, Clone, Default)]
pub struct MockError {
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// `stateConfiguration`: where in its life the state is being tested.
#[derive(Debug, Clone, Default)]
pub struct StateConfiguration {
    /// Retries the matching retrier has already made.
    pub retrier_retry_count: Option<u64>,
    /// The state inside a Map or Parallel state that a mocked error comes from.
    pub error_caused_by_state: Option<String>,
    /// Map iterations that failed.
    pub map_iteration_failure_count: Option<u64>,
    /// JSON text: what a Map's `ItemReader` read.
    pub map_item_reader_data: Option<String>,
}

/// Where and when the test runs: the context object's ARNs, the clock.
#[derive(Debug, Clone, Copy)]
pub struct Environment<'a> {
    pub region: &'a str,
    pub account: &'a str,
    /// The time, the seed and the entropy (task tokens) of the test.
    pub clock: Clock,
    /// Largest output, in bytes of JSON text (AWS: 256 KiB).
    pub max_payload_bytes: usize,
}

/// A request refused before anything ran, with the name of AWS's error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("{0}")]
    InvalidDefinition(String),
    #[error("{0}")]
    InvalidExecutionInput(String),
    #[error("{0}")]
    Validation(String),
}

impl RequestError {
    /// AWS's error code (`__type`).
    pub fn aws_name(&self) -> &'static str {
        match self {
            RequestError::InvalidDefinition(_) => "InvalidDefinition",
            RequestError::InvalidExecutionInput(_) => "InvalidExecutionInput",
            RequestError::Validation(_) => "ValidationException",
        }
    }
}

/// How the test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Succeeded,
    Failed,
    /// A retrier took the error: the state would be run again.
    Retriable,
    /// A catcher took the error: the execution would go on at `next_state`.
    CaughtError,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::Retriable => "RETRIABLE",
            Status::CaughtError => "CAUGHT_ERROR",
        }
    }
}

/// TestState's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: Status,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub next_state: Option<String>,
    /// `None` at `INFO`.
    pub inspection: Option<Inspection>,
}

/// `inspectionData`: what the state did, step by step. Each field is shown when the
/// state has that step, as AWS shows them (a Pass state with `Result` shows `result`
/// but neither `afterInputPath` nor `afterParameters`, a JSONata state no JSONPath
/// step, a Map or Parallel state neither its Parameters nor its result).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Inspection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_arguments: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_input_path: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_parameters: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_result_selector: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_result_path: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<HttpRequestTrace>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<HttpResponseTrace>,
    /// The workflow variables after the state, when there are any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variables: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_details: Option<ErrorDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_items_path: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_item_selector: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_item_batcher: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tolerated_failure_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tolerated_failure_percentage: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u64>,
}

/// `inspectionData.errorDetails`: which retrier or catcher took the error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetails {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catch_index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_backoff_interval_seconds: Option<u64>,
}

/// An HTTP Task's request, as `TRACE` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HttpRequestTrace {
    pub protocol: String,
    pub method: String,
    pub url: String,
    /// `[Name: value, …]`.
    pub headers: String,
    pub body: String,
}

/// An HTTP Task's response, as `TRACE` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpResponseTrace {
    pub protocol: String,
    pub status_code: String,
    pub status_message: String,
    pub headers: String,
    pub body: String,
}

/// An HTTP exchange a driver made for an unmocked HTTP Task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpTrace {
    pub request: HttpRequestTrace,
    pub response: Option<HttpResponseTrace>,
}

/// A request that passed every check, ready to run.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The state's name in the definition (`StateName` for a lone state).
    state_name: String,
    state: State,
    input: Value,
    variables: Map<String, Value>,
    /// The caller's context object, when given.
    context: Option<Value>,
    mock: Option<MockOutcome>,
    configuration: StateConfiguration,
    level: InspectionLevel,
    role_arn: Option<String>,
    /// `mapItemReaderData`, read.
    reader_items: Option<Vec<Value>>,
}

/// What a mock makes the state's work end with.
#[derive(Debug, Clone, PartialEq)]
enum MockOutcome {
    Result(Value),
    Error(Failure),
}

/// Where the test stands after [`Prepared::start`].
#[derive(Debug)]
pub enum Step {
    Done(Box<Response>),
    /// An unmocked Task must call its target.
    Invoke(Box<PendingTask>),
}

/// The call an unmocked Task makes, as a worker would make it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskCall {
    pub state_name: String,
    pub resource: String,
    /// The effective input (after Parameters or Arguments).
    pub input: Value,
    pub timeout_seconds: Option<u64>,
    pub heartbeat_seconds: Option<u64>,
}

/// A test waiting for its Task's answer.
#[derive(Debug)]
pub struct PendingTask {
    pub call: TaskCall,
    tester: run::Tester,
}

impl PendingTask {
    /// Whether the inspection level shows the HTTP exchange (`TRACE`): a driver need not
    /// record it otherwise.
    pub fn wants_http_trace(&self) -> bool {
        self.tester.level() == InspectionLevel::Trace
    }

    /// Finishes the state with the target's answer; `http` is the exchange of an HTTP
    /// Task, shown at `TRACE`.
    pub fn resume(self, outcome: crate::task::TaskOutcome, http: Option<HttpTrace>) -> Response {
        self.tester.resume_task(outcome, http)
    }
}

/// Reads and checks a request (see the module's documentation).
pub fn prepare(request: Request) -> Result<Prepared, RequestError> {
    check::prepare(request)
}

impl Prepared {
    /// Runs the state, up to the call of an unmocked Task.
    pub fn start(self, environment: &Environment<'_>) -> Step {
        run::Tester::new(self, environment).start()
    }

    /// Whether running this test calls a target (a Task without a mock).
    pub fn invokes(&self) -> bool {
        self.mock.is_none() && matches!(self.state.kind, crate::model::StateKind::Task(_))
    }
}
