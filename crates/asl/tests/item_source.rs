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

/// A Distributed Map over `$.items` whose iterations answer their input.
fn inline_dmap(fields: Value) -> Value {
    let mut state = json!({
        "Type": "Map", "End": true, "ItemsPath": "$.items",
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                          "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}
    });
    for (k, v) in fields.as_object().expect("an object") {
        state[k] = v.clone();
    }
    json!({"StartAt": "M", "States": {"M": state}})
}

/// No reader: the items are the input's.
fn no_reader() -> Reader {
    Reader {
        answer: Ok(Vec::new()),
        requests: Vec::new(),
    }
}

/// As AWS orders a Distributed Map's fields: ItemSelector then ItemBatcher. Each item is
/// selected with its own index in the whole list (not its batch's, nor its place in
/// the batch), and the batches hold the selected items.
#[test]
fn items_are_selected_one_by_one_then_batched() {
    let m = machine(&inline_dmap(json!({
        "MaxConcurrency": 1,
        "ItemSelector": {"i.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value.a", "tag.$": "$.tag"},
        "ItemBatcher": {"MaxItemsPerBatch": 2, "BatchInput": {"t.$": "$.tag"}}
    })));
    let items: Vec<Value> = (0..5).map(|n| json!({"a": n * 10})).collect();
    let mut reader = no_reader();
    let out = driver::run(
        &m,
        json!({"items": items, "tag": "x"}),
        &options(),
        &mut reader,
    );
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{out:?}");
    assert_eq!(
        out.output.expect("output"),
        json!([
            {"BatchInput": {"t": "x"}, "Items": [{"i": 0, "v": 0, "tag": "x"}, {"i": 1, "v": 10, "tag": "x"}]},
            {"BatchInput": {"t": "x"}, "Items": [{"i": 2, "v": 20, "tag": "x"}, {"i": 3, "v": 30, "tag": "x"}]},
            {"BatchInput": {"t": "x"}, "Items": [{"i": 4, "v": 40, "tag": "x"}]},
        ])
    );
    assert!(reader.requests.is_empty());
}

#[test]
fn a_jsonata_selector_sees_each_items_index_and_value_before_batching() {
    let m = machine(
        &json!({"QueryLanguage": "JSONata", "StartAt": "M", "States": {"M": {
            "Type": "Map", "End": true, "Items": "{% $states.input.items %}",
            "ItemSelector": {"i": "{% $states.context.Map.Item.Index %}",
                             "v": "{% $states.context.Map.Item.Value * 2 %}",
                             "of": "{% $count($states.input.items) %}"},
            "ItemBatcher": {"MaxItemsPerBatch": "{% $states.input.per %}"},
            "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                              "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}
        }}}),
    );
    let mut reader = no_reader();
    let out = driver::run(
        &m,
        json!({"items": [1, 2, 3, 4], "per": 3}),
        &options(),
        &mut reader,
    );
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{out:?}");
    assert_eq!(
        out.output.expect("output"),
        json!([
            {"Items": [{"i": 0, "v": 2, "of": 4}, {"i": 1, "v": 4, "of": 4}, {"i": 2, "v": 6, "of": 4}]},
            {"Items": [{"i": 3, "v": 8, "of": 4}]},
        ])
    );
}

#[test]
fn items_read_are_selected_then_batched() {
    let m = machine(&dmap(json!({
        "ItemSelector": {"row.$": "$$.Map.Item.Index", "a.$": "$$.Map.Item.Value.a", "k.$": "$.key"},
        "ItemBatcher": {"MaxItemsPerBatch": 3, "BatchInput": {"k.$": "$.key"}}
    })));
    let items: Vec<Value> = (0..4)
        .map(|n| json!({"a": n.to_string(), "b": "x"}))
        .collect();
    let mut reader = Reader {
        answer: Ok(items),
        requests: Vec::new(),
    };
    let out = driver::run(&m, json!({"key": "k", "most": 0}), &options(), &mut reader);
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{out:?}");
    assert_eq!(
        out.output.expect("output"),
        json!([
            {"BatchInput": {"k": "k"}, "Items": [
                {"row": 0, "a": "0", "k": "k"}, {"row": 1, "a": "1", "k": "k"}, {"row": 2, "a": "2", "k": "k"}]},
            {"BatchInput": {"k": "k"}, "Items": [{"row": 3, "a": "3", "k": "k"}]},
        ])
    );
}

/// An item the selector fails on fails the Map as it would without a batcher: same
/// error, same cause (which names the item's own index).
#[test]
fn a_selector_failing_inside_a_batch_fails_the_map_as_without_batches() {
    let items = json!([{"a": 1}, {"a": 2}, {"a": 3}, {"b": 4}, {"a": 5}]);
    let selector = json!({"v.$": "$$.Map.Item.Value.a"});
    let run = |fields: Value| {
        let m = machine(&inline_dmap(fields));
        driver::run(&m, json!({ "items": items }), &options(), &mut no_reader())
    };
    let plain = run(json!({ "ItemSelector": selector }));
    let batched = run(json!({
        "ItemSelector": selector,
        "ItemBatcher": {"MaxItemsPerBatch": 2}
    }));
    assert_eq!(plain.status, ExecutionStatus::Failed, "{plain:?}");
    assert_eq!(batched.status, ExecutionStatus::Failed, "{batched:?}");
    assert_eq!(batched.error.as_deref(), Some("States.Runtime"));
    assert_eq!(batched.error, plain.error);
    assert_eq!(batched.cause, plain.cause);
    assert!(
        batched
            .cause
            .as_deref()
            .unwrap_or("")
            .contains("$$.Map.Item.Value.a"),
        "{batched:?}"
    );
}

/// Not as AWS yet (docs/asl-support.md): `MaxInputBytesPerBatch` measures the items as
/// read, before ItemSelector makes them larger or smaller.
#[test]
fn the_byte_limit_measures_the_items_before_selection() {
    let m = machine(&inline_dmap(json!({
        "ItemSelector": {"padding": "a text far longer than the item itself", "v.$": "$$.Map.Item.Value"},
        "ItemBatcher": {"MaxInputBytesPerBatch": 40}
    })));
    let out = driver::run(
        &m,
        json!({"items": [1, 2, 3, 4]}),
        &options(),
        &mut no_reader(),
    );
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{out:?}");
    let batches = out.output.expect("output");
    let sizes: Vec<usize> = batches
        .as_array()
        .expect("batches")
        .iter()
        .map(|b| b["Items"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, vec![4], "{batches}");
    assert_eq!(batches[0]["Items"][3]["v"], json!(4));
}
