//! An EXPRESS Distributed Map's iterations run as frames of the parent, but to the
//! definition each is the Express child execution AWS would run: inside it `$$.Execution`
//! and `$$.StateMachine` are the child's, the parent's variables are out of reach, and
//! the parent's own context is back after the Map (and in every stored snapshot).

mod pure_run;

use cairn_asl::distributed::map_run::{child_name, MapRunArn};
use cairn_asl::distributed::results::WriteResultsRequest;
use cairn_asl::driver::{self, NoTasks, Outcome, TaskHandler};
use cairn_asl::interpreter::{self, Clock, Command, Event, Snapshot, TaskRequest};
use cairn_asl::status::ExecutionStatus;
use cairn_asl::task::TaskOutcome;
use cairn_asl::timestamp::Timestamp;
use pure_run::{machine, options};
use serde_json::{json, Value};

const PARENT: &str = "arn:aws:states:us-east-1:123456789012:execution:m:e";
const ROLE: &str = "arn:aws:iam::123456789012:role/cairn";
const START: &str = "2023-11-14T22:13:20.000Z";

/// A Distributed Map labelled `lbl` whose iterations run `processor`, between a state
/// that assigns `$outer` and one that shows the parent's context.
fn around(mode: &str, execution_type: Option<&str>, processor: Value) -> Value {
    let mut config = json!({"Mode": mode});
    if let Some(kind) = execution_type {
        config["ExecutionType"] = json!(kind);
    }
    let mut item_processor = processor;
    item_processor["ProcessorConfig"] = config;
    let mut map = json!({
        "Type": "Map", "Next": "After", "ItemsPath": "$.items",
        "ItemSelector": {"n.$": "$$.Map.Item.Value", "o.$": "$outer"},
        "ItemProcessor": item_processor,
    });
    if mode == "DISTRIBUTED" {
        map["Label"] = json!("lbl");
    }
    json!({"StartAt": "Before", "States": {
        "Before": {"Type": "Pass", "Assign": {"outer": "from the parent"}, "Next": "M"},
        "M": map,
        "After": {"Type": "Pass", "End": true, "Parameters": {
            "results.$": "$", "execution.$": "$$.Execution", "machine.$": "$$.StateMachine",
            "outer.$": "$outer"}}
    }})
}

fn show_context() -> Value {
    json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true, "Parameters": {
        "execution.$": "$$.Execution", "machine.$": "$$.StateMachine",
        "id.$": "$$.Execution.Id", "item.$": "$.n"}}}})
}

fn map_run_arn(outcome: &Outcome) -> String {
    outcome
        .history
        .iter()
        .find_map(|event| event.details.map_run_arn.clone())
        .expect("a MapRunStarted with its ARN")
}

/// The child AWS would run for item `index` of the run: its name and ARN.
fn child(map_run: &str, index: u64) -> (String, String) {
    let name = child_name(map_run, index);
    let arn = MapRunArn::parse(map_run)
        .expect("a Map Run ARN")
        .express_child_execution_arn(&name);
    (name, arn)
}

fn assert_parent_context(output: &Value) {
    assert_eq!(
        output["execution"],
        json!({"Id": PARENT, "Input": {"items": [10, 20]}, "StartTime": START,
               "Name": "e", "RoleArn": ROLE, "RedriveCount": 0})
    );
    assert_eq!(
        output["machine"],
        json!({"Id": "arn:aws:states:us-east-1:123456789012:stateMachine:m", "Name": "m"})
    );
}

#[test]
fn an_express_iteration_sees_its_own_child_execution_and_the_parent_its_own_after() {
    let m = machine(&around("DISTRIBUTED", Some("EXPRESS"), show_context()));
    let out = driver::run(&m, json!({"items": [10, 20]}), &options(), &mut NoTasks);
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{out:?}");
    let map_run = map_run_arn(&out);
    let output = out.output.expect("output");
    for (index, item) in [(0u64, 10), (1, 20)] {
        let result = &output["results"][index as usize];
        let (name, arn) = child(&map_run, index);
        assert!(
            arn.starts_with("arn:aws:states:us-east-1:123456789012:express:m/lbl:"),
            "{arn}"
        );
        assert_eq!(
            result["execution"],
            json!({"Id": arn, "Input": {"n": item, "o": "from the parent"},
                   "StartTime": START, "Name": name, "RoleArn": ROLE}),
            "an Express child shows no RedriveCount"
        );
        assert_eq!(
            result["machine"],
            json!({"Id": "arn:aws:states:us-east-1:123456789012:stateMachine:m/lbl",
                   "Name": "m/lbl"})
        );
        assert_eq!(result["item"], item);
    }
    assert_ne!(output["results"][0]["id"], output["results"][1]["id"]);
    assert_parent_context(&output);
    assert_eq!(output["outer"], "from the parent");
}

