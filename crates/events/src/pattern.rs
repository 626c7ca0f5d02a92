//! Event patterns: AWS's matching language, parsed once ([`Pattern::parse`]) and matched
//! against events ([`Pattern::matches`]).
//!
//! A pattern is a JSON object whose leaves are arrays of conditions; an event matches when
//! every field the pattern names matches one of its conditions. Conditions are exact
//! values (strings, numbers, booleans, null) or one-member objects: `prefix`, `suffix`
//! (each also with `equals-ignore-case` inside), `equals-ignore-case`, `anything-but` (a
//! value, a list, or a `prefix`/`suffix`/`equals-ignore-case`/`wildcard` inside),
//! `numeric` (one or two comparisons), `exists`, `cidr` and `wildcard`. `$or` at any
//! object level takes a list of patterns, one of which must match.
//!
//! An event's arrays are flattened, as AWS flattens them: a field matches when any of its
//! values does, and a pattern object applies to every object of an array of objects.

use std::net::IpAddr;

use serde_json::{Map, Value};

/// Why a pattern is refused: the text after `Event pattern is not valid. Reason: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Event pattern is not valid. Reason: {0}")]
pub struct PatternError(pub String);

fn invalid<T>(reason: impl Into<String>) -> Result<T, PatternError> {
    Err(PatternError(reason.into()))
}

/// AWS's limit on the numbers of `numeric` conditions: ±5e9, 15 significant digits.
const NUMERIC_LIMIT: f64 = 5.0e9;

/// A parsed event pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    root: Node,
}

