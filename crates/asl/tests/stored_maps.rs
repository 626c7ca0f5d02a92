//! Large inline Maps whose items, results and input the driver keeps
//! (`Limits::store_map_items_over`) behave exactly as Maps kept in the snapshot: same
//! status, output, error and history. And their snapshots stay small.

use cairn_asl::driver::{self, Outcome, RunOptions, TaskHandler};
use cairn_asl::interpreter::{
    self, Clock, Command, Event, ExecutionInfo, Limits, StoredKind, StoredValue, TaskRequest,
};
use cairn_asl::task::TaskOutcome;
use cairn_asl::timestamp::Timestamp;
use cairn_asl::validate::{validate, ValidateOptions};
use cairn_asl::StateMachine;
use serde_json::{json, Value};

fn machine(definition: &Value) -> StateMachine {
    match validate(&definition.to_string(), &ValidateOptions::default()) {
        Ok((machine, _)) => machine,
        Err(diagnostics) => panic!("invalid definition: {diagnostics:?}"),
    }
}

fn options(limits: Limits) -> RunOptions {
    RunOptions {
        info: ExecutionInfo::example("m", "e", Timestamp::from_unix_millis(1_700_000_000_000)),
        limits,
        seed: 11,
    }
}

/// Doubles `n`; fails items listed in `fail` (each once, when `once`).
struct Doubler {
    fail: Vec<i64>,
    once: bool,
    calls: usize,
}

impl Doubler {
    fn new(fail: &[i64], once: bool) -> Doubler {
        Doubler {
            fail: fail.to_vec(),
            once,
            calls: 0,
        }
    }
}

impl TaskHandler for Doubler {
    fn invoke(&mut self, task: &TaskRequest) -> TaskOutcome {
        self.calls += 1;
        let n = task.input["n"].as_i64().unwrap_or(-1);
        if let Some(at) = self.fail.iter().position(|f| *f == n) {
            if self.once {
                self.fail.remove(at);
            }
            return TaskOutcome::Failed {
                error: "Odd".to_string(),
                cause: Some(format!("item {n}")),
            };
        }
        TaskOutcome::Succeeded(json!({"n": n * 2}))
    }
}

/// Runs `definition` twice, the Map kept in the snapshot and stored past 4 items, and
/// asserts both runs agree; returns the stored run.
fn same_either_way(definition: Value, input: Value, handler: impl Fn() -> Doubler) -> Outcome {
    let (kept, stored) = both_ways(definition, input, handler);
    assert_eq!(stored.history.len(), kept.history.len());
    for (a, b) in stored.history.iter().zip(&kept.history) {
        assert_eq!(a, b);
    }
    stored
}

/// Both runs of `definition`: kept in the snapshot, and stored. Their status and
/// output agree.
fn both_ways(definition: Value, input: Value, handler: impl Fn() -> Doubler) -> (Outcome, Outcome) {
    let machine = machine(&definition);
    let kept = driver::run(
        &machine,
        input.clone(),
        &options(Limits::default()),
        &mut handler(),
    );
    let limits = Limits::default().storing_maps_over(4);
    let stored = driver::run(&machine, input, &options(limits), &mut handler());
    assert_eq!(stored.status, kept.status, "{stored:?}");
    assert_eq!(stored.output, kept.output);
    assert_eq!(stored.error, kept.error);
    assert_eq!(stored.cause, kept.cause);
    (kept, stored)
}

fn items(n: i64) -> Vec<Value> {
    (0..n).map(|i| json!({"n": i})).collect()
}

fn task_map(extra: Value) -> Value {
    let mut map = json!({"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 3,
        "ItemProcessor": {"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:double", "End": true}}},
        "End": true});
    for (k, v) in extra.as_object().expect("an object") {
        map[k] = v.clone();
    }
    json!({"StartAt": "M", "States": {"M": map}})
}

