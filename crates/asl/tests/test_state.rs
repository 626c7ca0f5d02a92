//! `cairn_asl::test_state`: one state run on its own, as AWS's TestState runs it. The
//! recorded corpus (`conformance.rs`) covers what AWS was seen doing; these tests cover
//! the rest of the contract: the call of an unmocked Task, each refusal, Assign and
//! variables, Retry and Catch in both query languages.

use serde_json::{json, Value};

use cairn_asl::interpreter::Clock;
use cairn_asl::task::TaskOutcome;
use cairn_asl::test_state::{
    prepare, Environment, FieldValidationMode, HttpRequestTrace, HttpResponseTrace, HttpTrace,
    InspectionLevel, Mock, MockError, Request, RequestError, Response, StateConfiguration, Status,
    Step,
};
use cairn_asl::timestamp::Timestamp;

const ROLE: &str = "arn:aws:iam::123456789012:role/test";

fn environment() -> Environment<'static> {
    Environment {
        region: "eu-west-1",
        account: "123456789012",
        clock: Clock {
            now: Timestamp::from_unix_millis(1_750_000_000_000),
            seed: 42,
            entropy: [3; 32],
        },
        max_payload_bytes: 256 * 1024,
    }
}

fn request(definition: Value, input: Value) -> Request {
    Request {
        definition: definition.to_string(),
        role_arn: Some(ROLE.to_string()),
        input: Some(input.to_string()),
        inspection_level: InspectionLevel::Debug,
        ..Request::default()
    }
}

fn result_mock(result: Value) -> Option<Mock> {
    Some(Mock {
        result: Some(result.to_string()),
        ..Mock::default()
    })
}

fn error_mock(error: &str, cause: &str) -> Option<Mock> {
    Some(Mock {
        error_output: Some(MockError {
            error: Some(error.to_string()),
            cause: Some(cause.to_string()),
        }),
        ..Mock::default()
    })
}

fn done(request: Request) -> Response {
    match prepare(request)
        .expect("the request is valid")
        .start(&environment())
    {
        Step::Done(response) => *response,
        Step::Invoke(pending) => panic!("the test calls {}", pending.call.resource),
    }
}

fn refused(request: Request) -> RequestError {
    prepare(request).expect_err("the request is refused")
}

#[test]
fn an_unmocked_task_hands_its_call_over_and_finishes_with_the_answer() {
    let definition = json!({
        "Type": "Task",
        "Resource": "arn:aws:states:::http:invoke",
        "Parameters": {"ApiEndpoint.$": "$.url", "Method": "GET"},
        "ResultSelector": {"code.$": "$.StatusCode"},
        "ResultPath": "$.answer",
        "Next": "After"
    });
    let mut req = request(definition, json!({"url": "http://127.0.0.1:1/x"}));
    req.inspection_level = InspectionLevel::Trace;
    let prepared = prepare(req).expect("valid");
    assert!(prepared.invokes());
    let Step::Invoke(pending) = prepared.start(&environment()) else {
        panic!("an unmocked Task calls its target");
    };
    assert_eq!(pending.call.resource, "arn:aws:states:::http:invoke");
    assert_eq!(
        pending.call.input,
        json!({"ApiEndpoint": "http://127.0.0.1:1/x", "Method": "GET"})
    );
    assert!(pending.wants_http_trace());
    let trace = HttpTrace {
        request: HttpRequestTrace {
            protocol: "http".into(),
            method: "GET".into(),
            url: "http://127.0.0.1:1/x".into(),
            headers: "[]".into(),
            body: String::new(),
        },
        response: Some(HttpResponseTrace {
            protocol: "http".into(),
            status_code: "200".into(),
            status_message: "OK".into(),
            headers: "[]".into(),
            body: "{}".into(),
        }),
    };
    let response = pending.resume(
        TaskOutcome::Succeeded(json!({"StatusCode": 200, "ResponseBody": {}})),
        Some(trace.clone()),
    );
    assert_eq!(response.status, Status::Succeeded);
    assert_eq!(
        response.output,
        Some(json!({"url": "http://127.0.0.1:1/x", "answer": {"code": 200}}))
    );
    assert_eq!(response.next_state.as_deref(), Some("After"));
    let inspection = response.inspection.expect("TRACE inspects");
    assert_eq!(inspection.request, Some(trace.request));
    assert_eq!(inspection.after_result_selector, Some(json!({"code": 200})));
    assert_eq!(
        inspection.result,
        Some(json!({"StatusCode": 200, "ResponseBody": {}}))
    );
}

