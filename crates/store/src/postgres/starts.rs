//! StartExecution calls of STANDARD machines that arrive together are written together:
//! one statement and one commit for the batch, instead of one each. Nothing waits to
//! form a batch — a start is sent at once when a connection slot is free, and the starts
//! that arrive while [`IN_FLIGHT`] batches are being written form the next one — so a
//! lone caller sees the latency of a single insert and a crowd shares the commits.
//!
//! Each caller still gets its own answer: created, already running with the same input
//! (AWS's idempotent start), `ExecutionAlreadyExists`, or no such STANDARD machine.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};

use super::{to_json_text, PgStore};
use crate::engine::InboxEvent;
use crate::executions::{NewExecution, Started};
use crate::{Result, StoreError, Time};

/// Most starts written by one statement.
const BATCH: usize = 256;
/// Batches being written at once; more starts wait (and batch up) meanwhile.
const IN_FLIGHT: usize = 4;

/// One start waiting for its batch.
struct Request {
    machine_arn: String,
    machine_name: String,
    version: Option<i64>,
    alias_arn: Option<String>,
    arn: String,
    name: String,
    input: String,
    started_at: Time,
    traceparent: Option<String>,
    caller_span: Option<String>,
    tracestate: Option<String>,
    reply: oneshot::Sender<Result<Option<Started>>>,
}

/// The queue of a store's starts; its writer runs while the store is in use.
#[derive(Debug)]
pub(crate) struct StartQueue {
    requests: mpsc::UnboundedSender<Request>,
}

impl StartQueue {
    /// Starts the writer for `store` (on the current tokio runtime).
    pub(crate) fn new(store: PgStore) -> StartQueue {
        let (requests, queued) = mpsc::unbounded_channel();
        tokio::spawn(write_batches(store, queued));
        StartQueue { requests }
    }