#[test]
fn results_come_back_in_order_with_item_selector_and_result_path() {
    let definition = task_map(json!({
        "ItemSelector": {"n.$": "$$.Map.Item.Value.n", "tag.$": "$.tag"},
        "ResultPath": "$.doubled"}));
    let outcome = same_either_way(definition, json!({"items": items(40), "tag": "t"}), || {
        Doubler::new(&[], false)
    });
    let doubled = outcome.output.expect("an output")["doubled"].clone();
    let expected: Vec<Value> = (0..40).map(|i| json!({"n": i * 2})).collect();
    assert_eq!(doubled, Value::Array(expected));
}

#[test]
fn tolerated_failures_keep_their_error_output_in_place() {
    let definition = task_map(json!({"ToleratedFailureCount": 10}));
    let outcome = same_either_way(definition, json!({"items": items(30)}), || {
        Doubler::new(&[7, 14, 21], false)
    });
    let output = outcome.output.expect("an output");
    assert_eq!(output[7], json!({"Error": "Odd", "Cause": "item 7"}));
    assert_eq!(output[8], json!({"n": 16}));
}

#[test]
fn a_failed_map_is_caught_with_its_input_back() {
    let mut definition = task_map(json!({
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "After"}]}));
    definition["States"]["After"] = json!({"Type": "Pass", "End": true});
    let outcome = same_either_way(definition, json!({"items": items(30), "keep": 1}), || {
        Doubler::new(&[20], false)
    });
    let output = outcome.output.expect("an output");
    assert_eq!(output["keep"], json!(1));
    assert_eq!(output["error"]["Error"], json!("Odd"));
    assert_eq!(output["items"].as_array().map(Vec::len), Some(30));
}

#[test]
fn a_retried_map_runs_again_from_its_input() {
    let definition = task_map(json!({
        "Retry": [{"ErrorEquals": ["Odd"], "IntervalSeconds": 1, "MaxAttempts": 1}]}));
    let outcome = same_either_way(definition, json!({"items": items(25)}), || {
        Doubler::new(&[12], true)
    });
    let output = outcome.output.expect("an output");
    assert_eq!(output[12], json!({"n": 24}));
    let started = outcome
        .history
        .iter()
        .filter(|e| e.event_type == "MapStateStarted")
        .count();
    assert_eq!(started, 2);
}

#[test]
fn an_item_selector_failing_past_the_first_items_fails_the_map_after_they_ran() {
    let definition = task_map(json!({
        "ItemSelector": {"n.$": "$$.Map.Item.Value.n", "x.$": "$$.Map.Item.Value.x"},
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "After"}]}));
    let mut definition = definition;
    definition["States"]["After"] = json!({"Type": "Pass", "End": true});
    let mut list: Vec<Value> = (0..30).map(|i| json!({"n": i, "x": i})).collect();
    list[25] = json!({"n": 25});
    let outcome = same_either_way(definition, json!({"items": list}), || {
        Doubler::new(&[], false)
    });
    // States.ALL does not catch States.Runtime; the cause shows the state's input.
    assert_eq!(outcome.error.as_deref(), Some("States.Runtime"));
    let cause = outcome.cause.unwrap_or_default();
    assert!(cause.contains(r#"{"n":24,"x":24}"#), "{cause}");
    let iterations = outcome
        .history
        .iter()
        .filter(|e| e.event_type == "MapIterationStarted")
        .count();
    assert_eq!(iterations, 25);
}

#[test]
fn pass_only_iterations_past_several_buffers_all_run() {
    let definition = json!({"StartAt": "M", "States": {"M": {"Type": "Map",
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
        "End": true}}});
    let input = Value::Array((0..700).map(|i| json!(i)).collect());
    let outcome = same_either_way(definition, input.clone(), || Doubler::new(&[], false));
    assert_eq!(outcome.output, Some(input));
}

#[test]
fn maps_inside_map_iterations_are_stored_on_their_own() {
    let definition = json!({"StartAt": "Outer", "States": {"Outer": {"Type": "Map",
        "MaxConcurrency": 2,
        "ItemProcessor": {"StartAt": "Inner", "States": {"Inner": {"Type": "Map",
            "MaxConcurrency": 2,
            "ItemProcessor": {"StartAt": "T", "States": {
                "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:double", "End": true}}},
            "End": true}}},
        "End": true}}});
    let input = Value::Array((0..6).map(|_| Value::Array(items(6))).collect());
    let (kept, stored) = both_ways(definition, input, || Doubler::new(&[], false));
    assert_eq!(
        stored.output.as_ref().expect("an output")[5][5],
        json!({"n": 10})
    );
    // An inner Map ends once its results are back, so its MapStateSucceeded may come
    // after events of its siblings: the same events, in another order.
    let types = |o: &Outcome| {
        let mut types: Vec<String> = o.history.iter().map(|e| e.event_type.clone()).collect();
        types.sort();
        types
    };
    assert_eq!(types(&stored), types(&kept));
}

