//! The conformance harness: runs the AWS-recorded corpus (`shared/conformance/cases`)
//! against `cairn-asl` in memory, with the comparison rules of the corpus's `run.py`.
//!
//! Scope: `execution` cases in both query languages, JSONPath and JSONata (validate, then
//! `driver::run`), `test_state` cases (`cairn_asl::test_state`, `inspectionData`
//! compared too) and `create_failure` cases whose recorded error is `InvalidDefinition`
//! (validate must reject). Skipped, and counted by reason: API-level creation failures.
//!
//! Environment:
//! - `CAIRN_CONFORMANCE_DIR`: the corpus (default `<repo>/../shared/conformance/cases`).
//!   A missing corpus fails the test.
//! - `CAIRN_SKIP_CONFORMANCE=1`: skip the whole harness (and pass).
//! - `CAIRN_CONFORMANCE_FILTER`: only cases whose name contains this substring.
//! - `CAIRN_CONFORMANCE_TIMEOUT_SECS`: per-case time limit (default 20).
//!
//! Output: one line per failed case, counts by group, skip and failure-category counts,
//! the history comparison count, then the line `N passed, M failed`. A JSON report goes
//! to `target/conformance-report.json`. The test fails below a 95 % pass rate, or when a
//! JSONata case fails (all of them pass).

#[path = "conformance/compare.rs"]
mod compare;
#[path = "conformance/test_state.rs"]
mod test_state;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use cairn_asl::diagnostic::invalid_definition_message;
use cairn_asl::driver::{self, NoTasks, RunOptions};
use cairn_asl::interpreter::{ExecutionInfo, Limits};
use cairn_asl::timestamp::Timestamp;
use cairn_asl::validate::{validate, ValidateOptions};

use compare::Actual;

/// The pass rate below which the harness fails.
const BAR: f64 = 0.95;
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/cairn-conformance";
const ARN_PREFIX: &str = "arn:aws:states:us-east-1:123456789012";
/// Every execution starts at 2025-06-01T12:00:00Z (virtual time).
const START_MILLIS: i64 = 1_748_779_200_000;

// ------------------------------------------------------------------------ cases

struct Case {
    name: String,
    group: String,
    kind: String,
    /// The whole case file.
    doc: Value,
}

impl Case {
    fn expected(&self) -> &Value {
        &self.doc["expected"]
    }
}

/// All `*.json` files under `root`, depth first, as `run.py` finds them; a file that
/// cannot be read or parsed becomes an `Err` carrying its name and the reason.
fn load_cases(root: &Path, filter: Option<&str>) -> Vec<Result<Case, (String, String)>> {
    let mut files = Vec::new();
    collect_json_files(root, &mut files);
    let mut cases = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .with_extension("")
            .to_string_lossy()
            .replace('\\', "/");
        let loaded = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))
            .and_then(|text| {
                serde_json::from_str::<Value>(&text)
                    .map_err(|e| format!("{} is not JSON: {e}", file.display()))
            });
        let case = loaded.map(|doc| {
            let field = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
            Case {
                name: field("name").unwrap_or_else(|| rel.clone()),
                group: field("group")
                    .unwrap_or_else(|| rel.split('/').next().unwrap_or("?").to_string()),
                kind: field("kind").unwrap_or_else(|| "execution".to_string()),
                doc,
            }
        });
        let name = case.as_ref().map_or(rel.as_str(), |c| c.name.as_str());
        if filter.is_some_and(|f| !name.contains(f)) {
            continue;
        }
        cases.push(case.map_err(|reason| (rel.clone(), reason)));
    }
    let key = |c: &Result<Case, (String, String)>| match c {
        Ok(c) => c.name.clone(),
        Err((n, _)) => n.clone(),
    };
    cases.sort_by_key(key);
    cases
}

fn collect_json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => panic!("cannot list {}: {e}", dir.display()),
    };
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.expect("directory entry of the corpus").path())
        .collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            collect_json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

