//! A STANDARD Distributed Map under `Limits::map_child_executions`: its iterations are
//! child executions the driver starts (`Command::StartMapChild`) and reports back
//! (`Event::MapChildEnded`), never more running than MaxConcurrency.

use cairn_asl::interpreter::{
    self, machine_at, Clock, Command, Event, ExecutionInfo, Limits, MapChildOutcome, MapChildStart,
    MapRunStatus, Output, Snapshot,
};
use cairn_asl::timestamp::Timestamp;
use cairn_asl::validate::{validate, ValidateOptions};
use cairn_asl::{ExecutionStatus, StateMachine};
use serde_json::{json, Value};

fn machine(definition: &Value) -> StateMachine {
    match validate(&definition.to_string(), &ValidateOptions::default()) {
        Ok((machine, _)) => machine,
        Err(diagnostics) => panic!("invalid definition: {diagnostics:?}"),
    }
}

fn clock(n: u64) -> Clock {
    Clock {
        now: Timestamp::from_unix_millis(1_700_000_000_000 + n as i64),
        seed: n,
        entropy: [1; 32],
    }
}

fn distributed(max_concurrency: u64, extra: Value) -> Value {
    let mut map = json!({
        "Type": "Map", "End": true, "MaxConcurrency": max_concurrency,
        "ItemSelector": {"n.$": "$$.Map.Item.Value"},
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}
        }
    });
    if let (Some(map), Some(extra)) = (map.as_object_mut(), extra.as_object()) {
        map.extend(extra.clone());
    }
    json!({"StartAt": "M", "States": {"M": map}})
}

fn starts(output: &Output) -> Vec<MapChildStart> {
    output
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::StartMapChild(start) => Some(start.clone()),
            _ => None,
        })
        .collect()
}

fn last_run_status(output: &Output) -> Option<MapRunStatus> {
    output.commands.iter().rev().find_map(|c| match c {
        Command::MapRun(run) => Some(run.status),
        _ => None,
    })
}

fn begin(definition: &Value, items: usize) -> (StateMachine, Snapshot, Output) {
    let machine = machine(definition);
    let info = ExecutionInfo::example("m", "e", Timestamp::from_unix_millis(1_700_000_000_000));
    let input = Value::Array((0..items as i64).map(|n| json!(n)).collect());
    let limits = Limits::default().with_map_child_executions();
    let (snapshot, output) = interpreter::start(&machine, info, input, limits, clock(0));
    (machine, snapshot, output)
}

fn ended(start: &MapChildStart, outcome: MapChildOutcome) -> Event {
    Event::MapChildEnded {
        map_run_arn: start.map_run_arn.clone(),
        index: start.index,
        outcome,
        dates: None,
    }
}

#[test]
fn iterations_are_children_under_max_concurrency_and_results_keep_item_order() {
    let (machine, mut snapshot, output) = begin(&distributed(2, json!({})), 5);
    let mut running = starts(&output);
    assert_eq!(running.len(), 2, "MaxConcurrency 2");
    let first = &running[0];
    assert_eq!(first.input, json!({"n": 0}), "the item after ItemSelector");
    assert!(
        first
            .execution_arn
            .starts_with("arn:aws:states:us-east-1:123456789012:execution:m/M:"),
        "{}",
        first.execution_arn
    );
    assert_eq!(
        first.state_machine_arn,
        "arn:aws:states:us-east-1:123456789012:stateMachine:m/M"
    );
    let processor = machine_at(&machine, &first.processor).expect("the ItemProcessor");
    assert_eq!(processor.start_at, "P");
    // End them out of order: the results still follow the items.
    let mut n = 1;
    let mut last = Output::default();
    while let Some(child) = running.pop() {
        let out = interpreter::step(
            &machine,
            &mut snapshot,
            ended(
                &child,
                MapChildOutcome::Succeeded {
                    output: json!(child.index * 10),
                },
            ),
            clock(n),
        );
        n += 1;
        running.extend(starts(&out));
        assert!(running.len() <= 2, "never more than MaxConcurrency");
        // A second report of the same end changes nothing.
        let again = interpreter::step(
            &machine,
            &mut snapshot,
            ended(&child, MapChildOutcome::Succeeded { output: json!(-1) }),
            clock(n),
        );
        assert!(again.commands.is_empty() && again.history.is_empty());
        last = out;
    }
    assert_eq!(snapshot.status, ExecutionStatus::Succeeded);
    let finish = last.commands.iter().find_map(|c| match c {
        Command::Finish(f) => Some(f.clone()),
        _ => None,
    });
    assert_eq!(
        finish.and_then(|f| f.output),
        Some(json!([0, 10, 20, 30, 40]))
    );
    assert_eq!(last_run_status(&last), Some(MapRunStatus::Succeeded));
}

#[test]
fn a_failure_past_the_tolerance_fails_the_run_and_the_map() {
    let (machine, mut snapshot, output) =
        begin(&distributed(0, json!({"ToleratedFailureCount": 1})), 3);
    let children = starts(&output);
    assert_eq!(children.len(), 3, "0: no limit");
    let failed = |child: &MapChildStart| {
        ended(
            child,
            MapChildOutcome::Failed {
                error: "Boom".into(),
                cause: None,
            },
        )
    };
    let one = interpreter::step(&machine, &mut snapshot, failed(&children[0]), clock(1));
    assert_eq!(
        last_run_status(&one),
        Some(MapRunStatus::Running),
        "tolerated"
    );
    let two = interpreter::step(&machine, &mut snapshot, failed(&children[1]), clock(2));
    assert_eq!(last_run_status(&two), Some(MapRunStatus::Failed));
    let types: Vec<&str> = two.history.iter().map(|e| e.event_type.as_str()).collect();
    assert!(types.contains(&"MapRunFailed"), "{types:?}");
    assert_eq!(snapshot.status, ExecutionStatus::Failed);
    let error = two.history.last().and_then(|e| e.details.error.clone());
    assert_eq!(
        error.as_deref(),
        Some("States.ExceedToleratedFailureThreshold")
    );
}

