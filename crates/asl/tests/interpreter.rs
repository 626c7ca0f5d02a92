//! The interpreter end to end through the in-memory driver, and `start`/`step` directly
//! where the durable engine's view matters (snapshots, stale events).

use std::collections::HashMap;

use cairn_asl::driver::{self, Outcome, RunOptions, TaskHandler};
use cairn_asl::interpreter::{
    self, Clock, Command, Event, ExecutionInfo, Limits, MapRunStatus, Snapshot, TaskRequest,
};
use cairn_asl::task::TaskOutcome;
use cairn_asl::timestamp::Timestamp;
use cairn_asl::validate::{validate, ValidateOptions};
use cairn_asl::ExecutionStatus;
use cairn_asl::StateMachine;
use serde_json::{json, Value};

const START: i64 = 1_700_000_000_000;

fn machine(definition: Value) -> StateMachine {
    match validate(&definition.to_string(), &ValidateOptions::default()) {
        Ok((machine, _)) => machine,
        Err(diagnostics) => panic!("invalid definition: {diagnostics:?}"),
    }
}

fn options() -> RunOptions {
    RunOptions {
        info: ExecutionInfo::example("test-machine", "exec-1", Timestamp::from_unix_millis(START)),
        limits: Limits::default(),
        seed: 7,
    }
}

fn run_with(definition: Value, input: Value, tasks: &mut dyn TaskHandler) -> Outcome {
    driver::run(&machine(definition), input, &options(), tasks)
}

fn run(definition: Value, input: Value) -> Outcome {
    run_with(definition, input, &mut driver::NoTasks)
}

fn event_types(outcome: &Outcome) -> Vec<&str> {
    outcome
        .history
        .iter()
        .map(|e| e.event_type.as_str())
        .collect()
}

/// Answers each resource from a script: a queue of outcomes per resource, and records
/// every invocation.
#[derive(Default)]
struct Script {
    outcomes: HashMap<String, Vec<TaskOutcome>>,
    calls: Vec<TaskRequest>,
}

impl Script {
    fn on(mut self, resource: &str, outcomes: Vec<TaskOutcome>) -> Self {
        self.outcomes.insert(resource.to_string(), outcomes);
        self
    }
}

impl TaskHandler for Script {
    fn invoke(&mut self, task: &TaskRequest) -> TaskOutcome {
        self.calls.push(task.clone());
        let queue = self.outcomes.entry(task.resource.clone()).or_default();
        if queue.is_empty() {
            TaskOutcome::Succeeded(json!({"echo": task.input.clone()}))
        } else {
            queue.remove(0)
        }
    }
}

fn failed(error: &str, cause: &str) -> TaskOutcome {
    TaskOutcome::Failed {
        error: error.to_string(),
        cause: Some(cause.to_string()),
    }
}

#[test]
fn pass_chain_records_entered_and_exited_for_each_state() {
    let outcome = run(
        json!({"StartAt": "A", "States": {
            "A": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.a", "Next": "B"},
            "B": {"Type": "Pass", "Parameters": {"sum.$": "States.MathAdd($.a.x, 41)"}, "End": true}
        }}),
        json!({"in": true}),
    );
    assert_eq!(outcome.status, ExecutionStatus::Succeeded);
    assert_eq!(outcome.output, Some(json!({"sum": 42})));
    assert_eq!(
        event_types(&outcome),
        [
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded"
        ]
    );
    let ids: Vec<u64> = outcome.history.iter().map(|e| e.id).collect();
    assert_eq!(
        ids,
        (1..=6).collect::<Vec<u64>>(),
        "history ids are dense from 1"
    );
}

#[test]
fn task_result_goes_through_result_selector_result_path_and_output_path() {
    let mut script = Script::default().on(
        "arn:aws:lambda:us-east-1:123456789012:function:f",
        vec![TaskOutcome::Succeeded(
            json!({"Payload": {"total": 10}, "StatusCode": 200}),
        )],
    );
    let outcome = run_with(
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f",
                  "InputPath": "$.order", "Parameters": {"id.$": "$.id"},
                  "ResultSelector": {"total.$": "$.Payload.total"},
                  "ResultPath": "$.result", "OutputPath": "$.result", "End": true}
        }}),
        json!({"order": {"id": "o-1"}, "other": 1}),
        &mut script,
    );
    assert_eq!(outcome.status, ExecutionStatus::Succeeded, "{outcome:?}");
    assert_eq!(outcome.output, Some(json!({"total": 10})));
    assert_eq!(script.calls.len(), 1);
    assert_eq!(script.calls[0].input, json!({"id": "o-1"}));
    assert_eq!(
        event_types(&outcome),
        [
            "ExecutionStarted",
            "TaskStateEntered",
            // A bare function ARN: AWS's Lambda events, not the service integration's.
            "LambdaFunctionScheduled",
            "LambdaFunctionStarted",
            "LambdaFunctionSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded"
        ]
    );
}

#[test]
fn retry_backs_off_exponentially_on_the_virtual_clock_then_catch_takes_over() {
    let resource = "arn:aws:states:::lambda:invoke";
    let mut script = Script::default().on(
        resource,
        vec![
            failed("PaymentGatewayTimeout", "slow"),
            failed("PaymentGatewayTimeout", "slow"),
            failed("PaymentGatewayTimeout", "slow"),
            failed("PaymentGatewayTimeout", "still slow"),
        ],
    );
    let outcome = run_with(
        json!({"StartAt": "Pay", "States": {
            "Pay": {"Type": "Task", "Resource": resource,
                    "Retry": [{"ErrorEquals": ["PaymentGatewayTimeout"], "IntervalSeconds": 5, "MaxAttempts": 3, "BackoffRate": 2.0}],
                    "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}],
                    "End": true},
            "Failed": {"Type": "Pass", "End": true}
        }}),
        json!({"order": 1}),
        &mut script,
    );
    assert_eq!(outcome.status, ExecutionStatus::Succeeded, "{outcome:?}");
    assert_eq!(
        outcome.output,
        Some(
            json!({"order": 1, "error": {"Error": "PaymentGatewayTimeout", "Cause": "still slow"}})
        )
    );
    assert_eq!(
        script.calls.iter().map(|c| c.attempt).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    // 5 + 10 + 20 seconds of back-off
    assert_eq!(outcome.finished_at.unix_millis() - START, 35_000);
}

#[test]
fn max_delay_caps_the_back_off() {
    let resource = "arn:aws:states:::lambda:invoke";
    let mut script = Script::default().on(
        resource,
        vec![failed("E", "x"), failed("E", "x"), failed("E", "x")],
    );
    let outcome = run_with(
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": resource,
                  "Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 10, "MaxAttempts": 3, "BackoffRate": 3.0, "MaxDelaySeconds": 15}],
                  "End": true}
        }}),
        json!({}),
        &mut script,
    );
    assert_eq!(outcome.status, ExecutionStatus::Succeeded);
    // 10, then 30 capped to 15, then 90 capped to 15
    assert_eq!(outcome.finished_at.unix_millis() - START, 40_000);
}

#[test]
fn an_unmatched_task_error_fails_the_execution_with_its_name_and_cause() {
    let resource = "arn:aws:states:::lambda:invoke";
    let mut script =
        Script::default().on(resource, vec![failed("PaymentDeclined", "card refused")]);
    let outcome = run_with(
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": resource,
                  "Retry": [{"ErrorEquals": ["Other"]}],
                  "End": true}
        }}),
        json!({}),
        &mut script,
    );
    assert_eq!(outcome.status, ExecutionStatus::Failed);
    assert_eq!(outcome.error.as_deref(), Some("PaymentDeclined"));
    assert_eq!(outcome.cause.as_deref(), Some("card refused"));
    assert_eq!(event_types(&outcome).last(), Some(&"ExecutionFailed"));
}