/// Steps a stored Map by hand, as the durable driver does: what the snapshot holds
/// stays the size of the running iterations while the Map runs through its items.
#[test]
fn the_snapshot_of_a_stored_map_does_not_grow_with_its_items() {
    let definition = task_map(json!({}));
    let machine = machine(&definition);
    type Store = std::collections::BTreeMap<(u64, StoredKind, u64), StoredValue>;
    let mut store = Store::new();
    let keep = |store: &mut Store, commands: Vec<Command>, tasks: &mut Vec<u64>| {
        for command in commands {
            match command {
                Command::Store(v) => {
                    store.insert((v.map, v.kind, v.index), v);
                }
                Command::InvokeTask(t) => tasks.push(t.task),
                _ => {}
            }
        }
    };
    let clock = |s: i64| Clock {
        now: Timestamp::from_unix_millis(1_700_000_000_000 + s),
        seed: s as u64,
        entropy: [0; 32],
    };
    let input = json!({"items": items(2_000)});
    let limits = Limits::default().storing_maps_over(4);
    let info = ExecutionInfo::example("m", "e", Timestamp::from_unix_millis(1_700_000_000_000));
    let (mut snapshot, out) = interpreter::start(&machine, info, input.clone(), limits, clock(0));
    let mut tasks = Vec::new();
    keep(&mut store, out.commands, &mut tasks);
    let mut largest = 0;
    let mut tick = 1;
    while let Some(task) = tasks.pop() {
        let wanted = snapshot.wanted();
        let values = wanted
            .iter()
            .flat_map(|w| {
                let from = (w.map, StoredKind::Item, w.items_from);
                store
                    .range(from..)
                    .take(w.items as usize)
                    .map(|(_, v)| v.clone())
            })
            .collect();
        snapshot.restore(&wanted, values);
        let n = task as i64; // any output will do
        let out = interpreter::step(
            &machine,
            &mut snapshot,
            Event::TaskSucceeded {
                task,
                output: json!(n),
            },
            clock(tick),
        );
        tick += 1;
        keep(&mut store, out.commands, &mut tasks);
        if snapshot.needs_resume() {
            let wanted = snapshot.wanted();
            let values = store.values().cloned().collect();
            snapshot.restore(&wanted, values);
            let out = interpreter::step(&machine, &mut snapshot, Event::Resume, clock(tick));
            keep(&mut store, out.commands, &mut tasks);
        }
        let mut saved = snapshot.clone();
        saved.detach_input();
        largest = largest.max(serde_json::to_string(&saved).expect("serializable").len());
    }
    assert_eq!(snapshot.status, cairn_asl::ExecutionStatus::Succeeded);
    // 2,000 items of ≈ 10 bytes: the Map's data alone would be ≈ 20 KB per copy.
    assert!(largest < 8_000, "the snapshot reached {largest} bytes");
}

