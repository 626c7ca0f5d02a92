//! [`Engine`] implemented with the `jsonata-core` crate (JSONata 2.x; AWS implements
//! 2.0.6, see `docs/asl-support.md` for where that matters).
//!
//! Its values are `Rc`-based, so a [`CoreSession`] lives inside one interpreter step
//! and is never stored. Every evaluation runs under [`Limits`]:
//! - depth and sequence length are the engine's own options (`D1011`, `U1001`,
//!   `D2015`);
//! - steps: the engine can only be bounded by a wall clock, which the interpreter must
//!   not read, so each program is instrumented when it is compiled: every function
//!   body and every block starts with a call of a host function that counts, and fails
//!   the evaluation once [`Limits::max_steps`] is spent. A tail-recursive loop, a
//!   higher-order function over a long sequence and a block mapped over one all count.
//! - a panic inside the engine is caught here and becomes
//!   [`EvalError::EnginePanicked`]: it fails the state, never the process.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use indexmap::IndexMap;
use jsonata_core::ast::AstNode;
use jsonata_core::evaluator::{Context, Evaluator, EvaluatorError, EvaluatorOptions};
use jsonata_core::value::{with_stack, JArray, JValue};
use serde_json::{Map, Number, Value};

use super::analysis::Analysis;
use super::functions::{self, Host};
use super::{CompileError, Engine, Environment, EvalError};
use crate::random::SplitMix64;

/// The name of the host function the instrumentation calls; no user function can be
/// written with it by accident.
pub(super) const STEP_FUNCTION: &str = "__cairnStep";

/// The message prefix of the error the step counter raises.
pub(super) const STEP_LIMIT_CODE: &str = "U9001";

/// The jsonata-core engine.
#[derive(Debug, Clone, Copy, Default)]
pub struct CoreEngine;

/// A parsed and instrumented expression. `AstNode` holds no `Rc`: programs are shared
/// across threads with the definition.
#[derive(Debug)]
pub struct Program {
    ast: AstNode,
    /// The instrumentation added step counting (the expression has a function or a
    /// block): the counter must be provided.
    counts_steps: bool,
}

/// One step's evaluations: the environment and the engine values built from it once.
pub struct CoreSession<'a> {
    env: Environment<'a>,
    /// `$states`' fields, converted when an expression first reads them.
    input: Option<JValue>,
    context: Option<JValue>,
    result: Option<JValue>,
    error_output: Option<JValue>,
    variables: HashMap<String, Option<JValue>>,
    entropy: Option<Rc<RefCell<SplitMix64>>>,
}

impl Engine for CoreEngine {
    type Program = Program;
    type Session<'a> = CoreSession<'a>;

    fn compile(source: &str) -> Result<(Program, Analysis), CompileError> {
        let parsed = catch_unwind(|| jsonata_core::parser::parse(source));
        let mut ast = match parsed {
            Ok(Ok(ast)) => ast,
            Ok(Err(e)) => {
                return Err(CompileError {
                    message: e.to_string(),
                })
            }
            Err(_) => {
                return Err(CompileError {
                    message: "The JSONata engine could not parse the expression".to_string(),
                })
            }
        };
        let analysis = Analysis::of(&ast);
        let mut counts_steps = false;
        instrument(&mut ast, &mut counts_steps);
        Ok((Program { ast, counts_steps }, analysis))
    }

