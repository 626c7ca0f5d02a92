//! An EXPRESS Distributed Map iteration stands for an Express child execution, which AWS
//! ends `TIMED_OUT` with `States.Timeout` after five minutes: the iteration's frame gets
//! a timer for that, the Map Run counts the iteration as failed and timed out, toward its
//! tolerance; STANDARD and INLINE iterations have no such cap.

mod pure_run;

use std::collections::BTreeSet;

use cairn_asl::distributed::results::WriteResultsRequest;
use cairn_asl::driver::{self, NoTasks, TaskHandler};
use cairn_asl::interpreter::{
    self, Clock, Command, Event, Finish, MapRunState, MapRunStatus, Snapshot, TaskId, TaskRequest,
    TimerId, EXPRESS_MAX_SECONDS,
};
use cairn_asl::status::ExecutionStatus;
use cairn_asl::task::TaskOutcome;
use cairn_asl::timestamp::Timestamp;
use cairn_asl::StateMachine;
use pure_run::{machine, options};
use serde_json::{json, Value};

const SLOW_SECONDS: u64 = 400;

/// A Map of `mode` (and `execution_type`) over `$.items` whose iteration waits
/// `SLOW_SECONDS` for item 0 and ends at once for the others.
fn slow_first(mode: &str, execution_type: Option<&str>, tolerated: Option<u64>) -> Value {
    let mut config = json!({"Mode": mode});
    if let Some(kind) = execution_type {
        config["ExecutionType"] = json!(kind);
    }
    let mut map = json!({
        "Type": "Map", "End": true, "ItemsPath": "$.items",
        "ItemProcessor": {"ProcessorConfig": config, "StartAt": "Slow?", "States": {
            "Slow?": {"Type": "Choice", "Default": "Quick",
                      "Choices": [{"Variable": "$", "NumericEquals": 0, "Next": "Wait"}]},
            "Wait": {"Type": "Wait", "Seconds": SLOW_SECONDS, "Next": "Quick"},
            "Quick": {"Type": "Pass", "End": true}}},
    });
    if let Some(count) = tolerated {
        map["ToleratedFailureCount"] = json!(count);
    }
    json!({"StartAt": "M", "States": {"M": map}})
}

fn start_time() -> Timestamp {
    options().info.start_time
}

fn cap_cause() -> String {
    format!(
        "The execution ran longer than the {EXPRESS_MAX_SECONDS} seconds an Express execution \
         may last"
    )
}

#[test]
fn an_express_iteration_past_five_minutes_times_out_with_states_timeout() {
    let m = machine(&slow_first("DISTRIBUTED", Some("EXPRESS"), None));
    let out = driver::run(&m, json!({"items": [0]}), &options(), &mut NoTasks);
    assert_eq!(out.status, ExecutionStatus::Failed, "{out:?}");
    // Without a tolerance the Map fails with its child's error.
    assert_eq!(out.error.as_deref(), Some("States.Timeout"));
    assert_eq!(out.cause, Some(cap_cause()));
    assert_eq!(
        out.finished_at,
        start_time().plus_seconds(EXPRESS_MAX_SECONDS as f64),
        "the iteration ended at its cap, not after its Wait"
    );
    let types: Vec<&str> = out.history.iter().map(|e| e.event_type.as_str()).collect();
    assert!(types.contains(&"MapRunFailed"), "{types:?}");
}

#[test]
fn a_timed_out_iteration_within_the_tolerance_leaves_its_error_as_its_result() {
    let m = machine(&slow_first("DISTRIBUTED", Some("EXPRESS"), Some(1)));
    let out = driver::run(&m, json!({"items": [0, 1]}), &options(), &mut NoTasks);
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{out:?}");
    assert_eq!(
        out.output,
        Some(json!([{"Error": "States.Timeout", "Cause": cap_cause()}, 1]))
    );
}

#[test]
fn a_timed_out_iteration_past_the_tolerance_fails_the_map_run() {
    let m = machine(&slow_first("DISTRIBUTED", Some("EXPRESS"), Some(0)));
    let out = driver::run(&m, json!({"items": [0, 1]}), &options(), &mut NoTasks);
    assert_eq!(out.status, ExecutionStatus::Failed, "{out:?}");
    assert_eq!(
        out.error.as_deref(),
        Some("States.ExceedToleratedFailureThreshold")
    );
    assert_eq!(
        out.cause.as_deref(),
        Some("The specified tolerated failure threshold was exceeded")
    );
}

