//! The functions Step Functions adds to JSONata, AWS's refusal of `$eval`, and the
//! impure built-ins rebound to the interpreter's clock and entropy.
//!
//! AWS's additions (its documentation's "JSONata functions provided by Step
//! Functions"): `$partition(array, size)`, `$range(start, end, step)` (inclusive of
//! `end`), `$hash(value, algorithm)`, `$random([seed])`, `$uuid()`, `$parse(text)`.
//! `$eval` is not available on AWS; `$parse` takes its place.
//!
//! `$now`, `$millis`, `$random`, `$uuid` and `$shuffle` read the [`Host`]'s clock and
//! generator, which the interpreter seeds from the step's [`crate::interpreter::Clock`]:
//! the same events replay to the same values.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use jsonata_core::evaluator::{Context, Evaluator, EvaluatorError};
use jsonata_core::value::JValue;

use super::analysis::Analysis;
use super::engine::{from_json, STEP_FUNCTION, STEP_LIMIT_CODE};
use crate::random::{Random, SplitMix64};
use crate::timestamp::Timestamp;

/// What the functions of one evaluation share.
pub(super) struct Host {
    pub(super) now: Timestamp,
    pub(super) entropy: Rc<RefCell<SplitMix64>>,
    /// Steps taken so far (see [`super::engine`]).
    pub(super) steps: Rc<Cell<u64>>,
    pub(super) max_steps: u64,
    pub(super) max_sequence_length: usize,
}

type HostResult = Result<JValue, EvaluatorError>;

fn error(message: String) -> EvaluatorError {
    EvaluatorError::EvaluationError(message)
}

fn type_error(function: &str, message: &str) -> EvaluatorError {
    EvaluatorError::TypeError(format!("T0410: {function}: {message}"))
}

/// Registers on `evaluator` the functions an expression may use (registering costs more
/// than evaluating most expressions).
pub(super) fn register(
    evaluator: &mut Evaluator,
    host: &Host,
    analysis: &Analysis,
    counts_steps: bool,
) -> Result<(), EvaluatorError> {
    let uses = |name: &str| analysis.may_use_function(name);
    if counts_steps {
        register_step_counter(evaluator, host)?;
    }
    if uses("partition") {
        evaluator.register_fn("partition", partition)?;
    }
    if uses("range") {
        let max_sequence = host.max_sequence_length;
        evaluator.register_fn("range", move |args: &[JValue]| range(args, max_sequence))?;
    }
    if uses("hash") {
        evaluator.register_fn("hash", hash)?;
    }
    if uses("parse") {
        evaluator.register_fn("parse", parse)?;
    }
    if uses("uuid") {
        let entropy = Rc::clone(&host.entropy);
        evaluator.register_fn("uuid", move |args: &[JValue]| -> HostResult {
            if !args.is_empty() {
                return Err(type_error("$uuid", "takes no arguments"));
            }
            let mut generator = entropy.borrow_mut();
            Ok(JValue::string(crate::intrinsics::uuid_v4(&mut *generator)))
        })?;
    }
    if uses("random") {
        let entropy = Rc::clone(&host.entropy);
        evaluator.register_fn_override("random", move |args: &[JValue]| -> HostResult {
            match args {
                [] => Ok(JValue::Number(entropy.borrow_mut().next_f64())),
                [JValue::Number(seed)] => {
                    // The same seed always gives the same number.
                    Ok(JValue::Number(SplitMix64::new(seed.to_bits()).next_f64()))
                }
                _ => Err(type_error("$random", "the seed must be a number")),
            }
        })?;
    }
    if uses("shuffle") {
        let entropy = Rc::clone(&host.entropy);
        evaluator
            .register_fn_override("shuffle", move |args: &[JValue]| shuffle(args, &entropy))?;
    }
    let now = host.now;
    if uses("millis") {
        evaluator.register_fn_override("millis", move |args: &[JValue]| -> HostResult {
            if !args.is_empty() {
                return Err(type_error("$millis", "takes no arguments"));
            }
            Ok(JValue::from(now.unix_millis()))
        })?;
    }
    if uses("now") {
        evaluator.register_fn_override("now", move |args: &[JValue]| now_of(now, args))?;
    }
    // Built-ins whose arguments can make them run for hours or fill the memory: the
    // arguments are checked, then the built-in itself runs.
    if uses("pad") {
        evaluator.register_fn_override("pad", pad)?;
    }
    if uses("formatInteger") {
        evaluator.register_fn_override("formatInteger", format_integer)?;
    }
    if uses("eval") {
        evaluator.register_fn_override("eval", |_: &[JValue]| -> HostResult {
            Err(error(
                "The function $eval is not supported by Step Functions; use $parse".to_string(),
            ))
        })?;
    }
    Ok(())
}

