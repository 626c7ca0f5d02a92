//! What each key may do: an IAM-policy-shaped document (`Statement`s of `Effect`,
//! `Action` and `Resource`, with `*` and `?` wildcards), or one of the shorthands
//! `"full"` and `"read-only"`. Evaluated as IAM evaluates identity policies: an explicit
//! `Deny` wins, then any `Allow`; nothing matching is an implicit deny.
//!
//! IAM's other elements (`NotAction`, `NotResource`, `Condition`, `Principal`) are
//! refused when the policies are loaded, not ignored: a policy must never allow more
//! than it reads as allowing.

use std::collections::BTreeMap;

use serde_json::Value;

/// What a key's policy says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// No statement allows it.
    ImplicitDeny,
    /// A `Deny` statement matches.
    ExplicitDeny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    effect: Effect,
    actions: Vec<String>,
    resources: Vec<String>,
}

/// One key's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    statements: Vec<Statement>,
}

/// The actions of the `"read-only"` shorthand: they read and change nothing
/// (Step Functions, EventBridge and EventBridge Scheduler).
pub const READ_ONLY_ACTIONS: &[&str] = &[
    "states:Describe*",
    "states:List*",
    "states:GetExecutionHistory",
    "states:ValidateStateMachineDefinition",
    "events:Describe*",
    "events:List*",
    "events:TestEventPattern",
    "scheduler:Get*",
    "scheduler:List*",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy of '{key}': {message}")]
pub struct PolicyError {
    key: String,
    message: String,
}

impl Policy {
    /// Everything allowed (a key with no policy of its own).
    pub fn full() -> Policy {
        Policy::allowing(&["*"])
    }

    pub fn read_only() -> Policy {
        Policy::allowing(READ_ONLY_ACTIONS)
    }

    fn allowing(actions: &[&str]) -> Policy {
        Policy {
            statements: vec![Statement {
                effect: Effect::Allow,
                actions: actions.iter().map(|a| a.to_string()).collect(),
                resources: vec!["*".to_string()],
            }],
        }
    }

    /// Parses one policy: a shorthand string or a document.
    pub fn parse(value: &Value) -> Result<Policy, String> {
        match value {
            Value::String(s) if s == "full" => Ok(Policy::full()),
            Value::String(s) if s == "read-only" => Ok(Policy::read_only()),
            Value::String(s) => Err(format!(
                "'{s}' is neither \"full\", \"read-only\" nor a policy document"
            )),
            Value::Object(document) => {
                for key in document.keys() {
                    if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
                        return Err(format!("unsupported policy element '{key}'"));
                    }
                }
                let statements = match document.get("Statement") {
                    Some(Value::Array(list)) => list.iter().map(statement).collect(),
                    Some(one @ Value::Object(_)) => statement(one).map(|s| vec![s]),
                    _ => Err("Statement must be an object or a list of objects".to_string()),
                }?;
                Ok(Policy { statements })
            }
            _ => Err("a policy must be \"full\", \"read-only\" or a policy document".to_string()),
        }
    }

    /// Whether `action` (`states:StartExecution`) on `resource` (an ARN, or `*`) is
    /// allowed.
    pub fn decide(&self, action: &str, resource: &str) -> Decision {
        let matching = |s: &&Statement| {
            s.actions.iter().any(|p| glob(p, action, true))
                && s.resources.iter().any(|p| glob(p, resource, false))
        };
        let mut allowed = false;
        for statement in self.statements.iter().filter(matching) {
            match statement.effect {
                Effect::Deny => return Decision::ExplicitDeny,
                Effect::Allow => allowed = true,
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }
}

fn statement(value: &Value) -> Result<Statement, String> {
    let Value::Object(fields) = value else {
        return Err("each Statement must be an object".to_string());
    };
    for key in fields.keys() {
        if !matches!(key.as_str(), "Sid" | "Effect" | "Action" | "Resource") {
            return Err(format!(
                "unsupported statement element '{key}' (Cairn reads Effect, Action and Resource)"
            ));
        }
    }
    let effect = match fields.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => return Err("Effect must be \"Allow\" or \"Deny\"".to_string()),
    };
    let list = |name: &str| -> Result<Vec<String>, String> {
        let values = match fields.get(name) {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(list)) => list
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("{name} must be a string or a list of strings"))?,
            _ => return Err(format!("{name} must be a string or a list of strings")),
        };
        if values.is_empty() {
            return Err(format!("{name} must not be empty"));
        }
        Ok(values)
    };
    let actions = list("Action")?;
    for action in &actions {
        if action != "*" && !action.contains(':') {
            return Err(format!(
                "action '{action}' must be service:Action (states:StartExecution) or *"
            ));
        }
    }
    Ok(Statement {
        effect,
        actions,
        resources: list("Resource")?,
    })
}