/// The driver hears when a stored Map's values can go: when a failing Parallel branch
/// aborts the branch the Map runs in and the Parallel catches the error. An execution
/// that ends without succeeding keeps them: a redrive resumes the Map from them.
#[test]
fn stored_values_are_released_when_the_branch_is_caught_and_kept_for_a_redrive() {
    let released = |definition: Value, input: Value, event: Option<Event>| {
        let machine = machine(&definition);
        let limits = Limits::default().storing_maps_over(4);
        let info = ExecutionInfo::example("m", "e", Timestamp::from_unix_millis(1_700_000_000_000));
        let clock = Clock {
            now: Timestamp::from_unix_millis(1_700_000_000_000),
            seed: 1,
            entropy: [0; 32],
        };
        let (mut snapshot, started) = interpreter::start(&machine, info, input, limits, clock);
        let stored: Vec<u64> = started
            .commands
            .iter()
            .filter_map(|c| match c {
                Command::Store(v) => Some(v.map),
                _ => None,
            })
            .collect();
        assert!(!stored.is_empty(), "the Map stored its values");
        let tasks: Vec<u64> = started
            .commands
            .iter()
            .filter_map(|c| match c {
                Command::InvokeTask(t) if t.state_name == "F" => Some(t.task),
                _ => None,
            })
            .collect();
        let event = event.unwrap_or_else(|| Event::TaskFailed {
            task: tasks[0],
            error: "Boom".to_string(),
            cause: None,
        });
        let out = interpreter::step(&machine, &mut snapshot, event, clock);
        let released: Vec<u64> = out
            .commands
            .iter()
            .filter_map(|c| match c {
                Command::ReleaseStored { map } => Some(*map),
                _ => None,
            })
            .collect();
        (stored[0], released)
    };
    let (_, released_maps) = released(
        task_map(json!({})),
        json!({"items": items(20)}),
        Some(Event::Stop {
            error: None,
            cause: None,
        }),
    );
    assert_eq!(released_maps, Vec::<u64>::new(), "kept for a redrive");

    let in_branch = |catch: Value| {
        json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "Next": "Done", "Catch": catch,
        "Branches": [
            task_map(json!({})),
            {"StartAt": "F", "States": {"F": {"Type": "Task",
                "Resource": "arn:aws:lambda:us-east-1:123456789012:function:fail", "End": true}}}
        ]}, "Done": {"Type": "Succeed"}}})
    };
    let (_, released_maps) = released(in_branch(json!([])), json!({"items": items(20)}), None);
    assert_eq!(released_maps, Vec::<u64>::new(), "kept for a redrive");
    let caught = in_branch(json!([{"ErrorEquals": ["States.ALL"], "Next": "Done"}]));
    let (map, released_maps) = released(caught, json!({"items": items(20)}), None);
    assert_eq!(released_maps, vec![map]);
}

/// Stored values that do not come back fail the Map with `States.Runtime` rather than
/// leave it asking for them forever.
#[test]
fn a_map_whose_stored_items_never_come_back_fails() {
    let machine = machine(&task_map(json!({})));
    let clock = Clock {
        now: Timestamp::from_unix_millis(1_700_000_000_000),
        seed: 1,
        entropy: [0; 32],
    };
    let limits = Limits::default().storing_maps_over(4);
    let info = ExecutionInfo::example("m", "e", Timestamp::from_unix_millis(1_700_000_000_000));
    let (mut snapshot, out) =
        interpreter::start(&machine, info, json!({"items": items(40)}), limits, clock);
    let mut tasks: Vec<u64> = Vec::new();
    let collect = |commands: Vec<Command>, tasks: &mut Vec<u64>| {
        for command in commands {
            if let Command::InvokeTask(t) = command {
                tasks.push(t.task);
            }
        }
    };
    collect(out.commands, &mut tasks);
    // Answer tasks, giving nothing back, until the buffer runs dry.
    while !snapshot.needs_resume() {
        let task = tasks.remove(0);
        let out = interpreter::step(
            &machine,
            &mut snapshot,
            Event::TaskSucceeded {
                task,
                output: json!(1),
            },
            clock,
        );
        collect(out.commands, &mut tasks);
    }
    let wanted = snapshot.wanted();
    assert!(wanted.iter().any(|w| w.items > 0), "{wanted:?}");
    snapshot.restore(&wanted, Vec::new());
    let out = interpreter::step(&machine, &mut snapshot, Event::Resume, clock);
    assert_eq!(snapshot.status, cairn_asl::ExecutionStatus::Failed);
    let failed = out
        .history
        .iter()
        .find(|e| e.event_type == "ExecutionFailed")
        .expect("ExecutionFailed");
    assert_eq!(failed.details.error.as_deref(), Some("States.Runtime"));
}