/// One object level of a pattern: fields to match, and `$or` alternatives.
#[derive(Debug, Clone, PartialEq)]
struct Node {
    fields: Vec<(String, Field)>,
    /// Each `$or` at this level: one of its patterns must match.
    any_of: Vec<Vec<Node>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Field {
    Object(Node),
    Conditions(Vec<Condition>),
}

/// One condition of a leaf.
#[derive(Debug, Clone, PartialEq)]
enum Condition {
    Exact(Value),
    Prefix(String, Case),
    Suffix(String, Case),
    EqualsIgnoreCase(String),
    Wildcard(String),
    AnythingBut(Not),
    Numeric(Vec<(Comparison, f64)>),
    Exists(bool),
    Cidr(Cidr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Sensitive,
    Ignored,
}

/// What `anything-but` excludes.
#[derive(Debug, Clone, PartialEq)]
enum Not {
    Values(Vec<Value>),
    Prefixes(Vec<String>),
    Suffixes(Vec<String>),
    IgnoringCase(Vec<String>),
    Wildcards(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
struct Cidr {
    network: IpAddr,
    bits: u8,
}

impl Pattern {
    /// Parses pattern text as EventBridge does; the error says why it is refused.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| PatternError(format!("Filter is not valid JSON: {e}")))?;
        let Value::Object(object) = value else {
            return invalid("Filter is not an object");
        };
        Ok(Pattern {
            root: node(&object, "")?,
        })
    }

    /// Whether `event` (an event envelope, or any JSON document) matches.
    pub fn matches(&self, event: &Value) -> bool {
        self.root.matches(&[event])
    }
}

fn node(object: &Map<String, Value>, at: &str) -> Result<Node, PatternError> {
    if object.is_empty() {
        return invalid(format!("Empty objects are not allowed{}", place(at)));
    }
    let mut node = Node {
        fields: Vec::new(),
        any_of: Vec::new(),
    };
    for (key, value) in object {
        let here = if at.is_empty() {
            key.clone()
        } else {
            format!("{at}.{key}")
        };
        if key == "$or" {
            let Value::Array(alternatives) = value else {
                return invalid(format!("Value of $or must be an array{}", place(at)));
            };
            if alternatives.len() < 2 {
                return invalid(format!(
                    "Value of $or must have at least 2 elements{}",
                    place(at)
                ));
            }
            let mut parsed = Vec::with_capacity(alternatives.len());
            for alternative in alternatives {
                let Value::Object(alternative) = alternative else {
                    return invalid(format!("Elements of $or must be objects{}", place(at)));
                };
                parsed.push(self::node(alternative, at)?);
            }
            node.any_of.push(parsed);
            continue;
        }
        let field = match value {
            Value::Object(inner) => Field::Object(self::node(inner, &here)?),
            Value::Array(conditions) => Field::Conditions(self::conditions(conditions, &here)?),
            _ => {
                return invalid(format!(
                    "Match value must be a JSON array or object at \"{here}\""
                ))
            }
        };
        node.fields.push((key.clone(), field));
    }
    Ok(node)
}

fn place(at: &str) -> String {
    if at.is_empty() {
        String::new()
    } else {
        format!(" at \"{at}\"")
    }
}

fn conditions(list: &[Value], at: &str) -> Result<Vec<Condition>, PatternError> {
    if list.is_empty() {
        return invalid(format!("Empty arrays are not allowed at \"{at}\""));
    }
    list.iter().map(|value| condition(value, at)).collect()
}

fn condition(value: &Value, at: &str) -> Result<Condition, PatternError> {
    match value {
        Value::Object(object) => operator(object, at),
        Value::Array(_) => invalid(format!(
            "Match value must be String, number, true, false, or null at \"{at}\""
        )),
        Value::Number(n) => {
            let Some(f) = n.as_f64() else {
                return invalid(format!("Number is not valid at \"{at}\""));
            };
            Ok(Condition::Exact(Value::from(f)))
        }
        other => Ok(Condition::Exact(other.clone())),
    }
}

fn operator(object: &Map<String, Value>, at: &str) -> Result<Condition, PatternError> {
    let mut members = object.iter();
    let (Some((name, argument)), None) = (members.next(), members.next()) else {
        return invalid(format!(
            "Only one key allowed in match expression at \"{at}\""
        ));
    };
    match name.as_str() {
        "prefix" => {
            let (text, case) = affix(argument, "prefix", at)?;
            Ok(Condition::Prefix(text, case))
        }
        "suffix" => {
            let (text, case) = affix(argument, "suffix", at)?;
            Ok(Condition::Suffix(text, case))
        }
        "equals-ignore-case" => match argument {
            Value::String(s) => Ok(Condition::EqualsIgnoreCase(s.to_lowercase())),
            _ => invalid(format!(
                "equals-ignore-case match pattern must be a string at \"{at}\""
            )),
        },
        "wildcard" => match argument {
            Value::String(s) => Ok(Condition::Wildcard(wildcard(s, at)?)),
            _ => invalid(format!(
                "wildcard match pattern must be a string at \"{at}\""
            )),
        },
        "anything-but" => Ok(Condition::AnythingBut(anything_but(argument, at)?)),
        "numeric" => Ok(Condition::Numeric(numeric(argument, at)?)),
        "exists" => match argument {
            Value::Bool(b) => Ok(Condition::Exists(*b)),
            _ => invalid(format!(
                "exists match pattern must be either true or false at \"{at}\""
            )),
        },
        "cidr" => match argument {
            Value::String(s) => Ok(Condition::Cidr(cidr(s, at)?)),
            _ => invalid(format!("prefix match pattern must be a string at \"{at}\"")),
        },
        other => invalid(format!("Unrecognized match type {other} at \"{at}\"")),
    }
}

/// A `prefix` or `suffix` argument: a string, or `{"equals-ignore-case": string}`.
fn affix(argument: &Value, kind: &str, at: &str) -> Result<(String, Case), PatternError> {
    match argument {
        Value::String(s) => Ok((s.clone(), Case::Sensitive)),
        Value::Object(inner) if inner.len() == 1 => match inner.get("equals-ignore-case") {
            Some(Value::String(s)) => Ok((s.to_lowercase(), Case::Ignored)),
            _ => invalid(format!(
                "Unsupported {kind} pattern: only equals-ignore-case is allowed inside {kind} at \"{at}\""
            )),
        },
        _ => invalid(format!("{kind} match pattern must be a string at \"{at}\"")),
    }
}

fn anything_but(argument: &Value, at: &str) -> Result<Not, PatternError> {
    let strings = |value: &Value, kind: &str| -> Result<Vec<String>, PatternError> {
        match value {
            Value::String(s) => Ok(vec![s.clone()]),
            Value::Array(items) if !items.is_empty() => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    _ => invalid(format!(
                        "Inside anything-but/{kind} list, number|start|null|boolean is not supported at \"{at}\""
                    )),
                })
                .collect(),
            _ => invalid(format!(
                "Value of anything-but/{kind} must be a string or a non-empty array of strings at \"{at}\""
            )),
        }
    };
    match argument {
        Value::String(_) | Value::Number(_) => Ok(Not::Values(vec![normalise(argument)])),
        Value::Array(items) => {
            if items.is_empty() {
                return invalid(format!("Empty arrays are not allowed at \"{at}\""));
            }
            let mut values = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(_) | Value::Number(_) => values.push(normalise(item)),
                    _ => {
                        return invalid(format!(
                        "Inside anything but list, start|null|boolean is not supported at \"{at}\""
                    ))
                    }
                }
            }
            Ok(Not::Values(values))
        }
        Value::Object(inner) if inner.len() == 1 => {
            let (kind, value) = inner
                .iter()
                .next()
                .map(|(k, v)| (k.as_str(), v))
                .unwrap_or(("", &Value::Null));
            match kind {
                "prefix" => Ok(Not::Prefixes(strings(value, kind)?)),
                "suffix" => Ok(Not::Suffixes(strings(value, kind)?)),
                "equals-ignore-case" => Ok(Not::IgnoringCase(
                    strings(value, kind)?
                        .iter()
                        .map(|s| s.to_lowercase())
                        .collect(),
                )),
                "wildcard" => Ok(Not::Wildcards(
                    strings(value, kind)?
                        .iter()
                        .map(|s| wildcard(s, at))
                        .collect::<Result<_, _>>()?,
                )),
                other => invalid(format!(
                    "Unsupported anything-but pattern: {other} at \"{at}\""
                )),
            }
        }
        _ => invalid(format!(
            "Value of anything-but must be an array or single string/number value at \"{at}\""
        )),
    }
}

