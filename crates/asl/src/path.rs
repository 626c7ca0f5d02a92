//! JSONPath as AWS Step Functions applies it (its own dialect: `$.detail-type` is valid).
//!
//! Two kinds of path appear in ASL:
//! - a **Path** (`InputPath`, `OutputPath`, `ItemsPath`, `*Path` fields, `.$` keys) may
//!   select many nodes (wildcards, slices, filters) and then yields an array;
//! - a **Reference Path** (`ResultPath`, Choice `Variable`) must name one node.
//!
//! A path starting with `$$` is evaluated against the context object, not the input;
//! one starting with `$name` (a workflow variable, see [`crate::variables`]) against the
//! value of that variable.
//!
//! The dialect follows Jayway JsonPath, the library behind AWS's implementation:
//! - dot names run up to the next `.`, `[`, `(` or white space, so `$.detail-type` and
//!   `$.a:b` are plain names;
//! - `['name']` / `["name"]` (with `\'` escaping the quote), `['a','b']`;
//! - `[0]`, `[-1]` (from the end), `[0,2]`, `[1:3]`, `[:2]`, `[-2:]`, `[*]`, `.*`;
//! - `..name`, `..*`, `..[0]` (deep scan, pre-order);
//! - filters `[?(@.price < 10 && @.tag == 'x')]` with `==`, `!=`, `<`, `<=`, `>`, `>=`,
//!   `in`, `nin`, `&&`, `||`, `!`, parentheses, and the existence test `[?(@.isbn)]`;
//!   operands are `@…`, `$…`, numbers, quoted strings, `true`, `false`, `null` and
//!   literal arrays (`['a','b']`).
//!
//! A path is *definite* when it can select at most one node (no wildcard, slice, union,
//! deep scan or filter). A definite path that matches nothing selects nothing; an
//! indefinite one selects the (possibly empty) array of its matches.
//!
//! Jayway quirk kept on purpose: a union of names as the last step (`$['a','b']`) is
//! definite and yields an object holding those of the named members that exist.

use std::borrow::Cow;

use serde_json::{Map, Value};

/// The error name AWS reports when a `ResultPath` cannot be applied to the state input
/// (for example `$.x` into a string input).
pub const REFERENCE_PATH_CONFLICT: &str = "States.ReferencePathConflict";

/// Deepest nesting of filters and parentheses a path may have.
const MAX_DEPTH: usize = 32;

/// Why a path text is not a valid path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PathError {
    pub message: String,
}

impl PathError {
    fn new(message: impl Into<String>) -> Self {
        PathError {
            message: message.into(),
        }
    }
}

/// Why a Reference Path could not be written into a value (ResultPath).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SetError {
    pub message: String,
}

/// A parsed path. Cheap to evaluate; parse once at definition time. One pointer wide,
/// so the definition types that hold many paths stay small.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    inner: Box<PathInner>,
}

#[derive(Debug, Clone, PartialEq)]
struct PathInner {
    source: String,
    context: bool,
    /// `$name…`: the workflow variable the path starts from.
    variable: Option<String>,
    segments: Vec<Segment>,
    definite: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    /// `.x`, `[…]`: applies to the current node.
    Child(Selector),
    /// `..x`, `..[…]`: applies to the current node and every node below it.
    Descendant(Selector),
    /// `.length()` and the other Jayway functions: always the last step; applies to
    /// what the steps before it selected.
    Function(PathFunction),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathFunction {
    Length,
    Keys,
    First,
    Last,
    Min,
    Max,
    Avg,
    Sum,
    Stddev,
}

impl PathFunction {
    const ALL: [(&'static str, PathFunction); 9] = [
        ("length", PathFunction::Length),
        ("keys", PathFunction::Keys),
        ("first", PathFunction::First),
        ("last", PathFunction::Last),
        ("min", PathFunction::Min),
        ("max", PathFunction::Max),
        ("avg", PathFunction::Avg),
        ("sum", PathFunction::Sum),
        ("stddev", PathFunction::Stddev),
    ];

    fn name(self) -> &'static str {
        PathFunction::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("", |(n, _)| n)
    }

