//! State transitions per second through the in-memory driver.
//!
//! `cargo bench -p cairn-asl` runs every workload; `cargo bench -p cairn-asl -- map`
//! only those whose name contains `map`. A small self-written harness (no criterion):
//! each definition is validated once, outside the timed loop; then warm-up, then
//! `SAMPLES` timed samples of a batch of executions sized to last about
//! `SAMPLE_TARGET`, and the median sample is reported. A transition is one
//! `*StateEntered` history event of the outcome.

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use cairn_asl::driver::{self, NoTasks, Outcome, RunOptions};
use cairn_asl::interpreter::{ExecutionInfo, Limits};
use cairn_asl::model::StateMachine;
use cairn_asl::timestamp::Timestamp;
use cairn_asl::validate::{validate, ValidateOptions};
use cairn_asl::ExecutionStatus;

const SAMPLES: usize = 11;
const SAMPLE_TARGET: Duration = Duration::from_millis(100);
const WARM_UP: Duration = Duration::from_millis(300);

struct Workload {
    name: &'static str,
    definition: Value,
    input: Value,
}

/// Ten Pass states in a row.
fn pass_chain() -> Workload {
    let mut states = serde_json::Map::new();
    for i in 1..=10 {
        let mut state = json!({ "Type": "Pass" });
        if i < 10 {
            state["Next"] = json!(format!("Pass{}", i + 1));
        } else {
            state["End"] = json!(true);
        }
        states.insert(format!("Pass{i}"), state);
    }
    Workload {
        name: "pass chain (10 Pass)",
        definition: json!({ "StartAt": "Pass1", "States": states }),
        input: json!({ "order": 42, "items": [1, 2, 3], "customer": { "name": "Ada" } }),
    }
}

/// Ten JSONata Pass states in a row, each with an `Output` expression that reads the
/// input and an `Assign` counter: the cost of JSONata against `pass_chain_assign`.
fn pass_chain_jsonata() -> Workload {
    let mut states = serde_json::Map::new();
    for i in 1..=10 {
        let mut state = json!({
            "Type": "Pass",
            "Output": "{% $states.input %}",
            "Assign": { "n": format!("{{% $n + {i} %}}"), "order": "{% $states.input.order %}" }
        });
        if i == 1 {
            state["Assign"] = json!({ "n": 0, "order": "{% $states.input.order %}" });
        }
        if i < 10 {
            state["Next"] = json!(format!("Pass{}", i + 1));
        } else {
            state["End"] = json!(true);
        }
        states.insert(format!("Pass{i}"), state);
    }
    Workload {
        name: "JSONata pass chain (10 Pass)",
        definition: json!({ "QueryLanguage": "JSONata", "StartAt": "Pass1", "States": states }),
        input: json!({ "order": 42, "items": [1, 2, 3], "customer": { "name": "Ada" } }),
    }
}

/// Ten Pass states in a row, each assigning a counter from the previous one's and a
/// field of the input: the cost of workflow variables against `pass_chain`.
fn pass_chain_assign() -> Workload {
    let mut states = serde_json::Map::new();
    for i in 1..=10 {
        let mut state = json!({
            "Type": "Pass",
            "Assign": { "n.$": format!("States.MathAdd($n, {i})"), "order.$": "$.order" }
        });
        if i == 1 {
            state["Assign"] = json!({ "n": 0, "order.$": "$.order" });
        }
        if i < 10 {
            state["Next"] = json!(format!("Pass{}", i + 1));
        } else {
            state["End"] = json!(true);
        }
        states.insert(format!("Pass{i}"), state);
    }
    Workload {
        name: "pass chain with Assign (10 Pass)",
        definition: json!({ "StartAt": "Pass1", "States": states }),
        input: json!({ "order": 42, "items": [1, 2, 3], "customer": { "name": "Ada" } }),
    }
}