/// A number as the exact and anything-but conditions compare it (as a float).
fn normalise(value: &Value) -> Value {
    match value.as_f64() {
        Some(f) if value.is_number() => Value::from(f),
        _ => value.clone(),
    }
}

fn numeric(argument: &Value, at: &str) -> Result<Vec<(Comparison, f64)>, PatternError> {
    let Value::Array(items) = argument else {
        return invalid(format!("Value of numeric must be an array at \"{at}\""));
    };
    let bad = || invalid(format!("Bad numeric range operator at \"{at}\""));
    let mut comparisons = Vec::new();
    let mut rest = items.as_slice();
    while !rest.is_empty() {
        let [Value::String(op), bound, tail @ ..] = rest else {
            return bad();
        };
        let comparison = match op.as_str() {
            "=" => Comparison::Eq,
            "<" => Comparison::Lt,
            "<=" => Comparison::Le,
            ">" => Comparison::Gt,
            ">=" => Comparison::Ge,
            _ => return bad(),
        };
        let Some(bound) = bound.as_f64().filter(|_| bound.is_number()) else {
            return invalid(format!("Value of {op} must be numeric at \"{at}\""));
        };
        if !(-NUMERIC_LIMIT..=NUMERIC_LIMIT).contains(&bound) {
            return invalid(format!(
                "Value of {op} must be between -5.0E9 and 5.0E9 at \"{at}\""
            ));
        }
        comparisons.push((comparison, bound));
        rest = tail;
    }
    // One equality, one bound, or a lower bound then an upper bound.
    let ok = match comparisons.as_slice() {
        [_] => true,
        [(low, a), (high, b)] => {
            matches!(low, Comparison::Gt | Comparison::Ge)
                && matches!(high, Comparison::Lt | Comparison::Le)
                && a < b
        }
        _ => false,
    };
    if !ok {
        return bad();
    }
    Ok(comparisons)
}