    /// Applies the function to what the path before it selected (`None`: no result).
    fn apply(self, value: &Value) -> Option<Value> {
        match self {
            PathFunction::Length => match value {
                Value::Array(items) => Some(Value::from(items.len() as u64)),
                Value::Object(map) => Some(Value::from(map.len() as u64)),
                _ => None,
            },
            PathFunction::Keys => value
                .as_object()
                .map(|m| Value::Array(m.keys().cloned().map(Value::String).collect())),
            PathFunction::First => value.as_array()?.first().cloned(),
            PathFunction::Last => value.as_array()?.last().cloned(),
            PathFunction::Min
            | PathFunction::Max
            | PathFunction::Avg
            | PathFunction::Sum
            | PathFunction::Stddev => {
                let numbers: Vec<f64> =
                    value.as_array()?.iter().filter_map(Value::as_f64).collect();
                if numbers.is_empty() {
                    return None;
                }
                let count = numbers.len() as f64;
                let sum: f64 = numbers.iter().sum();
                let result = match self {
                    PathFunction::Min => numbers.iter().copied().fold(f64::INFINITY, f64::min),
                    PathFunction::Max => numbers.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    PathFunction::Sum => sum,
                    PathFunction::Avg => sum / count,
                    _ => {
                        let squares: f64 = numbers.iter().map(|n| n * n).sum();
                        (squares / count - (sum / count) * (sum / count))
                            .max(0.0)
                            .sqrt()
                    }
                };
                serde_json::Number::from_f64(result).map(Value::Number)
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Selector {
    Name(String),
    /// `['a','b']` (two or more names).
    Names(Vec<String>),
    Index(i64),
    /// `[0,1]` (two or more indexes).
    Indices(Vec<i64>),
    Wildcard,
    Slice {
        start: Option<i64>,
        end: Option<i64>,
        step: i64,
    },
    Filter(Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Exists(Operand),
    Compare(Operand, CompareOp, Operand),
    /// `@.name =~ /pattern/flags`: the whole string must match, as in Jayway.
    Matches(Operand, Pattern),
}

/// A compiled `/pattern/flags` literal; equal when written the same way.
#[derive(Debug, Clone)]
struct Pattern {
    text: String,
    regex: regex::Regex,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.text == other.text
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Nin,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    /// `@…`: relative to the node being filtered.
    Current(Vec<Segment>),
    /// `$…`: relative to the document root.
    Root(Vec<Segment>),
    Literal(Value),
}

impl Path {
    /// `$`: the whole input.
    pub fn root() -> Path {
        Path {
            inner: Box::new(PathInner {
                source: "$".to_string(),
                context: false,
                variable: None,
                segments: Vec::new(),
                definite: true,
            }),
        }
    }

    /// Parses a Path (wildcards, slices, unions and filters allowed), `$…` or `$$…`.
    pub fn parse(text: &str) -> Result<Path, PathError> {
        Path::parse_with(text, false)
    }

    /// Parses a Reference Path: one node only (no wildcards, slices, unions or filters).
    pub fn parse_reference(text: &str) -> Result<Path, PathError> {
        Path::parse_with(text, true)
    }

    fn parse_with(text: &str, reference: bool) -> Result<Path, PathError> {
        let (context, start) = if text.starts_with("$$") {
            (true, 2)
        } else if text.starts_with('$') {
            (false, 1)
        } else {
            return Err(PathError::new(format!(
                "The path '{text}' must start with '$' or '$$'"
            )));
        };
        let variable = if context {
            None
        } else {
            variable_name(text.get(1..).unwrap_or(""))
        };
        let start = start + variable.map_or(0, str::len);
        let mut parser = Parser::new(text, start);
        let segments = parser.segments(false, 0)?;
        if parser.pos < text.len() {
            return Err(PathError::new(format!(
                "Unexpected character at position {} in path '{text}'",
                parser.pos
            )));
        }
        let definite = segments_definite(&segments);
        if reference {
            for segment in &segments {
                match segment {
                    Segment::Child(Selector::Name(_)) | Segment::Child(Selector::Index(_)) => {}
                    _ => {
                        return Err(PathError::new(format!(
                            "The path '{text}' must be a reference path: it may only name \
                             object fields and array indexes"
                        )))
                    }
                }
            }
        }
        Ok(Path {
            inner: Box::new(PathInner {
                source: text.to_string(),
                context,
                variable: variable.map(str::to_string),
                segments,
                definite,
            }),
        })
    }

    /// The path as written in the definition.
    pub fn source(&self) -> &str {
        &self.inner.source
    }

    /// `$` exactly.
    pub fn is_root(&self) -> bool {
        !self.inner.context && self.inner.variable.is_none() && self.inner.segments.is_empty()
    }

    /// `$name…`: the workflow variable this path reads, if it reads one.
    pub fn variable(&self) -> Option<&str> {
        self.inner.variable.as_deref()
    }

    /// Starts with `$$`: evaluated against the context object.
    pub fn is_context(&self) -> bool {
        self.inner.context
    }

    /// True when the path can select at most one node (no wildcard/slice/union/filter).
    pub fn is_definite(&self) -> bool {
        self.inner.definite
    }

    /// Evaluates the path against `root` (the caller passes the context object for a
    /// `$$` path). `None` when a definite path matches nothing; an indefinite path
    /// yields the array of what it matched (possibly empty), as AWS does.
    pub fn select(&self, root: &Value) -> Option<Value> {
        self.select_ref(root).map(Cow::into_owned)
    }

    /// Like [`Path::select`], but borrows from `root` when the path is definite, so a
    /// caller that only reads the result never copies it.
    pub fn select_ref<'a>(&self, root: &'a Value) -> Option<Cow<'a, Value>> {
        select_segments(&self.inner.segments, self.inner.definite, root, root)
    }

    /// Jayway's normalized form of the path, as AWS prints it in causes:
    /// `$.a.b[0]` is `$['a']['b'][0]` (`$$` paths print as `$`-rooted too).
    pub fn normalized(&self) -> String {
        let mut out = String::from("$");
        if let Some(name) = &self.inner.variable {
            out.push_str(name);
        }
        for segment in &self.inner.segments {
            write_segment(&mut out, segment);
        }
        out
    }

    /// The cause AWS reports when this path matches nothing in `root`, for the fields
    /// that use the plain JSONPath error (`InputPath`, `OutputPath`, `ItemsPath`,
    /// `TimeoutSecondsPath`, …): `Invalid path '$.x' : No results for path: $['x']`.
    /// A missing member before the last step is reported as Jayway does:
    /// `Invalid path '$.a.b' : Missing property in path $['a']`.
    pub fn not_found_cause(&self, root: &Value) -> String {
        let mut current = root;
        let mut walked = String::from("$");
        let last = self.inner.segments.len().saturating_sub(1);
        for (i, segment) in self.inner.segments.iter().enumerate() {
            let Segment::Child(selector) = segment else {
                break;
            };
            write_segment(&mut walked, segment);
            let next = match selector {
                Selector::Name(name) => current.as_object().and_then(|o| o.get(name)),
                Selector::Index(index) => current
                    .as_array()
                    .and_then(|a| resolve_index(*index, a.len()).and_then(|i| a.get(i))),
                _ => break,
            };
            match next {
                Some(v) => current = v,
                None => {
                    if i < last && matches!(selector, Selector::Name(_)) && current.is_object() {
                        return format!(
                            "Invalid path '{}' : Missing property in path {walked}",
                            self.inner.source
                        );
                    }
                    break;
                }
            }
        }
        format!(
            "Invalid path '{}' : No results for path: {}",
            self.inner.source,
            self.normalized()
        )
    }

    /// Writes `value` at this Reference Path inside `target`, creating objects on the
    /// way as ResultPath does; `$` replaces the whole target.
    ///
    /// Writing below something that is not an object (or, for an index step, outside an
    /// array) fails with AWS's cause for `States.ReferencePathConflict`:
    /// `Unable to apply ReferencePath $.x to input "text"`.
    pub fn set(&self, target: Value, value: Value) -> Result<Value, SetError> {
        let elsewhere = self.inner.context || self.inner.variable.is_some();
        if self.inner.segments.is_empty() && !elsewhere {
            return Ok(value);
        }
        if elsewhere || !self.can_set(&target) {
            let input = serde_json::to_string(&target).unwrap_or_default();
            return Err(SetError {
                message: format!(
                    "Unable to apply ReferencePath {} to input {input}",
                    self.inner.source
                ),
            });
        }
        let mut target = target;
        let mut current = &mut target;
        let mut value = Some(value);
        let last = self.inner.segments.len().saturating_sub(1);
        for (i, segment) in self.inner.segments.iter().enumerate() {
            let is_last = i == last;
            current = match segment {
                Segment::Child(Selector::Name(name)) => {
                    let Some(object) = current.as_object_mut() else {
                        break;
                    };
                    if is_last {
                        if let Some(v) = value.take() {
                            object.insert(name.clone(), v);
                        }
                        break;
                    }
                    object
                        .entry(name.clone())
                        .or_insert_with(|| Value::Object(Map::new()))
                }
                Segment::Child(Selector::Index(index)) => {
                    let Some(array) = current.as_array_mut() else {
                        break;
                    };
                    let len = array.len();
                    let Some(slot) = resolve_index(*index, len).and_then(|i| array.get_mut(i))
                    else {
                        break;
                    };
                    if is_last {
                        if let Some(v) = value.take() {
                            *slot = v;
                        }
                        break;
                    }
                    slot
                }
                _ => break,
            };
        }
        Ok(target)
    }

    /// Whether [`Path::set`] can place a value in `target` without a conflict.
    fn can_set(&self, target: &Value) -> bool {
        let mut current = Some(target);
        for segment in &self.inner.segments {
            let Some(node) = current else {
                // Everything below a member that set creates is a fresh object: only
                // names can follow.
                if matches!(segment, Segment::Child(Selector::Name(_))) {
                    continue;
                }
                return false;
            };
            current = match segment {
                Segment::Child(Selector::Name(name)) => match node.as_object() {
                    Some(object) => object.get(name),
                    None => return false,
                },
                Segment::Child(Selector::Index(index)) => match node.as_array() {
                    Some(array) => match resolve_index(*index, array.len()) {
                        Some(i) => array.get(i),
                        None => return false,
                    },
                    None => return false,
                },
                _ => return false,
            };
        }
        true
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.inner.source)
    }
}

fn segments_definite(segments: &[Segment]) -> bool {
    let last = segments.len().saturating_sub(1);
    segments
        .iter()
        .enumerate()
        .all(|(i, segment)| match segment {
            Segment::Child(Selector::Name(_)) | Segment::Child(Selector::Index(_)) => true,
            // Jayway merges a trailing union of names into one object.
            Segment::Child(Selector::Names(_)) => i == last,
            // A function yields one value, whatever the steps before it selected.
            Segment::Function(_) => true,
            _ => false,
        })
}

fn write_segment(out: &mut String, segment: &Segment) {
    let selector = match segment {
        Segment::Function(function) => {
            out.push('.');
            out.push_str(function.name());
            out.push_str("()");
            return;
        }
        Segment::Child(selector) => selector,
        Segment::Descendant(selector) => {
            out.push_str("..");
            selector
        }
    };
    match selector {
        Selector::Name(name) => {
            out.push_str("['");
            out.push_str(name);
            out.push_str("']");
        }
        Selector::Names(names) => {
            out.push('[');
            for (i, name) in names.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('\'');
                out.push_str(name);
                out.push('\'');
            }
            out.push(']');
        }
        Selector::Index(index) => out.push_str(&format!("[{index}]")),
        Selector::Indices(indices) => {
            let parts: Vec<String> = indices.iter().map(i64::to_string).collect();
            out.push_str(&format!("[{}]", parts.join(",")));
        }
        Selector::Wildcard => out.push_str("[*]"),
        Selector::Slice { start, end, .. } => {
            let s = start.map(|v| v.to_string()).unwrap_or_default();
            let e = end.map(|v| v.to_string()).unwrap_or_default();
            out.push_str(&format!("[{s}:{e}]"));
        }
        Selector::Filter(_) => out.push_str("[?]"),
    }
}

/// An index from the end (`-1`) or the start, checked against `len`.
fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let len_i = i64::try_from(len).ok()?;
    let resolved = if index < 0 { len_i + index } else { index };
    if (0..len_i).contains(&resolved) {
        usize::try_from(resolved).ok()
    } else {
        None
    }
}

/// The variable name a path text starts with (after its `$`), if it starts with one:
/// an identifier (a letter or `_`, then letters, digits and `_`), as AWS's variable
/// names are. `$.x`, `$[0]`, `$$` and `$` alone start with none.
fn variable_name(after_dollar: &str) -> Option<&str> {
    let mut chars = after_dollar.char_indices();
    let (_, first) = chars.next()?;
    if !(first.is_alphabetic() || first == '_') {
        return None;
    }
    let end = chars
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
        .map_or(after_dollar.len(), |(i, _)| i);
    after_dollar.get(..end)
}

// ---------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------

fn select_segments<'a>(
    segments: &[Segment],
    definite: bool,
    node: &'a Value,
    document: &'a Value,
) -> Option<Cow<'a, Value>> {
    if let Some((Segment::Function(function), upstream)) = segments.split_last() {
        let selected = select_segments(upstream, segments_definite(upstream), node, document)?;
        return function.apply(&selected).map(Cow::Owned);
    }
    if definite {
        let mut current = node;
        let last = segments.len().saturating_sub(1);
        for (i, segment) in segments.iter().enumerate() {
            current = match segment {
                Segment::Child(Selector::Name(name)) => current.as_object()?.get(name)?,
                Segment::Child(Selector::Index(index)) => {
                    let array = current.as_array()?;
                    array.get(resolve_index(*index, array.len())?)?
                }
                Segment::Child(Selector::Names(names)) if i == last => {
                    let object = current.as_object()?;
                    let mut merged = Map::new();
                    for name in names {
                        if let Some(v) = object.get(name) {
                            merged.insert(name.clone(), v.clone());
                        }
                    }
                    return Some(Cow::Owned(Value::Object(merged)));
                }
                _ => return None,
            };
        }
        return Some(Cow::Borrowed(current));
    }
    let mut nodes: Vec<&'a Value> = vec![node];
    let mut next: Vec<&'a Value> = Vec::new();
    for segment in segments {
        for current in nodes.drain(..) {
            match segment {
                Segment::Child(selector) => apply(selector, current, document, &mut next),
                Segment::Function(_) => {}
                Segment::Descendant(selector) => {
                    // Pre-order walk with an explicit stack: no recursion on user data.
                    let mut stack: Vec<&'a Value> = vec![current];
                    while let Some(item) = stack.pop() {
                        apply(selector, item, document, &mut next);
                        match item {
                            Value::Object(map) => stack.extend(map.values().rev()),
                            Value::Array(items) => stack.extend(items.iter().rev()),
                            _ => {}
                        }
                    }
                }
            }
        }
        std::mem::swap(&mut nodes, &mut next);
    }
    Some(Cow::Owned(Value::Array(
        nodes.into_iter().cloned().collect(),
    )))
}