#[test]
fn states_all_does_not_catch_states_runtime() {
    let outcome = run(
        json!({"StartAt": "P", "States": {
            "P": {"Type": "Parallel", "Branches": [
                {"StartAt": "Bad", "States": {"Bad": {"Type": "Pass", "InputPath": "$.missing", "End": true}}}
            ], "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": true},
            "Caught": {"Type": "Succeed"}
        }}),
        json!({}),
    );
    assert_eq!(outcome.status, ExecutionStatus::Failed);
    assert_eq!(outcome.error.as_deref(), Some("States.Runtime"));
    assert!(
        outcome
            .cause
            .as_deref()
            .unwrap_or("")
            .contains("Invalid path '$.missing'"),
        "{:?}",
        outcome.cause
    );
}

#[test]
fn task_timeout_becomes_states_timeout_and_can_be_caught() {
    let resource = "arn:aws:states:::lambda:invoke";
    let mut script = Script::default().on(resource, vec![TaskOutcome::TimedOut]);
    let outcome = run_with(
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": resource, "TimeoutSeconds": 3,
                  "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "Late"}], "End": true},
            "Late": {"Type": "Pass", "Result": "late", "End": true}
        }}),
        json!({}),
        &mut script,
    );
    assert_eq!(outcome.status, ExecutionStatus::Succeeded, "{outcome:?}");
    assert_eq!(outcome.output, Some(json!("late")));
    assert_eq!(script.calls[0].timeout_seconds, Some(3));
}

#[test]
fn parallel_joins_branch_results_in_branch_order() {
    let outcome = run(
        json!({"StartAt": "P", "States": {
            "P": {"Type": "Parallel", "ResultPath": "$.results", "End": true, "Branches": [
                {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 5, "Next": "A"},
                                             "A": {"Type": "Pass", "Result": "slow", "End": true}}},
                {"StartAt": "B", "States": {"B": {"Type": "Pass", "Result": "fast", "End": true}}}
            ]}
        }}),
        json!({"keep": 1}),
    );
    assert_eq!(outcome.status, ExecutionStatus::Succeeded, "{outcome:?}");
    assert_eq!(
        outcome.output,
        Some(json!({"keep": 1, "results": ["slow", "fast"]}))
    );
    let types = event_types(&outcome);
    assert_eq!(
        types[1..3],
        ["ParallelStateEntered", "ParallelStateStarted"]
    );
    assert_eq!(
        types[types.len() - 3..],
        [
            "ParallelStateSucceeded",
            "ParallelStateExited",
            "ExecutionSucceeded"
        ]
    );
    assert_eq!(outcome.finished_at.unix_millis() - START, 5_000);
}

#[test]
fn a_failing_branch_fails_the_parallel_with_its_error() {
    let outcome = run(
        json!({"StartAt": "P", "States": {
            "P": {"Type": "Parallel", "End": true, "Branches": [
                {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 100, "End": true}}},
                {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Boom", "Cause": "branch 2"}}}
            ]}
        }}),
        json!({}),
    );
    assert_eq!(outcome.status, ExecutionStatus::Failed);
    assert_eq!(outcome.error.as_deref(), Some("Boom"));
    assert_eq!(outcome.cause.as_deref(), Some("branch 2"));
    // the waiting branch was aborted: its timer never fired
    assert_eq!(outcome.finished_at.unix_millis(), START);
    assert!(event_types(&outcome).contains(&"ParallelStateFailed"));
}

#[test]
fn map_runs_items_with_item_selector_and_context_and_keeps_order() {
    let outcome = run(
        json!({"StartAt": "M", "States": {
            "M": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2,
                  "ItemSelector": {"value.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index", "tag.$": "$.tag"},
                  "ItemProcessor": {"StartAt": "W", "States": {
                      "W": {"Type": "Wait", "SecondsPath": "$.value", "Next": "Done"},
                      "Done": {"Type": "Pass", "End": true}}},
                  "End": true}
        }}),
        json!({"items": [3, 1, 2], "tag": "t"}),
    );
    assert_eq!(outcome.status, ExecutionStatus::Succeeded, "{outcome:?}");
    assert_eq!(
        outcome.output,
        Some(json!([
            {"value": 3, "index": 0, "tag": "t"},
            {"value": 1, "index": 1, "tag": "t"},
            {"value": 2, "index": 2, "tag": "t"}
        ]))
    );
    // MaxConcurrency 2: items 0 (3 s) and 1 (1 s) start at once; item 2 (2 s) starts at 1 s.
    assert_eq!(outcome.finished_at.unix_millis() - START, 3_000);
    let iterations = event_types(&outcome)
        .iter()
        .filter(|t| **t == "MapIterationStarted")
        .count();
    assert_eq!(iterations, 3);
}

#[test]
fn map_tolerated_failures_keep_going_and_the_threshold_fails_the_state() {
    let definition = |tolerated: u64| {
        json!({"StartAt": "M", "States": {
            "M": {"Type": "Map", "ToleratedFailureCount": tolerated,
                  "ItemProcessor": {"StartAt": "C", "States": {
                      "C": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericEquals": 0, "Next": "Bad"}], "Default": "Ok"},
                      "Bad": {"Type": "Fail", "Error": "Zero", "Cause": "zero item"},
                      "Ok": {"Type": "Pass", "End": true}}},
                  "End": true}
        }})
    };
    let ok = run(definition(1), json!([1, 0, 2]));
    assert_eq!(ok.status, ExecutionStatus::Succeeded, "{ok:?}");
    assert_eq!(
        ok.output,
        Some(json!([1, {"Error": "Zero", "Cause": "zero item"}, 2]))
    );

    let over = run(definition(0), json!([1, 0, 2]));
    assert_eq!(over.status, ExecutionStatus::Failed);
    assert_eq!(
        over.error.as_deref(),
        Some("States.ExceedToleratedFailureThreshold")
    );
}

#[test]
fn wait_timestamp_in_the_past_passes_at_once_and_seconds_path_errors_name_the_state() {
    let past = run(
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Timestamp": "2016-03-14T01:59:00Z", "End": true}}}),
        json!({"a": 1}),
    );
    assert_eq!(past.status, ExecutionStatus::Succeeded);
    assert_eq!(past.output, Some(json!({"a": 1})));

    let negative = run(
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.s", "End": true}}}),
        json!({"s": -1}),
    );
    assert_eq!(negative.error.as_deref(), Some("States.Runtime"));
    assert_eq!(
        negative.cause.as_deref(),
        Some("An error occurred while executing the state 'W' (entered at the event id #2). The SecondsPath parameter references a negative value: $.s == -1")
    );
}

#[test]
fn execution_timeout_times_the_execution_out() {
    let outcome = run(
        json!({"TimeoutSeconds": 10, "StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": true}}}),
        json!({}),
    );
    assert_eq!(outcome.status, ExecutionStatus::TimedOut);
    assert_eq!(outcome.finished_at.unix_millis() - START, 10_000);
    assert_eq!(event_types(&outcome).last(), Some(&"ExecutionTimedOut"));
}