/// A Distributed Map reading JSONL whose iterations echo their input, with `fields`.
fn rows_map(fields: Value) -> Value {
    let mut state = json!({
        "Type": "Map", "End": true, "MaxConcurrency": 3,
        "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
                       "ReaderConfig": {"InputType": "JSONL"},
                       "Parameters": {"Bucket": "b", "Key": "k"}},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
            "StartAt": "T", "States": {"T": {"Type": "Task",
                "Resource": "arn:aws:lambda:us-east-1:123456789012:function:echo", "End": true}}}});
    for (k, v) in fields.as_object().expect("an object") {
        state[k] = v.clone();
    }
    json!({"StartAt": "M", "States": {"M": state}})
}

/// What [`run_read_as_rows`] saw.
struct RowsRun {
    /// The read task's request.
    request: cairn_asl::interpreter::ReadItemsRequest,
    /// The rows the worker's part wrote (batches, with an ItemBatcher).
    rows: Vec<Value>,
    /// The `length` of `MapStateStarted`.
    length: Option<u64>,
    finish: cairn_asl::interpreter::Finish,
    /// The largest snapshot, serialized.
    largest: usize,
    /// Stored values left once the execution ended.
    left: usize,
}

/// Runs `definition` (a Map reading its items as rows) by hand, as the durable driver
/// does: the read task is answered by writing `items` as rows, batched as the request
/// says, and every other task by echoing its input.
fn run_read_as_rows(definition: &Value, input: Value, items: Vec<Value>) -> RowsRun {
    use cairn_asl::distributed::batch::Batcher;
    use cairn_asl::interpreter::{ItemRows, ReadItemsRequest, READ_ITEMS_RESOURCE};
    let machine = machine(definition);
    type Store = std::collections::BTreeMap<(u64, StoredKind, u64), StoredValue>;
    let mut store = Store::new();
    let mut finish = None;
    let mut keep = |store: &mut Store, commands: Vec<Command>, tasks: &mut Vec<TaskRequest>| {
        for command in commands {
            match command {
                Command::Finish(f) => finish = Some(f),
                Command::Store(v) => {
                    store.insert((v.map, v.kind, v.index), v);
                }
                Command::ReleaseStored { map } => store.retain(|key, _| key.0 != map),
                Command::InvokeTask(t) => tasks.push(t),
                _ => {}
            }
        }
    };
    let clock = |s: i64| Clock {
        now: Timestamp::from_unix_millis(1_700_000_000_000 + s),
        seed: s as u64,
        entropy: [0; 32],
    };
    let limits = Limits::default().storing_maps_over(1_000_000);
    let info = ExecutionInfo::example("m", "e", Timestamp::from_unix_millis(1_700_000_000_000));
    let (mut snapshot, out) = interpreter::start(&machine, info, input, limits, clock(0));
    let mut tasks = Vec::new();
    keep(&mut store, out.commands, &mut tasks);
    let read = tasks.pop().expect("the read task");
    assert_eq!(read.resource, READ_ITEMS_RESOURCE);
    let request: ReadItemsRequest =
        serde_json::from_value(read.input.clone()).expect("a read request");
    let ItemRows { map, batching } = request.rows.clone().expect("rows asked for");
    // The worker's part: the items, batched, into rows.
    let rows: Vec<Value> = match batching {
        Some(batching) => {
            let mut batcher = Batcher::new(batching);
            let mut rows = Vec::new();
            for item in items {
                rows.extend(batcher.push(item).expect("fits"));
            }
            rows.extend(batcher.finish());
            rows
        }
        None => items,
    };
    for (index, value) in rows.iter().enumerate() {
        let kind = StoredKind::Item;
        let index = index as u64;
        let value = value.clone();
        store.insert(
            (map, kind, index),
            StoredValue {
                map,
                kind,
                index,
                value,
            },
        );
    }
    let count = json!({ "ItemCount": rows.len() });
    let out = interpreter::step(
        &machine,
        &mut snapshot,
        Event::TaskSucceeded {
            task: read.task,
            output: count,
        },
        clock(1),
    );
    let length = out
        .history
        .iter()
        .find(|e| e.event_type == "MapStateStarted")
        .and_then(|e| e.details.length);
    keep(&mut store, out.commands, &mut tasks);
    let mut largest = 0;
    let mut tick = 2;
    loop {
        if snapshot.needs_resume() {
            let wanted = snapshot.wanted();
            let values = store.values().cloned().collect();
            snapshot.restore(&wanted, values);
            let out = interpreter::step(&machine, &mut snapshot, Event::Resume, clock(tick));
            tick += 1;
            keep(&mut store, out.commands, &mut tasks);
        }
        let saved = serde_json::to_string(&snapshot).expect("serializable");
        largest = largest.max(saved.len());
        let Some(task) = tasks.pop() else { break };
        let out = interpreter::step(
            &machine,
            &mut snapshot,
            Event::TaskSucceeded {
                task: task.task,
                output: task.input,
            },
            clock(tick),
        );
        tick += 1;
        keep(&mut store, out.commands, &mut tasks);
    }
    RowsRun {
        request,
        rows,
        length,
        finish: finish.expect("the execution ended"),
        largest,
        left: store.len(),
    }
}