/// Parses the policies text: a JSON object from access key id to policy.
pub fn parse_policies(text: &str) -> Result<BTreeMap<String, Policy>, PolicyError> {
    let error = |key: &str, message: String| PolicyError {
        key: key.to_string(),
        message,
    };
    let value: Value = serde_json::from_str(text)
        .map_err(|e| error("*", format!("the policies are not JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(error(
            "*",
            "the policies must be a JSON object from access key id to policy".to_string(),
        ));
    };
    map.iter()
        .map(|(key, value)| {
            Policy::parse(value)
                .map(|p| (key.clone(), p))
                .map_err(|m| error(key, m))
        })
        .collect()
}

/// IAM's wildcard match: `*` any run of characters, `?` any one.
fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let fold = |s: &str| -> Vec<char> {
        if ignore_case {
            s.to_lowercase().chars().collect()
        } else {
            s.chars().collect()
        }
    };
    let (p, t) = (fold(pattern), fold(text));
    // Iterative matching with one backtrack point: linear in practice, never exponential.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wildcards_match_as_iam_matches() {
        assert!(glob("states:*", "states:StartExecution", true));
        assert!(glob("states:start*", "states:StartExecution", true));
        assert!(!glob("states:Start*", "events:StartExecution", true));
        assert!(glob(
            "arn:aws:states:*:*:stateMachine:orders-?",
            "arn:aws:states:us-east-1:1:stateMachine:orders-1",
            false
        ));
        assert!(!glob(
            "arn:aws:states:*:*:stateMachine:Orders",
            "arn:aws:states:us-east-1:1:stateMachine:orders",
            false
        ));
        assert!(glob("*", "", false));
        assert!(glob("a*b*c", "aXXbYYc", false));
        assert!(!glob("a*b*c", "aXXbYY", false));
    }

    #[test]
    fn deny_wins_then_allow_then_nothing() {
        let policy = Policy::parse(&json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "states:*", "Resource": "*"},
                {"Effect": "Deny", "Action": ["states:DeleteStateMachine"],
                 "Resource": "arn:aws:states:*:*:stateMachine:prod-*"}
            ]
        }))
        .expect("valid");
        assert_eq!(policy.decide("states:StartExecution", "*"), Decision::Allow);
        assert_eq!(
            policy.decide(
                "states:DeleteStateMachine",
                "arn:aws:states:us-east-1:1:stateMachine:prod-a"
            ),
            Decision::ExplicitDeny
        );
        assert_eq!(
            policy.decide(
                "states:DeleteStateMachine",
                "arn:aws:states:us-east-1:1:stateMachine:dev-a"
            ),
            Decision::Allow
        );
        assert_eq!(
            policy.decide("events:PutEvents", "*"),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn read_only_reads_and_changes_nothing() {
        let policy = Policy::read_only();
        for action in [
            "states:ListStateMachines",
            "states:DescribeExecution",
            "states:GetExecutionHistory",
            "events:ListRules",
        ] {
            assert_eq!(policy.decide(action, "*"), Decision::Allow, "{action}");
        }
        for action in [
            "states:StartExecution",
            "states:SendTaskSuccess",
            "states:GetActivityTask",
            "states:CreateStateMachine",
            "events:PutEvents",
            "states:TestState",
        ] {
            assert_eq!(
                policy.decide(action, "*"),
                Decision::ImplicitDeny,
                "{action}"
            );
        }
    }

    #[test]
    fn what_cairn_would_not_enforce_is_refused() {
        for bad in [
            json!({"Statement": [{"Effect": "Allow", "NotAction": "states:*", "Resource": "*"}]}),
            json!({"Statement": [{"Effect": "Allow", "Action": "states:*", "Resource": "*", "Condition": {}}]}),
            json!({"Statement": [{"Effect": "Maybe", "Action": "states:*", "Resource": "*"}]}),
            json!({"Statement": [{"Effect": "Allow", "Action": "StartExecution", "Resource": "*"}]}),
            json!({"Statement": [{"Effect": "Allow", "Action": "states:*"}]}),
            json!({"Statement": [{"Effect": "Allow", "Action": [], "Resource": "*"}]}),
            json!("admin"),
            json!(7),
        ] {
            assert!(Policy::parse(&bad).is_err(), "{bad}");
        }
        assert!(parse_policies("{\"K\": \"read-only\"}").is_ok());
        assert!(parse_policies("[]").is_err());
        assert!(parse_policies("not json").is_err());
    }
}