#[test]
fn debug_shows_no_http_exchange_and_info_shows_nothing() {
    let definition =
        json!({"Type": "Task", "Resource": "arn:aws:states:::http:invoke", "End": true});
    let Step::Invoke(pending) = prepare(request(definition.clone(), json!({})))
        .expect("valid")
        .start(&environment())
    else {
        panic!("calls");
    };
    assert!(!pending.wants_http_trace());
    let response = pending.resume(
        TaskOutcome::Succeeded(json!({})),
        Some(HttpTrace::default()),
    );
    let inspection = response.inspection.expect("DEBUG inspects");
    assert_eq!(inspection.request, None);
    assert_eq!(inspection.response, None);

    let mut info = request(json!({"Type": "Pass", "End": true}), json!({"a": 1}));
    info.inspection_level = InspectionLevel::Info;
    let response = done(info);
    assert_eq!(response.inspection, None);
    assert_eq!(response.output, Some(json!({"a": 1})));
}

#[test]
fn a_failed_call_is_retried_caught_or_fails() {
    let definition = json!({
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Retry": [{"ErrorEquals": ["Busy"], "IntervalSeconds": 3, "BackoffRate": 1.5, "MaxAttempts": 2}],
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Handle"}],
        "End": true
    });
    let outcome = |error: &str, retries: Option<u64>| {
        let mut req = request(definition.clone(), json!({"n": 1}));
        req.configuration.retrier_retry_count = retries;
        let Step::Invoke(pending) = prepare(req).expect("valid").start(&environment()) else {
            panic!("calls");
        };
        pending.resume(
            TaskOutcome::Failed {
                error: error.to_string(),
                cause: Some("because".into()),
            },
            None,
        )
    };
    let retriable = outcome("Busy", Some(1));
    assert_eq!(retriable.status, Status::Retriable);
    assert_eq!(retriable.output, None);
    assert_eq!(retriable.next_state, None);
    let details = retriable
        .inspection
        .and_then(|i| i.error_details)
        .expect("details");
    assert_eq!(details.retry_index, Some(0));
    assert_eq!(details.retry_backoff_interval_seconds, Some(4));

    let caught = outcome("Busy", Some(2));
    assert_eq!(caught.status, Status::CaughtError);
    assert_eq!(caught.next_state.as_deref(), Some("Handle"));
    assert_eq!(
        caught.output,
        Some(json!({"n": 1, "error": {"Error": "Busy", "Cause": "because"}}))
    );
    let details = caught
        .inspection
        .and_then(|i| i.error_details)
        .expect("details");
    assert_eq!(
        (details.retry_index, details.catch_index),
        (Some(0), Some(0))
    );

    // States.Runtime is neither retried nor caught.
    let runtime = outcome("States.Runtime", None);
    assert_eq!(runtime.status, Status::Failed);
    assert_eq!(runtime.error.as_deref(), Some("States.Runtime"));
}

#[test]
fn jsonata_catch_output_and_assign() {
    let definition = json!({
        "Type": "Task",
        "QueryLanguage": "JSONata",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Arguments": {"FunctionName": "f", "Payload": "{% $states.input %}"},
        "Catch": [{
            "ErrorEquals": ["Oops"],
            "Assign": {"seen": "{% $states.errorOutput.Error %}"},
            "Output": {"why": "{% $states.errorOutput.Cause %}", "was": "{% $states.input.x %}"},
            "Next": "Recover"
        }],
        "End": true
    });
    let mut req = request(definition, json!({"x": 7}));
    req.mock = error_mock("Oops", "it broke");
    req.role_arn = None;
    let response = done(req);
    assert_eq!(response.status, Status::CaughtError);
    assert_eq!(response.output, Some(json!({"why": "it broke", "was": 7})));
    assert_eq!(response.error.as_deref(), Some("Oops"));
    assert_eq!(response.cause.as_deref(), Some("it broke"));
    let inspection = response.inspection.expect("inspected");
    assert_eq!(
        inspection.after_arguments,
        Some(json!({"FunctionName": "f", "Payload": {"x": 7}}))
    );
    assert_eq!(inspection.variables, Some(json!({"seen": "Oops"})));
    assert_eq!(inspection.after_input_path, None);
}