#[test]
fn the_child_context_holds_in_nested_frames_and_in_jsonata() {
    let processor = json!({"StartAt": "Par", "States": {"Par": {
    "Type": "Parallel", "End": true,
    "Branches": [
        {"StartAt": "J", "States": {"J": {"Type": "Pass", "QueryLanguage": "JSONata",
            "Output": "{% {'id': $states.context.Execution.Id, 'name': $states.context.StateMachine.Name} %}",
            "End": true}}},
        {"StartAt": "I", "States": {"I": {
            "Type": "Map", "ItemsPath": "$.pair", "End": true,
            "ItemProcessor": {"StartAt": "Q", "States": {"Q": {"Type": "Pass",
                "Parameters": {"id.$": "$$.Execution.Id", "input.$": "$$.Execution.Input"},
                "End": true}}}}}}
    ]}}});
    let mut definition = around("DISTRIBUTED", Some("EXPRESS"), processor);
    definition["States"]["M"]["ItemSelector"] = json!({"pair.$": "States.Array(1, 2)"});
    let m = machine(&definition);
    let out = driver::run(&m, json!({"items": [10, 20]}), &options(), &mut NoTasks);
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{out:?}");
    let map_run = map_run_arn(&out);
    let output = out.output.expect("output");
    for index in 0..2u64 {
        let (_, arn) = child(&map_run, index);
        let branches = &output["results"][index as usize];
        assert_eq!(branches[0], json!({"id": arn, "name": "m/lbl"}));
        let inner = branches[1].as_array().expect("the inline Map's results");
        assert_eq!(inner.len(), 2);
        for result in inner {
            assert_eq!(result, &json!({"id": arn, "input": {"pair": [1, 2]}}));
        }
    }
    assert_parent_context(&output);
}

#[test]
fn the_stored_snapshot_keeps_the_parents_context_while_an_iteration_waits() {
    let processor = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f",
              "Parameters": {"id.$": "$$.Execution.Id"}, "Next": "P"},
        "P": {"Type": "Pass", "End": true,
              "Parameters": {"task.$": "$", "name.$": "$$.Execution.Name"}}}});
    let m = machine(&around("DISTRIBUTED", Some("EXPRESS"), processor));
    let clock = |n: i64| Clock {
        now: Timestamp::from_unix_millis(1_700_000_000_000 + n),
        seed: n as u64,
        entropy: [2; 32],
    };
    let info = options().info;
    let input = json!({"items": [10, 20]});
    let (snapshot, output) = interpreter::start(&m, info, input, options().limits, clock(0));
    let map_run = output
        .history
        .iter()
        .find_map(|event| event.details.map_run_arn.clone())
        .expect("a Map Run");
    let requests: Vec<TaskRequest> = output
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::InvokeTask(request) => Some(request.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(requests.len(), 2);
    for (index, request) in requests.iter().enumerate() {
        assert_eq!(
            request.input,
            json!({"id": child(&map_run, index as u64).1})
        );
    }
    // Stored and read back as a durable driver does: the parent's context, and each
    // iteration still its child's.
    let stored = serde_json::to_value(&snapshot).expect("serializable");
    assert_eq!(stored["context"]["Execution"]["Id"], PARENT);
    assert_eq!(stored["context"]["StateMachine"]["Name"], "m");
    let frames = stored["frames"].as_object().expect("frames");
    let with_child = frames.values().filter(|f| f.get("child").is_some()).count();
    assert_eq!(
        with_child, 2,
        "only the iterations' frames carry a child: {frames:?}"
    );
    // A snapshot stored before frames had children still reads.
    let mut older = stored.clone();
    for frame in older["frames"]
        .as_object_mut()
        .expect("frames")
        .values_mut()
    {
        frame.as_object_mut().expect("a frame").remove("child");
    }
    serde_json::from_value::<Snapshot>(older).expect("an older snapshot reads");
    let mut snapshot: Snapshot = serde_json::from_value(stored).expect("deserializable");
    let mut finished = None;
    for (n, request) in requests.iter().enumerate() {
        let task = request.task;
        let outcome = TaskOutcome::Succeeded(json!({"done": n}));
        for event in [Event::TaskStarted { task }, outcome.into_event(task)] {
            let out = interpreter::step(&m, &mut snapshot, event, clock(10 + n as i64));
            finished = finished.or(out.commands.into_iter().find_map(|c| match c {
                Command::Finish(f) => Some(f),
                _ => None,
            }));
        }
    }
    let finish = finished.expect("the execution ended");
    assert_eq!(finish.status, ExecutionStatus::Succeeded, "{finish:?}");
    let output = finish.output.expect("output");
    for index in 0..2 {
        assert_eq!(
            output["results"][index],
            json!({"task": {"done": index}, "name": child_name(&map_run, index as u64)})
        );
    }
    assert_parent_context(&output);
}

