//! JSON → [`crate::model`], reporting every schema problem as a diagnostic with its
//! location. Field-level checks live here; cross-state checks live in [`crate::validate`].
//!
//! Locations follow AWS's own format: JSON-pointer-like segments for object keys
//! (`/States/Pay/Retry`) and `[i]` for array elements (`/States/Pay/Retry[0]/ErrorEquals[1]`),
//! as AWS writes them in `InvalidDefinition` messages. The root is `/`.
//!
//! Messages copy AWS's wording where it is known (from recorded `InvalidDefinition`
//! answers); elsewhere they say plainly what is wrong and what is expected.
//!
//! Both query languages are read. A state is JSONata when its `QueryLanguage` says so
//! or, without one, when the machine's does (states inside Parallel branches and Map
//! processors follow the machine, not the enclosing state); a JSONata machine cannot
//! have a JSONPath state. Each language's own fields are refused in the other's states
//! with AWS's wording, and `{% … %}` expressions are compiled here, so an expression
//! that does not parse, or references what AWS refuses, is an `INVALID_JSONATA_EXPRESSION`
//! or `UNSUPPORTED_JSONATA_EXPRESSION` diagnostic at its place. In a JSONPath state a
//! `{% … %}` string is plain text, as on AWS. `Assign` (workflow variables) is accepted
//! on the states, Choice rules and catchers that AWS allows it on, in both languages.

use serde_json::{Map as JsonMap, Value};

use crate::choice::Rule;
use crate::diagnostic::{index, pointer, Diagnostic, Severity};
use crate::jsonata::template::TemplateProblem;
use crate::jsonata::{expression_source, Expression, JsonataTemplate};
use crate::model::{
    Catcher, ChildExecutionType, Choice, ChoiceBranch, Condition, Fail, Jitter, Map, NumberSource,
    Parallel, Pass, ProcessorMode, QueryLanguage, ResultPath, Retrier, State, StateKind,
    StateMachine, Task, TextSource, Transition, Wait, WaitFor,
};
use crate::path::Path;
use crate::template::{Template, TemplateError};
use crate::timestamp::Timestamp;
use crate::variables::Assign;

/// How deeply Parallel branches and Map item processors may nest inside each other.
/// Deeper definitions are refused (with a diagnostic), which also bounds recursion.
pub const MAX_NESTING_DEPTH: usize = 32;

/// The largest value AWS accepts for most second and attempt counts.
const MAX_SECONDS: u64 = 99_999_999;
/// AWS's limit for a retrier's `MaxDelaySeconds` (one year plus a day, in seconds).
const MAX_DELAY_SECONDS: u64 = 31_622_400;
/// AWS's limit for a Map `Label`, in characters.
pub const MAX_LABEL_CHARS: usize = 40;

/// Fields only the JSONata query language has. In a JSONPath state AWS refuses them.
const JSONATA_ONLY_FIELDS: &[&str] = &["Arguments", "Output", "Items", "Condition"];
/// Fields only the JSONPath query language has. In a JSONata state AWS refuses them.
const JSONPATH_ONLY_FIELDS: &[&str] = &[
    "InputPath",
    "OutputPath",
    "ResultPath",
    "ResultSelector",
    "Parameters",
    "Result",
    "ItemsPath",
    "MaxConcurrencyPath",
    "ToleratedFailureCountPath",
    "ToleratedFailurePercentagePath",
    "SecondsPath",
    "TimestampPath",
    "ErrorPath",
    "CausePath",
    "TimeoutSecondsPath",
    "HeartbeatSecondsPath",
];

const COMMON_FIELDS: &[&str] = &["Type", "Comment", "QueryLanguage", "Assign"];
const PASS_FIELDS: &[&str] = &[
    "InputPath",
    "OutputPath",
    "Next",
    "End",
    "Result",
    "ResultPath",
    "Parameters",
];
const TASK_FIELDS: &[&str] = &[
    "InputPath",
    "OutputPath",
    "Next",
    "End",
    "Resource",
    "Parameters",
    "ResultSelector",
    "ResultPath",
    "Retry",
    "Catch",
    "TimeoutSeconds",
    "TimeoutSecondsPath",
    "HeartbeatSeconds",
    "HeartbeatSecondsPath",
    "Credentials",
];
const CHOICE_FIELDS: &[&str] = &["InputPath", "OutputPath", "Choices", "Default"];
const WAIT_FIELDS: &[&str] = &[
    "InputPath",
    "OutputPath",
    "Next",
    "End",
    "Seconds",
    "Timestamp",
    "SecondsPath",
    "TimestampPath",
];
const SUCCEED_FIELDS: &[&str] = &["InputPath", "OutputPath"];
const FAIL_FIELDS: &[&str] = &["Error", "ErrorPath", "Cause", "CausePath"];
const PARALLEL_FIELDS: &[&str] = &[
    "InputPath",
    "OutputPath",
    "Next",
    "End",
    "Branches",
    "Parameters",
    "ResultSelector",
    "ResultPath",
    "Retry",
    "Catch",
];
const MAP_FIELDS: &[&str] = &[
    "InputPath",
    "OutputPath",
    "Next",
    "End",
    "ItemProcessor",
    "Iterator",
    "ItemsPath",
    "ItemSelector",
    "Parameters",
    "MaxConcurrency",
    "MaxConcurrencyPath",
    "ToleratedFailureCount",
    "ToleratedFailureCountPath",
    "ToleratedFailurePercentage",
    "ToleratedFailurePercentagePath",
    "ItemReader",
    "ItemBatcher",
    "ResultWriter",
    "Label",
    "ResultSelector",
    "ResultPath",
    "Retry",
    "Catch",
];
const RETRIER_FIELDS: &[&str] = &[
    "ErrorEquals",
    "IntervalSeconds",
    "MaxAttempts",
    "BackoffRate",
    "MaxDelaySeconds",
    "JitterStrategy",
    "Comment",
];
const CATCHER_FIELDS: &[&str] = &["ErrorEquals", "Next", "ResultPath", "Comment", "Assign"];
const JSONATA_RULE_FIELDS: &[&str] = &["Condition", "Next", "Assign", "Output", "Comment"];
const STATE_TYPES: &[&str] = &[
    "Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map",
];

/// Builds the model from a parsed definition. Returns `None` (with diagnostics) when the
/// definition has any error; warnings alone do not stop it.
pub fn parse_definition(value: &Value, diagnostics: &mut Vec<Diagnostic>) -> Option<StateMachine> {
    let errors_before = count_errors(diagnostics);
    let mut parser = Parser {
        diags: diagnostics,
        jsonata_machine: false,
        jsonata_state: false,
        language_refused: false,
        in_catcher: false,
    };
    let machine = match value.as_object() {
        Some(obj) => parser.machine(obj, "", Scope::Top, 0),
        None => {
            parser.err("", "The state machine definition must be a JSON object");
            None
        }
    };
    if count_errors(parser.diags) > errors_before {
        None
    } else {
        machine
    }
}

fn count_errors(diagnostics: &[Diagnostic]) -> usize {
    diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count()
}

