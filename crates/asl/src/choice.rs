//! Choice rules: the comparison operators and their `…Path` forms, the `Is*` tests,
//! `StringMatches`, and `And`/`Or`/`Not`.
//!
//! What AWS does, and so what this module does:
//! - A comparison of mismatched types is simply false: `null`, strings, objects … against
//!   a numeric, boolean or timestamp operator go to `Default`, `true` is not
//!   `NumericEquals 1`, and a string that is not a valid timestamp is not equal to, less
//!   than or greater than any timestamp.
//! - Numbers compare by value: `0 == 0.0`. (Cairn compares integers and floats exactly.)
//! - Strings compare as Java's `String.compareTo` does: by UTF-16 code units.
//! - A `Variable` that matches nothing is `States.Runtime` ("Invalid path '$.x': The choice
//!   state's condition path references an invalid value."), except under `IsPresent`,
//!   which is then false. A `…Path` operand that matches nothing is the same error.
//! - `And` and `Or` stop at the first rule that decides them.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{Number, Value};

use crate::diagnostic::{pointer, Diagnostic};
use crate::error::Failure;
use crate::path::Path;
use crate::template::Scope;
use crate::timestamp::Timestamp;

/// How deep `And`/`Or`/`Not` may nest. Deeper rules are rejected at parse time, so that
/// neither parsing nor evaluation can exhaust the stack.
pub const MAX_DEPTH: usize = 64;

/// One Choice rule (a top-level rule's `Next` lives in [`crate::model::ChoiceBranch`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// True when every rule is true (never empty).
    And(Vec<Rule>),
    /// True when any rule is true (never empty).
    Or(Vec<Rule>),
    /// True when the rule is false.
    Not(Box<Rule>),
    /// `Variable` and one operator.
    Compare(Comparison),
}

/// A data-test rule: the value at `variable` checked by `test`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// A Reference Path, against the input (`$…`) or the context object (`$$…`).
    pub variable: Path,
    pub test: Test,
}

/// The operator of a comparison, with its operand.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// An operator with the operand written in the definition, e.g. `NumericEquals: 1`.
    Literal(Literal),
    /// A `…Path` operator: the operand is read from the input or context at run time.
    Path { compare: PathCompare, operand: Path },
    /// `IsNull`, `IsPresent`, `IsNumeric`, `IsString`, `IsBoolean`, `IsTimestamp`: true
    /// when the answer to the type test equals `expected`.
    Is { kind: TypeTest, expected: bool },
}

/// An ordering operator's relation: `…Equals`, `…LessThan`, `…GreaterThan`,
/// `…LessThanEquals`, `…GreaterThanEquals`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Relation {
    Equals,
    LessThan,
    GreaterThan,
    LessThanEquals,
    GreaterThanEquals,
}

impl Relation {
    const ALL: [Relation; 5] = [
        Relation::Equals,
        Relation::LessThan,
        Relation::GreaterThan,
        Relation::LessThanEquals,
        Relation::GreaterThanEquals,
    ];

    /// The operator-name suffix: `Equals`, `LessThan`, ….
    pub fn suffix(self) -> &'static str {
        match self {
            Relation::Equals => "Equals",
            Relation::LessThan => "LessThan",
            Relation::GreaterThan => "GreaterThan",
            Relation::LessThanEquals => "LessThanEquals",
            Relation::GreaterThanEquals => "GreaterThanEquals",
        }
    }

    /// Whether `value <relation> operand` holds, given `value.cmp(operand)`.
    pub fn holds(self, ordering: Ordering) -> bool {
        match self {
            Relation::Equals => ordering == Ordering::Equal,
            Relation::LessThan => ordering == Ordering::Less,
            Relation::GreaterThan => ordering == Ordering::Greater,
            Relation::LessThanEquals => ordering != Ordering::Greater,
            Relation::GreaterThanEquals => ordering != Ordering::Less,
        }
    }
}

/// An operator whose operand is a literal in the definition, already checked and typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    String(Relation, String),
    StringMatches(Pattern),
    Numeric(Relation, Number),
    Boolean(bool),
    Timestamp(Relation, Timestamp),
}

/// The operator of a `…Path` comparison; its operand's type is only known at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PathCompare {
    String(Relation),
    Numeric(Relation),
    Boolean,
    Timestamp(Relation),
}

/// The `Is*` type tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TypeTest {
    Null,
    Present,
    Numeric,
    String,
    Boolean,
    Timestamp,
}

impl TypeTest {
    const ALL: [TypeTest; 6] = [
        TypeTest::Null,
        TypeTest::Present,
        TypeTest::Numeric,
        TypeTest::String,
        TypeTest::Boolean,
        TypeTest::Timestamp,
    ];

    /// The operator name: `IsNull`, `IsPresent`, ….
    pub fn operator(self) -> &'static str {
        match self {
            TypeTest::Null => "IsNull",
            TypeTest::Present => "IsPresent",
            TypeTest::Numeric => "IsNumeric",
            TypeTest::String => "IsString",
            TypeTest::Boolean => "IsBoolean",
            TypeTest::Timestamp => "IsTimestamp",
        }
    }

    /// The answer of the test for a selected value (`None`: the path matched nothing).
    pub fn check(self, value: Option<&Value>) -> bool {
        match (self, value) {
            (TypeTest::Present, value) => value.is_some(),
            (_, None) => false,
            (TypeTest::Null, Some(v)) => v.is_null(),
            (TypeTest::Numeric, Some(v)) => v.is_number(),
            (TypeTest::String, Some(v)) => v.is_string(),
            (TypeTest::Boolean, Some(v)) => v.is_boolean(),
            (TypeTest::Timestamp, Some(v)) => as_timestamp(v).is_some(),
        }
    }
}

impl Literal {
    /// Whether `value` (what `Variable` selected) satisfies this operator. A value of
    /// another type than the operator's is `false`.
    pub fn matches(&self, value: &Value) -> bool {
        match self {
            Literal::String(relation, operand) => value
                .as_str()
                .is_some_and(|v| relation.holds(compare_strings(v, operand))),
            Literal::StringMatches(pattern) => value.as_str().is_some_and(|v| pattern.matches(v)),
            Literal::Numeric(relation, operand) => match value {
                Value::Number(v) => compare_numbers(v, operand).is_some_and(|o| relation.holds(o)),
                _ => false,
            },
            Literal::Boolean(operand) => value.as_bool() == Some(*operand),
            Literal::Timestamp(relation, operand) => {
                as_timestamp(value).is_some_and(|v| relation.holds(v.cmp(operand)))
            }
        }
    }
}

impl PathCompare {
    /// Whether `value` (what `Variable` selected) satisfies this operator against
    /// `operand` (what the `…Path` selected). Either side of another type than the
    /// operator's makes it `false`.
    pub fn matches(self, value: &Value, operand: &Value) -> bool {
        match self {
            PathCompare::String(relation) => match (value.as_str(), operand.as_str()) {
                (Some(v), Some(o)) => relation.holds(compare_strings(v, o)),
                _ => false,
            },
            PathCompare::Numeric(relation) => match (value, operand) {
                (Value::Number(v), Value::Number(o)) => {
                    compare_numbers(v, o).is_some_and(|ord| relation.holds(ord))
                }
                _ => false,
            },
            PathCompare::Boolean => match (value.as_bool(), operand.as_bool()) {
                (Some(v), Some(o)) => v == o,
                _ => false,
            },
            PathCompare::Timestamp(relation) => {
                match (as_timestamp(value), as_timestamp(operand)) {
                    (Some(v), Some(o)) => relation.holds(v.cmp(&o)),
                    _ => false,
                }
            }
        }
    }
}

fn as_timestamp(value: &Value) -> Option<Timestamp> {
    value.as_str().and_then(Timestamp::parse)
}

/// Compares strings as Java's `String.compareTo` does: by UTF-16 code units. This differs
/// from code point (and UTF-8 byte) order only when characters from U+E000–U+FFFF meet
/// characters above U+FFFF, which UTF-16 encodes with surrogates (U+D800–U+DFFF).
pub fn compare_strings(a: &str, b: &str) -> Ordering {
    // The first differing character decides; a proper prefix is smaller.
    for (x, y) in a.chars().zip(b.chars()) {
        if x != y {
            return utf16_key(x).cmp(&utf16_key(y));
        }
    }
    a.len().cmp(&b.len())
}

