//! Nested executions in Postgres: Task states whose resource is
//! `arn:aws:states:::states:startExecution`, `….sync`, `….sync:2` or
//! `….waitForTaskToken`.
//!
//! No worker is involved. The scheduler's advance that schedules such a task starts the
//! child in the same transaction — the child's execution row and its `Start` inbox row —
//! and queues the parent's `TaskStarted` and the outcome of the start (`TaskSucceeded`
//! with `{"ExecutionArn", "StartDate"}` for request-response, `TaskSubmitted` for the
//! waiting forms, `TaskFailed` with AWS's `StepFunctions.*Exception` when the start is
//! refused). The start commits with the parent's snapshot or not at all, so a crash can
//! neither lose it nor start a second child.
//!
//! A `.sync`/`.sync:2` child carries its parent's ARN and task id (`parent_waits`). The
//! advance in which it ends queues the parent's `TaskSucceeded` (DescribeExecution's
//! answer, as AWS gives it) or `TaskFailed` (`States.TaskFailed`, that answer as cause),
//! again in the same transaction. When the parent's task is cancelled — StopExecution,
//! TimeoutSeconds, a failed sibling branch, the execution's end — the same advance
//! queues a `Stop` for each of its still-running `.sync` children.

use cairn_asl::callback::token_hash;
use cairn_asl::interpreter::{Event, TaskRequest};
use cairn_asl::task::Nested;
use serde_json::{json, Map, Value};

use crate::postgres_callbacks::{push_events, start_heartbeat};
use crate::{InboxEvent, Result, StoreError, Time};

/// The `parent_waits` column: set when the parent waits for the child's end.
fn waits_column(mode: Nested) -> Option<&'static str> {
    match mode {
        Nested::Sync => Some("sync"),
        Nested::Sync2 => Some("sync:2"),
        Nested::RequestResponse | Nested::WaitForTaskToken => None,
    }
}

/// Why StartExecution refused the child: AWS's error code (`StateMachineDoesNotExist`, …)
/// and message. The task fails with `StepFunctions.<code>Exception`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refusal {
    code: &'static str,
    message: String,
}

