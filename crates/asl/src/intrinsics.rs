//! The 18 intrinsic functions (`States.Format`, `States.Array`, … `States.UUID`): parsing
//! a call expression and evaluating it with AWS's exact edge cases.
//!
//! Syntax: `States.Name(arg, …)` where an argument is a string literal in single quotes
//! (`\'`, `\{`, `\}` and `\\` are its escapes), a number (`1`, `-2.5`), `true`, `false`,
//! `null`, a path (`$`, `$.a.b`, `$$.Execution.Id`) or another call.
//!
//! Behaviour pinned by AWS's recorded results:
//! - `States.Format` renders `null` as `null`, numbers as written and objects Java-map
//!   style (`{Arg1=1, Arg2=[]}`);
//! - `States.StringSplit` splits on any character of the delimiter and drops empty tokens;
//! - `States.MathAdd` rounds each argument half-up (Java `Math.round`);
//! - `States.StringToJson` of a blank string is `null`;
//! - `States.JsonToString` writes compact JSON.

use std::borrow::Cow;
use std::collections::HashSet;

use base64::Engine as _;
use serde_json::{Map, Number, Value};

use crate::error::Failure;
use crate::jsonata::type_name;
use crate::path::Path;
use crate::random::{Random, SplitMix64};
use crate::template::Scope;

/// Deepest nesting of calls inside calls that a call may have.
pub const MAX_NESTING: usize = 32;

/// Most items `States.ArrayRange` may produce.
pub const ARRAY_RANGE_LIMIT: usize = 1000;

/// Longest string (in characters) `States.Base64Encode`, `States.Base64Decode` and
/// `States.Hash` accept.
pub const MAX_STRING_CHARS: usize = 10_000;

/// Why a call text is not a valid intrinsic call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct IntrinsicError {
    pub message: String,
}

impl IntrinsicError {
    fn new(message: impl Into<String>) -> Self {
        IntrinsicError {
            message: message.into(),
        }
    }
}

/// The intrinsic functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    Format,
    StringToJson,
    JsonToString,
    Array,
    ArrayPartition,
    ArrayContains,
    ArrayRange,
    ArrayGetItem,
    ArrayLength,
    ArrayUnique,
    Base64Encode,
    Base64Decode,
    Hash,
    JsonMerge,
    MathRandom,
    MathAdd,
    StringSplit,
    Uuid,
}

impl Function {
    /// Every function, in the order of AWS's documentation.
    pub const ALL: [Function; 18] = [
        Function::Format,
        Function::StringToJson,
        Function::JsonToString,
        Function::Array,
        Function::ArrayPartition,
        Function::ArrayContains,
        Function::ArrayRange,
        Function::ArrayGetItem,
        Function::ArrayLength,
        Function::ArrayUnique,
        Function::Base64Encode,
        Function::Base64Decode,
        Function::Hash,
        Function::JsonMerge,
        Function::MathRandom,
        Function::MathAdd,
        Function::StringSplit,
        Function::Uuid,
    ];

    /// The name as written in a definition: `States.Format`.
    pub fn name(self) -> &'static str {
        match self {
            Function::Format => "States.Format",
            Function::StringToJson => "States.StringToJson",
            Function::JsonToString => "States.JsonToString",
            Function::Array => "States.Array",
            Function::ArrayPartition => "States.ArrayPartition",
            Function::ArrayContains => "States.ArrayContains",
            Function::ArrayRange => "States.ArrayRange",
            Function::ArrayGetItem => "States.ArrayGetItem",
            Function::ArrayLength => "States.ArrayLength",
            Function::ArrayUnique => "States.ArrayUnique",
            Function::Base64Encode => "States.Base64Encode",
            Function::Base64Decode => "States.Base64Decode",
            Function::Hash => "States.Hash",
            Function::JsonMerge => "States.JsonMerge",
            Function::MathRandom => "States.MathRandom",
            Function::MathAdd => "States.MathAdd",
            Function::StringSplit => "States.StringSplit",
            Function::Uuid => "States.UUID",
        }
    }

    /// Looks a function up by its full name (`States.Format`).
    pub fn from_name(name: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|f| f.name() == name)
    }

    /// How many arguments the function takes: `(min, max)`, `max` `None` for any.
    fn arity(self) -> (usize, Option<usize>) {
        match self {
            Function::Format => (1, None),
            Function::Array => (0, None),
            Function::Uuid => (0, Some(0)),
            Function::StringToJson
            | Function::JsonToString
            | Function::ArrayLength
            | Function::ArrayUnique
            | Function::Base64Encode
            | Function::Base64Decode => (1, Some(1)),
            Function::ArrayPartition
            | Function::ArrayContains
            | Function::ArrayGetItem
            | Function::Hash
            | Function::MathAdd
            | Function::StringSplit => (2, Some(2)),
            Function::ArrayRange | Function::JsonMerge => (3, Some(3)),
            Function::MathRandom => (2, Some(3)),
        }
    }
}

/// A parsed call, e.g. `States.Format('{}', $.name)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    function: Function,
    args: Vec<Arg>,
}

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    /// A number, `true`, `false` or `null`.
    Literal(Value),
    /// A quoted string: its value, and for `States.Format` which braces were escaped.
    Str(StringLiteral),
    Path(Path),
    Call(Box<Call>),
}

#[derive(Debug, Clone, PartialEq)]
struct StringLiteral {
    value: Value,
    /// One flag per char of the value: true where the char came from `\{` or `\}`.
    escaped_braces: Vec<bool>,
}

impl Call {
    /// Parses an intrinsic call expression.
    pub fn parse(text: &str) -> Result<Call, IntrinsicError> {
        let mut parser = CallParser { text, pos: 0 };
        parser.skip_ws();
        let call = parser.call(0)?;
        parser.skip_ws();
        if parser.pos < text.len() {
            return Err(parser.error("unexpected text after the call"));
        }
        Ok(call)
    }

    /// The function called.
    pub fn function(&self) -> Function {
        self.function
    }

