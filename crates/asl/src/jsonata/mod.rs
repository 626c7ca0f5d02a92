//! JSONata, the second query language of ASL (`QueryLanguage: JSONata`).
//!
//! A JSONata state writes its data flow as `{% … %}` expressions inside JSON values:
//! `Arguments`, `Output`, `Assign`, a Choice rule's `Condition`, a Map's `Items` and
//! `ItemSelector`, Wait's `Seconds`/`Timestamp`, `TimeoutSeconds`, `HeartbeatSeconds`,
//! Fail's `Error`/`Cause`. An expression reads the reserved variable `$states`
//! (`input`, `context`, and where they exist `result` and `errorOutput`) and the
//! workflow variables (`$name`), the same variables JSONPath states assign.
//!
//! Where to look:
//! - [`Expression`]: one compiled `{% … %}`, with what [`analysis`] found in it (the
//!   variables it reads, the `$states` fields it uses, what AWS refuses at creation).
//! - [`template`]: a JSON value with expressions at any depth, evaluated into a value.
//! - [`Engine`]: the boundary to the evaluator; [`engine`] implements it with the
//!   `jsonata-core` crate, under the [limits](Limits) that keep a runaway expression
//!   from hurting anything but its own state.
//! - [`functions`]: the functions AWS adds (`$partition`, `$range`, `$hash`,
//!   `$random`, `$uuid`, `$parse`), AWS's refusal of `$eval`, and the clock and
//!   entropy (`$now`, `$millis`, `$random`, `$uuid`, `$shuffle`) taken from the
//!   interpreter rather than the machine, so a replay evaluates the same.
//!
//! A failed evaluation is `States.QueryEvaluationError` with AWS's cause, e.g.
//! `The JSONata expression '$x' specified for the field 'Output' returned nothing
//! (undefined).` (the interpreter adds the state's prefix and records
//! `EvaluationFailed`).

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::random::Random;
use crate::timestamp::Timestamp;
use crate::variables::Variables;

pub mod analysis;
pub mod engine;
pub mod functions;
pub mod template;

pub use analysis::Analysis;
pub use template::JsonataTemplate;

/// The engine Cairn evaluates JSONata with.
pub type DefaultEngine = engine::CoreEngine;

/// Most nested evaluation levels one expression may use (a non-tail recursive function
/// costs about three per call).
pub const MAX_DEPTH: usize = 3_000;
/// Longest sequence an expression may build (`[1..n]`, a path over many items, …).
pub const MAX_SEQUENCE_LENGTH: usize = 1_000_000;
/// Most steps (function invocations and blocks entered) one expression may take: a
/// deterministic stand-in for a time limit, which the interpreter cannot read.
pub const MAX_STEPS: u64 = 500_000;

/// The limits an evaluation runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_depth: usize,
    pub max_sequence_length: usize,
    pub max_steps: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: MAX_DEPTH,
            max_sequence_length: MAX_SEQUENCE_LENGTH,
            max_steps: MAX_STEPS,
        }
    }
}

/// The inside of `{% … %}` when `text` is a JSONata expression: it must start with
/// `{%` and end with `%}` exactly (AWS treats `" {% x %} "` as a plain string).
pub fn expression_source(text: &str) -> Option<&str> {
    if text.len() >= 4 && text.starts_with("{%") && text.ends_with("%}") {
        Some(&text[2..text.len() - 2])
    } else {
        None
    }
}

/// A JSONata expression that does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    /// The parser's own message, e.g. `S0202: Expected RightBracket, got Comma`.
    pub message: String,
}

/// Why an evaluation did not produce a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvalError {
    /// The expression yielded nothing (`undefined`), which JSON cannot hold.
    Undefined,
    /// It yielded a function, a regular expression, or a number JSON cannot hold.
    Unsupported,
    /// It yielded a value of another type than the field takes (`Items` takes an
    /// array, a Choice `Condition` a boolean).
    UnexpectedType {
        expected: &'static str,
        value: Box<Value>,
    },
    /// The engine raised an error (`T2001: …`, `D3030: …`), AWS's refusal of `$eval`
    /// included.
    Failed(String),
    /// One of the [`Limits`] was reached.
    LimitExceeded(String),
    /// The engine panicked; the panic was caught at the boundary.
    EnginePanicked,
}

impl EvalError {
    /// AWS's cause for this error: `The JSONata expression '<source>' specified for
    /// the field '<field>' …`.
    pub fn cause(&self, source: &str, field: &str) -> String {
        let head = format!("The JSONata expression '{source}' specified for the field '{field}'");
        match self {
            EvalError::Undefined => format!("{head} returned nothing (undefined)."),
            EvalError::Unsupported => format!("{head} returned an unsupported result type."),
            EvalError::UnexpectedType { expected, value } => format!(
                "{head} returned an unexpected result type. Expected '{expected}', but was \
                 '{}' for value: {}",
                type_name(value),
                crate::payload::to_text(value)
            ),
            EvalError::Failed(message) => {
                format!("{head} threw an error during evaluation: {message}")
            }
            EvalError::LimitExceeded(message) => {
                format!("{head} exceeded a limit of evaluation: {message}")
            }
            EvalError::EnginePanicked => {
                format!("{head} could not be evaluated: the JSONata engine failed")
            }
        }
    }
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvalError::Undefined => f.write_str("returned nothing (undefined)"),
            EvalError::Unsupported | EvalError::UnexpectedType { .. } => {
                f.write_str("returned an unsupported result type")
            }
            EvalError::Failed(m) | EvalError::LimitExceeded(m) => f.write_str(m),
            EvalError::EnginePanicked => f.write_str("the JSONata engine failed"),
        }
    }
}