fn wildcard(text: &str, at: &str) -> Result<String, PatternError> {
    if text.contains("**") {
        return invalid(format!(
            "Consecutive wildcard characters at pos {} at \"{at}\"",
            text.find("**").unwrap_or(0) + 1
        ));
    }
    Ok(text.to_string())
}

fn cidr(text: &str, at: &str) -> Result<Cidr, PatternError> {
    let bad = || invalid(format!("Nonstandard IP address: {text} at \"{at}\""));
    let (address, bits) = match text.split_once('/') {
        Some((address, bits)) => (address, Some(bits)),
        None => (text, None),
    };
    let Ok(network) = address.parse::<IpAddr>() else {
        return bad();
    };
    let max = if network.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        None => max,
        Some(bits) => match bits.parse::<u8>() {
            Ok(b) if b <= max => b,
            _ => return bad(),
        },
    };
    Ok(Cidr { network, bits })
}

impl Node {
    /// Whether this level matches the event objects `here` (an array's objects flattened).
    fn matches(&self, here: &[&Value]) -> bool {
        self.fields.iter().all(|(name, field)| {
            let mut values = Vec::new();
            for value in here {
                if let Value::Object(object) = value {
                    if let Some(v) = object.get(name) {
                        flatten(v, &mut values);
                    }
                }
            }
            match field {
                Field::Object(inner) => {
                    let objects: Vec<&Value> =
                        values.into_iter().filter(|v| v.is_object()).collect();
                    !objects.is_empty() && inner.matches(&objects)
                }
                Field::Conditions(conditions) => conditions.iter().any(|c| c.matches(&values)),
            }
        }) && self
            .any_of
            .iter()
            .all(|alternatives| alternatives.iter().any(|n| n.matches(here)))
    }
}

/// An event value with its arrays flattened: the values a condition is tried on.
fn flatten<'v>(value: &'v Value, into: &mut Vec<&'v Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| flatten(item, into)),
        other => into.push(other),
    }
}

impl Condition {
    /// Whether the condition holds for a field with `values` (none: the field is absent).
    fn matches(&self, values: &[&Value]) -> bool {
        match self {
            Condition::Exists(wanted) => {
                let exists = values.iter().any(|v| !v.is_object());
                exists == *wanted
            }
            other => values.iter().any(|value| other.matches_one(value)),
        }
    }

