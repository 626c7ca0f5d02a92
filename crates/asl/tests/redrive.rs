//! Redrive (`Event::Redrive`): an execution that failed, timed out or was aborted runs
//! again from the states that did not succeed, as AWS's RedriveExecution does. Driven
//! through `start`/`step` as a durable driver drives them: the snapshot goes through
//! JSON (input detached) after every step, tasks and timers are carried out in order on
//! a virtual clock, and a large Map's stored values are kept and given back.

use std::collections::{BTreeMap, VecDeque};

use cairn_asl::history::HistoryEvent;
use cairn_asl::interpreter::{
    self, Clock, Command, Event, ExecutionInfo, Limits, Snapshot, StoredKind, TaskRequest,
};
use cairn_asl::timestamp::Timestamp;
use cairn_asl::validate::{validate, ValidateOptions};
use cairn_asl::{ExecutionStatus, StateMachine};
use serde_json::{json, Value};

const START: i64 = 1_700_000_000_000;

/// How a test answers a task: its output, or an error name.
type Answer = Result<Value, &'static str>;

/// One execution as a durable driver keeps it.
struct World {
    machine: StateMachine,
    input: Value,
    snapshot: String,
    history: Vec<HistoryEvent>,
    tasks: VecDeque<TaskRequest>,
    timers: BTreeMap<u64, Timestamp>,
    stored: BTreeMap<(u64, StoredKind, u64), Value>,
    now: Timestamp,
    /// Every task invoked: state name and input.
    calls: Vec<(String, Value)>,
}

impl World {
    fn start(definition: Value, input: Value, limits: Limits) -> World {
        let machine = match validate(&definition.to_string(), &ValidateOptions::default()) {
            Ok((machine, _)) => machine,
            Err(diagnostics) => panic!("invalid definition: {diagnostics:?}"),
        };
        let now = Timestamp::from_unix_millis(START);
        let info = ExecutionInfo::example("m", "e", now);
        let (snapshot, out) = interpreter::start(&machine, info, input.clone(), limits, clock(now));
        let mut world = World {
            machine,
            input,
            snapshot: String::new(),
            history: Vec::new(),
            tasks: VecDeque::new(),
            timers: BTreeMap::new(),
            stored: BTreeMap::new(),
            now,
            calls: Vec::new(),
        };
        world.keep(snapshot, out);
        world
    }

    fn snapshot(&self) -> Snapshot {
        let mut snapshot: Snapshot = serde_json::from_str(&self.snapshot).expect("a snapshot");
        snapshot.attach_input(self.input.clone());
        let wanted = snapshot.wanted();
        let values = self
            .stored
            .iter()
            .map(|((map, kind, index), value)| interpreter::StoredValue {
                map: *map,
                kind: *kind,
                index: *index,
                value: value.clone(),
            })
            .collect();
        snapshot.restore(&wanted, values);
        snapshot
    }

    fn status(&self) -> ExecutionStatus {
        self.snapshot().status
    }

    fn step(&mut self, event: Event) {
        let mut snapshot = self.snapshot();
        let out = interpreter::step(&self.machine, &mut snapshot, event, clock(self.now));
        self.keep(snapshot, out);
    }

    /// Carries out a step's commands and keeps the snapshot as a durable driver does.
    fn keep(&mut self, mut snapshot: Snapshot, out: interpreter::Output) {
        self.history.extend(out.history);
        for command in out.commands {
            match command {
                Command::InvokeTask(task) => self.tasks.push_back(task),
                Command::CancelTask { task } => self.tasks.retain(|t| t.task != task),
                Command::StartTimer { timer, due } => {
                    self.timers.insert(timer, due);
                }
                Command::CancelTimer { timer } => {
                    self.timers.remove(&timer);
                }
                Command::Store(value) => {
                    self.stored
                        .insert((value.map, value.kind, value.index), value.value);
                }
                Command::ReleaseStored { map } => self.stored.retain(|(m, ..), _| *m != map),
                Command::Finish(_)
                | Command::MapRun(_)
                | Command::StartMapChild(_)
                | Command::RedriveMapChild(_) => {}
            }
        }
        let resume = snapshot.needs_resume();
        snapshot.detach_input();
        self.snapshot = serde_json::to_string(&snapshot).expect("serializable");
        if resume {
            self.step(Event::Resume);
        }
    }