#[test]
fn standard_and_inline_iterations_have_no_cap() {
    for (mode, execution_type) in [
        ("DISTRIBUTED", Some("STANDARD")),
        ("DISTRIBUTED", None),
        ("INLINE", None),
    ] {
        let m = machine(&slow_first(mode, execution_type, Some(0)));
        let out = driver::run(&m, json!({"items": [0, 1]}), &options(), &mut NoTasks);
        assert_eq!(
            out.status,
            ExecutionStatus::Succeeded,
            "{mode} {execution_type:?}: {out:?}"
        );
        assert_eq!(out.output, Some(json!([0, 1])));
        assert_eq!(
            out.finished_at,
            start_time().plus_seconds(SLOW_SECONDS as f64)
        );
    }
}

/// Steps an execution by hand, firing timers in the order they are due and leaving
/// tasks unanswered, and keeps every command.
struct World {
    machine: StateMachine,
    snapshot: Snapshot,
    now: Timestamp,
    timers: BTreeSet<(Timestamp, TimerId)>,
    commands: Vec<Command>,
}

impl World {
    fn start(definition: &Value, input: Value) -> World {
        let machine = machine(definition);
        let now = start_time();
        let (snapshot, output) = interpreter::start(
            &machine,
            options().info,
            input,
            options().limits,
            clock(now),
        );
        let mut world = World {
            machine,
            snapshot,
            now,
            timers: BTreeSet::new(),
            commands: Vec::new(),
        };
        world.take(output.commands);
        world
    }

    fn take(&mut self, commands: Vec<Command>) {
        for command in &commands {
            match command {
                Command::StartTimer { timer, due } => {
                    self.timers.insert((*due, *timer));
                }
                Command::CancelTimer { timer } => self.timers.retain(|(_, t)| t != timer),
                _ => {}
            }
        }
        self.commands.extend(commands);
    }

    fn step(&mut self, event: Event) -> Vec<Command> {
        let out = interpreter::step(&self.machine, &mut self.snapshot, event, clock(self.now));
        self.take(out.commands.clone());
        out.commands
    }

    /// Fires the next timer due; what the step asked for.
    fn fire_next(&mut self) -> Vec<Command> {
        let (due, timer) = self.timers.pop_first().expect("a timer to fire");
        self.now = self.now.max(due);
        self.step(Event::TimerFired { timer })
    }

    fn finish(&self) -> Option<&Finish> {
        self.commands.iter().find_map(|c| match c {
            Command::Finish(f) => Some(f),
            _ => None,
        })
    }

    fn last_map_run(&self) -> MapRunState {
        self.commands
            .iter()
            .rev()
            .find_map(|c| match c {
                Command::MapRun(run) => Some(run.clone()),
                _ => None,
            })
            .expect("a Map Run")
    }

    /// The timers the stored snapshot still keeps.
    fn stored_timers(&self) -> usize {
        let stored = serde_json::to_value(&self.snapshot).expect("serializable");
        stored["timers"].as_object().map_or(0, |t| t.len())
    }
}

fn clock(now: Timestamp) -> Clock {
    Clock {
        now,
        seed: 7,
        entropy: [1; 32],
    }
}

fn started_timers(commands: &[Command]) -> Vec<(TimerId, Timestamp)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::StartTimer { timer, due } => Some((*timer, *due)),
            _ => None,
        })
        .collect()
}

#[test]
fn iterations_that_end_in_the_step_that_started_them_set_no_timer() {
    let world = World::start(
        &slow_first("DISTRIBUTED", Some("EXPRESS"), None),
        json!({"items": [1, 2, 3]}),
    );
    assert_eq!(
        world.finish().map(|f| f.status),
        Some(ExecutionStatus::Succeeded)
    );
    assert!(
        started_timers(&world.commands).is_empty(),
        "{:?}",
        world.commands
    );
}

#[test]
fn an_iteration_that_ends_in_time_cancels_its_cap() {
    let mut definition = slow_first("DISTRIBUTED", Some("EXPRESS"), None);
    definition["States"]["M"]["ItemProcessor"]["States"]["Wait"]["Seconds"] = json!(10);
    let mut world = World::start(&definition, json!({"items": [0, 1]}));
    // Item 0 waits: its Wait's timer, and its cap at its start plus five minutes.
    let started = started_timers(&world.commands);
    let dues: BTreeSet<Timestamp> = started.iter().map(|(_, due)| *due).collect();
    assert_eq!(
        dues,
        BTreeSet::from([
            start_time().plus_seconds(10.0),
            start_time().plus_seconds(EXPRESS_MAX_SECONDS as f64)
        ]),
        "{started:?}"
    );
    let cap = started
        .iter()
        .find(|(_, due)| *due == start_time().plus_seconds(EXPRESS_MAX_SECONDS as f64))
        .map(|(timer, _)| *timer)
        .expect("the cap's timer");
    let commands = world.fire_next();
    assert!(
        commands.contains(&Command::CancelTimer { timer: cap }),
        "{commands:?}"
    );
    assert_eq!(
        world.finish().map(|f| (f.status, f.output.clone())),
        Some((ExecutionStatus::Succeeded, Some(json!([0, 1]))))
    );
    assert_eq!(world.stored_timers(), 0);
    assert!(world.timers.is_empty(), "{:?}", world.timers);
}