/// Which kind of state list is being read: they differ in the fields they allow.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    Top,
    Branch,
    Processor,
}

/// What a path-valued field held.
enum PathField {
    Absent,
    Null,
    Valid(Path),
    Invalid,
}

type Obj = JsonMap<String, Value>;

struct Parser<'d> {
    diags: &'d mut Vec<Diagnostic>,
    /// The machine declares `QueryLanguage: JSONata`.
    jsonata_machine: bool,
    /// The state being read is JSONata (its own or the machine's `QueryLanguage`).
    jsonata_state: bool,
    /// The state's language was refused (a JSONPath state in a JSONata machine): that
    /// diagnostic is the whole answer about languages, so fields of either language
    /// are not reported on top of it.
    language_refused: bool,
    /// A catcher's `Output` or `Assign` is being read: `$states.errorOutput` exists.
    in_catcher: bool,
}

/// `base/key`, with the root written `/` as AWS does.
fn at(base: &str, key: &str) -> String {
    pointer(base, key)
}

fn root_or(loc: &str) -> String {
    if loc.is_empty() {
        "/".to_string()
    } else {
        loc.to_string()
    }
}

/// An integer value, accepting integral floats such as `3.0`.
fn as_integer(value: &Value) -> Option<i128> {
    if let Some(u) = value.as_u64() {
        return Some(i128::from(u));
    }
    if let Some(i) = value.as_i64() {
        return Some(i128::from(i));
    }
    let f = value.as_f64()?;
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e30 {
        Some(f as i128)
    } else {
        None
    }
}

