//! Payload templates: `Parameters`, `ResultSelector`, `ItemSelector` (and the legacy
//! Map `Parameters`). A key ending in `.$` takes its value from a path (`$.x`, `$$.x`)
//! or an intrinsic function call; every other value is copied as written.
//!
//! Keys are processed however deeply nested, inside objects and inside arrays. The `.$`
//! suffix is dropped from the output key. A path that matches nothing fails the state
//! with `States.Runtime` and AWS's cause:
//! `The JSONPath '$.x' specified for the field 'x.$' could not be found in the input '{"a":1}'`
//! (the interpreter prefixes `An error occurred while executing the state …`).

use serde_json::{Map, Value};

use crate::diagnostic::pointer;
use crate::error::Failure;
use crate::intrinsics::{self, Call};
use crate::path::Path;
use crate::random::Random;
use crate::variables::Variables;

/// Deepest nesting of objects and arrays a template may have.
pub const MAX_TEMPLATE_DEPTH: usize = 128;

/// Where a template or an intrinsic reads data from.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    /// The effective input (`$`).
    pub input: &'a Value,
    /// The context object (`$$`).
    pub context: &'a Value,
    /// The workflow variables visible here (`$name`).
    pub variables: &'a dyn Variables,
}

impl std::fmt::Debug for Scope<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("input", self.input)
            .field("context", self.context)
            .finish_non_exhaustive()
    }
}

impl<'a> Scope<'a> {
    /// The document `path` starts from: the input, the context object or a variable
    /// (`None` when that variable does not exist).
    pub fn root_of(&self, path: &Path) -> Option<&'a Value> {
        match path.variable() {
            Some(name) => self.variables.variable(name),
            None if path.is_context() => Some(self.context),
            None => Some(self.input),
        }
    }

    /// Evaluates `path` from its root; see [`Path::select_ref`].
    pub fn select(&self, path: &Path) -> Option<std::borrow::Cow<'a, Value>> {
        path.select_ref(self.root_of(path)?)
    }
}

/// A problem in a template found at definition time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// JSON pointer relative to the template's own location, e.g. `/a/b.$` ("" for the root).
    pub location: String,
    pub message: String,
}

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// Boxed: definition types hold many optional templates.
    node: Box<Node>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// A subtree without any `.$` key: copied as written.
    Literal(Value),
    Object(Vec<(String, Node)>),
    Array(Vec<Node>),
    /// A path; `field` is the key as written (`x.$`), `None` for a lone expression whose
    /// field name the caller supplies.
    Path {
        path: Path,
        field: Option<String>,
    },
    Call {
        call: Call,
        field: Option<String>,
    },
}

impl Template {
    /// Compiles a template from its JSON, reporting every invalid path or intrinsic call.
    pub fn compile(value: &Value) -> Result<Template, Vec<TemplateError>> {
        let mut errors = Vec::new();
        let node = compile_node(value, "", 0, &mut errors);
        if errors.is_empty() {
            Ok(Template {
                node: Box::new(node),
            })
        } else {
            Err(errors)
        }
    }

    /// Compiles the value of a field that holds one path or one intrinsic call
    /// (`ErrorPath`, `CausePath`): `$.x`, `$$.x` or `States.Format(…)`.
    pub fn compile_expression(text: &str) -> Result<Template, TemplateError> {
        compile_dynamic(text, None).map(|node| Template {
            node: Box::new(node),
        })
    }

    /// A template that always yields `value` (for example a Pass state's `Result`).
    pub fn literal(value: Value) -> Template {
        Template {
            node: Box::new(Node::Literal(value)),
        }
    }

    /// True when the template has no `.$` key: it always yields the same value.
    pub fn is_literal(&self) -> bool {
        matches!(*self.node, Node::Literal(_))
    }

