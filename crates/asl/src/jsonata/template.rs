//! JSONata templates: a JSON value in which every string that is a `{% … %}`
//! expression, however deeply nested in objects and arrays, is replaced by its value;
//! everything else is kept as written (`"$.x"` and `"States.Format(…)"` are plain
//! strings here). `Arguments`, `Output`, `Assign`, `Items`, `ItemSelector` and the
//! single-expression fields are all templates.
//!
//! An expression that yields nothing fails the state, wherever it sits: AWS names the
//! place in its cause, `specified for the field 'Output/result'`.

use serde_json::{Map, Value};

use super::{expression_source, EvalError, Expression, Session};
use crate::diagnostic::{pointer, DiagnosticCode};

/// Deepest nesting of objects and arrays a template may have.
pub const MAX_TEMPLATE_DEPTH: usize = 128;

/// A compiled JSONata template.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonataTemplate {
    node: Box<Node>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// A subtree without any expression.
    Literal(Value),
    Expression(Expression),
    Object(Vec<(String, Node)>),
    Array(Vec<Node>),
}

/// A problem found when the template is compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateProblem {
    /// `INVALID_JSONATA_EXPRESSION` (it does not parse) or
    /// `UNSUPPORTED_JSONATA_EXPRESSION` (AWS refuses what it references).
    pub code: DiagnosticCode,
    /// JSON pointer relative to the template's own location ("" for the root).
    pub location: String,
    pub message: String,
}

/// A failed evaluation, as AWS reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluationFailure {
    /// Where, as AWS's `EvaluationFailed` event and cause name it: `Output`,
    /// `Output/result`, `Arguments/FunctionName`.
    pub location: String,
    /// The expression, as AWS quotes it.
    pub source: String,
    pub error: EvalError,
}

impl EvaluationFailure {
    /// AWS's cause (without the state's prefix).
    pub fn cause(&self) -> String {
        self.error.cause(&self.source, &self.location)
    }
}

impl JsonataTemplate {
    /// Compiles a template, reporting every expression that does not compile or that
    /// AWS refuses.
    pub fn compile(value: &Value) -> Result<JsonataTemplate, Vec<TemplateProblem>> {
        let mut problems = Vec::new();
        let node = compile_node(value, "", 0, &mut problems);
        if problems.is_empty() {
            Ok(JsonataTemplate {
                node: Box::new(node),
            })
        } else {
            Err(problems)
        }
    }

    /// True when the template holds no expression.
    pub fn is_literal(&self) -> bool {
        matches!(*self.node, Node::Literal(_))
    }

    /// The value, when the template holds no expression.
    pub fn literal(&self) -> Option<&Value> {
        match &*self.node {
            Node::Literal(value) => Some(value),
            _ => None,
        }
    }

    /// The expression, when the whole template is one `{% … %}` string.
    pub fn as_expression(&self) -> Option<&Expression> {
        match &*self.node {
            Node::Expression(e) => Some(e),
            _ => None,
        }
    }

    /// Every expression with its location relative to the template (`/a/0`).
    pub fn expressions(&self) -> Vec<(String, &Expression)> {
        let mut out = Vec::new();
        let mut stack = vec![(String::new(), &*self.node)];
        while let Some((location, node)) = stack.pop() {
            match node {
                Node::Literal(_) => {}
                Node::Expression(e) => out.push((location, e)),
                Node::Object(fields) => stack.extend(
                    fields
                        .iter()
                        .map(|(key, child)| (pointer(&location, key), child)),
                ),
                Node::Array(items) => stack.extend(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, child)| (pointer(&location, &i.to_string()), child)),
                ),
            }
        }
        out.reverse();
        out
    }

    /// Builds the value. `field` is the field's name (`Output`), the start of the
    /// location a failure names.
    pub fn evaluate(
        &self,
        session: &mut Session<'_>,
        field: &str,
    ) -> Result<Value, EvaluationFailure> {
        evaluate_node(&self.node, session, field)
    }
}

/// What a state leaves with in JSONata: its `Assign` values, then its `Output`, both in
/// one session (so both see the same `$states`), each `None` when the state has none.
pub fn assign_and_output(
    session: &mut Session<'_>,
    assign: Option<&JsonataTemplate>,
    output: Option<&JsonataTemplate>,
) -> Result<(Option<Value>, Option<Value>), EvaluationFailure> {
    let assigned = assign
        .map(|template| template.evaluate(session, "Assign"))
        .transpose()?;
    let output = output
        .map(|template| template.evaluate(session, "Output"))
        .transpose()?;
    Ok((assigned, output))
}

