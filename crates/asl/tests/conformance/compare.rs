//! The comparison rules of the corpus's `run.py`, ported: JSONPath-like `normalize` paths,
//! placeholder patterns, the deep diff (numbers by value, `true != 1`), the result check
//! (status, output, error, cause) and the history check.

use std::collections::BTreeMap;
use std::collections::HashSet;

use serde_json::{Number, Value};

/// One step of a `normalize` path: `.key`, `["key"]` or `[0]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

pub type Path = Vec<Seg>;

/// `$.output.a[0]["odd key"]` → `[output, a, 0, odd key]`, as `run.py`'s `parse_path`.
pub fn parse_path(p: &str) -> Result<Path, String> {
    let bad = || format!("bad normalize path {p:?}");
    let chars: Vec<char> = p.chars().collect();
    if chars.first() != Some(&'$') {
        return Err(bad());
    }
    let mut out = Vec::new();
    let mut i = 1;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && chars[j] != '.' && chars[j] != '[' {
                    j += 1;
                }
                if j == start {
                    return Err(bad());
                }
                out.push(Seg::Key(chars[start..j].iter().collect()));
                i = j;
            }
            '[' => {
                if chars.get(i + 1) == Some(&'"') {
                    // a quoted key, with JSON escapes
                    let mut j = i + 2;
                    while j < chars.len() && chars[j] != '"' {
                        j += if chars[j] == '\\' { 2 } else { 1 };
                    }
                    if j >= chars.len() || chars.get(j + 1) != Some(&']') {
                        return Err(bad());
                    }
                    let token: String = chars[i + 1..=j].iter().collect();
                    let key: String = serde_json::from_str(&token).map_err(|_| bad())?;
                    out.push(Seg::Key(key));
                    i = j + 2;
                } else {
                    let close = chars[i..]
                        .iter()
                        .position(|&c| c == ']')
                        .map(|k| k + i)
                        .ok_or_else(bad)?;
                    let token: String = chars[i + 1..close].iter().collect();
                    let index = token.trim().parse::<usize>().map_err(|_| bad())?;
                    out.push(Seg::Index(index));
                    i = close + 1;
                }
            }
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

pub fn fmt_path(path: &[Seg]) -> String {
    let mut s = String::from("$");
    for seg in path {
        match seg {
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
            Seg::Key(k) => {
                let plain = k
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && k.chars().all(|c| c.is_alphanumeric() || c == '_');
                if plain {
                    s.push('.');
                    s.push_str(k);
                } else {
                    s.push('[');
                    s.push_str(&Value::String(k.clone()).to_string());
                    s.push(']');
                }
            }
        }
    }
    s
}

/// A value as a short piece of text for a report line.
pub fn short(v: Option<&Value>, n: usize) -> String {
    let s = match v {
        None => "(none)".to_string(),
        Some(v) => v.to_string(),
    };
    truncate(&s, n)
}

pub fn short_str(v: Option<&str>, n: usize) -> String {
    match v {
        None => "(none)".to_string(),
        Some(s) => truncate(&Value::String(s.to_string()).to_string(), n),
    }
}

pub fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let head: String = s.chars().take(n.saturating_sub(3)).collect();
        format!("{head}...")
    }
}

// ------------------------------------------------------------------------ placeholders

fn is_date_neighbour(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphabetic() || c == '-')
}

/// The length in chars of the placeholder starting at `i`, if any: `<[^<>\s]+>`,
/// `111111111111`, or a standalone `date` (not touching a letter or `-`), tried in
/// `run.py`'s `PLACEHOLDER_RE` order.
fn placeholder_at(chars: &[char], i: usize) -> Option<usize> {
    match chars[i] {
        '<' => {
            let mut k = i + 1;
            while k < chars.len() && chars[k] != '<' && chars[k] != '>' && !chars[k].is_whitespace()
            {
                k += 1;
            }
            (k > i + 1 && chars.get(k) == Some(&'>')).then_some(k + 1 - i)
        }
        '1' => {
            let ones = chars[i..].iter().take(12).filter(|&&c| c == '1').count();
            (ones == 12).then_some(12)
        }
        'd' => {
            let word = ['d', 'a', 't', 'e'];
            let is_date = chars.len() >= i + 4 && chars[i..i + 4] == word;
            let before = if i == 0 { None } else { Some(chars[i - 1]) };
            let after = chars.get(i + 4).copied();
            (is_date && !is_date_neighbour(before) && !is_date_neighbour(after)).then_some(4)
        }
        _ => None,
    }
}

