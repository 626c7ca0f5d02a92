//! Nested executions in Postgres (the protocol is [`crate::nested`]'s): a child's row and
//! `Start` event inserted inside the commit that schedules its parent's task, and the
//! `Stop` its cancelled parent task sends it.

use cairn_asl::interpreter::TaskRequest;
use cairn_asl::task::Nested;

use super::callbacks::start_heartbeat;
use super::{enqueue_for, enqueue_now, status_of, to_json_text};
use crate::catalog::MachineType;
use crate::engine::InboxEvent;
use crate::nested::{self, ChildRequest, ExistingChild, Refusal};
use crate::{Result, Time};

/// One nested task to start in a commit.
pub(super) struct NestedStart {
    pub parent_arn: String,
    pub task: TaskRequest,
    pub nested: Nested,
}

/// Starts the children inside the commit's transaction (after the token rows, so a
/// `.waitForTaskToken` token exists to close) and queues each parent's events. `true`
/// when anything was queued.
pub(super) async fn start_children(
    tx: &mut sqlx::PgConnection,
    starts: Vec<NestedStart>,
) -> Result<bool> {
    let queued = !starts.is_empty();
    for start in starts {
        start_one(tx, start).await?;
    }
    Ok(queued)
}

/// Starts one child and queues its parent's `TaskStarted` and the start's outcome.
async fn start_one(tx: &mut sqlx::PgConnection, start: NestedStart) -> Result<()> {
    let NestedStart {
        parent_arn,
        task,
        nested,
    } = start;
    let seed = nested::seed(&parent_arn, &task);
    let started = match nested::read_parameters(&task.input, &seed) {
        Ok(request) => start_child(tx, &parent_arn, &task, nested, request).await?,
        Err(refusal) => Err(refusal),
    };
    match &started {
        Ok((child_arn, _)) => {
            tracing::info!(parent = %parent_arn, child = %child_arn, state = %task.state_name, "nested execution started");
            if nested == Nested::WaitForTaskToken {
                if let Some(seconds) = task.heartbeat_seconds {
                    start_heartbeat(tx, &parent_arn, task.task as i64, seconds as i64).await?;
                }
            }
        }
        Err(_) if nested == Nested::WaitForTaskToken => {
            sqlx::query!(
                r#"update task_tokens set closed_at = now()
                   where execution_arn = $1 and task_id = $2 and closed_at is null"#,
                parent_arn,
                task.task as i64,
            )
            .execute(&mut *tx)
            .await?;
        }
        Err(_) => {}
    }
    let events = nested::start_events(&task, nested, started, &seed);
    enqueue_for(tx, &parent_arn, events).await
}

/// Inserts the child's execution row and `Start` event (one statement, as
/// StartExecution does), or relinks the running child of that name when AWS's
/// idempotent start allows it ([`nested::may_relink`]).
async fn start_child(
    tx: &mut sqlx::PgConnection,
    parent_arn: &str,
    task: &TaskRequest,
    nested: Nested,
    request: ChildRequest,
) -> Result<std::result::Result<(String, Time), Refusal>> {
    let machine = sqlx::query!(
        "select name, type, definition_id, role_arn, status from state_machines where arn = $1",
        request.machine_arn
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(machine) = machine else {
        return Ok(Err(Refusal::no_machine(&request.machine_arn)));
    };
    if machine.status != "ACTIVE" {
        return Ok(Err(Refusal::deleting(&request.machine_arn)));
    }
    if MachineType::stored(&machine.r#type)? != MachineType::Standard {
        return Ok(Err(Refusal::not_standard(
            &request.machine_arn,
            &machine.r#type,
        )));
    }
    let child_arn = request.child_arn(&machine.name);
    let start = to_json_text(&InboxEvent::Start)?;
    let waits = waits_column(nested);
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
        request.name,
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
    let found = ExistingChild {
        status: status_of(&existing.status)?,
        input: &existing.input,
        parent_arn: existing.parent_arn.as_deref(),
        parent_task: existing.parent_task_id,
    };
    if !nested::may_relink(&found, &request, parent_arn, task.task) {
        return Ok(Err(Refusal::already_exists(&child_arn)));
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

/// The `parent_waits` column: set when the parent waits for the child's end.
fn waits_column(nested: Nested) -> Option<&'static str> {
    match nested {
        Nested::Sync => Some("sync"),
        Nested::Sync2 => Some("sync:2"),
        Nested::RequestResponse | Nested::WaitForTaskToken => None,
    }
}

/// The parent link a claimed execution's `parent_waits` column names.
pub(super) fn waits_of(column: &str) -> Option<Nested> {
    match column {
        "sync" => Some(Nested::Sync),
        "sync:2" => Some(Nested::Sync2),
        _ => None,
    }
}

/// Queues a `Stop` for every still-running `.sync` child of the cancelled tasks (given
/// as execution and task id columns). `true` when any was queued.
pub(super) async fn stop_children(
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
    let events: Vec<InboxEvent> = children
        .iter()
        .map(|child| InboxEvent::Step(nested::stop_event(&child.parent_arn)))
        .collect();
    let arns: Vec<String> = children.into_iter().map(|child| child.arn).collect();
    enqueue_now(tx, &arns, &events).await?;
    Ok(true)
}