/// Does this JSON use JSONata (`"QueryLanguage": "JSONata"` or a `{% … %}` expression)?
fn uses_jsonata(v: &Value) -> bool {
    match v {
        Value::Object(map) => map.iter().any(|(k, x)| {
            (k == "QueryLanguage" && x.as_str() == Some("JSONata"))
                || k.contains("{%")
                || uses_jsonata(x)
        }),
        Value::Array(items) => items.iter().any(uses_jsonata),
        Value::String(s) => s.contains("{%"),
        _ => false,
    }
}

/// Why a case is out of this harness's scope, if it is.
fn skip_reason(case: &Case) -> Option<String> {
    if case.kind == "create_failure" {
        let error = case.expected()["error"].as_str().unwrap_or("(none)");
        if error != "InvalidDefinition" {
            return Some(format!("API-level create failure ({error})"));
        }
    }
    None
}

// ------------------------------------------------------------------------ evaluating

/// What evaluating one case found.
#[derive(Default)]
struct Evaluation {
    problems: Vec<String>,
    /// A short class of the first problem, for the summary.
    category: Option<String>,
    actual: Option<Value>,
    /// `Some(None)`: the history matched; `Some(Some(why))`: it did not; `None`: not
    /// compared.
    history: Option<Option<String>>,
    /// `create_failure`: does `invalid_definition_message` equal AWS's message?
    message_match: Option<bool>,
    /// Does the compact output text equal AWS's `output_text`?
    text_match: Option<bool>,
}

impl Evaluation {
    fn fail(problem: String, category: impl Into<String>) -> Evaluation {
        Evaluation {
            problems: vec![problem],
            category: Some(category.into()),
            ..Evaluation::default()
        }
    }
}

