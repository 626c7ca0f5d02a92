//! A Distributed Map's `ItemReader` and `ItemBatcher` in the pure interpreter: the Map
//! asks for its items with one internal task (`READ_ITEMS_RESOURCE`, its input the
//! resolved reader), records no task events for it, then iterates what the task answered;
//! a failed read is `States.ItemReaderFailed` for Retry and Catch.

mod pure_run;

use cairn_asl::driver::{self, TaskHandler};
use cairn_asl::interpreter::{TaskRequest, READ_ITEMS_RESOURCE};
use cairn_asl::status::ExecutionStatus;
use cairn_asl::task::TaskOutcome;
use pure_run::{machine, options};
use serde_json::{json, Value};

/// Answers the reader's task with `items` (or fails it), remembering the requests.
struct Reader {
    answer: Result<Vec<Value>, (String, String)>,
    requests: Vec<TaskRequest>,
}

impl TaskHandler for Reader {
    fn invoke(&mut self, task: &TaskRequest) -> TaskOutcome {
        self.requests.push(task.clone());
        assert_eq!(task.resource, READ_ITEMS_RESOURCE);
        match &self.answer {
            Ok(items) => TaskOutcome::Succeeded(json!({ "Items": items })),
            Err((error, cause)) => TaskOutcome::Failed {
                error: error.clone(),
                cause: Some(cause.clone()),
            },
        }
    }
}

fn dmap(fields: Value) -> Value {
    let mut state = json!({
        "Type": "Map", "End": true,
        "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
                       "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "GIVEN",
                                        "CSVHeaders": ["a", "b"], "CSVDelimiter": "SEMICOLON",
                                        "MaxItemsPath": "$.most"},
                       "Parameters": {"Bucket": "bucket", "Key.$": "$.key"}},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                          "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}
    });
    if let (Some(s), Some(f)) = (state.as_object_mut(), fields.as_object()) {
        for (k, v) in f {
            s.insert(k.clone(), v.clone());
        }
    }
    json!({"StartAt": "M", "States": {"M": state}})
}

#[test]
fn the_map_reads_its_items_with_one_task_then_iterates_them() {
    let m = machine(&dmap(json!({})));
    let items = vec![json!({"a": "1", "b": "x"}), json!({"a": "2", "b": "y"})];
    let mut reader = Reader {
        answer: Ok(items.clone()),
        requests: Vec::new(),
    };
    let out = driver::run(
        &m,
        json!({"key": "in.csv", "most": 5}),
        &options(),
        &mut reader,
    );
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{out:?}");
    assert_eq!(out.output, Some(Value::Array(items)));
    assert_eq!(reader.requests.len(), 1);
    // The resolved reader: Parameters and MaxItemsPath evaluated.
    assert_eq!(
        reader.requests[0].input,
        json!({"Reader": {
            "source": {"Object": {"bucket": "bucket", "key": "in.csv", "version_id": null,
                "format": {"Csv": {"headers": {"Given": ["a", "b"]}, "delimiter": "Semicolon"}}}},
            "max_items": 5
        }})
    );
    let types: Vec<&str> = out.history.iter().map(|e| e.event_type.as_str()).collect();
    assert!(!types.iter().any(|t| t.starts_with("Task")), "{types:?}");
    assert!(types.contains(&"MapRunStarted"), "{types:?}");
}

#[test]
fn a_failed_read_is_item_reader_failed_and_can_be_caught() {
    let mut definition = dmap(json!({}));
    definition["States"]["M"]
        .as_object_mut()
        .expect("state")
        .remove("End");
    definition["States"]["M"]["Next"] = json!("After");
    definition["States"]["M"]["Catch"] =
        json!([{"ErrorEquals": ["States.ItemReaderFailed"], "Next": "After"}]);
    definition["States"]["After"] = json!({"Type": "Pass", "End": true});
    let m = machine(&definition);
    let mut reader = Reader {
        answer: Err((
            "States.ItemReaderFailed".into(),
            "The specified key does not exist.".into(),
        )),
        requests: Vec::new(),
    };
    let out = driver::run(
        &m,
        json!({"key": "absent.csv", "most": 0}),
        &options(),
        &mut reader,
    );
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{out:?}");
    assert_eq!(
        out.output.expect("output")["Error"],
        json!("States.ItemReaderFailed")
    );
}