/// A loop of one Pass (`States.MathAdd` counter) and ten Choice states of assorted
/// operators, run ten times round.
fn choice_loop() -> Workload {
    let mut states = serde_json::Map::new();
    states.insert(
        "Init".to_string(),
        json!({ "Type": "Pass", "Parameters": { "i": 0, "label": "loop", "limit": 10 }, "Next": "Inc" }),
    );
    states.insert(
        "Inc".to_string(),
        json!({
            "Type": "Pass",
            "Parameters": {
                "i.$": "States.MathAdd($.i, 1)",
                "label.$": "$.label",
                "limit.$": "$.limit"
            },
            "Next": "Check1"
        }),
    );
    // Each check either leaves the loop (only Check1, when the counter reaches the
    // limit) or falls through to the next; the last one goes back to Inc.
    let rules = [
        json!({ "Variable": "$.i", "NumericGreaterThanEqualsPath": "$.limit", "Next": "Done" }),
        json!({ "Variable": "$.i", "NumericLessThan": 0, "Next": "Done" }),
        json!({ "Variable": "$.label", "StringEquals": "stop", "Next": "Done" }),
        json!({ "Variable": "$.missing", "IsPresent": true, "Next": "Done" }),
        json!({ "Not": { "Variable": "$.i", "IsNumeric": true }, "Next": "Done" }),
        json!({ "And": [
            { "Variable": "$.i", "NumericGreaterThan": 100 },
            { "Variable": "$.label", "StringEquals": "loop" }
        ], "Next": "Done" }),
        json!({ "Or": [
            { "Variable": "$.i", "NumericEquals": -1 },
            { "Variable": "$.label", "StringMatches": "x*" }
        ], "Next": "Done" }),
        json!({ "Variable": "$.i", "NumericEqualsPath": "$.limit", "Next": "Done" }),
        json!({ "Variable": "$.label", "StringGreaterThan": "zzz", "Next": "Done" }),
        json!({ "Variable": "$.limit", "NumericLessThanEquals": 0, "Next": "Done" }),
    ];
    let n = rules.len();
    for (k, rule) in rules.into_iter().enumerate() {
        let default = if k + 1 < n {
            format!("Check{}", k + 2)
        } else {
            "Inc".to_string()
        };
        states.insert(
            format!("Check{}", k + 1),
            json!({ "Type": "Choice", "Choices": [rule], "Default": default }),
        );
    }
    states.insert("Done".to_string(), json!({ "Type": "Succeed" }));
    Workload {
        name: "choice loop (10 Choice + MathAdd)",
        definition: json!({ "StartAt": "Init", "States": states }),
        input: json!({}),
    }
}

/// A Parallel state of three branches of three Pass states each.
fn parallel() -> Workload {
    let branch = |b: usize| {
        let mut states = serde_json::Map::new();
        for i in 1..=3 {
            let mut state = json!({ "Type": "Pass", "Result": { "branch": b, "step": i } });
            if i < 3 {
                state["Next"] = json!(format!("B{b}S{}", i + 1));
            } else {
                state["End"] = json!(true);
            }
            states.insert(format!("B{b}S{i}"), state);
        }
        json!({ "StartAt": format!("B{b}S1"), "States": states })
    };
    Workload {
        name: "parallel (3 branches x 3 Pass)",
        definition: json!({
            "StartAt": "Fork",
            "States": {
                "Fork": { "Type": "Parallel", "Branches": [branch(1), branch(2), branch(3)], "End": true }
            }
        }),
        input: json!({ "order": 42 }),
    }
}

/// An inline Map over 1,000 items, each through two Pass states.
fn map_1000() -> Workload {
    let items: Vec<Value> = (0..1000).map(|i| json!({ "id": i })).collect();
    Workload {
        name: "map (1,000 items x 2 Pass)",
        definition: json!({
            "StartAt": "Each",
            "States": {
                "Each": {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "ItemProcessor": {
                        "ProcessorConfig": { "Mode": "INLINE" },
                        "StartAt": "Shape",
                        "States": {
                            "Shape": { "Type": "Pass", "Parameters": { "id.$": "$.id", "seen": true }, "Next": "Keep" },
                            "Keep": { "Type": "Pass", "End": true }
                        }
                    },
                    "End": true
                }
            }
        }),
        input: json!({ "items": items }),
    }
}

