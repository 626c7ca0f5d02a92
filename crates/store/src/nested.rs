//! Nested executions — Task states on `arn:aws:states:::states:startExecution`,
//! `….sync`, `….sync:2` and `….waitForTaskToken` — as both stores run them.
//!
//! No worker is involved. The commit that schedules such a task (an
//! [`crate::engine::Effect::StartExecution`]) starts the child in the same transaction —
//! the child's execution row and its `Start` event — and queues the parent's
//! `TaskStarted` and the outcome of the start ([`start_events`]): `TaskSucceeded` with
//! `{"ExecutionArn", "StartDate"}` for request-response, `TaskSubmitted` for the waiting
//! forms, `TaskFailed` with AWS's `StepFunctions.*Exception` when the start is refused.
//! The start commits with the parent's snapshot or not at all, so a crash can neither
//! lose it nor start a second child.
//!
//! A `.sync`/`.sync:2` child carries its parent's ARN and task id. The advance in which
//! it ends tells the parent ([`parent_event`]: `TaskSucceeded` with DescribeExecution's
//! answer, as AWS gives it, or `TaskFailed` with `States.TaskFailed` and that answer as
//! cause), again in the same transaction. When the parent's task is cancelled —
//! StopExecution, TimeoutSeconds, a failed sibling branch, the execution's end — the
//! same commit queues a `Stop` ([`stop_event`]) for each of its still-running `.sync`
//! children.
//!
//! Why in the scheduler's commit rather than through a worker: a worker would need a
//! lease transaction (`TaskStarted`) and then a second one to start the child and record
//! `TaskSubmitted`, and a crash between a start and its record would need the child's
//! name to be derived so the retry finds it. Starting the child where the task is
//! scheduled costs no transaction of its own — it rides on the commit that happens
//! anyway — and leaves no window: the child exists if and only if the parent's snapshot
//! that scheduled it committed. Child names given by `Name`, or derived from the parent's
//! ARN, task and attempt ([`seed`]), make even a replayed advance name the same child.
//!
//! This module is the protocol, pure; each store keeps the rows.

use cairn_asl::callback::derived_uuid;
use cairn_asl::interpreter::{Event, TaskRequest};
use cairn_asl::task::Nested;
use cairn_asl::ExecutionStatus;
use serde_json::{json, Map, Value};

use crate::executions::ExecutionRecord;
use crate::Time;

/// Why StartExecution refused the child: AWS's error code (`StateMachineDoesNotExist`, …)
/// and message. The task fails with `StepFunctions.<code>Exception`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn new(code: &'static str, message: String) -> Refusal {
        Refusal { code, message }
    }

    /// No such machine.
    pub fn no_machine(machine_arn: &str) -> Refusal {
        Refusal::new(
            "StateMachineDoesNotExist",
            format!("State Machine Does Not Exist: '{machine_arn}'"),
        )
    }

    /// The machine is being deleted.
    pub fn deleting(machine_arn: &str) -> Refusal {
        Refusal::new(
            "StateMachineDeleting",
            format!("State Machine is being deleted: '{machine_arn}'"),
        )
    }

    /// The machine is not STANDARD (`type`, AWS's spelling).
    pub fn not_standard(machine_arn: &str, machine_type: &str) -> Refusal {
        Refusal::new(
            "StateMachineTypeNotSupported",
            format!("Cairn does not start {machine_type} state machines from a Task state: '{machine_arn}'"),
        )
    }

    /// The name is taken in a way AWS's idempotent start does not cover.
    pub fn already_exists(child_arn: &str) -> Refusal {
        Refusal::new(
            "ExecutionAlreadyExists",
            format!("Execution Already Exists: '{child_arn}'"),
        )
    }

    /// The task's error and cause, shaped as AWS reports a refused service call.
    fn into_event(self, task: u64, request_id: &str) -> Event {
        Event::TaskFailed {
            task,
            error: format!("StepFunctions.{}Exception", self.code),
            cause: Some(format!(
                "{} (Service: AWSStepFunctions; Status Code: 400; Error Code: {}; Request ID: {request_id}; Proxy: null)",
                self.message, self.code
            )),
        }
    }
}

/// The child a Task state's `Parameters` ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildRequest {
    pub machine_arn: String,
    /// `Name`, or one derived from the parent's task (the same task names the same child).
    pub name: String,
    /// The child's input as JSON text.
    pub input: String,
}

impl ChildRequest {
    /// The child's ARN: the machine's prefix, `execution`, the machine's name and the
    /// child's.
    pub fn child_arn(&self, machine_name: &str) -> String {
        let prefix = self
            .machine_arn
            .split_once(":stateMachine:")
            .map(|(p, _)| p)
            .unwrap_or_default();
        format!("{prefix}:execution:{machine_name}:{}", self.name)
    }
}

