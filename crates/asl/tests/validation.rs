//! Definition validation: one test per diagnostic, AWS's recorded messages where known,
//! and the AWS-recorded conformance corpus when it is present next to the repository.

use cairn_asl::diagnostic::{invalid_definition_message, Diagnostic, DiagnosticCode};
use cairn_asl::model::{
    ChildExecutionType, Jitter, NumberSource, ProcessorMode, QueryLanguage, ResultPath, StateKind,
    Transition, WaitFor,
};
use cairn_asl::parse::{parse_definition, MAX_NESTING_DEPTH};
use cairn_asl::validate::{validate, ValidateOptions};
use cairn_asl::StateMachine;
use serde_json::{json, Value};

// ---- helpers ------------------------------------------------------------------------

fn check(def: &Value) -> Result<StateMachine, Vec<Diagnostic>> {
    validate(&def.to_string(), &ValidateOptions::default()).map(|(m, _)| m)
}

fn check_express(def: &Value) -> Result<StateMachine, Vec<Diagnostic>> {
    let options = ValidateOptions {
        express: true,
        ..ValidateOptions::default()
    };
    validate(&def.to_string(), &options).map(|(m, _)| m)
}

#[track_caller]
fn ok(def: Value) -> StateMachine {
    match check(&def) {
        Ok(m) => m,
        Err(d) => panic!("expected a valid definition, got {d:#?}"),
    }
}

#[track_caller]
fn errors(def: Value) -> Vec<Diagnostic> {
    match check(&def) {
        Ok(_) => panic!("expected diagnostics for {def}"),
        Err(d) => d,
    }
}

/// The definition fails with exactly this AWS `InvalidDefinition` message.
#[track_caller]
fn aws_message(def: Value, expected: &str) {
    let d = errors(def);
    assert_eq!(invalid_definition_message(&d), expected, "{d:#?}");
}

/// The definition fails with one diagnostic of `code` at `location` whose message
/// contains `fragment`.
#[track_caller]
fn one(def: Value, code: DiagnosticCode, location: &str, fragment: &str) {
    let d = errors(def);
    assert_eq!(d.len(), 1, "expected one diagnostic, got {d:#?}");
    assert_eq!(d[0].code, code, "{d:#?}");
    assert_eq!(d[0].location, location, "{d:#?}");
    assert!(
        d[0].message.contains(fragment),
        "message {:?} lacks {fragment:?}",
        d[0].message
    );
}

#[track_caller]
fn schema(def: Value, location: &str, fragment: &str) {
    one(
        def,
        DiagnosticCode::SchemaValidationFailed,
        location,
        fragment,
    );
}

/// A machine whose only state is `state` (named `S`).
fn single(state: Value) -> Value {
    json!({"StartAt": "S", "States": {"S": state}})
}

fn pass_end() -> Value {
    json!({"Type": "Pass", "End": true})
}

fn processor() -> Value {
    json!({"StartAt": "Inner", "States": {"Inner": {"Type": "Pass", "End": true}}})
}

fn map_with(extra: Value) -> Value {
    let mut state = json!({"Type": "Map", "ItemProcessor": processor(), "End": true});
    if let (Some(s), Some(e)) = (state.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    single(state)
}

fn task_with(extra: Value) -> Value {
    let mut state =
        json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true});
    if let (Some(s), Some(e)) = (state.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    single(state)
}

fn retry(retriers: Value) -> Value {
    task_with(json!({ "Retry": retriers }))
}

// ---- text-level checks --------------------------------------------------------------

#[test]
fn invalid_json_is_reported() {
    let d = validate("{\"StartAt\": ", &ValidateOptions::default()).expect_err("should be refused");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].code, DiagnosticCode::InvalidJsonDescription);
}

#[test]
fn non_object_definitions_are_refused() {
    for text in ["[]", "42", "\"StartAt\"", "null", "true"] {
        let d = validate(text, &ValidateOptions::default()).expect_err("should be refused");
        assert_eq!(d[0].code, DiagnosticCode::InvalidJsonDescription, "{text}");
    }
}

#[test]
fn empty_text_is_missing_description() {
    for text in ["", "   \n"] {
        let d = validate(text, &ValidateOptions::default()).expect_err("should be refused");
        assert_eq!(d[0].code, DiagnosticCode::MissingDescription);
        assert_eq!(d[0].message, "Received a null or empty workflow input.");
    }
}

#[test]
fn too_large_definitions_are_refused() {
    let options = ValidateOptions {
        max_definition_bytes: 64,
        ..ValidateOptions::default()
    };
    let text = single(json!({"Type": "Pass", "Comment": "x".repeat(100), "End": true})).to_string();
    let d = validate(&text, &options).expect_err("should be refused");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].code, DiagnosticCode::DefinitionTooLarge);
    // Exactly at the limit is fine.
    let small = single(pass_end()).to_string();
    let options = ValidateOptions {
        max_definition_bytes: small.len(),
        ..ValidateOptions::default()
    };
    assert!(validate(&small, &options).is_ok());
}

#[test]
fn deep_json_is_refused_without_overflowing() {
    let text = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let d = validate(&text, &ValidateOptions::default()).expect_err("should be refused");
    assert_eq!(d[0].code, DiagnosticCode::InvalidJsonDescription);
}

// ---- top level ----------------------------------------------------------------------

#[test]
fn minimal_machine_is_valid() {
    let m = ok(json!({
        "Comment": "c", "StartAt": "S", "TimeoutSeconds": 60, "Version": "1.0",
        "QueryLanguage": "JSONPath", "States": {"S": pass_end()}
    }));
    assert_eq!(m.start_at, "S");
    assert_eq!(m.comment.as_deref(), Some("c"));
    assert_eq!(m.timeout_seconds, Some(60));
    assert_eq!(m.version.as_deref(), Some("1.0"));
    assert_eq!(m.states.len(), 1);
}

#[test]
fn missing_states_has_aws_message() {
    aws_message(
        json!({"Comment": "BASE_INVALID_DER", "StartAt": "State_1"}),
        "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: These fields are \
         required: [States] at /'",
    );
}

#[test]
fn missing_start_at_and_states_are_listed_together() {
    schema(
        json!({}),
        "/",
        "These fields are required: [StartAt, States]",
    );
}

#[test]
fn unknown_top_level_field_is_refused() {
    let mut def = single(pass_end());
    def["Coment"] = json!("typo");
    schema(def, "/", "Field 'Coment' is not supported");
}

#[test]
fn top_level_types_are_checked() {
    let mut def = single(pass_end());
    def["StartAt"] = json!(1);
    let d = errors(def);
    assert!(d.iter().any(|d| d.location == "/StartAt"), "{d:#?}");

    let mut def = single(pass_end());
    def["TimeoutSeconds"] = json!(0);
    schema(def, "/TimeoutSeconds", "TimeoutSeconds");

    let mut def = single(pass_end());
    def["States"] = json!([]);
    schema(def, "/States", "Expected value of type Object");

    let mut def = single(pass_end());
    def["Comment"] = json!(false);
    schema(def, "/Comment", "String");
}

#[test]
fn jsonata_query_language_is_accepted_at_the_top_and_per_state() {
    let mut def = single(pass_end());
    def["QueryLanguage"] = json!("JSONata");
    let machine = ok(def);
    assert_eq!(machine.query_language, QueryLanguage::JsonAta);
    assert_eq!(machine.states["S"].query_language, QueryLanguage::JsonAta);

    let machine = ok(single(
        json!({"Type": "Pass", "QueryLanguage": "JSONata", "End": true}),
    ));
    assert_eq!(machine.query_language, QueryLanguage::JsonPath);
    assert_eq!(machine.states["S"].query_language, QueryLanguage::JsonAta);

    let mut def = single(pass_end());
    def["QueryLanguage"] = json!("XPath");
    schema(def, "/QueryLanguage", "JSONPath, JSONata");
}