/// FNV-1a, then SplitMix64 finalising: a stable hash of a case name.
fn hash64(text: &str, salt: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ salt;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// A version-4-shaped UUID derived from the case name, as AWS names executions.
fn uuid_for(name: &str) -> String {
    let a = hash64(name, 1);
    let b = hash64(name, 2);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// What the context object shows for this case's execution. Express executions have
/// their own ARN form (`…:express:<machine>:<name>:<id>`) and no redrive count.
fn execution_info(case_name: &str, express: bool) -> ExecutionInfo {
    let machine = format!(
        "conf-{:016x}{:04x}",
        hash64(case_name, 3),
        hash64(case_name, 4) & 0xffff
    );
    let execution = uuid_for(case_name);
    let execution_arn = if express {
        let id = uuid_for(&format!("{case_name}/express"));
        format!("{ARN_PREFIX}:express:{machine}:{execution}:{id}")
    } else {
        format!("{ARN_PREFIX}:execution:{machine}:{execution}")
    };
    ExecutionInfo {
        execution_arn,
        execution_name: execution,
        state_machine_arn: format!("{ARN_PREFIX}:stateMachine:{machine}"),
        state_machine_name: machine,
        role_arn: ROLE_ARN.to_string(),
        start_time: Timestamp::from_unix_millis(START_MILLIS),
        redrive_count: if express { None } else { Some(0) },
    }
}

fn definition_text(case: &Case) -> String {
    let definition = &case.doc["definition"];
    match definition {
        Value::String(raw) if case.doc["definition_is_raw_string"].as_bool() == Some(true) => {
            raw.clone()
        }
        other => other.to_string(),
    }
}

fn validate_options(case: &Case) -> ValidateOptions {
    ValidateOptions {
        express: case.doc["state_machine_type"].as_str() == Some("EXPRESS"),
        ..ValidateOptions::default()
    }
}

fn loose_paths(case: &Case) -> Result<HashSet<compare::Path>, String> {
    let mut loose = HashSet::new();
    if let Some(list) = case.doc["normalize"].as_array() {
        for p in list {
            let p = p.as_str().ok_or("a normalize entry is not a string")?;
            loose.insert(compare::parse_path(p)?);
        }
    }
    Ok(loose)
}

fn evaluate(case: &Case) -> Evaluation {
    match case.kind.as_str() {
        "execution" => evaluate_execution(case),
        "create_failure" => evaluate_create_failure(case),
        "test_state" => evaluate_test_state(case),
        other => Evaluation::fail(format!("unknown case kind {other:?}"), "bad case"),
    }
}

/// `test_state` cases recorded from a request without `roleArn` (their `source` test
/// passes none, and AWS's `$states.context.Execution.RoleArn` is `null`). The case file
/// does not say so, and `run.py` sends a role with every request, so over the API these
/// cases cannot pass (`docs/asl-support.md` argues it); here the request is sent as
/// it was recorded.
const RECORDED_WITHOUT_ROLE: &[&str] =
    &["test_state/TestStateCaseScenarios__test_state_with_variables_base_expressions"];

/// A `test_state` case: the request through `cairn_asl::test_state`, compared with
/// `inspectionData` (see `conformance/test_state.rs`).
fn evaluate_test_state(case: &Case) -> Evaluation {
    let loose = match loose_paths(case) {
        Ok(l) => l,
        Err(e) => return Evaluation::fail(e, "bad case"),
    };
    let role = if RECORDED_WITHOUT_ROLE.contains(&case.name.as_str()) {
        None
    } else {
        Some(ROLE_ARN)
    };
    match test_state::run(
        &case.doc["request"],
        role,
        START_MILLIS,
        hash64(&case.name, 5),
    ) {
        Err(problem) => Evaluation::fail(problem, "TestState refused or invoked"),
        Ok(actual) => {
            let problems = test_state::compare(case.expected(), &actual, &loose);
            let category = problems.first().map(|p| {
                let field = p.split([':', '.', '[']).next().unwrap_or("?");
                format!("TestState {field} differs")
            });
            Evaluation {
                problems,
                category,
                actual: Some(actual),
                ..Evaluation::default()
            }
        }
    }
}

fn evaluate_create_failure(case: &Case) -> Evaluation {
    let expected = case.expected();
    match validate(&definition_text(case), &validate_options(case)) {
        Ok(_) => Evaluation::fail(
            format!(
                "validate accepted the definition; AWS rejected it with InvalidDefinition: {}",
                compare::short(expected.get("message"), 200)
            ),
            "validate accepted an invalid definition",
        ),
        Err(diagnostics) => {
            let message = invalid_definition_message(&diagnostics);
            let message_match = expected.get("message").map(|exp| {
                let normalized = case.doc["normalize"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|p| p.as_str() == Some("$.message")));
                let got = Value::String(message.clone());
                if normalized {
                    compare::placeholder_match(exp, Some(&got))
                } else {
                    *exp == got
                }
            });
            Evaluation {
                actual: Some(json!({
                    "status": "CREATE_FAILED",
                    "error": "InvalidDefinition",
                    "message": message,
                })),
                message_match,
                ..Evaluation::default()
            }
        }
    }
}

fn evaluate_execution(case: &Case) -> Evaluation {
    let loose = match loose_paths(case) {
        Ok(l) => l,
        Err(e) => return Evaluation::fail(e, "bad case"),
    };
    let machine = match validate(&definition_text(case), &validate_options(case)) {
        Ok((machine, _warnings)) => machine,
        Err(diagnostics) => {
            let first = diagnostics
                .first()
                .map_or("no diagnostic".to_string(), |d| d.code.as_str().to_string());
            return Evaluation::fail(
                format!(
                    "validate rejected a definition AWS accepted: {}",
                    compare::truncate(&invalid_definition_message(&diagnostics), 300)
                ),
                format!("validate rejected a valid definition ({first})"),
            );
        }
    };
    let input = case.doc.get("input").cloned().unwrap_or_else(|| json!({}));
    let options = RunOptions {
        info: execution_info(
            &case.name,
            case.doc["state_machine_type"].as_str() == Some("EXPRESS"),
        ),
        // `CAIRN_CONFORMANCE_STORE_MAPS_OVER=0` runs every inline Map the way a durable
        // scheduler runs large ones: items, results and input kept by the driver.
        limits: match std::env::var("CAIRN_CONFORMANCE_STORE_MAPS_OVER")
            .ok()
            .and_then(|n| n.parse().ok())
        {
            Some(over) => Limits::default().storing_maps_over(over),
            None => Limits::default(),
        },
        seed: hash64(&case.name, 5),
    };
    let outcome = driver::run(&machine, input, &options, &mut NoTasks);
    let actual = Actual {
        status: outcome.status.as_str().to_string(),
        output: outcome.output.clone(),
        error: outcome.error.clone(),
        cause: outcome.cause.clone(),
    };
    let expected = case.expected();
    let partial = case.doc["expected_partial"].as_bool() == Some(true);
    let problems = compare::compare_result(expected, partial, &loose, &actual);
    let category = problems.first().map(|p| categorize(p, expected, &actual));

    let history = match case.doc["history_event_types"].as_array() {
        Some(recorded) if case.doc["start"].as_str() != Some("sync") => {
            let recorded: Vec<String> = recorded
                .iter()
                .map(|t| t.as_str().unwrap_or("").to_string())
                .collect();
            let got: Vec<&str> = outcome
                .history
                .iter()
                .map(|e| e.event_type.as_str())
                .collect();
            let unordered =
                case.doc["history_order"].as_str() == Some("unordered_within_parallel_or_map");
            Some(compare::compare_history(&recorded, &got, unordered))
        }
        _ => None,
    };
    let text_match = match (&actual.output, expected.get("output_text")) {
        (Some(out), Some(Value::String(text))) if actual.status == "SUCCEEDED" => {
            Some(out.to_string().as_str() == text.as_str())
        }
        _ => None,
    };
    let mut actual_json = json!({ "status": actual.status });
    for (k, v) in [
        ("output", actual.output.clone()),
        ("error", actual.error.clone().map(Value::String)),
        ("cause", actual.cause.clone().map(Value::String)),
    ] {
        if let Some(v) = v {
            actual_json[k] = v;
        }
    }
    Evaluation {
        problems,
        category,
        actual: Some(actual_json),
        history,
        message_match: None,
        text_match,
    }
}

/// A coarse class of a result problem, for the failure summary.
fn categorize(problem: &str, expected: &Value, actual: &Actual) -> String {
    if problem.starts_with("status:") {
        let exp = expected["status"].as_str().unwrap_or("?");
        let error = actual
            .error
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        return format!("status {exp} -> {}{error}", actual.status);
    }
    let field = problem
        .split([':', '.', '['])
        .find(|s| !s.is_empty() && *s != "$")
        .unwrap_or("?");
    match field {
        "output" => "output differs".to_string(),
        "error" => {
            let exp = expected["error"].as_str().unwrap_or("(none)");
            format!(
                "error differs (expected {exp}, got {})",
                actual.error.as_deref().unwrap_or("(none)")
            )
        }
        "cause" => "cause differs".to_string(),
        other => format!("{other} differs"),
    }
}

// ------------------------------------------------------------------------ isolation

thread_local! {
    /// The message and location of the last panic on this thread, set by the
    /// harness's panic hook.
    static LAST_PANIC: RefCell<Option<(String, String)>> = const { RefCell::new(None) };
}

/// Case threads are named with this prefix; panics elsewhere reach the default hook.
const CASE_THREAD: &str = "case ";

fn install_quiet_panic_hook() {
    let default_hook = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let on_case_thread = std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with(CASE_THREAD));
        if !on_case_thread {
            default_hook(info);
            return;
        }
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(non-string panic payload)".to_string());
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "unknown location".to_string());
        // Nothing is printed: the per-case report names the panic.
        LAST_PANIC.with(|p| *p.borrow_mut() = Some((message, location)));
    }));
}