#[test]
fn the_execution_cap_times_out_a_year_long_wait_before_the_machine_timeout() {
    let year = 365 * 86_400;
    let capped = RunOptions {
        limits: Limits::default().capping_executions_at(year),
        ..options()
    };
    // A Wait past the cap, with no TimeoutSeconds: timed out at the cap.
    let waits = json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 400 * 86_400, "End": true}}});
    let outcome = driver::run(
        &machine(waits.clone()),
        json!({}),
        &capped,
        &mut driver::NoTasks,
    );
    assert_eq!(outcome.status, ExecutionStatus::TimedOut);
    assert_eq!(
        outcome.finished_at.unix_millis() - START,
        year as i64 * 1000
    );
    assert_eq!(event_types(&outcome).last(), Some(&"ExecutionTimedOut"));
    assert_eq!(outcome.error.as_deref(), Some("States.Timeout"));
    // The machine's TimeoutSeconds still wins when it comes first.
    let sooner = json!({"TimeoutSeconds": 10, "StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 400 * 86_400, "End": true}}});
    let outcome = driver::run(&machine(sooner), json!({}), &capped, &mut driver::NoTasks);
    assert_eq!(outcome.finished_at.unix_millis() - START, 10_000);
    // Without a cap the Wait runs its course.
    let outcome = run(waits, json!({}));
    assert_eq!(outcome.status, ExecutionStatus::Succeeded);
}

#[test]
fn payload_over_the_limit_fails_with_data_limit_exceeded() {
    let big = "x".repeat(300 * 1024);
    let outcome = run(
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"big": big}, "End": true}}}),
        json!({}),
    );
    assert_eq!(outcome.status, ExecutionStatus::Failed);
    assert_eq!(outcome.error.as_deref(), Some("States.DataLimitExceeded"));
}

#[test]
fn history_limit_fails_a_runaway_loop() {
    let machine = machine(json!({"StartAt": "Loop", "States": {
        "Loop": {"Type": "Pass", "Next": "Again"},
        "Again": {"Type": "Choice", "Choices": [{"Variable": "$.stop", "IsPresent": true, "Next": "Done"}], "Default": "Loop"},
        "Done": {"Type": "Succeed"}
    }}));
    let mut options = options();
    options.limits.max_history_events = 100;
    let outcome = driver::run(&machine, json!({}), &options, &mut driver::NoTasks);
    assert_eq!(outcome.status, ExecutionStatus::Failed);
    assert_eq!(outcome.error.as_deref(), Some("States.Runtime"));
    assert!(outcome.history.len() <= 103, "{}", outcome.history.len());
}

#[test]
fn choice_without_a_match_and_without_default_fails_with_no_choice_matched() {
    let outcome = run(
        json!({"StartAt": "C", "States": {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "NumericEquals": 1, "Next": "D"}]},
            "D": {"Type": "Succeed"}
        }}),
        json!({"x": 2}),
    );
    assert_eq!(outcome.error.as_deref(), Some("States.NoChoiceMatched"));
}

#[test]
fn context_object_exposes_execution_and_state() {
    let outcome = run(
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {
            "name.$": "$$.Execution.Name", "input.$": "$$.Execution.Input", "state.$": "$$.State.Name",
            "machine.$": "$$.StateMachine.Name", "start.$": "$$.Execution.StartTime"
        }, "End": true}}}),
        json!({"k": "v"}),
    );
    assert_eq!(
        outcome.output,
        Some(
            json!({"name": "exec-1", "input": {"k": "v"}, "state": "P", "machine": "test-machine",
                    "start": "2023-11-14T22:13:20.000Z"})
        )
    );
}

fn clock(seconds: i64) -> Clock {
    Clock {
        now: Timestamp::from_unix_millis(START + seconds * 1000),
        seed: seconds as u64,
        entropy: [seconds as u8; 32],
    }
}

#[test]
fn a_snapshot_survives_serialization_and_stale_events_change_nothing() {
    let machine = machine(json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "TimeoutSeconds": 30, "Next": "Done"},
        "Done": {"Type": "Pass", "End": true}
    }}));
    let info = ExecutionInfo::example("m", "e", Timestamp::from_unix_millis(START));
    let (snapshot, output) =
        interpreter::start(&machine, info, json!({"a": 1}), Limits::default(), clock(0));
    let task = output
        .commands
        .iter()
        .find_map(|c| match c {
            Command::InvokeTask(t) => Some(t.task),
            _ => None,
        })
        .expect("the task is invoked");
    assert!(
        output
            .commands
            .iter()
            .any(|c| matches!(c, Command::StartTimer { .. })),
        "timeout timer"
    );

    // As the durable engine does: persist, forget, load.
    let text = serde_json::to_string(&snapshot).expect("serializes");
    let mut snapshot: Snapshot = serde_json::from_str(&text).expect("deserializes");

    let stale = interpreter::step(
        &machine,
        &mut snapshot,
        Event::TaskSucceeded {
            task: task + 99,
            output: json!(0),
        },
        clock(1),
    );
    assert!(stale.history.is_empty() && stale.commands.is_empty());

    let done = interpreter::step(
        &machine,
        &mut snapshot,
        Event::TaskSucceeded {
            task,
            output: json!({"r": 2}),
        },
        clock(2),
    );
    assert_eq!(snapshot.status, ExecutionStatus::Succeeded);
    assert!(
        done.commands
            .iter()
            .any(|c| matches!(c, Command::CancelTimer { .. })),
        "timeout timer cancelled"
    );
    assert!(done
        .commands
        .iter()
        .any(|c| matches!(c, Command::Finish(f) if f.output == Some(json!({"r": 2})))));

    // A duplicate delivery of the same result after the end changes nothing.
    let again = interpreter::step(
        &machine,
        &mut snapshot,
        Event::TaskSucceeded {
            task,
            output: json!({"r": 3}),
        },
        clock(3),
    );
    assert!(again.history.is_empty() && again.commands.is_empty());
}

#[test]
fn stop_aborts_a_waiting_execution() {
    let machine = machine(
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}}),
    );
    let info = ExecutionInfo::example("m", "e", Timestamp::from_unix_millis(START));
    let (mut snapshot, _) =
        interpreter::start(&machine, info, json!({}), Limits::default(), clock(0));
    let out = interpreter::step(
        &machine,
        &mut snapshot,
        Event::Stop {
            error: Some("Bye".into()),
            cause: None,
        },
        clock(5),
    );
    assert_eq!(snapshot.status, ExecutionStatus::Aborted);
    assert_eq!(
        out.history.last().map(|e| e.event_type.as_str()),
        Some("ExecutionAborted")
    );
    assert!(out
        .commands
        .iter()
        .any(|c| matches!(c, Command::CancelTimer { .. })));
}

#[test]
fn a_runaway_loop_inside_a_distributed_map_iteration_is_stopped() {
    let machine = machine(json!({"StartAt": "M", "States": {"M": {"Type": "Map",
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "Loop", "States": {
                "Loop": {"Type": "Pass", "Next": "Again"},
                "Again": {"Type": "Choice", "Choices": [{"Variable": "$.stop", "IsPresent": true, "Next": "Done"}], "Default": "Loop"},
                "Done": {"Type": "Succeed"}}},
        "End": true}}}));
    let mut options = options();
    options.limits.max_history_events = 1000;
    let outcome = driver::run(&machine, json!([{}]), &options, &mut driver::NoTasks);
    assert_eq!(outcome.status, ExecutionStatus::Failed);
    assert_eq!(outcome.error.as_deref(), Some("States.Runtime"));
}

