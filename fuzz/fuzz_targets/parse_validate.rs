//! Feeds `validate` arbitrary bytes (as lossy UTF-8) and ASL-shaped JSON built from the
//! same bytes; it must never panic, and must give at least one error whenever it refuses.

#![no_main]

use cairn_asl::diagnostic::Severity;
use cairn_asl::parse::parse_definition;
use cairn_asl::validate::{validate, ValidateOptions};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

const KEYS: &[&str] = &[
    "StartAt", "States", "Comment", "Type", "Next", "End", "Resource", "Parameters",
    "ResultPath", "InputPath", "OutputPath", "ResultSelector", "Result", "Retry", "Catch",
    "ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds",
    "JitterStrategy", "Choices", "Default", "Variable", "StringEquals", "NumericEquals",
    "IsPresent", "And", "Or", "Not", "Seconds", "Timestamp", "SecondsPath", "TimestampPath",
    "Error", "Cause", "ErrorPath", "CausePath", "Branches", "ItemProcessor", "Iterator",
    "ProcessorConfig", "Mode", "ExecutionType", "ItemsPath", "ItemSelector", "MaxConcurrency",
    "MaxConcurrencyPath", "ToleratedFailureCount", "ToleratedFailurePercentage", "Label",
    "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "Credentials", "RoleArn",
    "QueryLanguage", "Assign", "Arguments", "Output", "x.$", "A", "B",
    "ItemReader", "ItemBatcher", "ResultWriter", "ReaderConfig", "InputType", "MaxItems",
    "MaxItemsPerBatch", "BatchInput", "WriterConfig", "Bucket", "Key", "Prefix",
];
const STRINGS: &[&str] = &[
    "Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map", "A", "B", "C",
    "$", "$.a", "$$.Execution.Id", "$.a[0]", "$.a[*]", "$..b", "States.ALL", "States.Format('{}', $.a)",
    "INLINE", "DISTRIBUTED", "STANDARD", "EXPRESS", "FULL", "NONE", "JSONPath", "JSONata",
    "arn:aws:states:::lambda:invoke", "arn:aws:states:::states:startExecution.sync:2",
    "arn:aws:states:::sns:publish.waitForTaskToken", "2016-03-14T01:59:00Z", "{% $x %}", "",
    "arn:aws:states:::s3:getObject", "arn:aws:states:::s3:listObjectsV2",
    "arn:aws:states:::s3:putObject", "CSV", "JSON", "JSONL", "MANIFEST",
];

fn value(u: &mut Unstructured<'_>, depth: usize) -> Result<Value> {
    let choice = if depth > 12 { u.int_in_range(0..=4)? } else { u.int_in_range(0..=7)? };
    Ok(match choice {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => Value::from(u.int_in_range(-3i64..=100_000_000)?),
        3 => serde_json::Number::from_f64(u.arbitrary::<f64>()?).map_or(Value::Null, Value::Number),
        4 => Value::String(if u.ratio(3, 4)? {
            (*u.choose(STRINGS)?).to_string()
        } else {
            u.arbitrary::<String>()?
        }),
        5 => {
            let n = u.int_in_range(0..=4)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(value(u, depth + 1)?);
            }
            Value::Array(items)
        }
        _ => {
            let n = u.int_in_range(0..=6)?;
            let mut map = Map::new();
            for _ in 0..n {
                let key = if u.ratio(7, 8)? {
                    (*u.choose(KEYS)?).to_string()
                } else {
                    u.arbitrary::<String>()?
                };
                map.insert(key, value(u, depth + 1)?);
            }
            Value::Object(map)
        }
    })
}

/// A definition-shaped object: `StartAt`, and `States` with a few states.
fn definition(u: &mut Unstructured<'_>) -> Result<Value> {
    let mut states = Map::new();
    for name in ["A", "B", "C"].iter().take(u.int_in_range(1..=3)?) {
        states.insert((*name).to_string(), value(u, 1)?);
    }
    let mut top = match value(u, 1)? {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    top.insert("StartAt".into(), Value::String((*u.choose(&["A", "B", "Z"])?).to_string()));
    top.insert("States".into(), Value::Object(states));
    Ok(Value::Object(top))
}

fn check(text: &str, options: &ValidateOptions) {
    if let Err(diagnostics) = validate(text, options) {
        assert!(diagnostics.iter().any(|d| d.severity == Severity::Error));
    }
}

fuzz_target!(|data: &[u8]| {
    let express = data.first().is_some_and(|b| b & 1 == 1);
    // What a new definition gets: the Distributed Map fields not run yet are refused.
    let refuse_not_built = data.first().is_some_and(|b| b & 2 == 2);
    let options = ValidateOptions { express, refuse_not_built, ..ValidateOptions::default() };

    // Raw bytes.
    check(&String::from_utf8_lossy(data), &options);

    // Structured JSON from the same bytes.
    let mut u = Unstructured::new(data);
    if let Ok(def) = definition(&mut u) {
        check(&def.to_string(), &options);
        let mut diagnostics = Vec::new();
        let _ = parse_definition(&def, &mut diagnostics);
    }
});