    /// The paths this call (and the calls nested in it) read.
    pub fn paths(&self) -> Vec<&Path> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(call) = stack.pop() {
            for arg in &call.args {
                match arg {
                    Arg::Path(p) => out.push(p),
                    Arg::Call(c) => stack.push(c),
                    _ => {}
                }
            }
        }
        out
    }

    /// Evaluates the call. Failures are `States.IntrinsicFailure` (bad arguments) or
    /// `States.Runtime` (a path argument that matches nothing), with AWS's causes.
    pub fn evaluate(&self, scope: Scope<'_>, random: &mut dyn Random) -> Result<Value, Failure> {
        self.evaluate_in_field(scope, random, "Parameters")
    }

    /// Like [`Call::evaluate`]; `field` names the field holding the call (`key.$`,
    /// `ErrorPath`, …) in the cause of a path argument that matches nothing.
    pub fn evaluate_in_field(
        &self,
        scope: Scope<'_>,
        random: &mut dyn Random,
        field: &str,
    ) -> Result<Value, Failure> {
        self.eval(scope, random, field).map(Cow::into_owned)
    }

    fn eval<'a>(
        &'a self,
        scope: Scope<'a>,
        random: &mut dyn Random,
        field: &str,
    ) -> Result<Cow<'a, Value>, Failure> {
        let name = self.function.name();
        let (min, max) = self.function.arity();
        let count = self.args.len();
        if count < min || max.is_some_and(|m| count > m) {
            let expected = match max {
                Some(m) if m == min => format!("{min}"),
                Some(m) => format!("{min} to {m}"),
                None => format!("at least {min}"),
            };
            return Err(Failure::intrinsic(format!(
                "Invalid number of arguments for {name}: expected {expected}, but received {count}"
            )));
        }
        let mut args: Vec<Cow<'a, Value>> = Vec::with_capacity(count);
        for arg in &self.args {
            args.push(match arg {
                Arg::Literal(v) => Cow::Borrowed(v),
                Arg::Str(s) => Cow::Borrowed(&s.value),
                Arg::Path(path) => match scope.select(path) {
                    Some(v) => v,
                    None => {
                        return Err(Failure::runtime(format!(
                            "The JSONPath '{}' specified for the field '{field}' could not \
                                 be found in the input '{}'",
                            path.source(),
                            compact(scope.input)
                        )))
                    }
                },
                Arg::Call(call) => call.eval(scope, random, field)?,
            });
        }
        let result = match self.function {
            Function::Format => {
                let template = self.args.first().and_then(|a| match a {
                    Arg::Str(s) => Some(s),
                    _ => None,
                });
                return format(template, &args).map(|s| Cow::Owned(Value::String(s)));
            }
            Function::Array => Value::Array(args.into_iter().map(Cow::into_owned).collect()),
            Function::StringToJson => string_to_json(&args[..])?,
            Function::JsonToString => Value::String(compact(arg(&args, 0))),
            Function::ArrayPartition => array_partition(&args)?,
            Function::ArrayContains => {
                let array = expect_array(name, arg(&args, 0))?;
                let needle = arg(&args, 1);
                Value::Bool(array.iter().any(|v| crate::path::json_eq(v, needle)))
            }
            Function::ArrayRange => array_range(&args)?,
            Function::ArrayGetItem => {
                let array = expect_array(name, arg(&args, 0))?;
                let index = expect_integer(name, "index", arg(&args, 1))?;
                let item = usize::try_from(index).ok().and_then(|i| array.get(i));
                match item {
                    Some(v) => v.clone(),
                    None => {
                        return Err(Failure::intrinsic(format!(
                            "The index {index} provided to {name} is out of bounds for an array \
                             of length {}",
                            array.len()
                        )))
                    }
                }
            }
            Function::ArrayLength => Value::from(expect_array(name, arg(&args, 0))?.len() as u64),
            Function::ArrayUnique => array_unique(expect_array(name, arg(&args, 0))?),
            Function::Base64Encode => {
                let text = expect_limited_string(name, arg(&args, 0))?;
                Value::String(base64::engine::general_purpose::STANDARD.encode(text.as_bytes()))
            }
            Function::Base64Decode => {
                let text = expect_limited_string(name, arg(&args, 0))?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text.as_bytes())
                    .map_err(|_| {
                        Failure::intrinsic(format!(
                            "The argument provided to {name} is not a valid Base64 string: \
                             '{text}'"
                        ))
                    })?;
                Value::String(String::from_utf8_lossy(&bytes).into_owned())
            }
            Function::Hash => hash(&args)?,
            Function::JsonMerge => json_merge(&args)?,
            Function::MathRandom => math_random(&args, random)?,
            Function::MathAdd => {
                let a = rounded(name, arg(&args, 0))?;
                let b = rounded(name, arg(&args, 1))?;
                let sum = a.checked_add(b).ok_or_else(|| {
                    Failure::intrinsic(format!("The result of {name} is out of range"))
                })?;
                Value::from(sum)
            }
            Function::StringSplit => {
                let text = expect_string(name, "string", arg(&args, 0))?;
                let delimiters = expect_string(name, "delimiter", arg(&args, 1))?;
                Value::Array(
                    text.split(|c: char| delimiters.contains(c))
                        .filter(|t| !t.is_empty())
                        .map(|t| Value::String(t.to_string()))
                        .collect(),
                )
            }
            Function::Uuid => Value::String(uuid_v4(random)),
        };
        Ok(Cow::Owned(result))
    }
}

/// Whether a string looks like an intrinsic call (starts with `States.` and has `(`).
pub fn looks_like_call(text: &str) -> bool {
    text.starts_with("States.") && text.contains('(')
}

// ---------------------------------------------------------------------------------------
// Function bodies
// ---------------------------------------------------------------------------------------

static NULL: Value = Value::Null;

/// The `i`th evaluated argument (arity was checked first; `null` keeps this total).
fn arg<'v>(args: &'v [Cow<'_, Value>], i: usize) -> &'v Value {
    args.get(i).map_or(&NULL, |v| v.as_ref())
}

/// Compact JSON text, as AWS prints values.
pub(crate) fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn expect_array<'v>(name: &str, value: &'v Value) -> Result<&'v Vec<Value>, Failure> {
    value.as_array().ok_or_else(|| {
        Failure::intrinsic(format!(
            "{name} expects a JSON array as its first argument, but received the {} {}",
            type_name(value),
            compact(value)
        ))
    })
}

fn expect_string<'v>(name: &str, what: &str, value: &'v Value) -> Result<&'v str, Failure> {
    value.as_str().ok_or_else(|| {
        Failure::intrinsic(format!(
            "{name} expects a string as its {what} argument, but received the {} {}",
            type_name(value),
            compact(value)
        ))
    })
}