    fn session(environment: Environment<'_>) -> CoreSession<'_> {
        CoreSession {
            env: environment,
            input: None,
            context: None,
            result: None,
            error_output: None,
            variables: HashMap::new(),
            entropy: None,
        }
    }

    fn evaluate(
        session: &mut CoreSession<'_>,
        program: &Program,
        analysis: &Analysis,
    ) -> Result<Value, EvalError> {
        let mut context = Context::new();
        if analysis.reads_states {
            context.bind("states".to_string(), session.states(analysis));
        }
        for name in &analysis.variables {
            if let Some(value) = session.variable(name) {
                context.bind(name.clone(), value);
            }
        }
        let limits = session.env.limits;
        let options = EvaluatorOptions {
            max_stack_depth: Some(limits.max_depth),
            max_sequence_length: Some(limits.max_sequence_length),
            ..EvaluatorOptions::default()
        };
        let host = Host {
            now: session.env.now,
            entropy: session.entropy(analysis.uses_entropy),
            steps: Rc::new(Cell::new(0)),
            max_steps: limits.max_steps,
            max_sequence_length: limits.max_sequence_length,
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut evaluator = Evaluator::with_options(context, options);
            functions::register(&mut evaluator, &host, analysis, program.counts_steps)?;
            evaluator.evaluate(&program.ast, &JValue::Undefined)
        }));
        match outcome {
            Err(_) => Err(EvalError::EnginePanicked),
            Ok(Err(error)) => Err(engine_error(&error)),
            Ok(Ok(value)) => to_json(&value),
        }
    }
}

impl CoreSession<'_> {
    /// `$states` with the fields `analysis` says the expression reads (all of them if
    /// it reads `$states` whole), each converted once per session.
    fn states(&mut self, analysis: &Analysis) -> JValue {
        let wanted =
            |field: &str| analysis.reads_whole_states || analysis.names_states_field(field);
        let mut map = IndexMap::new();
        if wanted("input") {
            let input = self.env.input;
            let value = self.input.get_or_insert_with(|| from_json(input));
            map.insert("input".to_string(), value.clone());
        }
        if wanted("context") {
            let context = self.env.context;
            let value = self.context.get_or_insert_with(|| from_json(context));
            map.insert("context".to_string(), value.clone());
        }
        if let (true, Some(result)) = (wanted("result"), self.env.result) {
            let value = self.result.get_or_insert_with(|| from_json(result));
            map.insert("result".to_string(), value.clone());
        }
        if let (true, Some(error_output)) = (wanted("errorOutput"), self.env.error_output) {
            let value = self
                .error_output
                .get_or_insert_with(|| from_json(error_output));
            map.insert("errorOutput".to_string(), value.clone());
        }
        JValue::object(map)
    }

    fn variable(&mut self, name: &str) -> Option<JValue> {
        if let Some(known) = self.variables.get(name) {
            return known.clone();
        }
        let value = self.env.variables.variable(name).map(from_json);
        self.variables.insert(name.to_string(), value.clone());
        value
    }

    /// The generator `$random`, `$uuid` and `$shuffle` draw from: seeded from the
    /// interpreter's entropy the first time an expression of the session may need it,
    /// so an execution that never draws leaves the interpreter's draws unchanged.
    fn entropy(&mut self, needed: bool) -> Rc<RefCell<SplitMix64>> {
        if let Some(entropy) = &self.entropy {
            return Rc::clone(entropy);
        }
        if !needed {
            return Rc::new(RefCell::new(SplitMix64::new(0)));
        }
        let entropy = Rc::new(RefCell::new(SplitMix64::new(self.env.random.next_u64())));
        self.entropy = Some(Rc::clone(&entropy));
        entropy
    }
}

/// What an engine error means for the state: a limit reached, or an evaluation error.
fn engine_error(error: &EvaluatorError) -> EvalError {
    let message = error.message().to_string();
    match error.code() {
        Some("D1011" | "U1001" | "D2015" | "D2014" | STEP_LIMIT_CODE) => {
            EvalError::LimitExceeded(message)
        }
        _ => EvalError::Failed(message),
    }
}

/// Makes every function body and every block start by counting a step (see the
/// module doc). Evaluating the count returns nothing and changes no binding, so the
/// expression means what it meant; a body keeps its tail call in tail position.
/// `counted` becomes true when a count was added.
fn instrument(node: &mut AstNode, counted: &mut bool) {
    with_stack(|| instrument_node(node, counted));
}

fn step_call() -> AstNode {
    AstNode::Function {
        name: STEP_FUNCTION.to_string(),
        // An argument, so the engine does not take the call for one that reads `$`.
        args: vec![AstNode::Number(0.0)],
        is_builtin: true,
    }
}