    /// Answers tasks (first asked, first answered) and fires timers until the
    /// execution blocks on nothing.
    fn run(&mut self, mut answer: impl FnMut(&str, &Value) -> Answer) {
        loop {
            if let Some(task) = self.tasks.pop_front() {
                self.calls
                    .push((task.state_name.clone(), task.input.clone()));
                let event = match answer(&task.state_name, &task.input) {
                    Ok(output) => Event::TaskSucceeded {
                        task: task.task,
                        output,
                    },
                    Err(error) => Event::TaskFailed {
                        task: task.task,
                        error: error.to_string(),
                        cause: Some(format!("{} said no", task.state_name)),
                    },
                };
                self.step(event);
            } else if let Some((&timer, &due)) = self.timers.iter().min_by_key(|(_, due)| **due) {
                self.timers.remove(&timer);
                self.now = self.now.max(due);
                self.step(Event::TimerFired { timer });
            } else {
                return;
            }
        }
    }

    fn redrive(&mut self) {
        self.now = self.now.plus_seconds(60.0);
        self.step(Event::Redrive);
    }

    fn calls_to(&self, state: &str) -> usize {
        self.calls.iter().filter(|(name, _)| name == state).count()
    }

    fn event_types(&self) -> Vec<&str> {
        self.history.iter().map(|e| e.event_type.as_str()).collect()
    }

    fn output(&self) -> Value {
        let finished = self.history.last().expect("history");
        assert_eq!(
            finished.event_type,
            "ExecutionSucceeded",
            "{:?}",
            self.event_types()
        );
        serde_json::from_str(finished.details.output.as_deref().expect("an output"))
            .expect("JSON output")
    }
}

fn clock(now: Timestamp) -> Clock {
    Clock {
        now,
        seed: 3,
        entropy: [7; 32],
    }
}

fn task(name: &str, next: Option<&str>) -> Value {
    let mut state = json!({"Type": "Task",
        "Resource": format!("arn:aws:lambda:us-east-1:123456789012:function:{name}")});
    match next {
        Some(next) => state["Next"] = json!(next),
        None => state["End"] = json!(true),
    }
    state
}

#[test]
fn a_failed_task_runs_again_and_the_states_before_it_do_not() {
    let definition = json!({"StartAt": "Prepare", "States": {
        "Prepare": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:prepare",
            "ResultPath": "$.prepared", "Next": "Charge"},
        "Charge": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:charge",
            "ResultPath": "$.charged", "Next": "Report"},
        "Report": {"Type": "Pass", "Parameters": {
            "charged.$": "$.charged", "prepared.$": "$.prepared",
            "redrives.$": "$$.Execution.RedriveCount"}, "End": true}}});
    let mut world = World::start(definition, json!({"order": 7}), Limits::default());
    let mut charge_works = false;
    world.run(|state, _| match state {
        "Charge" if !charge_works => Err("CardDeclined"),
        _ => Ok(json!(state)),
    });
    assert_eq!(world.status(), ExecutionStatus::Failed);
    let failed_at = world.history.len();

    charge_works = true;
    world.redrive();
    world.run(|state, _| match state {
        "Charge" if !charge_works => Err("CardDeclined"),
        _ => Ok(json!(state)),
    });
    assert_eq!(world.status(), ExecutionStatus::Succeeded);
    assert_eq!(
        world.calls_to("Prepare"),
        1,
        "a state that succeeded is not run again"
    );
    assert_eq!(world.calls_to("Charge"), 2);
    assert_eq!(
        world.output(),
        json!({"charged": "Charge", "prepared": "Prepare", "redrives": 1})
    );
    // The redrive's events follow the first attempt's, ids dense.
    let redriven = &world.history[failed_at];
    assert_eq!(redriven.event_type, "ExecutionRedriven");
    assert_eq!(redriven.details.redrive_count, Some(1));
    assert_eq!(
        &world.event_types()[failed_at..failed_at + 3],
        [
            "ExecutionRedriven",
            "TaskStateEntered",
            "LambdaFunctionScheduled"
        ]
    );
    assert_eq!(world.history[failed_at + 1].previous_event_id, redriven.id);
    for (i, event) in world.history.iter().enumerate() {
        assert_eq!(event.id, i as u64 + 1);
    }
    // The Task is entered again with the input it had.
    let entered = &world.history[failed_at + 1];
    let input: Value =
        serde_json::from_str(entered.details.input.as_deref().expect("input")).expect("JSON input");
    assert_eq!(input, json!({"order": 7, "prepared": "Prepare"}));
}