/// A Distributed Map whose reader writes its items as rows (module `item_source`): the
/// read task is asked for rows, with the evaluated ItemBatcher, and answers only the
/// count; the Map then pulls its batches as a stored Map, so the snapshot never holds
/// more than the running iterations and a buffer, whatever the number of items.
#[test]
fn items_read_as_rows_stay_out_of_the_task_output_and_the_snapshot() {
    let definition = rows_map(json!({
        "ItemBatcher": {"MaxItemsPerBatch": 2, "BatchInput": {"from.$": "$.from"}}}));
    let items: Vec<Value> = (0..2_000)
        .map(|n| json!({"n": n, "marker": "xyzzy"}))
        .collect();
    let run = run_read_as_rows(&definition, json!({"from": "here"}), items);
    let batching = run.request.rows.and_then(|r| r.batching);
    assert_eq!(
        batching.expect("the batcher, evaluated").batch_input,
        Some(json!({"from": "here"}))
    );
    assert_eq!(run.length, Some(1_000));
    assert_eq!(run.finish.status, cairn_asl::ExecutionStatus::Succeeded);
    assert_eq!(run.finish.output, Some(Value::Array(run.rows)));
    // 2,000 items of ≈ 30 bytes: the Map's items alone would be ≈ 60 KB.
    assert!(
        run.largest < 20_000,
        "the snapshot reached {} bytes",
        run.largest
    );
    assert_eq!(run.left, 0, "the Map's rows are released once it ends");
}

