//! The payload pipeline around a state's work: InputPath → (Parameters / task) →
//! ResultSelector → ResultPath → OutputPath, with AWS's `States.Runtime` causes when a
//! path does not match, and the payload size limit.

use serde_json::Value;

use crate::error::{names, Failure};
use crate::model::ResultPath;
use crate::path::Path;
use crate::variables::Variables;

/// Applies `InputPath` (or `OutputPath`) to `value`: `None` (the definition said `null`)
/// gives `{}`; `$` passes the value through without copying.
pub fn select(
    value: Value,
    path: Option<&Path>,
    context: &Value,
    variables: &dyn Variables,
) -> Result<Value, Failure> {
    let Some(path) = path else {
        return Ok(Value::Object(Default::default()));
    };
    if path.is_root() {
        return Ok(value);
    }
    let root = match path.variable() {
        Some(name) => variables.variable(name),
        None if path.is_context() => Some(context),
        None => Some(&value),
    };
    root.and_then(|root| path.select(root))
        .ok_or_else(|| no_results(path))
}

/// Like [`select`] but borrowing: for InputPath, whose source (the raw input) must be
/// kept for ResultPath.
pub fn select_ref(
    value: &Value,
    path: Option<&Path>,
    context: &Value,
    variables: &dyn Variables,
) -> Result<Value, Failure> {
    let Some(path) = path else {
        return Ok(Value::Object(Default::default()));
    };
    if path.is_root() {
        return Ok(value.clone());
    }
    let root = match path.variable() {
        Some(name) => variables.variable(name),
        None if path.is_context() => Some(context),
        None => Some(value),
    };
    root.and_then(|root| path.select(root))
        .ok_or_else(|| no_results(path))
}

/// AWS's cause for a path that matches nothing, e.g.
/// `Invalid path '$.x' : No results for path: $['x']`.
pub fn no_results(path: &Path) -> Failure {
    Failure::runtime(format!(
        "Invalid path '{}' : No results for path: {}",
        path.source(),
        bracket_notation(path.source())
    ))
}

/// `$.a.b[0]` → `$['a']['b'][0]`, the normalised form AWS prints in path errors. Paths
/// that are not simple dotted chains are printed as written.
pub fn bracket_notation(source: &str) -> String {
    let (root, rest) = if let Some(rest) = source.strip_prefix("$$") {
        ("$$", rest)
    } else if let Some(rest) = source.strip_prefix('$') {
        ("$", rest)
    } else {
        return source.to_string();
    };
    let mut out = String::from(root);
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut name = String::new();
                while let Some(&n) = chars.peek() {
                    if n == '.' || n == '[' {
                        break;
                    }
                    name.push(n);
                    chars.next();
                }
                if name.is_empty() || name == "*" {
                    return source.to_string();
                }
                out.push_str("['");
                out.push_str(&name);
                out.push_str("']");
            }
            '[' => {
                out.push('[');
                for n in chars.by_ref() {
                    out.push(n);
                    if n == ']' {
                        break;
                    }
                }
            }
            _ => return source.to_string(),
        }
    }
    out
}

/// Places `result` into `input` as `ResultPath` says.
pub fn place_result(
    input: Value,
    result: Value,
    result_path: &ResultPath,
) -> Result<Value, Failure> {
    match result_path {
        ResultPath::Discard => Ok(input),
        ResultPath::At(path) if path.is_root() => Ok(result),
        ResultPath::At(path) => path
            .set(input, result)
            .map_err(|e| Failure::new(names::RESULT_PATH_MATCH_FAILURE, e.message)),
    }
}

/// Size of `value` as compact JSON text, stopping early once past `limit`.
pub fn json_size_exceeds(value: &Value, limit: usize) -> bool {
    struct Counter {
        bytes: usize,
        limit: usize,
    }
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.bytes += buf.len();
            if self.bytes > self.limit {
                return Err(std::io::Error::other("limit"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter { bytes: 0, limit };
    serde_json::to_writer(&mut counter, value).is_err()
}

/// The length of `value`'s compact JSON text, without building the text.
pub fn json_size(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        Err(_) => 4,
    }
}

/// Compact JSON text, as AWS puts payloads into history events.
pub fn to_text(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bracket_notation_matches_aws_form() {
        assert_eq!(
            bracket_notation("$.NoSuchInputPath"),
            "$['NoSuchInputPath']"
        );
        assert_eq!(bracket_notation("$.a.b[0]"), "$['a']['b'][0]");
        assert_eq!(bracket_notation("$$.Execution.Id"), "$$['Execution']['Id']");
        assert_eq!(bracket_notation("$..x"), "$..x");
    }

    #[test]
    fn size_limit_counts_compact_json() {
        let v = serde_json::json!({"a": "xxxx"});
        // {"a":"xxxx"} is 12 bytes
        assert!(!json_size_exceeds(&v, 12));
        assert!(json_size_exceeds(&v, 11));
    }
}
