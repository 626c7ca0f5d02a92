//! Map Runs' child executions in Postgres (the protocol is [`crate::map_children`]'s):
//! the children a commit starts, and the `Stop`s it sends to the children of runs
//! that ended without them.

use super::{enqueue_now, to_json_text};
use crate::engine::InboxEvent;
use crate::map_children::{self, MapChildRedrive, MapChildStart};
use crate::Result;

/// What one commit does to Map Runs' children, in column arrays.
#[derive(Default)]
pub(super) struct MapChildWrites {
    parent: Vec<String>,
    arn: Vec<String>,
    state_machine_arn: Vec<String>,
    name: Vec<String>,
    input: Vec<String>,
    map_run_arn: Vec<String>,
    index: Vec<i64>,
    processor: Vec<String>,
    /// Runs that ended without succeeding: their running children are stopped.
    stopped_runs: Vec<String>,
    /// Executions that ended: their runs' running children are stopped.
    ended_parents: Vec<String>,
    /// Children to redrive, and the parent that asked.
    redrives: Vec<(String, MapChildRedrive)>,
}

impl MapChildWrites {
    pub(super) fn start(&mut self, parent_arn: &str, start: MapChildStart) -> Result<()> {
        self.parent.push(parent_arn.to_string());
        self.input.push(to_json_text(&start.input)?);
        self.processor
            .push(map_children::processor_text(&start.processor));
        self.arn.push(start.execution_arn);
        self.state_machine_arn.push(start.state_machine_arn);
        self.name.push(start.name);
        self.map_run_arn.push(start.map_run_arn);
        self.index.push(start.index as i64);
        Ok(())
    }

    pub(super) fn redrive(&mut self, parent_arn: &str, redrive: MapChildRedrive) {
        self.redrives.push((parent_arn.to_string(), redrive));
    }

    pub(super) fn run_stopped(&mut self, map_run_arn: String) {
        self.stopped_runs.push(map_run_arn);
    }

    pub(super) fn parent_ended(&mut self, execution_arn: &str) {
        self.ended_parents.push(execution_arn.to_string());
    }

    /// Inserts the children with their `Start` events (a child whose row exists is left
    /// as it is), then queues `Stop` for the children of stopped runs and ended parents.
    /// `true` when anything was queued.
    pub(super) async fn commit(self, tx: &mut sqlx::PgConnection) -> Result<bool> {
        let mut queued = false;
        if !self.arn.is_empty() {
            let start = to_json_text(&InboxEvent::Start)?;
            sqlx::query!(
                r#"-- query: start_map_children
                with started as (
                    insert into executions (arn, state_machine_arn, name, definition_id,
                        role_arn, status, input, started_at, parent_arn, map_run_arn,
                        map_index, map_processor)
                    select u.arn, u.sm, u.name, p.definition_id, p.role_arn, 'RUNNING',
                           u.input::json, now(), u.parent, u.run, u.idx, u.proc::json
                    from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                $6::text[], $7::int8[], $8::text[])
                         as u(parent, arn, sm, name, input, run, idx, proc)
                    join executions p on p.arn = u.parent
                    on conflict (arn) do nothing
                    returning arn)
                insert into inbox (execution_arn, due_at, event)
                select arn, now(), $9::text::json from started"#,
                &self.parent,
                &self.arn,
                &self.state_machine_arn,
                &self.name,
                &self.input,
                &self.map_run_arn,
                &self.index,
                &self.processor,
                start,
            )
            .execute(&mut *tx)
            .await?;
            queued = true;
        }
        if !self.redrives.is_empty() {
            redrive(tx, &self.redrives).await?;
            queued = true;
        }
        if self.stopped_runs.is_empty() && self.ended_parents.is_empty() {
            return Ok(queued);
        }
        let children = sqlx::query!(
            r#"-- query: running_map_children
            select arn, map_run_arn as "map_run_arn!" from executions
            where status = 'RUNNING' and map_run_arn is not null
              and (map_run_arn = any($1) or parent_arn = any($2))"#,
            &self.stopped_runs,
            &self.ended_parents,
        )
        .fetch_all(&mut *tx)
        .await?;
        if children.is_empty() {
            return Ok(queued);
        }
        let events: Vec<InboxEvent> = children
            .iter()
            .map(|child| InboxEvent::Step(map_children::stop_event(&child.map_run_arn)))
            .collect();
        let arns: Vec<String> = children.into_iter().map(|child| child.arn).collect();
        enqueue_now(tx, &arns, &events).await?;
        Ok(true)
    }
}

/// Redrives the children that ended without succeeding (as RedriveExecution does: the
/// row `RUNNING` again, counted, and `Event::Redrive` queued); tells the parent at once
/// of each that is neither redriven nor still running.
async fn redrive(
    tx: &mut sqlx::PgConnection,
    redrives: &[(String, MapChildRedrive)],
) -> Result<()> {
    let arns: Vec<String> = redrives
        .iter()
        .map(|(_, r)| r.execution_arn.clone())
        .collect();
    let event = to_json_text(&InboxEvent::Step(cairn_asl::interpreter::Event::Redrive))?;
    let redriven = sqlx::query_scalar!(
        r#"-- query: redrive_map_children
        with redriven as (
            update executions
            set status = 'RUNNING', stopped_at = null, output = null, error = null,
                cause = null, redrive_count = redrive_count + 1, redrive_date = now()
            where arn = any($1) and status in ('FAILED', 'TIMED_OUT', 'ABORTED')
              and snapshot is not null
            returning arn),
        queued as (
            insert into inbox (execution_arn, due_at, event)
            select arn, now(), $2::text::json from redriven)
        select arn as "arn!" from redriven"#,
        &arns,
        event,
    )
    .fetch_all(&mut *tx)
    .await?;
    let running = sqlx::query_scalar!(
        r#"-- query: running_map_children_of
        select arn from executions where arn = any($1) and status = 'RUNNING'"#,
        &arns,
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut parents = Vec::new();
    let mut events = Vec::new();
    for (parent, child) in redrives {
        if redriven.contains(&child.execution_arn) || running.contains(&child.execution_arn) {
            continue;
        }
        parents.push(parent.clone());
        events.push(InboxEvent::Step(map_children::not_redriven_event(child)));
    }
    if !parents.is_empty() {
        enqueue_now(tx, &parents, &events).await?;
    }
    Ok(())
}