#[test]
fn map_run_started_names_its_map_run_as_aws_does() {
    let definition = json!({"StartAt": "First", "States": {
        "First": {"Type": "Map", "Label": "firstRun",
            "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
            "ResultPath": null, "Next": "Second Map"},
        "Second Map": {"Type": "Map",
            "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "Q", "States": {"Q": {"Type": "Pass", "End": true}}},
            "End": true}}});
    let arns = |outcome: &Outcome| -> Vec<String> {
        outcome
            .history
            .iter()
            .filter(|e| e.event_type == "MapRunStarted")
            .map(|e| {
                e.details
                    .map_run_arn
                    .clone()
                    .expect("MapRunStarted names its Map Run")
            })
            .collect()
    };
    let outcome = run(definition.clone(), json!([1, 2]));
    assert_eq!(outcome.status, ExecutionStatus::Succeeded);
    let names = arns(&outcome);
    assert_eq!(names.len(), 2, "{names:?}");
    let prefix = "arn:aws:states:us-east-1:123456789012:mapRun:test-machine/";
    let first = names[0].strip_prefix(prefix).expect("AWS's shape");
    let (label, id) = first.split_once(':').expect("label:id");
    assert_eq!(label, "firstRun", "Label names the run");
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let second = names[1].strip_prefix(prefix).expect("AWS's shape");
    assert!(
        second.starts_with("SecondMap:"),
        "no Label: the state's name made valid: {second}"
    );
    assert_ne!(
        first.split(':').nth(1),
        second.split(':').nth(1),
        "each run its own id"
    );
    assert_eq!(
        arns(&run(definition, json!([1, 2]))),
        names,
        "a replay names the same runs"
    );
    let rendered = serde_json::to_value(
        &outcome
            .history
            .iter()
            .find(|e| e.event_type == "MapRunStarted")
            .expect("started")
            .details,
    )
    .expect("json");
    assert_eq!(rendered, json!({"mapRunArn": names[0]}));
}

/// The Map Run states a step reports, as (status, running, succeeded, failed).
fn map_runs(output: &interpreter::Output) -> Vec<(MapRunStatus, u64, u64, u64)> {
    output
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::MapRun(run) => Some((run.status, run.running, run.succeeded, run.failed)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_distributed_map_reports_its_map_run_as_it_changes() {
    let machine = machine(json!({"StartAt": "M", "States": {"M": {"Type": "Map",
        "MaxConcurrency": 2, "ToleratedFailureCount": 0,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true}}},
        "End": true}}}));
    let info = ExecutionInfo::example("m", "e", Timestamp::from_unix_millis(START));
    let (mut snapshot, output) = interpreter::start(
        &machine,
        info,
        json!([1, 2, 3]),
        Limits::default(),
        clock(0),
    );
    assert_eq!(map_runs(&output), vec![(MapRunStatus::Running, 2, 0, 0)]);
    let tasks: Vec<u64> = output
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::InvokeTask(t) => Some(t.task),
            _ => None,
        })
        .collect();
    let run = output
        .commands
        .iter()
        .find_map(|c| match c {
            Command::MapRun(run) => Some(run.clone()),
            _ => None,
        })
        .expect("reported");
    assert_eq!(
        (run.total, run.max_concurrency, run.tolerated_failure_count),
        (3, 2, 0)
    );
    assert_eq!(run.pending(), 1);

    let done = interpreter::step(
        &machine,
        &mut snapshot,
        Event::TaskSucceeded {
            task: tasks[0],
            output: json!("one"),
        },
        clock(1),
    );
    assert_eq!(
        map_runs(&done),
        vec![(MapRunStatus::Running, 2, 1, 0)],
        "the third item took the first's place"
    );
    let failed = interpreter::step(
        &machine,
        &mut snapshot,
        Event::TaskFailed {
            task: tasks[1],
            error: "Boom".into(),
            cause: None,
        },
        clock(2),
    );
    assert_eq!(
        map_runs(&failed),
        vec![(MapRunStatus::Failed, 0, 1, 1)],
        "past the tolerance: the run fails and its iterations stop"
    );
    assert_eq!(snapshot.status, ExecutionStatus::Failed);
}

#[test]
fn a_distributed_map_inside_distributed_iterations_keeps_no_map_run_of_its_own() {
    let inner = json!({"Type": "Map",
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
        "End": true});
    let machine = machine(
        json!({"StartAt": "Outer", "States": {"Outer": {"Type": "Map",
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "Inner", "States": {"Inner": inner}},
        "End": true}}}),
    );
    let info = ExecutionInfo::example("m", "e", Timestamp::from_unix_millis(START));
    let (_, output) = interpreter::start(
        &machine,
        info,
        json!([[1, 2], [3]]),
        Limits::default(),
        clock(0),
    );
    let arns: std::collections::BTreeSet<String> = output
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::MapRun(run) => Some(run.arn.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(arns.len(), 1, "the outer run only: {arns:?}");
    assert_eq!(
        map_runs(&output).last().map(|r| r.0),
        Some(MapRunStatus::Succeeded)
    );
}

// ------------------------------------------------------------------ workflow variables

/// The `assignedVariables` of the Exited event of `state`.
fn assigned(outcome: &Outcome, state: &str) -> Option<Value> {
    outcome
        .history
        .iter()
        .find(|e| e.event_type.ends_with("StateExited") && e.details.name.as_deref() == Some(state))
        .and_then(|e| e.details.assigned_variables.clone())
        .map(Value::Object)
}

#[test]
fn assignments_of_one_state_read_the_values_from_before_it() {
    let outcome = run(
        json!({"StartAt": "Init", "States": {
            "Init": {"Type": "Pass", "Assign": {"a": 1, "b": 2}, "Next": "Swap"},
            "Swap": {"Type": "Pass", "Assign": {"a.$": "$b", "b.$": "$a"},
                     "OutputPath": "$a", "Next": "Show"},
            "Show": {"Type": "Pass", "Parameters": {"a.$": "$a", "b.$": "$b", "in.$": "$"}, "End": true}
        }}),
        json!({}),
    );
    assert_eq!(outcome.status, ExecutionStatus::Succeeded, "{outcome:?}");
    // OutputPath of the assigning state still sees the old `a`.
    assert_eq!(outcome.output, Some(json!({"a": 2, "b": 1, "in": 1})));
    assert_eq!(
        assigned(&outcome, "Swap"),
        Some(json!({"a": "2", "b": "1"}))
    );
    assert_eq!(assigned(&outcome, "Show"), None);
    let exited = outcome
        .history
        .iter()
        .find(|e| e.event_type == "PassStateExited")
        .map(|e| serde_json::to_value(&e.details).expect("serializes"));
    assert_eq!(
        exited
            .as_ref()
            .map(|d| d["assignedVariablesDetails"].clone()),
        Some(json!({"truncated": false}))
    );
}

#[test]
fn dollar_in_assign_is_the_result_after_result_selector_for_a_task() {
    let resource = "arn:aws:lambda:us-east-1:123456789012:function:f";
    let mut script = Script::default().on(
        resource,
        vec![TaskOutcome::Succeeded(json!({"Payload": {"total": 10}}))],
    );
    let outcome = run_with(
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": resource,
                  "ResultSelector": {"t.$": "$.Payload.total"},
                  "ResultPath": "$.r",
                  "Assign": {"total.$": "$.t", "input.$": "States.JsonToString($)"},
                  "Next": "Use"},
            "Use": {"Type": "Pass", "Parameters": {"total.$": "$total", "input.$": "$input"}, "End": true}
        }}),
        json!({"order": 1}),
        &mut script,
    );
    assert_eq!(outcome.status, ExecutionStatus::Succeeded, "{outcome:?}");
    assert_eq!(
        outcome.output,
        Some(json!({"total": 10, "input": "{\"t\":10}"}))
    );
}