#[test]
fn a_jsonata_machine_with_every_jsonata_field_is_valid() {
    let machine = ok(
        json!({"QueryLanguage": "JSONata", "StartAt": "S", "States": {
            "S": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                  "Arguments": "{% $states.input %}", "Output": {"a": "{% $states.result %}"},
                  "Assign": {"x": 1, "y": "{% $states.input.y %}"},
                  "TimeoutSeconds": "{% $t %}", "HeartbeatSeconds": 5,
                  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C",
                             "Output": "{% $states.errorOutput %}", "Assign": {"e": "{% $states.errorOutput.Error %}"}}],
                  "Next": "C"},
            "C": {"Type": "Choice", "Choices": [{"Condition": "{% true %}", "Next": "D",
                  "Output": "{% 1 %}", "Assign": {"z": 2}}, {"Condition": false, "Next": "W"}],
                  "Default": "D", "Output": "{% 2 %}"},
            "W": {"Type": "Wait", "Seconds": "{% 1 %}", "Next": "T"},
            "T": {"Type": "Wait", "Timestamp": "{% $states.input.at %}", "Next": "D"},
            "D": {"Type": "Map", "Items": "{% [1] %}", "ItemSelector": {"v": "{% $states.context.Map.Item.Value %}"},
                  "MaxConcurrency": "{% 2 %}", "ToleratedFailurePercentage": "{% 10 %}",
                  "ItemProcessor": {"StartAt": "I", "States": {
                      "I": {"Type": "Pass", "Output": "{% $states.input %}", "End": true}}}, "Next": "P"},
            "P": {"Type": "Parallel", "Arguments": {"a": 1}, "Branches": [{"StartAt": "B", "States": {
                  "B": {"Type": "Succeed", "Output": "{% $states.input.a %}"}}}], "Next": "F"},
            "F": {"Type": "Fail", "Error": "{% 'E' %}", "Cause": "plain"}
        }}),
    );
    assert!(machine
        .states
        .values()
        .all(|s| s.query_language == QueryLanguage::JsonAta));
}

#[test]
fn a_jsonpath_state_in_a_jsonata_machine_is_refused() {
    let mut def = single(json!({"Type": "Pass", "QueryLanguage": "JSONPath", "End": true}));
    def["QueryLanguage"] = json!("JSONata");
    schema(
        def,
        "/States/S",
        "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine",
    );
}

#[test]
fn each_language_refuses_the_others_fields() {
    for field in [
        "Parameters",
        "InputPath",
        "ResultPath",
        "OutputPath",
        "ResultSelector",
    ] {
        let mut state = json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                               "QueryLanguage": "JSONata", "End": true});
        state[field] = json!("$");
        if field == "Parameters" || field == "ResultSelector" {
            state[field] = json!({});
        }
        schema(
            single(state),
            "/States/S",
            &format!(
                "The QueryLanguage is set to 'JSONata', but field '{field}' is only supported \
                 for the 'JSONPath' QueryLanguage"
            ),
        );
    }
    schema(
        single(
            json!({"Type": "Wait", "QueryLanguage": "JSONata", "SecondsPath": "$.s", "End": true}),
        ),
        "/States/S",
        "field 'SecondsPath' is only supported for the 'JSONPath' QueryLanguage",
    );
    // A JSONata field the type does not have.
    schema(
        single(json!({"Type": "Pass", "QueryLanguage": "JSONata", "Arguments": {}, "End": true})),
        "/States/S",
        "Field 'Arguments' is not supported",
    );
    schema(
        single(json!({"Type": "Pass", "Output": 1, "End": true})),
        "/States/S",
        "field 'Output' is only supported for the 'JSONata' QueryLanguage",
    );
}

#[test]
fn jsonata_expressions_are_compiled_at_creation() {
    let jsonata = |output: Value| {
        single(json!({"Type": "Pass", "QueryLanguage": "JSONata", "Output": output, "End": true}))
    };
    one(
        jsonata(json!({"a": "{% a[1,2) %}"})),
        DiagnosticCode::InvalidJsonataExpression,
        "/States/S/Output/a",
        "S0202",
    );
    one(
        jsonata(json!(["{% phone %}"])),
        DiagnosticCode::UnsupportedJsonataExpression,
        "/States/S/Output/0",
        "Reference to 'phone' at the top level is not supported.",
    );
    one(
        jsonata(json!("{% $$ %}")),
        DiagnosticCode::UnsupportedJsonataExpression,
        "/States/S/Output",
        "Reference to '$$' is not supported.",
    );
    one(
        jsonata(json!("{% $states.errorOutput %}")),
        DiagnosticCode::UnsupportedJsonataExpression,
        "/States/S/Output",
        "$states.errorOutput",
    );
    // Expressions that are not at the exact ends of the string are text.
    ok(jsonata(json!(" {% phone %} ")));
}

#[test]
fn state_level_jsonpath_query_language_is_accepted() {
    ok(single(
        json!({"Type": "Pass", "QueryLanguage": "JSONPath", "End": true}),
    ));
}

// ---- states: common fields ----------------------------------------------------------

#[test]
fn state_must_be_an_object_with_a_type() {
    schema(single(json!("Pass")), "/States/S", "Object");
    schema(
        single(json!({"End": true})),
        "/States/S",
        "These fields are required: [Type]",
    );
    schema(
        single(json!({"Type": "Sleep", "End": true})),
        "/States/S/Type",
        "'Sleep' is not a valid state type",
    );
    schema(
        single(json!({"Type": 3, "End": true})),
        "/States/S/Type",
        "String",
    );
}

#[test]
fn unknown_state_field_is_named() {
    schema(
        single(json!({"Type": "Pass", "Foo": 1, "End": true})),
        "/States/S",
        "Field 'Foo' is not supported",
    );
}

#[test]
fn fields_of_other_state_types_are_refused() {
    let cases = [
        (
            json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Result": 1, "End": true}),
            "Result",
        ),
        (
            json!({"Type": "Pass", "TimeoutSeconds": 5, "End": true}),
            "TimeoutSeconds",
        ),
        (json!({"Type": "Pass", "Retry": [], "End": true}), "Retry"),
        (json!({"Type": "Pass", "Catch": [], "End": true}), "Catch"),
        (
            json!({"Type": "Wait", "Seconds": 1, "Catch": [], "End": true}),
            "Catch",
        ),
        (json!({"Type": "Succeed", "Next": "S"}), "Next"),
        (json!({"Type": "Succeed", "End": true}), "End"),
        (json!({"Type": "Fail", "End": true}), "End"),
        (json!({"Type": "Fail", "InputPath": "$"}), "InputPath"),
        (
            json!({"Type": "Parallel", "Branches": [processor()], "TimeoutSeconds": 3, "End": true}),
            "TimeoutSeconds",
        ),
        (
            json!({"Type": "Map", "ItemProcessor": processor(), "TimeoutSeconds": 3, "End": true}),
            "TimeoutSeconds",
        ),
        (
            json!({"Type": "Pass", "ItemsPath": "$", "End": true}),
            "ItemsPath",
        ),
    ];
    for (state, field) in cases {
        schema(
            single(state),
            "/States/S",
            &format!("Field '{field}' is not supported"),
        );
    }
}

#[test]
fn choice_has_no_end() {
    let def = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": true, "Next": "D"}], "Default": "D", "End": true},
        "D": pass_end()
    }});
    schema(def, "/States/C", "Field 'End' is not supported");
}

#[test]
fn next_and_end_are_exclusive_and_one_is_required() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B", "End": true}, "B": pass_end()
    }});
    schema(
        def,
        "/States/A",
        "These fields cannot be used together: [Next, End]",
    );
    schema(
        single(json!({"Type": "Pass"})),
        "/States/S",
        "Exactly one of these fields is required: [Next, End]",
    );
    schema(
        single(json!({"Type": "Pass", "End": false})),
        "/States/S/End",
        "must be true",
    );
    schema(
        single(json!({"Type": "Pass", "End": "yes"})),
        "/States/S/End",
        "Boolean",
    );
    for ty in ["Task", "Wait", "Parallel", "Map"] {
        let mut state = match ty {
            "Task" => json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke"}),
            "Wait" => json!({"Type": "Wait", "Seconds": 1}),
            "Parallel" => json!({"Type": "Parallel", "Branches": [processor()]}),
            _ => json!({"Type": "Map", "ItemProcessor": processor()}),
        };
        let d = errors(single(state.clone()));
        assert!(
            d.iter().any(|d| d.message.contains("[Next, End]")),
            "{ty}: {d:#?}"
        );
        state["End"] = json!(true);
        ok(single(state));
    }
}

#[test]
fn io_paths_may_be_null() {
    let m = ok(single(json!({
        "Type": "Pass", "InputPath": null, "OutputPath": null, "ResultPath": null, "End": true
    })));
    let s = &m.states["S"];
    assert!(s.input_path.is_none());
    assert!(s.output_path.is_none());
    match &s.kind {
        StateKind::Pass(p) => assert_eq!(p.result_path, ResultPath::Discard),
        other => panic!("{other:?}"),
    }
}

