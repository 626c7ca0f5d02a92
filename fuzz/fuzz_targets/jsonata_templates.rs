//! Feeds arbitrary text to JSONata: as one `{% … %}` expression and as a JSON template
//! with expressions at any depth (the value of an `Output` or `Arguments`), compiled as
//! validation compiles them and evaluated as a state evaluates them, with `$states`,
//! workflow variables, a clock and a seeded generator. Then the text inside a whole
//! JSONata state machine, through `validate` and the in-memory driver. Nothing may
//! panic, and every evaluation ends (the engine's limits stop runaway expressions).

#![no_main]

use cairn_asl::driver::{self, NoTasks, RunOptions};
use cairn_asl::interpreter::{ExecutionInfo, Limits};
use cairn_asl::jsonata::{self, Environment, Expression, JsonataTemplate};
use cairn_asl::random::SplitMix64;
use cairn_asl::timestamp::Timestamp;
use cairn_asl::validate::{validate, ValidateOptions};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};

fn input() -> Value {
    json!({
        "a": {"b": [1, 2.5, -3, {"c": "x"}], "d": null, "e": true},
        "s": "alpha,beta gamma",
        "n": 42,
        "items": [{"k": 1, "v": "one"}, {"k": 2, "v": "two"}, {"k": 3}],
        "json": "{\"x\": [1, 2]}",
        "at": "2024-01-01T00:00:00Z"
    })
}

fn evaluate(template: &JsonataTemplate, variables: &Map<String, Value>) {
    let input = input();
    let context = json!({"Execution": {"Id": "arn:aws:states:us-east-1:1:execution:m:e",
                                      "Input": input.clone()},
                         "State": {"Name": "S", "EnteredTime": "2024-01-01T00:00:00.000Z"}});
    let result = json!({"Payload": [1, 2, 3]});
    let mut random = SplitMix64::new(7);
    let mut session = jsonata::session(Environment {
        input: &input,
        context: &context,
        result: Some(&result),
        error_output: None,
        variables,
        now: Timestamp::from_unix_millis(1_700_000_000_000),
        random: &mut random,
        limits: jsonata::Limits {
            // Smaller than the interpreter's, so a runaway input is found quickly.
            max_steps: 20_000,
            max_sequence_length: 100_000,
            ..jsonata::Limits::default()
        },
    });
    let _ = template.evaluate(&mut session, "Output");
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let variables = match json!({"x": 1, "list": [1, 2, 3], "o": {"k": "v"}}) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    // The text as one expression.
    let _ = Expression::compile(text);
    if let Ok(template) = JsonataTemplate::compile(&Value::String(format!("{{%{text}%}}"))) {
        evaluate(&template, &variables);
    }
    // The text as a JSON template, when it is JSON.
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return;
    };
    if let Ok(template) = JsonataTemplate::compile(&value) {
        evaluate(&template, &variables);
    }
    // The same JSON as a Pass state's Output and Assign, through validation and a run.
    let definition = json!({"QueryLanguage": "JSONata", "StartAt": "P", "States": {
        "P": {"Type": "Pass", "Output": value, "Assign": {"v": value}, "Next": "C"},
        "C": {"Type": "Choice", "Choices": [{"Condition": "{% $exists($v) %}", "Next": "E"}],
              "Default": "E"},
        "E": {"Type": "Succeed"}
    }});
    if let Ok((machine, _)) = validate(&definition.to_string(), &ValidateOptions::default()) {
        let options = RunOptions {
            info: ExecutionInfo::example("m", "e", Timestamp::from_unix_millis(0)),
            limits: Limits::default(),
            seed: 1,
        };
        let _ = driver::run(&machine, input(), &options, &mut NoTasks);
    }
});