    /// True when some path of the template, or of a call in it, reads the input (`$`)
    /// rather than the context object or a variable.
    pub fn reads_input(&self) -> bool {
        let reads = |path: &Path| !path.is_context() && path.variable().is_none();
        let mut stack = vec![&*self.node];
        while let Some(node) = stack.pop() {
            match node {
                Node::Literal(_) => {}
                Node::Object(fields) => stack.extend(fields.iter().map(|(_, n)| n)),
                Node::Array(nodes) => stack.extend(nodes),
                Node::Path { path, .. } if reads(path) => return true,
                Node::Path { .. } => {}
                Node::Call { call, .. } if call.paths().into_iter().any(reads) => return true,
                Node::Call { .. } => {}
            }
        }
        false
    }

    /// Builds the value. `field` is the name AWS uses in error causes (`Parameters`,
    /// `ResultSelector`, `ItemSelector`, `ErrorPath`, …). A path that matches nothing is
    /// `States.Runtime`; a failing intrinsic is `States.IntrinsicFailure`.
    ///
    /// Inside an object template the cause names the `.$` key (`'x.$'`), as AWS does;
    /// `field` names a lone expression from [`Template::compile_expression`].
    pub fn evaluate(
        &self,
        scope: Scope<'_>,
        random: &mut dyn Random,
        field: &str,
    ) -> Result<Value, Failure> {
        evaluate_node(&self.node, scope, random, field)
    }
}