fn instrument_node(node: &mut AstNode, counted: &mut bool) {
    match node {
        AstNode::String(_)
        | AstNode::Name(_)
        | AstNode::Number(_)
        | AstNode::Boolean(_)
        | AstNode::Null
        | AstNode::Undefined
        | AstNode::Placeholder
        | AstNode::Regex { .. }
        | AstNode::Variable(_)
        | AstNode::ParentVariable(_)
        | AstNode::Wildcard
        | AstNode::Descendant
        | AstNode::Parent(_) => {}
        AstNode::Path { steps } => {
            for step in steps {
                instrument(&mut step.node, counted);
                for stage in &mut step.stages {
                    if let jsonata_core::ast::Stage::Filter(predicate) = stage {
                        instrument(predicate, counted);
                    }
                }
            }
        }
        AstNode::Binary { lhs, rhs, .. } => {
            instrument(lhs, counted);
            instrument(rhs, counted);
        }
        AstNode::Unary { operand, .. } => instrument(operand, counted),
        AstNode::Function { args, .. } => args.iter_mut().for_each(|n| instrument(n, counted)),
        AstNode::Call { procedure, args } => {
            instrument(procedure, counted);
            args.iter_mut().for_each(|n| instrument(n, counted));
        }
        AstNode::Lambda { body, .. } => {
            instrument(body, counted);
            *counted = true;
            let inner = std::mem::replace(body.as_mut(), AstNode::Null);
            **body = AstNode::Block(vec![step_call(), inner]);
        }
        AstNode::Block(items) => {
            items.iter_mut().for_each(|n| instrument(n, counted));
            items.insert(0, step_call());
            *counted = true;
        }
        AstNode::Array(items) | AstNode::ArrayGroup(items) => {
            items.iter_mut().for_each(|n| instrument(n, counted))
        }
        AstNode::Object(pairs) => {
            for (key, value) in pairs {
                instrument(key, counted);
                instrument(value, counted);
            }
        }
        AstNode::ObjectTransform { input, pattern } => {
            instrument(input, counted);
            for (key, value) in pattern {
                instrument(key, counted);
                instrument(value, counted);
            }
        }
        AstNode::Conditional {
            condition,
            then_branch,
            else_branch,
        } => {
            instrument(condition, counted);
            instrument(then_branch, counted);
            if let Some(other) = else_branch {
                instrument(other, counted);
            }
        }
        AstNode::FunctionApplication(inner) => instrument(inner, counted),
        AstNode::Sort { input, terms } => {
            instrument(input, counted);
            for (term, _) in terms {
                instrument(term, counted);
            }
        }
        AstNode::Transform {
            location,
            update,
            delete,
        } => {
            instrument(location, counted);
            instrument(update, counted);
            if let Some(delete) = delete {
                instrument(delete, counted);
            }
        }
    }
}

/// A JSON value as the engine's value. Arrays read from JSON are plain arrays (not
/// sequences), flat when they hold no array, as the engine's own JSON reader marks them.
pub(super) fn from_json(value: &Value) -> JValue {
    with_stack(|| match value {
        Value::Null => JValue::Null,
        Value::Bool(b) => JValue::Bool(*b),
        Value::Number(n) => JValue::Number(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => JValue::string(s.as_str()),
        Value::Array(items) => {
            let flat = !items.iter().any(Value::is_array);
            JValue::Array(JArray::new_flat(
                items.iter().map(from_json).collect(),
                flat,
            ))
        }
        Value::Object(map) => JValue::object(
            map.iter()
                .map(|(k, v)| (k.clone(), from_json(v)))
                .collect::<IndexMap<_, _>>(),
        ),
    })
}

/// The engine's value as JSON. Integral numbers are written as integers (`7`, not
/// `7.0`; `-0` as `0`), as AWS writes them. Nothing, a function, a regular expression
/// or a number JSON cannot hold is an error.
pub(super) fn to_json(value: &JValue) -> Result<Value, EvalError> {
    match value {
        JValue::Undefined => Err(EvalError::Undefined),
        other => to_json_inner(other),
    }
}

fn to_json_inner(value: &JValue) -> Result<Value, EvalError> {
    with_stack(|| match value {
        JValue::Null | JValue::Undefined => Ok(Value::Null),
        JValue::Bool(b) => Ok(Value::Bool(*b)),
        JValue::Number(n) => number(*n),
        JValue::String(s) => Ok(Value::String(s.to_string())),
        JValue::Array(items) => items
            .iter()
            .filter(|item| !item.is_undefined())
            .map(to_json_inner)
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        JValue::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (key, item) in map.iter() {
                if item.is_undefined() {
                    continue;
                }
                out.insert(key.clone(), to_json_inner(item)?);
            }
            Ok(Value::Object(out))
        }
        JValue::Lambda(_) | JValue::Builtin { .. } | JValue::Regex { .. } => {
            Err(EvalError::Unsupported)
        }
    })
}