/// Orders characters by their UTF-16 encoding: the first code unit, then (when both are
/// supplementary characters with the same high surrogate) the code point itself.
fn utf16_key(c: char) -> (u32, u32) {
    let cp = u32::from(c);
    if cp > 0xFFFF {
        (0xD800 + ((cp - 0x1_0000) >> 10), cp)
    } else {
        (cp, cp)
    }
}

/// Compares JSON numbers by their exact value, whether integers or floats (`0 == 0.0`).
/// `None` only for a NaN, which JSON cannot carry.
pub fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    match (integer(a), integer(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        (Some(x), None) => compare_integer_float(x, b.as_f64()?),
        (None, Some(y)) => compare_integer_float(y, a.as_f64()?).map(Ordering::reverse),
        (None, None) => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

fn integer(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

/// Compares an integer with a float exactly (no rounding of the integer to f64).
fn compare_integer_float(i: i128, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    // 2^127: beyond every i128 (and every JSON integer serde keeps).
    const LIMIT: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;
    if f >= LIMIT {
        return Some(Ordering::Less);
    }
    if f < -LIMIT {
        return Some(Ordering::Greater);
    }
    let whole = f.trunc();
    // |whole| < 2^127 and integral, so the conversion is exact.
    match i.cmp(&(whole as i128)) {
        Ordering::Equal if f > whole => Some(Ordering::Less),
        Ordering::Equal if f < whole => Some(Ordering::Greater),
        ordering => Some(ordering),
    }
}

/// A `StringMatches` pattern: `*` matches any run of characters (possibly empty); `\*` is
/// a literal `*` and `\\` a literal `\` (written `"\\*"` and `"\\\\"` in JSON). Any other
/// backslash is itself. The whole string must match; there are no other metacharacters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// The literal runs between the wildcards; `parts.len() - 1` wildcards. Never empty.
    parts: Vec<String>,
}

impl Pattern {
    pub fn new(pattern: &str) -> Pattern {
        let mut parts = vec![String::new()];
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.peek() {
                    Some(&next @ ('*' | '\\')) => {
                        chars.next();
                        push_char(&mut parts, next);
                    }
                    _ => push_char(&mut parts, '\\'),
                },
                '*' => parts.push(String::new()),
                c => push_char(&mut parts, c),
            }
        }
        Pattern { parts }
    }

    /// Whether the whole of `text` matches. Greedy-leftmost matching of the literal runs,
    /// which is exact for a `*`-only language: O(len(text) × len(pattern)) at worst, never
    /// exponential.
    pub fn matches(&self, text: &str) -> bool {
        let Some((first, rest)) = self.parts.split_first() else {
            return text.is_empty();
        };
        let Some((last, middle)) = rest.split_last() else {
            return text == first; // no wildcard
        };
        // The first run anchors the start, the last one the end; they must not overlap.
        if text.len() < first.len() + last.len()
            || !text.starts_with(first.as_str())
            || !text.ends_with(last.as_str())
        {
            return false;
        }
        // Both ends are char boundaries: `first` and `last` are whole strings that match
        // at the ends of `text`.
        let Some(mut window) = text.get(first.len()..text.len() - last.len()) else {
            return false;
        };
        for part in middle {
            match window.find(part.as_str()) {
                Some(at) => match window.get(at + part.len()..) {
                    Some(rest) => window = rest,
                    None => return false,
                },
                None => return false,
            }
        }
        true
    }
}

fn push_char(parts: &mut [String], c: char) {
    if let Some(last) = parts.last_mut() {
        last.push(c);
    }
}

/// The kind of operand an operator takes, decided by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OperatorKind {
    String(Relation),
    StringMatches,
    Numeric(Relation),
    Boolean,
    Timestamp(Relation),
    Path(PathCompare),
    Is(TypeTest),
}

/// Every comparison operator name ASL defines, with its kind.
fn operator_kind(name: &str) -> Option<OperatorKind> {
    if name == "StringMatches" {
        return Some(OperatorKind::StringMatches);
    }
    if let Some(kind) = TypeTest::ALL.into_iter().find(|t| t.operator() == name) {
        return Some(OperatorKind::Is(kind));
    }
    let (base, is_path) = match name.strip_suffix("Path") {
        Some(base) => (base, true),
        None => (name, false),
    };
    let literal = if base == "BooleanEquals" {
        OperatorKind::Boolean
    } else {
        let (family, relation_name) = ["String", "Numeric", "Timestamp"]
            .into_iter()
            .find_map(|family| base.strip_prefix(family).map(|rest| (family, rest)))?;
        let relation = Relation::ALL
            .into_iter()
            .find(|r| r.suffix() == relation_name)?;
        match family {
            "String" => OperatorKind::String(relation),
            "Numeric" => OperatorKind::Numeric(relation),
            _ => OperatorKind::Timestamp(relation),
        }
    };
    if !is_path {
        return Some(literal);
    }
    let compare = match literal {
        OperatorKind::String(r) => PathCompare::String(r),
        OperatorKind::Numeric(r) => PathCompare::Numeric(r),
        OperatorKind::Timestamp(r) => PathCompare::Timestamp(r),
        OperatorKind::Boolean => PathCompare::Boolean,
        _ => return None,
    };
    Some(OperatorKind::Path(compare))
}

/// The JSON type name AWS uses in "Expected value of type …" messages.
fn expected_type(expected: &str) -> String {
    format!("Expected value of type {expected}")
}

/// Reads a literal operand of `kind`, or says why it is not one.
fn literal_operand(kind: OperatorKind, value: &Value) -> Result<Literal, String> {
    match kind {
        OperatorKind::String(relation) => value
            .as_str()
            .map(|s| Literal::String(relation, s.to_owned()))
            .ok_or_else(|| expected_type("String")),
        OperatorKind::StringMatches => value
            .as_str()
            .map(|s| Literal::StringMatches(Pattern::new(s)))
            .ok_or_else(|| expected_type("String")),
        OperatorKind::Numeric(relation) => match value {
            Value::Number(n) => Ok(Literal::Numeric(relation, n.clone())),
            _ => Err(expected_type("Number")),
        },
        OperatorKind::Boolean => value
            .as_bool()
            .map(Literal::Boolean)
            .ok_or_else(|| expected_type("Boolean")),
        OperatorKind::Timestamp(relation) => {
            let text = value.as_str().ok_or_else(|| expected_type("String"))?;
            Timestamp::parse(text)
                .map(|t| Literal::Timestamp(relation, t))
                .ok_or_else(|| "String does not match RFC3339 timestamp".to_string())
        }
        OperatorKind::Path(_) | OperatorKind::Is(_) => Err("not a literal operator".to_string()),
    }
}

fn parse_path(field: &str, value: &Value) -> Result<Path, String> {
    let text = value.as_str().ok_or_else(|| expected_type("String"))?;
    Path::parse_reference(text).map_err(|error| {
        format!("The value for the field '{field}' must be a valid JSONPath ({error})")
    })
}

/// The fields a rule may carry besides its operator or combinator.
const VARIABLE: &str = "Variable";
const NEXT: &str = "Next";
const COMMENT: &str = "Comment";
const ASSIGN: &str = "Assign";
const COMBINATORS: [&str; 3] = ["And", "Or", "Not"];