/// `PLACEHOLDER_RE.split(text)`: the literal parts between placeholders, and whether any
/// placeholder was found.
fn split_placeholders(text: &str) -> (Vec<String>, bool) {
    let chars: Vec<char> = text.chars().collect();
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut found = false;
    let mut i = 0;
    while i < chars.len() {
        if let Some(len) = placeholder_at(&chars, i) {
            found = true;
            parts.push(std::mem::take(&mut current));
            i += len;
        } else {
            current.push(chars[i]);
            i += 1;
        }
    }
    parts.push(current);
    (parts, found)
}

/// Does `s` equal `parts[0] X1 parts[1] X2 … parts[n]` with each `Xi` at least one char?
/// (The regex `re.fullmatch(".+?".join(map(re.escape, parts)), s, re.S)`.)
fn glob_match(s: &str, parts: &[String]) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return s.is_empty();
    };
    let Some(tail) = s.strip_prefix(first.as_str()) else {
        return false;
    };
    if rest.is_empty() {
        return tail.is_empty();
    }
    // the wildcard takes at least one char
    tail.char_indices()
        .skip(1)
        .map(|(k, _)| k)
        .chain(std::iter::once(tail.len()))
        .any(|k| glob_match(&tail[k..], rest))
}

/// `run.py`'s `placeholder_match`: a value the recorder partly replaced by placeholders.
pub fn placeholder_match(expected: &Value, actual: Option<&Value>) -> bool {
    let Value::String(expected) = expected else {
        return true;
    };
    let (parts, found) = split_placeholders(expected);
    let literal: String = parts.concat();
    if literal.trim().is_empty() || !found {
        // the whole value is a placeholder (or one we cannot parse): presence is enough
        return true;
    }
    let Some(Value::String(actual)) = actual else {
        return false;
    };
    glob_match(actual, &parts)
}

// ------------------------------------------------------------------------ deep diff

fn as_int(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

/// Numbers by value, as Python compares int and float (exactly).
pub fn same_number(a: &Number, b: &Number) -> bool {
    match (as_int(a), as_int(b)) {
        (Some(x), Some(y)) => x == y,
        (Some(i), None) => float_eq_int(b.as_f64(), i),
        (None, Some(i)) => float_eq_int(a.as_f64(), i),
        (None, None) => a.as_f64() == b.as_f64(),
    }
}

fn float_eq_int(f: Option<f64>, i: i128) -> bool {
    match f {
        Some(f) if f.is_finite() && f.trunc() == f && f.abs() < 1.0e38 => f as i128 == i,
        _ => false,
    }
}

/// Scalar equality as `run.py` has it: same JSON type and value, numbers by value.
fn scalar_eq(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Number(a), Value::Number(b)) => same_number(a, b),
        (Value::Null, Value::Null) => true,
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::String(a), Value::String(b)) => a == b,
        _ => false,
    }
}

/// Appends the differences of `actual` against `expected` to `out`.
pub fn diff(
    expected: &Value,
    actual: &Value,
    path: &mut Path,
    loose: &HashSet<Path>,
    out: &mut Vec<String>,
) {
    if loose.contains(path) {
        if !placeholder_match(expected, Some(actual)) {
            out.push(format!(
                "{}: expected pattern {}, got {}",
                fmt_path(path),
                short(Some(expected), 160),
                short(Some(actual), 160)
            ));
        }
        return;
    }
    match expected {
        Value::Object(exp) => {
            let Value::Object(act) = actual else {
                out.push(format!(
                    "{}: expected object, got {}",
                    fmt_path(path),
                    short(Some(actual), 160)
                ));
                return;
            };
            for (k, e) in exp {
                path.push(Seg::Key(k.clone()));
                match act.get(k) {
                    None => out.push(format!("{}: missing", fmt_path(path))),
                    Some(a) => diff(e, a, path, loose, out),
                }
                path.pop();
            }
            for (k, a) in act {
                if !exp.contains_key(k) {
                    path.push(Seg::Key(k.clone()));
                    out.push(format!(
                        "{}: unexpected key (value {})",
                        fmt_path(path),
                        short(Some(a), 160)
                    ));
                    path.pop();
                }
            }
        }
        Value::Array(exp) => {
            let Value::Array(act) = actual else {
                out.push(format!(
                    "{}: expected array, got {}",
                    fmt_path(path),
                    short(Some(actual), 160)
                ));
                return;
            };
            if exp.len() != act.len() {
                out.push(format!(
                    "{}: expected {} items, got {}: {}",
                    fmt_path(path),
                    exp.len(),
                    act.len(),
                    short(Some(actual), 160)
                ));
                return;
            }
            for (i, (e, a)) in exp.iter().zip(act).enumerate() {
                path.push(Seg::Index(i));
                diff(e, a, path, loose, out);
                path.pop();
            }
        }
        _ => {
            if !scalar_eq(expected, actual) {
                out.push(format!(
                    "{}: expected {}, got {}",
                    fmt_path(path),
                    short(Some(expected), 160),
                    short(Some(actual), 160)
                ));
            }
        }
    }
}