    fn matches_one(&self, value: &Value) -> bool {
        match self {
            Condition::Exact(expected) => match (expected, value) {
                (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
                (a, b) => a == b,
            },
            Condition::Prefix(prefix, case) => {
                string(value).is_some_and(|s| fold(s, *case).starts_with(prefix.as_str()))
            }
            Condition::Suffix(suffix, case) => {
                string(value).is_some_and(|s| fold(s, *case).ends_with(suffix.as_str()))
            }
            Condition::EqualsIgnoreCase(expected) => {
                string(value).is_some_and(|s| s.to_lowercase() == *expected)
            }
            Condition::Wildcard(pattern) => string(value).is_some_and(|s| glob(pattern, s)),
            Condition::AnythingBut(not) => not.allows(value),
            Condition::Numeric(comparisons) => value.as_f64().is_some_and(|n| {
                value.is_number()
                    && comparisons.iter().all(|(op, bound)| match op {
                        Comparison::Eq => n == *bound,
                        Comparison::Lt => n < *bound,
                        Comparison::Le => n <= *bound,
                        Comparison::Gt => n > *bound,
                        Comparison::Ge => n >= *bound,
                    })
            }),
            Condition::Cidr(cidr) => string(value)
                .and_then(|s| s.parse::<IpAddr>().ok())
                .is_some_and(|ip| cidr.contains(ip)),
            Condition::Exists(_) => false,
        }
    }
}

impl Not {
    fn allows(&self, value: &Value) -> bool {
        match self {
            Not::Values(excluded) => {
                // Only strings and numbers can be compared with what anything-but lists.
                let normalised = normalise(value);
                (value.is_string() || value.is_number()) && !excluded.contains(&normalised)
            }
            Not::Prefixes(p) => {
                string(value).is_some_and(|s| !p.iter().any(|p| s.starts_with(p.as_str())))
            }
            Not::Suffixes(p) => {
                string(value).is_some_and(|s| !p.iter().any(|p| s.ends_with(p.as_str())))
            }
            Not::IgnoringCase(p) => string(value).is_some_and(|s| !p.contains(&s.to_lowercase())),
            Not::Wildcards(p) => string(value).is_some_and(|s| !p.iter().any(|p| glob(p, s))),
        }
    }
}

fn string(value: &Value) -> Option<&str> {
    value.as_str()
}

fn fold(text: &str, case: Case) -> std::borrow::Cow<'_, str> {
    match case {
        Case::Sensitive => std::borrow::Cow::Borrowed(text),
        Case::Ignored => std::borrow::Cow::Owned(text.to_lowercase()),
    }
}

