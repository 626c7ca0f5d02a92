//! Feeds arbitrary text to every parser of the data language (paths, reference paths,
//! intrinsic calls, payload templates) and evaluates whatever parses against a fixed
//! input and context object. Nothing may panic.

#![no_main]

use cairn_asl::intrinsics::Call;
use cairn_asl::path::Path;
use cairn_asl::random::SplitMix64;
use cairn_asl::template::{Scope, Template};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fn input() -> Value {
    json!({
        "a": {"b": [1, 2.5, -3, {"c": "x"}], "d": null, "e": true},
        "detail-type": "Order",
        "s": "alpha,beta gamma",
        "n": 42,
        "f": -1.5,
        "list": [{"k": 1, "v": "one"}, {"k": 2, "v": "two"}, {"k": 3}],
        "json": "{\"x\": [1, 2]}",
        "b64": "RGF0YSB0byBlbmNvZGU=",
        "empty": {},
        "arr": []
    })
}

fn context() -> Value {
    json!({
        "Execution": {"Id": "arn:aws:states:us-east-1:1:execution:m:e", "Name": "e", "Input": input()},
        "StateMachine": {"Id": "arn:aws:states:us-east-1:1:stateMachine:m", "Name": "m"},
        "State": {"Name": "S", "EnteredTime": "2024-01-01T00:00:00Z"}
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let input = input();
    let context = context();
    // Workflow variables for `$name` paths: a few shapes under short names.
    let variables = match json!({"a": input.clone(), "n": 42, "s": "text", "list": [1, 2]}) {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    let scope = Scope {
        input: &input,
        context: &context,
        variables: &variables,
    };
    let mut random = SplitMix64::new(data.len() as u64);

    if let Ok(path) = Path::parse(text) {
        let root = scope.root_of(&path).unwrap_or(&input);
        let _ = path.select(root);
        let _ = scope.select(&path);
        let _ = path.normalized();
        let _ = path.not_found_cause(root);
    }
    if let Ok(path) = Path::parse_reference(text) {
        let _ = path.select(&input);
        let _ = path.set(input.clone(), json!("r"));
        let _ = path.set(json!("scalar"), json!("r"));
    }
    if let Ok(call) = Call::parse(text) {
        let _ = call.evaluate(scope, &mut random);
    }
    if let Ok(template) = Template::compile_expression(text) {
        let _ = template.evaluate(scope, &mut random, "Field");
    }
    // The text as a template value under a `.$` key, and as a JSON template.
    let wrapped = json!({"k.$": text, "lit": [text], "nested": [{"x.$": text}]});
    if let Ok(template) = Template::compile(&wrapped) {
        let _ = template.evaluate(scope, &mut random, "Parameters");
    }
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        if let Ok(template) = Template::compile(&value) {
            let _ = template.evaluate(scope, &mut random, "Parameters");
        }
    }
});
