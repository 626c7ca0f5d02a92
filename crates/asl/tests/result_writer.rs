//! A Distributed Map's `ResultWriter` in the pure interpreter: once the iterations are
//! done (a failure within the tolerance included) the Map asks for one internal task
//! (`WRITE_RESULTS_RESOURCE`) with every item's result, records no task events for it,
//! and leaves with the task's answer; a failed write is `States.ResultWriterFailed` for
//! Retry and Catch; a `WriterConfig` without export shapes the inline results.

mod pure_run;

use cairn_asl::distributed::results::{ResultClass, WriteResultsRequest, WRITE_RESULTS_RESOURCE};
use cairn_asl::driver::{self, TaskHandler};
use cairn_asl::interpreter::TaskRequest;
use cairn_asl::status::ExecutionStatus;
use cairn_asl::task::TaskOutcome;
use cairn_asl::validate::{validate, ValidateOptions};
use pure_run::{machine, options};
use serde_json::{json, Value};

/// Answers the writer's task (or fails it), remembering the requests.
struct Writer {
    fail: Option<(String, String)>,
    requests: Vec<TaskRequest>,
}

impl TaskHandler for Writer {
    fn invoke(&mut self, task: &TaskRequest) -> TaskOutcome {
        self.requests.push(task.clone());
        assert_eq!(task.resource, WRITE_RESULTS_RESOURCE);
        match &self.fail {
            None => TaskOutcome::Succeeded(json!({
                "MapRunArn": task.input["map_run_arn"],
                "ResultWriterDetails": {"Bucket": task.input["destination"]["bucket"],
                                        "Key": "written/manifest.json"}
            })),
            Some((error, cause)) => TaskOutcome::Failed {
                error: error.clone(),
                cause: Some(cause.clone()),
            },
        }
    }
}

/// Items 1..=3; the iteration for 2 fails, tolerated.
fn dmap(writer: Value) -> Value {
    json!({"StartAt": "M", "States": {"M": {
        "Type": "Map", "End": true, "ItemsPath": "$.items", "ToleratedFailureCount": 1,
        "ResultWriter": writer,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
            "StartAt": "C", "States": {
                "C": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericEquals": 2, "Next": "F"}],
                      "Default": "P"},
                "F": {"Type": "Fail", "Error": "Two", "Cause": "two is bad"},
                "P": {"Type": "Pass", "Parameters": {"v.$": "$"}, "End": true}}}
    }}})
}

fn export() -> Value {
    json!({"Resource": "arn:aws:states:::s3:putObject",
           "Parameters": {"Bucket": "out", "Prefix.$": "$.prefix"}})
}

#[test]
fn the_map_writes_its_results_with_one_task_and_leaves_with_its_answer() {
    let m = machine(&dmap(export()));
    let mut writer = Writer {
        fail: None,
        requests: Vec::new(),
    };
    let out = driver::run(
        &m,
        json!({"items": [1, 2, 3], "prefix": "runs"}),
        &options(),
        &mut writer,
    );
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{out:?}");
    assert_eq!(writer.requests.len(), 1);
    let request: WriteResultsRequest =
        serde_json::from_value(writer.requests[0].input.clone()).expect("a request");
    assert_eq!(request.destination.bucket, "out");
    assert_eq!(request.destination.prefix, "runs");
    let output = out.output.expect("output");
    assert_eq!(output["ResultWriterDetails"]["Bucket"], "out");
    assert_eq!(output["MapRunArn"], json!(request.map_run_arn));
    let records: Vec<Value> = request
        .results
        .iter()
        .map(|r| r.records(request.transformation)[0].clone())
        .collect();
    assert_eq!(records[0]["Status"], "SUCCEEDED");
    assert_eq!(records[0]["Output"], "{\"v\":1}");
    assert_eq!(records[1]["Status"], "FAILED");
    assert_eq!(records[1]["Error"], "Two");
    assert_eq!(records[1]["Cause"], "two is bad");
    assert_eq!(records[2]["Input"], "3");
    let types: Vec<&str> = out.history.iter().map(|e| e.event_type.as_str()).collect();
    assert!(!types.iter().any(|t| t.starts_with("Task")), "{types:?}");
    assert!(types.contains(&"MapRunSucceeded"), "{types:?}");
}