/// Runs one case on its own thread (a big stack, a time limit), catching panics.
fn evaluate_isolated(case: Arc<Case>, timeout: Duration) -> Evaluation {
    let (tx, rx) = mpsc::channel();
    let worker_case = Arc::clone(&case);
    let spawned = std::thread::Builder::new()
        .name(format!("{CASE_THREAD}{}", case.name))
        .stack_size(256 * 1024 * 1024)
        .spawn(move || {
            let result = panic::catch_unwind(AssertUnwindSafe(|| evaluate(&worker_case)));
            let result = result.map_err(|_| {
                LAST_PANIC
                    .with(|p| p.borrow_mut().take())
                    .unwrap_or_else(|| ("panic without a message".to_string(), String::new()))
            });
            // The receiver may have given up on us (time limit): nothing left to do.
            let _ = tx.send(result);
        });
    if let Err(e) = spawned {
        return Evaluation::fail(format!("cannot start a thread: {e}"), "harness error");
    }
    match rx.recv_timeout(timeout) {
        Ok(Ok(evaluation)) => evaluation,
        Ok(Err((message, location))) => Evaluation::fail(
            format!("panicked: {message} at {location}"),
            format!("panic: {}", compare::truncate(&message, 80)),
        ),
        Err(mpsc::RecvTimeoutError::Timeout) => Evaluation::fail(
            format!(
                "did not finish within {}s (thread abandoned)",
                timeout.as_secs()
            ),
            "time limit exceeded",
        ),
        Err(mpsc::RecvTimeoutError::Disconnected) => Evaluation::fail(
            "the case's thread ended without a result".to_string(),
            "harness error",
        ),
    }
}