/// What names a child when `Name` is absent, and a refusal's request id: the parent and
/// the task's id and attempt, so that a replayed advance names the same child.
pub fn seed(parent_arn: &str, task: &TaskRequest) -> String {
    format!("{parent_arn}/{}/{}", task.task, task.attempt)
}

/// Reads `StateMachineArn`, `Input` (an object, any JSON value, or a string holding JSON
/// text) and `Name` as StartExecution would.
pub fn read_parameters(parameters: &Value, seed: &str) -> Result<ChildRequest, Refusal> {
    let machine_arn = match parameters.get("StateMachineArn") {
        Some(Value::String(arn)) => arn.clone(),
        _ => {
            return Err(Refusal::new(
                "InvalidArn",
                "Invalid Arn: 'StateMachineArn is required and must be a string'".to_string(),
            ))
        }
    };
    let well_formed = {
        let fields: Vec<&str> = machine_arn.split(':').collect();
        matches!(fields.as_slice(),
            ["arn", p, "states", r, a, "stateMachine", n, ..]
                if !p.is_empty() && !r.is_empty() && !a.is_empty() && !n.is_empty())
    };
    if !well_formed {
        return Err(Refusal::new(
            "InvalidArn",
            format!("Invalid Arn: 'Resource type not valid in this context: {machine_arn}'"),
        ));
    }
    let name = match parameters.get("Name") {
        None => derived_uuid(seed),
        Some(Value::String(name)) if name_is_valid(name) => name.clone(),
        Some(other) => {
            let shown = other
                .as_str()
                .map(str::to_string)
                .unwrap_or(other.to_string());
            return Err(Refusal::new(
                "InvalidName",
                format!("Invalid Name: '{shown}'"),
            ));
        }
    };
    let input = match parameters.get("Input") {
        None => "{}".to_string(),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(_) => text.clone(),
            Err(e) => {
                return Err(Refusal::new(
                    "InvalidExecutionInput",
                    format!("Invalid State Machine Execution Input: '{e}'"),
                ))
            }
        },
        Some(value) => value.to_string(),
    };
    Ok(ChildRequest {
        machine_arn,
        name,
        input,
    })
}

/// An execution of the child's name that exists already, as a start finds it.
#[derive(Debug, Clone)]
pub struct ExistingChild<'a> {
    pub status: ExecutionStatus,
    pub input: &'a str,
    pub parent_arn: Option<&'a str>,
    pub parent_task: Option<i64>,
}

/// Whether a start of `request` by `parent_arn`'s `task` may take over `existing`: AWS's
/// idempotent start (same input, still running). A child an earlier task of this parent
/// started (a retry after a timeout, whose child is being stopped) is not this task's
/// to take over: AWS finds it stopped.
pub fn may_relink(
    existing: &ExistingChild<'_>,
    request: &ChildRequest,
    parent_arn: &str,
    task: u64,
) -> bool {
    let earlier_task =
        existing.parent_arn == Some(parent_arn) && existing.parent_task != Some(task as i64);
    existing.status == ExecutionStatus::Running && existing.input == request.input && !earlier_task
}

/// The parent's events for a start of task `task` that ended as `started` (the child's
/// ARN and start time, or why it was refused): `TaskStarted`, then the outcome.
pub fn start_events(
    task: &TaskRequest,
    nested: Nested,
    started: Result<(String, Time), Refusal>,
    seed: &str,
) -> Vec<Event> {
    let id = task.task;
    let outcome = match started {
        Ok((child_arn, started_at)) => {
            let response = json!({"ExecutionArn": child_arn, "StartDate": millis(started_at)});
            match nested {
                Nested::RequestResponse => Event::TaskSucceeded {
                    task: id,
                    output: response,
                },
                Nested::Sync | Nested::Sync2 | Nested::WaitForTaskToken => Event::TaskSubmitted {
                    task: id,
                    output: response,
                },
            }
        }
        Err(refusal) => refusal.into_event(id, &derived_uuid(&format!("{seed}/request"))),
    };
    vec![Event::TaskStarted { task: id }, outcome]
}

/// AWS's rule for execution names: 1–80 characters, no white space, brackets, wildcards,
/// special characters or control characters.
pub fn name_is_valid(name: &str) -> bool {
    const FORBIDDEN: &str = "<>{}[]?*\"#%\\^|~`$&,;:/";
    let length = name.chars().count();
    (1..=80).contains(&length)
        && !name.chars().any(|c| {
            let code = c as u32;
            c.is_whitespace()
                || FORBIDDEN.contains(c)
                || code <= 0x1F
                || (0x7F..=0x9F).contains(&code)
        })
}