#[test]
fn io_paths_are_parsed() {
    let m = ok(single(json!({
        "Type": "Pass", "InputPath": "$.a", "OutputPath": "$.b", "ResultPath": "$.c",
        "Parameters": {"x.$": "$.y"}, "End": true
    })));
    let s = &m.states["S"];
    assert_eq!(s.input_path.as_ref().map(|p| p.source()), Some("$.a"));
    assert_eq!(s.output_path.as_ref().map(|p| p.source()), Some("$.b"));
    match &s.kind {
        StateKind::Pass(p) => {
            match &p.result_path {
                ResultPath::At(path) => assert_eq!(path.source(), "$.c"),
                other => panic!("{other:?}"),
            }
            assert!(p.parameters.is_some());
            assert_eq!(p.next, Transition::End);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn invalid_paths_are_reported_at_their_field() {
    schema(
        single(json!({"Type": "Pass", "InputPath": "no-dollar", "End": true})),
        "/States/S/InputPath",
        "The value for the field 'InputPath' must be a valid JSONPath",
    );
    schema(
        single(json!({"Type": "Pass", "ResultPath": "$.a[*]", "End": true})),
        "/States/S/ResultPath",
        "The value for the field 'ResultPath' must be a valid ReferencePath",
    );
    schema(
        single(json!({"Type": "Pass", "OutputPath": 5, "End": true})),
        "/States/S/OutputPath",
        "String",
    );
}

#[test]
fn invalid_templates_are_reported_inside_the_template() {
    let d = errors(single(json!({
        "Type": "Pass", "Parameters": {"a": {"b.$": "not a path"}}, "End": true
    })));
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].code, DiagnosticCode::SchemaValidationFailed);
    assert!(d[0].location.starts_with("/States/S/Parameters"), "{d:#?}");
}

#[test]
fn pass_result_is_kept_as_written() {
    let m = ok(single(
        json!({"Type": "Pass", "Result": {"a.$": "$.x"}, "End": true}),
    ));
    match &m.states["S"].kind {
        StateKind::Pass(p) => assert_eq!(p.result, Some(json!({"a.$": "$.x"}))),
        other => panic!("{other:?}"),
    }
}

#[test]
fn long_and_empty_state_names_are_refused() {
    let name = "n".repeat(81);
    let def = json!({"StartAt": name, "States": {name.clone(): pass_end()}});
    schema(def, &format!("/States/{name}"), "80 characters");
    ok(json!({"StartAt": "n".repeat(80), "States": {"n".repeat(80): pass_end()}}));
}

// ---- JSONata-only fields, variables, {% %} ------------------------------------------

#[test]
fn jsonata_only_fields_get_aws_message() {
    for field in ["Arguments", "Output"] {
        let mut state =
            json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true});
        state[field] = json!({});
        schema(
            single(state),
            "/States/S",
            &format!(
                "The QueryLanguage is set to 'JSONPath', but field '{field}' is only supported \
                 for the 'JSONata' QueryLanguage"
            ),
        );
    }
    let state = json!({"Type": "Map", "Items": [1], "ItemProcessor": processor(), "End": true});
    schema(
        single(state),
        "/States/S",
        "field 'Items' is only supported",
    );
}

#[test]
fn assign_is_accepted_where_aws_allows_it() {
    let machine = ok(json!({
        "StartAt": "P",
        "States": {
            "P": {"Type": "Pass", "Assign": {"a": 1, "b.$": "$.x", "c": {"d.$": "$a"}}, "Next": "W"},
            "W": {"Type": "Wait", "Seconds": 0, "Assign": {"w": true}, "Next": "C"},
            "C": {
                "Type": "Choice",
                "Choices": [{"Variable": "$a", "NumericEquals": 1, "Next": "T", "Assign": {"r": 1}}],
                "Default": "T",
                "Assign": {"d": 0}
            },
            "T": {
                "Type": "Task",
                "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f",
                "Assign": {"t.$": "$.Payload"},
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done", "Assign": {"e.$": "$.Error"}}],
                "Next": "Done"
            },
            "Done": {"Type": "Succeed"}
        }
    }));
    let StateKind::Choice(choice) = &machine.states["C"].kind else {
        panic!("C is a Choice");
    };
    assert!(choice.choices[0].assign.is_some());
    assert!(machine.states["C"].assign.is_some());
    let StateKind::Task(task) = &machine.states["T"].kind else {
        panic!("T is a Task");
    };
    assert!(task.catch[0].assign.is_some());
}

#[test]
fn assign_is_refused_on_succeed_and_fail() {
    schema(
        single(json!({"Type": "Succeed", "Assign": {"x": 1}})),
        "/States/S",
        "Field 'Assign' is not supported",
    );
    schema(
        single(json!({"Type": "Fail", "Assign": {"x": 1}})),
        "/States/S",
        "Field 'Assign' is not supported",
    );
}

#[test]
fn variable_names_are_checked() {
    schema(
        single(json!({"Type": "Pass", "Assign": {"states": 1}, "End": true})),
        "/States/S/Assign/states",
        "reserved",
    );
    schema(
        single(json!({"Type": "Pass", "Assign": {"a-b.$": "$.x"}, "End": true})),
        "/States/S/Assign/a-b.$",
        "invalid",
    );
    schema(
        single(json!({"Type": "Pass", "Assign": {"x": 1, "x.$": "$.x"}, "End": true})),
        "/States/S/Assign/x.$",
        "more than once",
    );
    schema(
        single(json!({"Type": "Pass", "Assign": [1], "End": true})),
        "/States/S/Assign",
        "Object",
    );
    schema(
        single(json!({"Type": "Pass", "Assign": {"x.$": "$.a[?("}, "End": true})),
        "/States/S/Assign/x.$",
        "JSONPath",
    );
}

#[test]
fn variables_are_accepted_where_paths_are_read_but_not_as_result_path() {
    ok(json!({
        "StartAt": "S",
        "States": {
            "S": {
                "Type": "Map",
                "InputPath": "$in",
                "ItemsPath": "$items",
                "MaxConcurrencyPath": "$max",
                "ItemSelector": {"v.$": "$v", "f.$": "States.Format('{}', $v)"},
                "ItemProcessor": processor(),
                "ResultSelector": {"r.$": "$r"},
                "OutputPath": "$out",
                "Next": "W"
            },
            "W": {"Type": "Wait", "SecondsPath": "$s", "Next": "F"},
            "F": {"Type": "Fail", "ErrorPath": "$e", "CausePath": "$c"}
        }
    }));
    schema(
        single(json!({"Type": "Pass", "ResultPath": "$x", "End": true})),
        "/States/S/ResultPath",
        "names a variable",
    );
}

#[test]
fn jsonata_text_in_a_jsonpath_state_is_plain_text() {
    let machine = ok(single(
        json!({"Type": "Pass", "Parameters": {"a": "{% $x %}"}, "Assign": {"v": "{% 1 %}"}, "End": true}),
    ));
    assert_eq!(machine.states["S"].query_language, QueryLanguage::JsonPath);
}

#[test]
fn choice_condition_is_jsonata_only() {
    let def = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Condition": "{% true %}", "Next": "D"}], "Default": "D"},
        "D": pass_end()
    }});
    let d = errors(def);
    assert!(
        d.iter().any(|d| d.location == "/States/C/Choices[0]"
            && d.message.contains("field 'Condition' is only supported")),
        "{d:#?}"
    );
}

// ---- Retry and Catch ----------------------------------------------------------------