    /// Queues `start`; resolves once its batch has committed. `Ok(None)`: no STANDARD
    /// machine has that ARN and name.
    pub(crate) async fn start(&self, start: &NewExecution) -> Result<Option<Started>> {
        let (reply, answer) = oneshot::channel();
        let trace = start.trace.as_ref();
        let request = Request {
            machine_arn: start.machine_arn.clone(),
            machine_name: start.machine_name().to_string(),
            version: start.version,
            alias_arn: start.alias_arn.clone(),
            arn: start.arn.clone(),
            name: start.name.clone(),
            input: start.input.clone(),
            started_at: start.started_at,
            traceparent: trace.map(|t| t.traceparent.clone()),
            caller_span: trace.and_then(|t| t.caller_span.clone()),
            tracestate: trace.and_then(|t| t.tracestate.clone()),
            reply,
        };
        self.requests
            .send(request)
            .map_err(|_| StoreError::Unavailable("the start writer has stopped".to_string()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the start writer has stopped".to_string()))?
    }
}

/// Takes whatever has queued, up to [`BATCH`], whenever one of [`IN_FLIGHT`] slots is
/// free, until every sender is gone.
async fn write_batches(store: PgStore, mut queued: mpsc::UnboundedReceiver<Request>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(first) = queued.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match queued.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let store = store.clone();
        // Boxed, so that spawning moves a pointer rather than the batch's future.
        tokio::spawn(Box::pin(async move {
            write(&store, batch).await;
            drop(slot);
        }));
    }
}

/// Writes one batch and answers each of its callers.
async fn write(store: &PgStore, batch: Vec<Request>) {
    // One insert per ARN: a second start of the same name in the batch is answered as a
    // start of an existing execution, once the first is written.
    let mut seen = HashSet::new();
    let (first, again): (Vec<Request>, Vec<Request>) =
        batch.into_iter().partition(|r| seen.insert(r.arn.clone()));
    let rows: Vec<Result<(bool, Option<Time>)>> = match insert(store, &first).await {
        Ok(rows) => rows.into_iter().map(Ok).collect(),
        // One request's bad data must not fail the others: each alone, then, with its
        // own answer.
        Err(_) if first.len() > 1 => {
            let mut rows = Vec::with_capacity(first.len());
            for request in &first {
                let row = insert(store, std::slice::from_ref(request)).await;
                rows.push(row.map(|mut r| r.pop().unwrap_or((false, None))));
            }
            rows
        }
        Err(error) => vec![Err(error)],
    };
    let mut machine_found = HashMap::new();
    let mut created = false;
    for (request, row) in first.into_iter().zip(rows) {
        // A later start of the same name sees the machine whatever this one's answer.
        machine_found.insert(request.arn.clone(), matches!(row, Ok((true, _))));
        let answer = match row {
            Err(error) => {
                tracing::warn!(%error, execution = %request.arn, "starting an execution failed");
                Err(error)
            }
            Ok((false, _)) => Ok(None),
            Ok((true, Some(started_at))) => {
                created = true;
                Ok(Some(Started {
                    arn: request.arn.clone(),
                    started_at,
                    created: true,
                }))
            }
            Ok((true, None)) => store
                .already_started(&request.arn, &request.input)
                .await
                .map(Some),
        };
        let _ = request.reply.send(answer);
    }
    if created {
        store.announce(crate::signals::Channel::Inbox);
    }
    for request in again {
        let answer = match machine_found.get(&request.arn) {
            Some(true) => store
                .already_started(&request.arn, &request.input)
                .await
                .map(Some),
            Some(false) | None => Ok(None),
        };
        let _ = request.reply.send(answer);
    }
}

/// One statement for the batch: each machine's lookup, the executions' inserts and their
/// start events. Per request, in order: whether its STANDARD machine exists, and its
/// start time when this statement created the execution.
async fn insert(store: &PgStore, batch: &[Request]) -> Result<Vec<(bool, Option<Time>)>> {
    let column = |f: fn(&Request) -> &str| batch.iter().map(|r| f(r).to_string()).collect();
    let optional =
        |f: fn(&Request) -> &Option<String>| batch.iter().map(|r| f(r).clone()).collect();
    let machine_arn: Vec<String> = column(|r| &r.machine_arn);
    let machine_name: Vec<String> = column(|r| &r.machine_name);
    let arn: Vec<String> = column(|r| &r.arn);
    let name: Vec<String> = column(|r| &r.name);
    let input: Vec<String> = column(|r| &r.input);
    let started_at: Vec<Time> = batch.iter().map(|r| r.started_at).collect();
    let traceparent: Vec<Option<String>> = optional(|r| &r.traceparent);
    let caller_span: Vec<Option<String>> = optional(|r| &r.caller_span);
    let tracestate: Vec<Option<String>> = optional(|r| &r.tracestate);
    let version: Vec<Option<i64>> = batch.iter().map(|r| r.version).collect();
    let alias_arn: Vec<Option<String>> = optional(|r| &r.alias_arn);
    let event = to_json_text(&InboxEvent::Start)?;
    let rows = sqlx::query!(
        r#"with request as (
               select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                    $6::timestamptz[], $7::text[], $8::text[], $9::text[],
                                    $11::int8[], $12::text[])
                    with ordinality as r(machine_arn, machine_name, arn, name, input, started_at,
                                         traceparent, caller_span, tracestate, version,
                                         alias_arn, n)),
           machine as (
               select r.n, m.arn, coalesce(v.definition_id, m.definition_id) as definition_id,
                      coalesce(v.role_arn, m.role_arn) as role_arn,
                      case when r.version is not null then m.arn || ':' || r.version end
                          as version_arn
               from request r join state_machines m
                 on m.arn = r.machine_arn and m.name = r.machine_name and m.type = 'STANDARD'
                    and m.status = 'ACTIVE'
               left join state_machine_versions v
                 on v.machine_arn = m.arn and v.version = r.version
               where r.version is null or v.version is not null),
           started as (
               insert into executions (arn, state_machine_arn, name, definition_id, role_arn,
                                       status, input, started_at, trace_parent,
                                       trace_caller_span, trace_state,
                                       state_machine_version_arn, state_machine_alias_arn)
               select r.arn, m.arn, r.name, m.definition_id, m.role_arn, 'RUNNING',
                      r.input::json, r.started_at, r.traceparent, r.caller_span, r.tracestate,
                      m.version_arn, r.alias_arn
               from request r join machine m on m.n = r.n
               order by r.n
               on conflict (arn) do nothing
               returning arn, started_at),
           queued as (
               insert into inbox (execution_arn, due_at, event)
               select arn, now(), $10::text::json from started)
           select r.n as "n!",
                  exists (select from machine m where m.n = r.n) as "machine!",
                  s.started_at as "started_at?"
           from request r left join started s on s.arn = r.arn
           order by r.n"#,
        &machine_arn,
        &machine_name,
        &arn,
        &name,
        &input,
        &started_at,
        &traceparent as &[Option<String>],
        &caller_span as &[Option<String>],
        &tracestate as &[Option<String>],
        event,
        &version as &[Option<i64>],
        &alias_arn as &[Option<String>],
    )
    .fetch_all(store.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.machine, row.started_at))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::MachineType;
    use crate::prelude::*;

    const PREFIX: &str = "arn:aws:states:us-east-1:123456789012";

    /// Starts execution `name` of machine `machine` with `input` on a task of its own.
    fn spawn_start(
        store: &PgStore,
        machine: &str,
        name: &str,
        input: &str,
    ) -> tokio::task::JoinHandle<Result<Option<Started>>> {
        let store = store.clone();
        let (machine, name, input) = (machine.to_string(), name.to_string(), input.to_string());
        tokio::spawn(async move {
            let machine_arn = format!("{PREFIX}:stateMachine:{machine}");
            let arn = format!("{PREFIX}:execution:{machine}:{name}");
            store
                .start_execution(&NewExecution {
                    machine_arn,
                    version: None,
                    alias_arn: None,
                    arn,
                    name,
                    input,
                    started_at: chrono::Utc::now(),
                    trace: None,
                })
                .await
        })
    }

    /// Starts that arrive together are each answered as if alone: created, the same
    /// start again (idempotent), the same name with other input (refused), a machine
    /// that does not exist, and input Postgres refuses — which fails that start only.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn starts_written_together_are_each_answered_as_alone() {
        let (store, _) = crate::testing::fresh_store("start_batches", 8)
            .await
            .expect("database");
        store
            .create_state_machine(&crate::testing::machine_spec(
                "batched",
                MachineType::Standard,
                r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#,
            ))
            .await
            .expect("machine");
        let fresh: Vec<_> = (0..300)
            .map(|i| spawn_start(&store, "batched", &format!("e{i}"), "{}"))
            .collect();
        let twice = [
            spawn_start(&store, "batched", "twice", "{}"),
            spawn_start(&store, "batched", "twice", "{}"),
        ];
        let refused_input = spawn_start(&store, "batched", "bad", "{not json");
        let no_machine = spawn_start(&store, "nothing", "x", "{}");

        let mut created = 0;
        for (i, answer) in fresh.into_iter().enumerate() {
            let started = answer
                .await
                .expect("task")
                .expect("started")
                .expect("machine");
            assert_eq!(started.arn, format!("{PREFIX}:execution:batched:e{i}"));
            created += usize::from(started.created);
        }
        assert_eq!(created, 300, "each execution was created exactly once");
        // The same start twice at once: one creates it, the other is told it runs.
        let mut twice_created = 0;
        for answer in twice {
            let started = answer
                .await
                .expect("task")
                .expect("started")
                .expect("machine");
            assert_eq!(started.arn, format!("{PREFIX}:execution:batched:twice"));
            twice_created += usize::from(started.created);
        }
        assert_eq!(twice_created, 1);
        // The same name with other input is refused.
        let other_input = spawn_start(&store, "batched", "twice", r#"{"x":1}"#)
            .await
            .expect("task");
        assert!(
            matches!(other_input, Err(StoreError::ExecutionAlreadyExists(ref arn)) if arn.ends_with(":twice")),
            "{other_input:?}"
        );
        assert!(refused_input.await.expect("task").is_err());
        assert!(matches!(no_machine.await.expect("task"), Ok(None)));

        let rows: i64 = sqlx::query_scalar("select count(*) from executions")
            .fetch_one(store.pool())
            .await
            .expect("count");
        let queued: i64 = sqlx::query_scalar("select count(*) from inbox")
            .fetch_one(store.pool())
            .await
            .expect("count");
        assert_eq!(
            (rows, queued),
            (301, 301),
            "one row and one start event each"
        );
    }
}