impl Refusal {
    fn new(code: &'static str, message: String) -> Refusal {
        Refusal { code, message }
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
struct ChildRequest {
    machine_arn: String,
    name: Option<String>,
    /// The child's input as JSON text.
    input: String,
}

/// Reads `StateMachineArn`, `Input` (an object, any JSON value, or a string holding JSON
/// text) and `Name` as StartExecution would.
fn read_parameters(parameters: &Value) -> std::result::Result<ChildRequest, Refusal> {
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
        None => None,
        Some(Value::String(name)) if name_is_valid(name) => Some(name.clone()),
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

/// AWS's rule for execution names: 1–80 characters, no white space, brackets, wildcards,
/// special characters or control characters.
fn name_is_valid(name: &str) -> bool {
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

/// A UUID-shaped text derived from `seed`: the child's name when `Name` is absent, and the
/// request id of a refusal. Derived, not random, so the same task names the same child.
fn derived_uuid(seed: &str) -> String {
    let hex = token_hash(seed);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn millis(time: Time) -> Value {
    json!(time.timestamp_millis())
}

fn step_text(event: Event) -> Result<String> {
    serde_json::to_string(&InboxEvent::Step(event)).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// One nested task to start in this advance.
struct NestedStart {
    parent_arn: String,
    mode: Nested,
    task: TaskRequest,
}

/// The nested tasks one advance schedules: they never become `tasks` rows.
#[derive(Default)]
pub(crate) struct NestedWrites {
    starts: Vec<NestedStart>,
}

impl NestedWrites {
    /// Takes `task` when it is a nested execution (`true`): it must not become a `tasks`
    /// row. Its token, if any, was noted by the callback writes first.
    pub(crate) fn add(&mut self, parent_arn: &str, task: &TaskRequest) -> bool {
        let Some(mode) = Nested::of(&task.resource) else {
            return false;
        };
        self.starts.push(NestedStart {
            parent_arn: parent_arn.to_string(),
            mode,
            task: task.clone(),
        });
        true
    }

    /// Starts the children inside the advance's transaction (after the callback writes,
    /// so a `.waitForTaskToken` token row exists) and queues each parent's events.
    /// `true` when anything was queued.
    pub(crate) async fn commit(self, tx: &mut sqlx::PgConnection) -> Result<bool> {
        let queued = !self.starts.is_empty();
        for start in self.starts {
            start_one(tx, start).await?;
        }
        Ok(queued)
    }
}

/// Starts one child and queues its parent's `TaskStarted` and the start's outcome.
async fn start_one(tx: &mut sqlx::PgConnection, start: NestedStart) -> Result<()> {
    let NestedStart {
        parent_arn,
        mode,
        task,
    } = start;
    let id = task.task;
    let seed = format!("{parent_arn}/{}/{}", task.task, task.attempt);
    let mut events = vec![step_text(Event::TaskStarted { task: id })?];
    let started = match read_parameters(&task.input) {
        Ok(request) => start_child(tx, &parent_arn, &task, mode, request, &seed).await?,
        Err(refusal) => Err(refusal),
    };
    match started {
        Ok((child_arn, started_at)) => {
            let response = json!({"ExecutionArn": child_arn, "StartDate": millis(started_at)});
            tracing::info!(parent = %parent_arn, child = %child_arn, state = %task.state_name, "nested execution started");
            events.push(step_text(match mode {
                Nested::RequestResponse => Event::TaskSucceeded {
                    task: id,
                    output: response,
                },
                Nested::Sync | Nested::Sync2 | Nested::WaitForTaskToken => Event::TaskSubmitted {
                    task: id,
                    output: response,
                },
            })?);
            if mode == Nested::WaitForTaskToken {
                if let Some(seconds) = task.heartbeat_seconds {
                    start_heartbeat(tx, &parent_arn, id as i64, seconds as i64).await?;
                }
            }
        }
        Err(refusal) => {
            let request_id = derived_uuid(&format!("{seed}/request"));
            events.push(step_text(refusal.into_event(id, &request_id))?);
            if mode == Nested::WaitForTaskToken {
                sqlx::query!(
                    r#"update task_tokens set closed_at = now()
                       where execution_arn = $1 and task_id = $2 and closed_at is null"#,
                    parent_arn,
                    id as i64,
                )
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    push_events(tx, &parent_arn, &events).await
}

/// Inserts the child's execution row and `Start` event (one statement, as the API's
/// StartExecution does). The same name with the same input while the child runs is
/// idempotent, as AWS's StartExecution is: the running child is (re)linked to this task.
async fn start_child(
    tx: &mut sqlx::PgConnection,
    parent_arn: &str,
    task: &TaskRequest,
    mode: Nested,
    request: ChildRequest,
    seed: &str,
) -> Result<std::result::Result<(String, Time), Refusal>> {
    let machine = sqlx::query!(
        "select name, type, definition_id, role_arn from state_machines where arn = $1",
        request.machine_arn
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(machine) = machine else {
        return Ok(Err(Refusal::new(
            "StateMachineDoesNotExist",
            format!("State Machine Does Not Exist: '{}'", request.machine_arn),
        )));
    };
    if machine.r#type != "STANDARD" {
        return Ok(Err(Refusal::new(
            "StateMachineTypeNotSupported",
            format!(
                "Cairn does not start {} state machines from a Task state: '{}'",
                machine.r#type, request.machine_arn
            ),
        )));
    }
    let name = request.name.unwrap_or_else(|| derived_uuid(seed));
    let prefix = request
        .machine_arn
        .split_once(":stateMachine:")
        .map(|(p, _)| p)
        .unwrap_or_default();
    let child_arn = format!("{prefix}:execution:{}:{name}", machine.name);
    let start = serde_json::to_string(&InboxEvent::Start)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let waits = waits_column(mode);
    let inserted = sqlx::query_scalar!(
        r#"with started as (
               insert into executions (arn, state_machine_arn, name, definition_id, role_arn,
                                       status, input, started_at, parent_arn, parent_task_id,
                                       parent_waits)
               values ($1, $2, $3, $4, $5, 'RUNNING', $6::text::json, now(), $7, $8, $9)
               on conflict (arn) do nothing
               returning arn, started_at),
           queued as (
               insert into inbox (execution_arn, due_at, event)
               select arn, now(), $10::text::json from started)
           select started_at from started"#,
        child_arn,
        request.machine_arn,
        name,
        machine.definition_id,
        machine.role_arn,
        request.input,
        parent_arn,
        task.task as i64,
        waits,
        start,
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(started_at) = inserted {
        return Ok(Ok((child_arn, started_at)));
    }
    let existing = sqlx::query!(
        r#"select input::text as "input!", status, started_at, parent_arn, parent_task_id
           from executions where arn = $1"#,
        child_arn
    )
    .fetch_one(&mut *tx)
    .await?;
    // A child an earlier task of this parent started (a retry after a timeout, whose
    // child is being stopped) is not this task's to take over: AWS finds it stopped.
    let earlier_task = existing.parent_arn.as_deref() == Some(parent_arn)
        && existing.parent_task_id != Some(task.task as i64);
    if existing.status != "RUNNING" || existing.input != request.input || earlier_task {
        return Ok(Err(Refusal::new(
            "ExecutionAlreadyExists",
            format!("Execution Already Exists: '{child_arn}'"),
        )));
    }
    sqlx::query!(
        r#"update executions set parent_arn = $2, parent_task_id = $3, parent_waits = $4
           where arn = $1"#,
        child_arn,
        parent_arn,
        task.task as i64,
        waits,
    )
    .execute(&mut *tx)
    .await?;
    Ok(Ok((child_arn, existing.started_at)))
}

/// A child that ended, as DescribeExecution shows it.
struct EndedChild {
    arn: String,
    name: String,
    state_machine_arn: String,
    status: String,
    input: String,
    output: Option<String>,
    error: Option<String>,
    cause: Option<String>,
    started_at: Time,
    stopped_at: Option<Time>,
}

/// DescribeExecution's answer as a `.sync` task reports it: AWS's member names in
/// PascalCase and alphabetical order, dates in epoch milliseconds; `Input` and `Output`
/// as JSON text (`.sync`) or parsed (`.sync:2`).
fn describe_output(child: &EndedChild, parsed: bool) -> Value {
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
    // As Cairn's DescribeExecution answers: no execution is redriven.
    out.insert("RedriveCount".into(), json!(0));
    out.insert("RedriveStatus".into(), json!("NOT_REDRIVABLE"));
    let reason = match child.status.as_str() {
        "SUCCEEDED" => "Execution is SUCCEEDED and cannot be redriven",
        _ => "Cairn does not redrive executions yet",
    };
    out.insert("RedriveStatusReason".into(), json!(reason));
    out.insert("StartDate".into(), millis(child.started_at));
    out.insert("StateMachineArn".into(), json!(child.state_machine_arn));
    out.insert("Status".into(), json!(child.status));
    if let Some(stopped) = child.stopped_at {
        out.insert("StopDate".into(), millis(stopped));
    }
    Value::Object(out)
}

/// For each of `ended` (executions this advance ended) that a `.sync` parent waits for,
/// queues the parent's task outcome: `TaskSucceeded` with DescribeExecution's answer, or
/// `TaskFailed` with `States.TaskFailed` and that answer as cause. `true` when any was
/// queued.
pub(crate) async fn notify_parents(tx: &mut sqlx::PgConnection, ended: &[String]) -> Result<bool> {
    if ended.is_empty() {
        return Ok(false);
    }
    let rows = sqlx::query!(
        r#"select arn, name, state_machine_arn, status, input::text as "input!",
                  output::text as output, error, cause, started_at, stopped_at,
                  parent_arn as "parent_arn!", parent_task_id as "parent_task_id!",
                  parent_waits as "parent_waits!"
           from executions
           where arn = any($1) and parent_waits is not null and status <> 'RUNNING'"#,
        ended
    )
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(false);
    }
    let mut parents = Vec::with_capacity(rows.len());
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        let child = EndedChild {
            arn: row.arn,
            name: row.name,
            state_machine_arn: row.state_machine_arn,
            status: row.status,
            input: row.input,
            output: row.output,
            error: row.error,
            cause: row.cause,
            started_at: row.started_at,
            stopped_at: row.stopped_at,
        };
        let described = describe_output(&child, row.parent_waits == "sync:2");
        let task = row.parent_task_id as u64;
        let event = if child.status == "SUCCEEDED" {
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
        };
        parents.push(row.parent_arn);
        events.push(step_text(event)?);
    }
    crate::postgres::enqueue_now(tx, &parents, &events).await?;
    Ok(true)
}

/// Queues a `Stop` for every still-running `.sync` child of the cancelled tasks (given as
/// execution and task id columns), as AWS stops the executions a stopped task managed.
/// `true` when any was queued.
pub(crate) async fn stop_children(
    tx: &mut sqlx::PgConnection,
    cancelled_execution: &[String],
    cancelled_task: &[i64],
) -> Result<bool> {
    if cancelled_execution.is_empty() {
        return Ok(false);
    }
    let children = sqlx::query!(
        r#"select e.arn, e.parent_arn as "parent_arn!"
           from executions e
           join unnest($1::text[], $2::int8[]) as u(a, i)
             on e.parent_arn = u.a and e.parent_task_id = u.i
           where e.parent_waits is not null and e.status = 'RUNNING'"#,
        cancelled_execution,
        cancelled_task,
    )
    .fetch_all(&mut *tx)
    .await?;
    if children.is_empty() {
        return Ok(false);
    }
    let mut arns = Vec::with_capacity(children.len());
    let mut events = Vec::with_capacity(children.len());
    for child in children {
        events.push(step_text(Event::Stop {
            error: None,
            cause: Some(format!(
                "The Task state in AWS Step Functions execution [{}] which was managing this resource was aborted",
                child.parent_arn
            )),
        })?);
        arns.push(child.arn);
    }
    crate::postgres::enqueue_now(tx, &arns, &events).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_as_start_execution_reads_them() {
        let machine = "arn:aws:states:us-east-1:123456789012:stateMachine:Child";
        let read = read_parameters(&json!({"StateMachineArn": machine, "Input": {"b": 1, "a": 2}}))
            .expect("valid");
        assert_eq!(read.input, r#"{"b":1,"a":2}"#);
        assert_eq!(read.name, None);
        let text = read_parameters(
            &json!({"StateMachineArn": machine, "Input": "{\"x\": 1}", "Name": "n-1"}),
        )
        .expect("valid");
        assert_eq!(text.input, "{\"x\": 1}");
        assert_eq!(text.name.as_deref(), Some("n-1"));
        assert_eq!(
            read_parameters(&json!({"StateMachineArn": machine}))
                .expect("valid")
                .input,
            "{}"
        );
        let code = |p: Value| read_parameters(&p).map_err(|r| r.code).err();
        assert_eq!(code(json!({})), Some("InvalidArn"));
        assert_eq!(
            code(json!({"StateMachineArn": "arn:aws:lambda:us-east-1:1:function:f"})),
            Some("InvalidArn")
        );
        assert_eq!(
            code(json!({"StateMachineArn": machine, "Name": "a b"})),
            Some("InvalidName")
        );
        assert_eq!(
            code(json!({"StateMachineArn": machine, "Name": 7})),
            Some("InvalidName")
        );
        assert_eq!(
            code(json!({"StateMachineArn": machine, "Input": "{not json"})),
            Some("InvalidExecutionInput")
        );
    }

    #[test]
    fn refusals_name_the_service_exception() {
        let Event::TaskFailed { error, cause, .. } = Refusal::new(
            "StateMachineDoesNotExist",
            "State Machine Does Not Exist: 'x'".to_string(),
        )
        .into_event(3, "r") else {
            panic!("a failure")
        };
        assert_eq!(error, "StepFunctions.StateMachineDoesNotExistException");
        assert_eq!(
            cause.as_deref(),
            Some("State Machine Does Not Exist: 'x' (Service: AWSStepFunctions; Status Code: 400; Error Code: StateMachineDoesNotExist; Request ID: r; Proxy: null)")
        );
    }

    #[test]
    fn describe_output_text_or_parsed() {
        let at = chrono::DateTime::from_timestamp_millis(1_000).unwrap_or_default();
        let child = EndedChild {
            arn: "arn:c".into(),
            name: "c".into(),
            state_machine_arn: "arn:m".into(),
            status: "SUCCEEDED".into(),
            input: r#"{"k":1}"#.into(),
            output: Some(r#"{"ok":true}"#.into()),
            error: None,
            cause: None,
            started_at: at,
            stopped_at: Some(at + chrono::Duration::seconds(1)),
        };
        let text = describe_output(&child, false);
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
    }

    #[test]
    fn derived_names_are_uuid_shaped_and_stable() {
        let a = derived_uuid("arn:p/1/0");
        assert_eq!(a.len(), 36);
        assert_eq!(a, derived_uuid("arn:p/1/0"));
        assert_ne!(a, derived_uuid("arn:p/1/1"));
        assert!(name_is_valid(&a));
    }
}