#[test]
fn retriers_are_parsed_with_defaults() {
    let m = ok(retry(json!([
        {"ErrorEquals": ["A"]},
        {"ErrorEquals": ["B"], "IntervalSeconds": 5, "MaxAttempts": 0, "BackoffRate": 1.5,
         "MaxDelaySeconds": 10, "JitterStrategy": "FULL", "Comment": "c"},
        {"ErrorEquals": ["States.ALL"]}
    ])));
    let StateKind::Task(t) = &m.states["S"].kind else {
        panic!("not a task")
    };
    assert_eq!(t.retry.len(), 3);
    assert_eq!(t.retry[0].interval_seconds, 1);
    assert_eq!(t.retry[0].max_attempts, 3);
    assert_eq!(t.retry[0].backoff_rate, 2.0);
    assert_eq!(t.retry[0].max_delay_seconds, None);
    assert_eq!(t.retry[0].jitter, Jitter::None);
    assert_eq!(t.retry[1].interval_seconds, 5);
    assert_eq!(t.retry[1].max_attempts, 0);
    assert_eq!(t.retry[1].backoff_rate, 1.5);
    assert_eq!(t.retry[1].max_delay_seconds, Some(10));
    assert_eq!(t.retry[1].jitter, Jitter::Full);
    assert_eq!(t.retry[2].error_equals, vec!["States.ALL".to_string()]);
}

#[test]
fn retrier_field_ranges() {
    let base = "/States/S/Retry[0]";
    schema(
        retry(json!([{}])),
        base,
        "These fields are required: [ErrorEquals]",
    );
    schema(
        retry(json!([{"ErrorEquals": []}])),
        &format!("{base}/ErrorEquals"),
        "at least one",
    );
    schema(
        retry(json!([{"ErrorEquals": [1]}])),
        &format!("{base}/ErrorEquals[0]"),
        "String",
    );
    schema(
        retry(json!([{"ErrorEquals": ["A"], "IntervalSeconds": 0}])),
        &format!("{base}/IntervalSeconds"),
        "IntervalSeconds",
    );
    schema(
        retry(json!([{"ErrorEquals": ["A"], "IntervalSeconds": 1.5}])),
        &format!("{base}/IntervalSeconds"),
        "integer",
    );
    schema(
        retry(json!([{"ErrorEquals": ["A"], "MaxAttempts": -1}])),
        &format!("{base}/MaxAttempts"),
        "MaxAttempts",
    );
    schema(
        retry(json!([{"ErrorEquals": ["A"], "BackoffRate": 0.5}])),
        &format!("{base}/BackoffRate"),
        "The value of 'BackoffRate' must be a number greater than or equal to 1.0",
    );
    schema(
        retry(json!([{"ErrorEquals": ["A"], "BackoffRate": "2"}])),
        &format!("{base}/BackoffRate"),
        "Number",
    );
    schema(
        retry(json!([{"ErrorEquals": ["A"], "MaxDelaySeconds": 0}])),
        &format!("{base}/MaxDelaySeconds"),
        "MaxDelaySeconds",
    );
    schema(
        retry(json!([{"ErrorEquals": ["A"], "JitterStrategy": "HALF"}])),
        &format!("{base}/JitterStrategy"),
        "FULL, NONE",
    );
    schema(
        retry(json!([{"ErrorEquals": ["A"], "Foo": 1}])),
        base,
        "Field 'Foo' is not supported",
    );
    schema(retry(json!({})), "/States/S/Retry", "Array");
    schema(retry(json!([3])), base, "Object");
    ok(retry(
        json!([{"ErrorEquals": ["A"], "BackoffRate": 1, "MaxAttempts": 99999999}]),
    ));
}

#[test]
fn states_all_must_be_alone_and_last() {
    let msg = "States.ALL must appear alone and at end of list";
    schema(
        retry(json!([{"ErrorEquals": ["States.ALL", "X"]}])),
        "/States/S/Retry[0]/ErrorEquals[0]",
        msg,
    );
    schema(
        retry(json!([{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}])),
        "/States/S/Retry[0]/ErrorEquals[0]",
        msg,
    );
    let def = json!({"StartAt": "S", "States": {
        "S": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true,
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}, {"ErrorEquals": ["X"], "Next": "H"}]},
        "H": pass_end()
    }});
    aws_message(
        def,
        "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: States.ALL must appear \
         alone and at end of list at /States/S/Catch[0]/ErrorEquals[0]'",
    );
}

#[test]
fn catchers_need_error_equals_and_next() {
    schema(
        task_with(json!({"Catch": [{"ErrorEquals": ["A"]}]})),
        "/States/S/Catch[0]",
        "These fields are required: [Next]",
    );
    let def = json!({"StartAt": "S", "States": {
        "S": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true,
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H", "ResultPath": "$.err"}]},
        "H": pass_end()
    }});
    let m = ok(def);
    let StateKind::Task(t) = &m.states["S"].kind else {
        panic!("not a task")
    };
    assert_eq!(t.catch[0].next, "H");
    match &t.catch[0].result_path {
        ResultPath::At(p) => assert_eq!(p.source(), "$.err"),
        other => panic!("{other:?}"),
    }
}

// ---- Wait ---------------------------------------------------------------------------

#[test]
fn wait_needs_exactly_one_duration() {
    schema(
        single(json!({"Type": "Wait", "End": true})),
        "/States/S",
        "Exactly one of these fields is required: [Seconds, Timestamp, SecondsPath, TimestampPath]",
    );
    schema(
        single(json!({"Type": "Wait", "Seconds": 1, "SecondsPath": "$.s", "End": true})),
        "/States/S",
        "These fields cannot be used together: [Seconds, SecondsPath]",
    );
    schema(
        single(json!({"Type": "Wait", "Seconds": -1, "End": true})),
        "/States/S/Seconds",
        "Seconds",
    );
}

#[test]
fn wait_forms_are_parsed() {
    let kinds = [
        json!({"Type": "Wait", "Seconds": 0, "End": true}),
        json!({"Type": "Wait", "Timestamp": "2016-03-14T01:59:00Z", "End": true}),
        json!({"Type": "Wait", "SecondsPath": "$.s", "End": true}),
        json!({"Type": "Wait", "TimestampPath": "$.t", "End": true}),
    ];
    for (i, state) in kinds.into_iter().enumerate() {
        let m = ok(single(state));
        let StateKind::Wait(w) = &m.states["S"].kind else {
            panic!("not a wait")
        };
        let matched = matches!(
            (i, &w.wait_for),
            (0, WaitFor::Seconds(0))
                | (1, WaitFor::Timestamp(_))
                | (2, WaitFor::SecondsPath(_))
                | (3, WaitFor::TimestampPath(_))
        );
        assert!(matched, "{i}: {:?}", w.wait_for);
    }
}

#[test]
fn wait_timestamp_must_be_rfc3339() {
    for ts in [
        "2016-13-05T21:29:29Z",
        "2016-12-05T21:29:29",
        "2016-12-05 21:29:29Z",
        "05-12-2016T21:29:29Z",
        "{% '2016-03-14T01:59:00Z' %}",
    ] {
        aws_message(
            json!({"Comment": "WAIT_TIMESTAMP", "StartAt": "WaitUntil", "States": {
                "WaitUntil": {"Type": "Wait", "Timestamp": ts, "End": true}}}),
            "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: String does not match \
             RFC3339 timestamp at /States/WaitUntil/Timestamp'",
        );
    }
}

// ---- Fail ---------------------------------------------------------------------------

#[test]
fn fail_error_and_cause_sources() {
    schema(
        single(json!({"Type": "Fail", "Error": "E", "ErrorPath": "$.e"})),
        "/States/S",
        "These fields cannot be used together: [Error, ErrorPath]",
    );
    schema(
        single(json!({"Type": "Fail", "Cause": "C", "CausePath": "$.c"})),
        "/States/S",
        "These fields cannot be used together: [Cause, CausePath]",
    );
    schema(
        single(json!({"Type": "Fail", "Error": 3})),
        "/States/S/Error",
        "String",
    );
    let m = ok(single(
        json!({"Type": "Fail", "Error": "E", "CausePath": "$.c"}),
    ));
    let StateKind::Fail(f) = &m.states["S"].kind else {
        panic!("not a fail")
    };
    assert!(matches!(&f.error, Some(cairn_asl::model::TextSource::Literal(e)) if e == "E"));
    assert!(matches!(
        &f.cause,
        Some(cairn_asl::model::TextSource::Expression(_))
    ));
    let m = ok(single(json!({"Type": "Fail"})));
    let StateKind::Fail(f) = &m.states["S"].kind else {
        panic!("not a fail")
    };
    assert!(f.error.is_none() && f.cause.is_none());
}

// ---- Task ---------------------------------------------------------------------------

#[test]
fn task_needs_a_resource() {
    schema(
        single(json!({"Type": "Task", "End": true})),
        "/States/S",
        "These fields are required: [Resource]",
    );
    schema(
        single(json!({"Type": "Task", "Resource": 1, "End": true})),
        "/States/S/Resource",
        "String",
    );
}