#[test]
fn choice_takes_the_matching_rules_assign_or_the_states_on_default() {
    let definition = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice",
              "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "Out",
                           "Assign": {"how": "rule", "n.$": "$.n"}}],
              "Default": "Out",
              "Assign": {"how": "default"}},
        "Out": {"Type": "Pass", "Parameters": {"how.$": "$how"}, "End": true}
    }});
    let matched = run(definition.clone(), json!({"n": 1}));
    assert_eq!(matched.output, Some(json!({"how": "rule"})), "{matched:?}");
    let defaulted = run(definition, json!({"n": 2}));
    assert_eq!(
        defaulted.output,
        Some(json!({"how": "default"})),
        "{defaulted:?}"
    );
}

#[test]
fn variables_feed_choice_wait_fail_and_map_fields() {
    let outcome = run(
        json!({"StartAt": "Set", "States": {
            "Set": {"Type": "Pass",
                    "Assign": {"limit": 2, "wait": 3, "items": [1, 2, 3], "max": "1"},
                    "Next": "Check"},
            "Check": {"Type": "Choice",
                      "Choices": [{"Variable": "$limit", "NumericLessThanPath": "$wait", "Next": "Wait"}],
                      "Default": "Boom"},
            "Wait": {"Type": "Wait", "SecondsPath": "$wait", "Next": "Each"},
            "Each": {"Type": "Map", "ItemsPath": "$items", "MaxConcurrencyPath": "$max",
                     "ItemSelector": {"v.$": "$$.Map.Item.Value", "limit.$": "$limit"},
                     "ItemProcessor": {"StartAt": "Inner", "States": {
                         "Inner": {"Type": "Pass", "Parameters": {"over.$": "States.MathAdd($.v, $limit)"}, "End": true}
                     }},
                     "Next": "Boom"},
            "Boom": {"Type": "Fail", "ErrorPath": "$items[0]", "CausePath": "States.Format('{} items', States.ArrayLength($items))"}
        }}),
        json!({}),
    );
    assert_eq!(outcome.status, ExecutionStatus::Failed, "{outcome:?}");
    assert_eq!(outcome.error.as_deref(), Some("1"));
    assert_eq!(outcome.cause.as_deref(), Some("3 items"));
    assert_eq!(
        outcome.finished_at.unix_millis() - START,
        3_000,
        "waited $wait seconds"
    );
}

#[test]
fn inner_scopes_read_outer_variables_and_keep_their_own() {
    let outcome = run(
        json!({"StartAt": "Outer", "States": {
            "Outer": {"Type": "Pass", "Assign": {"x": 1}, "Next": "Par"},
            "Par": {"Type": "Parallel", "Branches": [
                {"StartAt": "B1", "States": {
                    "B1": {"Type": "Pass", "Assign": {"inner.$": "States.MathAdd($x, 10)"}, "Next": "B2"},
                    "B2": {"Type": "Pass", "Parameters": {"x.$": "$x", "inner.$": "$inner"}, "End": true}
                }},
                {"StartAt": "M", "States": {
                    "M": {"Type": "Map", "ItemsPath": "$.items",
                          "ItemProcessor": {"StartAt": "I", "States": {
                              "I": {"Type": "Pass", "Assign": {"item.$": "$"}, "Next": "J"},
                              "J": {"Type": "Pass", "Parameters": {"sum.$": "States.MathAdd($item, $x)"}, "End": true}
                          }},
                          "End": true}
                }}
            ], "Next": "After"},
            "After": {"Type": "Pass", "Parameters": {"x.$": "$x", "branches.$": "$"}, "Next": "Leak"},
            "Leak": {"Type": "Pass", "Parameters": {"inner.$": "$inner"}, "End": true}
        }}),
        json!({"items": [5, 6]}),
    );
    assert_eq!(outcome.status, ExecutionStatus::Failed, "{outcome:?}");
    let after = outcome
        .history
        .iter()
        .find(|e| e.event_type == "PassStateExited" && e.details.name.as_deref() == Some("After"))
        .and_then(|e| e.details.output.clone())
        .expect("After exited");
    assert_eq!(
        serde_json::from_str::<Value>(&after).expect("json"),
        json!({"x": 1, "branches": [{"x": 1, "inner": 11}, [{"sum": 6}, {"sum": 7}]]})
    );
    // What a branch assigned does not exist outside it.
    assert_eq!(outcome.error.as_deref(), Some("States.Runtime"));
    let cause = outcome.cause.unwrap_or_default();
    assert!(
        cause.starts_with("An error occurred while executing the state 'Leak'")
            && cause.contains(
                "The JSONPath '$inner' specified for the field 'inner.$' could not be found"
            ),
        "{cause}"
    );
}

#[test]
fn a_catchers_assign_reads_the_error_output() {
    let resource = "arn:aws:states:::lambda:invoke";
    let mut script = Script::default().on(resource, vec![failed("Oops", "it broke")]);
    let outcome = run_with(
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": resource, "Assign": {"never": 1},
                  "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": null, "Next": "Handle",
                             "Assign": {"err.$": "$.Error", "why.$": "$.Cause"}}],
                  "End": true},
            "Handle": {"Type": "Pass", "Parameters": {"err.$": "$err", "why.$": "$why", "in.$": "$"}, "Next": "Never"},
            "Never": {"Type": "Pass", "InputPath": "$never", "End": true}
        }}),
        json!({"a": 1}),
        &mut script,
    );
    assert_eq!(
        assigned(&outcome, "T"),
        Some(json!({"err": "\"Oops\"", "why": "\"it broke\""}))
    );
    // The state's own Assign applies only when it succeeds.
    assert_eq!(outcome.status, ExecutionStatus::Failed, "{outcome:?}");
    assert_eq!(
        outcome.cause.as_deref(),
        Some("An error occurred while executing the state 'Never' (entered at the event id #9). Invalid path '$never' : No results for path: $never")
    );
    let handled = outcome
        .history
        .iter()
        .find(|e| e.event_type == "PassStateExited" && e.details.name.as_deref() == Some("Handle"))
        .and_then(|e| e.details.output.clone())
        .expect("Handle exited");
    assert_eq!(
        serde_json::from_str::<Value>(&handled).expect("json"),
        json!({"err": "Oops", "why": "it broke", "in": {"a": 1}})
    );
}

#[test]
fn a_missing_variable_in_assign_is_not_caught_by_states_all() {
    let outcome = run(
        json!({"StartAt": "P", "States": {
            "P": {"Type": "Pass", "Assign": {"y.$": "$nope.field"}, "End": true}
        }}),
        json!({}),
    );
    assert_eq!(outcome.status, ExecutionStatus::Failed);
    assert_eq!(outcome.error.as_deref(), Some("States.Runtime"));
    assert_eq!(
        outcome.cause.as_deref(),
        Some("An error occurred while executing the state 'P' (entered at the event id #2). The JSONPath '$nope.field' specified for the field 'y.$' could not be found in the input '{}'")
    );
}