#[test]
fn variables_are_read_and_assigned() {
    let definition = json!({
        "Type": "Pass",
        "Parameters": {"total.$": "States.MathAdd($base, $.n)"},
        "Assign": {"last.$": "$.total"},
        "End": true
    });
    let mut req = request(definition, json!({"n": 2}));
    req.variables = Some(json!({"base": 40}).to_string());
    let response = done(req);
    assert_eq!(response.output, Some(json!({"total": 42})));
    assert_eq!(
        response.inspection.and_then(|i| i.variables),
        Some(json!({"base": 40, "last": 42}))
    );
}

#[test]
fn the_made_up_context_and_a_given_one() {
    let definition = json!({"Type": "Pass", "Parameters": {"c.$": "$$"}, "End": true});
    let response = done(request(definition.clone(), json!({"in": true})));
    let context = &response.output.expect("output")["c"];
    let id = context["Execution"]["Id"].as_str().expect("an id");
    assert!(
        id.starts_with("arn:aws:states:eu-west-1:123456789012:express:"),
        "{id}"
    );
    assert_eq!(context["Execution"]["Input"], json!({"in": true}));
    assert_eq!(context["Execution"]["RoleArn"], json!(ROLE));
    assert_eq!(context["State"]["Name"], json!("StateName"));
    // A Pass state cannot retry: no retry count.
    assert_eq!(context["State"].get("RetryCount"), None);

    let mut req = request(definition, json!({}));
    req.role_arn = None;
    req.context = Some(json!({"Execution": {"Name": "mine"}}).to_string());
    let response = done(req);
    assert_eq!(
        response.output,
        Some(json!({"c": {"Execution": {"Name": "mine"}}}))
    );
}