#[test]
fn task_timeouts() {
    schema(
        task_with(json!({"TimeoutSeconds": 5, "TimeoutSecondsPath": "$.t"})),
        "/States/S",
        "These fields cannot be used together: [TimeoutSeconds, TimeoutSecondsPath]",
    );
    schema(
        task_with(json!({"HeartbeatSeconds": 5, "HeartbeatSecondsPath": "$.t"})),
        "/States/S",
        "These fields cannot be used together: [HeartbeatSeconds, HeartbeatSecondsPath]",
    );
    schema(
        task_with(json!({"TimeoutSeconds": 0})),
        "/States/S/TimeoutSeconds",
        "TimeoutSeconds",
    );
    schema(
        task_with(json!({"HeartbeatSeconds": -3})),
        "/States/S/HeartbeatSeconds",
        "HeartbeatSeconds",
    );
    schema(
        task_with(json!({"TimeoutSeconds": 10, "HeartbeatSeconds": 10})),
        "/States/S/HeartbeatSeconds",
        "smaller than TimeoutSeconds",
    );
    let m = ok(task_with(
        json!({"TimeoutSeconds": 10, "HeartbeatSecondsPath": "$.h"}),
    ));
    let StateKind::Task(t) = &m.states["S"].kind else {
        panic!("not a task")
    };
    assert_eq!(t.timeout_seconds, Some(NumberSource::Literal(10)));
    assert!(matches!(t.heartbeat_seconds, Some(NumberSource::Path(_))));
}

#[test]
fn credentials_need_role_arn() {
    for creds in [json!({}), json!({"InvalidField": "invalid"})] {
        aws_message(
            json!({"StartAt": "State0", "States": {"State0": {
                "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Credentials": creds, "End": true}}}),
            "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: The field 'RoleArn' \
             is required but was missing at /States/State0/Credentials'",
        );
    }
    ok(task_with(
        json!({"Credentials": {"RoleArn": "arn:aws:iam::1:role/r"}}),
    ));
    ok(task_with(json!({"Credentials": {"RoleArn.$": "$.role"}})));
}

#[test]
fn unknown_optimized_integration_is_refused() {
    aws_message(
        single(json!({"Type": "Task", "Resource": "arn:aws:states:::dynamodb:query", "End": true})),
        "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: The resource provided \
         arn:aws:states:::dynamodb:query is not recognized. The value is not a valid resource \
         ARN, or the resource is not available in this region. at /States/S/Resource'",
    );
    ok(single(
        json!({"Type": "Task", "Resource": "arn:aws:states:::dynamodb:getItem", "End": true}),
    ));
    ok(single(
        json!({"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:dynamodb:query", "End": true}),
    ));
    ok(single(
        json!({"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2", "End": true}),
    ));
}

#[test]
fn express_refuses_sync_and_callbacks() {
    let sync = json!({"StartAt": "StartExecution", "States": {"StartExecution": {
        "Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync", "End": true}}});
    assert!(check(&sync).is_ok());
    assert_eq!(
        invalid_definition_message(&check_express(&sync).expect_err("should be refused")),
        "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: Express state machine does \
         not support '.sync' service integration at /States/StartExecution/Resource'"
    );
    let sync2 = single(
        json!({"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2", "End": true}),
    );
    assert!(check_express(&sync2).is_err());

    let token = json!({"StartAt": "Publish", "States": {"Publish": {
        "Type": "Task", "Resource": "arn:aws:states:::sns:publish.waitForTaskToken", "End": true}}});
    assert!(check(&token).is_ok());
    assert_eq!(
        invalid_definition_message(&check_express(&token).expect_err("should be refused")),
        "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: Express state machine does \
         not support '.waitForTaskToken' service integration  at /States/Publish/Resource'"
    );
    // Inside a Map's item processor too.
    let nested = single(
        json!({"Type": "Map", "End": true, "ItemProcessor": {"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish.waitForTaskToken", "End": true}}}}),
    );
    let d = check_express(&nested).expect_err("should be refused");
    assert_eq!(d[0].location, "/States/S/ItemProcessor/States/T/Resource");
    assert!(check_express(&single(
        json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true})
    ))
    .is_ok());
}

// ---- Choice -------------------------------------------------------------------------

fn choice_def(choice: Value) -> Value {
    json!({"StartAt": "C", "States": {"C": choice, "D": pass_end()}})
}

#[test]
fn choice_is_parsed() {
    let m = ok(choice_def(json!({"Type": "Choice", "Choices": [
        {"Variable": "$.x", "NumericEquals": 1, "Next": "D"}
    ], "Default": "D"})));
    let StateKind::Choice(c) = &m.states["C"].kind else {
        panic!("not a choice")
    };
    assert_eq!(c.choices.len(), 1);
    assert_eq!(c.choices[0].next, "D");
    assert_eq!(c.default.as_deref(), Some("D"));
}

#[test]
fn choice_needs_rules_with_next() {
    schema(
        choice_def(json!({"Type": "Choice", "Default": "D"})),
        "/States/C",
        "These fields are required: [Choices]",
    );
    schema(
        choice_def(json!({"Type": "Choice", "Choices": [], "Default": "D"})),
        "/States/C/Choices",
        "at least one",
    );
    let d = errors(choice_def(json!({"Type": "Choice", "Choices": [
        {"Variable": "$.x", "NumericEquals": 1}
    ], "Default": "D"})));
    assert!(
        d.iter()
            .any(|d| d.location.starts_with("/States/C/Choices[0]") && d.message.contains("Next")),
        "{d:#?}"
    );
}

#[test]
fn choice_targets_are_checked() {
    aws_message(
        choice_def(json!({"Type": "Choice", "Choices": [
            {"Variable": "$.x", "NumericEquals": 1, "Next": "Nope"}
        ], "Default": "D"})),
        "Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: Missing 'Next' target: \
         Nope at /States/C/Choices[0]/Next'",
    );
    aws_message(
        choice_def(json!({"Type": "Choice", "Choices": [
            {"Variable": "$.x", "NumericEquals": 1, "Next": "D"}
        ], "Default": "Nope"})),
        "Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: Missing 'Next' target: \
         Nope at /States/C/Default'",
    );
}

// ---- Parallel -----------------------------------------------------------------------

#[test]
fn parallel_is_parsed() {
    let m = ok(single(
        json!({"Type": "Parallel", "Branches": [processor(), {
        "StartAt": "B", "States": {"B": {"Type": "Succeed"}}
    }], "ResultSelector": {"a.$": "$[0]"}, "End": true}),
    ));
    let StateKind::Parallel(p) = &m.states["S"].kind else {
        panic!("not a parallel")
    };
    assert_eq!(p.branches.len(), 2);
    assert_eq!(p.branches[1].start_at, "B");
    assert!(p.result_selector.is_some());
}

#[test]
fn parallel_needs_branches() {
    schema(
        single(json!({"Type": "Parallel", "End": true})),
        "/States/S",
        "These fields are required: [Branches]",
    );
    schema(
        single(json!({"Type": "Parallel", "Branches": [], "End": true})),
        "/States/S/Branches",
        "at least one",
    );
    schema(
        single(json!({"Type": "Parallel", "Branches": [{"StartAt": "X"}], "End": true})),
        "/States/S/Branches[0]",
        "These fields are required: [States]",
    );
    schema(
        single(
            json!({"Type": "Parallel", "Branches": [{"StartAt": "Inner", "TimeoutSeconds": 3,
            "States": {"Inner": pass_end()}}], "End": true}),
        ),
        "/States/S/Branches[0]",
        "Field 'TimeoutSeconds' is not supported",
    );
}

#[test]
fn transitions_do_not_cross_branch_boundaries() {
    let def = json!({"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Next": "Outer", "Branches": [
            {"StartAt": "B", "States": {"B": {"Type": "Pass", "Next": "Outer"}}}
        ]},
        "Outer": pass_end()
    }});
    let d = errors(def);
    assert_eq!(d[0].code, DiagnosticCode::MissingTransitionTarget, "{d:#?}");
    assert_eq!(d[0].location, "/States/P/Branches[0]/States/B/Next");
    assert_eq!(d[0].message, "Missing 'Next' target: Outer");
}