/// Rows written as batches of raw items: each item of a batch is selected as its
/// iteration starts, with its own index in the whole file, however many buffers the
/// batches come through.
#[test]
fn items_read_as_rows_are_selected_in_their_batches() {
    let definition = rows_map(json!({
        "ItemSelector": {"i.$": "$$.Map.Item.Index", "n.$": "$$.Map.Item.Value.n"},
        "ItemBatcher": {"MaxItemsPerBatch": 3, "BatchInput": {"from.$": "$.from"}}}));
    let items: Vec<Value> = (0..1_000)
        .map(|n| json!({"n": n * 2, "marker": "xyzzy"}))
        .collect();
    let run = run_read_as_rows(&definition, json!({"from": "here"}), items);
    assert_eq!(run.length, Some(334));
    assert_eq!(run.finish.status, cairn_asl::ExecutionStatus::Succeeded);
    let output = run.finish.output.expect("an output");
    let batches = output.as_array().expect("an array");
    assert_eq!(batches.len(), 334);
    assert_eq!(
        batches[1],
        json!({"BatchInput": {"from": "here"},
               "Items": [{"i": 3, "n": 6}, {"i": 4, "n": 8}, {"i": 5, "n": 10}]})
    );
    assert_eq!(
        batches[333],
        json!({"BatchInput": {"from": "here"}, "Items": [{"i": 999, "n": 1998}]})
    );
    let selected: Vec<Value> = batches
        .iter()
        .flat_map(|b| b["Items"].as_array().cloned().unwrap_or_default())
        .collect();
    let expected: Vec<Value> = (0..1_000).map(|i| json!({"i": i, "n": i * 2})).collect();
    assert_eq!(selected, expected);
    assert_eq!(run.left, 0);
}

/// The selector failing on an item deep in the rows fails the Map with the cause it
/// gives without a batcher, the state's input back in it though the stored Map left
/// the input out of its snapshot.
#[test]
fn a_selector_failing_on_a_row_batch_fails_the_map_with_its_cause() {
    let mut items: Vec<Value> = (0..200).map(|n| json!({"n": n})).collect();
    items[150] = json!({"m": 150});
    let selector = json!({"n.$": "$$.Map.Item.Value.n"});
    let batched = run_read_as_rows(
        &rows_map(json!({"ItemSelector": selector, "ItemBatcher": {"MaxItemsPerBatch": 4}})),
        json!({"keep": "me"}),
        items.clone(),
    );
    let plain = run_read_as_rows(
        &rows_map(json!({ "ItemSelector": selector })),
        json!({"keep": "me"}),
        items,
    );
    assert_eq!(batched.finish.status, cairn_asl::ExecutionStatus::Failed);
    assert_eq!(batched.finish.error.as_deref(), Some("States.Runtime"));
    assert_eq!(batched.finish.error, plain.finish.error);
    assert_eq!(batched.finish.cause, plain.finish.cause);
    let cause = batched.finish.cause.unwrap_or_default();
    assert!(cause.contains("$$.Map.Item.Value.n"), "{cause}");
    assert!(cause.contains(r#"in the input '{"keep":"me"}'"#), "{cause}");
}

/// A Map of Pass iterations that answer their item's `pad` twice (`doubling`) or their
/// item.
fn padded_pass_map(doubling: bool, extra: Value) -> Value {
    let mut pass = json!({"Type": "Pass", "End": true});
    if doubling {
        pass["Parameters"] = json!({"a.$": "$.pad", "b.$": "$.pad"});
    }
    let mut map = json!({"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 5,
        "ItemProcessor": {"StartAt": "P", "States": {"P": pass}},
        "End": true});
    for (k, v) in extra.as_object().expect("an object") {
        map[k] = v.clone();
    }
    json!({"StartAt": "M", "States": {"M": map}})
}

fn padded_items(n: usize, pad: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"i": i, "pad": "x".repeat(pad)}))
        .collect()
}