/// AWS's name for a JSON value's type, in `unexpected result type` causes and the
/// intrinsic functions' errors.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// What a JSONata evaluation sees and draws from: `$states`, the workflow variables,
/// and the interpreter's clock and entropy.
pub struct Environment<'a> {
    /// `$states.input`: the state's input.
    pub input: &'a Value,
    /// `$states.context`: the context object.
    pub context: &'a Value,
    /// `$states.result`, where the field being evaluated has one.
    pub result: Option<&'a Value>,
    /// `$states.errorOutput`, in a catcher's `Output` and `Assign`.
    pub error_output: Option<&'a Value>,
    pub variables: &'a dyn Variables,
    /// What `$now()` and `$millis()` answer.
    pub now: Timestamp,
    /// What `$random()`, `$uuid()` and `$shuffle()` draw from.
    pub random: &'a mut dyn Random,
    pub limits: Limits,
}

/// The boundary to a JSONata evaluator. A program is compiled once per definition and
/// shared across threads; an evaluation happens inside one interpreter step, through a
/// [`Engine::Session`] that may hold engine values which are not `Send` (jsonata-core's
/// are `Rc`-based) and is dropped before the step ends.
pub trait Engine {
    type Program: fmt::Debug + Send + Sync + 'static;
    type Session<'a>;

    /// Parses `source` (the inside of `{% … %}`).
    fn compile(source: &str) -> Result<(Self::Program, Analysis), CompileError>;

    /// Starts evaluating in `environment`; values shared by several expressions (the
    /// state's input, the context) are converted once per session.
    fn session(environment: Environment<'_>) -> Self::Session<'_>;

    /// Evaluates `program`, reading the variables `analysis` lists.
    fn evaluate(
        session: &mut Self::Session<'_>,
        program: &Self::Program,
        analysis: &Analysis,
    ) -> Result<Value, EvalError>;
}

/// A session of the [`DefaultEngine`].
pub type Session<'a> = <DefaultEngine as Engine>::Session<'a>;

/// Starts a session of the [`DefaultEngine`].
pub fn session(environment: Environment<'_>) -> Session<'_> {
    DefaultEngine::session(environment)
}

/// One compiled `{% … %}` expression; cheap to clone (one shared allocation).
#[derive(Clone)]
pub struct Expression {
    inner: Arc<Compiled>,
}

struct Compiled {
    /// The inside of `{% … %}`, trimmed, as AWS quotes it in error causes.
    source: String,
    program: <DefaultEngine as Engine>::Program,
    analysis: Analysis,
}

impl fmt::Debug for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Expression")
            .field(&self.inner.source)
            .finish()
    }
}

impl PartialEq for Expression {
    fn eq(&self, other: &Self) -> bool {
        self.inner.source == other.inner.source
    }
}

impl Expression {
    /// Compiles the inside of `{% … %}`.
    pub fn compile(source: &str) -> Result<Expression, CompileError> {
        let (program, analysis) = DefaultEngine::compile(source)?;
        Ok(Expression {
            inner: Arc::new(Compiled {
                source: source.trim().to_string(),
                program,
                analysis,
            }),
        })
    }

    /// The source without `{%`, `%}` and the blanks around it.
    pub fn source(&self) -> &str {
        &self.inner.source
    }

    pub fn analysis(&self) -> &Analysis {
        &self.inner.analysis
    }

    /// Evaluates the expression in `session`.
    pub fn evaluate(&self, session: &mut Session<'_>) -> Result<Value, EvalError> {
        DefaultEngine::evaluate(session, &self.inner.program, &self.inner.analysis)
    }

    /// Evaluates the expression written as the whole of field `field` (`Seconds`,
    /// `Error`, …): a failure names the field and quotes the expression, as AWS does.
    pub fn evaluate_at(
        &self,
        session: &mut Session<'_>,
        field: &str,
    ) -> Result<Value, template::EvaluationFailure> {
        self.evaluate(session)
            .map_err(|error| template::EvaluationFailure {
                location: field.to_string(),
                source: self.source().to_string(),
                error,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exact_delimiters_make_an_expression() {
        assert_eq!(expression_source("{% $x %}"), Some(" $x "));
        assert_eq!(expression_source("{%%}"), Some(""));
        assert_eq!(expression_source(" {% $x %}"), None);
        assert_eq!(expression_source("{% $x %} "), None);
        assert_eq!(expression_source("{%}"), None);
        assert_eq!(expression_source("$states.input"), None);
    }

    #[test]
    fn causes_are_worded_as_aws_words_them() {
        assert_eq!(
            EvalError::Undefined.cause("$doesNotExist", "Output/result"),
            "The JSONata expression '$doesNotExist' specified for the field 'Output/result' \
             returned nothing (undefined)."
        );
        assert_eq!(
            EvalError::Unsupported.cause("$fn := function($x){$x}", "Items"),
            "The JSONata expression '$fn := function($x){$x}' specified for the field 'Items' \
             returned an unsupported result type."
        );
    }
}