fn compile_node(
    value: &Value,
    location: &str,
    depth: usize,
    errors: &mut Vec<TemplateError>,
) -> Node {
    if depth > MAX_TEMPLATE_DEPTH {
        errors.push(TemplateError {
            location: location.to_string(),
            message: format!("The template is nested more than {MAX_TEMPLATE_DEPTH} levels deep"),
        });
        return Node::Literal(Value::Null);
    }
    match value {
        Value::Object(map) => {
            let mut fields = Vec::with_capacity(map.len());
            let mut dynamic = false;
            for (key, item) in map {
                let here = pointer(location, key);
                let node = match key.strip_suffix(".$") {
                    Some(name) => {
                        dynamic = true;
                        let node = match item {
                            Value::String(text) => compile_dynamic(text, Some(key)),
                            _ => Err(TemplateError {
                                location: String::new(),
                                message: format!(
                                    "The value for the field '{key}' must be a STRING that \
                                     contains a JSONPath or an intrinsic function call"
                                ),
                            }),
                        };
                        match node {
                            Ok(node) => (name.to_string(), node),
                            Err(mut e) => {
                                e.location = here;
                                errors.push(e);
                                continue;
                            }
                        }
                    }
                    None => {
                        let node = compile_node(item, &here, depth + 1, errors);
                        dynamic |= !matches!(node, Node::Literal(_));
                        (key.clone(), node)
                    }
                };
                fields.push(node);
            }
            if dynamic {
                Node::Object(fields)
            } else {
                Node::Literal(value.clone())
            }
        }
        Value::Array(items) => {
            let nodes: Vec<Node> = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    compile_node(item, &pointer(location, &i.to_string()), depth + 1, errors)
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

fn compile_dynamic(text: &str, key: Option<&str>) -> Result<Node, TemplateError> {
    let field = key.map(str::to_string);
    let described = key.map_or_else(String::new, |k| format!(" for the field '{k}'"));
    if intrinsics::looks_like_call(text) {
        return Call::parse(text)
            .map(|call| Node::Call { call, field })
            .map_err(|e| TemplateError {
                location: String::new(),
                message: format!(
                    "The value{described} is not a valid intrinsic function call: {e}"
                ),
            });
    }
    if text.starts_with('$') {
        return Path::parse(text)
            .map(|path| Node::Path { path, field })
            .map_err(|e| TemplateError {
                location: String::new(),
                message: format!("The value{described} must be a valid JSONPath: {e}"),
            });
    }
    Err(TemplateError {
        location: String::new(),
        message: format!(
            "The value{described} must be a valid JSONPath or a valid intrinsic function call, \
             but was '{text}'"
        ),
    })
}

fn evaluate_node(
    node: &Node,
    scope: Scope<'_>,
    random: &mut dyn Random,
    field: &str,
) -> Result<Value, Failure> {
    match node {
        Node::Literal(value) => Ok(value.clone()),
        Node::Object(fields) => {
            let mut map = Map::with_capacity(fields.len());
            for (key, child) in fields {
                let value = evaluate_node(child, scope, random, field)?;
                map.insert(key.clone(), value);
            }
            Ok(Value::Object(map))
        }
        Node::Array(items) => items
            .iter()
            .map(|child| evaluate_node(child, scope, random, field))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Node::Path { path, field: key } => scope
            .select(path)
            .map(std::borrow::Cow::into_owned)
            .ok_or_else(|| {
                Failure::runtime(format!(
                    "The JSONPath '{}' specified for the field '{}' could not be found in the \
                     input '{}'",
                    path.source(),
                    key.as_deref().unwrap_or(field),
                    intrinsics::compact(scope.input)
                ))
            }),
        Node::Call { call, field: key } => {
            call.evaluate_in_field(scope, random, key.as_deref().unwrap_or(field))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::random::SplitMix64;
    use serde_json::json;

    fn run(template: Value, input: Value) -> Result<Value, Failure> {
        let context = json!({"Execution": {"Input": input.clone(), "Name": "exec"}});
        let compiled = Template::compile(&template).unwrap();
        compiled.evaluate(
            Scope {
                input: &input,
                context: &context,
                variables: &crate::variables::NoVariables,
            },
            &mut SplitMix64::new(1),
            "Parameters",
        )
    }

    #[test]
    fn static_values_are_copied_and_dynamic_keys_lose_their_suffix() {
        let t = json!({
            "Arg1": "argument1",
            "FromInput.$": "$",
            "Nested": {"deep.$": "$.a", "plain": [1, {"x": null}]},
            "Ctx.$": "$$.Execution.Name",
            "Fn.$": "States.Format('{}-{}', $.a, $$.Execution.Name)"
        });
        let out = run(t, json!({"a": 7})).unwrap();
        assert_eq!(
            out,
            json!({
                "Arg1": "argument1",
                "FromInput": {"a": 7},
                "Nested": {"deep": 7, "plain": [1, {"x": null}]},
                "Ctx": "exec",
                "Fn": "7-exec"
            })
        );
        // Output keys keep the template's order.
        let text = serde_json::to_string(&out).unwrap();
        assert!(
            text.starts_with("{\"Arg1\":\"argument1\",\"FromInput\""),
            "{text}"
        );
    }

    #[test]
    fn keys_inside_arrays_are_processed() {
        let out = run(
            json!({"list": [{"v.$": "$.a"}, "lit", ["x", {"w.$": "$.b[0]"}]]}),
            json!({"a": 1, "b": [2]}),
        );
        assert_eq!(
            out.unwrap(),
            json!({"list": [{"v": 1}, "lit", ["x", {"w": 2}]]})
        );
        let top = run(json!([{"v.$": "$.a"}]), json!({"a": 3}));
        assert_eq!(top.unwrap(), json!([{"v": 3}]));
    }

    #[test]
    fn literal_templates_are_recognised() {
        let t = Template::compile(&json!({"a": [1, {"b": "$.not-a-path"}]})).unwrap();
        assert!(t.is_literal());
        assert!(!Template::compile(&json!({"a": [{"b.$": "$"}]}))
            .unwrap()
            .is_literal());
        assert!(Template::literal(json!(1)).is_literal());
    }

    #[test]
    fn reads_input_sees_paths_and_call_arguments_but_not_context_or_variables() {
        let reads = |t: Value| Template::compile(&t).unwrap().reads_input();
        assert!(!reads(json!({"a": 1})));
        assert!(!reads(json!({"i.$": "$$.Map.Item.Value", "v.$": "$x"})));
        assert!(reads(json!({"a": [{"b.$": "$.b"}]})));
        assert!(reads(json!({"f.$": "States.Format('{}', $.name)"})));
        assert!(!reads(
            json!({"f.$": "States.Format('{}', $$.Map.Item.Index)"})
        ));
    }

    #[test]
    fn missing_path_is_a_runtime_error_with_aws_cause() {
        // AWS conformance: INVALID_JSONPATH_IN_STRING_EXPR_JSONPATH / _CONTEXTPATH.
        let f = run(
            json!({"value.$": "$.no_such_jsonpath"}),
            json!({"int-literal": 0}),
        )
        .unwrap_err();
        assert_eq!(f.error, "States.Runtime");
        assert_eq!(
            f.cause.as_deref(),
            Some("The JSONPath '$.no_such_jsonpath' specified for the field 'value.$' could not be found in the input '{\"int-literal\":0}'")
        );
        let f = run(
            json!({"a": {"value.$": "$$.Execution.Input.no_such_jsonpath"}}),
            json!({"int-literal": 0}),
        )
        .unwrap_err();
        assert_eq!(
            f.cause.as_deref(),
            Some("The JSONPath '$$.Execution.Input.no_such_jsonpath' specified for the field 'value.$' could not be found in the input '{\"int-literal\":0}'")
        );
    }

    #[test]
    fn indefinite_paths_yield_arrays() {
        assert_eq!(
            run(json!({"item.$": "$.items[*]"}), json!({})).unwrap(),
            json!({"item": []})
        );
        assert_eq!(
            run(
                json!({"item.$": "$.items[1:]"}),
                json!({"items": [1, 2, 3]})
            )
            .unwrap(),
            json!({"item": [2, 3]})
        );
    }

    #[test]
    fn intrinsic_failures_propagate() {
        let f = run(json!({"x.$": "States.ArrayLength($.a)"}), json!({"a": 1})).unwrap_err();
        assert_eq!(f.error, "States.IntrinsicFailure");
        let f = run(json!({"x.$": "States.ArrayLength($.b)"}), json!({"a": 1})).unwrap_err();
        assert_eq!(f.error, "States.Runtime");
        assert!(f.cause.unwrap().contains("for the field 'x.$'"));
    }

    #[test]
    fn compile_reports_every_error_with_its_location() {
        let errors = Template::compile(&json!({
            "ok.$": "$.a",
            "num.$": 5,
            "nested": {"bad.$": "not a path", "list": [{"fn.$": "States.Nope()"}]},
            "a/b.$": "$[",
        }))
        .unwrap_err();
        let locations: Vec<&str> = errors.iter().map(|e| e.location.as_str()).collect();
        assert_eq!(
            locations,
            ["/num.$", "/nested/bad.$", "/nested/list/0/fn.$", "/a~1b.$"]
        );
        assert!(errors[0].message.contains("'num.$'"));
        assert!(errors[1].message.contains("'bad.$'"));
    }

    #[test]
    fn expressions_for_error_path_and_cause_path() {
        let input = json!({"Error": "error string", "Cause": "cause string"});
        let scope = Scope {
            input: &input,
            context: &json!({}),
            variables: &crate::variables::NoVariables,
        };
        let mut rng = SplitMix64::new(1);
        let path = Template::compile_expression("$.Error").unwrap();
        assert_eq!(
            path.evaluate(scope, &mut rng, "ErrorPath"),
            Ok(json!("error string"))
        );
        // AWS conformance: TestSnfBase__test_state_fail_intrinsic.
        let call = Template::compile_expression(
            "States.Format('This is a custom error message for {}, caused by {}.', $.Error, $.Cause)",
        )
        .unwrap();
        assert_eq!(
            call.evaluate(scope, &mut rng, "CausePath"),
            Ok(json!(
                "This is a custom error message for error string, caused by cause string."
            ))
        );
        // AWS conformance: INVALID_JSONPATH_IN_ERRORPATH.
        let missing = Template::compile_expression("$.ErrorX").unwrap();
        let f = missing.evaluate(scope, &mut rng, "ErrorPath").unwrap_err();
        assert_eq!(
            f.cause.as_deref(),
            Some("The JSONPath '$.ErrorX' specified for the field 'ErrorPath' could not be found in the input '{\"Error\":\"error string\",\"Cause\":\"cause string\"}'")
        );
        assert!(Template::compile_expression("plain text").is_err());
        assert!(Template::compile_expression("States.Format(").is_err());
    }

    #[test]
    fn too_deep_templates_are_rejected_not_overflowed() {
        let mut value = json!({"x.$": "$"});
        for _ in 0..200 {
            value = json!([value]);
        }
        let errors = Template::compile(&value).unwrap_err();
        assert_eq!(errors.len(), 1);
    }
}