impl Parser<'_> {
    fn err(&mut self, location: &str, message: impl Into<String>) {
        self.diags
            .push(Diagnostic::schema(root_or(location), message.into()));
    }

    // ---- generic field helpers -------------------------------------------------------

    /// Reports every field of `obj` not in the allowed lists as AWS does, at `loc`.
    fn check_fields(&mut self, obj: &Obj, loc: &str, allowed: &[&[&str]]) {
        for key in obj.keys() {
            if allowed.iter().any(|list| list.contains(&key.as_str())) {
                if self.jsonata_state
                    && !self.language_refused
                    && JSONPATH_ONLY_FIELDS.contains(&key.as_str())
                {
                    self.err(
                        loc,
                        format!(
                            "The QueryLanguage is set to 'JSONata', but field '{key}' is only \
                             supported for the 'JSONPath' QueryLanguage"
                        ),
                    );
                }
                continue;
            }
            if JSONATA_ONLY_FIELDS.contains(&key.as_str()) && !self.jsonata_state {
                if self.language_refused {
                    continue;
                }
                self.err(
                    loc,
                    format!(
                        "The QueryLanguage is set to 'JSONPath', but field '{key}' is only \
                         supported for the 'JSONata' QueryLanguage"
                    ),
                );
            } else {
                self.err(loc, format!("Field '{key}' is not supported"));
            }
        }
    }

    /// Reports the listed fields that are absent, in one AWS-style diagnostic.
    fn require(&mut self, obj: &Obj, loc: &str, keys: &[&str]) -> bool {
        let missing: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| !obj.contains_key(*k))
            .collect();
        if missing.is_empty() {
            return true;
        }
        self.err(
            loc,
            format!("These fields are required: [{}]", missing.join(", ")),
        );
        false
    }

    /// At most one of `keys` may be present.
    fn exclusive(&mut self, obj: &Obj, loc: &str, keys: &[&str]) -> bool {
        let present: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| obj.contains_key(*k))
            .collect();
        if present.len() > 1 {
            self.err(
                loc,
                format!(
                    "These fields cannot be used together: [{}]",
                    present.join(", ")
                ),
            );
            return false;
        }
        true
    }

    fn wrong_type(&mut self, loc: &str, expected: &str, _value: &Value) {
        self.err(loc, format!("Expected value of type {expected}"));
    }

    fn string<'v>(&mut self, obj: &'v Obj, key: &str, loc: &str) -> Option<&'v str> {
        let value = obj.get(key)?;
        match value.as_str() {
            Some(s) => Some(s),
            None => {
                self.wrong_type(&at(loc, key), "String", value);
                None
            }
        }
    }

    fn object<'v>(&mut self, obj: &'v Obj, key: &str, loc: &str) -> Option<&'v Obj> {
        let value = obj.get(key)?;
        match value.as_object() {
            Some(o) => Some(o),
            None => {
                self.wrong_type(&at(loc, key), "Object", value);
                None
            }
        }
    }

    fn array<'v>(&mut self, obj: &'v Obj, key: &str, loc: &str) -> Option<&'v Vec<Value>> {
        let value = obj.get(key)?;
        match value.as_array() {
            Some(a) => Some(a),
            None => {
                self.wrong_type(&at(loc, key), "Array", value);
                None
            }
        }
    }

    /// An integer in `min..=max`.
    fn integer(&mut self, obj: &Obj, key: &str, loc: &str, min: u64, max: u64) -> Option<u64> {
        let value = obj.get(key)?;
        let here = at(loc, key);
        let Some(n) = as_integer(value) else {
            self.err(
                &here,
                format!("The value of '{key}' must be an integer between {min} and {max}"),
            );
            return None;
        };
        if n < i128::from(min) || n > i128::from(max) {
            self.err(
                &here,
                format!("The value of '{key}' must be an integer between {min} and {max}"),
            );
            return None;
        }
        u64::try_from(n).ok()
    }

    /// A number in `min..=max`.
    fn number(&mut self, obj: &Obj, key: &str, loc: &str, min: f64, max: f64) -> Option<f64> {
        let value = obj.get(key)?;
        let here = at(loc, key);
        match value.as_f64() {
            Some(n) if n.is_finite() && n >= min && n <= max => Some(n),
            Some(_) => {
                let message = if max == f64::MAX {
                    format!(
                        "The value of '{key}' must be a number greater than or equal to {min:.1}"
                    )
                } else {
                    format!("The value of '{key}' must be a number between {min} and {max}")
                };
                self.err(&here, message);
                None
            }
            None => {
                self.wrong_type(&here, "Number", value);
                None
            }
        }
    }

    fn comment(&mut self, obj: &Obj, loc: &str) -> Option<String> {
        self.string(obj, "Comment", loc).map(str::to_string)
    }

    /// A Path (`reference == false`) or Reference Path field.
    fn path(&mut self, obj: &Obj, key: &str, loc: &str, reference: bool) -> PathField {
        let Some(value) = obj.get(key) else {
            return PathField::Absent;
        };
        let here = at(loc, key);
        match value {
            Value::Null => PathField::Null,
            Value::String(text) => {
                let parsed = if reference {
                    Path::parse_reference(text)
                } else {
                    Path::parse(text)
                };
                match parsed {
                    Ok(path) => PathField::Valid(path),
                    Err(e) => {
                        let kind = if reference {
                            "ReferencePath"
                        } else {
                            "JSONPath"
                        };
                        self.err(
                            &here,
                            format!(
                                "The value for the field '{key}' must be a valid {kind}: {}",
                                e.message
                            ),
                        );
                        PathField::Invalid
                    }
                }
            }
            other => {
                self.wrong_type(&here, "String", other);
                PathField::Invalid
            }
        }
    }

    /// A path field that may not be `null` (`ItemsPath`, `SecondsPath`, …).
    fn required_path(&mut self, obj: &Obj, key: &str, loc: &str, reference: bool) -> Option<Path> {
        match self.path(obj, key, loc, reference) {
            PathField::Valid(p) => Some(p),
            PathField::Null => {
                self.err(&at(loc, key), "Expected value of type String");
                None
            }
            PathField::Absent | PathField::Invalid => None,
        }
    }

    /// `InputPath` / `OutputPath`: default `$`, `null` allowed.
    fn io_path(&mut self, obj: &Obj, key: &str, loc: &str) -> Option<Path> {
        match self.path(obj, key, loc, false) {
            PathField::Valid(p) => Some(p),
            PathField::Null => None,
            PathField::Absent | PathField::Invalid => Some(Path::root()),
        }
    }

    fn result_path(&mut self, obj: &Obj, loc: &str) -> ResultPath {
        match self.path(obj, "ResultPath", loc, true) {
            // ResultPath writes into the state's input: a variable is no place to write.
            PathField::Valid(p) if p.variable().is_some() => {
                self.err(
                    &at(loc, "ResultPath"),
                    format!(
                        "The value for the field 'ResultPath' must be a valid ReferencePath: \
                         '{}' names a variable, not a place in the input",
                        p.source()
                    ),
                );
                ResultPath::default()
            }
            PathField::Valid(p) => ResultPath::At(p),
            PathField::Null => ResultPath::Discard,
            PathField::Absent | PathField::Invalid => ResultPath::default(),
        }
    }

    /// [`Self::template`] in a JSONPath state; nothing in a JSONata one (whose
    /// JSONPath fields `check_fields` refuses).
    fn template_if(&mut self, jsonpath: bool, obj: &Obj, key: &str, loc: &str) -> Option<Template> {
        if jsonpath {
            self.template(obj, key, loc)
        } else {
            None
        }
    }

    fn jsonata_template_if(
        &mut self,
        jsonata: bool,
        obj: &Obj,
        key: &str,
        loc: &str,
    ) -> Option<JsonataTemplate> {
        if jsonata {
            self.jsonata_template(obj, key, loc)
        } else {
            None
        }
    }

    fn result_path_if(&mut self, jsonpath: bool, obj: &Obj, loc: &str) -> ResultPath {
        if jsonpath {
            self.result_path(obj, loc)
        } else {
            ResultPath::default()
        }
    }

    fn template(&mut self, obj: &Obj, key: &str, loc: &str) -> Option<Template> {
        let value = obj.get(key)?;
        let here = at(loc, key);
        match Template::compile(value) {
            Ok(t) => Some(t),
            Err(errors) => {
                self.template_errors(&here, errors);
                None
            }
        }
    }

    fn template_errors(&mut self, here: &str, errors: Vec<TemplateError>) {
        if errors.is_empty() {
            self.err(here, "Invalid payload template");
        }
        for e in errors {
            self.err(&format!("{here}{}", e.location), e.message);
        }
    }

    /// A literal count or its `…Path` twin (exclusive).
    fn count_or_path(
        &mut self,
        obj: &Obj,
        key: &str,
        loc: &str,
        min: u64,
        max: u64,
    ) -> Option<NumberSource<u64>> {
        let path_key = format!("{key}Path");
        if !self.exclusive(obj, loc, &[key, &path_key]) {
            return None;
        }
        if obj.contains_key(key) {
            return self
                .integer(obj, key, loc, min, max)
                .map(NumberSource::Literal);
        }
        if obj.contains_key(&path_key) {
            return self
                .required_path(obj, &path_key, loc, true)
                .map(NumberSource::Path);
        }
        None
    }

    fn transition(&mut self, obj: &Obj, loc: &str) -> Transition {
        let next = obj.get("Next");
        let end = obj.get("End");
        let end_true = match end {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.wrong_type(&at(loc, "End"), "Boolean", other);
                return Transition::End;
            }
        };
        match (next, end_true) {
            (Some(_), true) => {
                self.err(loc, "These fields cannot be used together: [Next, End]");
                Transition::End
            }
            (Some(n), false) => match n.as_str() {
                Some(name) => Transition::Next(name.to_string()),
                None => {
                    self.wrong_type(&at(loc, "Next"), "String", n);
                    Transition::End
                }
            },
            (None, true) => Transition::End,
            (None, false) => {
                if end.is_some() {
                    self.err(
                        &at(loc, "End"),
                        "'End' must be true; use 'Next' to continue to another state",
                    );
                } else {
                    self.err(loc, "Exactly one of these fields is required: [Next, End]");
                }
                Transition::End
            }
        }
    }

    // ---- query languages and variables -----------------------------------------------

    /// The machine's `QueryLanguage` (default JSONPath).
    fn machine_language(&mut self, obj: &Obj, loc: &str) -> QueryLanguage {
        match obj.get("QueryLanguage") {
            None => QueryLanguage::JsonPath,
            Some(value) => self.language_value(value, &at(loc, "QueryLanguage")),
        }
    }

    /// A `QueryLanguage` value: `JSONPath` exactly, or else JSONata (AWS reads any other
    /// value as JSONata, besides refusing it).
    fn language_value(&mut self, value: &Value, here: &str) -> QueryLanguage {
        match value.as_str() {
            Some("JSONPath") => QueryLanguage::JsonPath,
            Some("JSONata") => QueryLanguage::JsonAta,
            Some(_) => {
                self.err(
                    here,
                    "Value should be one of the following: [JSONPath, JSONata]",
                );
                QueryLanguage::JsonAta
            }
            None => {
                self.wrong_type(here, "String", value);
                QueryLanguage::JsonAta
            }
        }
    }

    /// A state's language: its own `QueryLanguage`, or the machine's.
    fn state_language(&mut self, obj: &Obj, loc: &str) -> QueryLanguage {
        let machine = if self.jsonata_machine {
            QueryLanguage::JsonAta
        } else {
            QueryLanguage::JsonPath
        };
        let Some(value) = obj.get("QueryLanguage") else {
            return machine;
        };
        let own = self.language_value(value, &at(loc, "QueryLanguage"));
        if own == QueryLanguage::JsonPath && machine == QueryLanguage::JsonAta {
            self.err(
                loc,
                "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine",
            );
            self.language_refused = true;
        }
        own
    }

    /// `Assign`: an object of variable names (see [`crate::variables`]), in the state's
    /// language.
    fn assign(&mut self, obj: &Obj, loc: &str) -> Option<Assign> {
        let value = obj.get("Assign")?;
        let here = at(loc, "Assign");
        if !value.is_object() {
            self.wrong_type(&here, "Object", value);
            return None;
        }
        if self.jsonata_state {
            return match Assign::compile_jsonata(value) {
                Ok(assign) => {
                    if let Some(template) = assign.jsonata() {
                        self.error_output_outside_catch(template, &here);
                    }
                    Some(assign)
                }
                Err((errors, problems)) => {
                    if !errors.is_empty() {
                        self.template_errors(&here, errors);
                    }
                    self.jsonata_problems(&here, problems);
                    None
                }
            };
        }
        match Assign::compile(value) {
            Ok(assign) => Some(assign),
            Err(errors) => {
                self.template_errors(&here, errors);
                None
            }
        }
    }

    /// A catcher's `Assign`: `$states.errorOutput` is allowed there.
    fn catcher_assign(&mut self, obj: &Obj, loc: &str) -> Option<Assign> {
        let saved = std::mem::replace(&mut self.in_catcher, true);
        let assign = self.assign(obj, loc);
        self.in_catcher = saved;
        assign
    }

    fn jsonata_problems(&mut self, here: &str, problems: Vec<TemplateProblem>) {
        for problem in problems {
            self.diags.push(Diagnostic::error(
                problem.code,
                root_or(&format!("{here}{}", problem.location)),
                problem.message,
            ));
        }
    }

    /// AWS refuses `$states.errorOutput` outside a catcher's `Output` and `Assign`.
    fn error_output_outside_catch(&mut self, template: &JsonataTemplate, here: &str) {
        if self.in_catcher {
            return;
        }
        for (location, expression) in template.expressions() {
            if expression.analysis().names_states_field("errorOutput") {
                self.diags.push(Diagnostic::error(
                    crate::diagnostic::DiagnosticCode::UnsupportedJsonataExpression,
                    format!("{here}{location}"),
                    "Reference to '$states.errorOutput' is not supported outside a Catch's \
                     Output and Assign.",
                ));
            }
        }
    }

    /// A JSONata template field (`Output`, `Arguments`, `Items`, `ItemSelector`).
    fn jsonata_template(&mut self, obj: &Obj, key: &str, loc: &str) -> Option<JsonataTemplate> {
        let value = obj.get(key)?;
        let here = at(loc, key);
        match JsonataTemplate::compile(value) {
            Ok(template) => {
                self.error_output_outside_catch(&template, &here);
                Some(template)
            }
            Err(problems) => {
                self.jsonata_problems(&here, problems);
                None
            }
        }
    }

    /// A field that holds one JSONata expression or a literal: `Some(Ok(expression))`
    /// for a `{% … %}` string, `Some(Err(value))` for anything else.
    fn jsonata_or_literal<'v>(
        &mut self,
        obj: &'v Obj,
        key: &str,
        loc: &str,
    ) -> Option<Result<Expression, &'v Value>> {
        let value = obj.get(key)?;
        let Some(source) = value.as_str().and_then(expression_source) else {
            return Some(Err(value));
        };
        let here = at(loc, key);
        let template = JsonataTemplate::compile(value);
        match template {
            Ok(template) => {
                self.error_output_outside_catch(&template, &here);
                match template.as_expression() {
                    Some(expression) => Some(Ok(expression.clone())),
                    None => Expression::compile(source).ok().map(Ok),
                }
            }
            Err(problems) => {
                self.jsonata_problems(&here, problems);
                None
            }
        }
    }

    /// A JSONata state's count (`TimeoutSeconds`, `MaxConcurrency`, …): an integer in
    /// `min..=max` or an expression.
    fn jsonata_count(
        &mut self,
        obj: &Obj,
        key: &str,
        loc: &str,
        min: u64,
        max: u64,
    ) -> Option<NumberSource<u64>> {
        match self.jsonata_or_literal(obj, key, loc)? {
            Ok(expression) => Some(NumberSource::Jsonata(expression)),
            Err(_) => self
                .integer(obj, key, loc, min, max)
                .map(NumberSource::Literal),
        }
    }

    // ---- machines and states -----------------------------------------------------------

    fn machine(
        &mut self,
        obj: &Obj,
        loc: &str,
        scope: Scope,
        depth: usize,
    ) -> Option<StateMachine> {
        // A branch or processor is no state: its states follow the machine's language.
        let saved_language = (self.jsonata_state, self.language_refused, self.in_catcher);
        self.jsonata_state = false;
        self.language_refused = false;
        self.in_catcher = false;
        let machine = self.machine_body(obj, loc, scope, depth);
        (self.jsonata_state, self.language_refused, self.in_catcher) = saved_language;
        machine
    }

    fn machine_body(
        &mut self,
        obj: &Obj,
        loc: &str,
        scope: Scope,
        depth: usize,
    ) -> Option<StateMachine> {
        let allowed: &[&str] = match scope {
            Scope::Top => &[
                "Comment",
                "StartAt",
                "States",
                "TimeoutSeconds",
                "Version",
                "QueryLanguage",
            ],
            Scope::Branch => &["Comment", "StartAt", "States"],
            Scope::Processor => &["Comment", "StartAt", "States", "ProcessorConfig"],
        };
        self.check_fields(obj, loc, &[allowed]);
        self.require(obj, loc, &["StartAt", "States"]);

        let comment = self.comment(obj, loc);
        let start_at = self
            .string(obj, "StartAt", loc)
            .unwrap_or_default()
            .to_string();
        let query_language = if scope == Scope::Top {
            let language = self.machine_language(obj, loc);
            self.jsonata_machine = language == QueryLanguage::JsonAta;
            language
        } else if self.jsonata_machine {
            QueryLanguage::JsonAta
        } else {
            QueryLanguage::JsonPath
        };
        let timeout_seconds = self.integer(obj, "TimeoutSeconds", loc, 1, MAX_SECONDS);
        let version = self.string(obj, "Version", loc).map(str::to_string);

        let mut states = crate::model::States::default();
        if let Some(raw_states) = self.object(obj, "States", loc) {
            let states_loc = at(loc, "States");
            if raw_states.is_empty() {
                self.err(&states_loc, "'States' must contain at least one state");
            }
            for (name, raw) in raw_states {
                let state_loc = at(&states_loc, name);
                self.state_name(name, &state_loc);
                if let Some(state) = self.state(raw, &state_loc, depth) {
                    states.insert(name.clone(), state);
                }
            }
        }
        Some(StateMachine {
            comment,
            start_at,
            states,
            timeout_seconds,
            version,
            query_language,
        })
    }

    fn state_name(&mut self, name: &str, loc: &str) {
        if name.is_empty() {
            self.err(loc, "State names must not be empty");
        } else if name.chars().count() > 80 {
            self.err(loc, "State names must be at most 80 characters long");
        }
    }

    fn state(&mut self, raw: &Value, loc: &str, depth: usize) -> Option<State> {
        let Some(obj) = raw.as_object() else {
            self.wrong_type(loc, "Object", raw);
            return None;
        };
        if !self.require(obj, loc, &["Type"]) {
            return None;
        }
        let type_value = obj.get("Type")?;
        let Some(ty) = type_value.as_str() else {
            self.wrong_type(&at(loc, "Type"), "String", type_value);
            return None;
        };
        let own: &[&str] = match ty {
            "Pass" => PASS_FIELDS,
            "Task" => TASK_FIELDS,
            "Choice" => CHOICE_FIELDS,
            "Wait" => WAIT_FIELDS,
            "Succeed" => SUCCEED_FIELDS,
            "Fail" => FAIL_FIELDS,
            "Parallel" => PARALLEL_FIELDS,
            "Map" => MAP_FIELDS,
            other => {
                self.err(
                    &at(loc, "Type"),
                    format!(
                        "'{other}' is not a valid state type; expected one of [{}]",
                        STATE_TYPES.join(", ")
                    ),
                );
                return None;
            }
        };
        let saved = (self.jsonata_state, self.language_refused);
        self.language_refused = false;
        let language = self.state_language(obj, loc);
        self.jsonata_state = language == QueryLanguage::JsonAta && !self.language_refused;
        let state = self.state_body(obj, loc, ty, own, depth);
        (self.jsonata_state, self.language_refused) = saved;
        state
    }

    fn state_body(
        &mut self,
        obj: &Obj,
        loc: &str,
        ty: &str,
        own: &[&str],
        depth: usize,
    ) -> Option<State> {
        // The JSONata fields each type has.
        let jsonata_own: &[&str] = if !self.jsonata_state {
            &[]
        } else {
            match ty {
                "Task" | "Parallel" => &["Arguments", "Output"],
                "Map" => &["Items", "Output"],
                "Fail" => &[],
                _ => &["Output"],
            }
        };
        self.check_fields(obj, loc, &[COMMON_FIELDS, own, jsonata_own]);
        // AWS allows Assign on every type that can continue to another state.
        let assign = if matches!(ty, "Succeed" | "Fail") {
            if obj.contains_key("Assign") {
                self.err(loc, "Field 'Assign' is not supported");
            }
            None
        } else {
            self.assign(obj, loc)
        };
        let output = if jsonata_own.contains(&"Output") {
            self.jsonata_template(obj, "Output", loc)
        } else {
            None
        };

        let comment = self.comment(obj, loc);
        let (input_path, output_path) = if own.contains(&"InputPath") && !self.jsonata_state {
            (
                self.io_path(obj, "InputPath", loc),
                self.io_path(obj, "OutputPath", loc),
            )
        } else {
            (Some(Path::root()), Some(Path::root()))
        };
        let kind = match ty {
            "Pass" => StateKind::Pass(self.pass(obj, loc)),
            "Task" => StateKind::Task(self.task(obj, loc)),
            "Choice" => StateKind::Choice(self.choice(obj, loc)),
            "Wait" => StateKind::Wait(self.wait(obj, loc)),
            "Succeed" => StateKind::Succeed,
            "Fail" => StateKind::Fail(self.fail(obj, loc)),
            "Parallel" => StateKind::Parallel(self.parallel(obj, loc, depth)?),
            _ => StateKind::Map(self.map(obj, loc, depth)?),
        };
        Some(State {
            comment,
            query_language: if self.jsonata_state {
                QueryLanguage::JsonAta
            } else {
                QueryLanguage::JsonPath
            },
            output,
            input_path,
            output_path,
            assign,
            kind,
        })
    }

    fn pass(&mut self, obj: &Obj, loc: &str) -> Pass {
        if self.jsonata_state {
            return Pass {
                result: None,
                parameters: None,
                result_path: ResultPath::default(),
                next: self.transition(obj, loc),
            };
        }
        Pass {
            result: obj.get("Result").cloned(),
            parameters: self.template(obj, "Parameters", loc),
            result_path: self.result_path(obj, loc),
            next: self.transition(obj, loc),
        }
    }

    fn task(&mut self, obj: &Obj, loc: &str) -> Task {
        self.require(obj, loc, &["Resource"]);
        let resource = self.string(obj, "Resource", loc).map(str::to_string);
        if let Some(resource) = &resource {
            self.check_resource(resource, &at(loc, "Resource"));
        }
        let resource = resource.unwrap_or_default();
        let (timeout_seconds, heartbeat_seconds) = if self.jsonata_state {
            (
                self.jsonata_count(obj, "TimeoutSeconds", loc, 1, MAX_SECONDS),
                self.jsonata_count(obj, "HeartbeatSeconds", loc, 1, MAX_SECONDS),
            )
        } else {
            (
                self.count_or_path(obj, "TimeoutSeconds", loc, 1, MAX_SECONDS),
                self.count_or_path(obj, "HeartbeatSeconds", loc, 1, MAX_SECONDS),
            )
        };
        if let (Some(NumberSource::Literal(t)), Some(NumberSource::Literal(h))) =
            (&timeout_seconds, &heartbeat_seconds)
        {
            if h >= t {
                self.err(
                    &at(loc, "HeartbeatSeconds"),
                    format!("HeartbeatSeconds ({h}) must be smaller than TimeoutSeconds ({t})"),
                );
            }
        }
        let credentials = match obj.get("Credentials") {
            None => None,
            Some(value) => {
                let here = at(loc, "Credentials");
                match value.as_object() {
                    Some(c) if c.contains_key("RoleArn") || c.contains_key("RoleArn.$") => {}
                    Some(_) => self.err(&here, "The field 'RoleArn' is required but was missing"),
                    None => self.wrong_type(&here, "Object", value),
                }
                Some(value.clone())
            }
        };
        let jsonpath = !self.jsonata_state;
        Task {
            resource,
            parameters: self.template_if(jsonpath, obj, "Parameters", loc),
            arguments: self.jsonata_template_if(!jsonpath, obj, "Arguments", loc),
            result_selector: self.template_if(jsonpath, obj, "ResultSelector", loc),
            result_path: self.result_path_if(jsonpath, obj, loc),
            timeout_seconds,
            heartbeat_seconds,
            credentials,
            retry: self.retriers(obj, loc),
            catch: self.catchers(obj, loc),
            next: self.transition(obj, loc),
        }
    }

    /// Refuses the optimized integrations AWS does not have, for the services whose
    /// action list is known here (`arn:aws:states:::dynamodb:query` is not one).
    fn check_resource(&mut self, resource: &str, loc: &str) {
        if resource.is_empty() {
            self.err(loc, "The field 'Resource' must not be empty");
            return;
        }
        let Some(rest) = [
            "arn:aws:states:::",
            "arn:aws-cn:states:::",
            "arn:aws-us-gov:states:::",
        ]
        .iter()
        .find_map(|prefix| resource.strip_prefix(prefix)) else {
            return;
        };
        let Some((service, action)) = rest.split_once(':') else {
            return;
        };
        let base = action.split_once('.').map(|(a, _)| a).unwrap_or(action);
        let known: Option<&[&str]> = match service {
            "dynamodb" => Some(&["getItem", "putItem", "deleteItem", "updateItem"]),
            "lambda" => Some(&["invoke"]),
            "sns" => Some(&["publish"]),
            "sqs" => Some(&["sendMessage"]),
            "states" => Some(&["startExecution"]),
            _ => None,
        };
        if let Some(actions) = known {
            if !actions.contains(&base) {
                self.err(
                    loc,
                    format!(
                        "The resource provided {resource} is not recognized. The value is not \
                         a valid resource ARN, or the resource is not available in this region."
                    ),
                );
            }
        }
    }

    fn error_equals(&mut self, obj: &Obj, loc: &str, is_last: bool) -> Vec<String> {
        let Some(list) = self.array(obj, "ErrorEquals", loc) else {
            return Vec::new();
        };
        let here = at(loc, "ErrorEquals");
        if list.is_empty() {
            self.err(&here, "'ErrorEquals' must contain at least one error name");
        }
        let mut names = Vec::with_capacity(list.len());
        for (j, item) in list.iter().enumerate() {
            let item_loc = index(&here, j);
            match item.as_str() {
                Some(name) => {
                    if name == crate::error::names::ALL && (list.len() > 1 || !is_last) {
                        self.err(&item_loc, "States.ALL must appear alone and at end of list");
                    }
                    names.push(name.to_string());
                }
                None => self.wrong_type(&item_loc, "String", item),
            }
        }
        names
    }

    fn retriers(&mut self, obj: &Obj, loc: &str) -> Vec<Retrier> {
        let Some(list) = self.array(obj, "Retry", loc) else {
            return Vec::new();
        };
        let here = at(loc, "Retry");
        let mut out = Vec::with_capacity(list.len());
        for (i, raw) in list.iter().enumerate() {
            let rloc = index(&here, i);
            let Some(r) = raw.as_object() else {
                self.wrong_type(&rloc, "Object", raw);
                continue;
            };
            self.check_fields(r, &rloc, &[RETRIER_FIELDS]);
            self.require(r, &rloc, &["ErrorEquals"]);
            self.comment(r, &rloc);
            let error_equals = self.error_equals(r, &rloc, i + 1 == list.len());
            let interval_seconds = self
                .integer(r, "IntervalSeconds", &rloc, 1, MAX_SECONDS)
                .unwrap_or(1);
            let max_attempts = self
                .integer(r, "MaxAttempts", &rloc, 0, MAX_SECONDS)
                .unwrap_or(3);
            let backoff_rate = self
                .number(r, "BackoffRate", &rloc, 1.0, f64::MAX)
                .unwrap_or(2.0);
            let max_delay_seconds = self.integer(r, "MaxDelaySeconds", &rloc, 1, MAX_DELAY_SECONDS);
            let jitter = match r.get("JitterStrategy") {
                None => Jitter::None,
                Some(Value::String(s)) if s == "FULL" => Jitter::Full,
                Some(Value::String(s)) if s == "NONE" => Jitter::None,
                Some(other) => {
                    self.err(
                        &at(&rloc, "JitterStrategy"),
                        format!(
                            "'JitterStrategy' must be one of [FULL, NONE], got {}",
                            other
                        ),
                    );
                    Jitter::None
                }
            };
            out.push(Retrier {
                error_equals,
                interval_seconds,
                max_attempts,
                backoff_rate,
                max_delay_seconds,
                jitter,
            });
        }
        out
    }

    fn catchers(&mut self, obj: &Obj, loc: &str) -> Vec<Catcher> {
        let Some(list) = self.array(obj, "Catch", loc) else {
            return Vec::new();
        };
        let here = at(loc, "Catch");
        let mut out = Vec::with_capacity(list.len());
        for (i, raw) in list.iter().enumerate() {
            let cloc = index(&here, i);
            let Some(c) = raw.as_object() else {
                self.wrong_type(&cloc, "Object", raw);
                continue;
            };
            let jsonata_fields: &[&str] = if self.jsonata_state { &["Output"] } else { &[] };
            self.check_fields(c, &cloc, &[CATCHER_FIELDS, jsonata_fields]);
            let assign = self.catcher_assign(c, &cloc);
            let output = if self.jsonata_state {
                let saved = std::mem::replace(&mut self.in_catcher, true);
                let output = self.jsonata_template(c, "Output", &cloc);
                self.in_catcher = saved;
                output
            } else {
                None
            };
            self.require(c, &cloc, &["ErrorEquals", "Next"]);
            self.comment(c, &cloc);
            let error_equals = self.error_equals(c, &cloc, i + 1 == list.len());
            let next = self
                .string(c, "Next", &cloc)
                .unwrap_or_default()
                .to_string();
            let result_path = self.result_path_if(!self.jsonata_state, c, &cloc);
            out.push(Catcher {
                error_equals,
                next,
                result_path,
                assign,
                output,
            });
        }
        out
    }

    fn choice(&mut self, obj: &Obj, loc: &str) -> Choice {
        self.require(obj, loc, &["Choices"]);
        let default = self.string(obj, "Default", loc).map(str::to_string);
        let mut choices = Vec::new();
        if let Some(list) = self.array(obj, "Choices", loc) {
            let here = at(loc, "Choices");
            if list.is_empty() {
                self.err(&here, "'Choices' must contain at least one rule");
            }
            for (i, raw) in list.iter().enumerate() {
                let rloc = index(&here, i);
                let Some(rule_obj) = raw.as_object() else {
                    self.wrong_type(&rloc, "Object", raw);
                    continue;
                };
                if self.jsonata_state {
                    if let Some(branch) = self.jsonata_rule(rule_obj, &rloc) {
                        choices.push(branch);
                    }
                    continue;
                }
                let mut usable = true;
                if rule_obj.contains_key("Condition") {
                    self.err(
                        &rloc,
                        "The QueryLanguage is set to 'JSONPath', but field 'Condition' is only \
                         supported for the 'JSONata' QueryLanguage",
                    );
                    usable = false;
                }
                if rule_obj.contains_key("Output") {
                    self.err(
                        &rloc,
                        "The QueryLanguage is set to 'JSONPath', but field 'Output' is only \
                         supported for the 'JSONata' QueryLanguage",
                    );
                    usable = false;
                }
                let assign = self.assign(rule_obj, &rloc);
                // `Next` is checked by the rule parser (present, a string).
                let next = rule_obj
                    .get("Next")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                if !usable {
                    continue;
                }
                let rule = Rule::parse(raw, &rloc, true, self.diags);
                if let (Some(rule), Some(next)) = (rule, next) {
                    choices.push(ChoiceBranch {
                        condition: Condition::Rule(rule),
                        next,
                        assign,
                        output: None,
                    });
                }
            }
        }
        Choice { choices, default }
    }

    /// A JSONata Choice rule: `Condition` (a boolean or an expression), `Next`, and
    /// optionally `Assign` and `Output`.
    fn jsonata_rule(&mut self, rule: &Obj, loc: &str) -> Option<ChoiceBranch> {
        self.check_fields(rule, loc, &[JSONATA_RULE_FIELDS]);
        self.require(rule, loc, &["Condition", "Next"]);
        self.comment(rule, loc);
        let next = self.string(rule, "Next", loc).map(str::to_string);
        let assign = self.assign(rule, loc);
        let output = self.jsonata_template(rule, "Output", loc);
        let condition = match rule.get("Condition") {
            None => None,
            Some(Value::Bool(_)) => self.jsonata_template(rule, "Condition", loc),
            Some(Value::String(text)) if expression_source(text).is_some() => {
                self.jsonata_template(rule, "Condition", loc)
            }
            Some(other) => {
                self.wrong_type(&at(loc, "Condition"), "Boolean", other);
                None
            }
        };
        Some(ChoiceBranch {
            condition: Condition::Jsonata(condition?),
            next: next?,
            assign,
            output,
        })
    }

    fn wait(&mut self, obj: &Obj, loc: &str) -> Wait {
        let keys = ["Seconds", "Timestamp", "SecondsPath", "TimestampPath"];
        let present = keys.iter().filter(|k| obj.contains_key(**k)).count();
        if present == 0 {
            self.err(
                loc,
                "Exactly one of these fields is required: [Seconds, Timestamp, SecondsPath, \
                 TimestampPath]",
            );
        } else {
            self.exclusive(obj, loc, &keys);
        }
        let mut wait_for = WaitFor::Seconds(0);
        if self.jsonata_state {
            if let Some(seconds) = self.jsonata_or_literal(obj, "Seconds", loc) {
                match seconds {
                    Ok(expression) => wait_for = WaitFor::SecondsExpression(expression),
                    Err(_) => {
                        if let Some(s) = self.integer(obj, "Seconds", loc, 0, MAX_SECONDS) {
                            wait_for = WaitFor::Seconds(s);
                        }
                    }
                }
            } else if let Some(timestamp) = self.jsonata_or_literal(obj, "Timestamp", loc) {
                match timestamp {
                    Ok(expression) => wait_for = WaitFor::TimestampExpression(expression),
                    Err(value) => match value.as_str().and_then(Timestamp::parse) {
                        Some(t) => wait_for = WaitFor::Timestamp(t),
                        None => self.err(
                            &at(loc, "Timestamp"),
                            "String does not match RFC3339 timestamp",
                        ),
                    },
                }
            }
            return Wait {
                wait_for,
                next: self.transition(obj, loc),
            };
        }
        if obj.contains_key("Seconds") {
            if let Some(s) = self.integer(obj, "Seconds", loc, 0, MAX_SECONDS) {
                wait_for = WaitFor::Seconds(s);
            }
        } else if let Some(value) = obj.get("Timestamp") {
            let parsed = value.as_str().and_then(Timestamp::parse);
            match parsed {
                Some(t) => wait_for = WaitFor::Timestamp(t),
                None => self.err(
                    &at(loc, "Timestamp"),
                    "String does not match RFC3339 timestamp",
                ),
            }
        } else if obj.contains_key("SecondsPath") {
            if let Some(p) = self.required_path(obj, "SecondsPath", loc, true) {
                wait_for = WaitFor::SecondsPath(p);
            }
        } else if obj.contains_key("TimestampPath") {
            if let Some(p) = self.required_path(obj, "TimestampPath", loc, true) {
                wait_for = WaitFor::TimestampPath(p);
            }
        }
        Wait {
            wait_for,
            next: self.transition(obj, loc),
        }
    }

    fn text_source(&mut self, obj: &Obj, key: &str, loc: &str) -> Option<TextSource> {
        if self.jsonata_state {
            return match self.jsonata_or_literal(obj, key, loc)? {
                Ok(expression) => Some(TextSource::Jsonata(expression)),
                Err(_) => self
                    .string(obj, key, loc)
                    .map(|s| TextSource::Literal(s.to_string())),
            };
        }
        let path_key = format!("{key}Path");
        if !self.exclusive(obj, loc, &[key, &path_key]) {
            return None;
        }
        if obj.contains_key(key) {
            return self
                .string(obj, key, loc)
                .map(|s| TextSource::Literal(s.to_string()));
        }
        let text = self.string(obj, &path_key, loc)?;
        match Template::compile_expression(text) {
            Ok(t) => Some(TextSource::Expression(t)),
            Err(e) => {
                let here = at(loc, &path_key);
                self.err(&format!("{here}{}", e.location), e.message);
                None
            }
        }
    }

    fn fail(&mut self, obj: &Obj, loc: &str) -> Fail {
        Fail {
            error: self.text_source(obj, "Error", loc),
            cause: self.text_source(obj, "Cause", loc),
        }
    }

    fn nesting_ok(&mut self, loc: &str, depth: usize) -> bool {
        if depth + 1 > MAX_NESTING_DEPTH {
            self.err(
                loc,
                format!(
                    "Parallel branches and Map item processors are nested more than \
                     {MAX_NESTING_DEPTH} levels deep"
                ),
            );
            return false;
        }
        true
    }

    fn parallel(&mut self, obj: &Obj, loc: &str, depth: usize) -> Option<Parallel> {
        self.require(obj, loc, &["Branches"]);
        let mut branches = Vec::new();
        if let Some(list) = self.array(obj, "Branches", loc) {
            let here = at(loc, "Branches");
            if list.is_empty() {
                self.err(&here, "'Branches' must contain at least one branch");
            }
            if !list.is_empty() && !self.nesting_ok(loc, depth) {
                return None;
            }
            for (i, raw) in list.iter().enumerate() {
                let bloc = index(&here, i);
                match raw.as_object() {
                    Some(b) => {
                        if let Some(m) = self.machine(b, &bloc, Scope::Branch, depth + 1) {
                            branches.push(m);
                        }
                    }
                    None => self.wrong_type(&bloc, "Object", raw),
                }
            }
        }
        let jsonpath = !self.jsonata_state;
        Some(Parallel {
            branches,
            parameters: self.template_if(jsonpath, obj, "Parameters", loc),
            arguments: self.jsonata_template_if(!jsonpath, obj, "Arguments", loc),
            result_selector: self.template_if(jsonpath, obj, "ResultSelector", loc),
            result_path: self.result_path_if(jsonpath, obj, loc),
            retry: self.retriers(obj, loc),
            catch: self.catchers(obj, loc),
            next: self.transition(obj, loc),
        })
    }

    fn processor_config(
        &mut self,
        processor: &Obj,
        loc: &str,
    ) -> (ProcessorMode, ChildExecutionType) {
        let Some(config) = self.object(processor, "ProcessorConfig", loc) else {
            return (ProcessorMode::Inline, ChildExecutionType::Standard);
        };
        let here = at(loc, "ProcessorConfig");
        self.check_fields(config, &here, &[&["Mode", "ExecutionType"]]);
        let mode = match config.get("Mode") {
            None => ProcessorMode::Inline,
            Some(Value::String(s)) if s == "INLINE" => ProcessorMode::Inline,
            Some(Value::String(s)) if s == "DISTRIBUTED" => ProcessorMode::Distributed,
            Some(other) => {
                self.err(
                    &at(&here, "Mode"),
                    format!("'Mode' must be one of [INLINE, DISTRIBUTED], got {other}"),
                );
                ProcessorMode::Inline
            }
        };
        let execution_type = match config.get("ExecutionType") {
            None => ChildExecutionType::Standard,
            Some(Value::String(s)) if s == "STANDARD" => ChildExecutionType::Standard,
            Some(Value::String(s)) if s == "EXPRESS" => ChildExecutionType::Express,
            Some(other) => {
                self.err(
                    &at(&here, "ExecutionType"),
                    format!("'ExecutionType' must be one of [STANDARD, EXPRESS], got {other}"),
                );
                ChildExecutionType::Standard
            }
        };
        (mode, execution_type)
    }

    fn raw_object(&mut self, obj: &Obj, key: &str, loc: &str) -> Option<Value> {
        self.object(obj, key, loc).map(|o| Value::Object(o.clone()))
    }

    fn label(&mut self, obj: &Obj, loc: &str) -> Option<String> {
        let label = self.string(obj, "Label", loc)?;
        let here = at(loc, "Label");
        if label.is_empty() {
            self.err(&here, "Label cannot be empty");
        } else if label.chars().count() > MAX_LABEL_CHARS {
            self.err(
                &here,
                format!("Label cannot exceed {MAX_LABEL_CHARS} characters"),
            );
        } else if let Some(bad) = label.chars().find(|c| is_invalid_label_char(*c)) {
            let shown = if bad.is_control() {
                format!("U+{:04X}", u32::from(bad))
            } else {
                format!("'{bad}'")
            };
            self.err(&here, format!("Label contains invalid character: {shown}"));
        }
        Some(label.to_string())
    }

    fn map(&mut self, obj: &Obj, loc: &str, depth: usize) -> Option<Map> {
        let has_processor = obj.contains_key("ItemProcessor");
        let has_iterator = obj.contains_key("Iterator");
        if !has_processor && !has_iterator {
            self.err(loc, "These fields are required: [ItemProcessor]");
        }
        self.exclusive(obj, loc, &["ItemProcessor", "Iterator"]);
        self.exclusive(obj, loc, &["ItemSelector", "Parameters"]);

        let key = if has_processor {
            "ItemProcessor"
        } else {
            "Iterator"
        };
        let mut processor = None;
        let mut mode = ProcessorMode::Inline;
        let mut execution_type = ChildExecutionType::Standard;
        if let Some(raw) = self.object(obj, key, loc) {
            if !self.nesting_ok(loc, depth) {
                return None;
            }
            let here = at(loc, key);
            (mode, execution_type) = self.processor_config(raw, &here);
            processor = self.machine(raw, &here, Scope::Processor, depth + 1);
        }

        if self.jsonata_state {
            return Some(self.jsonata_map(obj, loc, processor, mode, execution_type));
        }
        let items_path = match obj.get("ItemsPath") {
            Some(_) => self
                .required_path(obj, "ItemsPath", loc, true)
                .unwrap_or_else(Path::root),
            None => Path::root(),
        };
        let item_selector = if obj.contains_key("ItemSelector") {
            self.template(obj, "ItemSelector", loc)
        } else {
            self.template(obj, "Parameters", loc)
        };
        let max_concurrency = self
            .count_or_path(obj, "MaxConcurrency", loc, 0, u64::from(u32::MAX))
            .unwrap_or(NumberSource::Literal(0));
        let tolerated_failure_count =
            self.count_or_path(obj, "ToleratedFailureCount", loc, 0, u64::from(u32::MAX));
        let tolerated_failure_percentage = if self.exclusive(
            obj,
            loc,
            &[
                "ToleratedFailurePercentage",
                "ToleratedFailurePercentagePath",
            ],
        ) {
            if obj.contains_key("ToleratedFailurePercentage") {
                self.number(obj, "ToleratedFailurePercentage", loc, 0.0, 100.0)
                    .map(NumberSource::Literal)
            } else if obj.contains_key("ToleratedFailurePercentagePath") {
                self.required_path(obj, "ToleratedFailurePercentagePath", loc, true)
                    .map(NumberSource::Path)
            } else {
                None
            }
        } else {
            None
        };

        let map = Map {
            item_processor: Box::new(processor.unwrap_or_else(empty_machine)),
            mode,
            execution_type,
            items_path,
            item_selector,
            items: None,
            jsonata_item_selector: None,
            max_concurrency,
            tolerated_failure_count,
            tolerated_failure_percentage,
            item_reader: self.raw_object(obj, "ItemReader", loc),
            item_batcher: self.raw_object(obj, "ItemBatcher", loc),
            result_writer: self.raw_object(obj, "ResultWriter", loc),
            label: self.label(obj, loc),
            result_selector: self.template(obj, "ResultSelector", loc),
            result_path: self.result_path(obj, loc),
            retry: self.retriers(obj, loc),
            catch: self.catchers(obj, loc),
            next: self.transition(obj, loc),
        };
        Some(map)
    }

    /// A JSONata Map: `Items`, `ItemSelector`, and counts that may be expressions.
    fn jsonata_map(
        &mut self,
        obj: &Obj,
        loc: &str,
        processor: Option<StateMachine>,
        mode: ProcessorMode,
        execution_type: ChildExecutionType,
    ) -> Map {
        let items = self.jsonata_template(obj, "Items", loc);
        if let Some(literal) = items.as_ref().and_then(JsonataTemplate::literal) {
            if !literal.is_array() {
                self.wrong_type(&at(loc, "Items"), "Array", literal);
            }
        }
        let max_concurrency = self
            .jsonata_count(obj, "MaxConcurrency", loc, 0, u64::from(u32::MAX))
            .unwrap_or(NumberSource::Literal(0));
        let tolerated_failure_count =
            self.jsonata_count(obj, "ToleratedFailureCount", loc, 0, u64::from(u32::MAX));
        let tolerated_failure_percentage =
            match self.jsonata_or_literal(obj, "ToleratedFailurePercentage", loc) {
                None => None,
                Some(Ok(expression)) => Some(NumberSource::Jsonata(expression)),
                Some(Err(_)) => self
                    .number(obj, "ToleratedFailurePercentage", loc, 0.0, 100.0)
                    .map(NumberSource::Literal),
            };
        Map {
            item_processor: Box::new(processor.unwrap_or_else(empty_machine)),
            mode,
            execution_type,
            items_path: Path::root(),
            item_selector: None,
            items,
            jsonata_item_selector: self.jsonata_template(obj, "ItemSelector", loc),
            max_concurrency,
            tolerated_failure_count,
            tolerated_failure_percentage,
            item_reader: self.raw_object(obj, "ItemReader", loc),
            item_batcher: self.raw_object(obj, "ItemBatcher", loc),
            result_writer: self.raw_object(obj, "ResultWriter", loc),
            label: self.label(obj, loc),
            result_selector: None,
            result_path: ResultPath::default(),
            retry: self.retriers(obj, loc),
            catch: self.catchers(obj, loc),
            next: self.transition(obj, loc),
        }
    }
}

/// Characters AWS refuses in a Map `Label`: whitespace and control characters (C0, DEL,
/// C1) and ``" # $ % & * , : ; < > ? [ \ ] ^ ` { | } ~``.
pub fn is_invalid_label_char(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            '"' | '#'
                | '$'
                | '%'
                | '&'
                | '*'
                | ','
                | ':'
                | ';'
                | '<'
                | '>'
                | '?'
                | '['
                | '\\'
                | ']'
                | '^'
                | '`'
                | '{'
                | '|'
                | '}'
                | '~'
        )
}

/// A placeholder for a Map whose processor could not be read (the definition is refused
/// anyway, so it is never run).
fn empty_machine() -> StateMachine {
    StateMachine {
        comment: None,
        start_at: String::new(),
        states: crate::model::States::default(),
        timeout_seconds: None,
        version: None,
        query_language: QueryLanguage::JsonPath,
    }
}