#[test]
fn variables_survive_a_snapshot_round_trip_and_leave_plain_snapshots_unchanged() {
    let machine = machine(json!({"StartAt": "Set", "States": {
        "Set": {"Type": "Pass", "Assign": {"kept": {"deep": [1, 2]}}, "Next": "Wait"},
        "Wait": {"Type": "Wait", "Seconds": 5, "Next": "Use"},
        "Use": {"Type": "Pass", "Parameters": {"v.$": "$kept.deep[1]"}, "End": true}
    }}));
    let info = ExecutionInfo::example("m", "e", Timestamp::from_unix_millis(START));
    let (snapshot, output) = interpreter::start(
        &machine,
        info.clone(),
        json!({}),
        Limits::default(),
        clock(0),
    );
    let timer = output
        .commands
        .iter()
        .find_map(|c| match c {
            Command::StartTimer { timer, .. } => Some(*timer),
            _ => None,
        })
        .expect("the wait starts a timer");
    let text = serde_json::to_string(&snapshot).expect("serializes");
    assert!(text.contains("\"kept\""), "{text}");
    let mut snapshot: Snapshot = serde_json::from_str(&text).expect("deserializes");
    interpreter::step(
        &machine,
        &mut snapshot,
        Event::TimerFired { timer },
        clock(5),
    );
    assert_eq!(snapshot.status, ExecutionStatus::Succeeded);

    // A machine without Assign keeps the snapshot shape it had before variables existed.
    let plain = self::machine(json!({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 5, "End": true}
    }}));
    let (snapshot, _) = interpreter::start(&plain, info, json!({}), Limits::default(), clock(0));
    let text = serde_json::to_string(&snapshot).expect("serializes");
    assert!(!text.contains("variables"), "{text}");
}

fn invoked(output: &interpreter::Output) -> cairn_asl::interpreter::TaskRequest {
    output
        .commands
        .iter()
        .find_map(|c| match c {
            Command::InvokeTask(t) => Some(t.clone()),
            _ => None,
        })
        .expect("a task is invoked")
}

#[test]
fn callback_tasks_get_a_token_in_the_context_object_and_wait_after_submission() {
    let machine = machine(json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
              "Parameters": {"FunctionName": "f", "Payload": {"token.$": "$$.Task.Token"}},
              "Next": "After"},
        "After": {"Type": "Pass", "Parameters": {"context.$": "$$"}, "End": true}
    }}));
    let info = ExecutionInfo::example("m", "e", Timestamp::from_unix_millis(START));
    let (mut snapshot, output) = interpreter::start(
        &machine,
        info.clone(),
        json!({}),
        Limits::default(),
        clock(0),
    );
    let request = invoked(&output);
    let token = request
        .token
        .clone()
        .expect("a callback task carries its token");
    assert_eq!(
        token,
        cairn_asl::callback::token(&[0; 32], &info.execution_arn, request.task)
    );
    assert_eq!(request.input["Payload"]["token"], token.as_str());

    interpreter::step(
        &machine,
        &mut snapshot,
        Event::TaskStarted { task: request.task },
        clock(1),
    );
    let submitted = interpreter::step(
        &machine,
        &mut snapshot,
        Event::TaskSubmitted {
            task: request.task,
            output: json!({"StatusCode": 200}),
        },
        clock(2),
    );
    assert_eq!(submitted.history[0].event_type, "TaskSubmitted");
    assert_eq!(
        snapshot.status,
        ExecutionStatus::Running,
        "still waiting for the token"
    );
    let done = interpreter::step(
        &machine,
        &mut snapshot,
        Event::TaskSucceeded {
            task: request.task,
            output: json!({"ok": true}),
        },
        clock(3),
    );
    // `$$.Task` exists only inside the callback task's Parameters.
    let finish = done
        .commands
        .iter()
        .find_map(|c| match c {
            Command::Finish(f) => Some(f.clone()),
            _ => None,
        })
        .expect("finished");
    assert_eq!(finish.status, ExecutionStatus::Succeeded);
    let context = &finish.output.expect("output")["context"];
    assert_eq!(context["State"]["Name"], "After");
    assert!(
        context.get("Task").is_none(),
        "no $$.Task outside the task: {context}"
    );
}

#[test]
fn request_response_tasks_have_no_token() {
    let machine = machine(json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true}
    }}));
    let info = ExecutionInfo::example("m", "e", Timestamp::from_unix_millis(START));
    let (_, output) = interpreter::start(&machine, info, json!({}), Limits::default(), clock(0));
    assert_eq!(invoked(&output).token, None);
}

#[test]
fn activity_tasks_record_activity_events_and_heartbeat_timeouts_cancel_the_task() {
    let activity = "arn:aws:states:us-east-1:123456789012:activity:Work";
    let machine = machine(json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": activity, "HeartbeatSeconds": 5,
              "Catch": [{"ErrorEquals": ["States.HeartbeatTimeout"], "Next": "Late"}], "End": true},
        "Late": {"Type": "Pass", "End": true}
    }}));
    let info = ExecutionInfo::example("m", "e", Timestamp::from_unix_millis(START));
    let (mut snapshot, output) =
        interpreter::start(&machine, info, json!({"n": 1}), Limits::default(), clock(0));
    let request = invoked(&output);
    assert!(request.token.is_some());
    let scheduled = output
        .history
        .iter()
        .find(|e| e.event_type == "ActivityScheduled")
        .expect("ActivityScheduled");
    assert_eq!(scheduled.details.resource.as_deref(), Some(activity));
    assert_eq!(scheduled.details.input.as_deref(), Some(r#"{"n":1}"#));
    assert_eq!(scheduled.details.heartbeat_in_seconds, Some(5));
    assert_eq!(scheduled.details.resource_type, None);

    let started = interpreter::step(
        &machine,
        &mut snapshot,
        Event::ActivityStarted {
            task: request.task,
            worker_name: Some("w1".into()),
        },
        clock(1),
    );
    assert_eq!(started.history[0].event_type, "ActivityStarted");
    assert_eq!(
        started.history[0].details.worker_name.as_deref(),
        Some("w1")
    );
    let timed_out = interpreter::step(
        &machine,
        &mut snapshot,
        Event::TaskHeartbeatTimedOut { task: request.task },
        clock(7),
    );
    assert_eq!(timed_out.history[0].event_type, "ActivityTimedOut");
    assert_eq!(
        timed_out.history[0].details.error.as_deref(),
        Some("States.HeartbeatTimeout")
    );
    assert!(
        timed_out
            .commands
            .iter()
            .any(|c| *c == Command::CancelTask { task: request.task }),
        "the driver learns the task is over, so its token stops working"
    );
    assert_eq!(snapshot.status, ExecutionStatus::Succeeded);
}

#[test]
fn states_timeout_also_catches_a_missed_heartbeat() {
    let activity = "arn:aws:states:us-east-1:123456789012:activity:Work";
    let run = |catch: &str, event: fn(u64) -> Event| {
        let machine = machine(json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": activity, "HeartbeatSeconds": 5, "TimeoutSeconds": 60,
                  "Catch": [{"ErrorEquals": [catch], "Next": "Caught"}], "End": true},
            "Caught": {"Type": "Pass", "End": true}
        }}));
        let info = ExecutionInfo::example("m", "e", Timestamp::from_unix_millis(START));
        let (mut snapshot, output) =
            interpreter::start(&machine, info, json!({}), Limits::default(), clock(0));
        let task = invoked(&output).task;
        let ended = interpreter::step(&machine, &mut snapshot, event(task), clock(7));
        let caught = ended
            .history
            .iter()
            .any(|e| e.event_type == "PassStateEntered");
        (caught, snapshot.status)
    };
    let heartbeat = |task| Event::TaskHeartbeatTimedOut { task };
    assert_eq!(
        run("States.Timeout", heartbeat),
        (true, ExecutionStatus::Succeeded)
    );
    assert_eq!(
        run("States.HeartbeatTimeout", heartbeat),
        (true, ExecutionStatus::Succeeded)
    );
    assert_eq!(
        run("States.TaskFailed", heartbeat),
        (false, ExecutionStatus::Failed)
    );
}