fn expect_limited_string<'v>(name: &str, value: &'v Value) -> Result<&'v str, Failure> {
    let text = expect_string(name, "input", value)?;
    if text.chars().count() > MAX_STRING_CHARS {
        return Err(Failure::intrinsic(format!(
            "The input provided to {name} exceeds the limit of {MAX_STRING_CHARS} characters"
        )));
    }
    Ok(text)
}

/// An integer argument: an integral number (`2` or `2.0`).
fn expect_integer(name: &str, what: &str, value: &Value) -> Result<i64, Failure> {
    let bad = || {
        Failure::intrinsic(format!(
            "{name} expects an integer as its {what} argument, but received {}",
            compact(value)
        ))
    };
    let Value::Number(n) = value else {
        return Err(bad());
    };
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
        _ => Err(bad()),
    }
}

/// A number rounded half-up, as Java's `Math.round` does (`-1.5` → `-1`, `2.5` → `3`).
fn rounded(name: &str, value: &Value) -> Result<i64, Failure> {
    let bad = || {
        Failure::intrinsic(format!(
            "{name} expects numbers as arguments, but received {}",
            compact(value)
        ))
    };
    let Value::Number(n) = value else {
        return Err(bad());
    };
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    let f = n.as_f64().ok_or_else(bad)?;
    let floor = f.floor();
    let r = if f - floor >= 0.5 { floor + 1.0 } else { floor };
    if !r.is_finite() || r.abs() >= 9.2e18 {
        return Err(bad());
    }
    Ok(r as i64)
}

fn format(template: Option<&StringLiteral>, args: &[Cow<'_, Value>]) -> Result<String, Failure> {
    let name = Function::Format.name();
    let first = arg(args, 0);
    let text = expect_string(name, "first", first)?;
    let flags = template.map(|t| &t.escaped_braces);
    let values = args.get(1..).unwrap_or(&[]);
    let mut out = String::with_capacity(text.len());
    let mut used = 0usize;
    let chars: Vec<char> = text.chars().collect();
    let escaped = |i: usize| flags.and_then(|f| f.get(i)).copied().unwrap_or(false);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '{' && !escaped(i) && chars.get(i + 1) == Some(&'}') && !escaped(i + 1) {
            match values.get(used) {
                Some(v) => render_java(v, &mut out, 0),
                None => {
                    return Err(Failure::intrinsic(format!(
                        "The number of arguments provided to {name} does not match the number \
                         of placeholders in the format string '{text}'"
                    )))
                }
            }
            used += 1;
            i += 2;
            continue;
        }
        out.push(c);
        i += 1;
    }
    if used != values.len() {
        return Err(Failure::intrinsic(format!(
            "The number of arguments provided to {name} does not match the number of \
             placeholders in the format string '{text}'"
        )));
    }
    Ok(out)
}

/// How `States.Format` prints a value: strings bare, containers as Java's `toString`
/// (`{a=1, b=[x, y]}`), everything else as JSON.
fn render_java(value: &Value, out: &mut String, depth: usize) {
    if depth > 256 {
        out.push_str(&compact(value));
        return;
    }
    match value {
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render_java(item, out, depth + 1);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(key);
                out.push('=');
                render_java(item, out, depth + 1);
            }
            out.push('}');
        }
        other => out.push_str(&compact(other)),
    }
}

fn string_to_json(args: &[Cow<'_, Value>]) -> Result<Value, Failure> {
    let name = Function::StringToJson.name();
    let text = expect_string(name, "first", arg(args, 0))?;
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    let mut value: Value = serde_json::from_str(text).map_err(|_| {
        Failure::intrinsic(format!(
            "The argument provided to {name} is not a valid JSON string: '{text}'"
        ))
    })?;
    // serde_json reads the integer `-0` as the float `-0.0`; AWS (Jackson) reads it as the
    // integer 0. Only a text without a negative-zero float can have meant the integer.
    if !(text.contains("-0.") || text.contains("-0e") || text.contains("-0E")) {
        integer_zeros(&mut value);
    }
    Ok(value)
}

/// Turns every `-0.0` in `value` into the integer `0` (iteratively).
fn integer_zeros(value: &mut Value) {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Number(n) if n.as_f64().is_some_and(|f| f == 0.0 && f.is_sign_negative()) => {
                *v = Value::from(0)
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            Value::Object(map) => stack.extend(map.values_mut()),
            _ => {}
        }
    }
}