impl Rule {
    /// Parses a rule at `location` (a JSON pointer such as `/States/Check/Choices/0`),
    /// pushing a diagnostic for each problem. `top_level` rules must carry `Next`
    /// (read by the caller); nested ones must not.
    ///
    /// Checked here: that the rule is an object with exactly one of `And` (non-empty
    /// array), `Or` (non-empty array), `Not` (one rule) or a `Variable` (a Reference Path)
    /// with exactly one operator whose operand has the operator's type (`…Path` operands
    /// are Reference Paths, `Timestamp…` operands valid timestamps, `Is…` booleans); that
    /// a top-level rule has a string `Next` and a nested one has none; that `Comment` is
    /// a string; and that no other field is present (a top-level rule may also carry
    /// `Assign`, which the caller reads). Nesting deeper than [`MAX_DEPTH`] is rejected.
    pub fn parse(
        value: &Value,
        location: &str,
        top_level: bool,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<Rule> {
        let before = diagnostics.len();
        let rule = parse_rule(value, location, top_level, 0, diagnostics);
        // Only a rule without any problem anywhere inside is returned.
        if diagnostics.len() == before {
            rule
        } else {
            None
        }
    }

    /// Evaluates the rule. A `Variable` that matches nothing is `States.Runtime`, as AWS
    /// reports it; comparisons of mismatched types are simply false.
    pub fn evaluate(&self, scope: Scope<'_>) -> Result<bool, Failure> {
        match self {
            Rule::And(rules) => {
                for rule in rules {
                    if !rule.evaluate(scope)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Rule::Or(rules) => {
                for rule in rules {
                    if rule.evaluate(scope)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Rule::Not(rule) => Ok(!rule.evaluate(scope)?),
            Rule::Compare(comparison) => comparison.evaluate(scope),
        }
    }
}

impl Comparison {
    pub fn evaluate(&self, scope: Scope<'_>) -> Result<bool, Failure> {
        let value = select(&self.variable, scope);
        match &self.test {
            Test::Is {
                kind: TypeTest::Present,
                expected,
            } => Ok(value.is_some() == *expected),
            Test::Is { kind, expected } => {
                let value = value.ok_or_else(|| invalid_path(&self.variable))?;
                Ok(kind.check(Some(&*value)) == *expected)
            }
            Test::Literal(literal) => {
                let value = value.ok_or_else(|| invalid_path(&self.variable))?;
                Ok(literal.matches(&value))
            }
            Test::Path { compare, operand } => {
                let value = value.ok_or_else(|| invalid_path(&self.variable))?;
                let operand_value = select(operand, scope).ok_or_else(|| invalid_path(operand))?;
                Ok(compare.matches(&value, &operand_value))
            }
        }
    }
}

/// What `path` selects, borrowed from the scope (a Reference Path never builds a value).
fn select<'a>(path: &Path, scope: Scope<'a>) -> Option<Cow<'a, Value>> {
    scope.select(path)
}

/// AWS's error for a Choice path that matches nothing.
fn invalid_path(path: &Path) -> Failure {
    Failure::runtime(format!(
        "Invalid path '{}': The choice state's condition path references an invalid value.",
        path.source()
    ))
}

fn parse_rule(
    value: &Value,
    location: &str,
    top_level: bool,
    depth: usize,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Rule> {
    let Some(object) = value.as_object() else {
        diagnostics.push(Diagnostic::schema(location, expected_type("Object")));
        return None;
    };
    if depth > MAX_DEPTH {
        diagnostics.push(Diagnostic::schema(
            location,
            format!("Choice rules may be nested at most {MAX_DEPTH} levels deep"),
        ));
        return None;
    }

    let mut combinators: Vec<(&str, &Value)> = Vec::new();
    let mut operators: Vec<(&str, OperatorKind, &Value)> = Vec::new();
    let mut variable: Option<&Value> = None;
    let mut has_next = false;
    for (key, field) in object {
        let key = key.as_str();
        let at = || pointer(location, key);
        if COMBINATORS.contains(&key) {
            combinators.push((key, field));
        } else if let Some(kind) = operator_kind(key) {
            operators.push((key, kind, field));
        } else if key == VARIABLE {
            variable = Some(field);
        } else if key == COMMENT {
            if !field.is_string() {
                diagnostics.push(Diagnostic::schema(at(), expected_type("String")));
            }
        } else if key == NEXT && top_level {
            has_next = true;
            if !field.is_string() {
                diagnostics.push(Diagnostic::schema(at(), expected_type("String")));
            }
        } else if key == NEXT {
            diagnostics.push(Diagnostic::schema(
                at(),
                "Field 'Next' is not allowed in a nested Choice rule",
            ));
        } else if key == ASSIGN && top_level {
            // Read and checked by the caller.
        } else {
            diagnostics.push(Diagnostic::schema(
                at(),
                format!("Field '{key}' is not supported"),
            ));
        }
    }
    if top_level && !has_next {
        diagnostics.push(Diagnostic::schema(
            location,
            "These fields are required: [Next]",
        ));
    }

    // A rule is exactly one of: And, Or, Not, or a comparison.
    let is_comparison = variable.is_some() || !operators.is_empty();
    if combinators.len() + usize::from(is_comparison) > 1 {
        let mut found: Vec<&str> = combinators.iter().map(|(k, _)| *k).collect();
        if is_comparison {
            found.push("a comparison");
        }
        diagnostics.push(Diagnostic::schema(
            location,
            format!(
                "A Choice rule must be exactly one of And, Or, Not or a comparison, found {}",
                found.join(", ")
            ),
        ));
        return None;
    }

    if let Some(&(key, field)) = combinators.first() {
        let at = pointer(location, key);
        if key == "Not" {
            return parse_rule(field, &at, false, depth + 1, diagnostics)
                .map(|rule| Rule::Not(Box::new(rule)));
        }
        let Some(items) = field.as_array() else {
            diagnostics.push(Diagnostic::schema(at, expected_type("Array")));
            return None;
        };
        if items.is_empty() {
            diagnostics.push(Diagnostic::schema(
                at,
                format!("{key} must contain at least one Choice rule"),
            ));
            return None;
        }
        let mut rules = Vec::with_capacity(items.len());
        let mut ok = true;
        for (index, item) in items.iter().enumerate() {
            let item_at = pointer(&at, &index.to_string());
            match parse_rule(item, &item_at, false, depth + 1, diagnostics) {
                Some(rule) => rules.push(rule),
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        return Some(if key == "And" {
            Rule::And(rules)
        } else {
            Rule::Or(rules)
        });
    }

    parse_comparison(location, variable, &operators, diagnostics)
}

fn parse_comparison(
    location: &str,
    variable: Option<&Value>,
    operators: &[(&str, OperatorKind, &Value)],
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Rule> {
    let variable = match variable {
        Some(field) => match parse_path(VARIABLE, field) {
            Ok(path) => Some(path),
            Err(message) => {
                diagnostics.push(Diagnostic::schema(pointer(location, VARIABLE), message));
                None
            }
        },
        None if operators.is_empty() => {
            diagnostics.push(Diagnostic::schema(
                location,
                "A Choice rule must have And, Or, Not, or a Variable with a comparison operator",
            ));
            return None;
        }
        None => {
            diagnostics.push(Diagnostic::schema(
                location,
                "These fields are required: [Variable]",
            ));
            None
        }
    };

    let test = match operators {
        [] => {
            diagnostics.push(Diagnostic::schema(
                location,
                "A comparison must have one comparison operator, such as StringEquals",
            ));
            None
        }
        [(key, kind, operand)] => {
            let at = pointer(location, key);
            let test = match *kind {
                OperatorKind::Is(kind) => operand
                    .as_bool()
                    .map(|expected| Test::Is { kind, expected })
                    .ok_or_else(|| expected_type("Boolean")),
                OperatorKind::Path(compare) => {
                    parse_path(key, operand).map(|operand| Test::Path { compare, operand })
                }
                kind => literal_operand(kind, operand).map(Test::Literal),
            };
            match test {
                Ok(test) => Some(test),
                Err(message) => {
                    diagnostics.push(Diagnostic::schema(at, message));
                    None
                }
            }
        }
        several => {
            let names: Vec<&str> = several.iter().map(|(key, _, _)| *key).collect();
            diagnostics.push(Diagnostic::schema(
                location,
                format!(
                    "A comparison must have exactly one comparison operator, found {}",
                    names.join(", ")
                ),
            ));
            None
        }
    };

    Some(Rule::Compare(Comparison {
        variable: variable?,
        test: test?,
    }))
}

/// The first of a JSONata Choice state's `choices` whose `Condition` holds in `session`
/// (`None`: the `Default` applies). A condition that yields anything but a boolean is a
/// failure, as AWS reports it.
pub fn first_jsonata_match<'c>(
    session: &mut crate::jsonata::Session<'_>,
    choices: &'c [crate::model::ChoiceBranch],
) -> Result<Option<&'c crate::model::ChoiceBranch>, crate::jsonata::template::EvaluationFailure> {
    for (i, branch) in choices.iter().enumerate() {
        let crate::model::Condition::Jsonata(condition) = &branch.condition else {
            continue;
        };
        let field = format!("Choices[{i}].Condition");
        match condition.evaluate(session, &field)? {
            Value::Bool(true) => return Ok(Some(branch)),
            Value::Bool(false) => {}
            other => {
                return Err(crate::jsonata::template::EvaluationFailure {
                    location: field,
                    source: condition
                        .as_expression()
                        .map(|e| e.source().to_string())
                        .unwrap_or_default(),
                    error: crate::jsonata::EvalError::UnexpectedType {
                        expected: "boolean",
                        value: Box::new(other),
                    },
                });
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn literal(operator: &str, operand: Value) -> Literal {
        let kind = operator_kind(operator).unwrap_or_else(|| panic!("{operator} is an operator"));
        literal_operand(kind, &operand).unwrap_or_else(|e| panic!("{operator}: {e}"))
    }

    /// Checks one corpus-style tuple on plain values: `operator` with `operand` (a literal,
    /// or for `…Path` operators the value the path selected) against `variable`.
    fn check(operator: &str, operand: &Value, variable: &Value) -> bool {
        match operator_kind(operator) {
            Some(OperatorKind::Path(compare)) => compare.matches(variable, operand),
            Some(OperatorKind::Is(kind)) => {
                kind.check(Some(variable)) == operand.as_bool().unwrap_or_else(|| panic!())
            }
            Some(kind) => literal_operand(kind, operand)
                .unwrap_or_else(|e| panic!("{operator}: {e}"))
                .matches(variable),
            None => panic!("unknown operator {operator}"),
        }
    }

    /// The value types AWS's choice operator tests run every operator against.
    fn corpus_values() -> Vec<Value> {
        vec![
            json!(null),
            json!(0),
            json!(0.0),
            json!(1),
            json!(1.1),
            json!(""),
            json!(" "),
            json!("HelloWorld"),
            json!("2012-10-09T19:00:55"),
            json!("2012-10-09T19:00:55Z"),
            json!("2012-10-09T19:00:55+01:00"),
            json!("2023-02-24"),
            json!([]),
            json!([""]),
            json!({}),
            json!({"A": 0}),
            json!(true),
            json!(false),
        ]
    }

    #[test]
    fn every_operator_name_is_known() {
        let mut names = vec!["StringMatches", "BooleanEquals", "BooleanEqualsPath"];
        for family in ["String", "Numeric", "Timestamp"] {
            for relation in Relation::ALL {
                names.push(Box::leak(
                    format!("{family}{}", relation.suffix()).into_boxed_str(),
                ));
                names.push(Box::leak(
                    format!("{family}{}Path", relation.suffix()).into_boxed_str(),
                ));
            }
        }
        for t in TypeTest::ALL {
            names.push(t.operator());
        }
        assert_eq!(names.len(), 3 + 30 + 6);
        for name in &names {
            assert!(operator_kind(name).is_some(), "{name}");
        }
        assert_eq!(
            operator_kind("NumericLessThanEqualsPath"),
            Some(OperatorKind::Path(PathCompare::Numeric(
                Relation::LessThanEquals
            )))
        );
        assert_eq!(
            operator_kind("TimestampGreaterThan"),
            Some(OperatorKind::Timestamp(Relation::GreaterThan))
        );
        for not_an_operator in [
            "StringMatchesPath",
            "IsNullPath",
            "IsPresentPath",
            "BooleanLessThan",
            "BooleanEqualsPathPath",
            "NumericEqual",
            "numericEquals",
            "String",
            "Path",
            "Equals",
            "Condition",
            "Variable",
        ] {
            assert_eq!(operator_kind(not_an_operator), None, "{not_an_operator}");
        }
    }

    #[test]
    fn type_mismatches_are_false() {
        // From the corpus: against every non-matching type, every typed operator is false.
        for value in corpus_values() {
            if !value.is_boolean() {
                assert!(!check("BooleanEquals", &json!(true), &value), "{value}");
                assert!(!check("BooleanEquals", &json!(false), &value), "{value}");
                assert!(!check("BooleanEqualsPath", &json!(true), &value), "{value}");
            }
            if !value.is_number() {
                for op in [
                    "NumericEquals",
                    "NumericLessThanEquals",
                    "NumericGreaterThanEquals",
                ] {
                    assert!(!check(op, &json!(0), &value), "{op} {value}");
                    assert!(!check(op, &json!(1.0), &value), "{op} {value}");
                    assert!(
                        !check(&format!("{op}Path"), &json!(0), &value),
                        "{op} {value}"
                    );
                }
            }
            if !value.is_string() {
                for op in [
                    "StringEquals",
                    "StringLessThanEquals",
                    "StringGreaterThanEquals",
                ] {
                    assert!(!check(op, &json!("HelloWorld"), &value), "{op} {value}");
                    assert!(!check(op, &json!(""), &value), "{op} {value}");
                }
                assert!(!check("StringMatches", &json!("*"), &value), "{value}");
            }
            if value != json!("2012-10-09T19:00:55Z") {
                assert!(!check(
                    "TimestampEquals",
                    &json!("2012-10-09T19:00:55Z"),
                    &value
                ));
            }
        }
        // `true` is not 1, 1 is not `true`, "1" is not 1.
        assert!(!check("NumericEquals", &json!(1), &json!(true)));
        assert!(!check("BooleanEquals", &json!(true), &json!(1)));
        assert!(!check("NumericEquals", &json!(1), &json!("1")));
        assert!(!check("StringEquals", &json!("1"), &json!(1)));
        // The operand of a …Path operator is type-checked the same way.
        assert!(!check("NumericEqualsPath", &json!("1"), &json!(1)));
        assert!(!check("NumericEqualsPath", &json!({"value": 8}), &json!(8)));
        assert!(!check("StringEqualsPath", &json!(null), &json!("null")));
        assert!(!check(
            "TimestampEqualsPath",
            &json!("x"),
            &json!("2012-10-09T19:00:55Z")
        ));
        assert!(!check("BooleanEqualsPath", &json!("true"), &json!(true)));
    }

    #[test]
    fn type_tests_match_the_corpus() {
        for value in corpus_values() {
            for (op, answer) in [
                ("IsNull", value.is_null()),
                ("IsNumeric", value.is_number()),
                ("IsString", value.is_string()),
                ("IsBoolean", value.is_boolean()),
                ("IsPresent", true),
            ] {
                assert_eq!(check(op, &json!(true), &value), answer, "{op} true {value}");
                assert_eq!(
                    check(op, &json!(false), &value),
                    !answer,
                    "{op} false {value}"
                );
            }
        }
        assert!(TypeTest::Timestamp.check(Some(&json!("2012-10-09T19:00:55Z"))));
        assert!(TypeTest::Timestamp.check(Some(&json!("2012-10-09T19:00:55+01:00"))));
        assert!(!TypeTest::Timestamp.check(Some(&json!("2012-10-09T19:00:55"))));
        assert!(!TypeTest::Timestamp.check(Some(&json!("2023-02-24"))));
        assert!(!TypeTest::Timestamp.check(Some(&json!(1_349_809_255))));
        assert!(!TypeTest::Present.check(None));
        assert!(!TypeTest::Null.check(None));
    }

    #[test]
    fn numeric_operators() {
        // From the corpus.
        for (op, operand, value, expected) in [
            ("NumericEquals", json!(0), json!(0), true),
            ("NumericEquals", json!(0), json!(0.0), true),
            ("NumericEquals", json!(0.0), json!(0), true),
            ("NumericEquals", json!(1.0), json!(1), true),
            ("NumericEquals", json!(1), json!(1.0), true),
            ("NumericEquals", json!(1), json!(1.1), false),
            ("NumericEquals", json!(1.0), json!(0), false),
            ("NumericEquals", json!(2.22), json!(2.22), true),
            ("NumericGreaterThan", json!(0), json!(0), false),
            ("NumericGreaterThan", json!(0), json!(0.0), false),
            ("NumericGreaterThan", json!(1), json!(0), false),
            ("NumericGreaterThan", json!(0), json!(1), true),
            ("NumericGreaterThanEquals", json!(0), json!(0.0), true),
            ("NumericGreaterThanEquals", json!(1), json!(0), false),
            ("NumericGreaterThanEquals", json!(1), json!(1), true),
            ("NumericLessThan", json!(0), json!(0.0), false),
            ("NumericLessThan", json!(1), json!(0), true),
            ("NumericLessThan", json!(0), json!(1), false),
            ("NumericLessThanEquals", json!(0), json!(0.0), true),
            ("NumericLessThanEquals", json!(1), json!(0), true),
            ("NumericLessThanEquals", json!(0), json!(1), false),
            // Beyond the corpus.
            ("NumericEquals", json!(-0.0), json!(0), true),
            ("NumericLessThan", json!(-1), json!(-1.5), true),
            ("NumericGreaterThan", json!(-2), json!(-1.5), true),
            ("NumericEquals", json!(u64::MAX), json!(u64::MAX), true),
            ("NumericGreaterThan", json!(-1), json!(u64::MAX), true),
            ("NumericLessThan", json!(i64::MIN), json!(u64::MAX), false),
        ] {
            assert_eq!(
                check(op, &operand, &value),
                expected,
                "{value} {op} {operand}"
            );
            let path_op = format!("{op}Path");
            assert_eq!(
                check(&path_op, &operand, &value),
                expected,
                "{value} {path_op} {operand}"
            );
        }
    }

    #[test]
    fn numbers_compare_exactly() {
        let n = |v: Value| match v {
            Value::Number(n) => n,
            _ => panic!(),
        };
        // 2^53 + 1 is not representable as f64; it is still greater than 2^53 as a float.
        let big = n(json!(9_007_199_254_740_993_i64));
        let float = n(json!(9_007_199_254_740_992.0));
        assert_eq!(compare_numbers(&big, &float), Some(Ordering::Greater));
        assert_eq!(compare_numbers(&float, &big), Some(Ordering::Less));
        assert_eq!(
            compare_numbers(&n(json!(3)), &n(json!(2.5))),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare_numbers(&n(json!(-3)), &n(json!(-2.5))),
            Some(Ordering::Less)
        );
        assert_eq!(
            compare_numbers(&n(json!(2)), &n(json!(2.0))),
            Some(Ordering::Equal)
        );
        assert_eq!(
            compare_numbers(&n(json!(i64::MAX)), &n(json!(1e300))),
            Some(Ordering::Less)
        );
        assert_eq!(
            compare_numbers(&n(json!(i64::MIN)), &n(json!(-1e300))),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare_numbers(&n(json!(0.1)), &n(json!(0.2))),
            Some(Ordering::Less)
        );
    }

    #[test]
    fn string_operators() {
        // From the corpus.
        for (op, operand, value, expected) in [
            ("StringEquals", "     ", " ", false),
            ("StringEquals", "\t\r\n", "\t\n", false),
            ("StringEquals", "Hello", "Hello", true),
            ("StringGreaterThan", "", "", false),
            ("StringGreaterThan", "A ", "A", false),
            ("StringGreaterThan", "A\t\n\r", "A", false),
            ("StringGreaterThan", "ABC", "AB", false),
            ("StringGreaterThanEquals", "", "", true),
            ("StringGreaterThanEquals", "AB", "A", false),
            ("StringGreaterThanEquals", "A", "AB", true),
            ("StringLessThan", "", "", false),
            ("StringLessThan", "AB", "A", true),
            ("StringLessThan", "A", "AB", false),
            ("StringLessThanEquals", "", "", true),
            ("StringLessThanEquals", "AB", "A", true),
            ("StringLessThanEquals", "A", "AB", false),
            // Beyond the corpus: case-sensitive, by code unit.
            ("StringLessThan", "a", "B", true),
            ("StringEquals", "hello", "Hello", false),
            ("StringGreaterThan", "A", "É", true),
        ] {
            assert_eq!(
                check(op, &json!(operand), &json!(value)),
                expected,
                "{value:?} {op} {operand:?}"
            );
            let path_op = format!("{op}Path");
            assert_eq!(
                check(&path_op, &json!(operand), &json!(value)),
                expected,
                "{value:?} {path_op} {operand:?}"
            );
        }
    }

    #[test]
    fn strings_order_by_utf16_code_units() {
        // U+FF61 sorts after U+1F600 (😀 is D83D DE00 in UTF-16), unlike code point order.
        assert_eq!(compare_strings("\u{FF61}", "\u{1F600}"), Ordering::Greater);
        assert_eq!(compare_strings("\u{1F600}", "\u{FF61}"), Ordering::Less);
        assert_eq!(compare_strings("\u{1F600}", "\u{1F601}"), Ordering::Less);
        assert_eq!(compare_strings("\u{10000}", "\u{1F600}"), Ordering::Less);
        assert_eq!(compare_strings("\u{D7FF}", "\u{10000}"), Ordering::Less);
        assert_eq!(compare_strings("a\u{1F600}", "a\u{1F600}"), Ordering::Equal);
        assert_eq!(compare_strings("ab", "abc"), Ordering::Less);
        assert_eq!(compare_strings("abc", "ab"), Ordering::Greater);
        assert_eq!(compare_strings("", ""), Ordering::Equal);
        assert_eq!(compare_strings("é", "z"), Ordering::Greater);
    }

    #[test]
    fn boolean_operators() {
        for (operand, value, expected) in [
            (true, json!(true), true),
            (true, json!(false), false),
            (false, json!(false), true),
            (false, json!(true), false),
        ] {
            assert_eq!(check("BooleanEquals", &json!(operand), &value), expected);
            assert_eq!(
                check("BooleanEqualsPath", &json!(operand), &value),
                expected
            );
        }
    }

    #[test]
    fn timestamp_operators() {
        let t55 = json!("2012-10-09T19:00:55Z");
        let t56 = json!("2012-10-09T19:00:56Z");
        // From the corpus.
        for (op, operand, value, expected) in [
            ("TimestampEquals", &t55, &t55, true),
            ("TimestampEquals", &t56, &t55, false),
            ("TimestampEquals", &t55, &t56, false),
            ("TimestampGreaterThan", &t55, &t55, false),
            ("TimestampGreaterThan", &t56, &t55, false),
            ("TimestampGreaterThan", &t55, &t56, true),
            ("TimestampGreaterThanEquals", &t55, &t55, true),
            ("TimestampGreaterThanEquals", &t56, &t55, false),
            ("TimestampGreaterThanEquals", &t55, &t56, true),
            ("TimestampLessThan", &t55, &t55, false),
            ("TimestampLessThan", &t56, &t55, true),
            ("TimestampLessThan", &t55, &t56, false),
            ("TimestampLessThanEquals", &t55, &t55, true),
            ("TimestampLessThanEquals", &t56, &t55, true),
            ("TimestampLessThanEquals", &t55, &t56, false),
        ] {
            assert_eq!(
                check(op, operand, value),
                expected,
                "{value} {op} {operand}"
            );
            let path_op = format!("{op}Path");
            assert_eq!(
                check(&path_op, operand, value),
                expected,
                "{value} {path_op} {operand}"
            );
        }
        // Instants, not texts.
        assert!(check(
            "TimestampEquals",
            &t55,
            &json!("2012-10-09T20:00:55+01:00")
        ));
        assert!(check(
            "TimestampEquals",
            &t55,
            &json!("2012-10-09T19:00:55.000Z")
        ));
        assert!(check(
            "TimestampLessThan",
            &t56,
            &json!("2012-10-09T19:00:55.999999999Z")
        ));
        // Not timestamps: false whatever the relation.
        for op in [
            "TimestampEquals",
            "TimestampLessThan",
            "TimestampGreaterThanEquals",
        ] {
            for value in [
                json!("2023-02-24 12:15:56.832957"),
                json!("2012-10-09T19:00:55"),
                json!("2012-10-09t19:00:55z"),
                json!(1_349_809_255),
            ] {
                assert!(!check(op, &t55, &value), "{value} {op}");
            }
        }
    }

    #[test]
    fn string_matches() {
        let m = |pattern: &str, text: &str| Pattern::new(pattern).matches(text);
        assert!(m("log-*.txt", "log-2024.txt"));
        assert!(m("log-*.txt", "log-.txt"));
        assert!(!m("log-*.txt", "log-2024.txt.gz"));
        assert!(!m("log-*.txt", "xlog-1.txt"));
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("**", "anything"));
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("abc", "abc"));
        assert!(!m("abc", "abcd"));
        assert!(!m("abc", "ab"));
        assert!(m("*abc", "abcabc"));
        assert!(m("abc*", "abcabc"));
        assert!(m("a*a", "aa"));
        assert!(!m("a*a", "a"));
        assert!(m("a*b*c", "aXbYc"));
        assert!(m("a*b*c", "abc"));
        assert!(m("a*b*c", "abbbcbc"));
        assert!(!m("a*b*c", "acb"));
        assert!(m("*.txt", "a.txt.txt"));
        assert!(m("*ab*ab*", "xxabyyab"));
        assert!(!m("*ab*ab*", "xxaby"));
        // Case-sensitive, no regex or glob metacharacters besides `*`.
        assert!(!m("ABC", "abc"));
        assert!(!m("a?c", "abc"));
        assert!(m("a?c", "a?c"));
        assert!(m("a.c", "a.c"));
        assert!(!m("a.c", "abc"));
        assert!(m("[ab]", "[ab]"));
        // Escapes: `\*` is a literal star, `\\` a literal backslash.
        assert!(m(r"a\*b", "a*b"));
        assert!(!m(r"a\*b", "axb"));
        assert!(m(r"a\\b", r"a\b"));
        assert!(m(r"a\\*", r"a\anything"));
        assert!(!m(r"a\\*", "aanything"));
        assert!(m(r"\**", "*x"));
        assert!(!m(r"\**", "x*"));
        // Any other backslash stands for itself.
        assert!(m(r"a\b", r"a\b"));
        assert!(m(r"a\", r"a\"));
        // Multibyte text.
        assert!(m("日*語", "日本語"));
        assert!(m("*😀", "a😀"));
        assert!(!m("日*語", "日本"));
    }

    #[test]
    fn string_matches_is_not_exponential() {
        let text = "a".repeat(20_000);
        let pattern = format!("{}b", "a*".repeat(200));
        assert!(!Pattern::new(&pattern).matches(&text));
        let pattern = format!("{}a", "*a".repeat(200));
        assert!(Pattern::new(&pattern).matches(&text));
    }

    /// Every `choice_operators` case of the AWS-recorded conformance corpus, checked on
    /// plain values (the input's `Variable` against the literal, or against the input's
    /// `Value` for `…Path` operators). Skipped when the corpus is not checked out.
    #[test]
    fn conformance_corpus_choice_operators() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/conformance/cases/choice_operators");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            eprintln!("corpus not found at {}; skipped", dir.display());
            return;
        };
        let mut count = 0;
        for entry in entries.flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let case: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let rule = &case["definition"]["States"]["CheckValues"]["Choices"][0];
            let (operator, operand) = rule
                .as_object()
                .and_then(|o| o.iter().find(|(k, _)| *k != "Variable" && *k != "Next"))
                .unwrap_or_else(|| panic!("{}: no operator", entry.path().display()));
            assert_eq!(rule["Variable"], "$.Variable");
            let input = &case["input"];
            let operand = match operator_kind(operator) {
                Some(OperatorKind::Path(_)) => {
                    assert_eq!(operand, "$.Value");
                    &input["Value"]
                }
                _ => operand,
            };
            let expected = case["expected"]["output"]["TestResult.$"] == "ConditionTrue";
            assert_eq!(
                check(operator, operand, &input["Variable"]),
                expected,
                "{}: {operator} {operand} on {}",
                entry.path().display(),
                input["Variable"]
            );
            count += 1;
        }
        assert_eq!(count, 472);
    }

    // --- parsing (the parts that need no path) ---

    fn parse(value: Value, top_level: bool) -> (Option<Rule>, Vec<Diagnostic>) {
        let mut diagnostics = Vec::new();
        let rule = Rule::parse(
            &value,
            "/States/Check/Choices/0",
            top_level,
            &mut diagnostics,
        );
        (rule, diagnostics)
    }

    fn messages(diagnostics: &[Diagnostic]) -> Vec<(String, String)> {
        diagnostics
            .iter()
            .map(|d| {
                assert_eq!(d.code, crate::DiagnosticCode::SchemaValidationFailed);
                (d.location.clone(), d.message.clone())
            })
            .collect()
    }

    #[test]
    fn literal_operands_are_type_checked() {
        for (operator, operand, message) in [
            ("StringEquals", json!(1), "Expected value of type String"),
            (
                "StringLessThan",
                json!(null),
                "Expected value of type String",
            ),
            (
                "StringMatches",
                json!(["*"]),
                "Expected value of type String",
            ),
            ("NumericEquals", json!("1"), "Expected value of type Number"),
            (
                "NumericGreaterThan",
                json!(true),
                "Expected value of type Number",
            ),
            (
                "BooleanEquals",
                json!("true"),
                "Expected value of type Boolean",
            ),
            ("BooleanEquals", json!(1), "Expected value of type Boolean"),
            ("TimestampEquals", json!(0), "Expected value of type String"),
            (
                "TimestampLessThan",
                json!("2016-12-05T21:29:29"),
                "String does not match RFC3339 timestamp",
            ),
            (
                "TimestampLessThan",
                json!("2016-13-05T21:29:29Z"),
                "String does not match RFC3339 timestamp",
            ),
            ("IsNull", json!("true"), "Expected value of type Boolean"),
            ("IsPresent", json!(1), "Expected value of type Boolean"),
            ("IsTimestamp", json!(null), "Expected value of type Boolean"),
            (
                "NumericEqualsPath",
                json!(1),
                "Expected value of type String",
            ),
        ] {
            // Without a Variable, so that no path is parsed: the operand is still checked.
            let (rule, diagnostics) = parse(json!({ operator: operand, "Next": "X" }), true);
            assert_eq!(rule, None);
            assert_eq!(
                messages(&diagnostics),
                vec![
                    (
                        "/States/Check/Choices/0".to_string(),
                        "These fields are required: [Variable]".to_string()
                    ),
                    (
                        format!("/States/Check/Choices/0/{operator}"),
                        message.to_string()
                    ),
                ],
                "{operator}: {operand}"
            );
        }
        assert_eq!(
            literal("TimestampEquals", json!("2016-03-05T21:29:29.243167252Z")),
            Literal::Timestamp(
                Relation::Equals,
                Timestamp(1_457_213_369 * Timestamp::NANOS_PER_SECOND + 243_167_252)
            )
        );
        assert_eq!(
            literal("StringMatches", json!("a*")),
            Literal::StringMatches(Pattern::new("a*"))
        );
    }

    #[test]
    fn rule_shape_is_checked() {
        let at = |suffix: &str| format!("/States/Check/Choices/0{suffix}");
        // Not an object.
        let (rule, d) = parse(json!("StringEquals"), true);
        assert_eq!(rule, None);
        assert_eq!(
            messages(&d),
            vec![(at(""), "Expected value of type Object".into())]
        );
        // Nothing to test.
        let (_, d) = parse(json!({"Next": "X"}), true);
        assert_eq!(
            messages(&d),
            vec![(
                at(""),
                "A Choice rule must have And, Or, Not, or a Variable with a comparison operator"
                    .into()
            )]
        );
        // Top level without Next; unknown fields; a non-string Comment.
        let (_, d) = parse(json!({"And": [], "Foo": 1, "Comment": 2}), true);
        assert_eq!(
            messages(&d),
            vec![
                (at("/Foo"), "Field 'Foo' is not supported".into()),
                (at("/Comment"), "Expected value of type String".into()),
                (at(""), "These fields are required: [Next]".into()),
                (
                    at("/And"),
                    "And must contain at least one Choice rule".into()
                ),
            ]
        );
        // A non-string Next.
        let (_, d) = parse(json!({"Or": {}, "Next": 1}), true);
        assert_eq!(
            messages(&d),
            vec![
                (at("/Next"), "Expected value of type String".into()),
                (at("/Or"), "Expected value of type Array".into()),
            ]
        );
        // Two combinators.
        let (_, d) = parse(json!({"And": [], "Not": {}, "Next": "X"}), true);
        assert_eq!(
            messages(&d),
            vec![(
                at(""),
                "A Choice rule must be exactly one of And, Or, Not or a comparison, found And, Not"
                    .into()
            )]
        );
        // A combinator and an operator.
        let (_, d) = parse(json!({"Not": {}, "IsNull": true, "Next": "X"}), true);
        assert_eq!(
            messages(&d),
            vec![(
                at(""),
                "A Choice rule must be exactly one of And, Or, Not or a comparison, found Not, a comparison"
                    .into()
            )]
        );
        // Two operators.
        let (_, d) = parse(
            json!({"IsNull": true, "IsString": false, "Next": "X"}),
            true,
        );
        assert_eq!(
            messages(&d),
            vec![
                (at(""), "These fields are required: [Variable]".into()),
                (
                    at(""),
                    "A comparison must have exactly one comparison operator, found IsNull, IsString"
                        .into()
                ),
            ]
        );
        // JSONata's Condition is not a JSONPath rule field.
        let (_, d) = parse(json!({"Condition": "{% true %}", "Next": "X"}), true);
        assert_eq!(d[0].location, at("/Condition"));
    }

    #[test]
    fn nested_rules_must_not_have_next_or_assign() {
        let (rule, d) = parse(
            json!({
                "Not": {"Not": {"Next": "X", "Assign": {}, "Comment": "fine", "IsNull": 1}},
                "Next": "X",
                "Assign": {"a": 1},
                "Comment": "top"
            }),
            true,
        );
        assert_eq!(rule, None);
        assert_eq!(
            messages(&d),
            vec![
                (
                    "/States/Check/Choices/0/Not/Not/Next".into(),
                    "Field 'Next' is not allowed in a nested Choice rule".into()
                ),
                (
                    "/States/Check/Choices/0/Not/Not/Assign".into(),
                    "Field 'Assign' is not supported".into()
                ),
                (
                    "/States/Check/Choices/0/Not/Not".into(),
                    "These fields are required: [Variable]".into()
                ),
                (
                    "/States/Check/Choices/0/Not/Not/IsNull".into(),
                    "Expected value of type Boolean".into()
                ),
            ]
        );
        // Called as a nested rule, Next is also refused.
        let (_, d) = parse(json!({"Or": [1], "Next": "X"}), false);
        assert_eq!(
            messages(&d),
            vec![
                (
                    "/States/Check/Choices/0/Next".into(),
                    "Field 'Next' is not allowed in a nested Choice rule".into()
                ),
                (
                    "/States/Check/Choices/0/Or/0".into(),
                    "Expected value of type Object".into()
                ),
            ]
        );
    }

    #[test]
    fn array_items_are_located() {
        let (_, d) = parse(
            json!({"And": [{"Or": [{}, {"Not": []}]}], "Next": "X"}),
            true,
        );
        let locations: Vec<&str> = d.iter().map(|d| d.location.as_str()).collect();
        assert_eq!(
            locations,
            [
                "/States/Check/Choices/0/And/0/Or/0",
                "/States/Check/Choices/0/And/0/Or/1/Not"
            ]
        );
    }

    #[test]
    fn nesting_depth_is_capped() {
        let mut value = json!({"Variable": "$.x", "IsNull": true});
        for _ in 0..1_000 {
            value = json!({ "Not": value });
        }
        let (rule, d) = parse(value, false);
        assert_eq!(rule, None);
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].message,
            format!("Choice rules may be nested at most {MAX_DEPTH} levels deep")
        );
        assert_eq!(d[0].location.matches("/Not").count(), MAX_DEPTH + 1);
    }

    // --- with paths: parsing and evaluating whole rules ---

    fn rule(value: Value) -> Rule {
        match parse(value.clone(), true) {
            (Some(rule), d) if d.is_empty() => rule,
            (_, d) => panic!("{value} should parse: {d:?}"),
        }
    }

    fn eval(rule: &Rule, input: &Value) -> Result<bool, Failure> {
        let context = json!({"Execution": {"Input": input}, "State": {"Name": "Check"}});
        rule.evaluate(Scope {
            input,
            context: &context,
            variables: &crate::variables::NoVariables,
        })
    }

    fn invalid(path: &str) -> Failure {
        Failure::runtime(format!(
            "Invalid path '{path}': The choice state's condition path references an invalid value."
        ))
    }

    #[test]
    fn parses_into_typed_rules() {
        let parsed = rule(json!({
            "And": [
                {"Variable": "$.value", "NumericGreaterThanEquals": 20},
                {"Not": {"Variable": "$$.Execution.Input.type", "StringEqualsPath": "$.other"}},
                {"Or": [{"Variable": "$.a[0]", "IsPresent": false, "Comment": "nested comment"}]}
            ],
            "Next": "ValueInTwenties",
            "Comment": "a comment",
            "Assign": {"x.$": "$.value"}
        }));
        let Rule::And(rules) = &parsed else {
            panic!("{parsed:?}")
        };
        assert_eq!(rules.len(), 3);
        let Rule::Compare(first) = &rules[0] else {
            panic!()
        };
        assert_eq!(first.variable.source(), "$.value");
        assert_eq!(
            first.test,
            Test::Literal(Literal::Numeric(Relation::GreaterThanEquals, 20.into()))
        );
        let Rule::Not(inner) = &rules[1] else {
            panic!()
        };
        let Rule::Compare(second) = &**inner else {
            panic!()
        };
        assert!(second.variable.is_context());
        assert!(matches!(
            &second.test,
            Test::Path { compare: PathCompare::String(Relation::Equals), operand } if operand.source() == "$.other"
        ));
        let Rule::Or(alternatives) = &rules[2] else {
            panic!()
        };
        assert!(matches!(
            &alternatives[0],
            Rule::Compare(Comparison {
                test: Test::Is {
                    kind: TypeTest::Present,
                    expected: false
                },
                ..
            })
        ));
    }

    #[test]
    fn paths_are_checked_at_parse_time() {
        let at = |suffix: &str| format!("/States/Check/Choices/0{suffix}");
        for bad in ["x", "", "$.a[*]", "$..a", "$.a[?(@.b)]", "$.a[0:2]"] {
            let (rule, d) = parse(json!({"Variable": bad, "IsNull": true, "Next": "X"}), true);
            assert_eq!(rule, None, "{bad}");
            assert_eq!(d.len(), 1, "{bad}: {d:?}");
            assert_eq!(d[0].location, at("/Variable"));
            assert!(
                d[0].message
                    .starts_with("The value for the field 'Variable' must be a valid JSONPath"),
                "{}",
                d[0].message
            );
            let (_, d) = parse(
                json!({"Variable": "$.a", "TimestampLessThanPath": bad, "Next": "X"}),
                true,
            );
            assert_eq!(d.len(), 1, "{bad}: {d:?}");
            assert_eq!(d[0].location, at("/TimestampLessThanPath"));
            assert!(d[0].message.starts_with(
                "The value for the field 'TimestampLessThanPath' must be a valid JSONPath"
            ));
        }
        let (_, d) = parse(json!({"Variable": 1, "IsNull": true, "Next": "X"}), true);
        assert_eq!(
            messages(&d),
            vec![(at("/Variable"), "Expected value of type String".into())]
        );
        // Variable without an operator.
        let (_, d) = parse(json!({"Variable": "$.a", "Next": "X"}), true);
        assert_eq!(
            messages(&d),
            vec![(
                at(""),
                "A comparison must have one comparison operator, such as StringEquals".into()
            )]
        );
        // `$$` operands and variables are fine.
        rule(
            json!({"Variable": "$$.Execution.Input.a", "NumericEqualsPath": "$$.State.EnteredTime", "Next": "X"}),
        );
        rule(json!({"Variable": "$", "IsString": true, "Next": "X"}));
        rule(json!({"Variable": "$['detail-type'][0]", "StringMatches": "a*", "Next": "X"}));
    }

    #[test]
    fn evaluates_the_aws_docs_example() {
        // scenarios/TestBaseScenarios__test_choice_aws_docs_scenario (and friends)
        let choices = [
            rule(
                json!({"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"}),
            ),
            rule(json!({"Variable": "$.value", "NumericEquals": 0, "Next": "ValueIsZero"})),
            rule(json!({"And": [
                {"Variable": "$.value", "NumericGreaterThanEquals": 20},
                {"Variable": "$.value", "NumericLessThan": 30}
            ], "Next": "ValueInTwenties"})),
        ];
        let first_match = |input: Value| -> Option<usize> {
            choices.iter().position(|c| eval(c, &input) == Ok(true))
        };
        assert_eq!(
            first_match(json!({"type": "Private", "value": 22})),
            Some(2)
        );
        assert_eq!(first_match(json!({"type": "Public", "value": 3})), Some(0));
        assert_eq!(first_match(json!({"type": "Private", "value": 0})), Some(1));
        assert_eq!(first_match(json!({"type": "Private", "value": 30})), None);
        // A singleton And (CHOICE_STATE_SINGLETON_COMPOSITE; moto's choice miss).
        let single =
            rule(json!({"And": [{"Variable": "$.type", "StringEquals": "Public"}], "Next": "P"}));
        assert_eq!(
            eval(&single, &json!({"type": "Public", "value": 22})),
            Ok(true)
        );
        assert_eq!(eval(&single, &json!({"type": "Private"})), Ok(false));
        // The Map break condition on `$` (TestBaseScenarios__test_map_state_break_condition).
        let brk = rule(json!({"And": [
            {"IsPresent": true, "Variable": "$"},
            {"And": [{"IsNumeric": true, "Variable": "$"}, {"NumericEquals": 3, "Variable": "$"}]}
        ], "Next": "Break"}));
        assert_eq!(eval(&brk, &json!(3)), Ok(true));
        assert_eq!(eval(&brk, &json!(2)), Ok(false));
        assert_eq!(eval(&brk, &json!("3")), Ok(false));
        // The context object (context_object/TestSnfBase__test_variable).
        let ctx = rule(
            json!({"Variable": "$$.Execution.Input.input-value", "NumericLessThanEquals": 0, "Next": "Q"}),
        );
        assert_eq!(eval(&ctx, &json!({"input-value": 0})), Ok(true));
        assert_eq!(eval(&ctx, &json!({"input-value": 1})), Ok(false));
    }

    #[test]
    fn missing_paths() {
        let input = json!({"present": 1, "nested": {"a": null}, "list": [1]});
        // IsPresent is the one test that tolerates a missing path.
        for (variable, present) in [
            ("$.present", true),
            ("$.nested.a", true),
            ("$.list[0]", true),
            ("$.missing", false),
            ("$.nested.b", false),
            ("$.present.deeper", false),
            ("$.list[1]", false),
            ("$.missing.deeper", false),
        ] {
            let yes = rule(json!({"Variable": variable, "IsPresent": true, "Next": "X"}));
            let no = rule(json!({"Variable": variable, "IsPresent": false, "Next": "X"}));
            assert_eq!(eval(&yes, &input), Ok(present), "{variable}");
            assert_eq!(eval(&no, &input), Ok(!present), "{variable}");
        }
        // Every other operator fails with States.Runtime, IsNull included.
        for (operator, operand) in [
            ("IsNull", json!(true)),
            ("IsNull", json!(false)),
            ("IsString", json!(false)),
            ("IsTimestamp", json!(false)),
            ("StringEquals", json!("a")),
            ("StringMatches", json!("*")),
            ("NumericEquals", json!(1)),
            ("BooleanEquals", json!(true)),
            ("TimestampEquals", json!("2012-10-09T19:00:55Z")),
            ("NumericEqualsPath", json!("$.present")),
        ] {
            let r = rule(json!({"Variable": "$.missing", operator: operand, "Next": "X"}));
            let failure = eval(&r, &input);
            assert_eq!(failure, Err(invalid("$.missing")), "{operator}");
            // …and not catchable by States.ALL.
            assert!(failure.is_err_and(|f| f.error == "States.Runtime" && !f.is_catchable_by_all()));
        }
        // A …Path operand that matches nothing fails the same way, naming that path.
        let r = rule(json!({"Variable": "$.present", "NumericEqualsPath": "$.right", "Next": "X"}));
        assert_eq!(eval(&r, &input), Err(invalid("$.right")));
        let r = rule(
            json!({"Variable": "$.present", "StringLessThanPath": "$$.Execution.Nope", "Next": "X"}),
        );
        assert_eq!(eval(&r, &input), Err(invalid("$$.Execution.Nope")));
        // A missing Variable is reported before the operand.
        let r = rule(json!({"Variable": "$.missing", "NumericEqualsPath": "$.right", "Next": "X"}));
        assert_eq!(eval(&r, &input), Err(invalid("$.missing")));
        // Inside Not, the error passes through rather than becoming `true`.
        let r = rule(json!({"Not": {"Variable": "$.missing", "IsNull": true}, "Next": "X"}));
        assert_eq!(eval(&r, &input), Err(invalid("$.missing")));
    }

    #[test]
    fn and_or_stop_early() {
        let input = json!({"a": 1});
        let missing = json!({"Variable": "$.missing", "NumericEquals": 1});
        let yes = json!({"Variable": "$.a", "NumericEquals": 1});
        let no = json!({"Variable": "$.a", "NumericEquals": 2});
        let and = rule(json!({"And": [no, missing], "Next": "X"}));
        assert_eq!(eval(&and, &input), Ok(false));
        let and = rule(json!({"And": [yes, missing], "Next": "X"}));
        assert_eq!(eval(&and, &input), Err(invalid("$.missing")));
        let or = rule(json!({"Or": [yes, missing], "Next": "X"}));
        assert_eq!(eval(&or, &input), Ok(true));
        let or = rule(json!({"Or": [no, missing], "Next": "X"}));
        assert_eq!(eval(&or, &input), Err(invalid("$.missing")));
        let or = rule(json!({"Or": [no, no], "Next": "X"}));
        assert_eq!(eval(&or, &input), Ok(false));
        let and = rule(json!({"And": [yes, {"Not": no}], "Next": "X"}));
        assert_eq!(eval(&and, &input), Ok(true));
    }

    #[test]
    fn deepest_allowed_nesting_evaluates() {
        let mut value = json!({"Variable": "$.x", "IsNull": true});
        for _ in 0..MAX_DEPTH {
            value = json!({ "Not": value });
        }
        let mut top = value.as_object().cloned().unwrap_or_default();
        top.insert("Next".into(), json!("X"));
        let r = rule(Value::Object(top));
        // MAX_DEPTH negations (an even number) of `IsNull`.
        assert_eq!(MAX_DEPTH % 2, 0);
        assert_eq!(eval(&r, &json!({"x": null})), Ok(true));
        assert_eq!(eval(&r, &json!({"x": 0})), Ok(false));
    }

    /// The whole `choice_operators` group end to end: parse the recorded rule, evaluate it
    /// on the recorded input, compare with the branch AWS took.
    #[test]
    fn conformance_corpus_end_to_end() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/conformance/cases/choice_operators");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            eprintln!("corpus not found at {}; skipped", dir.display());
            return;
        };
        let mut count = 0;
        for entry in entries.flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let case: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let mut diagnostics = Vec::new();
            let parsed = Rule::parse(
                &case["definition"]["States"]["CheckValues"]["Choices"][0],
                "/States/CheckValues/Choices/0",
                true,
                &mut diagnostics,
            );
            assert!(diagnostics.is_empty(), "{diagnostics:?}");
            let Some(parsed) = parsed else { panic!() };
            let expected = case["expected"]["output"]["TestResult.$"] == "ConditionTrue";
            assert_eq!(
                eval(&parsed, &case["input"]),
                Ok(expected),
                "{}",
                entry.path().display()
            );
            count += 1;
        }
        assert_eq!(count, 472);
    }