#[test]
fn retries_start_over_and_variables_are_kept() {
    let definition = json!({"StartAt": "Remember", "States": {
        "Remember": {"Type": "Pass", "Assign": {"who": "first"}, "Next": "Flaky"},
        "Flaky": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:flaky",
            "Retry": [{"ErrorEquals": ["Busy"], "MaxAttempts": 2, "IntervalSeconds": 1}],
            "Next": "Show"},
        "Show": {"Type": "Pass", "Parameters": {"who.$": "$who", "got.$": "$"}, "End": true}}});
    let mut world = World::start(definition, json!({}), Limits::default());
    world.run(|_, _| Err("Busy"));
    assert_eq!(world.status(), ExecutionStatus::Failed);
    assert_eq!(world.calls_to("Flaky"), 3, "the first try and two retries");

    world.redrive();
    let mut answers = 0;
    world.run(|_, _| {
        answers += 1;
        if answers < 3 {
            Err("Busy")
        } else {
            Ok(json!("done"))
        }
    });
    assert_eq!(world.status(), ExecutionStatus::Succeeded);
    assert_eq!(
        world.calls_to("Flaky"),
        6,
        "two retries again after the redrive"
    );
    assert_eq!(world.output(), json!({"who": "first", "got": "done"}));
}

#[test]
fn a_parallel_runs_again_only_the_branch_that_failed() {
    let definition = json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true,
        "Branches": [
            {"StartAt": "A", "States": {"A": task("a", None)}},
            {"StartAt": "B", "States": {"B": task("b", None)}}]}}});
    let mut world = World::start(definition, json!({"x": 1}), Limits::default());
    world.run(|state, _| {
        if state == "B" {
            Err("Broken")
        } else {
            Ok(json!("a-result"))
        }
    });
    assert_eq!(world.status(), ExecutionStatus::Failed);
    let first = world.history.len();

    world.redrive();
    world.run(|state, _| Ok(json!(format!("{}-result", state.to_lowercase()))));
    assert_eq!(world.status(), ExecutionStatus::Succeeded);
    assert_eq!(world.calls_to("A"), 1);
    assert_eq!(world.calls_to("B"), 2);
    assert_eq!(world.output(), json!(["a-result", "b-result"]));
    let after: Vec<&str> = world.event_types()[first..].to_vec();
    assert!(!after.contains(&"ParallelStateEntered"), "{after:?}");
    assert!(after.contains(&"ParallelStateSucceeded"), "{after:?}");
}

#[test]
fn an_aborted_branch_runs_again_too() {
    // B fails while A still waits in its Wait state: A is aborted, and both run again.
    let definition = json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true,
        "Branches": [
            {"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 30, "Next": "A"},
                "A": task("a", None)}},
            {"StartAt": "B", "States": {"B": task("b", None)}}]}}});
    let mut world = World::start(definition, json!({}), Limits::default());
    world.run(|state, _| {
        if state == "B" {
            Err("Broken")
        } else {
            Ok(json!(state))
        }
    });
    assert_eq!(world.status(), ExecutionStatus::Failed);
    assert_eq!(world.calls_to("A"), 0);
    assert!(world.timers.is_empty(), "the Wait's timer was cancelled");

    world.redrive();
    world.run(|state, _| Ok(json!(state)));
    assert_eq!(world.status(), ExecutionStatus::Succeeded);
    assert_eq!(world.output(), json!(["A", "B"]));
    assert_eq!(world.calls_to("B"), 2);
}

fn map_of(tolerated: Option<u64>) -> Value {
    let mut map = json!({"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 1,
        "ItemProcessor": {"StartAt": "Work", "States": {"Work": task("work", None)}},
        "End": true});
    if let Some(count) = tolerated {
        map["ToleratedFailureCount"] = json!(count);
    }
    json!({"StartAt": "M", "States": {"M": map}})
}

fn item_calls(world: &World) -> Vec<i64> {
    world
        .calls
        .iter()
        .filter_map(|(_, input)| input.as_i64())
        .collect()
}

