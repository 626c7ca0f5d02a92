//! A target's input: the whole event, a constant (`Input`), a part of the event
//! (`InputPath`), or an input transformer (`InputPathsMap` and `InputTemplate`).
//!
//! How a template is rendered, as EventBridge renders it:
//! - `<name>` is replaced by the value its path selects in the event, or by a predefined
//!   variable (`aws.events.rule-arn`, `aws.events.rule-name`,
//!   `aws.events.event.ingestion-time`, `aws.events.event` — the event without `detail` —
//!   and `aws.events.event.json`, the whole event).
//! - A template whose text starts with `{` or `[` is JSON: outside a quoted string a value
//!   is written as JSON (a string with its quotes); inside one, a string is written
//!   without quotes and escaped, so the result stays JSON. A path that selects nothing
//!   is `null` outside quotes and nothing inside them. The result, when it is JSON, is
//!   minified (key order kept).
//! - Any other template is text: every value is written as text (a string without its
//!   quotes), unescaped, and a path that selects nothing writes nothing. A template
//!   `"instance <id> is <state>"` so renders `"instance i-1 is RUNNING"`.

use serde_json::{Map, Value};

use crate::path::{JsonPath, PathError};

/// Names EventBridge defines itself; a map may not define them.
pub const PREDEFINED: &[&str] = &[
    "aws.events.rule-arn",
    "aws.events.rule-name",
    "aws.events.event.ingestion-time",
    "aws.events.event",
    "aws.events.event.json",
];

/// AWS's limits: 100 variables, paths of 256 characters, templates of 8192.
pub const MAX_VARIABLES: usize = 100;
pub const MAX_PATH: usize = 256;
pub const MAX_TEMPLATE: usize = 8192;

/// A checked input transformer.
#[derive(Debug, Clone, PartialEq)]
pub struct InputTransformer {
    paths: Vec<(String, JsonPath)>,
    template: String,
}

/// What the target receives of an event.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetInput {
    /// The event itself.
    Event,
    /// `Input`: this JSON text, whatever the event.
    Constant(String),
    /// `InputPath`: the part of the event this path selects.
    Path(JsonPath),
    /// `InputTransformer`.
    Transformer(InputTransformer),
}

/// Facts about the delivery that predefined variables name.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub rule_arn: &'a str,
    pub rule_name: &'a str,
    /// The time EventBridge received the event (ISO 8601).
    pub ingestion_time: &'a str,
}

impl InputTransformer {
    /// Checks a transformer as PutTargets does.
    pub fn new(
        paths_map: &Map<String, Value>,
        template: &str,
    ) -> Result<InputTransformer, PathError> {
        if paths_map.len() > MAX_VARIABLES {
            return Err(PathError(format!(
                "InputPathsMap has {} variables; at most {MAX_VARIABLES} are allowed",
                paths_map.len()
            )));
        }
        if template.is_empty() || template.chars().count() > MAX_TEMPLATE {
            return Err(PathError(format!(
                "InputTemplate must be between 1 and {MAX_TEMPLATE} characters"
            )));
        }
        let mut paths = Vec::with_capacity(paths_map.len());
        for (name, path) in paths_map {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(PathError(format!(
                    "InputPathsMap key '{name}' is not valid: use letters, digits, '_' and '-'"
                )));
            }
            if name.to_ascii_lowercase().starts_with("aws.") || PREDEFINED.contains(&name.as_str())
            {
                return Err(PathError(format!("InputPathsMap key '{name}' is reserved")));
            }
            let Value::String(path) = path else {
                return Err(PathError(format!(
                    "InputPathsMap value of '{name}' must be a string"
                )));
            };
            if path.chars().count() > MAX_PATH {
                return Err(PathError(format!(
                    "InputPathsMap value of '{name}' is longer than {MAX_PATH} characters"
                )));
            }
            paths.push((name.clone(), JsonPath::parse(path)?));
        }
        Ok(InputTransformer {
            paths,
            template: template.to_string(),
        })
    }

    /// The template rendered for `event`.
    pub fn render(&self, event: &Value, context: &Context<'_>) -> String {
        let json_mode = matches!(self.template.trim_start().chars().next(), Some('{' | '['));
        let value_of = |name: &str| -> Option<Value> {
            if let Some((_, path)) = self.paths.iter().find(|(n, _)| n == name) {
                return path.select(event);
            }
            match name {
                "aws.events.rule-arn" => Some(Value::String(context.rule_arn.to_string())),
                "aws.events.rule-name" => Some(Value::String(context.rule_name.to_string())),
                "aws.events.event.ingestion-time" => {
                    Some(Value::String(context.ingestion_time.to_string()))
                }
                "aws.events.event" => {
                    let mut without = event.clone();
                    if let Value::Object(o) = &mut without {
                        o.shift_remove("detail");
                    }
                    Some(without)
                }
                "aws.events.event.json" => Some(event.clone()),
                _ => None,
            }
        };
        let known =
            |name: &str| self.paths.iter().any(|(n, _)| n == name) || PREDEFINED.contains(&name);
        let mut out = String::with_capacity(self.template.len());
        let mut in_string = false;
        let mut escaped = false;
        let mut rest = self.template.as_str();
        while let Some(c) = rest.chars().next() {
            if c == '<' && !escaped {
                if let Some(end) = rest.find('>') {
                    let name = &rest[1..end];
                    if known(name) {
                        let value = value_of(name);
                        out.push_str(&placeholder(value.as_ref(), json_mode, in_string));
                        rest = &rest[end + 1..];
                        continue;
                    }
                }
            }
            if c == '"' && !escaped {
                in_string = !in_string;
            }
            escaped = c == '\\' && !escaped;
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
        if json_mode {
            if let Ok(value) = serde_json::from_str::<Value>(&out) {
                return value.to_string();
            }
        }
        out
    }
}