#[test]
fn a_failed_write_is_result_writer_failed_and_can_be_caught() {
    let mut definition = dmap(export());
    let state = definition["States"]["M"].as_object_mut().expect("state");
    state.remove("End");
    state.insert("Next".into(), json!("After"));
    state.insert(
        "Catch".into(),
        json!([{"ErrorEquals": ["States.ResultWriterFailed"], "Next": "After", "ResultPath": "$.error"}]),
    );
    definition["States"]["After"] = json!({"Type": "Pass", "End": true});
    let m = machine(&definition);
    let mut writer = Writer {
        fail: Some((
            "States.ResultWriterFailed".into(),
            "The specified bucket does not exist".into(),
        )),
        requests: Vec::new(),
    };
    let out = driver::run(
        &m,
        json!({"items": [1, 3], "prefix": "p"}),
        &options(),
        &mut writer,
    );
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{out:?}");
    let output = out.output.expect("output");
    assert_eq!(output["error"]["Error"], "States.ResultWriterFailed");
    assert_eq!(
        output["error"]["Cause"],
        "The specified bucket does not exist"
    );
}

#[test]
fn a_writer_config_alone_shapes_the_inline_results() {
    let m = machine(&dmap(
        json!({"WriterConfig": {"OutputType": "JSONL", "Transformation": "COMPACT"}}),
    ));
    let mut writer = Writer {
        fail: None,
        requests: Vec::new(),
    };
    let out = driver::run(&m, json!({"items": [1, 3]}), &options(), &mut writer);
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{out:?}");
    assert!(writer.requests.is_empty());
    assert_eq!(out.output, Some(json!("{\"v\":1}\n{\"v\":3}\n")));
}

#[test]
fn an_inline_map_with_a_result_writer_is_refused() {
    let mut definition = dmap(export());
    definition["States"]["M"]["ItemProcessor"]["ProcessorConfig"] = json!({"Mode": "INLINE"});
    let options = ValidateOptions {
        refuse_not_built: true,
        ..ValidateOptions::default()
    };
    let refused = validate(&definition.to_string(), &options).expect_err("refused");
    assert!(
        refused
            .iter()
            .any(|d| format!("{d:?}").contains("ResultWriter")),
        "{refused:?}"
    );
}

#[test]
fn a_jsonata_map_resolves_the_writers_arguments() {
    let m = machine(
        &json!({"QueryLanguage": "JSONata", "StartAt": "M", "States": {"M": {
            "Type": "Map", "End": true, "Items": "{% $states.input.items %}",
            "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject",
                "Arguments": {"Bucket": "{% $states.input.bucket %}", "Prefix": "j"},
                "WriterConfig": {"OutputType": "JSONL", "Transformation": "FLATTEN"}},
            "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}
        }}}),
    );
    let mut writer = Writer {
        fail: None,
        requests: Vec::new(),
    };
    let out = driver::run(
        &m,
        json!({"items": [[1, 2], [3]], "bucket": "jb"}),
        &options(),
        &mut writer,
    );
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{out:?}");
    let request: WriteResultsRequest =
        serde_json::from_value(writer.requests[0].input.clone()).expect("a request");
    assert_eq!(request.destination.bucket, "jb");
    assert_eq!(request.destination.prefix, "j");
    let records: Vec<Value> = request
        .results
        .iter()
        .flat_map(|r| r.records(request.transformation))
        .collect();
    assert_eq!(records, vec![json!(1), json!(2), json!(3)], "FLATTEN");
    assert_eq!(
        out.output.expect("output")["ResultWriterDetails"]["Bucket"],
        "jb"
    );
}

/// `dmap` with no failure tolerated: the iteration for 2 fails the Map Run.
fn intolerant(writer: Value) -> Value {
    let mut definition = dmap(writer);
    definition["States"]["M"]["ToleratedFailureCount"] = json!(0);
    definition
}