#[test]
fn a_timed_out_iteration_cancels_what_it_waits_for_and_counts_in_the_map_run() {
    // Item 0 waits on a task no one answers, inside a Parallel; item 1 waits a while.
    let definition = json!({"StartAt": "M", "States": {"M": {
        "Type": "Map", "End": true, "ItemsPath": "$.items", "ToleratedFailureCount": 1,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
            "StartAt": "Slow?", "States": {
                "Slow?": {"Type": "Choice", "Default": "Short",
                          "Choices": [{"Variable": "$", "NumericEquals": 0, "Next": "Par"}]},
                "Par": {"Type": "Parallel", "End": true, "Branches": [
                    {"StartAt": "T", "States": {"T": {"Type": "Task", "End": true,
                        "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f"}}}]},
                "Short": {"Type": "Wait", "Seconds": 20, "End": true}}}}}});
    let mut world = World::start(&definition, json!({"items": [0, 1]}));
    let task: TaskId = world
        .commands
        .iter()
        .find_map(|c| match c {
            Command::InvokeTask(request) => Some(request.task),
            _ => None,
        })
        .expect("the iteration's task");
    world.step(Event::TaskStarted { task });
    let running = world.last_map_run();
    assert_eq!((running.running, running.timed_out), (2, 0));
    // Item 1's Wait, then item 0's cap; item 1's cap was cancelled when it ended.
    world.fire_next();
    let commands = world.fire_next();
    assert!(
        commands.contains(&Command::CancelTask { task }),
        "{commands:?}"
    );
    assert_eq!(
        world.now,
        start_time().plus_seconds(EXPRESS_MAX_SECONDS as f64)
    );
    let run = world.last_map_run();
    assert_eq!(run.status, MapRunStatus::Succeeded);
    assert_eq!(
        (run.succeeded, run.failed, run.timed_out, run.running),
        (1, 1, 1, 0)
    );
    let finish = world.finish().expect("the execution ended");
    assert_eq!(finish.status, ExecutionStatus::Succeeded, "{finish:?}");
    assert_eq!(
        finish.output,
        Some(json!([{"Error": "States.Timeout", "Cause": cap_cause()}, 1]))
    );
    assert_eq!(world.stored_timers(), 0);
    // A late answer to the cancelled task changes nothing.
    let late = world.step(Event::TaskSucceeded {
        task,
        output: json!("late"),
    });
    assert!(late.is_empty(), "{late:?}");
}

#[test]
fn a_redrive_runs_a_timed_out_iteration_again_under_a_new_cap() {
    let mut world = World::start(
        &slow_first("DISTRIBUTED", Some("EXPRESS"), Some(0)),
        json!({"items": [0, 1]}),
    );
    world.fire_next();
    let failed = world.last_map_run();
    assert_eq!(failed.status, MapRunStatus::Failed);
    assert_eq!((failed.failed, failed.timed_out), (1, 1));
    assert_eq!(
        world.finish().map(|f| f.status),
        Some(ExecutionStatus::Failed)
    );
    world.now = world.now.plus_seconds(1000.0);
    let redriven_at = world.now;
    let commands = world.step(Event::Redrive);
    let run = world.last_map_run();
    assert_eq!(run.status, MapRunStatus::Running);
    assert_eq!(
        (run.failed, run.timed_out, run.running),
        (0, 0, 1),
        "{run:?}"
    );
    let dues: BTreeSet<Timestamp> = started_timers(&commands)
        .into_iter()
        .map(|(_, due)| due)
        .collect();
    assert!(
        dues.contains(&redriven_at.plus_seconds(EXPRESS_MAX_SECONDS as f64)),
        "a new cap from the redrive: {dues:?}"
    );
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
fn a_timed_out_iterations_result_record_says_timed_out() {
    let mut definition = slow_first("DISTRIBUTED", Some("EXPRESS"), Some(1));
    definition["States"]["M"]["ResultWriter"] = json!({
        "Resource": "arn:aws:states:::s3:putObject",
        "Parameters": {"Bucket": "out", "Prefix": "runs"}});
    let m = machine(&definition);
    let out = driver::run(&m, json!({"items": [0, 1]}), &options(), &mut Records);
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{out:?}");
    let records = out.output.expect("the records");
    assert_eq!(records[0]["Status"], "TIMED_OUT", "{records}");
    assert_eq!(records[0]["Error"], "States.Timeout");
    assert_eq!(records[0]["Cause"], json!(cap_cause()));
    assert_eq!(records[1]["Status"], "SUCCEEDED", "{records}");
}