// ------------------------------------------------------------------------ results

/// What an execution ended with, in DescribeExecution's terms.
#[derive(Debug, Clone)]
pub struct Actual {
    pub status: String,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// The problems of `actual` against the case's `expected` (`run.py`'s `compare_result`).
/// `loose` holds the parsed `normalize` paths.
pub fn compare_result(
    expected: &Value,
    partial: bool,
    loose: &HashSet<Path>,
    actual: &Actual,
) -> Vec<String> {
    let mut problems = Vec::new();
    let exp_status = expected.get("status").and_then(Value::as_str).unwrap_or("");
    if actual.status != exp_status {
        let mut line = format!("status: expected {exp_status}, got {}", actual.status);
        if actual.error.is_some() || actual.cause.is_some() {
            line.push_str(&format!(
                " ({}: {})",
                actual.error.as_deref().unwrap_or("(none)"),
                short_str(actual.cause.as_deref(), 200)
            ));
        }
        problems.push(line);
        return problems;
    }
    if let Some(exp_output) = expected.get("output") {
        match &actual.output {
            Some(got) => {
                let mut path = vec![Seg::Key("output".to_string())];
                diff(exp_output, got, &mut path, loose, &mut problems);
            }
            None => problems.push("output: missing".to_string()),
        }
    }
    for (key, got) in [("error", &actual.error), ("cause", &actual.cause)] {
        // DescribeExecution leaves absent fields out; `run.py` treats them as None.
        let got_value = got.as_ref().map(|s| Value::String(s.clone()));
        match expected.get(key) {
            Some(exp) => {
                if loose.contains(&vec![Seg::Key(key.to_string())]) {
                    if !placeholder_match(exp, got_value.as_ref()) {
                        problems.push(format!(
                            "{key}: expected pattern {}, got {}",
                            short(Some(exp), 160),
                            short_str(got.as_deref(), 160)
                        ));
                    }
                } else if !scalar_eq(exp, got_value.as_ref().unwrap_or(&Value::Null)) {
                    problems.push(format!(
                        "{key}: expected {}, got {}",
                        short(Some(exp), 300),
                        short_str(got.as_deref(), 300)
                    ));
                }
            }
            None => {
                let reported = got.as_deref().is_some_and(|s| !s.is_empty());
                if !partial && reported && exp_status != "SUCCEEDED" {
                    problems.push(format!(
                        "{key}: AWS had none, got {}",
                        short_str(got.as_deref(), 160)
                    ));
                }
            }
        }
    }
    problems
}

/// Compares the event types of a history with the recorded ones: in order, or as
/// multisets when the case says the order inside Parallel/Map is not significant.
/// `None` when they agree, else a short description.
pub fn compare_history(expected: &[String], actual: &[&str], unordered: bool) -> Option<String> {
    if unordered {
        let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
        for e in expected {
            *counts.entry(e.as_str()).or_default() += 1;
        }
        for a in actual {
            *counts.entry(a).or_default() -= 1;
        }
        let missing: Vec<String> = counts
            .iter()
            .filter(|(_, &n)| n > 0)
            .map(|(t, n)| format!("{t}×{n}"))
            .collect();
        let extra: Vec<String> = counts
            .iter()
            .filter(|(_, &n)| n < 0)
            .map(|(t, n)| format!("{t}×{}", -n))
            .collect();
        if missing.is_empty() && extra.is_empty() {
            return None;
        }
        return Some(format!(
            "history (as a multiset) differs: missing [{}], extra [{}]",
            missing.join(", "),
            extra.join(", ")
        ));
    }
    let first_diff = expected
        .iter()
        .map(String::as_str)
        .zip(actual.iter().copied())
        .position(|(e, a)| e != a);
    match first_diff {
        Some(i) => Some(format!(
            "history differs at event {}: expected {}, got {} ({} vs {} events)",
            i + 1,
            expected[i],
            actual[i],
            expected.len(),
            actual.len()
        )),
        None if expected.len() != actual.len() => {
            let n = expected.len().min(actual.len());
            let next = |list: Vec<&str>| list.get(n).map_or("(end)", |s| s).to_string();
            Some(format!(
                "history differs at event {}: expected {}, got {} ({} vs {} events)",
                n + 1,
                next(expected.iter().map(String::as_str).collect()),
                next(actual.to_vec()),
                expected.len(),
                actual.len()
            ))
        }
        None => None,
    }
}

/// Quick checks of the comparison rules against `run.py`'s behaviour; the harness runs
/// them before the corpus so a broken comparator cannot report false passes.
pub fn self_check() -> Result<(), String> {
    let check = |cond: bool, what: &str| {
        if cond {
            Ok(())
        } else {
            Err(format!("comparator self-check failed: {what}"))
        }
    };
    let v = |s: &str| -> Value { serde_json::from_str(s).expect("self-check literal is JSON") };
    let no_loose = HashSet::new();
    let differs = |e: &str, a: &str| {
        let mut out = Vec::new();
        diff(&v(e), &v(a), &mut Vec::new(), &no_loose, &mut out);
        !out.is_empty()
    };
    check(!differs("1", "1.0"), "1 == 1.0")?;
    check(differs("true", "1"), "true != 1")?;
    check(differs("1", "true"), "1 != true")?;
    check(differs("0", "false"), "0 != false")?;
    check(
        !differs(r#"{"a":1,"b":[1,2]}"#, r#"{"b":[1,2.0],"a":1}"#),
        "key order",
    )?;
    check(differs("[1,2]", "[2,1]"), "array order")?;
    check(differs(r#"{"a":1}"#, r#"{"a":1,"b":2}"#), "extra key")?;
    check(differs(r#"{"a":1,"b":2}"#, r#"{"a":1}"#), "missing key")?;
    check(differs("null", r#""null""#), "null vs string")?;
    check(!differs("null", "null"), "null == null")?;
    check(
        differs("9007199254740993", "9007199254740992.0"),
        "exact int/float",
    )?;

    let pm = |e: &str, a: Option<&str>| {
        placeholder_match(
            &Value::String(e.to_string()),
            a.map(|s| Value::String(s.to_string())).as_ref(),
        )
    };
    let arn =
        "arn:<partition>:states:<region>:111111111111:execution:<ArnPart_0idx>:<ExecArnPart_0idx>";
    check(
        pm(
            arn,
            Some("arn:aws:states:us-east-1:123456789012:execution:m:e"),
        ),
        "ARN pattern matches",
    )?;
    check(
        !pm(
            arn,
            Some("arn:aws:states:us-east-1:123456789012:stateMachine:m"),
        ),
        "ARN pattern rejects a machine ARN",
    )?;
    check(
        !pm(arn, Some("arn::states:::execution::")),
        "placeholders need a char",
    )?;
    check(pm("date", None), "whole placeholder: presence only")?;
    check(pm("<uuid:1>", Some("x")), "uuid placeholder")?;
    check(
        pm("RandomNumberGenerated", Some("x")),
        "no placeholder at all",
    )?;
    check(
        pm("at date now", Some("at 2024-01-01T00:00:00Z now")),
        "standalone date",
    )?;
    check(
        !pm("update x <a>", Some("upd x y")),
        "date inside a word is literal",
    )?;
    check(!pm("a <b>", None), "pattern needs a string")?;

    let p = parse_path(r#"$.output.a[0]["odd key"]"#)?;
    check(
        p == vec![
            Seg::Key("output".into()),
            Seg::Key("a".into()),
            Seg::Index(0),
            Seg::Key("odd key".into()),
        ],
        "parse_path",
    )?;
    check(
        compare_history(&["A".to_string(), "B".to_string()], &["B", "A"], true).is_none(),
        "history multiset",
    )?;
    check(
        compare_history(&["A".to_string(), "B".to_string()], &["B", "A"], false).is_some(),
        "history order",
    )?;
    check(
        compare_history(&["A".to_string()], &["A", "B"], false).is_some(),
        "history length",
    )?;
    Ok(())
}