// ------------------------------------------------------------------------ main

struct Row {
    name: String,
    group: String,
    kind: String,
    verdict: &'static str,
    /// The case uses JSONata: every such case must pass.
    jsonata: bool,
    skip: Option<String>,
    /// The case recorded a history this harness compares (not a sync start).
    history_recorded: bool,
    eval: Evaluation,
    millis: f64,
}

fn corpus_dir() -> PathBuf {
    match std::env::var_os("CAIRN_CONFORMANCE_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/cases"),
    }
}

fn report_path() -> PathBuf {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
    };
    target.join("conformance-report.json")
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

fn main() {
    if env_flag("CAIRN_SKIP_CONFORMANCE") {
        println!("conformance: skipped (CAIRN_SKIP_CONFORMANCE=1)");
        return;
    }
    let dir = corpus_dir();
    if !dir.is_dir() {
        eprintln!(
            "conformance: the corpus directory {} does not exist.\n\
             Put the corpus there (it lives outside the repository, in ../shared/conformance/cases),\n\
             point CAIRN_CONFORMANCE_DIR at it, or set CAIRN_SKIP_CONFORMANCE=1 to skip this test.",
            dir.display()
        );
        std::process::exit(1);
    }
    if let Err(e) = compare::self_check() {
        eprintln!("conformance: {e}");
        std::process::exit(1);
    }
    let filter = std::env::var("CAIRN_CONFORMANCE_FILTER")
        .ok()
        .filter(|f| !f.is_empty());
    let timeout = Duration::from_secs(
        std::env::var("CAIRN_CONFORMANCE_TIMEOUT_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20),
    );

    let cases = load_cases(&dir, filter.as_deref());
    install_quiet_panic_hook();
    let started = Instant::now();
    let mut rows = Vec::with_capacity(cases.len());
    for loaded in cases {
        let case = match loaded {
            Ok(case) => Arc::new(case),
            Err((name, reason)) => {
                rows.push(Row {
                    group: name.split('/').next().unwrap_or("?").to_string(),
                    name,
                    kind: "?".to_string(),
                    verdict: "FAIL",
                    jsonata: false,
                    skip: None,
                    history_recorded: false,
                    eval: Evaluation::fail(reason, "bad case file"),
                    millis: 0.0,
                });
                continue;
            }
        };
        let t0 = Instant::now();
        let (verdict, skip, eval) = match skip_reason(&case) {
            Some(reason) => ("SKIP", Some(reason), Evaluation::default()),
            None => {
                let eval = evaluate_isolated(Arc::clone(&case), timeout);
                let verdict = if eval.problems.is_empty() {
                    "PASS"
                } else {
                    "FAIL"
                };
                (verdict, None, eval)
            }
        };
        rows.push(Row {
            name: case.name.clone(),
            group: case.group.clone(),
            kind: case.kind.clone(),
            verdict,
            jsonata: uses_jsonata(&case.doc["definition"]) || uses_jsonata(&case.doc["request"]),
            history_recorded: case.kind == "execution"
                && case.doc["history_event_types"].is_array()
                && case.doc["start"].as_str() != Some("sync"),
            skip,
            eval,
            millis: t0.elapsed().as_secs_f64() * 1000.0,
        });
    }
    let _ = panic::take_hook();

    let ok = print_summary(&dir, filter.as_deref(), &rows, started.elapsed());
    let jsonata_run = rows
        .iter()
        .filter(|r| r.jsonata && r.verdict != "SKIP")
        .count();
    let jsonata_failed = rows
        .iter()
        .filter(|r| r.jsonata && r.verdict == "FAIL")
        .count();
    println!(
        "JSONata cases: {} of {jsonata_run} passed (all must pass)",
        jsonata_run - jsonata_failed
    );
    if !ok || jsonata_failed > 0 {
        std::process::exit(1);
    }
}

/// Prints the report, writes the JSON file; `false` when the bar is not met.
fn print_summary(dir: &Path, filter: Option<&str>, rows: &[Row], elapsed: Duration) -> bool {
    let passed = rows.iter().filter(|r| r.verdict == "PASS").count();
    let failed = rows.iter().filter(|r| r.verdict == "FAIL").count();
    let skipped = rows.iter().filter(|r| r.verdict == "SKIP").count();

    println!("conformance corpus: {}", dir.display());
    if let Some(f) = filter {
        println!("filter: {f:?}");
    }
    println!();
    for r in rows.iter().filter(|r| r.verdict == "FAIL") {
        let mut detail = r.eval.problems.first().cloned().unwrap_or_default();
        detail = detail.split_whitespace().collect::<Vec<_>>().join(" ");
        if r.eval.problems.len() > 1 {
            detail.push_str(&format!("  (+{} more)", r.eval.problems.len() - 1));
        }
        println!("FAIL  {}  {}", r.name, compare::truncate(&detail, 300));
    }

    // by group
    let mut groups: BTreeMap<&str, [usize; 3]> = BTreeMap::new();
    for r in rows {
        let g = groups.entry(r.group.as_str()).or_default();
        match r.verdict {
            "PASS" => g[0] += 1,
            "FAIL" => g[1] += 1,
            _ => g[2] += 1,
        }
    }
    let width = groups.keys().map(|g| g.len()).max().unwrap_or(5).max(5);
    println!();
    println!(
        "{:<width$}  {:>6}  {:>6}  {:>7}",
        "GROUP", "passed", "failed", "skipped"
    );
    for (g, [p, f, s]) in &groups {
        println!("{g:<width$}  {p:>6}  {f:>6}  {s:>7}");
    }

    let count_by = |items: Vec<String>| {
        let mut m: BTreeMap<String, usize> = BTreeMap::new();
        for i in items {
            *m.entry(i).or_default() += 1;
        }
        let mut v: Vec<(String, usize)> = m.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    };
    let skip_reasons = count_by(rows.iter().filter_map(|r| r.skip.clone()).collect());
    println!();
    println!("skipped {skipped} (out of scope):");
    for (reason, n) in &skip_reasons {
        println!("  {n:>5}  {reason}");
    }
    let categories = count_by(
        rows.iter()
            .filter(|r| r.verdict == "FAIL")
            .map(|r| r.eval.category.clone().unwrap_or_else(|| "?".to_string()))
            .collect(),
    );
    if !categories.is_empty() {
        println!();
        println!("failures by category:");
        for (cat, n) in &categories {
            println!("  {n:>5}  {cat}");
        }
    }

    // history mismatches and informational checks
    let history: Vec<&Row> = rows.iter().filter(|r| r.eval.history.is_some()).collect();
    let history_ok = history
        .iter()
        .filter(|r| matches!(r.eval.history, Some(None)))
        .count();
    let history_not_compared = rows
        .iter()
        .filter(|r| r.verdict != "SKIP" && r.history_recorded && r.eval.history.is_none())
        .count();
    let mismatches: Vec<&&Row> = history
        .iter()
        .filter(|r| matches!(r.eval.history, Some(Some(_))))
        .collect();
    if !mismatches.is_empty() {
        println!();
        println!("history mismatches (not counted in pass/fail):");
        for r in &mismatches {
            if let Some(Some(why)) = &r.eval.history {
                println!("HIST  {}  {}", r.name, compare::truncate(why, 300));
            }
        }
    }
    let ratio = |hits: usize, n: usize| {
        format!(
            "{hits}/{n}{}",
            if n == 0 {
                String::new()
            } else {
                format!(" ({:.1} %)", 100.0 * hits as f64 / n as f64)
            }
        )
    };
    let texts: Vec<bool> = rows.iter().filter_map(|r| r.eval.text_match).collect();
    let messages: Vec<bool> = rows.iter().filter_map(|r| r.eval.message_match).collect();
    println!();
    println!(
        "informational: exact output text (run.py --strict-text) {}; InvalidDefinition message (--strict-messages) {}",
        ratio(texts.iter().filter(|&&b| b).count(), texts.len()),
        ratio(messages.iter().filter(|&&b| b).count(), messages.len()),
    );
    println!(
        "ran {} cases in {:.2}s",
        passed + failed,
        elapsed.as_secs_f64()
    );
    // JSON report
    let results: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut v = json!({
                "name": r.name,
                "group": r.group,
                "kind": r.kind,
                "verdict": r.verdict,
                "problems": r.eval.problems,
                "millis": (r.millis * 1000.0).round() / 1000.0,
            });
            if let Some(s) = &r.skip {
                v["skip_reason"] = json!(s);
            }
            if let Some(c) = &r.eval.category {
                v["category"] = json!(c);
            }
            if let Some(a) = &r.eval.actual {
                v["actual"] = a.clone();
            }
            if let Some(h) = &r.eval.history {
                v["history"] = match h {
                    None => json!("match"),
                    Some(why) => json!({ "mismatch": why }),
                };
            }
            if let Some(m) = r.eval.message_match {
                v["message_match"] = json!(m);
            }
            if let Some(t) = r.eval.text_match {
                v["output_text_match"] = json!(t);
            }
            v
        })
        .collect();
    let by_group: serde_json::Map<String, Value> = groups
        .iter()
        .map(|(g, [p, f, s])| {
            (
                g.to_string(),
                json!({ "passed": p, "failed": f, "skipped": s }),
            )
        })
        .collect();
    let report = json!({
        "corpus": dir.display().to_string(),
        "filter": filter,
        "passed": passed,
        "failed": failed,
        "skipped": skipped,
        "bar": BAR,
        "skipped_by_reason": skip_reasons.iter().map(|(r, n)| json!({ "reason": r, "count": n })).collect::<Vec<_>>(),
        "failures_by_category": categories.iter().map(|(c, n)| json!({ "category": c, "count": n })).collect::<Vec<_>>(),
        "history": {
            "compared": history.len(),
            "matched": history_ok,
            "not_compared": history_not_compared,
        },
        "by_group": by_group,
        "results": results,
    });
    let path = report_path();
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| {
            let text = serde_json::to_string_pretty(&report).expect("the report serializes");
            std::fs::write(&path, text)
        });
    match written {
        Ok(()) => {
            let shown = path.canonicalize().unwrap_or_else(|_| path.clone());
            println!("report: {}", shown.display());
        }
        Err(e) => eprintln!("conformance: cannot write {}: {e}", path.display()),
    }
    println!(
        "history event types: {history_ok} of {} compared cases match \
         ({history_not_compared} with a recorded history not compared: no outcome)",
        history.len()
    );
    println!("{passed} passed, {failed} failed");

    let total = passed + failed;
    if total == 0 {
        eprintln!("conformance: no case was run (filter {filter:?}); that is a failure");
        return false;
    }
    let rate = passed as f64 / total as f64;
    if rate < BAR {
        eprintln!(
            "conformance: pass rate {:.1} % ({passed}/{total}) is below the bar of {:.0} %",
            rate * 100.0,
            BAR * 100.0
        );
        return false;
    }
    true
}