fn apply<'a>(selector: &Selector, node: &'a Value, document: &'a Value, out: &mut Vec<&'a Value>) {
    match selector {
        Selector::Name(name) => {
            if let Some(v) = node.as_object().and_then(|o| o.get(name)) {
                out.push(v);
            }
        }
        Selector::Names(names) => {
            if let Some(object) = node.as_object() {
                out.extend(names.iter().filter_map(|n| object.get(n)));
            }
        }
        Selector::Index(index) => {
            if let Some(array) = node.as_array() {
                if let Some(v) = resolve_index(*index, array.len()).and_then(|i| array.get(i)) {
                    out.push(v);
                }
            }
        }
        Selector::Indices(indices) => {
            if let Some(array) = node.as_array() {
                for index in indices {
                    if let Some(v) = resolve_index(*index, array.len()).and_then(|i| array.get(i)) {
                        out.push(v);
                    }
                }
            }
        }
        Selector::Wildcard => match node {
            Value::Object(map) => out.extend(map.values()),
            Value::Array(items) => out.extend(items.iter()),
            _ => {}
        },
        Selector::Slice { start, end, step } => {
            if let Some(array) = node.as_array() {
                slice(array, *start, *end, *step, out);
            }
        }
        Selector::Filter(expr) => match node {
            Value::Array(items) => {
                for item in items {
                    if test(expr, item, document) {
                        out.push(item);
                    }
                }
            }
            // Jayway applies a filter on an object to the object itself.
            Value::Object(_) if test(expr, node, document) => out.push(node),
            _ => {}
        },
    }
}

fn slice<'a>(
    array: &'a [Value],
    start: Option<i64>,
    end: Option<i64>,
    step: i64,
    out: &mut Vec<&'a Value>,
) {
    let len = i64::try_from(array.len()).unwrap_or(i64::MAX);
    let clamp = |v: i64| -> i64 {
        let v = if v < 0 { len.saturating_add(v) } else { v };
        v.clamp(0, len)
    };
    let from = start.map_or(0, clamp);
    let to = end.map_or(len, clamp);
    let step = step.max(1);
    let mut i = from;
    while i < to {
        if let Some(v) = usize::try_from(i).ok().and_then(|i| array.get(i)) {
            out.push(v);
        }
        i = match i.checked_add(step) {
            Some(n) => n,
            None => break,
        };
    }
}