pub(super) fn number(n: f64) -> Result<Value, EvalError> {
    if !n.is_finite() {
        return Err(EvalError::Failed(format!(
            "D1001: Number out of range: {n}"
        )));
    }
    // Within ±2^53 an integral float is an exact integer.
    if n.fract() == 0.0 && n.abs() <= 9_007_199_254_740_992.0 {
        return Ok(Value::Number(Number::from(n as i64)));
    }
    Ok(Number::from_f64(n).map_or(Value::Null, Value::Number))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::jsonata::{Expression, Limits};
    use crate::random::SplitMix64;
    use crate::timestamp::Timestamp;
    use serde_json::json;

    fn eval_with(source: &str, input: Value, limits: Limits) -> Result<Value, EvalError> {
        let expression = Expression::compile(source).unwrap();
        let context = json!({"Execution": {"Name": "e"}});
        let mut random = SplitMix64::new(7);
        let mut session = crate::jsonata::session(Environment {
            input: &input,
            context: &context,
            result: None,
            error_output: None,
            variables: &crate::variables::NoVariables,
            now: Timestamp::from_unix_millis(1_748_779_200_000),
            random: &mut random,
            limits,
        });
        expression.evaluate(&mut session)
    }

    fn eval(source: &str, input: Value) -> Result<Value, EvalError> {
        eval_with(source, input, Limits::default())
    }

    /// The uninstrumented engine's answer, to compare with.
    fn plain(source: &str) -> Result<Value, EvalError> {
        let ast = jsonata_core::parser::parse(source).unwrap();
        let mut evaluator = Evaluator::new();
        match evaluator.evaluate(&ast, &JValue::Undefined) {
            Ok(v) => to_json(&v),
            Err(e) => Err(engine_error(&e)),
        }
    }

    #[test]
    fn numbers_are_written_as_aws_writes_them() {
        assert_eq!(eval("1 + 6", json!(null)).unwrap().to_string(), "7");
        assert_eq!(eval("-0", json!(null)).unwrap().to_string(), "0");
        assert_eq!(eval("0.1 + 0.2", json!(null)).unwrap(), json!(0.1 + 0.2));
        assert!(
            matches!(eval("1/0", json!(null)), Err(EvalError::Failed(m)) if m.starts_with("D1001"))
        );
    }

    #[test]
    fn states_input_and_context_are_bound() {
        let input = json!({"a": [1, 2, 3]});
        assert_eq!(
            eval("$sum($states.input.a)", input.clone()).unwrap(),
            json!(6)
        );
        assert_eq!(
            eval("$states.context.Execution.Name", input).unwrap(),
            json!("e")
        );
    }

    #[test]
    fn nothing_and_functions_are_errors() {
        assert_eq!(eval("$nothing", json!({})), Err(EvalError::Undefined));
        assert_eq!(
            eval("function($x){$x}", json!({})),
            Err(EvalError::Unsupported)
        );
        assert_eq!(
            eval("{'f': $uppercase}", json!({})),
            Err(EvalError::Unsupported)
        );
        assert!(
            matches!(eval("$number('x')", json!({})), Err(EvalError::Failed(m)) if m.starts_with("D3030"))
        );
    }

    #[test]
    fn a_runaway_tail_loop_is_stopped_by_the_step_budget() {
        let limits = Limits {
            max_steps: 1_000,
            ..Limits::default()
        };
        let looping = "($f := function($n){ $f($n + 1) }; $f(0))";
        match eval_with(looping, json!({}), limits) {
            Err(EvalError::LimitExceeded(m)) => assert!(m.starts_with(STEP_LIMIT_CODE), "{m}"),
            other => panic!("{other:?}"),
        }
        let counting = "($f := function($n){ $n < 100 ? $f($n + 1) : $n }; $f(0))";
        assert_eq!(eval_with(counting, json!({}), limits).unwrap(), json!(100));
        // A block mapped over a long sequence counts once per item.
        let mapped = "$count([1..5000].($x := $; $x))";
        assert!(matches!(
            eval_with(mapped, json!({}), limits),
            Err(EvalError::LimitExceeded(_))
        ));
    }

    #[test]
    fn depth_and_sequence_limits_fail_the_evaluation() {
        let deep = "($f := function($n){ $n = 0 ? 0 : 1 + $f($n - 1) }; $f(100000))";
        assert!(matches!(
            eval(deep, json!({})),
            Err(EvalError::LimitExceeded(_))
        ));
        let limits = Limits {
            max_sequence_length: 100,
            ..Limits::default()
        };
        assert!(matches!(
            eval_with("$count([1..1000])", json!({}), limits),
            Err(EvalError::LimitExceeded(m)) if m.starts_with("D2015")
        ));
    }

    #[test]
    fn instrumentation_changes_no_result() {
        for source in [
            "[1,2,3].($ * 2)",
            "[1,2,3].($x := $; $x + 1)",
            "($a := 1; $b := 2; $a + $b)",
            "$map([1,2,3], function($v, $i){ $v * $i })",
            "$filter([1,2,3,4], function($v){ $v % 2 = 0 })",
            "$reduce([1,2,3,4], function($a, $b){ $a + $b }, 10)",
            "$sort([3,1,2], function($a, $b){ $a > $b })",
            "($f := function($n, $acc){ $n = 0 ? $acc : $f($n - 1, $acc * $n) }; $f(10, 1))",
            "($fib := function($n){ $n < 2 ? $n : $fib($n - 1) + $fib($n - 2) }; $fib(15))",
            "[{'a':1,'b':[1,2]},{'a':2,'b':[3]}].b",
            "[{'a':1,'b':[1,2]},{'a':2,'b':[3]}].(b)",
            "[{'k':'x','v':1},{'k':'y','v':2},{'k':'x','v':3}]{k: $sum(v)}",
            "[[1,2],[3]].($)",
            "([1,2,3])[0]",
            "([1,2,3])[]",
            "[1].($)",
            "[1,2,3]@$i.($i)",
            "[1,2,3]#$p.($p)",
            "($g := function($x){ ($y := $x * 2; $y) }; $g(21))",
            "(function($x){ $x + 1 })(41)",
            "$each({'a':1,'b':2}, function($v, $k){ $k & $v })",
            "[3,1,2]^($).($ + 1)",
            "$string([1,{'a':(1;2)}])",
            "{'a': ([1,2,3]).($ + 1)}",
        ] {
            assert_eq!(eval(source, json!({})), plain(source), "{source}");
        }
    }

    #[test]
    fn an_engine_panic_does_not_escape() {
        // Whatever the engine does with odd input, the boundary answers.
        // jsonata-core 2.2.13 overflows an addition here (a panic in a debug build).
        let answer = eval("$substring('abc', 1, 1e300)", json!({}));
        assert!(
            answer.is_ok() || answer == Err(EvalError::EnginePanicked),
            "{answer:?}"
        );
        assert_eq!(eval("$pad('x', -1e300)", json!({})).ok(), None);
    }
}