#[test]
fn unreachable_state_inside_a_branch() {
    let def = single(json!({"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "A", "States": {"A": pass_end(), "Lost": pass_end()}}
    ]}));
    one(
        def,
        DiagnosticCode::MissingTransitionTarget,
        "/States/S/Branches[0]/States/Lost",
        "State \"Lost\" is not reachable.",
    );
}

// ---- Map ----------------------------------------------------------------------------

#[test]
fn map_is_parsed() {
    let m = ok(map_with(json!({
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                          "StartAt": "Inner", "States": {"Inner": pass_end()}},
        "ItemsPath": "$.items", "ItemSelector": {"v.$": "$$.Map.Item.Value"},
        "MaxConcurrencyPath": "$.mc", "ToleratedFailureCount": 2,
        "ToleratedFailurePercentagePath": "$.p", "ItemReader": {"Resource": "arn:aws:states:::s3:getObject"},
        "ItemBatcher": {"MaxItemsPerBatch": 2}, "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject"},
        "Label": "My-Label_1", "ResultPath": "$.out"
    })));
    let StateKind::Map(map) = &m.states["S"].kind else {
        panic!("not a map")
    };
    assert_eq!(map.mode, ProcessorMode::Distributed);
    assert_eq!(map.execution_type, ChildExecutionType::Express);
    assert_eq!(map.items_path.source(), "$.items");
    assert!(map.item_selector.is_some());
    assert!(matches!(map.max_concurrency, NumberSource::Path(_)));
    assert_eq!(map.tolerated_failure_count, Some(NumberSource::Literal(2)));
    assert!(matches!(
        map.tolerated_failure_percentage,
        Some(NumberSource::Path(_))
    ));
    assert!(map.item_reader.is_some() && map.item_batcher.is_some() && map.result_writer.is_some());
    assert_eq!(map.label.as_deref(), Some("My-Label_1"));
    assert_eq!(map.item_processor.start_at, "Inner");
}

/// What CreateStateMachine, UpdateStateMachine and ValidateStateMachineDefinition use.
fn check_new(def: &Value) -> Result<StateMachine, Vec<Diagnostic>> {
    let options = ValidateOptions {
        refuse_not_built: true,
        ..ValidateOptions::default()
    };
    validate(&def.to_string(), &options).map(|(m, _)| m)
}

fn distributed(extra: Value) -> Value {
    let mut fields = json!({
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                          "StartAt": "Inner", "States": {"Inner": pass_end()}}
    });
    if let (Some(f), Some(e)) = (fields.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            f.insert(k.clone(), v.clone());
        }
    }
    map_with(fields)
}

#[test]
fn a_distributed_maps_reader_batcher_and_writer_are_accepted() {
    let reader = json!({"Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON"}, "Parameters": {"Bucket": "b", "Key": "k.json"}});
    let batcher = json!({"MaxItemsPerBatch": 2});
    let writer = json!({"Resource": "arn:aws:states:::s3:putObject",
        "Parameters": {"Bucket": "b", "Prefix": "out"}});
    for (field, value) in [
        ("ItemReader", &reader),
        ("ItemBatcher", &batcher),
        ("ResultWriter", &writer),
    ] {
        let def = distributed(json!({ field: value }));
        assert!(check(&def).is_ok(), "{field}");
        assert!(check_new(&def).is_ok(), "{field}");
    }
    assert!(check_new(&distributed(json!({
        "ItemReader": reader, "ItemBatcher": batcher, "ResultWriter": writer
    })))
    .is_ok());
}

#[test]
fn an_inline_map_with_a_reader_or_batcher_is_refused() {
    let reader = json!({"Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON"}, "Parameters": {"Bucket": "b", "Key": "k.json"}});
    for (field, value) in [
        ("ItemReader", reader),
        ("ItemBatcher", json!({"MaxItemsPerBatch": 2})),
    ] {
        let def = map_with(json!({
            "ItemProcessor": {"StartAt": "Inner", "States": {"Inner": pass_end()}},
            field: value,
        }));
        let d = check_new(&def).expect_err(field);
        assert!(
            d.iter().any(|d| d.location == format!("/States/S/{field}")
                && d.message
                    .starts_with(&format!("Cairn does not support a Map's '{field}' yet: "))),
            "{d:#?}"
        );
    }
}

#[test]
fn a_reader_is_checked_as_aws_checks_it() {
    let def = distributed(json!({"ItemReader": {"Resource": "arn:aws:states:::s3:deleteObject"}}));
    let d = check_new(&def).expect_err("refused");
    assert!(
        d.iter()
            .any(|d| d.location.starts_with("/States/S/ItemReader")
                && !d.message.starts_with("Cairn does not support")),
        "{d:#?}"
    );
}

#[test]
fn a_jsonata_map_with_an_item_reader_is_accepted() {
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "S", "States": {"S": {
        "Type": "Map", "End": true,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                          "StartAt": "Inner", "States": {"Inner": {"Type": "Pass", "End": true}}},
        "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
                       "ReaderConfig": {"InputType": "JSONL"},
                       "Arguments": {"Bucket": "b", "Key": "{% $states.input.key %}"}}
    }}});
    assert!(check(&def).is_ok());
    assert!(check_new(&def).is_ok());
}