/// The value of a filter operand: `None` when a path operand matches nothing.
fn operand_value<'a>(
    operand: &'a Operand,
    current: &'a Value,
    document: &'a Value,
) -> Option<Cow<'a, Value>> {
    match operand {
        Operand::Literal(v) => Some(Cow::Borrowed(v)),
        Operand::Current(segments) => {
            select_segments(segments, segments_definite(segments), current, document)
        }
        Operand::Root(segments) => {
            select_segments(segments, segments_definite(segments), document, document)
        }
    }
}

fn test(expr: &Expr, current: &Value, document: &Value) -> bool {
    match expr {
        Expr::Or(a, b) => test(a, current, document) || test(b, current, document),
        Expr::And(a, b) => test(a, current, document) && test(b, current, document),
        Expr::Not(a) => !test(a, current, document),
        Expr::Exists(operand) => match operand {
            Operand::Literal(v) => !matches!(v, Value::Null | Value::Bool(false)),
            _ => match operand_value(operand, current, document) {
                // An indefinite path "exists" when it matched something.
                Some(Cow::Owned(Value::Array(items))) if !operand_is_definite(operand) => {
                    !items.is_empty()
                }
                Some(_) => true,
                None => false,
            },
        },
        Expr::Matches(operand, pattern) => operand_value(operand, current, document)
            .is_some_and(|v| v.as_str().is_some_and(|s| pattern.regex.is_match(s))),
        Expr::Compare(left, op, right) => {
            let l = operand_value(left, current, document);
            let r = operand_value(right, current, document);
            match (l, r) {
                (Some(l), Some(r)) => compare(&l, *op, &r),
                // A side that matched nothing is "undefined": only `!=` and `nin` hold.
                _ => matches!(op, CompareOp::Ne | CompareOp::Nin),
            }
        }
    }
}

fn operand_is_definite(operand: &Operand) -> bool {
    match operand {
        Operand::Literal(_) => true,
        Operand::Current(s) | Operand::Root(s) => segments_definite(s),
    }
}

fn compare(left: &Value, op: CompareOp, right: &Value) -> bool {
    use std::cmp::Ordering;
    let order = || -> Option<Ordering> {
        match (left, right) {
            (Value::Number(a), Value::Number(b)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
            (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
            _ => None,
        }
    };
    match op {
        CompareOp::Eq => json_eq(left, right),
        CompareOp::Ne => !json_eq(left, right),
        CompareOp::Lt => order() == Some(Ordering::Less),
        CompareOp::Le => matches!(order(), Some(Ordering::Less | Ordering::Equal)),
        CompareOp::Gt => order() == Some(Ordering::Greater),
        CompareOp::Ge => matches!(order(), Some(Ordering::Greater | Ordering::Equal)),
        CompareOp::In => right
            .as_array()
            .is_some_and(|items| items.iter().any(|i| json_eq(left, i))),
        CompareOp::Nin => right
            .as_array()
            .is_some_and(|items| !items.iter().any(|i| json_eq(left, i))),
    }
}

/// JSON equality where numbers compare by value (`1 == 1.0`) and objects ignore key
/// order. Iterative: no recursion on user data.
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    let mut pending: Vec<(&Value, &Value)> = vec![(a, b)];
    while let Some((a, b)) = pending.pop() {
        let same = match (a, b) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(x), Value::Bool(y)) => x == y,
            (Value::String(x), Value::String(y)) => x == y,
            (Value::Number(x), Value::Number(y)) => number_eq(x, y),
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && {
                    pending.extend(x.iter().zip(y.iter()));
                    true
                }
            }
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len()
                    && x.iter().all(|(k, v)| match y.get(k) {
                        Some(w) => {
                            pending.push((v, w));
                            true
                        }
                        None => false,
                    })
            }
            _ => false,
        };
        if !same {
            return false;
        }
    }
    true
}

fn number_eq(x: &serde_json::Number, y: &serde_json::Number) -> bool {
    if let (Some(a), Some(b)) = (x.as_i64(), y.as_i64()) {
        return a == b;
    }
    if let (Some(a), Some(b)) = (x.as_u64(), y.as_u64()) {
        return a == b;
    }
    match (x.as_f64(), y.as_f64()) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

struct Parser<'s> {
    text: &'s str,
    pos: usize,
}

impl<'s> Parser<'s> {
    fn new(text: &'s str, pos: usize) -> Self {
        Parser { text, pos }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.text.as_bytes().get(self.pos + offset).copied()
    }

    fn rest(&self) -> &'s str {
        self.text.get(self.pos..).unwrap_or("")
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn error(&self, what: &str) -> PathError {
        PathError::new(format!(
            "Invalid JSONPath '{}': {what} at position {}",
            self.text, self.pos
        ))
    }