#[test]
fn choice_wait_succeed_and_fail() {
    let choice = json!({
        "Type": "Choice",
        "Choices": [{"Variable": "$.n", "NumericGreaterThan": 1, "Next": "Big"}],
        "Default": "Small"
    });
    assert_eq!(
        done(request(choice.clone(), json!({"n": 5})))
            .next_state
            .as_deref(),
        Some("Big")
    );
    let no_default = json!({"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "One"}]});
    let failed = done(request(no_default, json!({"n": 5})));
    assert_eq!(failed.status, Status::Failed);
    assert_eq!(failed.error.as_deref(), Some("States.NoChoiceMatched"));

    // A year-long wait returns at once.
    let wait = json!({"Type": "Wait", "Seconds": 31_536_000, "Next": "Later"});
    let response = done(request(wait, json!({"k": 1})));
    assert_eq!(response.status, Status::Succeeded);
    assert_eq!(response.next_state.as_deref(), Some("Later"));
    let negative = json!({"Type": "Wait", "SecondsPath": "$.s", "Next": "Later"});
    let response = done(request(negative, json!({"s": -1})));
    assert_eq!(response.error.as_deref(), Some("States.Runtime"));

    let fail = json!({"Type": "Fail", "ErrorPath": "$.e", "Cause": "c"});
    let response = done(request(fail, json!({"e": "Custom"})));
    assert_eq!(
        (
            response.status,
            response.error.as_deref(),
            response.cause.as_deref()
        ),
        (Status::Failed, Some("Custom"), Some("c"))
    );
    let succeed = json!({"Type": "Succeed", "OutputPath": "$.a"});
    let response = done(request(succeed, json!({"a": [1]})));
    assert_eq!(response.output, Some(json!([1])));
    assert_eq!(response.next_state, None);
}

#[test]
fn map_items_selector_batcher_and_tolerance() {
    let definition = json!({
        "Type": "Map",
        "ItemsPath": "$.items",
        "ItemSelector": {"v.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index"},
        "ItemBatcher": {"MaxItemsPerBatch": 2},
        "ToleratedFailurePercentage": 50,
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
        "End": true
    });
    let mut req = request(definition.clone(), json!({"items": ["a", "b", "c"]}));
    req.mock = result_mock(json!([1, 2, 3]));
    req.configuration.map_iteration_failure_count = Some(1);
    let response = done(req);
    assert_eq!(response.status, Status::Succeeded);
    assert_eq!(response.output, Some(json!([1, 2, 3])));
    let inspection = response.inspection.expect("inspected");
    assert_eq!(
        inspection.after_item_selector,
        Some(json!([{"v": "a", "i": 0}, {"v": "b", "i": 1}, {"v": "c", "i": 2}]))
    );
    assert_eq!(
        inspection.after_item_batcher,
        Some(json!([
            {"Items": [{"v": "a", "i": 0}, {"v": "b", "i": 1}]},
            {"Items": [{"v": "c", "i": 2}]}
        ]))
    );
    assert_eq!(inspection.tolerated_failure_percentage, Some(50.0));
    assert_eq!(inspection.max_concurrency, Some(0));

    let mut req = request(definition, json!({"items": ["a", "b", "c"]}));
    req.mock = result_mock(json!([1, 2, 3]));
    req.configuration.map_iteration_failure_count = Some(2);
    let response = done(req);
    assert_eq!(
        response.error.as_deref(),
        Some("States.ExceedToleratedFailureThreshold")
    );
}

#[test]
fn refusals_name_aws_errors() {
    let pass = json!({"Type": "Pass", "End": true});
    let mut req = request(pass.clone(), json!({}));
    req.mock = result_mock(json!({}));
    assert_eq!(
        refused(req),
        RequestError::Validation(
            "State type 'Pass' is not supported when a mock is specified".into()
        )
    );

    let task = json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true});
    let mut req = request(task.clone(), json!({}));
    req.role_arn = None;
    assert_eq!(
        refused(req),
        RequestError::Validation("RoleArn must be specified when testing a Task state".into())
    );
    let mut req = request(task.clone(), json!({}));
    req.mock = Some(Mock {
        result: Some("{}".into()),
        error_output: Some(MockError::default()),
        ..Mock::default()
    });
    assert_eq!(refused(req).aws_name(), "ValidationException");
    let mut req = request(task.clone(), json!({}));
    req.mock = result_mock(json!({}));
    req.reveal_secrets = true;
    assert_eq!(
        refused(req),
        RequestError::Validation(
            "TestState does not support RevealSecrets when a mock is specified.".into()
        )
    );
    let mut req = request(task.clone(), json!({}));
    req.mock = result_mock(json!({"StatusCode": "200"}));
    assert_eq!(
        refused(req),
        RequestError::Validation(
            "Mock result schema validation error: Field 'StatusCode' must be a number".into()
        )
    );
    let mut req = request(task, json!({}));
    req.mock = Some(Mock {
        result: Some(json!({"StatusCode": "200"}).to_string()),
        field_validation_mode: FieldValidationMode::None,
        ..Mock::default()
    });
    assert_eq!(done(req).status, Status::Succeeded);

    let parallel = json!({"Type": "Parallel", "Branches": [
        {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}
    ], "End": true});
    assert_eq!(
        refused(request(parallel.clone(), json!({}))).aws_name(),
        "InvalidDefinition"
    );
    let mut req = request(parallel, json!({}));
    req.mock = result_mock(json!([1, 2]));
    assert_eq!(
        refused(req),
        RequestError::Validation(
            "Mocked result must contain the same number of items as number of Parallel branches."
                .into()
        )
    );

    let callback = json!({"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken", "End": true});
    assert_eq!(
        refused(request(callback, json!({}))).aws_name(),
        "InvalidDefinition"
    );
    let mut req = request(pass.clone(), json!({}));
    req.input = Some("{nope".into());
    assert_eq!(refused(req).aws_name(), "InvalidExecutionInput");
    let mut req = request(pass.clone(), json!({}));
    req.variables = Some("[1]".into());
    assert_eq!(refused(req).aws_name(), "ValidationException");
    let mut req = request(pass, json!({}));
    req.configuration = StateConfiguration {
        map_iteration_failure_count: Some(1),
        ..StateConfiguration::default()
    };
    assert_eq!(refused(req).aws_name(), "ValidationException");
}

#[test]
fn a_mocked_error_in_a_map_comes_from_inside_it() {
    let definition = json!({
        "StartAt": "M",
        "States": {"M": {
            "Type": "Map",
            "ItemProcessor": {"StartAt": "Inner", "States": {"Inner": {"Type": "Pass", "End": true}}},
            "Catch": [{"ErrorEquals": ["Boom"], "Next": "Handle"}],
            "End": true
        }, "Handle": {"Type": "Succeed"}}
    });
    let mut req = request(definition.clone(), json!([1]));
    req.state_name = Some("M".into());
    req.mock = error_mock("Boom", "inner");
    req.configuration.error_caused_by_state = Some("Inner".into());
    let response = done(req);
    assert_eq!(response.status, Status::CaughtError);
    assert_eq!(response.next_state.as_deref(), Some("Handle"));

    let mut req = request(definition, json!([1]));
    req.state_name = Some("M".into());
    req.mock = error_mock("Boom", "inner");
    req.configuration.error_caused_by_state = Some("Elsewhere".into());
    assert_eq!(refused(req).aws_name(), "ValidationException");
}
