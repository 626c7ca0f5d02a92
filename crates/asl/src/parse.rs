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
//! Only JSONPath definitions are accepted today: `QueryLanguage: JSONata`, the
//! JSONata-only fields and `{% … %}` expressions get a "not supported yet" diagnostic.
//! `Assign` (workflow variables) is accepted on the states, Choice rules and catchers
//! that AWS allows it on.

use serde_json::{Map as JsonMap, Value};

use crate::choice::Rule;
use crate::diagnostic::{index, pointer, Diagnostic, Severity};
use crate::model::{
    Catcher, ChildExecutionType, Choice, ChoiceBranch, Fail, Jitter, Map, NumberSource, Parallel,
    Pass, ProcessorMode, QueryLanguage, ResultPath, Retrier, State, StateKind, StateMachine, Task,
    TextSource, Transition, Wait, WaitFor,
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
const MAX_LABEL_CHARS: usize = 40;

/// Fields only the JSONata query language has. In a JSONPath state AWS refuses them.
const JSONATA_ONLY_FIELDS: &[&str] = &["Arguments", "Output", "Items", "Condition"];

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
    /// The state being read is JSONata (its own or the machine's `QueryLanguage`). Its
    /// JSONata fields and expressions are then covered by the one "not supported yet"
    /// diagnostic instead of being reported one by one as JSONPath mistakes.
    jsonata_state: bool,
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

fn is_jsonata_expression(text: &str) -> bool {
    let t = text.trim();
    t.starts_with("{%") && t.ends_with("%}") && t.len() >= 4
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
                continue;
            }
            if JSONATA_ONLY_FIELDS.contains(&key.as_str()) {
                if self.jsonata_state {
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

    // ---- JSONata and variables: not supported yet -------------------------------------

    fn query_language(&mut self, obj: &Obj, loc: &str) -> QueryLanguage {
        let Some(value) = obj.get("QueryLanguage") else {
            return QueryLanguage::JsonPath;
        };
        let here = at(loc, "QueryLanguage");
        match value.as_str() {
            Some("JSONPath") => QueryLanguage::JsonPath,
            Some("JSONata") => {
                self.err(
                    &here,
                    "QueryLanguage 'JSONata' is not supported yet: JSONata is not supported \
                     yet by Cairn; use JSONPath",
                );
                QueryLanguage::JsonAta
            }
            Some(other) => {
                self.err(
                    &here,
                    format!("QueryLanguage must be one of [JSONPath, JSONata], got '{other}'"),
                );
                QueryLanguage::JsonPath
            }
            None => {
                self.wrong_type(&here, "String", value);
                QueryLanguage::JsonPath
            }
        }
    }

    /// `Assign`: an object of variable names (see [`crate::variables`]).
    fn assign(&mut self, obj: &Obj, loc: &str) -> Option<Assign> {
        let value = obj.get("Assign")?;
        let here = at(loc, "Assign");
        if !value.is_object() {
            self.wrong_type(&here, "Object", value);
            return None;
        }
        match Assign::compile(value) {
            Ok(assign) => Some(assign),
            Err(errors) => {
                self.template_errors(&here, errors);
                None
            }
        }
    }

    /// Reports `{% … %}` strings: JSONata expressions, which Cairn does not run yet.
    /// Nested state lists are skipped (their states are scanned on their own).
    fn scan_jsonata(&mut self, value: &Value, loc: &str, depth: usize, budget: &mut usize) {
        if depth > 256 || *budget == 0 {
            return;
        }
        match value {
            Value::String(s) if is_jsonata_expression(s) => {
                *budget -= 1;
                self.err(
                    loc,
                    "JSONata expressions ({% … %}) are not supported yet by Cairn; this \
                     definition uses the JSONPath query language",
                );
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.scan_jsonata(item, &index(loc, i), depth + 1, budget);
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    if depth == 0
                        && matches!(
                            k.as_str(),
                            "Branches" | "ItemProcessor" | "Iterator" | "Timestamp"
                        )
                    {
                        continue;
                    }
                    self.scan_jsonata(v, &at(loc, k), depth + 1, budget);
                }
            }
            _ => {}
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
            self.query_language(obj, loc)
        } else {
            QueryLanguage::JsonPath
        };
        if query_language == QueryLanguage::JsonAta {
            self.jsonata_machine = true;
        }
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
        let saved = self.jsonata_state;
        let state_language = self.query_language(obj, loc);
        self.jsonata_state = self.jsonata_machine || state_language == QueryLanguage::JsonAta;
        let state = self.state_body(obj, raw, loc, ty, own, depth);
        self.jsonata_state = saved;
        state
    }

    fn state_body(
        &mut self,
        obj: &Obj,
        raw: &Value,
        loc: &str,
        ty: &str,
        own: &[&str],
        depth: usize,
    ) -> Option<State> {
        self.check_fields(obj, loc, &[COMMON_FIELDS, own]);
        // AWS allows Assign on every type that can continue to another state.
        let assign = if matches!(ty, "Succeed" | "Fail") {
            if obj.contains_key("Assign") {
                self.err(loc, "Field 'Assign' is not supported");
            }
            None
        } else if self.jsonata_state {
            None
        } else {
            self.assign(obj, loc)
        };
        if !self.jsonata_state {
            let mut budget = 16;
            self.scan_jsonata(raw, loc, 0, &mut budget);
        }

        let comment = self.comment(obj, loc);
        let (input_path, output_path) = if own.contains(&"InputPath") {
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
            input_path,
            output_path,
            assign,
            kind,
        })
    }

    fn pass(&mut self, obj: &Obj, loc: &str) -> Pass {
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
        let timeout_seconds = self.count_or_path(obj, "TimeoutSeconds", loc, 1, MAX_SECONDS);
        let heartbeat_seconds = self.count_or_path(obj, "HeartbeatSeconds", loc, 1, MAX_SECONDS);
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
        Task {
            resource,
            parameters: self.template(obj, "Parameters", loc),
            result_selector: self.template(obj, "ResultSelector", loc),
            result_path: self.result_path(obj, loc),
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
            self.check_fields(c, &cloc, &[CATCHER_FIELDS]);
            let assign = if self.jsonata_state {
                None
            } else {
                self.assign(c, &cloc)
            };
            self.require(c, &cloc, &["ErrorEquals", "Next"]);
            self.comment(c, &cloc);
            let error_equals = self.error_equals(c, &cloc, i + 1 == list.len());
            let next = self
                .string(c, "Next", &cloc)
                .unwrap_or_default()
                .to_string();
            let result_path = self.result_path(c, &cloc);
            out.push(Catcher {
                error_equals,
                next,
                result_path,
                assign,
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
                let mut usable = !self.jsonata_state;
                if rule_obj.contains_key("Condition") && !self.jsonata_state {
                    self.err(
                        &rloc,
                        "The QueryLanguage is set to 'JSONPath', but field 'Condition' is only \
                         supported for the 'JSONata' QueryLanguage",
                    );
                    usable = false;
                }
                if rule_obj.contains_key("Output") && !self.jsonata_state {
                    self.err(
                        &rloc,
                        "The QueryLanguage is set to 'JSONPath', but field 'Output' is only \
                         supported for the 'JSONata' QueryLanguage",
                    );
                    usable = false;
                }
                let assign = if self.jsonata_state {
                    None
                } else {
                    self.assign(rule_obj, &rloc)
                };
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
                    choices.push(ChoiceBranch { rule, next, assign });
                }
            }
        }
        Choice { choices, default }
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
        Some(Parallel {
            branches,
            parameters: self.template(obj, "Parameters", loc),
            result_selector: self.template(obj, "ResultSelector", loc),
            result_path: self.result_path(obj, loc),
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