/// A reported state visit: `(state, type, entered event, parent's entered event, error)`.
type Visit = (String, &'static str, u64, Option<u64>, Option<String>);

/// The state visits a step reports.
fn visits(output: &interpreter::Output) -> Vec<Visit> {
    output
        .states
        .iter()
        .map(|v| {
            (
                v.state.clone(),
                v.state_type,
                v.entered_event,
                v.parent_entered_event,
                v.error.clone(),
            )
        })
        .collect()
}

#[test]
fn steps_report_the_state_visits_they_end_for_tracing() {
    let machine = machine(json!({"StartAt": "Fan", "States": {
        "Fan": {"Type": "Parallel", "Next": "Call", "Branches": [
            {"StartAt": "Inner", "States": {"Inner": {"Type": "Pass", "End": true}}}
        ]},
        "Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                 "Parameters": {"FunctionName": "f"}, "End": true}
    }}));
    let info = ExecutionInfo::example("m", "e", Timestamp::from_unix_millis(START));
    let (mut snapshot, output) =
        interpreter::start(&machine, info, json!({}), Limits::default(), clock(0));
    let reported = visits(&output);
    let fan = output
        .history
        .iter()
        .find(|e| e.event_type == "ParallelStateEntered")
        .expect("Fan entered")
        .id;
    let inner = output
        .history
        .iter()
        .find(|e| e.event_type == "PassStateEntered")
        .expect("Inner entered")
        .id;
    assert_eq!(
        reported,
        vec![
            ("Inner".to_string(), "Pass", inner, Some(fan), None),
            ("Fan".to_string(), "Parallel", fan, None, None),
        ]
    );
    // The Task's attempts carry its Entered event; its visit ends with the failure
    // that ends the execution.
    let task = invoked(&output);
    let call = output
        .history
        .iter()
        .find(|e| e.event_type == "TaskStateEntered")
        .expect("Call entered")
        .id;
    assert_eq!(task.entered_event, call);
    let failed = interpreter::step(
        &machine,
        &mut snapshot,
        Event::TaskFailed {
            task: task.task,
            error: "Boom".to_string(),
            cause: None,
        },
        clock(1),
    );
    assert_eq!(
        visits(&failed),
        vec![(
            "Call".to_string(),
            "Task",
            call,
            None,
            Some("Boom".to_string())
        )]
    );
    assert_eq!(
        failed.states[0].entered_at,
        Timestamp::from_unix_millis(START)
    );
}

#[test]
fn a_stop_ends_the_open_visits() {
    let machine = machine(json!({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 60, "End": true}
    }}));
    let info = ExecutionInfo::example("m", "e", Timestamp::from_unix_millis(START));
    let (mut snapshot, output) =
        interpreter::start(&machine, info, json!({}), Limits::default(), clock(0));
    assert!(output.states.is_empty(), "the Wait is still open");
    let stopped = interpreter::step(
        &machine,
        &mut snapshot,
        Event::Stop {
            error: None,
            cause: None,
        },
        clock(5),
    );
    assert_eq!(
        visits(&stopped),
        vec![(
            "W".to_string(),
            "Wait",
            2,
            None,
            Some("ABORTED".to_string())
        )]
    );
}

/// A transition budget pauses an execution without changing what it does: run with a
/// budget per step and `Resume` until the end, it records the same events, ids dense,
/// and ends with the same output as a run without one.
#[test]
fn a_transition_budget_paces_an_execution_without_changing_it() {
    let machine = machine(json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "Both"},
        "Both": {"Type": "Parallel", "ResultPath": "$.both", "Next": "Each", "Branches": [
            {"StartAt": "L1", "States": {"L1": {"Type": "Pass", "Next": "L2"}, "L2": {"Type": "Pass", "End": true}}},
            {"StartAt": "R1", "States": {"R1": {"Type": "Pass", "End": true}}}
        ]},
        "Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2, "Next": "Pick",
                 "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}}},
        "Pick": {"Type": "Choice", "Choices": [{"Variable": "$[0]", "IsPresent": true, "Next": "Done"}], "Default": "Done"},
        "Done": {"Type": "Succeed"}
    }}));
    let info = ExecutionInfo::example("m", "e", Timestamp::from_unix_millis(START));
    let input = json!({"items": [1, 2, 3]});
    let (free_snapshot, free) = interpreter::start(
        &machine,
        info.clone(),
        input.clone(),
        Limits::default(),
        clock(0),
    );
    assert_eq!(free_snapshot.status, ExecutionStatus::Succeeded);
    assert!(!free.paused);
    let entered = free
        .history
        .iter()
        .filter(|e| e.event_type.ends_with("StateEntered"))
        .count() as u64;
    assert_eq!(
        free.transitions, entered,
        "every entered state is a transition"
    );

    for budget in [0, 1, 2, 3] {
        let (mut snapshot, first) = interpreter::start_within(
            &machine,
            info.clone(),
            input.clone(),
            Limits::default(),
            clock(0),
            Some(budget),
        );
        let mut history = first.history;
        let mut transitions = first.transitions;
        let mut paused = first.paused;
        let mut steps = 0;
        while paused {
            steps += 1;
            assert!(steps < 100, "budget {budget}: never ends");
            // A budget of 0 makes no transition: give the resumes at least one.
            let out = interpreter::step_within(
                &machine,
                &mut snapshot,
                Event::Resume,
                clock(0),
                Some(budget.max(1)),
            );
            assert!(out.transitions <= budget.max(1));
            transitions += out.transitions;
            paused = out.paused;
            history.extend(out.history);
        }
        assert_eq!(
            snapshot.status,
            ExecutionStatus::Succeeded,
            "budget {budget}"
        );
        assert_eq!(transitions, free.transitions, "budget {budget}");
        let ids: Vec<u64> = history.iter().map(|e| e.id).collect();
        assert_eq!(ids, (1..=history.len() as u64).collect::<Vec<_>>());
        let mut types: Vec<&str> = history.iter().map(|e| e.event_type.as_str()).collect();
        let mut free_types: Vec<&str> =
            free.history.iter().map(|e| e.event_type.as_str()).collect();
        types.sort();
        free_types.sort();
        assert_eq!(types, free_types, "budget {budget}");
        assert_eq!(
            history.last().map(|e| &e.details.output),
            free.history.last().map(|e| &e.details.output)
        );
        // Resuming a finished or unpaused execution changes nothing.
        let out =
            interpreter::step_within(&machine, &mut snapshot, Event::Resume, clock(0), Some(1));
        assert!(out.history.is_empty() && !out.paused && out.transitions == 0);
    }
}