#[test]
fn one_step_starts_a_bounded_number_of_children_and_resumes_for_the_rest() {
    let many = interpreter::MAX_CHILD_STARTS_PER_STEP + 20;
    let (machine, mut snapshot, output) = begin(&distributed(0, json!({})), many);
    assert_eq!(
        starts(&output).len(),
        interpreter::MAX_CHILD_STARTS_PER_STEP
    );
    assert!(snapshot.needs_resume());
    let out = interpreter::step(&machine, &mut snapshot, Event::Resume, clock(1));
    assert_eq!(starts(&out).len(), 20);
    assert!(!snapshot.needs_resume());
}

#[test]
fn express_children_and_drivers_without_the_limit_keep_frames() {
    let express = distributed(
        2,
        json!({"ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
            "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}}),
    );
    let (_, snapshot, output) = begin(&express, 3);
    assert!(starts(&output).is_empty());
    assert_eq!(snapshot.status, ExecutionStatus::Succeeded);
}

fn redriven(output: &Output) -> Vec<u64> {
    output
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::RedriveMapChild(redrive) => Some(redrive.index),
            _ => None,
        })
        .collect()
}

#[test]
fn a_stopped_parent_redrives_the_children_it_was_running() {
    // Items 0 and 1 run (MaxConcurrency 2), 0 succeeds, 1 and 2 are running when the
    // parent is stopped; the redrive redrives 1 and 2 (stopped with the parent) and
    // starts 3, and 0 is not run again.
    let (machine, mut snapshot, output) = begin(&distributed(2, json!({})), 4);
    let first = starts(&output);
    assert_eq!(first.len(), 2);
    let next = interpreter::step(
        &machine,
        &mut snapshot,
        ended(&first[0], MapChildOutcome::Succeeded { output: json!("a") }),
        clock(1),
    );
    let second = starts(&next);
    assert_eq!(second.iter().map(|s| s.index).collect::<Vec<_>>(), [2]);
    interpreter::step(
        &machine,
        &mut snapshot,
        Event::Stop {
            error: None,
            cause: None,
        },
        clock(2),
    );
    assert_eq!(snapshot.status, ExecutionStatus::Aborted);

    let again = interpreter::step(&machine, &mut snapshot, Event::Redrive, clock(3));
    assert_eq!(snapshot.status, ExecutionStatus::Running);
    let mut rerun = redriven(&again);
    rerun.sort_unstable();
    assert_eq!(rerun, [1, 2], "the children stopped with the parent");
    assert!(starts(&again).is_empty(), "MaxConcurrency 2 is taken");
    let run_arn = first[0].map_run_arn.clone();
    let end = |index: u64, output: Value| Event::MapChildEnded {
        map_run_arn: run_arn.clone(),
        index,
        outcome: MapChildOutcome::Succeeded { output },
        dates: None,
    };
    let after = interpreter::step(&machine, &mut snapshot, end(1, json!("b")), clock(4));
    assert_eq!(
        starts(&after).iter().map(|s| s.index).collect::<Vec<_>>(),
        [3]
    );
    interpreter::step(&machine, &mut snapshot, end(2, json!("c")), clock(5));
    let last = interpreter::step(&machine, &mut snapshot, end(3, json!("d")), clock(6));
    assert_eq!(snapshot.status, ExecutionStatus::Succeeded);
    let finish = last.commands.iter().find_map(|c| match c {
        Command::Finish(f) => f.output.clone(),
        _ => None,
    });
    assert_eq!(finish, Some(json!(["a", "b", "c", "d"])));
}

#[test]
fn a_child_that_timed_out_is_a_failure_counted_as_timed_out() {
    let (machine, mut snapshot, output) =
        begin(&distributed(0, json!({"ToleratedFailureCount": 1})), 2);
    let children = starts(&output);
    let timed_out = ended(
        &children[0],
        MapChildOutcome::TimedOut {
            error: "States.Timeout".into(),
            cause: None,
        },
    );
    let one = interpreter::step(&machine, &mut snapshot, timed_out, clock(1));
    let run = |output: &Output| {
        output
            .commands
            .iter()
            .rev()
            .find_map(|c| match c {
                Command::MapRun(run) => Some(run.clone()),
                _ => None,
            })
            .expect("a Map Run")
    };
    let running = run(&one);
    assert_eq!(running.status, MapRunStatus::Running, "tolerated");
    assert_eq!((running.failed, running.timed_out), (1, 1));
    let succeeded = ended(
        &children[1],
        MapChildOutcome::Succeeded { output: json!(1) },
    );
    let two = interpreter::step(&machine, &mut snapshot, succeeded, clock(2));
    let done = run(&two);
    assert_eq!(done.status, MapRunStatus::Succeeded);
    assert_eq!((done.succeeded, done.failed, done.timed_out), (1, 1, 1));
    assert_eq!(snapshot.status, ExecutionStatus::Succeeded);
}