fn millis(time: Time) -> Value {
    json!(time.timestamp_millis())
}

/// DescribeExecution's answer as a `.sync` task reports it: AWS's member names in
/// PascalCase and alphabetical order, dates in epoch milliseconds; `Input` and `Output`
/// as JSON text (`.sync`) or parsed (`.sync:2`).
fn describe_output(child: &ExecutionRecord, parsed: bool) -> Value {
    let payload = |text: &str| {
        if parsed {
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
        } else {
            Value::String(text.to_string())
        }
    };
    let mut out = Map::new();
    if let Some(cause) = &child.cause {
        out.insert("Cause".into(), json!(cause));
    }
    if let Some(error) = &child.error {
        out.insert("Error".into(), json!(error));
    }
    out.insert("ExecutionArn".into(), json!(child.arn));
    out.insert("Input".into(), payload(&child.input));
    out.insert("InputDetails".into(), json!({"Included": true}));
    out.insert("Name".into(), json!(child.name));
    if let Some(output) = &child.output {
        out.insert("Output".into(), payload(output));
        out.insert("OutputDetails".into(), json!({"Included": true}));
    }
    // As DescribeExecution answers the moment it ended.
    out.insert("RedriveCount".into(), json!(child.redrive_count));
    match child.redrivability(child.stopped_at.unwrap_or(child.started_at)) {
        Ok(()) => {
            out.insert("RedriveStatus".into(), json!("REDRIVABLE"));
        }
        Err(why) => {
            out.insert("RedriveStatus".into(), json!("NOT_REDRIVABLE"));
            out.insert("RedriveStatusReason".into(), json!(why.reason()));
        }
    }
    out.insert("StartDate".into(), millis(child.started_at));
    out.insert("StateMachineArn".into(), json!(child.state_machine_arn));
    out.insert("Status".into(), json!(child.status.as_str()));
    if let Some(stopped) = child.stopped_at {
        out.insert("StopDate".into(), millis(stopped));
    }
    Value::Object(out)
}

/// The event for the parent's task `task` when its `.sync` (`waits`) child ended as
/// `child`: `TaskSucceeded` with DescribeExecution's answer, or `TaskFailed`
/// (`States.TaskFailed`) with that answer as cause.
pub fn parent_event(child: &ExecutionRecord, task: u64, waits: Nested) -> Event {
    let described = describe_output(child, waits == Nested::Sync2);
    if child.status == ExecutionStatus::Succeeded {
        Event::TaskSucceeded {
            task,
            output: described,
        }
    } else {
        Event::TaskFailed {
            task,
            error: cairn_asl::error::names::TASK_FAILED.to_string(),
            cause: Some(described.to_string()),
        }
    }
}