fn options() -> RunOptions {
    RunOptions {
        info: ExecutionInfo::example(
            "bench",
            "6f1d2c3b-0000-4000-8000-000000000001",
            Timestamp::from_unix_millis(1_748_779_200_000),
        ),
        limits: Limits::default(),
        seed: 7,
    }
}

fn run_once(machine: &StateMachine, input: &Value, options: &RunOptions) -> Outcome {
    driver::run(machine, input.clone(), options, &mut NoTasks)
}

fn transitions(outcome: &Outcome) -> usize {
    outcome
        .history
        .iter()
        .filter(|e| e.event_type.ends_with("StateEntered"))
        .count()
}

struct Measured {
    transitions: usize,
    /// Median seconds per execution.
    per_execution: f64,
    samples: usize,
    batch: usize,
}

fn measure(workload: &Workload) -> Result<Measured, String> {
    let text = workload.definition.to_string();
    let (machine, _warnings) = validate(&text, &ValidateOptions::default()).map_err(|d| {
        format!(
            "invalid definition: {}",
            cairn_asl::diagnostic::invalid_definition_message(&d)
        )
    })?;
    let options = options();

    let first = run_once(&machine, &workload.input, &options);
    if first.status != ExecutionStatus::Succeeded {
        return Err(format!(
            "the execution ended {} ({}: {})",
            first.status.as_str(),
            first.error.as_deref().unwrap_or("-"),
            first.cause.as_deref().unwrap_or("-")
        ));
    }
    let transitions = transitions(&first);

    // warm-up, and an estimate of one execution's time
    let start = Instant::now();
    let mut runs = 0u32;
    while start.elapsed() < WARM_UP || runs < 3 {
        black_box(run_once(&machine, black_box(&workload.input), &options));
        runs += 1;
    }
    let estimate = start.elapsed().as_secs_f64() / f64::from(runs);
    let batch = ((SAMPLE_TARGET.as_secs_f64() / estimate).ceil() as usize).max(1);

    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let t0 = Instant::now();
        for _ in 0..batch {
            black_box(run_once(&machine, black_box(&workload.input), &options));
        }
        samples.push(t0.elapsed().as_secs_f64() / batch as f64);
    }
    samples.sort_by(f64::total_cmp);
    Ok(Measured {
        transitions,
        per_execution: samples[samples.len() / 2],
        samples: SAMPLES,
        batch,
    })
}

fn main() {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "cairn-asl transitions benchmark: {} available core(s){}; the driver runs on one thread",
        cores,
        if cores == 1 { " (single core)" } else { "" }
    );
    println!(
        "median of {SAMPLES} samples of ~{} ms each, after {} ms warm-up",
        SAMPLE_TARGET.as_millis(),
        WARM_UP.as_millis()
    );
    println!();
    println!(
        "{:<36} {:>12} {:>14} {:>14} {:>14}",
        "workload", "transitions", "executions/s", "transitions/s", "ns/transition"
    );
    let mut failed = false;
    let workloads = [
        pass_chain(),
        pass_chain_assign(),
        pass_chain_jsonata(),
        choice_loop(),
        parallel(),
        map_1000(),
    ];
    for w in workloads
        .iter()
        .filter(|w| filters.is_empty() || filters.iter().any(|f| w.name.contains(f.as_str())))
    {
        let result = panic::catch_unwind(AssertUnwindSafe(|| measure(w)))
            .unwrap_or_else(|_| Err("panicked (see the message above)".to_string()));
        match result {
            Ok(m) => {
                let exec_per_s = 1.0 / m.per_execution;
                let trans_per_s = m.transitions as f64 * exec_per_s;
                let ns_per_transition = m.per_execution * 1e9 / m.transitions.max(1) as f64;
                println!(
                    "{:<36} {:>12} {:>14.0} {:>14.0} {:>14.0}   ({} x {} runs)",
                    w.name,
                    m.transitions,
                    exec_per_s,
                    trans_per_s,
                    ns_per_transition,
                    m.samples,
                    m.batch
                );
            }
            Err(e) => {
                failed = true;
                println!("{:<36} failed: {e}", w.name);
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