/// Whatever the field holds, a new definition with it gets diagnostics, never a panic
/// (the fuzz target `parse_validate` explores the same with `refuse_not_built`).
#[test]
fn refused_fields_of_any_shape_give_diagnostics() {
    let shapes = [
        json!(null),
        json!(1),
        json!("s3"),
        json!([]),
        json!({}),
        json!({"Resource": 7}),
        json!({"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": []}),
        json!({"Resource": "arn:aws:states:::s3:getObject",
               "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "GIVEN", "MaxItems": -1}}),
        json!({"MaxItemsPerBatch": "x", "MaxInputBytesPerBatch": 1e300, "BatchInput": "{% %}"}),
        json!({"Resource": "arn:aws:states:::s3:putObject", "WriterConfig": {"OutputType": 1}}),
    ];
    for field in ["ItemReader", "ItemBatcher", "ResultWriter"] {
        for shape in &shapes {
            let def = distributed(json!({ field: shape }));
            let d = check_new(&def).expect_err("refused");
            assert!(
                d.iter()
                    .any(|d| d.severity == cairn_asl::diagnostic::Severity::Error
                        && d.location.starts_with(&format!("/States/S/{field}"))),
                "{field} = {shape}: {d:#?}"
            );
        }
    }
}

#[test]
fn a_distributed_map_over_its_input_is_accepted_for_new_definitions() {
    // The seed's batch job: items from a Task through ItemsPath, EXPRESS children.
    let seed: Value = serde_json::from_str(include_str!(
        "../../../examples/map-batch/map-batch.asl.json"
    ))
    .expect("the seed's JSON");
    assert!(check_new(&seed).is_ok());
    let def = distributed(json!({"ItemsPath": "$.items", "MaxConcurrency": 5,
        "ToleratedFailurePercentage": 10, "Label": "batch"}));
    assert!(check_new(&def).is_ok());
}

#[test]
fn map_defaults_and_legacy_fields() {
    let m = ok(single(json!({"Type": "Map", "Iterator": processor(),
        "Parameters": {"x.$": "$$.Map.Item.Value"}, "MaxConcurrency": 3, "End": true})));
    let StateKind::Map(map) = &m.states["S"].kind else {
        panic!("not a map")
    };
    assert_eq!(map.mode, ProcessorMode::Inline);
    assert_eq!(map.execution_type, ChildExecutionType::Standard);
    assert!(map.items_path.is_root());
    assert!(
        map.item_selector.is_some(),
        "legacy Parameters become the item selector"
    );
    assert_eq!(map.max_concurrency, NumberSource::Literal(3));
    assert_eq!(map.tolerated_failure_count, None);
    assert_eq!(map.label, None);

    let m = ok(map_with(json!({})));
    let StateKind::Map(map) = &m.states["S"].kind else {
        panic!("not a map")
    };
    assert_eq!(map.max_concurrency, NumberSource::Literal(0));
}

#[test]
fn map_processor_rules() {
    schema(
        single(json!({"Type": "Map", "End": true})),
        "/States/S",
        "These fields are required: [ItemProcessor]",
    );
    schema(
        map_with(json!({"Iterator": processor()})),
        "/States/S",
        "These fields cannot be used together: [ItemProcessor, Iterator]",
    );
    schema(
        map_with(json!({"ItemSelector": {}, "Parameters": {}})),
        "/States/S",
        "These fields cannot be used together: [ItemSelector, Parameters]",
    );
    schema(
        map_with(
            json!({"ItemProcessor": {"ProcessorConfig": {"Mode": "SERIAL"},
            "StartAt": "Inner", "States": {"Inner": pass_end()}}}),
        ),
        "/States/S/ItemProcessor/ProcessorConfig/Mode",
        "INLINE, DISTRIBUTED",
    );
    schema(
        map_with(
            json!({"ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "FAST"},
            "StartAt": "Inner", "States": {"Inner": pass_end()}}}),
        ),
        "/States/S/ItemProcessor/ProcessorConfig/ExecutionType",
        "STANDARD, EXPRESS",
    );
    schema(
        map_with(json!({"ItemProcessor": {"QueryLanguage": "JSONPath",
            "StartAt": "Inner", "States": {"Inner": pass_end()}}})),
        "/States/S/ItemProcessor",
        "Field 'QueryLanguage' is not supported",
    );
}

#[test]
fn map_numbers() {
    schema(
        map_with(json!({"MaxConcurrency": 1, "MaxConcurrencyPath": "$.m"})),
        "/States/S",
        "These fields cannot be used together: [MaxConcurrency, MaxConcurrencyPath]",
    );
    schema(
        map_with(json!({"MaxConcurrency": -1})),
        "/States/S/MaxConcurrency",
        "MaxConcurrency",
    );
    schema(
        map_with(json!({"ToleratedFailurePercentage": 101})),
        "/States/S/ToleratedFailurePercentage",
        "between 0 and 100",
    );
    schema(
        map_with(json!({"ToleratedFailureCount": 1, "ToleratedFailureCountPath": "$.c"})),
        "/States/S",
        "These fields cannot be used together",
    );
    schema(
        map_with(json!({"ToleratedFailurePercentage": 1, "ToleratedFailurePercentagePath": "$.c"})),
        "/States/S",
        "These fields cannot be used together",
    );
    schema(
        map_with(json!({"ItemReader": "s3"})),
        "/States/S/ItemReader",
        "Object",
    );
    let m = ok(map_with(json!({"ToleratedFailurePercentage": 12.5})));
    let StateKind::Map(map) = &m.states["S"].kind else {
        panic!("not a map")
    };
    assert_eq!(
        map.tolerated_failure_percentage,
        Some(NumberSource::Literal(12.5))
    );
}

#[test]
fn map_label_rules() {
    schema(
        map_with(json!({"Label": ""})),
        "/States/S/Label",
        "Label cannot be empty",
    );
    schema(
        map_with(json!({"Label": "1".repeat(41)})),
        "/States/S/Label",
        "Label cannot exceed 40 characters",
    );
    ok(map_with(json!({"Label": "é".repeat(40)})));
    for c in [
        ' ', '?', '*', '<', '>', '{', '}', '[', ']', ':', ';', ',', '\\', '|', '^', '~', '$', '#',
        '%', '&', '`', '"', '\n', '\u{0}', '\u{7f}', '\u{85}', '\u{9f}',
    ] {
        schema(
            map_with(json!({"Label": format!("label_{c}")})),
            "/States/S/Label",
            "Label contains invalid character",
        );
    }
    for c in ['-', '_', '.', '!', '(', ')', '+', '=', '@', '\''] {
        ok(map_with(json!({"Label": format!("label_{c}")})));
    }
}

#[test]
fn map_processor_states_are_checked() {
    let def =
        map_with(json!({"ItemProcessor": {"StartAt": "Nope", "States": {"Inner": pass_end()}}}));
    let d = errors(def);
    assert_eq!(d[0].location, "/States/S/ItemProcessor/StartAt", "{d:#?}");
    assert_eq!(d[0].message, "Missing 'Next' target: Nope");
    let def = single(
        json!({"Type": "Map", "End": true, "Iterator": {"StartAt": "Nope", "States": {"Inner": pass_end()}}}),
    );
    let d = errors(def);
    assert_eq!(d[0].location, "/States/S/Iterator/StartAt", "{d:#?}");
}

// ---- cross-state checks -------------------------------------------------------------

#[test]
fn start_at_must_name_a_state() {
    aws_message(
        json!({"StartAt": "Not sure", "States": {"Pass One": {"Type": "Pass", "Next": "Success"},
            "Success": {"Type": "Succeed"}}}),
        "Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: Missing 'Next' target: Not \
         sure at /StartAt, MISSING_TRANSITION_TARGET: State \"Pass One\" is not reachable. at \
         /States/Pass One'",
    );
}

#[test]
fn missing_next_target_and_unreachable_state() {
    aws_message(
        json!({"StartAt": "pass1", "States": {
            "pass1": {"Type": "Pass", "Next": "pass3"},
            "pass2": {"Type": "Pass", "End": true}}}),
        "Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: Missing 'Next' target: \
         pass3 at /States/pass1/Next, MISSING_TRANSITION_TARGET: State \"pass2\" is not \
         reachable. at /States/pass2'",
    );
}

#[test]
fn catch_target_must_exist() {
    let d = errors(task_with(
        json!({"Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}]}),
    ));
    assert_eq!(d[0].location, "/States/S/Catch[0]/Next");
    assert_eq!(d[0].message, "Missing 'Next' target: H");
}

#[test]
fn catch_targets_make_states_reachable() {
    ok(json!({"StartAt": "S", "States": {
        "S": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true,
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}]},
        "H": {"Type": "Fail"}
    }}));
}

#[test]
fn loop_without_terminal_state() {
    aws_message(
        json!({"StartAt": "A", "States": {
            "A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"},
            "Lost": {"Type": "Pass", "Next": "A"}}}),
        "Invalid State Machine Definition: 'MISSING_END_STATE: Workflow has no terminal state \
         at null'",
    );
    // An unreachable terminal state is a terminal state: only reachability fails.
    one(
        json!({"StartAt": "A", "States": {
            "A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"},
            "C": {"Type": "Succeed"}}}),
        DiagnosticCode::MissingTransitionTarget,
        "/States/C",
        "State \"C\" is not reachable.",
    );
    // A dangling Next and no terminal state: both, in that order.
    let d = errors(single(json!({"Type": "Pass", "Next": "NOPE"})));
    assert_eq!(d.len(), 2, "{d:#?}");
    assert_eq!(d[0].code, DiagnosticCode::MissingTransitionTarget);
    assert_eq!(d[1].code, DiagnosticCode::MissingEndState);
    assert_eq!(d[1].location, "");
}

#[test]
fn choice_only_loops_have_no_terminal_state() {
    let d = errors(json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": true, "Next": "C"}], "Default": "C"}
    }}));
    assert_eq!(d[0].code, DiagnosticCode::MissingEndState, "{d:#?}");
}

#[test]
fn duplicate_state_names_across_branches() {
    let def = json!({"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Next": "X", "Branches": [
            {"StartAt": "X", "States": {"X": pass_end()}}
        ]},
        "X": pass_end()
    }});
    let d = errors(def);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].code, DiagnosticCode::DuplicateStateName);
    assert_eq!(d[0].location, "/States/P/Branches[0]/States/X");
    assert!(d[0].message.contains("X"));

    let def = json!({"StartAt": "M", "States": {
        "M": {"Type": "Map", "End": true, "ItemProcessor": processor()},
        "N": {"Type": "Map", "End": true, "ItemProcessor": processor()}
    }});
    let d = errors(def);
    assert!(
        d.iter()
            .any(|d| d.code == DiagnosticCode::DuplicateStateName
                && d.location == "/States/N/ItemProcessor/States/Inner"),
        "{d:#?}"
    );
}

#[test]
fn duplicate_state_names_in_one_states_object() {
    let text = r#"{"StartAt": "Dup Check", "States": {
        "Dup Check": {"Type": "Pass", "Next": "SuccessState"},
        "Dup Check": {"Type": "Pass", "Next": "SuccessState"},
        "SuccessState": {"Type": "Succeed"}}}"#;
    let d = validate(text, &ValidateOptions::default()).expect_err("should be refused");
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].code, DiagnosticCode::DuplicateStateName);
    assert_eq!(d[0].location, "/States/Dup Check");
    assert_eq!(d[0].message, "Duplicate State name: Dup Check");
    // Inside a branch too; other repeated keys are JSON's business (the last one wins).
    let text = r#"{"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "A", "States": {"A": {"Type": "Succeed"}, "A": {"Type": "Succeed"}}}]}}}"#;
    let d = validate(text, &ValidateOptions::default()).expect_err("should be refused");
    assert_eq!(d[0].location, "/States/P/Branches[0]/States/A", "{d:#?}");
    let text = r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Comment": "x", "Comment": "y"}}}"#;
    assert!(validate(text, &ValidateOptions::default()).is_ok());
}

