//! A state machine definition as typed values. [`crate::parse`] builds it from JSON; the
//! interpreter reads it. Each state type is its own struct, so a field a type does not
//! have cannot be set on it.

use std::hash::{BuildHasherDefault, Hasher};

use indexmap::IndexMap;
use serde_json::Value;

use crate::choice::Rule;
use crate::jsonata::{Expression, JsonataTemplate};
use crate::path::Path;
use crate::template::Template;
use crate::timestamp::Timestamp;
use crate::variables::Assign;

/// A whole machine, or one Parallel branch, or a Map's item processor.
#[derive(Debug, Clone, PartialEq)]
pub struct StateMachine {
    pub comment: Option<String>,
    pub start_at: String,
    /// In definition order.
    pub states: States,
    /// Top level only: the execution's time limit.
    pub timeout_seconds: Option<u64>,
    pub version: Option<String>,
    pub query_language: QueryLanguage,
}

/// States by name, in definition order. Looked up on every transition, so hashed with
/// FNV-1a (state names are short and chosen by the definition's author, not an attacker
/// who could exploit a weak hash; a definition is at most 1 MiB).
pub type States = IndexMap<String, State, BuildHasherDefault<Fnv1a>>;

/// FNV-1a, 64-bit.
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

impl StateMachine {
    pub fn state(&self, name: &str) -> Option<&State> {
        self.states.get(name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueryLanguage {
    #[default]
    JsonPath,
    JsonAta,
}

/// One state: what every type shares, and its type's own fields.
///
/// A JSONata state has no InputPath or OutputPath (both are `$`, which changes nothing)
/// and no JSONPath payload fields; its data flow is `Output` here and the JSONata
/// fields of its type (`Arguments`, `Items`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub comment: Option<String>,
    /// The state's own `QueryLanguage`, or the machine's.
    pub query_language: QueryLanguage,
    /// JSONata's `Output`: the state's output, evaluated with `$states.input` (and
    /// `$states.result` for Task, Parallel and Map). `None`: the result, or the input
    /// for states that have none.
    pub output: Option<JsonataTemplate>,
    /// `InputPath`: `None` when the definition says `null` (the state sees `{}`).
    pub input_path: Option<Path>,
    /// `OutputPath`: `None` when the definition says `null` (the state emits `{}`).
    pub output_path: Option<Path>,
    /// `Assign` (Pass, Task, Choice, Wait, Parallel, Map). On a Choice state it applies
    /// when the `Default` transition is taken.
    pub assign: Option<Assign>,
    pub kind: StateKind,
}

impl State {
    /// AWS's name for the type, as in history event names (`Pass`, `Task`, …).
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            StateKind::Pass(_) => "Pass",
            StateKind::Task(_) => "Task",
            StateKind::Choice(_) => "Choice",
            StateKind::Wait(_) => "Wait",
            StateKind::Succeed => "Succeed",
            StateKind::Fail(_) => "Fail",
            StateKind::Parallel(_) => "Parallel",
            StateKind::Map(_) => "Map",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum StateKind {
    Pass(Pass),
    Task(Task),
    Choice(Choice),
    Wait(Wait),
    Succeed,
    Fail(Fail),
    Parallel(Parallel),
    Map(Map),
}

/// Where a state goes when it is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    Next(String),
    End,
}

/// How a state places its result into its input (`ResultPath`).
#[derive(Debug, Clone, PartialEq)]
pub enum ResultPath {
    /// `ResultPath: null`: the result is discarded, the input passes through.
    Discard,
    /// A Reference Path; `$` (the default) makes the result the output.
    At(Path),
}

impl Default for ResultPath {
    fn default() -> Self {
        ResultPath::At(Path::root())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pass {
    pub result: Option<Value>,
    pub parameters: Option<Template>,
    pub result_path: ResultPath,
    pub next: Transition,
}

/// A number given literally or read from the input at run time (`TimeoutSeconds` /
/// `TimeoutSecondsPath`, `MaxConcurrency` / `MaxConcurrencyPath`, …), or in a JSONata
/// state the value of an expression (`"TimeoutSeconds": "{% $t %}"`).
#[derive(Debug, Clone, PartialEq)]
pub enum NumberSource<T> {
    Literal(T),
    Path(Path),
    Jsonata(Expression),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub resource: String,
    pub parameters: Option<Template>,
    /// JSONata's `Arguments`: the task's input.
    pub arguments: Option<JsonataTemplate>,
    pub result_selector: Option<Template>,
    pub result_path: ResultPath,
    pub timeout_seconds: Option<NumberSource<u64>>,
    pub heartbeat_seconds: Option<NumberSource<u64>>,
    /// Kept as written (`RoleArn` / `RoleArn.$`); Cairn assumes no role today.
    pub credentials: Option<Value>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    pub next: Transition,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChoiceBranch {
    pub condition: Condition,
    pub next: String,
    /// Applies when this rule is the one that matched.
    pub assign: Option<Assign>,
    /// JSONata: the state's output when this rule is the one that matched.
    pub output: Option<JsonataTemplate>,
}

/// When a Choice rule matches.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// JSONPath's comparison operators.
    Rule(Rule),
    /// JSONata's `Condition`: `true`, `false` or an expression yielding a boolean.
    Jsonata(JsonataTemplate),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub choices: Vec<ChoiceBranch>,
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WaitFor {
    Seconds(u64),
    Timestamp(Timestamp),
    SecondsPath(Path),
    TimestampPath(Path),
    /// JSONata: `"Seconds": "{% … %}"`.
    SecondsExpression(Expression),
    /// JSONata: `"Timestamp": "{% … %}"`.
    TimestampExpression(Expression),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Wait {
    pub wait_for: WaitFor,
    pub next: Transition,
}

/// `Error`/`ErrorPath` or `Cause`/`CausePath`.
#[derive(Debug, Clone, PartialEq)]
pub enum TextSource {
    Literal(String),
    /// A path or an intrinsic call.
    Expression(Template),
    /// JSONata: `"Error": "{% … %}"`.
    Jsonata(Expression),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Fail {
    pub error: Option<TextSource>,
    pub cause: Option<TextSource>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Parallel {
    pub branches: Vec<StateMachine>,
    pub parameters: Option<Template>,
    /// JSONata's `Arguments`: each branch's input.
    pub arguments: Option<JsonataTemplate>,
    pub result_selector: Option<Template>,
    pub result_path: ResultPath,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    pub next: Transition,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProcessorMode {
    #[default]
    Inline,
    Distributed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChildExecutionType {
    #[default]
    Standard,
    Express,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Map {
    /// `ItemProcessor` (or the legacy `Iterator`).
    pub item_processor: Box<StateMachine>,
    pub mode: ProcessorMode,
    /// Distributed mode's `ExecutionType`.
    pub execution_type: ChildExecutionType,
    /// Default `$`.
    pub items_path: Path,
    /// `ItemSelector` (or the legacy `Parameters`).
    pub item_selector: Option<Template>,
    /// JSONata's `Items`: the items, when not the state's input.
    pub items: Option<JsonataTemplate>,
    /// JSONata's `ItemSelector`.
    pub jsonata_item_selector: Option<JsonataTemplate>,
    /// 0 means no limit.
    pub max_concurrency: NumberSource<u64>,
    pub tolerated_failure_count: Option<NumberSource<u64>>,
    pub tolerated_failure_percentage: Option<NumberSource<f64>>,
    /// Kept as written; checked and resolved by `distributed::config` (the
    /// interpreter's `item_source` reads and batches with them).
    pub item_reader: Option<Value>,
    pub item_batcher: Option<Value>,
    pub result_writer: Option<Value>,
    pub label: Option<String>,
    pub result_selector: Option<Template>,
    pub result_path: ResultPath,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    pub next: Transition,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Jitter {
    #[default]
    None,
    Full,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Retrier {
    pub error_equals: Vec<String>,
    /// Default 1.
    pub interval_seconds: u64,
    /// Default 3; 0 means never retry.
    pub max_attempts: u64,
    /// Default 2.0; at least 1.0.
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<u64>,
    pub jitter: Jitter,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Catcher {
    pub error_equals: Vec<String>,
    pub next: String,
    /// Default `$`.
    pub result_path: ResultPath,
    /// Evaluated against the error output (`{"Error": …, "Cause": …}`).
    pub assign: Option<Assign>,
    /// JSONata's `Output`: the output when this catcher takes the error (default
    /// `$states.errorOutput`).
    pub output: Option<JsonataTemplate>,
}