#[test]
fn a_stored_map_whose_results_exceed_the_payload_limit_fails_as_a_kept_one_does() {
    let mut definition = padded_pass_map(
        true,
        json!({
        "Catch": [{"ErrorEquals": ["States.DataLimitExceeded"], "ResultPath": "$.error",
                   "Next": "After"}]}),
    );
    definition["States"]["After"] = json!({"Type": "Pass", "OutputPath": "$.error", "End": true});
    // 40 results of about 10 KB: about 400 KB, over 256 KiB; the input (200 KB) is not.
    let input = json!({"items": padded_items(40, 5_000), "keep": 1});
    let outcome = same_either_way(definition, input, || Doubler::new(&[], false));
    let error = outcome.output.expect("an output");
    assert_eq!(error["Error"], json!("States.DataLimitExceeded"));
}

#[test]
fn results_just_under_the_payload_limit_still_come_back() {
    // 50 results of 5,000 bytes of padding: under 256 KiB with their keys and commas.
    let outcome = same_either_way(
        padded_pass_map(false, json!({})),
        json!({"items": padded_items(50, 5_000)}),
        || Doubler::new(&[], false),
    );
    assert_eq!(
        outcome.output.expect("an output").as_array().map(Vec::len),
        Some(50)
    );
}

#[test]
fn a_result_selector_is_applied_before_the_limit_is_checked() {
    let definition = padded_pass_map(
        true,
        json!({"ResultSelector": {"count.$": "States.ArrayLength($)"}}),
    );
    let outcome = same_either_way(
        definition,
        json!({"items": padded_items(40, 5_000)}),
        || Doubler::new(&[], false),
    );
    assert_eq!(outcome.output, Some(json!({"count": 40})));
}

/// The results over the limit are never loaded: the step after the last iteration asks
/// for the input only, and the Map fails with States.DataLimitExceeded.
#[test]
fn results_over_the_limit_are_not_loaded() {
    let machine = machine(&padded_pass_map(true, json!({})));
    let clock = Clock {
        now: Timestamp::from_unix_millis(1_700_000_000_000),
        seed: 1,
        entropy: [0; 32],
    };
    let limits = Limits::default().storing_maps_over(4);
    let info = ExecutionInfo::example("m", "e", Timestamp::from_unix_millis(1_700_000_000_000));
    let input = json!({"items": padded_items(40, 5_000)});
    let (mut snapshot, out) = interpreter::start(&machine, info, input, limits, clock);
    let mut stored: Vec<StoredValue> = Vec::new();
    let keep = |commands: Vec<Command>, stored: &mut Vec<StoredValue>| {
        for command in commands {
            if let Command::Store(value) = command {
                stored.push(value);
            }
        }
    };
    keep(out.commands, &mut stored);
    let mut asked_for_input = 0;
    let mut steps = 0;
    let mut history = Vec::new();
    while snapshot.needs_resume() && steps < 100 {
        steps += 1;
        let wanted = snapshot.wanted();
        let mut values = Vec::new();
        for want in &wanted {
            if want.results_and_input {
                asked_for_input += 1;
                assert!(want.input_only, "{want:?}");
            }
            let items = want.items_from..want.items_from + want.items;
            values.extend(
                stored
                    .iter()
                    .filter(|v| {
                        v.map == want.map
                            && match v.kind {
                                StoredKind::Item => items.contains(&v.index),
                                StoredKind::Input => want.results_and_input,
                                StoredKind::Result => want.results_and_input && !want.input_only,
                            }
                    })
                    .cloned(),
            );
        }
        snapshot.restore(&wanted, values);
        let out = interpreter::step(&machine, &mut snapshot, Event::Resume, clock);
        history.extend(out.history);
        keep(out.commands, &mut stored);
    }
    assert_eq!(asked_for_input, 1);
    assert!(
        stored
            .iter()
            .filter(|v| v.kind == StoredKind::Result)
            .count()
            == 40
    );
    assert_eq!(snapshot.status, cairn_asl::ExecutionStatus::Failed);
    let failed = history
        .iter()
        .find(|e| e.event_type == "ExecutionFailed")
        .expect("ExecutionFailed");
    assert_eq!(
        failed.details.error.as_deref(),
        Some("States.DataLimitExceeded")
    );
}
