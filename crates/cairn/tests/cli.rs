//! `cairn validate` and `cairn run` as a user runs them: the built binary as a subprocess,
//! its standard output, standard error and exit status.
//!
//! Exit statuses: 0 valid / SUCCEEDED; 1 invalid definition (validate) / the execution did
//! not succeed (run); 2 bad usage, an unreadable file, or (run) a definition or input it
//! cannot run.
//!
//! - `CAIRN_SHARED_DIR`: the shared folder beside the repository (default `<repo>/../shared`),
//!   for the seed's order workflow.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};

const LAMBDA: &str = "arn:aws:lambda:us-east-1:123456789012:function:f";

/// What one run of the binary gave.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn from(output: Output) -> Ran {
        Ran {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts the exit status, showing both streams when it differs.
    #[track_caller]
    fn expect_code(&self, code: i32) -> &Ran {
        assert_eq!(
            self.code,
            Some(code),
            "exit status\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// `cairn run`'s report: its whole standard output, one JSON object.
    #[track_caller]
    fn report(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}):\n{}", self.stdout))
    }

    #[track_caller]
    fn no_panic(&self) -> &Ran {
        assert!(
            !self.stderr.contains("panicked"),
            "the binary panicked:\n{}",
            self.stderr
        );
        self
    }
}

fn cairn(args: &[&str]) -> Ran {
    let output = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("starting the cairn binary");
    Ran::from(output)
}

/// Runs the binary with `stdin` as its standard input.
fn cairn_with_stdin(args: &[&str], stdin: &str) -> Ran {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the cairn binary");
    child
        .stdin
        .take()
        .expect("the child's stdin")
        .write_all(stdin.as_bytes())
        .expect("writing the child's stdin");
    Ran::from(child.wait_with_output().expect("waiting for cairn"))
}

/// Writes `text` to a file of its own under the test target's temporary directory.
fn file(name: &str, text: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "cli-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("creating a temporary directory");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("writing a definition");
    path
}