    fn collect_choice_rules(value: &Value, location: &str, out: &mut Vec<(String, Value)>) {
        match value {
            Value::Object(object) => {
                if object.get("Type") == Some(&json!("Choice")) {
                    if let Some(Value::Array(choices)) = object.get("Choices") {
                        for (i, choice) in choices.iter().enumerate() {
                            out.push((format!("{location}/Choices/{i}"), choice.clone()));
                        }
                    }
                }
                for (key, child) in object {
                    collect_choice_rules(child, &pointer(location, key), out);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    collect_choice_rules(child, &pointer(location, &i.to_string()), out);
                }
            }
            _ => {}
        }
    }

    /// Every JSONPath Choice rule anywhere in the corpus (scenarios, base, test_state, …)
    /// parses without a diagnostic. Skipped when the corpus is not checked out.
    #[test]
    fn conformance_corpus_rules_all_parse() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/conformance/cases");
        let Ok(groups) = std::fs::read_dir(&root) else {
            eprintln!("corpus not found at {}; skipped", root.display());
            return;
        };
        let mut rules = Vec::new();
        for group in groups.flatten() {
            let Ok(cases) = std::fs::read_dir(group.path()) else {
                continue;
            };
            for case in cases.flatten() {
                let text = std::fs::read_to_string(case.path()).unwrap_or_default();
                // JSONata Choice rules (`Condition`) are not this module's.
                if text.contains("JSONata") || text.contains("{%") {
                    continue;
                }
                let case: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                let mut definition = case["definition"].clone();
                if let Some(text) = case["request"]["definition"].as_str() {
                    definition = serde_json::from_str(text).unwrap_or(Value::Null);
                }
                collect_choice_rules(&definition, "", &mut rules);
            }
        }
        assert!(rules.len() >= 500, "{}", rules.len());
        for (location, value) in &rules {
            // Workflow variables (`$guess`) need variable support in paths and scopes.
            if value.to_string().contains("\"$guess\"") {
                continue;
            }
            let mut diagnostics = Vec::new();
            let parsed = Rule::parse(value, location, true, &mut diagnostics);
            assert!(diagnostics.is_empty(), "{value}: {diagnostics:?}");
            assert!(parsed.is_some());
        }
    }
}
