//! The JSON paths of `InputPath` and `InputPathsMap`, in the subset EventBridge documents:
//! `$`, dot notation with names of letters, digits, dashes, underscores and slashes,
//! array indices (`[0]`) and wildcards (`.*`, `[*]`). A path with a wildcard selects a
//! list.

use serde_json::Value;

/// Why a path is refused (the API answers `ValidationException`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PathError(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Name(String),
    Index(usize),
    Any,
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    steps: Vec<Step>,
}

impl JsonPath {
    pub fn parse(text: &str) -> Result<JsonPath, PathError> {
        let bad = || PathError(format!("Invalid JSON path: '{text}'"));
        let mut rest = text.strip_prefix('$').ok_or_else(bad)?;
        let mut steps = Vec::new();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('.') {
                let end = after.find(['.', '[']).unwrap_or(after.len());
                let name = &after[..end];
                if name == "*" {
                    steps.push(Step::Any);
                } else if !name.is_empty()
                    && name.chars().all(|c| {
                        c.is_alphanumeric() || matches!(c, '-' | '_' | '/' | ':' | '$' | '@')
                    })
                {
                    steps.push(Step::Name(name.to_string()));
                } else {
                    return Err(bad());
                }
                rest = &after[end..];
            } else if let Some(after) = rest.strip_prefix('[') {
                let end = after.find(']').ok_or_else(bad)?;
                let inside = &after[..end];
                if inside == "*" {
                    steps.push(Step::Any);
                } else if let Some(name) =
                    inside.strip_prefix('\'').and_then(|s| s.strip_suffix('\''))
                {
                    steps.push(Step::Name(name.to_string()));
                } else {
                    steps.push(Step::Index(inside.parse().map_err(|_| bad())?));
                }
                rest = &after[end + 1..];
            } else {
                return Err(bad());
            }
        }
        Ok(JsonPath { steps })
    }

    /// The value the path selects in `document`: `None` when nothing is there; a list
    /// when the path has a wildcard.
    pub fn select(&self, document: &Value) -> Option<Value> {
        let wild = self.steps.contains(&Step::Any);
        let mut current = vec![document];
        for step in &self.steps {
            let mut next = Vec::new();
            for value in current {
                match (step, value) {
                    (Step::Name(name), Value::Object(object)) => next.extend(object.get(name)),
                    (Step::Index(i), Value::Array(items)) => next.extend(items.get(*i)),
                    (Step::Any, Value::Array(items)) => next.extend(items.iter()),
                    (Step::Any, Value::Object(object)) => next.extend(object.values()),
                    _ => {}
                }
            }
            current = next;
        }
        if wild {
            Some(Value::Array(current.into_iter().cloned().collect()))
        } else {
            current.first().map(|v| (*v).clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dot_index_and_wildcard() {
        let event = json!({"detail": {"order-id": "o-1", "items": [{"sku": "a"}, {"sku": "b"}]}});
        let select = |p: &str| JsonPath::parse(p).expect("valid").select(&event);
        assert_eq!(select("$"), Some(event.clone()));
        assert_eq!(select("$.detail.order-id"), Some(json!("o-1")));
        assert_eq!(select("$.detail.items[1].sku"), Some(json!("b")));
        assert_eq!(select("$.detail.items[*].sku"), Some(json!(["a", "b"])));
        assert_eq!(select("$.detail['order-id']"), Some(json!("o-1")));
        assert_eq!(select("$.detail.missing"), None);
        assert_eq!(select("$.detail.items[5]"), None);
        for bad in ["detail", "$.", "$..x", "$.a b", "$[x]", "$.a["] {
            assert!(JsonPath::parse(bad).is_err(), "{bad}");
        }
    }
}