#[test]
fn a_run_failed_beyond_its_tolerance_writes_its_results_then_fails() {
    let m = machine(&intolerant(export()));
    let mut writer = Writer {
        fail: None,
        requests: Vec::new(),
    };
    let out = driver::run(
        &m,
        json!({"items": [1, 2, 3], "prefix": "runs"}),
        &options(),
        &mut writer,
    );
    assert_eq!(out.status, ExecutionStatus::Failed, "{out:?}");
    assert_eq!(
        out.error.as_deref(),
        Some("States.ExceedToleratedFailureThreshold")
    );
    assert_eq!(writer.requests.len(), 1, "the files are written once");
    let request: WriteResultsRequest =
        serde_json::from_value(writer.requests[0].input.clone()).expect("a request");
    assert_eq!(request.destination.prefix, "runs");
    let failed: Vec<Value> = request
        .results
        .iter()
        .filter(|r| r.class() == ResultClass::Failed)
        .map(|r| r.records(request.transformation)[0].clone())
        .collect();
    assert_eq!(failed.len(), 1, "{:?}", request.results);
    assert_eq!(failed[0]["Error"], "Two");
    assert_eq!(failed[0]["Cause"], "two is bad");
    assert_eq!(failed[0]["Input"], "2");
    assert_eq!(request.results.len(), 3, "every item has its record");
    let types: Vec<&str> = out.history.iter().map(|e| e.event_type.as_str()).collect();
    assert!(!types.iter().any(|t| t.starts_with("Task")), "{types:?}");
    let run_failed = types.iter().position(|t| *t == "MapRunFailed");
    let state_failed = types.iter().position(|t| *t == "MapStateFailed");
    assert!(
        run_failed.is_some() && run_failed < state_failed,
        "{types:?}"
    );
}

#[test]
fn a_failed_run_whose_write_fails_keeps_its_own_error_for_catch() {
    let mut definition = intolerant(export());
    let state = definition["States"]["M"].as_object_mut().expect("state");
    state.remove("End");
    state.insert("Next".into(), json!("After"));
    state.insert(
        "Catch".into(),
        json!([{"ErrorEquals": ["States.ExceedToleratedFailureThreshold"],
                "Next": "After", "ResultPath": "$.error"}]),
    );
    definition["States"]["After"] = json!({"Type": "Pass", "End": true});
    let m = machine(&definition);
    let mut writer = Writer {
        fail: Some((
            "States.ResultWriterFailed".into(),
            "The specified bucket does not exist".into(),
        )),
        requests: Vec::new(),
    };
    let out = driver::run(
        &m,
        json!({"items": [1, 2, 3], "prefix": "p"}),
        &options(),
        &mut writer,
    );
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{out:?}");
    assert_eq!(writer.requests.len(), 1);
    let output = out.output.expect("output");
    assert_eq!(
        output["error"]["Error"],
        "States.ExceedToleratedFailureThreshold"
    );
}

#[test]
fn a_failed_run_with_a_writer_config_alone_writes_nothing() {
    let m = machine(&intolerant(
        json!({"WriterConfig": {"OutputType": "JSONL"}}),
    ));
    let mut writer = Writer {
        fail: None,
        requests: Vec::new(),
    };
    let out = driver::run(&m, json!({"items": [1, 2, 3]}), &options(), &mut writer);
    assert_eq!(out.status, ExecutionStatus::Failed, "{out:?}");
    assert_eq!(
        out.error.as_deref(),
        Some("States.ExceedToleratedFailureThreshold")
    );
    assert!(writer.requests.is_empty());
}

#[test]
fn a_records_input_is_the_childs_input_after_the_item_selector() {
    let mut definition = dmap(export());
    definition["States"]["M"]["ItemSelector"] = json!({"n.$": "$$.Map.Item.Value", "k": "x"});
    let processor = &mut definition["States"]["M"]["ItemProcessor"]["States"];
    processor["C"]["Choices"][0]["Variable"] = json!("$.n");
    let m = machine(&definition);
    let mut writer = Writer {
        fail: None,
        requests: Vec::new(),
    };
    let out = driver::run(
        &m,
        json!({"items": [1, 2, 3], "prefix": "runs"}),
        &options(),
        &mut writer,
    );
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{out:?}");
    let request: WriteResultsRequest =
        serde_json::from_value(writer.requests[0].input.clone()).expect("a request");
    let inputs: Vec<Value> = request
        .results
        .iter()
        .map(|r| {
            let record = &r.records(request.transformation)[0];
            serde_json::from_str(record["Input"].as_str().expect("text")).expect("json")
        })
        .collect();
    assert_eq!(
        inputs,
        vec![
            json!({"n": 1, "k": "x"}),
            json!({"n": 2, "k": "x"}),
            json!({"n": 3, "k": "x"})
        ]
    );
}