fn definition(machine: Value) -> PathBuf {
    file("machine.asl.json", &machine.to_string())
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

fn shared_dir() -> PathBuf {
    match std::env::var_os("CAIRN_SHARED_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    }
}

fn event_types(report: &Value) -> Vec<String> {
    report["history"]
        .as_array()
        .unwrap_or_else(|| panic!("no history array in {report:#}"))
        .iter()
        .map(|e| {
            e["event_type"]
                .as_str()
                .unwrap_or_else(|| panic!("an event without event_type: {e}"))
                .to_string()
        })
        .collect()
}

// ---- validate -----------------------------------------------------------------------

#[test]
fn validate_accepts_the_seed_order_workflow() {
    let seed = shared_dir().join("seed/workflows/order-processing.asl.json");
    assert!(
        seed.is_file(),
        "the seed's order workflow {} does not exist. It lives outside the repository, in \
         ../shared/seed/workflows; put it there or point CAIRN_SHARED_DIR at the shared folder.",
        seed.display()
    );
    let ran = cairn(&["validate", path(&seed)]);
    ran.expect_code(0);
    assert_eq!(
        ran.stdout.lines().last(),
        Some("OK"),
        "stdout: {}",
        ran.stdout
    );
    assert!(!ran.stdout.contains("ERROR"), "stdout: {}", ran.stdout);
    assert_eq!(ran.stderr, "");
}

#[test]
fn validate_reports_aws_diagnostic_codes_for_an_invalid_definition() {
    let machine = definition(json!({
        "StartAt": "A",
        "States": { "A": { "Type": "Pass", "Next": "Missing" }, "B": { "Type": "Succeed" } }
    }));
    let ran = cairn(&["validate", path(&machine)]);
    ran.expect_code(1).no_panic();
    assert!(
        ran.stdout
            .lines()
            .any(|l| l.starts_with("ERROR MISSING_TRANSITION_TARGET /States/A/Next ")),
        "stdout: {}",
        ran.stdout
    );
    assert!(
        !ran.stdout.lines().any(|l| l == "OK"),
        "stdout: {}",
        ran.stdout
    );
    assert!(
        ran.stderr
            .starts_with("Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: "),
        "stderr: {}",
        ran.stderr
    );
}

#[test]
fn validate_understands_jsonata() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/order-processing-jsonata/order-processing.asl.json");
    let ran = cairn(&["validate", path(&example)]);
    ran.expect_code(0);
    assert_eq!(
        ran.stdout.lines().last(),
        Some("OK"),
        "stdout: {}",
        ran.stdout
    );

    let machine = definition(json!({
        "QueryLanguage": "JSONata",
        "StartAt": "A",
        "States": { "A": { "Type": "Pass", "Output": { "v": "{% a[1,2) %}" }, "End": true } }
    }));
    let ran = cairn(&["validate", path(&machine)]);
    ran.expect_code(1).no_panic();
    assert!(
        ran.stdout
            .lines()
            .any(|l| l.starts_with("ERROR INVALID_JSONATA_EXPRESSION /States/A/Output/v ")),
        "stdout: {}",
        ran.stdout
    );
}

#[test]
fn validate_of_text_that_is_not_json_is_an_invalid_definition() {
    let machine = file("broken.asl.json", "{\"StartAt\": ");
    let ran = cairn(&["validate", path(&machine)]);
    ran.expect_code(1).no_panic();
    assert!(
        ran.stdout.starts_with("ERROR INVALID_JSON_DESCRIPTION "),
        "stdout: {}",
        ran.stdout
    );
    assert!(
        ran.stderr.contains("INVALID_JSON_DESCRIPTION"),
        "stderr: {}",
        ran.stderr
    );
}

#[test]
fn validate_of_a_missing_file_is_exit_2_with_the_path() {
    let missing = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-no-such-file.asl.json");
    let ran = cairn(&["validate", path(&missing)]);
    ran.expect_code(2).no_panic();
    assert_eq!(ran.stdout, "");
    assert!(
        ran.stderr.starts_with("cairn: reading ") && ran.stderr.contains(path(&missing)),
        "stderr: {}",
        ran.stderr
    );
}

#[test]
fn validate_reads_standard_input_for_dash() {
    let text = json!({ "StartAt": "A", "States": { "A": { "Type": "Succeed" } } }).to_string();
    let ran = cairn_with_stdin(&["validate", "-"], &text);
    ran.expect_code(0);
    assert_eq!(ran.stdout, "OK\n");
}

#[test]
fn bad_usage_is_exit_2_like_clap() {
    let ran = cairn(&["validate"]);
    ran.expect_code(2);
    assert!(
        ran.stderr.contains("<DEFINITION>"),
        "stderr: {}",
        ran.stderr
    );
    let ran = cairn(&["run", "--no-such-flag", "x.json"]);
    ran.expect_code(2);
    assert!(
        ran.stderr.contains("--no-such-flag"),
        "stderr: {}",
        ran.stderr
    );
}

#[test]
fn help_documents_the_exit_statuses() {
    for command in ["run", "validate"] {
        let ran = cairn(&[command, "--help"]);
        ran.expect_code(0);
        assert!(
            ran.stdout.contains("Exit status: 0 when the"),
            "cairn {command} --help:\n{}",
            ran.stdout
        );
    }
}

// ---- run ----------------------------------------------------------------------------

#[test]
fn run_of_a_pass_machine_succeeds_and_prints_its_output() {
    let machine = definition(json!({
        "StartAt": "P",
        "States": { "P": { "Type": "Pass", "Result": { "n": 2 }, "ResultPath": "$.r", "End": true } }
    }));
    let ran = cairn(&["run", path(&machine), "--input", r#"{"x":1}"#]);
    ran.expect_code(0);
    assert_eq!(
        ran.report(),
        json!({ "status": "SUCCEEDED", "output": { "x": 1, "r": { "n": 2 } } })
    );
    assert_eq!(ran.stderr, "");
}

#[test]
fn run_of_a_fail_state_shows_error_and_cause_and_exits_1() {
    let machine = definition(json!({
        "StartAt": "F",
        "States": { "F": { "Type": "Fail", "Error": "Order.Rejected", "Cause": "no stock" } }
    }));
    let ran = cairn(&["run", path(&machine)]);
    ran.expect_code(1);
    assert_eq!(
        ran.report(),
        json!({ "status": "FAILED", "error": "Order.Rejected", "cause": "no stock" })
    );
}

#[test]
fn run_answers_a_task_with_its_task_result() {
    let machine = definition(json!({
        "StartAt": "T",
        "States": { "T": { "Type": "Task", "Resource": LAMBDA, "ResultPath": "$.answer", "End": true } }
    }));
    let answer = format!(r#"{LAMBDA}={{"ok":true}}"#);
    let ran = cairn(&[
        "run",
        path(&machine),
        "--input",
        r#"{"id":7}"#,
        "--task-result",
        &answer,
    ]);
    ran.expect_code(0);
    assert_eq!(
        ran.report(),
        json!({ "status": "SUCCEEDED", "output": { "id": 7, "answer": { "ok": true } } })
    );
}

#[test]
fn run_of_a_task_with_no_result_given_fails_with_exit_1() {
    let machine = definition(json!({
        "StartAt": "T",
        "States": { "T": { "Type": "Task", "Resource": LAMBDA, "End": true } }
    }));
    let ran = cairn(&["run", path(&machine)]);
    ran.expect_code(1);
    let report = ran.report();
    assert_eq!(report["status"], "FAILED");
    assert_eq!(report["error"], "States.TaskFailed");
    let cause = report["cause"].as_str().unwrap_or_default();
    assert!(
        cause.contains(LAMBDA) && cause.contains("--task-result"),
        "cause: {cause}"
    );
    assert!(report.get("output").is_none(), "report: {report:#}");
}

#[test]
fn run_with_history_prints_the_event_types_in_order() {
    let machine = definition(json!({
        "StartAt": "P",
        "States": {
            "P": { "Type": "Pass", "Next": "T" },
            "T": { "Type": "Task", "Resource": LAMBDA, "End": true }
        }
    }));
    let answer = format!("{LAMBDA}=42");
    let ran = cairn(&["run", path(&machine), "--history", "--task-result", &answer]);
    ran.expect_code(0);
    let report = ran.report();
    assert_eq!(report["output"], json!(42));
    assert_eq!(
        event_types(&report),
        [
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "TaskStateEntered",
            "LambdaFunctionScheduled",
            "LambdaFunctionStarted",
            "LambdaFunctionSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded",
        ]
    );
    // Without --history there is none.
    let ran = cairn(&["run", path(&machine), "--task-result", &answer]);
    ran.expect_code(0);
    assert!(ran.report().get("history").is_none(), "{}", ran.stdout);
}

#[test]
fn run_with_history_of_a_failed_execution_still_exits_1() {
    let machine = definition(json!({
        "StartAt": "F",
        "States": { "F": { "Type": "Fail", "Error": "E" } }
    }));
    let ran = cairn(&["run", path(&machine), "--history"]);
    ran.expect_code(1);
    assert_eq!(
        event_types(&ran.report()),
        ["ExecutionStarted", "FailStateEntered", "ExecutionFailed"]
    );
}

#[test]
fn run_that_times_out_exits_1() {
    let machine = definition(json!({
        "StartAt": "W",
        "TimeoutSeconds": 1,
        "States": { "W": { "Type": "Wait", "Seconds": 10, "End": true } }
    }));
    let ran = cairn(&["run", path(&machine)]);
    ran.expect_code(1);
    assert_eq!(ran.report()["status"], "TIMED_OUT");
}

#[test]
fn run_with_input_that_is_not_json_is_exit_2_and_runs_nothing() {
    let machine = definition(json!({
        "StartAt": "P",
        "States": { "P": { "Type": "Pass", "End": true } }
    }));
    let ran = cairn(&["run", path(&machine), "--input", "{\"x\":"]);
    ran.expect_code(2).no_panic();
    assert_eq!(ran.stdout, "");
    assert!(
        ran.stderr.starts_with("cairn: --input is not JSON: "),
        "stderr: {}",
        ran.stderr
    );
}

#[test]
fn run_with_a_task_result_that_is_not_resource_eq_json_is_exit_2() {
    let machine = definition(json!({
        "StartAt": "P",
        "States": { "P": { "Type": "Pass", "End": true } }
    }));
    for (arg, message) in [
        ("no-equals-sign", "is not RESOURCE=JSON"),
        ("res={oops", "is not JSON"),
    ] {
        let ran = cairn(&["run", path(&machine), "--task-result", arg]);
        ran.expect_code(2).no_panic();
        assert_eq!(ran.stdout, "");
        assert!(
            ran.stderr.contains(message),
            "{arg}: stderr: {}",
            ran.stderr
        );
    }
}

/// A Map that would read its items from S3 is refused, not run over its input instead.
#[test]
fn run_takes_an_item_readers_items_from_task_result_and_writes_no_s3() {
    let machine = definition(json!({
        "StartAt": "M",
        "States": { "M": { "Type": "Map", "End": true,
            "ItemReader": { "Resource": "arn:aws:states:::s3:getObject",
                            "ReaderConfig": { "InputType": "JSONL" },
                            "Parameters": { "Bucket": "b", "Key": "items.jsonl" } },
            "ItemProcessor": { "ProcessorConfig": { "Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS" },
                               "StartAt": "P", "States": { "P": { "Type": "Pass", "End": true } } } } }
    }));
    cairn(&["validate", path(&machine)])
        .expect_code(0)
        .no_panic();

    // The items are given under the reader's own Resource, as a Task's result would be.
    let ran = cairn(&[
        "run",
        path(&machine),
        "--task-result",
        r#"arn:aws:states:::s3:getObject=[{"n": 1}, {"n": 2}]"#,
    ]);
    ran.expect_code(0).no_panic();
    let outcome: Value = serde_json::from_str(&ran.stdout).expect("JSON outcome");
    assert_eq!(
        outcome["output"],
        json!([{"n": 1}, {"n": 2}]),
        "{}",
        ran.stdout
    );

    // Without them, the reader fails as a read from S3 would, saying how to give them.
    let ran = cairn(&["run", path(&machine)]);
    ran.expect_code(1).no_panic();
    let outcome: Value = serde_json::from_str(&ran.stdout).expect("JSON outcome");
    assert_eq!(outcome["error"], "States.ItemReaderFailed");
    assert!(
        outcome["cause"]
            .as_str()
            .unwrap_or_default()
            .contains("--task-result 'arn:aws:states:::s3:getObject=[...]'"),
        "{}",
        ran.stdout
    );

    // A ResultWriter cannot write from `cairn run`: the Map fails rather than pretend.
    let writer = definition(json!({
        "StartAt": "M",
        "States": { "M": { "Type": "Map", "End": true,
            "ResultWriter": { "Resource": "arn:aws:states:::s3:putObject",
                              "Parameters": { "Bucket": "b", "Prefix": "out" } },
            "ItemProcessor": { "ProcessorConfig": { "Mode": "DISTRIBUTED" },
                               "StartAt": "P", "States": { "P": { "Type": "Pass", "End": true } } } } }
    }));
    let ran = cairn(&["run", path(&writer), "--input", "[1, 2]"]);
    ran.expect_code(1).no_panic();
    let outcome: Value = serde_json::from_str(&ran.stdout).expect("JSON outcome");
    assert_eq!(
        outcome["error"], "States.ResultWriterFailed",
        "{}",
        ran.stdout
    );
}

#[test]
fn run_of_an_invalid_definition_is_exit_2_with_aws_message() {
    let machine = definition(json!({
        "StartAt": "A",
        "States": { "A": { "Type": "Pass", "Next": "Missing" } }
    }));
    let ran = cairn(&["run", path(&machine)]);
    ran.expect_code(2).no_panic();
    assert_eq!(ran.stdout, "");
    assert!(
        ran.stderr
            .starts_with("cairn: Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: "),
        "stderr: {}",
        ran.stderr
    );
    let not_json = file("broken.asl.json", "[1,");
    let ran = cairn(&["run", path(&not_json)]);
    ran.expect_code(2).no_panic();
    assert!(
        ran.stderr.contains("INVALID_JSON_DESCRIPTION"),
        "stderr: {}",
        ran.stderr
    );
}

#[test]
fn run_of_a_missing_file_is_exit_2() {
    let missing = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-no-such-file.asl.json");
    let ran = cairn(&["run", path(&missing)]);
    ran.expect_code(2).no_panic();
    assert_eq!(ran.stdout, "");
    assert!(
        ran.stderr.starts_with("cairn: reading "),
        "stderr: {}",
        ran.stderr
    );
}

#[test]
fn run_reads_the_definition_from_standard_input_for_dash() {
    let text = json!({
        "StartAt": "P",
        "States": { "P": { "Type": "Pass", "End": true } }
    })
    .to_string();
    let ran = cairn_with_stdin(&["run", "-", "--input", "[1,2]"], &text);
    ran.expect_code(0);
    assert_eq!(
        ran.report(),
        json!({ "status": "SUCCEEDED", "output": [1, 2] })
    );
}

#[test]
fn a_closed_standard_output_is_an_error_not_a_panic() {
    let machine = definition(json!({
        "StartAt": "P",
        "States": { "P": { "Type": "Pass", "End": true } }
    }));
    // A reader that is gone before cairn writes: the write fails with a broken pipe.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["run", path(&machine), "--history"])
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("starting the cairn binary");
    let ran = Ran::from(output);
    ran.expect_code(2).no_panic();
    assert!(
        ran.stderr.starts_with("cairn: writing to standard output"),
        "stderr: {}",
        ran.stderr
    );
}

// ---- run with a mock configuration ----------------------------------------------------

/// The example's mock configuration (examples/order-processing-mocked).
fn order_mocks() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/order-processing-mocked/MockConfigFile.json")
}

fn seed_order_workflow() -> PathBuf {
    shared_dir().join("seed/workflows/order-processing.asl.json")
}

/// The states entered, in order.
fn entered(report: &Value) -> Vec<String> {
    report["history"]
        .as_array()
        .unwrap_or_else(|| panic!("no history in {report:#}"))
        .iter()
        .filter(|e| {
            e["event_type"]
                .as_str()
                .is_some_and(|t| t.ends_with("StateEntered"))
        })
        .map(|e| {
            e["details"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[test]
fn run_with_a_test_case_answers_mocked_states_and_prints_the_history() {
    let ran = cairn(&[
        "run",
        "--mock-config",
        path(&order_mocks()),
        "--test-case",
        "Backorder",
        path(&seed_order_workflow()),
    ]);
    ran.expect_code(0).no_panic();
    let report = ran.report();
    assert_eq!(report["status"], "SUCCEEDED");
    // Out of stock at invocation 0, in stock at 1; the seed's hour-long wait passes on
    // the virtual clock.
    assert_eq!(
        entered(&report)[..6],
        [
            "ValidateOrder",
            "CheckInventory",
            "NotifyBackorder",
            "WaitForInventory",
            "CheckInventory",
            "ProcessPayment"
        ]
    );
    let types = event_types(&report);
    assert!(
        types.contains(&"LambdaFunctionFailed".to_string()),
        "{types:?}"
    );
    assert_eq!(
        report["output"][2],
        json!({"trackingNumber": "TRK-mock-1"}),
        "the Parallel's results are the mocked ones"
    );
}

#[test]
fn run_with_a_test_case_counts_retries_and_exits_1_when_the_execution_fails() {
    let flaky = cairn(&[
        "run",
        "--mock-config",
        path(&order_mocks()),
        "--test-case",
        "FlakyPayment",
        path(&seed_order_workflow()),
    ]);
    flaky.expect_code(0);
    let types = event_types(&flaky.report());
    assert_eq!(
        types
            .iter()
            .filter(|t| *t == "LambdaFunctionFailed")
            .count(),
        2,
        "invocations 0-1 throw, 2 pays: {types:?}"
    );
    let declined = cairn(&[
        "run",
        "--mock-config",
        path(&order_mocks()),
        "--test-case",
        "DeclinedCard",
        path(&seed_order_workflow()),
    ]);
    declined.expect_code(1).no_panic();
    let report = declined.report();
    assert_eq!(report["status"], "FAILED");
    assert_eq!(report["error"], "OrderProcessingFailed");
}

#[test]
fn run_with_a_test_case_falls_back_to_task_results_for_unmocked_states() {
    let machine = file(
        "hybrid.asl.json",
        &json!({
            "StartAt": "Mocked",
            "States": {
                "Mocked": { "Type": "Task", "Resource": LAMBDA, "ResultPath": "$.m", "Next": "Given" },
                "Given": { "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "ResultPath": "$.g", "End": true }
            }
        })
        .to_string(),
    );
    let mocks = file(
        "mocks.json",
        &json!({
            "StateMachines": {"hybrid": {"TestCases": {"One": {"Mocked": "Answer"}}}},
            "MockedResponses": {"Answer": {"0": {"Return": 42}}}
        })
        .to_string(),
    );
    let ran = cairn(&[
        "run",
        "--mock-config",
        path(&mocks),
        "--test-case",
        "One",
        "--task-result",
        "arn:aws:states:::sqs:sendMessage={\"MessageId\":\"m\"}",
        path(&machine),
    ]);
    ran.expect_code(0).no_panic();
    assert_eq!(
        ran.report()["output"],
        json!({"m": 42, "g": {"MessageId": "m"}})
    );
}

#[test]
fn run_with_a_bad_mock_configuration_or_test_case_is_exit_2() {
    let seed = seed_order_workflow();
    let unknown = cairn(&[
        "run",
        "--mock-config",
        path(&order_mocks()),
        "--test-case",
        "Nope",
        path(&seed),
    ]);
    unknown.expect_code(2).no_panic();
    assert!(
        unknown.stderr.contains("test case 'Nope'"),
        "{}",
        unknown.stderr
    );
    let broken = file(
        "broken-mocks.json",
        r#"{"MockedResponses": {"R": {"x": {"Return": 1}}}}"#,
    );
    let ran = cairn(&[
        "run",
        "--mock-config",
        path(&broken),
        "--test-case",
        "C",
        path(&seed),
    ]);
    ran.expect_code(2).no_panic();
    assert!(
        ran.stderr.contains("MockedResponses.R.\"x\""),
        "{}",
        ran.stderr
    );
    // Each option needs the other.
    let ran = cairn(&["run", "--test-case", "HappyPath", path(&seed)]);
    ran.expect_code(2).no_panic();
    assert!(ran.stderr.contains("--mock-config"), "{}", ran.stderr);
    let missing = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-no-such-mocks.json");
    let ran = cairn(&[
        "run",
        "--mock-config",
        path(&missing),
        "--test-case",
        "C",
        path(&seed),
    ]);
    ran.expect_code(2).no_panic();
    assert!(ran.stderr.contains("reading"), "{}", ran.stderr);
}