fn array_partition(args: &[Cow<'_, Value>]) -> Result<Value, Failure> {
    let name = Function::ArrayPartition.name();
    let array = expect_array(name, arg(args, 0))?;
    let size = expect_integer(name, "chunk size", arg(args, 1))?;
    let size = usize::try_from(size)
        .ok()
        .filter(|s| *s > 0)
        .ok_or_else(|| {
            Failure::intrinsic(format!(
                "{name} expects a positive, non-zero chunk size, but received {size}"
            ))
        })?;
    Ok(Value::Array(
        array
            .chunks(size)
            .map(|chunk| Value::Array(chunk.to_vec()))
            .collect(),
    ))
}

fn array_range(args: &[Cow<'_, Value>]) -> Result<Value, Failure> {
    let name = Function::ArrayRange.name();
    let start = expect_integer(name, "start", arg(args, 0))?;
    let end = expect_integer(name, "end", arg(args, 1))?;
    let step = expect_integer(name, "step", arg(args, 2))?;
    if step == 0 {
        return Err(Failure::intrinsic(format!(
            "{name} expects a non-zero step, but received 0"
        )));
    }
    let (start, end, step) = (i128::from(start), i128::from(end), i128::from(step));
    let count = if (step > 0 && end < start) || (step < 0 && end > start) {
        0
    } else {
        (end - start) / step + 1
    };
    if count > ARRAY_RANGE_LIMIT as i128 {
        return Err(Failure::intrinsic(format!(
            "The array generated by {name} would contain {count} items, more than the limit \
             of {ARRAY_RANGE_LIMIT}"
        )));
    }
    let items = (0..count)
        .map(|i| start + i * step)
        .filter_map(|v| i64::try_from(v).ok())
        .map(Value::from)
        .collect();
    Ok(Value::Array(items))
}

/// A text that is equal for values `json_eq` finds equal (numbers by value, objects in
/// any key order), so `States.ArrayUnique` needs no quadratic scan.
fn canonical(value: &Value, out: &mut String, depth: usize) {
    if depth > 256 {
        out.push_str(&compact(value));
        return;
    }
    match value {
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&format!("n{i}")),
            (_, Some(u), _) => out.push_str(&format!("n{u}")),
            (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                out.push_str(&format!("n{}", f as i64))
            }
            (_, _, Some(f)) => out.push_str(&format!("n{f:e}")),
            _ => out.push_str(&n.to_string()),
        },
        Value::Array(items) => {
            out.push('[');
            for item in items {
                canonical(item, out, depth + 1);
                out.push(',');
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for key in keys {
                out.push_str(&compact(&Value::String(key.clone())));
                out.push(':');
                if let Some(v) = map.get(key) {
                    canonical(v, out, depth + 1);
                }
                out.push(',');
            }
            out.push('}');
        }
        other => out.push_str(&compact(other)),
    }
}

fn array_unique(array: &[Value]) -> Value {
    let mut seen = HashSet::with_capacity(array.len());
    let mut out = Vec::with_capacity(array.len());
    for item in array {
        let mut key = String::new();
        canonical(item, &mut key, 0);
        if seen.insert(key) {
            out.push(item.clone());
        }
    }
    Value::Array(out)
}

fn hash(args: &[Cow<'_, Value>]) -> Result<Value, Failure> {
    let name = Function::Hash.name();
    let data = expect_limited_string(name, arg(args, 0))?;
    let algorithm = expect_string(name, "algorithm", arg(args, 1))?;
    match hex_digest(data, algorithm) {
        Some(hex) => Ok(Value::String(hex)),
        None => Err(Failure::intrinsic(format!(
            "{name} does not support the algorithm '{algorithm}'; use one of MD5, SHA-1, \
             SHA-256, SHA-384, SHA-512"
        ))),
    }
}

/// The lower-case hex digest of `data` with one of the algorithms `States.Hash` and
/// JSONata's `$hash` accept (`MD5`, `SHA-1`, `SHA-256`, `SHA-384`, `SHA-512`); `None`
/// for any other algorithm.
pub(crate) fn hex_digest(data: &str, algorithm: &str) -> Option<String> {
    use md5::Digest as _;
    let bytes = data.as_bytes();
    let digest: Vec<u8> = match algorithm {
        "MD5" => md5::Md5::digest(bytes).to_vec(),
        "SHA-1" => sha1::Sha1::digest(bytes).to_vec(),
        "SHA-256" => sha2::Sha256::digest(bytes).to_vec(),
        "SHA-384" => sha2::Sha384::digest(bytes).to_vec(),
        "SHA-512" => sha2::Sha512::digest(bytes).to_vec(),
        _ => return None,
    };
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest {
        hex.push_str(&format!("{byte:02x}"));
    }
    Some(hex)
}

fn json_merge(args: &[Cow<'_, Value>]) -> Result<Value, Failure> {
    let name = Function::JsonMerge.name();
    let objects = [arg(args, 0), arg(args, 1)];
    let mut merged = Map::new();
    for (i, value) in objects.into_iter().enumerate() {
        let Some(object) = value.as_object() else {
            return Err(Failure::intrinsic(format!(
                "{name} expects JSON objects as its {} argument, but received the {} {}",
                if i == 0 { "first" } else { "second" },
                type_name(value),
                compact(value)
            )));
        };
        for (k, v) in object {
            merged.insert(k.clone(), v.clone());
        }
    }
    match arg(args, 2) {
        Value::Bool(false) => Ok(Value::Object(merged)),
        Value::Bool(true) => Err(Failure::intrinsic(format!(
            "{name} supports only shallow merging: its third argument must be false"
        ))),
        other => Err(Failure::intrinsic(format!(
            "{name} expects a boolean as its third argument, but received {}",
            compact(other)
        ))),
    }
}

/// `States.MathRandom(start, end[, seed])`: an integer in `[start, end]`, arguments
/// rounded half-up. With a seed, the same seed always gives the same number.
fn math_random(args: &[Cow<'_, Value>], random: &mut dyn Random) -> Result<Value, Failure> {
    let name = Function::MathRandom.name();
    let start = rounded(name, arg(args, 0))?;
    let end = rounded(name, arg(args, 1))?;
    if end < start {
        return Err(Failure::intrinsic(format!(
            "{name} expects its start ({start}) not to exceed its end ({end})"
        )));
    }
    let draw = match args.get(2) {
        Some(seed) => {
            let seed = rounded(name, seed)?;
            SplitMix64::new(seed as u64).next_u64()
        }
        None => random.next_u64(),
    };
    let span = (i128::from(end) - i128::from(start) + 1) as u128;
    let offset = (u128::from(draw) % span) as i128;
    let value = i64::try_from(i128::from(start) + offset).unwrap_or(start);
    Ok(Value::from(value))
}

/// A version 4 UUID from the supplied entropy.
pub(crate) fn uuid_v4(random: &mut dyn Random) -> String {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&random.next_u64().to_be_bytes());
    bytes[8..].copy_from_slice(&random.next_u64().to_be_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

struct CallParser<'s> {
    text: &'s str,
    pos: usize,
}

impl<'s> CallParser<'s> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn rest(&self) -> &'s str {
        self.text.get(self.pos..).unwrap_or("")
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn error(&self, what: &str) -> IntrinsicError {
        IntrinsicError::new(format!(
            "Invalid intrinsic function call '{}': {what} at position {}",
            self.text, self.pos
        ))
    }

    fn call(&mut self, depth: usize) -> Result<Call, IntrinsicError> {
        if depth >= MAX_NESTING {
            return Err(self.error("calls nested too deeply"));
        }
        let start = self.pos;
        while matches!(self.peek(), Some(b) if b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
        {
            self.pos += 1;
        }
        let name = self.text.get(start..self.pos).unwrap_or("");
        let function = Function::from_name(name).ok_or_else(|| {
            IntrinsicError::new(format!(
                "Invalid intrinsic function call '{}': unknown function '{name}'",
                self.text
            ))
        })?;
        self.skip_ws();
        if self.peek() != Some(b'(') {
            return Err(self.error("expected '('"));
        }
        self.pos += 1;
        let mut args = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b')') {
            self.pos += 1;
            return Ok(Call { function, args });
        }
        loop {
            self.skip_ws();
            args.push(self.arg(depth)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b')') => {
                    self.pos += 1;
                    return Ok(Call { function, args });
                }
                _ => return Err(self.error("expected ',' or ')'")),
            }
        }
    }

    fn arg(&mut self, depth: usize) -> Result<Arg, IntrinsicError> {
        match self.peek() {
            Some(b'\'') => self.string().map(Arg::Str),
            Some(b'$') => self.path().map(Arg::Path),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                self.pos += 1;
                while matches!(
                    self.peek(),
                    Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
                ) {
                    self.pos += 1;
                }
                let text = self.text.get(start..self.pos).unwrap_or("");
                serde_json::from_str::<Number>(text)
                    .map(|n| Arg::Literal(Value::Number(n)))
                    .map_err(|_| self.error(&format!("invalid number '{text}'")))
            }
            _ => {
                for (word, value) in [
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                    ("null", Value::Null),
                ] {
                    let after = self.rest().as_bytes().get(word.len()).copied();
                    if self.rest().starts_with(word)
                        && !after.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
                    {
                        self.pos += word.len();
                        return Ok(Arg::Literal(value));
                    }
                }
                if self.rest().starts_with("States.") {
                    return self.call(depth + 1).map(|c| Arg::Call(Box::new(c)));
                }
                Err(self.error("expected an argument"))
            }
        }
    }

    /// `'…'` with the escapes `\'`, `\{`, `\}` and `\\`.
    fn string(&mut self) -> Result<StringLiteral, IntrinsicError> {
        self.pos += 1;
        let mut value = String::new();
        let mut escaped_braces = Vec::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\'' => {
                    self.pos += i + 1;
                    return Ok(StringLiteral {
                        value: Value::String(value),
                        escaped_braces,
                    });
                }
                '\\' => match chars.next() {
                    Some((_, e @ ('\'' | '\\'))) => {
                        value.push(e);
                        escaped_braces.push(false);
                    }
                    Some((_, e @ ('{' | '}'))) => {
                        value.push(e);
                        escaped_braces.push(true);
                    }
                    Some((j, _)) => {
                        self.pos += j;
                        return Err(self.error("invalid escape sequence in a string literal"));
                    }
                    None => break,
                },
                _ => {
                    value.push(c);
                    escaped_braces.push(false);
                }
            }
        }
        self.pos = self.text.len();
        Err(self.error("unterminated string literal"))
    }

    /// A path argument: up to the `,` or `)` that ends it, brackets and quotes allowed.
    fn path(&mut self) -> Result<Path, IntrinsicError> {
        let start = self.pos;
        let mut brackets = 0usize;
        let mut parens = 0usize;
        let mut quote: Option<char> = None;
        let mut end = self.text.len();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            if let Some(q) = quote {
                if c == '\\' {
                    chars.next();
                } else if c == q {
                    quote = None;
                }
                continue;
            }
            match c {
                '\'' | '"' if brackets > 0 => quote = Some(c),
                '[' => brackets += 1,
                ']' => brackets = brackets.saturating_sub(1),
                '(' => parens += 1,
                ')' if parens > 0 => parens -= 1,
                ',' | ')' if brackets == 0 && parens == 0 => {
                    end = start + i;
                    break;
                }
                _ => {}
            }
        }
        let text = self.text.get(start..end).unwrap_or("").trim_end();
        self.pos = end;
        Path::parse(text).map_err(|e| {
            IntrinsicError::new(format!(
                "Invalid intrinsic function call '{}': {}",
                self.text, e.message
            ))
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::variables::NoVariables;
    use serde_json::json;

    /// Entropy that replays fixed words.
    struct Fixed(Vec<u64>, usize);

    impl Random for Fixed {
        fn next_u64(&mut self) -> u64 {
            let v = self
                .0
                .get(self.1 % self.0.len().max(1))
                .copied()
                .unwrap_or(0);
            self.1 += 1;
            v
        }
    }

    fn eval_with(text: &str, input: &Value, context: &Value) -> Result<Value, Failure> {
        let call = Call::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let scope = Scope {
            input,
            context,
            variables: &NoVariables,
        };
        call.evaluate_in_field(scope, &mut SplitMix64::new(7), "FunctionResult.$")
    }

    fn eval(text: &str, input: Value) -> Result<Value, Failure> {
        eval_with(text, &input, &json!({}))
    }

    fn ok(text: &str, input: Value) -> Value {
        eval(text, input).unwrap_or_else(|f| panic!("{text}: {f}"))
    }

    fn fails(text: &str, input: Value) -> Failure {
        match eval(text, input) {
            Ok(v) => panic!("{text} should fail, gave {v}"),
            Err(f) => f,
        }
    }

    fn pair(f: &str, fst: Value, snd: Value) -> Value {
        ok(
            &format!("{f}($.FunctionInput.fst, $.FunctionInput.snd)"),
            json!({"FunctionInput": {"fst": fst, "snd": snd}}),
        )
    }

    #[test]
    fn parse_accepts_all_argument_kinds() {
        let call = Call::parse(
            "States.Array('a', 1, -2.5, true, false, null, $, $.x[0], $$.Execution.Id, States.UUID())",
        )
        .unwrap();
        assert_eq!(call.function(), Function::Array);
        assert_eq!(call.args.len(), 10);
        assert_eq!(call.paths().len(), 3);
        assert!(Call::parse("  States.Array( 1 ,2 )  ").is_ok());
        assert!(Call::parse("States.Array($['a,b'], $.c[?(@.d == 'x)')])").is_ok());
    }

    #[test]
    fn parse_rejects_malformed_calls() {
        for text in [
            "States.Nope()",
            "States.Format",
            "States.Format('x'",
            "States.Format('x)",
            "States.Format('x' 'y')",
            "States.Format('a\\n')",
            "States.Array(foo)",
            "States.Array(1,)",
            "States.Array($.)",
            "States.Array(truex)",
            "States.Array() x",
            "Format('x')",
            "",
        ] {
            assert!(Call::parse(text).is_err(), "{text:?} should not parse");
        }
        let deep = format!("{}1{}", "States.Array(".repeat(40), ")".repeat(40));
        assert!(Call::parse(&deep).is_err());
        let ok_depth = format!("{}1{}", "States.Array(".repeat(10), ")".repeat(10));
        assert!(Call::parse(&ok_depth).is_ok());
    }

    #[test]
    fn looks_like_call_needs_prefix_and_parenthesis() {
        assert!(looks_like_call("States.UUID()"));
        assert!(!looks_like_call("$.a"));
        assert!(!looks_like_call("States.UUID"));
    }

    #[test]
    fn format_matches_aws() {
        let f = "States.Format('Formatting arguments fst={} and snd={}.', $.FunctionInput.fst, $.FunctionInput.snd)";
        let run =
            |fst: Value, snd: Value| ok(f, json!({"FunctionInput": {"fst": fst, "snd": snd}}));
        assert_eq!(
            run(json!(""), json!("")),
            json!("Formatting arguments fst= and snd=.")
        );
        assert_eq!(
            run(json!(null), json!(null)),
            json!("Formatting arguments fst=null and snd=null.")
        );
        assert_eq!(
            run(json!(1), json!(1.1)),
            json!("Formatting arguments fst=1 and snd=1.1.")
        );
        assert_eq!(
            run(
                json!({"Arg1": 1, "Arg2": []}),
                json!("{\"Arg1\": 1, \"Arg2\": []}")
            ),
            json!(
                "Formatting arguments fst={Arg1=1, Arg2=[]} and snd={\"Arg1\": 1, \"Arg2\": []}."
            )
        );
        assert_eq!(
            run(json!(["a", {"b": null}, [true]]), json!(false)),
            json!("Formatting arguments fst=[a, {b=null}, [true]] and snd=false.")
        );
        // AWS conformance: test_context_json_path renders a context object Java-style.
        let context =
            json!({"Execution": {"Name": "exec"}, "StateMachine": {"Id": "arn:sm", "Name": "sm"}});
        assert_eq!(
            eval_with(
                "States.Format('Formatting arguments fst={} and snd={}.', $$.Execution.Name, $$.StateMachine)",
                &json!({}),
                &context
            ),
            Ok(json!("Formatting arguments fst=exec and snd={Id=arn:sm, Name=sm}."))
        );
    }

    #[test]
    fn format_escapes_and_placeholder_count() {
        assert_eq!(
            ok(r"States.Format('\{} {} \\ \' \}', 1)", json!({})),
            json!("{} 1 \\ ' }")
        );
        assert_eq!(
            ok("States.Format('no placeholders')", json!({})),
            json!("no placeholders")
        );
        assert_eq!(
            ok("States.Format($.t, $.n)", json!({"t": "Hi {}!", "n": "Bo"})),
            json!("Hi Bo!")
        );
        assert_eq!(ok("States.Format('{ }{}', 2)", json!({})), json!("{ }2"));
        let f = fails("States.Format('{} {}', 1)", json!({}));
        assert_eq!(f.error, "States.IntrinsicFailure");
        assert!(fails("States.Format('{}', 1, 2)", json!({})).error == "States.IntrinsicFailure");
        assert!(fails("States.Format(1)", json!({})).error == "States.IntrinsicFailure");
    }

    #[test]
    fn string_to_json_and_back() {
        let s2j = |s: &str| ok("States.StringToJson($.s)", json!({ "s": s }));
        assert_eq!(s2j(""), json!(null));
        assert_eq!(s2j(" "), json!(null));
        assert_eq!(s2j("null"), json!(null));
        assert_eq!(s2j("-0"), json!(0));
        assert_eq!(serde_json::to_string(&s2j("-0")).unwrap(), "0");
        assert_eq!(
            serde_json::to_string(&s2j("[0.0, -0.0]")).unwrap(),
            "[0.0,-0.0]"
        );
        assert_eq!(s2j("1.1"), json!(1.1));
        assert_eq!(s2j("true"), json!(true));
        assert_eq!(s2j("\"HelloWorld\""), json!("HelloWorld"));
        assert_eq!(s2j("[1, 2, \"HelloWorld\"]"), json!([1, 2, "HelloWorld"]));
        assert_eq!(
            s2j("{\"Arg1\": 1, \"Arg2\": []}"),
            json!({"Arg1": 1, "Arg2": []})
        );
        assert_eq!(
            fails("States.StringToJson($.s)", json!({"s": "{nope"})).error,
            "States.IntrinsicFailure"
        );
        let j2s = |v: Value| ok("States.JsonToString($.v)", json!({ "v": v }));
        assert_eq!(j2s(json!(null)), json!("null"));
        assert_eq!(j2s(json!(1.1)), json!("1.1"));
        assert_eq!(j2s(json!("HelloWorld")), json!("\"HelloWorld\""));
        assert_eq!(
            j2s(json!([1, 2, "HelloWorld"])),
            json!("[1,2,\"HelloWorld\"]")
        );
        assert_eq!(
            j2s(json!({"Arg1": 1, "Arg2": []})),
            json!("{\"Arg1\":1,\"Arg2\":[]}")
        );
        // AWS conformance: test_json_merge_escaped_argument.
        assert_eq!(
            ok(
                r#"States.JsonMerge(States.StringToJson('{"constant_in_literal": "false"}'), $.f, false)"#,
                json!({"f": {"constant_input_field": "constant_value"}})
            ),
            json!({"constant_in_literal": "false", "constant_input_field": "constant_value"})
        );
    }

    #[test]
    fn arrays() {
        assert_eq!(ok("States.Array()", json!({})), json!([]));
        assert_eq!(
            pair("States.Array", json!(null), json!(1.1)),
            json!([null, 1.1])
        );
        assert_eq!(
            ok("States.Array('a', 'b', 'c')", json!({})),
            json!(["a", "b", "c"])
        );
        let partition = |a: Value, n: Value| pair("States.ArrayPartition", a, n);
        assert_eq!(partition(json!([]), json!(3)), json!([]));
        assert_eq!(
            partition(json!([0, 1, 2, 3]), json!(3)),
            json!([[0, 1, 2], [3]])
        );
        assert_eq!(
            partition(json!([0, 1, 2]), json!(1)),
            json!([[0], [1], [2]])
        );
        assert_eq!(partition(json!([0, 1]), json!(5)), json!([[0, 1]]));
        for bad in [json!(0), json!(-1), json!(1.5), json!("2")] {
            let f = fails(
                "States.ArrayPartition($.a, $.n)",
                json!({"a": [1], "n": bad}),
            );
            assert_eq!(f.error, "States.IntrinsicFailure");
        }
        let contains = |a: Value, v: Value| pair("States.ArrayContains", a, v);
        assert_eq!(contains(json!([]), json!(null)), json!(false));
        assert_eq!(
            contains(json!([[1, 2, 3], 2]), json!([1, 2, 3])),
            json!(true)
        );
        assert_eq!(
            contains(json!([{"1": 2, "2": []}]), json!({"1": 2, "2": []})),
            json!(true)
        );
        assert_eq!(
            contains(json!([{"1": 2, "2": []}]), json!([])),
            json!(false)
        );
        assert_eq!(contains(json!([true, false]), json!(false)), json!(true));
        assert_eq!(
            ok("States.ArrayContains($.a, 5)", json!({"a": [1, 5.0]})),
            json!(true)
        );
        assert_eq!(
            pair(
                "States.ArrayGetItem",
                json!([1, 2, 3, 4, 5, 6, 7, 8, 9]),
                json!(5)
            ),
            json!(6)
        );
        for idx in [json!(9), json!(-1), json!("0")] {
            let f = fails("States.ArrayGetItem($.a, $.i)", json!({"a": [1], "i": idx}));
            assert_eq!(f.error, "States.IntrinsicFailure");
        }
        assert_eq!(
            ok("States.ArrayLength($.a)", json!({"a": [1, 2, 3]})),
            json!(3)
        );
        assert_eq!(
            fails("States.ArrayLength($.a)", json!({"a": "x"})).error,
            "States.IntrinsicFailure"
        );
        assert_eq!(
            ok(
                "States.ArrayUnique($.a)",
                json!({"a": [null, null, true, true, false, 1, 1.0, 1.1, 0, "x", "x", [], [], [null], [null],
                              {"a": 1, "b": 2}, {"b": 2, "a": 1}, {"a": 1, "b": 1}]})
            ),
            json!([null, true, false, 1, 1.1, 0, "x", [], [null], {"a": 1, "b": 2}, {"a": 1, "b": 1}])
        );
    }

    #[test]
    fn array_range() {
        let range =
            |a: i64, b: i64, c: i64| ok(&format!("States.ArrayRange({a}, {b}, {c})"), json!({}));
        assert_eq!(range(0, 9, 3), json!([0, 3, 6, 9]));
        assert_eq!(range(0, 10, 3), json!([0, 3, 6, 9]));
        assert_eq!(range(1, 9, 9), json!([1]));
        assert_eq!(range(1, 9, 2), json!([1, 3, 5, 7, 9]));
        assert_eq!(range(5, 1, -2), json!([5, 3, 1]));
        assert_eq!(range(5, 1, 1), json!([]));
        assert_eq!(range(1, 1000, 1).as_array().map(Vec::len), Some(1000));
        for text in [
            "States.ArrayRange(1, 1001, 1)",
            "States.ArrayRange(1, 5, 0)",
            "States.ArrayRange(1.5, 5, 1)",
            "States.ArrayRange(1, 5)",
        ] {
            assert_eq!(
                fails(text, json!({})).error,
                "States.IntrinsicFailure",
                "{text}"
            );
        }
        assert_eq!(
            ok("States.ArrayRange(0, 3.0, 1)", json!({})),
            json!([0, 1, 2, 3])
        );
    }

    #[test]
    fn base64_and_hash() {
        let enc = |s: &str| ok("States.Base64Encode($.s)", json!({ "s": s }));
        let dec = |s: &str| ok("States.Base64Decode($.s)", json!({ "s": s }));
        assert_eq!(enc(""), json!(""));
        assert_eq!(enc("Data to encode"), json!("RGF0YSB0byBlbmNvZGU="));
        assert_eq!(dec(""), json!(""));
        assert_eq!(dec("RGF0YSB0byBlbmNvZGU="), json!("Data to encode"));
        assert_eq!(
            fails("States.Base64Decode($.s)", json!({"s": "not base64!"})).error,
            "States.IntrinsicFailure"
        );
        let long = "a".repeat(MAX_STRING_CHARS + 1);
        assert!(eval("States.Base64Encode($.s)", json!({ "s": long })).is_err());
        assert!(eval("States.Base64Encode($.s)", json!({ "s": &long[1..] })).is_ok());
        let h = |alg: &str| pair("States.Hash", json!("input data"), json!(alg));
        assert_eq!(h("MD5"), json!("812f45842bc6d66ee14572ce20db8e86"));
        assert_eq!(
            h("SHA-1"),
            json!("aaff4a450a104cd177d28d18d74485e8cae074b7")
        );
        assert_eq!(
            h("SHA-256"),
            json!("b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3")
        );
        assert_eq!(
            h("SHA-384"),
            json!("d28a7d5cf25a74f11a50a18452b75e04bb3d70c9dd0510d6123aa008c756511b87525bdc835ebb27e1fb9e9374a15562")
        );
        assert_eq!(
            h("SHA-512"),
            json!("6ce4adb348546d4f449c4d25aad9a7c9cb711d9e91982d3f0b29ca2f3f47d4ce2deba23bf2954f0f1d593fc50283731a533d30d425402d4f91316d871303aac4")
        );
        assert_eq!(
            fails("States.Hash('x', 'SHA-3')", json!({})).error,
            "States.IntrinsicFailure"
        );
    }

    #[test]
    fn json_merge_is_shallow_only() {
        assert_eq!(
            pair_merge(
                json!({"a": {"a1": 1, "a2": 2}, "b": 2, "d": 3}),
                json!({"a": {"a3": 1, "a4": 2}, "c": 3, "d": 4})
            ),
            json!({"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3, "d": 4})
        );
        let f = fails(
            "States.JsonMerge($.a, $.b, true)",
            json!({"a": {}, "b": {}}),
        );
        assert_eq!(f.error, "States.IntrinsicFailure");
        let f = fails(
            "States.JsonMerge($.a, $.b, false)",
            json!({"a": {}, "b": [1]}),
        );
        assert_eq!(f.error, "States.IntrinsicFailure");
    }

    fn pair_merge(a: Value, b: Value) -> Value {
        ok("States.JsonMerge($.a, $.b, false)", json!({"a": a, "b": b}))
    }

    #[test]
    fn math_add_rounds_half_up_like_java() {
        let add = |a: Value, b: Value| pair("States.MathAdd", a, b);
        for (a, b, sum) in [
            (json!(-9), json!(3), -6),
            (json!(1.49), json!(1.5), 3),
            (json!(1.5), json!(1.51), 4),
            (json!(-1.49), json!(-1.5), -2),
            (json!(-1.5), json!(-1.51), -3),
            (json!(1.49), json!(-1.49), 0),
            (json!(-1.5), json!(0), -1),
            (json!(-0.5), json!(0.5), 1),
            (json!(-0.5), json!(0), 0),
            (json!(-2.5), json!(0), -2),
            (json!(2.5), json!(0), 3),
            (json!(-3.5), json!(0), -3),
        ] {
            assert_eq!(add(a.clone(), b.clone()), json!(sum), "{a} + {b}");
        }
        assert_eq!(ok("States.MathAdd($.i, -1)", json!({"i": 10})), json!(9));
        assert_eq!(
            fails("States.MathAdd('1', 2)", json!({})).error,
            "States.IntrinsicFailure"
        );
        assert_eq!(
            fails("States.MathAdd(9223372036854775807, 1)", json!({})).error,
            "States.IntrinsicFailure"
        );
    }

    #[test]
    fn math_random_is_in_range_and_seeded_results_repeat() {
        let input = json!({});
        let scope = Scope {
            input: &input,
            context: &input,
            variables: &NoVariables,
        };
        let call = Call::parse("States.MathRandom(12.5, 44.51)").unwrap();
        let mut rng = SplitMix64::new(1);
        for _ in 0..200 {
            let v = call.evaluate(scope, &mut rng).unwrap().as_i64().unwrap();
            assert!((13..=45).contains(&v), "{v}");
        }
        let call = Call::parse("States.MathRandom(-99999, -9999)").unwrap();
        let v = call.evaluate(scope, &mut Fixed(vec![u64::MAX], 0)).unwrap();
        assert!((-99999..=-9999).contains(&v.as_i64().unwrap()));
        let seeded = Call::parse("States.MathRandom(0, 999, 3)").unwrap();
        let a = seeded.evaluate(scope, &mut Fixed(vec![1], 0)).unwrap();
        let b = seeded
            .evaluate(scope, &mut Fixed(vec![u64::MAX / 3], 0))
            .unwrap();
        assert_eq!(a, b);
        let other_seed = Call::parse("States.MathRandom(0, 999, 4)").unwrap();
        let c = other_seed.evaluate(scope, &mut Fixed(vec![1], 0)).unwrap();
        assert_ne!(a, c);
        let unseeded = Call::parse("States.MathRandom(0, 999)").unwrap();
        let x = unseeded.evaluate(scope, &mut Fixed(vec![5], 0)).unwrap();
        let y = unseeded.evaluate(scope, &mut Fixed(vec![6], 0)).unwrap();
        assert_eq!((x, y), (json!(5), json!(6)));
        assert!(Call::parse("States.MathRandom(5, 1)")
            .unwrap()
            .evaluate(scope, &mut rng)
            .is_err());
    }

    #[test]
    fn string_split_uses_every_delimiter_char() {
        let split = |s: &str, d: &str| pair("States.StringSplit", json!(s), json!(d));
        assert_eq!(split(" ", ","), json!([" "]));
        assert_eq!(split(" , ", ","), json!([" ", " "]));
        assert_eq!(split(", , ,", ","), json!([" ", " "]));
        assert_eq!(split(",,,,", ","), json!([]));
        assert_eq!(
            split("This.is+a,test=string", ".+,="),
            json!(["This", "is", "a", "test", "string"])
        );
        assert_eq!(
            split("split on T and \nnew line", "T\n"),
            json!(["split on ", " and ", "new line"])
        );
        assert_eq!(split("abc", ""), json!(["abc"]));
        // AWS conformance: test_escape_sequence (a real newline inside the literal).
        assert_eq!(
            ok("States.StringSplit('Hello\nWorld', '\n')", json!({})),
            json!(["Hello", "World"])
        );
    }

    #[test]
    fn nested_calls() {
        let context = json!({"StateMachine": {"Name": "alpha-beta-gamma"}});
        let input = json!({});
        assert_eq!(
            eval_with(
                "States.ArrayGetItem(States.StringSplit($$.StateMachine.Name, '-'), 0)",
                &input,
                &context
            ),
            Ok(json!("alpha"))
        );
        assert_eq!(
            eval_with(
                "States.ArrayGetItem(States.StringSplit($$.StateMachine.Name, '-'), States.MathAdd(States.ArrayLength(States.StringSplit($$.StateMachine.Name, '-')), -1))",
                &input,
                &context
            ),
            Ok(json!("gamma"))
        );
    }

    #[test]
    fn uuid_is_version_4_from_the_supplied_entropy() {
        let input = json!({});
        let scope = Scope {
            input: &input,
            context: &input,
            variables: &NoVariables,
        };
        let call = Call::parse("States.UUID()").unwrap();
        let a = call
            .evaluate(scope, &mut Fixed(vec![0, u64::MAX], 0))
            .unwrap();
        assert_eq!(a, json!("00000000-0000-4000-bfff-ffffffffffff"));
        let b = call.evaluate(scope, &mut SplitMix64::new(3)).unwrap();
        let b = b.as_str().unwrap();
        assert_eq!(b.len(), 36);
        assert_eq!(b.as_bytes()[14], b'4');
        assert!(matches!(b.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
        assert!(Call::parse("States.UUID(1)")
            .unwrap()
            .evaluate(scope, &mut SplitMix64::new(3))
            .is_err());
    }

    #[test]
    fn missing_path_argument_is_a_runtime_error() {
        let f = fails("States.Format('{}', $.nope)", json!({"a": 1}));
        assert_eq!(f.error, "States.Runtime");
        assert_eq!(
            f.cause.as_deref(),
            Some("The JSONPath '$.nope' specified for the field 'FunctionResult.$' could not be found in the input '{\"a\":1}'")
        );
    }

    #[test]
    fn arity_is_checked() {
        for text in [
            "States.StringToJson()",
            "States.JsonToString(1, 2)",
            "States.ArrayLength()",
            "States.Hash('a')",
            "States.MathRandom(1)",
            "States.MathRandom(1, 2, 3, 4)",
            "States.JsonMerge($, $)",
        ] {
            let f = fails(text, json!({}));
            assert_eq!(f.error, "States.IntrinsicFailure", "{text}");
            assert!(f
                .cause
                .unwrap_or_default()
                .contains("Invalid number of arguments"));
        }
    }
}