/// A paused execution still takes the events that arrive meanwhile: a task result is
/// recorded with its state's exit, and the next state waits for `Resume`.
#[test]
fn an_event_is_applied_with_no_budget_and_the_next_state_waits() {
    let machine = machine(json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "P"},
        "P": {"Type": "Pass", "End": true}
    }}));
    let info = ExecutionInfo::example("m", "e", Timestamp::from_unix_millis(START));
    let (mut snapshot, started) = interpreter::start_within(
        &machine,
        info,
        json!({}),
        Limits::default(),
        clock(0),
        Some(0),
    );
    assert!(started.paused);
    assert!(snapshot.is_paused());
    assert_eq!(started.transitions, 0);
    let types: Vec<&str> = started
        .history
        .iter()
        .map(|e| e.event_type.as_str())
        .collect();
    assert_eq!(types, ["ExecutionStarted"]);
    assert!(started.commands.is_empty());

    let resumed =
        interpreter::step_within(&machine, &mut snapshot, Event::Resume, clock(1), Some(1));
    let task = resumed
        .commands
        .iter()
        .find_map(|c| match c {
            Command::InvokeTask(t) => Some(t.task),
            _ => None,
        })
        .expect("the task is invoked once its state is entered");
    assert!(!resumed.paused, "blocked on the task, not on the budget");

    let done = interpreter::step_within(
        &machine,
        &mut snapshot,
        Event::TaskSucceeded {
            task,
            output: json!({"ok": true}),
        },
        clock(2),
        Some(0),
    );
    let types: Vec<&str> = done.history.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["TaskSucceeded", "TaskStateExited"]);
    assert!(done.paused);
    assert!(snapshot.is_paused());
    assert_eq!(snapshot.status, ExecutionStatus::Running);

    let end = interpreter::step_within(&machine, &mut snapshot, Event::Resume, clock(3), Some(5));
    let types: Vec<&str> = end.history.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        ["PassStateEntered", "PassStateExited", "ExecutionSucceeded"]
    );
    assert_eq!(snapshot.status, ExecutionStatus::Succeeded);
    assert!(!snapshot.is_paused());
}

// ---- JSONata -------------------------------------------------------------------------

#[test]
fn jsonata_task_arguments_output_assign_and_catch() {
    let definition = json!({"QueryLanguage": "JSONata", "StartAt": "Call", "States": {
        "Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                 "Arguments": {"id": "{% $states.input.id %}", "twice": "{% $states.input.n * 2 %}"},
                 "Assign": {"seen": "{% $states.result.echo.id %}"},
                 "Output": {"result": "{% $states.result %}", "input": "{% $states.input.n %}"},
                 "Next": "Fail"},
        "Fail": {"Type": "Task", "Resource": "arn:aws:states:::fail",
                 "Catch": [{"ErrorEquals": ["Boom"], "Next": "Done",
                            "Output": {"error": "{% $states.errorOutput.Error %}", "seen": "{% $seen %}",
                                       "before": "{% $states.input.input %}"}}],
                 "End": true},
        "Done": {"Type": "Succeed"}
    }});
    let mut script = Script::default().on("arn:aws:states:::fail", vec![failed("Boom", "x")]);
    let outcome = run_with(definition, json!({"id": "a", "n": 21}), &mut script);
    assert_eq!(outcome.status, ExecutionStatus::Succeeded, "{outcome:?}");
    assert_eq!(script.calls[0].input, json!({"id": "a", "twice": 42}));
    // The second task's input is the first one's Output.
    assert_eq!(
        script.calls[1].input,
        json!({"result": {"echo": {"id": "a", "twice": 42}}, "input": 21})
    );
    assert_eq!(
        outcome.output,
        Some(json!({"error": "Boom", "seen": "a", "before": 21}))
    );
}

#[test]
fn a_failed_jsonata_evaluation_records_evaluation_failed_and_can_be_caught() {
    let definition = json!({"QueryLanguage": "JSONata", "StartAt": "Call", "States": {
        "Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                 "Arguments": {"x": "{% $states.input.missing %}"},
                 "Catch": [{"ErrorEquals": ["States.QueryEvaluationError"], "Next": "Done"}],
                 "End": true},
        "Done": {"Type": "Pass", "End": true}
    }});
    let outcome = run(definition, json!({}));
    assert_eq!(outcome.status, ExecutionStatus::Succeeded);
    assert_eq!(
        event_types(&outcome),
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "EvaluationFailed",
            "TaskStateExited",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded"
        ]
    );
    let failed = &outcome.history[2].details;
    assert_eq!(failed.state.as_deref(), Some("Call"));
    assert_eq!(failed.location.as_deref(), Some("Arguments/x"));
    assert_eq!(failed.error.as_deref(), Some("States.QueryEvaluationError"));
    let output = outcome.output.unwrap_or_default();
    assert_eq!(output["Error"], json!("States.QueryEvaluationError"));
    assert_eq!(
        output["Cause"],
        json!(
            "An error occurred while executing the state 'Call' (entered at the event id #2). \
             The JSONata expression '$states.input.missing' specified for the field \
             'Arguments/x' returned nothing (undefined)."
        )
    );
    // The event serializes as AWS's evaluationFailedEventDetails.
    let text = serde_json::to_value(failed).unwrap_or_default();
    assert_eq!(text["location"], json!("Arguments/x"));
    assert_eq!(text["state"], json!("Call"));
}

#[test]
fn jsonata_clock_and_entropy_replay_the_same() {
    let definition = json!({"QueryLanguage": "JSONata", "StartAt": "P", "States": {
        "P": {"Type": "Pass", "Output": {"u": "{% $uuid() %}", "r": "{% $random() %}",
                                         "now": "{% $now() %}", "ms": "{% $millis() %}"},
              "End": true}
    }});
    let first = run(definition.clone(), json!({}));
    let second = run(definition, json!({}));
    assert_eq!(first.status, ExecutionStatus::Succeeded);
    assert_eq!(first.output, second.output);
    let output = first.output.unwrap_or_default();
    assert_eq!(output["ms"], json!(START));
    assert_eq!(
        output["now"],
        json!(Timestamp::from_unix_millis(START).to_rfc3339_millis())
    );
}

#[test]
fn variables_are_shared_between_jsonpath_and_jsonata_states_and_scoped_in_map() {
    let definition = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"base.$": "$.base"}, "Next": "B"},
        "B": {"Type": "Map", "QueryLanguage": "JSONata", "Items": "{% [1, 2] %}",
              "ItemProcessor": {"StartAt": "I", "States": {
                  "I": {"Type": "Pass", "QueryLanguage": "JSONata",
                        "Assign": {"inner": "{% $states.input %}"},
                        "Output": "{% $base + $states.input %}", "End": true}}},
              "Assign": {"total": "{% $sum($states.result) %}"},
              "Next": "C"},
        "C": {"Type": "Pass", "Parameters": {"total.$": "$total", "inner.$": "States.ArrayLength(States.Array($base))"},
              "End": true}
    }});
    let outcome = run(definition, json!({"base": 10}));
    assert_eq!(outcome.status, ExecutionStatus::Succeeded, "{outcome:?}");
    assert_eq!(outcome.output, Some(json!({"total": 23, "inner": 1})));
    // An iteration's own variable stays inside it.
    let leak = json!({"StartAt": "B", "States": {
        "B": {"Type": "Map", "QueryLanguage": "JSONata", "Items": "{% [1] %}",
              "ItemProcessor": {"StartAt": "I", "States": {
                  "I": {"Type": "Pass", "QueryLanguage": "JSONata",
                        "Assign": {"inner": 1}, "End": true}}},
              "Output": "{% $inner %}", "End": true}
    }});
    let outcome = run(leak, json!({}));
    assert_eq!(
        outcome.error.as_deref(),
        Some("States.QueryEvaluationError")
    );
}
