//! Workflow variables in JSONPath states: the `Assign` field and `$name` references.
//!
//! - An `Assign` object maps variable names to values. A key ending in `.$` takes its
//!   value from a path (`$.x`, `$$.x`, `$othervar.y`) or an intrinsic call, however deeply
//!   nested, exactly like a `Parameters` template; every other value is kept as written
//!   (so `"x": "$.a"` assigns the text `$.a`).
//! - All assignments of one state are evaluated against the variables as they were
//!   before that state, and take effect when the state is left: `{"a.$": "$b", "b.$": "$a"}`
//!   swaps.
//! - A Parallel branch or a Map iteration reads the variables of the states around it;
//!   what it assigns stays inside it.
//!
//! In a JSONata state, `Assign` is a JSONata template instead (`"x": "{% $states.input.a %}"`),
//! evaluated by the interpreter with `$states`; the names follow the same rules and the
//! values take effect the same way, so both languages share one set of variables.
//!
//! Names follow AWS's rule (a Unicode identifier of at most 80 characters, `_` allowed);
//! `states` is reserved (`$states` is JSONata's). One state may assign at most
//! [`MAX_ASSIGN_BYTES`] of JSON text.

use serde_json::{Map, Value};

use crate::error::Failure;
use crate::jsonata::template::TemplateProblem;
use crate::jsonata::JsonataTemplate;
use crate::random::Random;
use crate::template::{Scope, Template, TemplateError};

/// The reserved variable name (`$states`).
pub const RESERVED: &str = "states";
/// Longest variable name, in characters.
pub const MAX_NAME_CHARS: usize = 80;
/// Most JSON text one state's `Assign` may produce (AWS: 256 KiB per state, which also
/// bounds each variable).
pub const MAX_ASSIGN_BYTES: usize = 256 * 1024;

/// Where `$name` paths find their values.
pub trait Variables {
    fn variable(&self, name: &str) -> Option<&Value>;
}

/// No variables at all (tests; fields evaluated where none can exist).
pub struct NoVariables;

impl Variables for NoVariables {
    fn variable(&self, _name: &str) -> Option<&Value> {
        None
    }
}