fn compile_node(
    value: &Value,
    location: &str,
    depth: usize,
    problems: &mut Vec<TemplateProblem>,
) -> Node {
    if depth > MAX_TEMPLATE_DEPTH {
        problems.push(TemplateProblem {
            code: DiagnosticCode::SchemaValidationFailed,
            location: location.to_string(),
            message: format!("The template is nested more than {MAX_TEMPLATE_DEPTH} levels deep"),
        });
        return Node::Literal(Value::Null);
    }
    match value {
        Value::String(text) => match expression_source(text) {
            None => Node::Literal(value.clone()),
            Some(source) => match Expression::compile(source) {
                Ok(expression) => {
                    for message in &expression.analysis().unsupported {
                        problems.push(TemplateProblem {
                            code: DiagnosticCode::UnsupportedJsonataExpression,
                            location: location.to_string(),
                            message: message.clone(),
                        });
                    }
                    Node::Expression(expression)
                }
                Err(e) => {
                    problems.push(TemplateProblem {
                        code: DiagnosticCode::InvalidJsonataExpression,
                        location: location.to_string(),
                        message: e.message,
                    });
                    Node::Literal(Value::Null)
                }
            },
        },
        Value::Object(map) => {
            let fields: Vec<(String, Node)> = map
                .iter()
                .map(|(key, item)| {
                    let node = compile_node(item, &pointer(location, key), depth + 1, problems);
                    (key.clone(), node)
                })
                .collect();
            if fields.iter().all(|(_, n)| matches!(n, Node::Literal(_))) {
                Node::Literal(value.clone())
            } else {
                Node::Object(fields)
            }
        }
        Value::Array(items) => {
            let nodes: Vec<Node> = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    compile_node(
                        item,
                        &pointer(location, &i.to_string()),
                        depth + 1,
                        problems,
                    )
                })
                .collect();
            if nodes.iter().all(|n| matches!(n, Node::Literal(_))) {
                Node::Literal(value.clone())
            } else {
                Node::Array(nodes)
            }
        }
        other => Node::Literal(other.clone()),
    }
}

fn evaluate_node(
    node: &Node,
    session: &mut Session<'_>,
    location: &str,
) -> Result<Value, EvaluationFailure> {
    match node {
        Node::Literal(value) => Ok(value.clone()),
        Node::Expression(expression) => {
            expression
                .evaluate(session)
                .map_err(|error| EvaluationFailure {
                    location: location.to_string(),
                    source: expression.source().to_string(),
                    error,
                })
        }
        Node::Object(fields) => {
            let mut map = Map::with_capacity(fields.len());
            for (key, child) in fields {
                let value = evaluate_node(child, session, &format!("{location}/{key}"))?;
                map.insert(key.clone(), value);
            }
            Ok(Value::Object(map))
        }
        Node::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, child)| evaluate_node(child, session, &format!("{location}/{i}")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::jsonata::{Environment, Limits};
    use crate::random::SplitMix64;
    use crate::timestamp::Timestamp;
    use serde_json::json;

    fn run(template: Value, input: Value) -> Result<Value, EvaluationFailure> {
        let compiled = JsonataTemplate::compile(&template).unwrap();
        let context = json!({});
        let mut random = SplitMix64::new(1);
        let mut session = crate::jsonata::session(Environment {
            input: &input,
            context: &context,
            result: None,
            error_output: None,
            variables: &crate::variables::NoVariables,
            now: Timestamp::from_unix_millis(0),
            random: &mut random,
            limits: Limits::default(),
        });
        compiled.evaluate(&mut session, "Output")
    }

    #[test]
    fn expressions_at_any_depth_and_literals_as_written() {
        let out = run(
            json!([null, 0, "$.no.such.path", " {% $states.input %} ",
                   "{% $states.input %}", {"key": "{% true %}", "deep": [["{% 1 + 1 %}"]]}]),
            json!({"a": 1}),
        )
        .unwrap();
        assert_eq!(
            out,
            json!([null, 0, "$.no.such.path", " {% $states.input %} ", {"a": 1},
                   {"key": true, "deep": [[2]]}])
        );
        assert!(
            JsonataTemplate::compile(&json!({"a": ["$x", "States.Format('x')"]}))
                .unwrap()
                .is_literal()
        );
    }

    #[test]
    fn a_failure_names_its_place() {
        let failure = run(json!({"result": "{% $doesNotExist %}"}), json!({})).unwrap_err();
        assert_eq!(failure.location, "Output/result");
        assert_eq!(
            failure.cause(),
            "The JSONata expression '$doesNotExist' specified for the field 'Output/result' \
             returned nothing (undefined)."
        );
        let failure = run(json!("{% $doesNotExist %}"), json!({})).unwrap_err();
        assert_eq!(failure.location, "Output");
    }

    #[test]
    fn bad_expressions_are_reported_with_their_location() {
        let problems =
            JsonataTemplate::compile(&json!({"a": "{% a[1,2) %}", "b": ["{% phone %}"]}))
                .unwrap_err();
        assert_eq!(problems.len(), 2);
        assert_eq!(problems[0].code, DiagnosticCode::InvalidJsonataExpression);
        assert_eq!(problems[0].location, "/a");
        assert_eq!(
            problems[1].code,
            DiagnosticCode::UnsupportedJsonataExpression
        );
        assert_eq!(problems[1].location, "/b/0");
        assert_eq!(
            problems[1].message,
            "Reference to 'phone' at the top level is not supported."
        );
    }
}