#[test]
fn a_map_runs_again_the_iterations_that_failed_and_those_not_started() {
    let mut world = World::start(
        map_of(None),
        json!({"items": [0, 1, 2, 3]}),
        Limits::default(),
    );
    world.run(|_, item| {
        if item == &json!(1) {
            Err("Bad")
        } else {
            Ok(json!(item.as_i64().unwrap_or(0) * 10))
        }
    });
    assert_eq!(world.status(), ExecutionStatus::Failed);
    assert_eq!(item_calls(&world), [0, 1]);
    let first = world.history.len();

    world.redrive();
    world.run(|_, item| Ok(json!(item.as_i64().unwrap_or(0) * 10)));
    assert_eq!(world.status(), ExecutionStatus::Succeeded);
    assert_eq!(
        item_calls(&world),
        [0, 1, 1, 2, 3],
        "item 0 is not run again"
    );
    assert_eq!(world.output(), json!([0, 10, 20, 30]));
    let restarted: Vec<&HistoryEvent> = world.history[first..]
        .iter()
        .filter(|e| e.event_type == "MapIterationStarted")
        .collect();
    assert_eq!(restarted[0].details.index, Some(1));
}

#[test]
fn tolerated_failures_run_again_when_the_map_failed() {
    let items = json!({"items": [0, 1, 2, 3, 4]});
    let mut world = World::start(map_of(Some(1)), items, Limits::default());
    let fails = |item: &Value| item == &json!(1) || item == &json!(3);
    world.run(|_, item| {
        if fails(item) {
            Err("Bad")
        } else {
            Ok(item.clone())
        }
    });
    assert_eq!(world.status(), ExecutionStatus::Failed);
    let failed = world.history.last().expect("an event");
    assert_eq!(
        failed.details.error.as_deref(),
        Some("States.ExceedToleratedFailureThreshold")
    );
    assert_eq!(item_calls(&world), [0, 1, 2, 3]);

    world.redrive();
    world.run(|_, item| Ok(item.clone()));
    assert_eq!(world.status(), ExecutionStatus::Succeeded);
    assert_eq!(item_calls(&world), [0, 1, 2, 3, 1, 3, 4]);
    assert_eq!(world.output(), json!([0, 1, 2, 3, 4]));
}

#[test]
fn a_large_stored_map_runs_again_only_its_failed_iteration() {
    let mut definition = map_of(None);
    definition["States"]["M"]["MaxConcurrency"] = json!(2);
    let items: Vec<i64> = (0..12).collect();
    let limits = Limits::default().storing_maps_over(4);
    let mut world = World::start(definition, json!({ "items": items }), limits);
    assert!(
        !world.stored.is_empty(),
        "the Map keeps its values with the driver"
    );
    world.run(|_, item| {
        if item == &json!(5) {
            Err("Bad")
        } else {
            Ok(item.clone())
        }
    });
    assert_eq!(world.status(), ExecutionStatus::Failed);
    assert!(!world.stored.is_empty(), "kept for a redrive");
    let first_calls = item_calls(&world);

    world.redrive();
    world.run(|_, item| Ok(item.clone()));
    assert_eq!(world.status(), ExecutionStatus::Succeeded);
    assert_eq!(world.output(), json!(items));
    let again = &item_calls(&world)[first_calls.len()..];
    for item in &first_calls {
        if *item != 5 && again.contains(item) {
            // Only 5 and the iteration aborted beside it run again.
            let aborted = first_calls.iter().filter(|i| **i == *item).count();
            assert_eq!(aborted, 1);
        }
    }
    assert_eq!(again.iter().filter(|i| **i == 5).count(), 1);
    assert!(again.len() < items.len(), "ran again: {again:?}");
    assert!(world.stored.is_empty(), "released once the Map succeeded");
}

#[test]
fn a_caught_error_is_not_run_again_but_the_fail_state_is() {
    let definition = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:t",
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Give up"}], "End": true},
        "Give up": {"Type": "Fail", "Error": "GaveUp"}}});
    let mut world = World::start(definition, json!({}), Limits::default());
    world.run(|_, _| Err("Boom"));
    assert_eq!(world.status(), ExecutionStatus::Failed);
    let first = world.history.len();

    world.redrive();
    world.run(|_, _| Ok(json!(1)));
    assert_eq!(world.status(), ExecutionStatus::Failed);
    assert_eq!(world.calls_to("T"), 1);
    assert_eq!(
        &world.event_types()[first..],
        ["ExecutionRedriven", "FailStateEntered", "ExecutionFailed"]
    );
}