#[test]
fn warnings_do_not_fail() {
    let (m, warnings) =
        validate(&single(pass_end()).to_string(), &ValidateOptions::default()).expect("valid");
    assert!(warnings.is_empty());
    assert_eq!(m.states.len(), 1);
}

// ---- robustness ---------------------------------------------------------------------

fn nested_parallel(levels: usize) -> Value {
    let mut inner = processor();
    for _ in 0..levels {
        inner = json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [inner]}}});
    }
    inner
}

#[test]
fn nesting_depth_is_capped() {
    let mut diags = Vec::new();
    let value = nested_parallel(MAX_NESTING_DEPTH + 5);
    assert!(parse_definition(&value, &mut diags).is_none());
    assert!(
        diags.iter().any(|d| d.message.contains("nested more than")),
        "{diags:#?}"
    );
    // Within the cap, parse_definition accepts it (validate would call the names
    // duplicates, which they are).
    let mut diags = Vec::new();
    assert!(
        parse_definition(&nested_parallel(5), &mut diags).is_some(),
        "{diags:#?}"
    );
}

#[test]
fn parse_definition_refuses_non_objects() {
    let mut diags = Vec::new();
    assert!(parse_definition(&json!([1]), &mut diags).is_none());
    assert_eq!(diags[0].location, "/");
}

/// A small deterministic fuzz: mutated definitions and random bytes never panic.
#[test]
fn random_inputs_never_panic() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let base = json!({"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "C",
              "Retry": [{"ErrorEquals": ["States.ALL"], "BackoffRate": 2}],
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "F"}]},
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "NumericEquals": 1, "Next": "M"}], "Default": "W"},
        "W": {"Type": "Wait", "Seconds": 1, "Next": "M"},
        "M": {"Type": "Map", "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}}, "Next": "P"},
        "P": {"Type": "Parallel", "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Succeed"}}}], "End": true},
        "F": {"Type": "Fail", "Error": "E"}
    }})
    .to_string();
    let bytes = base.as_bytes();
    let options = ValidateOptions::default();
    for _ in 0..3000 {
        let mut text = bytes.to_vec();
        let edits = (next() % 4) + 1;
        for _ in 0..edits {
            if text.is_empty() {
                break;
            }
            let at = (next() as usize) % text.len();
            match next() % 3 {
                0 => text[at] = (next() % 128) as u8,
                1 => {
                    text.remove(at);
                }
                _ => text.insert(at, b"{}[]\",:0-1.eE$"[(next() % 14) as usize]),
            }
        }
        let text = String::from_utf8_lossy(&text);
        let _ = validate(&text, &options);
    }
    for _ in 0..1000 {
        let len = (next() % 64) as usize;
        let raw: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let _ = validate(&String::from_utf8_lossy(&raw), &options);
    }
}

/// Every field of the base machine replaced by values of every JSON type.
#[test]
fn wrong_types_everywhere_never_panic() {
    let base = json!({"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "M",
              "TimeoutSeconds": 3, "HeartbeatSeconds": 1, "Credentials": {"RoleArn": "r"},
              "Retry": [{"ErrorEquals": ["X"], "IntervalSeconds": 1, "MaxAttempts": 1, "BackoffRate": 1, "MaxDelaySeconds": 2, "JitterStrategy": "FULL"}],
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "F", "ResultPath": "$.e"}]},
        "M": {"Type": "Map", "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}},
              "ItemsPath": "$.i", "MaxConcurrency": 1, "ToleratedFailurePercentage": 1, "Label": "l", "Next": "W"},
        "W": {"Type": "Wait", "Timestamp": "2020-01-01T00:00:00Z", "Next": "C"},
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsNull": true, "Next": "F"}], "Default": "F"},
        "F": {"Type": "Fail", "ErrorPath": "$.e", "Cause": "c"}
    }});
    let replacements = [
        json!(null),
        json!(true),
        json!(-1),
        json!(1.5),
        json!("x"),
        json!([]),
        json!({}),
        json!([null]),
    ];
    let mut pointers = Vec::new();
    collect_pointers(&base, String::new(), &mut pointers);
    for p in &pointers {
        for r in &replacements {
            let mut def = base.clone();
            if let Some(slot) = def.pointer_mut(p) {
                *slot = r.clone();
            }
            let _ = check(&def);
        }
    }
}

fn collect_pointers(v: &Value, here: String, out: &mut Vec<String>) {
    out.push(here.clone());
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                collect_pointers(
                    v,
                    format!("{here}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                collect_pointers(v, format!("{here}/{i}"), out);
            }
        }
        _ => {}
    }
}

// ---- the AWS-recorded corpus --------------------------------------------------------

fn corpus_dir() -> Option<std::path::PathBuf> {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/cases");
    dir.is_dir().then_some(dir)
}

fn corpus_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            corpus_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

fn is_jsonata(definition: &Value) -> bool {
    let text = definition.to_string();
    text.contains("\"QueryLanguage\":\"JSONata\"") || text.contains("{%")
}

/// Uses workflow variables (`Assign`, `$var` references).
fn uses_variables(definition: &Value) -> bool {
    definition.to_string().contains("\"Assign\"")
}

#[test]
fn aws_corpus() {
    let Some(dir) = corpus_dir() else {
        eprintln!("conformance corpus not found; skipping");
        return;
    };
    let mut files = Vec::new();
    corpus_files(&dir, &mut files);
    files.sort();
    let mut failures = Vec::new();
    let (mut accepted, mut refused, mut messages_compared, mut with_variables) = (0, 0, 0, 0);
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let Ok(case) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let name = case["name"].as_str().unwrap_or("?").to_string();
        let Some(definition) = case.get("definition") else {
            continue;
        };
        if is_jsonata(definition) {
            continue;
        }
        let options = ValidateOptions {
            express: case["state_machine_type"] == "EXPRESS",
            ..ValidateOptions::default()
        };
        let result = validate(&definition.to_string(), &options);
        match case["kind"].as_str() {
            Some("execution") => {
                if uses_variables(definition) {
                    with_variables += 1;
                }
                match result {
                    Ok(_) => accepted += 1,
                    Err(d) => failures.push(format!("{name}: refused a valid definition: {d:?}")),
                }
            }
            Some("create_failure") => {
                let error = case["expected"]["error"].as_str().unwrap_or("");
                if error != "InvalidDefinition" {
                    continue; // API-level (logging configuration, versioning)
                }
                let expected = case["expected"]["message"].as_str().unwrap_or("");
                match result {
                    Ok(_) => failures.push(format!("{name}: accepted; AWS said {expected}")),
                    Err(d) => {
                        refused += 1;
                        if expected.starts_with("Invalid State Machine Definition:") {
                            messages_compared += 1;
                            let ours = invalid_definition_message(&d)
                                .replace("arn:aws:", "arn:<partition>:");
                            if ours != expected {
                                failures.push(format!(
                                    "{name}: message differs\n  ours: {ours}\n  AWS:  {expected}"
                                ));
                            }
                        } else if name.contains("map_run") {
                            // LocalStack's wording for the Label checks: one diagnostic at Label.
                            if d.len() != 1 || d[0].location != "/States/MapState/Label" {
                                failures
                                    .push(format!("{name}: expected one Label diagnostic: {d:?}"));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    eprintln!(
        "corpus: {accepted} valid definitions accepted, {refused} invalid refused \
         ({messages_compared} AWS messages compared), {with_variables} of them using variables"
    );
    assert!(
        with_variables >= 20,
        "only {with_variables} definitions with variables seen"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        accepted >= 700,
        "only {accepted} execution definitions seen"
    );
    assert!(refused >= 95, "only {refused} create failures seen");
}

#[test]
fn a_batcher_with_an_item_selector_is_accepted() {
    let def = distributed(json!({
        "ItemBatcher": {"MaxItemsPerBatch": 2},
        "ItemSelector": {"v.$": "$$.Map.Item.Value"},
    }));
    check_new(&def).expect("accepted: each item is selected, then batched");
}