/// The step counter the instrumentation calls (see [`super::engine`]).
fn register_step_counter(evaluator: &mut Evaluator, host: &Host) -> Result<(), EvaluatorError> {
    let steps = Rc::clone(&host.steps);
    let max_steps = host.max_steps;
    evaluator.register_fn(STEP_FUNCTION, move |_: &[JValue]| -> HostResult {
        let taken = steps.get() + 1;
        steps.set(taken);
        if taken > max_steps {
            return Err(error(format!(
                "{STEP_LIMIT_CODE}: The expression took more than {max_steps} steps"
            )));
        }
        Ok(JValue::Undefined)
    })?;
    Ok(())
}

/// `$shuffle(array)`: Fisher–Yates, drawing from the step's generator.
fn shuffle(args: &[JValue], entropy: &RefCell<SplitMix64>) -> HostResult {
    let mut items = match args {
        [JValue::Null] => return Ok(JValue::Null),
        [JValue::Undefined] => return Ok(JValue::Undefined),
        [JValue::Array(items)] => items.iter().cloned().collect::<Vec<_>>(),
        [other] => vec![other.clone()],
        _ => return Err(type_error("$shuffle", "takes one array")),
    };
    let mut generator = entropy.borrow_mut();
    for i in (1..items.len()).rev() {
        let j = (generator.next_u64() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
    Ok(JValue::array(items))
}

/// `$pad`, refused beyond [`MAX_PAD_WIDTH`] (the built-in loops for as long as it is
/// told to).
fn pad(args: &[JValue]) -> HostResult {
    if let Some(JValue::Number(width)) = args.get(1) {
        if width.abs() > MAX_PAD_WIDTH {
            return Err(error(format!(
                "D3137: $pad: the width {width} is larger than {MAX_PAD_WIDTH}"
            )));
        }
    }
    builtin("pad", args)
}

/// `$formatInteger`, refused for Roman numerals beyond [`MAX_ROMAN`].
fn format_integer(args: &[JValue]) -> HostResult {
    if let (Some(JValue::Number(n)), Some(JValue::String(picture))) = (args.first(), args.get(1)) {
        if picture.contains(['I', 'i']) && n.abs() > MAX_ROMAN {
            return Err(error(format!(
                "D3137: $formatInteger: {n} is too large to write in Roman numerals"
            )));
        }
    }
    builtin("formatInteger", args)
}

/// Widest string `$pad` may make (the built-in loops for as long as it is told to).
const MAX_PAD_WIDTH: f64 = 1_000_000.0;
/// Largest number `$formatInteger` writes in Roman numerals (one `M` per thousand).
const MAX_ROMAN: f64 = 1_000_000.0;

/// Calls the engine's own built-in `name` with `args`, in an evaluator of its own.
fn builtin(name: &str, args: &[JValue]) -> HostResult {
    let mut context = Context::new();
    let mut names = Vec::with_capacity(args.len());
    for (i, arg) in args.iter().enumerate() {
        let variable = format!("a{i}");
        context.bind(variable.clone(), arg.clone());
        names.push(format!("${variable}"));
    }
    let source = format!("${name}({})", names.join(", "));
    let ast = jsonata_core::parser::parse(&source).map_err(|e| error(e.to_string()))?;
    Evaluator::with_context(context).evaluate(&ast, &JValue::Undefined)
}

/// `$now([picture [, timezone]])`: the step's time, as `$fromMillis` would write it.
fn now_of(now: Timestamp, args: &[JValue]) -> HostResult {
    if args.is_empty() {
        return Ok(JValue::string(now.to_rfc3339_millis()));
    }
    if args.len() > 2 {
        return Err(type_error("$now", "takes at most a picture and a timezone"));
    }
    // The engine formats: `$fromMillis` with the same arguments.
    let mut with_millis = vec![JValue::from(now.unix_millis())];
    with_millis.extend(args.iter().cloned());
    builtin("fromMillis", &with_millis)
}

fn integer(function: &str, what: &str, value: &JValue) -> Result<i64, EvaluatorError> {
    match value {
        JValue::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Ok(*n as i64),
        _ => Err(type_error(
            function,
            &format!("the {what} must be an integer"),
        )),
    }
}

/// `$partition(array, size)`: the array cut into chunks of `size` items, the last one
/// shorter if need be (`States.ArrayPartition`).
fn partition(args: &[JValue]) -> HostResult {
    let [array, size] = args else {
        return Err(type_error("$partition", "takes an array and a chunk size"));
    };
    let items: Vec<JValue> = match array {
        JValue::Array(items) => items.iter().cloned().collect(),
        JValue::Undefined => return Ok(JValue::Undefined),
        other => vec![other.clone()],
    };
    let size = integer("$partition", "chunk size", size)?;
    if size <= 0 {
        return Err(type_error(
            "$partition",
            "the chunk size must be greater than 0",
        ));
    }
    let chunks = items
        .chunks(size as usize)
        .map(|chunk| JValue::array(chunk.to_vec()))
        .collect();
    Ok(JValue::array(chunks))
}

/// `$range(start, end, step)`: integers from `start` to `end` inclusive (as
/// `States.ArrayRange`), as a sequence: one number alone is that number.
fn range(args: &[JValue], max_sequence: usize) -> HostResult {
    let [start, end, step] = args else {
        return Err(type_error("$range", "takes a start, an end and a step"));
    };
    let start = integer("$range", "start", start)?;
    let end = integer("$range", "end", end)?;
    let step = integer("$range", "step", step)?;
    if step == 0 {
        return Err(type_error("$range", "the step must not be 0"));
    }
    let count = if (end - start).signum() * step.signum() < 0 {
        0
    } else {
        ((end - start) / step) as u64 + 1
    };
    if count > max_sequence as u64 {
        return Err(error(format!(
            "D2015: The maximum sequence length of {max_sequence} was exceeded."
        )));
    }
    let items = (0..count)
        .map(|i| JValue::from(start + step * i as i64))
        .collect();
    Ok(JValue::sequence(items))
}

/// `$hash(value, algorithm)`: the hex digest (`States.Hash`'s algorithms).
fn hash(args: &[JValue]) -> HostResult {
    let [value, algorithm] = args else {
        return Err(type_error("$hash", "takes a value and an algorithm"));
    };
    let (JValue::String(value), JValue::String(algorithm)) = (value, algorithm) else {
        return Err(type_error(
            "$hash",
            "the value and the algorithm must be strings",
        ));
    };
    crate::intrinsics::hex_digest(value, algorithm)
        .map(JValue::string)
        .ok_or_else(|| {
            type_error(
                "$hash",
                &format!(
                    "the algorithm '{algorithm}' is not one of MD5, SHA-1, SHA-256, SHA-384, \
                     SHA-512"
                ),
            )
        })
}

/// `$parse(text)`: the JSON value `text` holds.
fn parse(args: &[JValue]) -> HostResult {
    match args {
        [JValue::String(text)] => serde_json::from_str::<serde_json::Value>(text)
            .map(|value| from_json(&value))
            .map_err(|e| error(format!("D3140: $parse: the text is not JSON: {e}"))),
        [JValue::Undefined] => Ok(JValue::Undefined),
        _ => Err(type_error("$parse", "takes one string")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::jsonata::{Environment, EvalError, Expression, Limits};
    use crate::random::SplitMix64;
    use crate::timestamp::Timestamp;
    use serde_json::{json, Value};

    fn eval_seeded(source: &str, seed: u64, millis: i64) -> Result<Value, EvalError> {
        let expression = Expression::compile(source).unwrap();
        let mut random = SplitMix64::new(seed);
        let mut session = crate::jsonata::session(Environment {
            input: &Value::Null,
            context: &Value::Null,
            result: None,
            error_output: None,
            variables: &crate::variables::NoVariables,
            now: Timestamp::from_unix_millis(millis),
            random: &mut random,
            limits: Limits::default(),
        });
        expression.evaluate(&mut session)
    }

    fn eval(source: &str) -> Result<Value, EvalError> {
        eval_seeded(source, 1, 1_748_779_200_000)
    }

    #[test]
    fn aws_functions() {
        assert_eq!(
            eval("$partition([1,2,3,4,5], 2)").unwrap(),
            json!([[1, 2], [3, 4], [5]])
        );
        assert_eq!(eval("$partition([0], 1)").unwrap(), json!([[0]]));
        assert_eq!(eval("$range(0, 9, 3)").unwrap(), json!([0, 3, 6, 9]));
        assert_eq!(eval("$range(1, 9, 9)").unwrap(), json!(1));
        assert_eq!(eval("$range(10, 0, -5)").unwrap(), json!([10, 5, 0]));
        assert_eq!(
            eval("$hash('input data', 'SHA-1')").unwrap(),
            json!("aaff4a450a104cd177d28d18d74485e8cae074b7")
        );
        assert_eq!(eval("$parse('-0')").unwrap(), json!(0));
        assert_eq!(
            eval("$parse('{\"a\": [1, \"x\"]}')").unwrap(),
            json!({"a": [1, "x"]})
        );
        assert!(matches!(eval("$parse('{')"), Err(EvalError::Failed(_))));
        assert!(matches!(
            eval("$partition([1], 0)"),
            Err(EvalError::Failed(_))
        ));
        assert!(matches!(
            eval("$hash('x', 'SHA-3')"),
            Err(EvalError::Failed(_))
        ));
        // Arguments that would make a built-in run for hours are refused.
        assert!(matches!(eval("$pad('x', 1e9)"), Err(EvalError::Failed(_))));
        assert_eq!(eval("$pad('x', -3, '#')").unwrap(), json!("##x"));
        assert!(matches!(
            eval("$formatInteger(1e20, 'I')"),
            Err(EvalError::Failed(_))
        ));
        assert_eq!(eval("$formatInteger(1999, 'I')").unwrap(), json!("MCMXCIX"));
    }

    #[test]
    fn eval_is_refused() {
        match eval("$eval('1 + 1')") {
            Err(EvalError::Failed(message)) => assert!(message.contains("$eval"), "{message}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn clock_and_entropy_come_from_the_interpreter() {
        let at = 1_748_779_200_123;
        assert_eq!(
            eval_seeded("$now()", 1, at).unwrap(),
            json!("2025-06-01T12:00:00.123Z")
        );
        assert_eq!(eval_seeded("$millis()", 1, at).unwrap(), json!(at));
        assert_eq!(
            eval_seeded("$now('[Y0001]-[M01]')", 1, at).unwrap(),
            json!("2025-06")
        );
        let draws = "[$uuid(), $random(), $shuffle([1,2,3,4,5,6,7,8])]";
        let a = eval_seeded(draws, 42, at).unwrap();
        assert_eq!(a, eval_seeded(draws, 42, at).unwrap());
        assert_ne!(a, eval_seeded(draws, 43, at).unwrap());
        let uuid = a[0].as_str().unwrap();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
        let r = a[1].as_f64().unwrap();
        assert!((0.0..1.0).contains(&r));
        // A seed gives the same number whatever the generator.
        assert_eq!(
            eval_seeded("$random(7)", 1, at).unwrap(),
            eval_seeded("$random(7)", 2, at).unwrap()
        );
    }
}