#[test]
fn a_timed_out_execution_runs_its_task_again_under_a_new_timeout() {
    let definition = json!({"StartAt": "Slow", "TimeoutSeconds": 10, "States": {
        "Slow": task("slow", None)}});
    let mut world = World::start(definition, json!({}), Limits::default());
    // Nobody answers the task: the machine's timeout fires.
    let task = world.tasks.pop_front().expect("a task");
    let (&timer, _) = world.timers.iter().next().expect("the execution's timeout");
    world.timers.remove(&timer);
    world.now = world.now.plus_seconds(10.0);
    world.step(Event::TimerFired { timer });
    assert_eq!(world.status(), ExecutionStatus::TimedOut);
    assert!(world.timers.is_empty() && world.tasks.is_empty());

    world.redrive();
    let redriven_at = world.now;
    let due = *world.timers.values().next().expect("a new timeout");
    assert_eq!(due, redriven_at.plus_seconds(10.0));
    // The late answer of the first attempt changes nothing.
    world.step(Event::TaskSucceeded {
        task: task.task,
        output: json!("late"),
    });
    world.run(|_, _| Ok(json!("on time")));
    assert_eq!(world.status(), ExecutionStatus::Succeeded);
    assert_eq!(world.output(), json!("on time"));
}

#[test]
fn an_aborted_execution_waits_again_and_can_be_redriven_twice() {
    let definition = json!({"StartAt": "Nap", "States": {
        "Nap": {"Type": "Wait", "Seconds": 100, "Next": "Done"},
        "Done": {"Type": "Pass", "Parameters": {"n.$": "$$.Execution.RedriveCount"}, "End": true}}});
    let mut world = World::start(definition, json!({}), Limits::default());
    world.step(Event::Stop {
        error: None,
        cause: None,
    });
    assert_eq!(world.status(), ExecutionStatus::Aborted);
    world.redrive();
    assert_eq!(world.status(), ExecutionStatus::Running);
    world.step(Event::Stop {
        error: None,
        cause: None,
    });
    world.redrive();
    world.run(|_, _| Ok(json!(null)));
    assert_eq!(world.output(), json!({"n": 2}));
    let redrives: Vec<Option<u64>> = world
        .history
        .iter()
        .filter(|e| e.event_type == "ExecutionRedriven")
        .map(|e| e.details.redrive_count)
        .collect();
    assert_eq!(redrives, [Some(1), Some(2)]);
    assert_eq!(
        world
            .event_types()
            .iter()
            .filter(|t| **t == "WaitStateEntered")
            .count(),
        3
    );
}

#[test]
fn a_map_in_a_branch_runs_again_only_its_failed_iteration() {
    let definition = json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true,
        "Branches": [
            {"StartAt": "One", "States": {"One": task("one", None)}},
            map_of(None)]}}});
    let mut world = World::start(definition, json!({"items": [0, 1, 2]}), Limits::default());
    world.run(|state, item| match state {
        "Work" if item == &json!(1) => Err("Bad"),
        _ => Ok(item.clone()),
    });
    assert_eq!(world.status(), ExecutionStatus::Failed);
    world.redrive();
    world.run(|_, item| Ok(item.clone()));
    assert_eq!(world.status(), ExecutionStatus::Succeeded);
    assert_eq!(world.calls_to("One"), 1);
    assert_eq!(item_calls(&world).iter().filter(|i| **i == 0).count(), 1);
    assert_eq!(world.output(), json!([{"items": [0, 1, 2]}, [0, 1, 2]]));
}

#[test]
fn redrive_is_ignored_unless_the_execution_ended_unsuccessfully() {
    let definition = json!({"StartAt": "T", "States": {"T": task("t", None)}});
    let mut world = World::start(definition, json!({}), Limits::default());
    let before = world.history.len();
    world.step(Event::Redrive);
    assert_eq!(
        world.history.len(),
        before,
        "a running execution is not redriven"
    );
    world.run(|_, _| Ok(json!(1)));
    assert_eq!(world.status(), ExecutionStatus::Succeeded);
    let after = world.history.len();
    world.step(Event::Redrive);
    assert_eq!(
        world.history.len(),
        after,
        "a succeeded execution is not redriven"
    );
    assert_eq!(world.status(), ExecutionStatus::Succeeded);
}