    fn expect(&mut self, byte: u8) -> Result<(), PathError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected '{}'", byte as char)))
        }
    }

    /// Reads steps until the end of the text (or, inside a filter, until something that
    /// cannot continue a path).
    fn segments(&mut self, in_filter: bool, depth: usize) -> Result<Vec<Segment>, PathError> {
        let mut segments = Vec::new();
        loop {
            match self.peek() {
                Some(b'.') => {
                    if self.peek_at(1) == Some(b'.') {
                        self.pos += 2;
                        match self.peek() {
                            Some(b'[') => {
                                self.pos += 1;
                                let selector = self.bracket(depth)?;
                                segments.push(Segment::Descendant(selector));
                            }
                            Some(b'*') => {
                                self.pos += 1;
                                segments.push(Segment::Descendant(Selector::Wildcard));
                            }
                            _ => {
                                let name = self.dot_name(in_filter)?;
                                segments.push(Segment::Descendant(Selector::Name(name)));
                            }
                        }
                    } else {
                        self.pos += 1;
                        if self.peek() == Some(b'*') {
                            self.pos += 1;
                            segments.push(Segment::Child(Selector::Wildcard));
                        } else {
                            let name = self.dot_name(in_filter)?;
                            if self.peek() == Some(b'(') {
                                segments.push(Segment::Function(self.function(&name)?));
                                return Ok(segments);
                            }
                            segments.push(Segment::Child(Selector::Name(name)));
                        }
                    }
                }
                Some(b'[') => {
                    self.pos += 1;
                    let selector = self.bracket(depth)?;
                    segments.push(Segment::Child(selector));
                }
                None => return Ok(segments),
                Some(_) if in_filter => return Ok(segments),
                Some(_) => return Err(self.error("unexpected character")),
            }
        }
    }

    fn dot_name(&mut self, in_filter: bool) -> Result<String, PathError> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            let stop = match b {
                b'.' | b'[' | b'(' | b')' | b' ' | b'\t' | b'\n' | b'\r' => true,
                b'=' | b'!' | b'<' | b'>' | b'&' | b'|' | b',' | b']' => in_filter,
                _ => false,
            };
            if stop {
                break;
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.error("expected a member name"));
        }
        self.text
            .get(start..self.pos)
            .map(str::to_string)
            .ok_or_else(|| self.error("invalid member name"))
    }

    /// `name()` after a dot: one of Jayway's functions without arguments.
    fn function(&mut self, name: &str) -> Result<PathFunction, PathError> {
        let function = PathFunction::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
            .ok_or_else(|| self.error(&format!("unknown function '{name}'")))?;
        self.expect(b'(')?;
        self.skip_ws();
        self.expect(b')')?;
        Ok(function)
    }

    /// Parses what follows `[` up to and including the closing `]`.
    fn bracket(&mut self, depth: usize) -> Result<Selector, PathError> {
        self.skip_ws();
        let selector = match self.peek() {
            Some(b'\'' | b'"') => {
                let mut names = vec![self.quoted()?];
                loop {
                    self.skip_ws();
                    if self.peek() == Some(b',') {
                        self.pos += 1;
                        self.skip_ws();
                        names.push(self.quoted()?);
                    } else {
                        break;
                    }
                }
                if names.len() == 1 {
                    Selector::Name(names.pop().unwrap_or_default())
                } else {
                    Selector::Names(names)
                }
            }
            Some(b'*') => {
                self.pos += 1;
                Selector::Wildcard
            }
            Some(b'?') => {
                self.pos += 1;
                self.skip_ws();
                self.expect(b'(')?;
                let expr = self.or_expr(depth + 1)?;
                self.skip_ws();
                self.expect(b')')?;
                Selector::Filter(Box::new(expr))
            }
            Some(b'-' | b'0'..=b'9' | b':') => self.indexes()?,
            _ => return Err(self.error("expected a name, an index, '*' or a filter")),
        };
        self.skip_ws();
        self.expect(b']')?;
        Ok(selector)
    }

    /// `'name'` or `"name"`: a backslash escapes the quote and itself; any other
    /// backslash is kept as written.
    fn quoted(&mut self) -> Result<String, PathError> {
        let Some(quote) = self.peek() else {
            return Err(self.error("expected a quoted name"));
        };
        if quote != b'\'' && quote != b'"' {
            return Err(self.error("expected a quoted name"));
        }
        self.pos += 1;
        let mut out = String::new();
        let rest = self.rest();
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            if c == quote as char {
                self.pos += i + 1;
                return Ok(out);
            }
            if c == '\\' {
                match chars.clone().next() {
                    Some((_, n)) if n == quote as char || n == '\\' => {
                        out.push(n);
                        chars.next();
                        continue;
                    }
                    _ => {}
                }
            }
            out.push(c);
        }
        self.pos = self.text.len();
        Err(self.error("unterminated quoted name"))
    }

    fn integer(&mut self) -> Result<Option<i64>, PathError> {
        self.skip_ws();
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        let text = self.text.get(start..self.pos).unwrap_or("");
        if text.is_empty() {
            return Ok(None);
        }
        let value = text
            .parse::<i64>()
            .map_err(|_| self.error("invalid array index"))?;
        self.skip_ws();
        Ok(Some(value))
    }

    /// `[0]`, `[0,1]`, `[1:3]`, `[:2]`, `[1:]`, `[::2]`.
    fn indexes(&mut self) -> Result<Selector, PathError> {
        let first = self.integer()?;
        if self.peek() == Some(b':') {
            self.pos += 1;
            let end = self.integer()?;
            let mut step = 1;
            if self.peek() == Some(b':') {
                self.pos += 1;
                if let Some(s) = self.integer()? {
                    if s <= 0 {
                        return Err(self.error("a slice step must be positive"));
                    }
                    step = s;
                }
            }
            return Ok(Selector::Slice {
                start: first,
                end,
                step,
            });
        }
        let Some(first) = first else {
            return Err(self.error("expected an array index"));
        };
        let mut indices = vec![first];
        while self.peek() == Some(b',') {
            self.pos += 1;
            match self.integer()? {
                Some(i) => indices.push(i),
                None => return Err(self.error("expected an array index")),
            }
        }
        Ok(if indices.len() == 1 {
            Selector::Index(first)
        } else {
            Selector::Indices(indices)
        })
    }

    fn check_depth(&self, depth: usize) -> Result<(), PathError> {
        if depth > MAX_DEPTH {
            Err(self.error("filter nested too deeply"))
        } else {
            Ok(())
        }
    }

    fn or_expr(&mut self, depth: usize) -> Result<Expr, PathError> {
        self.check_depth(depth)?;
        let mut left = self.and_expr(depth)?;
        loop {
            self.skip_ws();
            if self.rest().starts_with("||") {
                self.pos += 2;
                let right = self.and_expr(depth)?;
                left = Expr::Or(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn and_expr(&mut self, depth: usize) -> Result<Expr, PathError> {
        let mut left = self.unary(depth)?;
        loop {
            self.skip_ws();
            if self.rest().starts_with("&&") {
                self.pos += 2;
                let right = self.unary(depth)?;
                left = Expr::And(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, PathError> {
        self.check_depth(depth)?;
        self.skip_ws();
        match self.peek() {
            Some(b'!') if self.peek_at(1) != Some(b'=') => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.unary(depth + 1)?)))
            }
            Some(b'(') => {
                self.pos += 1;
                let inner = self.or_expr(depth + 1)?;
                self.skip_ws();
                self.expect(b')')?;
                Ok(inner)
            }
            _ => self.comparison(depth),
        }
    }

    fn comparison(&mut self, depth: usize) -> Result<Expr, PathError> {
        let left = self.operand(depth)?;
        self.skip_ws();
        let rest = self.rest();
        let op = [
            ("==", CompareOp::Eq),
            ("!=", CompareOp::Ne),
            ("<=", CompareOp::Le),
            (">=", CompareOp::Ge),
            ("<", CompareOp::Lt),
            (">", CompareOp::Gt),
            ("nin", CompareOp::Nin),
            ("in", CompareOp::In),
        ]
        .into_iter()
        .find(|(text, _)| rest.starts_with(text));
        let Some((text, op)) = op else {
            if rest.starts_with("=~") {
                self.pos += 2;
                self.skip_ws();
                return Ok(Expr::Matches(left, self.pattern()?));
            }
            return Ok(Expr::Exists(left));
        };
        self.pos += text.len();
        let right = self.operand(depth)?;
        Ok(Expr::Compare(left, op, right))
    }

    /// `/pattern/flags` with the flags `i`, `m`, `s` and `x`; `\\/` escapes the slash.
    fn pattern(&mut self) -> Result<Pattern, PathError> {
        self.expect(b'/')?;
        let start = self.pos;
        let mut body = String::new();
        let mut chars = self.rest().char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '/' => {
                    end = Some(i);
                    break;
                }
                '\\' => match chars.next() {
                    Some((_, '/')) => body.push('/'),
                    Some((_, n)) => {
                        body.push('\\');
                        body.push(n);
                    }
                    None => break,
                },
                _ => body.push(c),
            }
        }
        let Some(end) = end else {
            self.pos = self.text.len();
            return Err(self.error("unterminated regular expression"));
        };
        self.pos = start + end + 1;
        let mut flags = String::new();
        while let Some(b @ (b'i' | b'm' | b's' | b'x')) = self.peek() {
            flags.push(b as char);
            self.pos += 1;
        }
        let prefix = if flags.is_empty() {
            String::new()
        } else {
            format!("(?{flags})")
        };
        let regex = regex::RegexBuilder::new(&format!("^{prefix}(?:{body})$"))
            .size_limit(1 << 20)
            .build()
            .map_err(|_| self.error("invalid regular expression"))?;
        Ok(Pattern {
            text: format!("/{body}/{flags}"),
            regex,
        })
    }

    fn operand(&mut self, depth: usize) -> Result<Operand, PathError> {
        self.skip_ws();
        match self.peek() {
            Some(b'@') => {
                self.pos += 1;
                Ok(Operand::Current(self.segments(true, depth + 1)?))
            }
            Some(b'$') => {
                self.pos += 1;
                Ok(Operand::Root(self.segments(true, depth + 1)?))
            }
            _ => Ok(Operand::Literal(self.literal(depth)?)),
        }
    }

    fn literal(&mut self, depth: usize) -> Result<Value, PathError> {
        self.check_depth(depth)?;
        self.skip_ws();
        match self.peek() {
            Some(b'\'' | b'"') => Ok(Value::String(self.quoted()?)),
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.skip_ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                loop {
                    items.push(self.literal(depth + 1)?);
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Value::Array(items));
                        }
                        _ => return Err(self.error("expected ',' or ']'")),
                    }
                }
            }
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
                serde_json::from_str::<serde_json::Number>(text)
                    .map(Value::Number)
                    .map_err(|_| self.error("invalid number"))
            }
            _ => {
                for (word, value) in [
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                    ("null", Value::Null),
                ] {
                    if self.rest().starts_with(word) {
                        self.pos += word.len();
                        return Ok(value);
                    }
                }
                Err(self.error("expected a value"))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(path: &str, input: &Value) -> Option<Value> {
        Path::parse(path).expect("valid path").select(input)
    }

    fn store() -> Value {
        json!({
            "store": {
                "book": [
                    {"category": "reference", "author": "Nigel Rees", "price": 8.95},
                    {"category": "fiction", "author": "Evelyn Waugh", "price": 12.99},
                    {"category": "fiction", "author": "Herman Melville", "isbn": "0-553", "price": 8.99},
                    {"category": "fiction", "author": "J. R. R. Tolkien", "isbn": "0-395", "price": 22.99}
                ],
                "bicycle": {"color": "red", "price": 19.95}
            },
            "detail-type": "Order Placed",
            "expensive": 10
        })
    }

    #[test]
    fn root_selects_everything_and_is_cheap_to_build() {
        let input = json!({"a": 1});
        let root = Path::root();
        assert!(root.is_root());
        assert!(root.is_definite());
        assert!(!root.is_context());
        assert_eq!(root.source(), "$");
        assert_eq!(root, Path::parse("$").unwrap());
        assert_eq!(root.select(&input), Some(input.clone()));
        assert!(matches!(root.select_ref(&input), Some(Cow::Borrowed(_))));
    }

    #[test]
    fn dot_and_bracket_names() {
        let input = store();
        assert_eq!(sel("$.store.bicycle.color", &input), Some(json!("red")));
        assert_eq!(
            sel("$['store']['bicycle']['color']", &input),
            Some(json!("red"))
        );
        assert_eq!(
            sel("$[\"store\"].bicycle", &input),
            Some(json!({"color": "red", "price": 19.95}))
        );
        assert_eq!(sel("$.detail-type", &input), Some(json!("Order Placed")));
        assert_eq!(sel("$.missing", &input), None);
        assert_eq!(sel("$.store.missing.deeper", &input), None);
        assert_eq!(sel("$.expensive.deeper", &input), None);
    }

    #[test]
    fn quoted_names_keep_backslashes_except_before_the_quote() {
        // AWS conformance: `$['Test\""Name"']` reads the key `Test\""Name"`.
        let input = json!({"Test\\\"\"Name\"": "Value\"\\"});
        assert_eq!(
            sel("$['Test\\\"\"Name\"']", &input),
            Some(json!("Value\"\\"))
        );
        let input = json!({"it's": 1});
        assert_eq!(sel("$['it\\'s']", &input), Some(json!(1)));
    }

    #[test]
    fn indexes_including_negative_ones() {
        let input = json!({"items": [10, 11, 12]});
        assert_eq!(sel("$.items[0]", &input), Some(json!(10)));
        assert_eq!(sel("$.items[2]", &input), Some(json!(12)));
        assert_eq!(sel("$.items[-1]", &input), Some(json!(12)));
        assert_eq!(sel("$.items[3]", &input), None);
        assert_eq!(sel("$.items[-4]", &input), None);
        assert!(Path::parse("$.items[-1]").unwrap().is_definite());
    }

    #[test]
    fn wildcards_slices_and_unions_yield_arrays() {
        let input = json!({"items": [0, 1, 2, 3, 4, 5], "obj": {"a": 1, "b": 2}});
        assert_eq!(sel("$.items[*]", &input), Some(json!([0, 1, 2, 3, 4, 5])));
        assert_eq!(sel("$.obj.*", &input), Some(json!([1, 2])));
        assert_eq!(sel("$.obj[*]", &input), Some(json!([1, 2])));
        assert_eq!(sel("$.items[1:3]", &input), Some(json!([1, 2])));
        assert_eq!(sel("$.items[:2]", &input), Some(json!([0, 1])));
        assert_eq!(sel("$.items[4:]", &input), Some(json!([4, 5])));
        assert_eq!(sel("$.items[-2:]", &input), Some(json!([4, 5])));
        assert_eq!(sel("$.items[1:100]", &input), Some(json!([1, 2, 3, 4, 5])));
        assert_eq!(sel("$.items[::2]", &input), Some(json!([0, 2, 4])));
        assert_eq!(sel("$.items[0,2,9]", &input), Some(json!([0, 2])));
        for p in [
            "$.items[*]",
            "$.items[1:3]",
            "$.items[0,2]",
            "$..a",
            "$.items[?(@ > 1)]",
        ] {
            assert!(!Path::parse(p).unwrap().is_definite(), "{p}");
        }
    }

    #[test]
    fn indefinite_paths_over_missing_data_yield_empty_arrays() {
        // AWS conformance: TestSnfBase__test_json_path_array_wildcard_or_slice_with_no_input.
        let input = json!({});
        for p in [
            "$[*]",
            "$.items[*]",
            "$.item.items[*]",
            "$.item.items[1:5]",
            "$.item.items[1:5].itemValue",
            "$.items[1:]",
            "$.items[:1].itemValue",
            "$.items[*].itemValue",
        ] {
            assert_eq!(sel(p, &input), Some(json!([])), "{p}");
        }
    }

    #[test]
    fn trailing_union_of_names_merges_into_an_object() {
        let input = json!({"a": 1, "b": 2, "c": 3});
        let path = Path::parse("$['a','c','x']").unwrap();
        assert!(path.is_definite());
        assert_eq!(path.select(&input), Some(json!({"a": 1, "c": 3})));
        let input = json!({"list": [{"a": 1, "b": 2}, {"a": 3}]});
        assert_eq!(sel("$.list[*]['a','b']", &input), Some(json!([1, 2, 3])));
    }

    #[test]
    fn deep_scan_is_pre_order() {
        let input = store();
        assert_eq!(
            sel("$..author", &input),
            Some(json!([
                "Nigel Rees",
                "Evelyn Waugh",
                "Herman Melville",
                "J. R. R. Tolkien"
            ]))
        );
        assert_eq!(
            sel("$.store..price", &input),
            Some(json!([8.95, 12.99, 8.99, 22.99, 19.95]))
        );
        assert_eq!(sel("$..book[-1].isbn", &input), Some(json!(["0-395"])));
        let nested = json!({"a": {"a": {"a": 1}}});
        assert_eq!(
            sel("$..a", &nested),
            Some(json!([{"a": {"a": 1}}, {"a": 1}, 1]))
        );
    }

    #[test]
    fn filters() {
        let input = store();
        assert_eq!(
            sel("$.store.book[?(@.price < 10)].author", &input),
            Some(json!(["Nigel Rees", "Herman Melville"]))
        );
        assert_eq!(
            sel("$.store.book[?(@.isbn)].author", &input),
            Some(json!(["Herman Melville", "J. R. R. Tolkien"]))
        );
        assert_eq!(
            sel(
                "$.store.book[?(@.category == 'fiction' && @.price > 20)].author",
                &input
            ),
            Some(json!(["J. R. R. Tolkien"]))
        );
        assert_eq!(
            sel(
                "$.store.book[?(@.price > 20 || @.category == \"reference\")].price",
                &input
            ),
            Some(json!([8.95, 22.99]))
        );
        assert_eq!(
            sel("$.store.book[?(@.price <= $.expensive)].price", &input),
            Some(json!([8.95, 8.99]))
        );
        assert_eq!(
            sel("$.store.book[?(!(@.category == 'fiction'))].author", &input),
            Some(json!(["Nigel Rees"]))
        );
        assert_eq!(
            sel(
                "$.store.book[?(@.author in ['Nigel Rees', 'Nobody'])].price",
                &input
            ),
            Some(json!([8.95]))
        );
        assert_eq!(
            sel("$.store.book[?(@.category nin ['fiction'])].price", &input),
            Some(json!([8.95]))
        );
        assert_eq!(
            sel("$.store.book[?(@.isbn != '0-553')].price", &input),
            Some(json!([8.95, 12.99, 22.99]))
        );
        assert_eq!(
            sel("$.store.book[?(@.price>=22.99)].price", &input),
            Some(json!([22.99]))
        );
        assert_eq!(
            sel("$.store.book[?(@.author =~ /.*REES/i)].price", &input),
            Some(json!([8.95]))
        );
        // The whole string must match, as with Java's `Matcher.matches`.
        assert_eq!(
            sel("$.store.book[?(@.author =~ /Rees/)].price", &input),
            Some(json!([]))
        );
        assert_eq!(
            sel("$.store.book[?(@.isbn =~ /0-\\d+\\/?/)].isbn", &input),
            Some(json!(["0-553", "0-395"]))
        );
        // AWS conformance: TestSnfBase__test_state_pass_regex_json_path_base.
        let users = json!({"users": [{"year": 1997, "status": 0}, {"year": 1998, "status": 1}]});
        assert_eq!(
            sel("$.users[?(@.status == 0)]", &users),
            Some(json!([{"year": 1997, "status": 0}]))
        );
        // moto conformance: test_state_machine_with_json_regex.
        let params = json!({"Parameters": [{"Name": "/eggs/cooked/like", "Value": "poached"}]});
        assert_eq!(
            sel(
                "$.Parameters[?(@.Name == '/eggs/cooked/like')].Value",
                &params
            ),
            Some(json!(["poached"]))
        );
        // Numbers compare by value; a filter on an object tests the object itself.
        let obj = json!({"o": {"n": 1.0, "b": true}});
        assert_eq!(sel("$.o[?(@.n == 1)].b", &obj), Some(json!([true])));
        assert_eq!(sel("$.o[?(@.b == false)]", &obj), Some(json!([])));
    }

    #[test]
    fn jayway_functions() {
        let input =
            json!({"items": [1, 2, 3, 4], "o": {"a": 1, "b": 2}, "list": [{"k": 1}, {"k": 2}]});
        let len = Path::parse("$.items.length()").unwrap();
        assert!(len.is_definite());
        assert_eq!(len.normalized(), "$['items'].length()");
        assert_eq!(len.select(&input), Some(json!(4)));
        assert_eq!(sel("$.o.length()", &input), Some(json!(2)));
        assert_eq!(sel("$.o.keys()", &input), Some(json!(["a", "b"])));
        assert_eq!(sel("$.list[*].k.length()", &input), Some(json!(2)));
        assert_eq!(sel("$.items.sum()", &input), Some(json!(10.0)));
        assert_eq!(sel("$.items.avg()", &input), Some(json!(2.5)));
        assert_eq!(sel("$.items.min()", &input), Some(json!(1.0)));
        assert_eq!(sel("$.items.max()", &input), Some(json!(4.0)));
        assert_eq!(sel("$.items.first()", &input), Some(json!(1)));
        assert_eq!(sel("$.items.last()", &input), Some(json!(4)));
        assert_eq!(sel("$.list[*].k.sum()", &input), Some(json!(3.0)));
        assert_eq!(sel("$.missing.length()", &input), None);
        assert_eq!(sel("$.o.sum()", &input), None);
        assert_eq!(
            sel(
                "$.list[?(@.k.length() > 0)]",
                &json!({"list": [{"k": [1]}, {"k": []}]})
            ),
            Some(json!([{"k": [1]}]))
        );
        assert!(Path::parse_reference("$.items.length()").is_err());
    }

    #[test]
    fn context_paths() {
        let path = Path::parse("$$.Execution.Input").unwrap();
        assert!(path.is_context());
        assert!(!path.is_root());
        let context = json!({"Execution": {"Input": {"x": 1}}});
        assert_eq!(path.select(&context), Some(json!({"x": 1})));
        let whole = Path::parse("$$").unwrap();
        assert!(whole.is_context() && !whole.is_root());
        assert_eq!(whole.select(&context), Some(context.clone()));
    }

    #[test]
    fn variable_paths() {
        let path = Path::parse("$order.items[1].sku").unwrap();
        assert_eq!(path.variable(), Some("order"));
        assert!(!path.is_context() && !path.is_root() && path.is_definite());
        // The segments apply to the variable's value.
        let order = json!({"items": [{"sku": "a"}, {"sku": "b"}]});
        assert_eq!(path.select(&order), Some(json!("b")));
        assert_eq!(path.normalized(), "$order['items'][1]['sku']");

        let whole = Path::parse_reference("$x").unwrap();
        assert_eq!(whole.variable(), Some("x"));
        assert!(!whole.is_root());
        assert_eq!(whole.select(&json!(42)), Some(json!(42)));

        let unicode = Path::parse("$ünï_1.a").unwrap();
        assert_eq!(unicode.variable(), Some("ünï_1"));
        let wild = Path::parse("$list[*].id").unwrap();
        assert_eq!(wild.variable(), Some("list"));
        assert!(!wild.is_definite());

        for plain in ["$", "$.a", "$['a']", "$[0]", "$$.Execution", "$..a"] {
            assert_eq!(Path::parse(plain).unwrap().variable(), None, "{plain}");
        }
        // A variable is never a place to write a result.
        assert!(whole.set(json!({}), json!(1)).is_err());
    }

    #[test]
    fn invalid_paths_are_rejected() {
        for p in [
            "",
            "a",
            "$.",
            "$..",
            "$a-b",
            "$1a",
            "$a b",
            "$[",
            "$[]",
            "$['a'",
            "$[a]",
            "$.a[?(@.b ==)]",
            "$.a[?(@.b =~ /x)]",
            "$.a[?(@.b =~ /(/)]",
            "$.a.size()",
            "$.a.length(1)",
            "$.a.length().b",
            "$ .a",
            "$.a[1:2:0]",
            "$.a[99999999999999999999]",
        ] {
            assert!(Path::parse(p).is_err(), "{p:?} should not parse");
        }
    }

    #[test]
    fn reference_paths_allow_only_names_and_indexes() {
        for p in [
            "$",
            "$.a",
            "$.a.b[0]",
            "$['a b'].c",
            "$$.Execution.Input",
            "$.a[-1]",
        ] {
            assert!(Path::parse_reference(p).is_ok(), "{p}");
        }
        for p in [
            "$.a[*]",
            "$..a",
            "$.a[0:1]",
            "$.a[0,1]",
            "$['a','b']",
            "$.a[?(@.x)]",
            "$.*",
        ] {
            assert!(Path::parse_reference(p).is_err(), "{p}");
            assert!(Path::parse(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn set_creates_objects_on_the_way() {
        let set = |p: &str, t: Value, v: Value| Path::parse_reference(p).unwrap().set(t, v);
        assert_eq!(set("$", json!({"a": 1}), json!(2)), Ok(json!(2)));
        assert_eq!(
            set("$.r", json!({"a": 1}), json!(2)),
            Ok(json!({"a": 1, "r": 2}))
        );
        assert_eq!(
            set("$.x.y.z", json!({"a": 1}), json!(true)),
            Ok(json!({"a": 1, "x": {"y": {"z": true}}}))
        );
        assert_eq!(
            set("$.a.b", json!({"a": {"c": 1}}), json!(2)),
            Ok(json!({"a": {"c": 1, "b": 2}}))
        );
        assert_eq!(
            set("$.list[1]", json!({"list": [1, 2]}), json!(9)),
            Ok(json!({"list": [1, 9]}))
        );
        assert_eq!(
            set("$.list[-1].x", json!({"list": [{}, {}]}), json!(9)),
            Ok(json!({"list": [{}, {"x": 9}]}))
        );
        // Replacing a member keeps its place.
        let out = set("$.a", json!({"a": 1, "b": 2}), json!(3)).unwrap();
        assert_eq!(serde_json::to_string(&out).unwrap(), r#"{"a":3,"b":2}"#);
    }

    #[test]
    fn set_into_a_non_object_is_a_conflict() {
        let set = |p: &str, t: Value| Path::parse_reference(p).unwrap().set(t, json!(1));
        assert_eq!(
            set("$.someTaskResult", json!("input1"))
                .unwrap_err()
                .message,
            "Unable to apply ReferencePath $.someTaskResult to input \"input1\""
        );
        assert_eq!(
            set("$.a.b", json!({"a": [1]})).unwrap_err().message,
            "Unable to apply ReferencePath $.a.b to input {\"a\":[1]}"
        );
        assert!(set("$.a[5]", json!({"a": [1]})).is_err());
        assert!(set("$.a[0]", json!({})).is_err());
        assert!(set("$$.Execution", json!({})).is_err());
    }

    #[test]
    fn normalized_form_and_not_found_causes() {
        let path = Path::parse("$.NoSuchInputPath").unwrap();
        assert_eq!(path.normalized(), "$['NoSuchInputPath']");
        // AWS conformance: INVALID_JSONPATH_IN_INPUTPATH.
        assert_eq!(
            path.not_found_cause(&json!({"int-literal": 0})),
            "Invalid path '$.NoSuchInputPath' : No results for path: $['NoSuchInputPath']"
        );
        let nested = Path::parse("$.a.b[2]").unwrap();
        assert_eq!(nested.normalized(), "$['a']['b'][2]");
        assert_eq!(
            nested.not_found_cause(&json!({})),
            "Invalid path '$.a.b[2]' : Missing property in path $['a']"
        );
        assert_eq!(
            nested.not_found_cause(&json!({"a": {"b": [1]}})),
            "Invalid path '$.a.b[2]' : No results for path: $['a']['b'][2]"
        );
    }

    #[test]
    fn json_eq_compares_numbers_by_value() {
        assert!(json_eq(&json!({"a": [1, 2.0]}), &json!({"a": [1.0, 2]})));
        assert!(!json_eq(&json!([1]), &json!([true])));
        assert!(!json_eq(&json!({"a": 1}), &json!({"b": 1})));
        assert!(json_eq(&json!({"a": 1, "b": 2}), &json!({"b": 2, "a": 1})));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i32>().prop_map(Value::from),
                "[a-c]{0,3}".prop_map(Value::String),
            ];
            leaf.prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::vec(("[a-c]{1,2}", inner), 0..4)
                        .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #[test]
            fn set_then_select_reads_back_the_value(
                target in json_value(),
                names in prop::collection::vec("[a-c]{1,2}", 1..4),
                value in json_value(),
            ) {
                let text = format!("${}", names.iter().map(|n| format!(".{n}")).collect::<String>());
                let path = Path::parse_reference(&text).unwrap();
                match path.set(target.clone(), value.clone()) {
                    Ok(out) => prop_assert_eq!(path.select(&out), Some(value)),
                    Err(e) => {
                        prop_assert!(e.message.starts_with("Unable to apply ReferencePath"));
                        // Only a non-object on the way makes set fail.
                        let mut node = Some(&target);
                        let mut blocked = false;
                        for name in &names {
                            match node {
                                Some(Value::Object(m)) => node = m.get(name),
                                Some(_) => { blocked = true; break; }
                                None => break,
                            }
                        }
                        prop_assert!(blocked);
                    }
                }
            }

            #[test]
            fn normalized_form_selects_the_same(
                input in json_value(),
                names in prop::collection::vec(prop_oneof!["[a-c]{1,2}", "[0-2]"], 0..4),
            ) {
                let text = format!("${}", names.iter().map(|n| match n.parse::<i64>() {
                    Ok(i) => format!("[{i}]"),
                    Err(_) => format!(".{n}"),
                }).collect::<String>());
                let path = Path::parse(&text).unwrap();
                let again = Path::parse(&path.normalized()).unwrap();
                prop_assert_eq!(path.select(&input), again.select(&input));
            }

            #[test]
            fn parsing_arbitrary_text_never_panics(text in "\\PC{0,40}") {
                if let Ok(path) = Path::parse(&text) {
                    let _ = path.select(&json!({"a": [1, {"b": 2}]}));
                }
            }
        }
    }
}