#[test]
fn an_express_iteration_cannot_read_the_parents_variables() {
    let processor = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true,
        "Parameters": {"v.$": "$outer"}}}});
    let m = machine(&around("DISTRIBUTED", Some("EXPRESS"), processor));
    let out = driver::run(&m, json!({"items": [10]}), &options(), &mut NoTasks);
    assert_eq!(out.status, ExecutionStatus::Failed, "{out:?}");
    assert_eq!(out.error.as_deref(), Some("States.Runtime"));
    let cause = out.cause.expect("a cause");
    assert!(cause.contains("'$outer'"), "{cause}");
}

#[test]
fn nested_frames_read_the_iterations_variables_but_not_the_parents() {
    let branch = |name: &str, reference: &str| {
        json!({"StartAt": name, "States": {name: {"Type": "Pass", "End": true,
            "Parameters": {"v.$": reference}}}})
    };
    let reads_own = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"mine.$": "$.n"}, "Next": "Par"},
        "Par": {"Type": "Parallel", "End": true, "Branches": [branch("R", "$mine")]}}});
    let m = machine(&around("DISTRIBUTED", Some("EXPRESS"), reads_own));
    let out = driver::run(&m, json!({"items": [10]}), &options(), &mut NoTasks);
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{out:?}");
    assert_eq!(out.output.expect("output")["results"], json!([[{"v": 10}]]));

    let reads_outer = json!({"StartAt": "Par", "States": {"Par": {"Type": "Parallel",
        "End": true, "Branches": [branch("R", "$outer")]}}});
    let m = machine(&around("DISTRIBUTED", Some("EXPRESS"), reads_outer));
    let out = driver::run(&m, json!({"items": [10]}), &options(), &mut NoTasks);
    assert_eq!(out.status, ExecutionStatus::Failed, "{out:?}");
    assert_eq!(out.error.as_deref(), Some("States.Runtime"));
}

#[test]
fn an_inline_iteration_still_reads_outer_variables_and_the_parents_context() {
    let processor = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true,
        "Parameters": {"v.$": "$outer", "id.$": "$$.Execution.Id"}}}});
    let m = machine(&around("INLINE", None, processor));
    let out = driver::run(&m, json!({"items": [10, 20]}), &options(), &mut NoTasks);
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{out:?}");
    let output = out.output.expect("output");
    assert_eq!(
        output["results"],
        json!([{"v": "from the parent", "id": PARENT}, {"v": "from the parent", "id": PARENT}])
    );
    assert_parent_context(&output);
}

/// Answers a ResultWriter's task with its request's records as the output.
struct Records;

impl TaskHandler for Records {
    fn invoke(&mut self, task: &TaskRequest) -> TaskOutcome {
        let request: WriteResultsRequest =
            serde_json::from_value(task.input.clone()).expect("a request");
        let records: Vec<Value> = request
            .results
            .iter()
            .map(|r| r.records(request.transformation)[0].clone())
            .collect();
        TaskOutcome::Succeeded(Value::Array(records))
    }
}

#[test]
fn an_express_iterations_result_record_names_its_child() {
    let mut definition = around("DISTRIBUTED", Some("EXPRESS"), show_context());
    definition["States"]["M"]["ResultWriter"] = json!({
        "Resource": "arn:aws:states:::s3:putObject",
        "Parameters": {"Bucket": "out", "Prefix": "runs"}});
    let m = machine(&definition);
    let out = driver::run(&m, json!({"items": [10, 20]}), &options(), &mut Records);
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{out:?}");
    let map_run = map_run_arn(&out);
    let records = out.output.expect("output")["results"].clone();
    for index in 0..2u64 {
        let (name, arn) = child(&map_run, index);
        let record = &records[index as usize];
        assert_eq!(record["Name"], json!(name));
        assert_eq!(record["ExecutionArn"], json!(arn));
        let output: Value =
            serde_json::from_str(record["Output"].as_str().expect("text")).expect("JSON");
        assert_eq!(
            output["id"],
            json!(arn),
            "the record names the child $$ showed"
        );
    }
}