/// `*` matches any run of characters; `\*` a star and `\\` a backslash.
fn glob(pattern: &str, text: &str) -> bool {
    // Split into literal pieces between unescaped stars.
    let mut pieces: Vec<String> = vec![String::new()];
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped) => pieces.last_mut().into_iter().for_each(|p| p.push(escaped)),
                None => pieces.last_mut().into_iter().for_each(|p| p.push('\\')),
            },
            '*' => pieces.push(String::new()),
            other => pieces.last_mut().into_iter().for_each(|p| p.push(other)),
        }
    }
    let (first, rest) = pieces
        .split_first()
        .map(|(f, r)| (f.as_str(), r))
        .unwrap_or(("", &[]));
    let Some(mut remaining) = text.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return remaining.is_empty();
    };
    for piece in middle {
        match remaining.find(piece.as_str()) {
            Some(i) => remaining = &remaining[i + piece.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last.as_str())
}

impl Cidr {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn matches(pattern: Value, event: Value) -> bool {
        Pattern::parse(&pattern.to_string())
            .expect("a valid pattern")
            .matches(&event)
    }

    fn refused(pattern: &str) -> String {
        Pattern::parse(pattern).expect_err("refused").to_string()
    }

    /// AWS's EC2 example event, used throughout its pattern documentation.
    fn ec2() -> Value {
        json!({
            "version": "0",
            "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": "EC2 Instance State-change Notification",
            "source": "aws.ec2",
            "account": "111122223333",
            "time": "2017-12-22T18:43:48Z",
            "region": "us-west-1",
            "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
            "detail": {"instance-id": "i-1234567890abcdef0", "state": "terminated",
                       "c-count": 5, "d-count": 3, "x-limit": 301.8,
                       "source-ip": "10.0.0.123"}
        })
    }

    #[test]
    fn exact_values_and_arrays() {
        assert!(matches(json!({"source": ["aws.ec2"]}), ec2()));
        assert!(matches(json!({"source": ["aws.s3", "aws.ec2"]}), ec2()));
        assert!(!matches(json!({"source": ["aws.s3"]}), ec2()));
        assert!(matches(
            json!({"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"],
                   "detail": {"state": ["terminated", "stopped"]}}),
            ec2()
        ));
        // An event array matches when any of its values does.
        assert!(matches(
            json!({"resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0", "x"]}),
            ec2()
        ));
        assert!(matches(json!({"detail": {"c-count": [5]}}), ec2()));
        assert!(
            !matches(json!({"detail": {"c-count": ["5"]}}), ec2()),
            "a string is not a number"
        );
        assert!(matches(json!({"a": [null]}), json!({"a": null})));
        assert!(
            !matches(json!({"a": [null]}), json!({})),
            "null is not absence"
        );
        assert!(matches(json!({"a": [true]}), json!({"a": true})));
        // A field the pattern names must be there; one it does not name is ignored.
        assert!(!matches(json!({"detail": {"missing": ["x"]}}), ec2()));
        // Arrays of objects are flattened.
        assert!(matches(
            json!({"detail": {"items": {"id": [2]}}}),
            json!({"detail": {"items": [{"id": 1}, {"id": 2}]}})
        ));
    }

    #[test]
    fn prefix_suffix_and_ignoring_case() {
        assert!(matches(json!({"time": [{"prefix": "2017-12-22"}]}), ec2()));
        assert!(!matches(json!({"time": [{"prefix": "2018"}]}), ec2()));
        assert!(matches(
            json!({"source": [{"prefix": {"equals-ignore-case": "AWS."}}]}),
            ec2()
        ));
        assert!(matches(
            json!({"FileName": [{"suffix": ".png"}]}),
            json!({"FileName": "a.png"})
        ));
        assert!(!matches(
            json!({"FileName": [{"suffix": ".png"}]}),
            json!({"FileName": "a.PNG"})
        ));
        assert!(matches(
            json!({"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}),
            json!({"FileName": "a.PNG"})
        ));
        assert!(matches(
            json!({"detail-type": [{"equals-ignore-case": "ec2 instance state-change notification"}]}),
            ec2()
        ));
        assert!(
            !matches(json!({"detail": {"c-count": [{"prefix": "5"}]}}), ec2()),
            "prefix needs a string"
        );
    }

    #[test]
    fn anything_but_and_its_forms() {
        assert!(matches(
            json!({"detail": {"state": [{"anything-but": "initializing"}]}}),
            ec2()
        ));
        assert!(!matches(
            json!({"detail": {"state": [{"anything-but": "terminated"}]}}),
            ec2()
        ));
        assert!(matches(
            json!({"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}),
            ec2()
        ));
        assert!(!matches(
            json!({"detail": {"c-count": [{"anything-but": [5, 6]}]}}),
            ec2()
        ));
        assert!(matches(
            json!({"detail": {"c-count": [{"anything-but": [100, 200, 300]}]}}),
            ec2()
        ));
        assert!(!matches(
            json!({"detail": {"state": [{"anything-but": {"prefix": "term"}}]}}),
            ec2()
        ));
        assert!(matches(
            json!({"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}),
            ec2()
        ));
        assert!(matches(
            json!({"FileName": [{"anything-but": {"suffix": ".txt"}}]}),
            json!({"FileName": "a.png"})
        ));
        assert!(!matches(
            json!({"detail": {"state": [{"anything-but": {"equals-ignore-case": ["Terminated", "X"]}}]}}),
            ec2()
        ));
        assert!(!matches(
            json!({"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}),
            json!({"FilePath": "/usr/lib/x"})
        ));
        // A missing field matches no anything-but.
        assert!(!matches(
            json!({"detail": {"missing": [{"anything-but": "x"}]}}),
            ec2()
        ));
    }

    #[test]
    fn numeric_ranges() {
        assert!(matches(
            json!({"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}],
                              "d-count": [{"numeric": ["<", 10]}],
                              "x-limit": [{"numeric": ["=", 3.018e2]}]}}),
            ec2()
        ));
        assert!(!matches(
            json!({"detail": {"c-count": [{"numeric": [">", 5]}]}}),
            ec2()
        ));
        assert!(!matches(
            json!({"a": [{"numeric": [">", 0]}]}),
            json!({"a": "7"})
        ));
        assert!(refused(r#"{"a": [{"numeric": ["<", 5, ">", 1]}]}"#).contains("Bad numeric range"));
        assert!(refused(r#"{"a": [{"numeric": [">", 6e9]}]}"#).contains("5.0E9"));
        assert!(refused(r#"{"a": [{"numeric": ["~", 1]}]}"#).contains("Bad numeric"));
    }

    #[test]
    fn exists_cidr_and_wildcard() {
        assert!(matches(
            json!({"detail": {"state": [{"exists": true}]}}),
            ec2()
        ));
        assert!(matches(
            json!({"detail": {"missing": [{"exists": false}]}}),
            ec2()
        ));
        assert!(!matches(
            json!({"detail": {"state": [{"exists": false}]}}),
            ec2()
        ));
        assert!(
            !matches(json!({"detail": [{"exists": true}]}), ec2()),
            "exists applies to leaves only"
        );
        assert!(matches(
            json!({"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}),
            ec2()
        ));
        assert!(!matches(
            json!({"detail": {"source-ip": [{"cidr": "10.0.1.0/24"}]}}),
            ec2()
        ));
        assert!(matches(
            json!({"ip": [{"cidr": "2001:db8::/32"}]}),
            json!({"ip": "2001:db8::1"})
        ));
        assert!(matches(
            json!({"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}),
            json!({"EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/default"})
        ));
        assert!(matches(
            json!({"f": [{"wildcard": "dir/*.png"}]}),
            json!({"f": "dir/a/b.png"})
        ));
        assert!(!matches(
            json!({"f": [{"wildcard": "dir/*.png"}]}),
            json!({"f": "dir/a.jpg"})
        ));
        assert!(matches(
            json!({"f": [{"wildcard": "a\\*b"}]}),
            json!({"f": "a*b"})
        ));
        assert!(!matches(
            json!({"f": [{"wildcard": "a\\*b"}]}),
            json!({"f": "axb"})
        ));
        assert!(refused(r#"{"f": [{"wildcard": "a**b"}]}"#).contains("Consecutive wildcard"));
        assert!(refused(r#"{"ip": [{"cidr": "10.0.0.0/33"}]}"#).contains("Nonstandard IP"));
    }

    #[test]
    fn or_at_any_level() {
        let pattern = json!({"source": ["aws.ec2"], "$or": [
            {"detail": {"c-count": [{"numeric": [">", 10]}]}},
            {"detail": {"state": ["terminated"]}}]});
        assert!(matches(pattern, ec2()));
        let pattern = json!({"detail": {"$or": [{"c-count": [1]}, {"d-count": [1]}]}});
        assert!(!matches(pattern, ec2()));
        assert!(refused(r#"{"$or": [{"a": [1]}]}"#).contains("at least 2"));
    }

    #[test]
    fn bad_patterns_say_why() {
        assert!(refused("not json").starts_with("Event pattern is not valid. Reason: "));
        assert!(refused("[]").contains("not an object"));
        assert!(refused("{}").contains("Empty objects"));
        assert!(refused(r#"{"source": "aws.ec2"}"#).contains("Match value must be"));
        assert!(refused(r#"{"source": []}"#).contains("Empty arrays"));
        assert!(refused(r#"{"source": [["x"]]}"#).contains("Match value must be"));
        assert!(refused(r#"{"source": [{"prefix": 5}]}"#).contains("prefix"));
        assert!(
            refused(r#"{"source": [{"bogus": "x"}]}"#).contains("Unrecognized match type bogus")
        );
        assert!(refused(r#"{"source": [{"prefix": "a", "suffix": "b"}]}"#).contains("Only one key"));
        assert!(refused(r#"{"source": [{"exists": "yes"}]}"#).contains("exists"));
    }
}