impl Variables for Map<String, Value> {
    fn variable(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

/// Why a variable name is refused, in AWS's terms; `None` when it is valid.
pub fn name_problem(name: &str) -> Option<String> {
    let mut chars = name.chars();
    let valid_start = chars.next().is_some_and(|c| c.is_alphabetic() || c == '_');
    let valid_rest = chars.all(|c| c.is_alphanumeric() || c == '_');
    if name == RESERVED {
        return Some(format!(
            "The variable name '{name}' is reserved and cannot be assigned"
        ));
    }
    if !valid_start || !valid_rest {
        return Some(format!(
            "The variable name '{name}' is invalid: it must start with a letter or '_' \
             and contain only letters, digits and '_'"
        ));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Some(format!(
            "The variable name '{name}' is longer than {MAX_NAME_CHARS} characters"
        ));
    }
    None
}

/// A compiled `Assign` field.
#[derive(Debug, Clone, PartialEq)]
pub struct Assign {
    kind: AssignKind,
    /// Nothing to evaluate and nothing to assign (`"Assign": {}`).
    empty: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum AssignKind {
    /// An object template whose keys (without `.$`) are the variable names.
    JsonPath(Template),
    /// A JSONata template whose keys are the variable names.
    Jsonata(JsonataTemplate),
}

/// Problems with the names of an `Assign` object, located relative to it.
fn name_errors(object: &Map<String, Value>, strip_suffix: bool) -> Vec<TemplateError> {
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for key in object.keys() {
        let name = if strip_suffix {
            key.strip_suffix(".$").unwrap_or(key)
        } else {
            key.as_str()
        };
        let location = crate::diagnostic::pointer("", key);
        if let Some(problem) = name_problem(name) {
            errors.push(TemplateError {
                location,
                message: problem,
            });
        } else if !seen.insert(name) {
            errors.push(TemplateError {
                location,
                message: format!("The variable '{name}' is assigned more than once"),
            });
        }
    }
    errors
}

impl Assign {
    /// Compiles a JSONata state's `Assign` object. Problems with names come first,
    /// then those of its expressions (with their diagnostic codes).
    pub fn compile_jsonata(
        value: &Value,
    ) -> Result<Assign, (Vec<TemplateError>, Vec<TemplateProblem>)> {
        let Some(object) = value.as_object() else {
            return Err((
                vec![TemplateError {
                    location: String::new(),
                    message: "Expected value of type Object".to_string(),
                }],
                Vec::new(),
            ));
        };
        let errors = name_errors(object, false);
        let template = JsonataTemplate::compile(value);
        match (errors.is_empty(), template) {
            (true, Ok(template)) => Ok(Assign {
                kind: AssignKind::Jsonata(template),
                empty: object.is_empty(),
            }),
            (_, Ok(_)) => Err((errors, Vec::new())),
            (_, Err(problems)) => Err((errors, problems)),
        }
    }

    /// The JSONata template of a JSONata state's `Assign`.
    pub fn jsonata(&self) -> Option<&JsonataTemplate> {
        match &self.kind {
            AssignKind::Jsonata(template) => Some(template),
            AssignKind::JsonPath(_) => None,
        }
    }

    /// Nothing to assign (`"Assign": {}`).
    pub fn is_empty(&self) -> bool {
        self.empty
    }

    /// Checks what a JSONata `Assign` produced: an object within the size limit.
    pub fn accept(values: Value) -> Result<Map<String, Value>, Failure> {
        if crate::payload::json_size_exceeds(&values, MAX_ASSIGN_BYTES) {
            return Err(Failure::runtime(format!(
                "The variables assigned by the state exceed the maximum size of \
                 {MAX_ASSIGN_BYTES} bytes"
            )));
        }
        match values {
            Value::Object(values) => Ok(values),
            _ => Err(Failure::runtime("The Assign field did not yield an object")),
        }
    }

    /// Compiles an `Assign` object; problems are located relative to it (`/x.$`).
    pub fn compile(value: &Value) -> Result<Assign, Vec<TemplateError>> {
        let Some(object) = value.as_object() else {
            return Err(vec![TemplateError {
                location: String::new(),
                message: "Expected value of type Object".to_string(),
            }]);
        };
        let mut errors = name_errors(object, true);
        let template = match Template::compile(value) {
            Ok(t) => t,
            Err(mut more) => {
                errors.append(&mut more);
                return Err(errors);
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Assign {
            kind: AssignKind::JsonPath(template),
            empty: object.is_empty(),
        })
    }

    /// Evaluates every assignment of a JSONPath `Assign` against `scope` (whose `$` is
    /// the state's result, input or error output, as the state type says) and the
    /// variables before the state. Too much text is `States.Runtime`. A JSONata
    /// `Assign` is evaluated by the interpreter (it needs `$states`).
    pub fn evaluate(
        &self,
        scope: Scope<'_>,
        random: &mut dyn Random,
    ) -> Result<Map<String, Value>, Failure> {
        if self.empty {
            return Ok(Map::new());
        }
        let AssignKind::JsonPath(template) = &self.kind else {
            return Err(Failure::runtime(
                "A JSONata Assign must be evaluated with $states",
            ));
        };
        let values = template.evaluate(scope, random, "Assign")?;
        Self::accept(values)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::random::SplitMix64;
    use serde_json::json;

    fn run(assign: Value, input: Value, variables: &Map<String, Value>) -> Result<Value, Failure> {
        let assign = Assign::compile(&assign).unwrap();
        let context = json!({"Execution": {"Id": "arn:x"}});
        let scope = Scope {
            input: &input,
            context: &context,
            variables,
        };
        assign
            .evaluate(scope, &mut SplitMix64::new(1))
            .map(Value::Object)
    }

    #[test]
    fn names_follow_identifier_rules() {
        for ok in ["x", "_x", "x1", "ünïcode", "a_b_C"] {
            assert_eq!(name_problem(ok), None, "{ok}");
        }
        for bad in ["", "1x", "a-b", "a.b", "a b", "$a", "states"] {
            assert!(name_problem(bad).is_some(), "{bad}");
        }
        assert!(name_problem(&"a".repeat(80)).is_none());
        assert!(name_problem(&"a".repeat(81)).is_some());
    }

    #[test]
    fn literals_paths_variables_context_and_intrinsics() {
        let mut vars = Map::new();
        vars.insert("old".into(), json!({"deep": [1, 2]}));
        let out = run(
            json!({
                "lit": "$.not.a.path",
                "num": 1.5,
                "fromInput.$": "$.a",
                "fromVar.$": "$old.deep[1]",
                "fromContext.$": "$$.Execution.Id",
                "call.$": "States.Format('{}-{}', $.a, $old.deep[0])",
                "nested": {"inner.$": "$.a", "kept": "$old"}
            }),
            json!({"a": "A"}),
            &vars,
        )
        .unwrap();
        assert_eq!(
            out,
            json!({
                "lit": "$.not.a.path",
                "num": 1.5,
                "fromInput": "A",
                "fromVar": 2,
                "fromContext": "arn:x",
                "call": "A-1",
                "nested": {"inner": "A", "kept": "$old"}
            })
        );
    }

    #[test]
    fn a_missing_variable_is_a_runtime_error() {
        let failure = run(json!({"x.$": "$nope"}), json!({}), &Map::new()).unwrap_err();
        assert_eq!(failure.error, "States.Runtime");
        assert!(failure.cause.unwrap().contains("'$nope'"));
    }

    #[test]
    fn compile_rejects_bad_and_duplicate_names() {
        let errors =
            Assign::compile(&json!({"states": 1, "ok": 1, "ok.$": "$.a", "1x": 2})).unwrap_err();
        let messages: Vec<_> = errors.iter().map(|e| e.location.as_str()).collect();
        assert_eq!(messages, ["/states", "/ok.$", "/1x"]);
        assert!(Assign::compile(&json!([1])).is_err());
        assert!(Assign::compile(&json!({"x.$": "$.a[?("})).is_err());
    }

    #[test]
    fn the_size_limit_counts_the_whole_assignment() {
        let big = "x".repeat(MAX_ASSIGN_BYTES / 2);
        let ok = run(json!({"a": big}), json!({}), &Map::new());
        assert!(ok.is_ok());
        let failure = run(json!({"a": big, "b": big}), json!({}), &Map::new()).unwrap_err();
        assert_eq!(failure.error, "States.Runtime");
    }
}