/// The `Stop` a `.sync` child of `parent_arn` receives when the parent's task is
/// cancelled, as AWS stops the executions a stopped task managed.
pub fn stop_event(parent_arn: &str) -> Event {
    Event::Stop {
        error: None,
        cause: Some(format!(
            "The Task state in AWS Step Functions execution [{parent_arn}] which was managing this resource was aborted"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:Child";

    #[test]
    fn parameters_as_start_execution_reads_them() {
        let read = read_parameters(
            &json!({"StateMachineArn": MACHINE, "Input": {"b": 1, "a": 2}}),
            "s",
        )
        .expect("valid");
        assert_eq!(read.input, r#"{"b":1,"a":2}"#);
        assert_eq!(
            read.name,
            derived_uuid("s"),
            "no Name: derived from the seed"
        );
        assert_eq!(
            read.child_arn("Child"),
            format!(
                "arn:aws:states:us-east-1:123456789012:execution:Child:{}",
                read.name
            )
        );
        let text = read_parameters(
            &json!({"StateMachineArn": MACHINE, "Input": "{\"x\": 1}", "Name": "n-1"}),
            "s",
        )
        .expect("valid");
        assert_eq!(text.input, "{\"x\": 1}");
        assert_eq!(text.name, "n-1");
        assert_eq!(
            read_parameters(&json!({"StateMachineArn": MACHINE}), "s")
                .expect("valid")
                .input,
            "{}"
        );
        let code = |p: Value| read_parameters(&p, "s").map_err(|r| r.code).err();
        assert_eq!(code(json!({})), Some("InvalidArn"));
        assert_eq!(
            code(json!({"StateMachineArn": "arn:aws:lambda:us-east-1:1:function:f"})),
            Some("InvalidArn")
        );
        assert_eq!(
            code(json!({"StateMachineArn": MACHINE, "Name": "a b"})),
            Some("InvalidName")
        );
        assert_eq!(
            code(json!({"StateMachineArn": MACHINE, "Name": 7})),
            Some("InvalidName")
        );
        assert_eq!(
            code(json!({"StateMachineArn": MACHINE, "Input": "{not json"})),
            Some("InvalidExecutionInput")
        );
    }

    #[test]
    fn refusals_name_the_service_exception() {
        let task = TaskRequest {
            task: 3,
            state_name: "S".into(),
            resource: "arn:aws:states:::states:startExecution".into(),
            input: json!({}),
            timeout_seconds: None,
            heartbeat_seconds: None,
            attempt: 0,
            token: None,
            entered_event: 2,
        };
        let events = start_events(
            &task,
            Nested::RequestResponse,
            Err(Refusal::no_machine("x")),
            "seed",
        );
        assert_eq!(events[0], Event::TaskStarted { task: 3 });
        let Event::TaskFailed { error, cause, .. } = &events[1] else {
            panic!("a failure")
        };
        assert_eq!(error, "StepFunctions.StateMachineDoesNotExistException");
        let request_id = derived_uuid("seed/request");
        assert_eq!(
            cause.as_deref(),
            Some(format!("State Machine Does Not Exist: 'x' (Service: AWSStepFunctions; Status Code: 400; Error Code: StateMachineDoesNotExist; Request ID: {request_id}; Proxy: null)").as_str())
        );
    }

    #[test]
    fn describe_output_text_or_parsed() {
        let at = chrono::DateTime::from_timestamp_millis(1_000).unwrap_or_default();
        let child = ExecutionRecord {
            arn: "arn:c".into(),
            name: "c".into(),
            state_machine_arn: "arn:m".into(),
            status: ExecutionStatus::Succeeded,
            input: r#"{"k":1}"#.into(),
            output: Some(r#"{"ok":true}"#.into()),
            error: None,
            cause: None,
            started_at: at,
            stopped_at: Some(at + chrono::Duration::seconds(1)),
            history_length: 3,
            version_arn: None,
            alias_arn: None,
            redrive_count: 0,
            redrive_date: None,
            machine_deleting: false,
            map_run_arn: None,
        };
        let Event::TaskSucceeded { output: text, .. } = parent_event(&child, 1, Nested::Sync)
        else {
            panic!("a success")
        };
        assert_eq!(text["Input"], json!(r#"{"k":1}"#));
        assert_eq!(text["Output"], json!(r#"{"ok":true}"#));
        assert_eq!(text["StartDate"], json!(1000));
        assert_eq!(text["StopDate"], json!(2000));
        let keys: Vec<&String> = text
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "AWS's members are in alphabetical order");
        let parsed = describe_output(&child, true);
        assert_eq!(parsed["Input"], json!({"k": 1}));
        assert_eq!(parsed["Output"], json!({"ok": true}));
        let failed = ExecutionRecord {
            status: ExecutionStatus::Failed,
            output: None,
            ..child
        };
        assert!(matches!(
            parent_event(&failed, 1, Nested::Sync2),
            Event::TaskFailed { ref error, .. } if error == "States.TaskFailed"
        ));
    }

    #[test]
    fn derived_names_are_uuid_shaped_and_stable() {
        let a = derived_uuid("arn:p/1/0");
        assert_eq!(a.len(), 36);
        assert_eq!(a, derived_uuid("arn:p/1/0"));
        assert_ne!(a, derived_uuid("arn:p/1/1"));
        assert!(name_is_valid(&a));
    }

    #[test]
    fn an_earlier_tasks_child_is_not_taken_over() {
        let request = ChildRequest {
            machine_arn: MACHINE.into(),
            name: "n".into(),
            input: "{}".into(),
        };
        let running = ExistingChild {
            status: ExecutionStatus::Running,
            input: "{}",
            parent_arn: Some("arn:p"),
            parent_task: Some(1),
        };
        assert!(may_relink(&running, &request, "arn:p", 1));
        assert!(
            !may_relink(&running, &request, "arn:p", 2),
            "an earlier task's child"
        );
        assert!(
            may_relink(&running, &request, "arn:other", 5),
            "AWS's idempotent start"
        );
        let ended = ExistingChild {
            status: ExecutionStatus::Succeeded,
            ..running.clone()
        };
        assert!(!may_relink(&ended, &request, "arn:p", 1));
        let other_input = ExistingChild {
            input: "{\"x\":1}",
            ..running
        };
        assert!(!may_relink(&other_input, &request, "arn:p", 1));
    }
}