/// A Distributed Map exporting its results, one iteration at a time, no failure
/// tolerated.
fn writing_map() -> Value {
    json!({"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 1, "ToleratedFailureCount": 0,
        "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject",
                         "Parameters": {"Bucket": "out", "Prefix": "runs"}},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
            "StartAt": "Work", "States": {"Work": task("work", None)}},
        "End": true}}})
}

/// The writer's task is the Map state's; its answer names the manifest.
fn write_or_work(fails: impl Fn(&Value) -> bool) -> impl FnMut(&str, &Value) -> Answer {
    move |state, input| {
        if state == "M" {
            Ok(json!({"ResultWriterDetails": {"Bucket": "out", "Key": "runs/manifest.json"}}))
        } else if fails(input) {
            Err("Bad")
        } else {
            Ok(input.clone())
        }
    }
}

fn written_statuses(request: &Value) -> Vec<String> {
    let request: cairn_asl::distributed::results::WriteResultsRequest =
        serde_json::from_value(request.clone()).expect("a write request");
    request
        .results
        .iter()
        .map(|r| r.records(request.transformation)[0]["Status"].to_string())
        .collect()
}

#[test]
fn a_failed_run_writes_its_results_fails_and_redrives_its_failed_items() {
    let mut world = World::start(
        writing_map(),
        json!({"items": [0, 1, 2, 3]}),
        Limits::default(),
    );
    world.run(write_or_work(|item| item == &json!(1)));
    assert_eq!(world.status(), ExecutionStatus::Failed);
    let failed = world.history.last().expect("an event");
    assert_eq!(
        failed.details.error.as_deref(),
        Some("States.ExceedToleratedFailureThreshold")
    );
    assert_eq!(world.calls_to("M"), 1, "the results are written once");
    let (_, request) = world.calls.iter().find(|(s, _)| s == "M").expect("a write");
    assert_eq!(
        written_statuses(request),
        ["\"SUCCEEDED\"", "\"FAILED\"", "\"PENDING\"", "\"PENDING\""]
    );
    assert_eq!(item_calls(&world), [0, 1]);

    world.redrive();
    world.run(write_or_work(|_| false));
    assert_eq!(world.status(), ExecutionStatus::Succeeded);
    assert_eq!(
        item_calls(&world),
        [0, 1, 1, 2, 3],
        "item 0 is not run again"
    );
    assert_eq!(world.calls_to("M"), 2);
    let (_, request) = world
        .calls
        .iter()
        .rfind(|(s, _)| s == "M")
        .expect("a write");
    assert_eq!(written_statuses(request), ["\"SUCCEEDED\""; 4]);
    assert_eq!(
        world.output()["ResultWriterDetails"]["Key"],
        "runs/manifest.json"
    );
}

#[test]
fn a_failed_run_stopped_while_writing_its_results_redrives_its_failed_items() {
    let mut world = World::start(
        writing_map(),
        json!({"items": [0, 1, 2]}),
        Limits::default(),
    );
    // Run the items, but leave the writer's task unanswered.
    loop {
        match world.tasks.front() {
            Some(task) if task.state_name == "M" => break,
            Some(_) => {}
            None => panic!("no write was asked for"),
        }
        let task = world.tasks.pop_front().expect("a task");
        world
            .calls
            .push((task.state_name.clone(), task.input.clone()));
        let event = if task.input == json!(1) {
            Event::TaskFailed {
                task: task.task,
                error: "Bad".into(),
                cause: None,
            }
        } else {
            Event::TaskSucceeded {
                task: task.task,
                output: task.input.clone(),
            }
        };
        world.step(event);
    }
    assert_eq!(world.status(), ExecutionStatus::Running);
    world.step(Event::Stop {
        error: None,
        cause: None,
    });
    assert_eq!(world.status(), ExecutionStatus::Aborted);
    assert!(world.tasks.is_empty(), "the write is cancelled");

    world.redrive();
    world.run(write_or_work(|_| false));
    assert_eq!(world.status(), ExecutionStatus::Succeeded);
    assert_eq!(item_calls(&world), [0, 1, 1, 2]);
    assert_eq!(world.calls_to("M"), 1);
}