/// The text a placeholder becomes.
fn placeholder(value: Option<&Value>, json_mode: bool, in_string: bool) -> String {
    match (value, json_mode, in_string) {
        (None, true, false) => "null".to_string(),
        (None, _, _) => String::new(),
        (Some(Value::String(s)), true, true) => {
            // The string's JSON form without its quotes: escaped for the string it is in.
            let quoted = Value::String(s.clone()).to_string();
            quoted[1..quoted.len() - 1].to_string()
        }
        (Some(other), true, true) => {
            let quoted = Value::String(other.to_string()).to_string();
            quoted[1..quoted.len() - 1].to_string()
        }
        (Some(value), true, false) => value.to_string(),
        (Some(Value::String(s)), false, _) => s.clone(),
        (Some(other), false, _) => other.to_string(),
    }
}

impl TargetInput {
    /// The input text for `event`.
    pub fn render(&self, event: &Value, context: &Context<'_>) -> String {
        match self {
            TargetInput::Event => event.to_string(),
            TargetInput::Constant(text) => text.clone(),
            TargetInput::Path(path) => path
                .select(event)
                .map(|v| v.to_string())
                .unwrap_or_else(|| "null".to_string()),
            TargetInput::Transformer(transformer) => transformer.render(event, context),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// AWS's EC2 example event of its input transformation documentation.
    fn event() -> Value {
        json!({
            "version": "0",
            "id": "7bf73129-1428-4cd3-a780-95db273d1602",
            "detail-type": "EC2 Instance State-change Notification",
            "source": "aws.ec2",
            "account": "123456789012",
            "time": "2015-11-11T21:29:54Z",
            "region": "us-east-1",
            "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
            "detail": {"instance-id": "i-0123456789", "state": "RUNNING"}
        })
    }

    const CONTEXT: Context<'static> = Context {
        rule_arn: "arn:aws:events:us-east-2:123456789012:rule/example",
        rule_name: "example",
        ingestion_time: "2015-11-11T21:29:55Z",
    };

    fn render(template: &str) -> String {
        let paths = json!({"instance": "$.detail.instance-id", "state": "$.detail.state"});
        let Value::Object(paths) = paths else {
            unreachable!()
        };
        InputTransformer::new(&paths, template)
            .expect("valid")
            .render(&event(), &CONTEXT)
    }

    #[test]
    fn aws_documented_examples() {
        assert_eq!(
            render(r#""instance <instance> is in <state>""#),
            r#""instance i-0123456789 is in RUNNING""#
        );
        assert_eq!(
            render(r#""instance \"<instance>\" is in <state>""#),
            r#""instance \"i-0123456789\" is in RUNNING""#
        );
        assert_eq!(
            render("{\n  \"instance\" : <instance>,\n  \"state\": <state>\n}"),
            r#"{"instance":"i-0123456789","state":"RUNNING"}"#
        );
        assert_eq!(
            render(
                r#"{"instance" : <instance>, "state": [ 9, <state>, true ], "Transformed" : "Yes"}"#
            ),
            r#"{"instance":"i-0123456789","state":[9,"RUNNING",true],"Transformed":"Yes"}"#
        );
        let reserved: Value = serde_json::from_str(&render(
            r#"{"instance": <instance>, "ruleArn": <aws.events.rule-arn>, "ruleName": <aws.events.rule-name>, "originalEvent": <aws.events.event>, "whole": <aws.events.event.json>}"#,
        ))
        .expect("json");
        assert_eq!(reserved["ruleArn"], json!(CONTEXT.rule_arn));
        assert_eq!(reserved["ruleName"], json!("example"));
        assert_eq!(reserved["originalEvent"]["source"], json!("aws.ec2"));
        assert!(reserved["originalEvent"].get("detail").is_none());
        assert_eq!(reserved["whole"], event());
        assert_eq!(
            render(r#""<aws.events.rule-name> triggered""#),
            r#""example triggered""#
        );
        // Variables inside a JSON string: written without quotes, escaped.
        assert_eq!(
            render(
                r#"{"myInstance": <instance>, "myStatus": "<instance> is in state \"<state>\""}"#
            ),
            r#"{"myInstance":"i-0123456789","myStatus":"i-0123456789 is in state \"RUNNING\""}"#
        );
        // Plain text.
        assert_eq!(
            render("<instance> is in state <state>"),
            "i-0123456789 is in state RUNNING"
        );
    }

    #[test]
    fn the_seed_transformer() {
        let paths = json!({"orderId": "$.detail.orderId", "items": "$.detail.items"});
        let Value::Object(paths) = paths else {
            unreachable!()
        };
        let transformer = InputTransformer::new(
            &paths,
            "{\n\"orderId\": <orderId>,\n\"items\": <items>,\n\"source\": \"eventbridge\"\n}\n",
        )
        .expect("valid");
        let event = json!({"detail": {"orderId": "o-1", "items": [{"sku": "a", "qty": 2}]}});
        assert_eq!(
            transformer.render(&event, &CONTEXT),
            r#"{"orderId":"o-1","items":[{"sku":"a","qty":2}],"source":"eventbridge"}"#
        );
        // A path that selects nothing is null.
        assert_eq!(
            transformer.render(&json!({"detail": {}}), &CONTEXT),
            r#"{"orderId":null,"items":null,"source":"eventbridge"}"#
        );
    }

    #[test]
    fn bad_transformers_are_refused() {
        let map = |v: Value| match v {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        assert!(InputTransformer::new(&map(json!({"a": "detail"})), "<a>").is_err());
        assert!(InputTransformer::new(&map(json!({"a b": "$.x"})), "<a>").is_err());
        assert!(InputTransformer::new(&map(json!({"aws.events.event": "$.x"})), "x").is_err());
        assert!(InputTransformer::new(&map(json!({"a": 5})), "x").is_err());
        assert!(InputTransformer::new(&map(json!({})), "").is_err());
        let many: Map<String, Value> = (0..101).map(|i| (format!("v{i}"), json!("$"))).collect();
        assert!(InputTransformer::new(&many, "x").is_err());
    }

    #[test]
    fn other_inputs() {
        let context = CONTEXT;
        assert_eq!(
            TargetInput::Event.render(&event(), &context),
            event().to_string()
        );
        assert_eq!(
            TargetInput::Constant(r#"{"a":1}"#.into()).render(&event(), &context),
            r#"{"a":1}"#
        );
        let path = TargetInput::Path(JsonPath::parse("$.detail").expect("path"));
        assert_eq!(
            path.render(&event(), &context),
            r#"{"instance-id":"i-0123456789","state":"RUNNING"}"#
        );
    }
}