#[test]
fn a_reader_failure_fails_the_execution_with_its_cause() {
    let m = machine(&dmap(json!({})));
    let mut reader = Reader {
        answer: Err(("States.ItemReaderFailed".into(), "NoSuchKey".into())),
        requests: Vec::new(),
    };
    let out = driver::run(&m, json!({"key": "k", "most": 0}), &options(), &mut reader);
    assert_eq!(out.status, ExecutionStatus::Failed);
    assert_eq!(out.error.as_deref(), Some("States.ItemReaderFailed"));
    assert_eq!(out.cause.as_deref(), Some("NoSuchKey"));
}

#[test]
fn a_negative_max_items_path_fails_before_any_read() {
    let m = machine(&dmap(json!({})));
    let mut reader = Reader {
        answer: Ok(vec![]),
        requests: Vec::new(),
    };
    let out = driver::run(&m, json!({"key": "k", "most": -1}), &options(), &mut reader);
    assert_eq!(out.status, ExecutionStatus::Failed);
    assert_eq!(out.error.as_deref(), Some("States.ItemReaderFailed"));
    assert!(reader.requests.is_empty());
}

#[test]
fn items_read_are_batched() {
    let m = machine(&dmap(json!({
        "ItemBatcher": {"MaxItemsPerBatchPath": "$.per", "BatchInput": {"k.$": "$.key"}}
    })));
    let items: Vec<Value> = (0..5).map(|n| json!({"a": n})).collect();
    let mut reader = Reader {
        answer: Ok(items),
        requests: Vec::new(),
    };
    let out = driver::run(
        &m,
        json!({"key": "k", "per": 2, "most": 0}),
        &options(),
        &mut reader,
    );
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{out:?}");
    assert_eq!(
        out.output.expect("output"),
        json!([
            {"BatchInput": {"k": "k"}, "Items": [{"a": 0}, {"a": 1}]},
            {"BatchInput": {"k": "k"}, "Items": [{"a": 2}, {"a": 3}]},
            {"BatchInput": {"k": "k"}, "Items": [{"a": 4}]},
        ])
    );
}

#[test]
fn a_map_of_more_one_state_iterations_than_the_history_limit_is_no_loop() {
    let m = machine(&dmap(json!({
        "MaxConcurrency": 0,
        "ResultSelector": {"count.$": "States.ArrayLength($)"}
    })));
    let items: Vec<Value> = (0..30_000).map(|n| json!(n)).collect();
    let mut reader = Reader {
        answer: Ok(items),
        requests: Vec::new(),
    };
    let out = driver::run(&m, json!({"key": "k", "most": 0}), &options(), &mut reader);
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{out:?}");
    assert_eq!(out.output, Some(json!({"count": 30_000})));
}

#[test]
fn a_loop_inside_an_iteration_still_fails_at_the_limit() {
    let mut definition = dmap(json!({}));
    definition["States"]["M"]["ItemProcessor"]["States"] = json!({
        "P": {"Type": "Pass", "Next": "Again"},
        "Again": {"Type": "Choice", "Choices": [
            {"Variable": "$", "IsPresent": false, "Next": "Done"}], "Default": "P"},
        "Done": {"Type": "Pass", "End": true}
    });
    let m = machine(&definition);
    let mut reader = Reader {
        answer: Ok(vec![json!(1)]),
        requests: Vec::new(),
    };
    let out = driver::run(&m, json!({"key": "k", "most": 0}), &options(), &mut reader);
    assert_eq!(out.status, ExecutionStatus::Failed, "{out:?}");
    assert!(
        out.cause
            .as_deref()
            .unwrap_or("")
            .contains("history events"),
        "{out:?}"
    );
}
