//! A Distributed Map with a `ResultWriter` that exports (`Resource` and
//! `Parameters`/`Arguments`): once its iterations are done (succeeded, or failed within
//! the tolerance), the interpreter evaluates the writer's parameters into a
//! [`crate::distributed::config::Destination`] and asks for one internal task
//! ([`WRITE_RESULTS_RESOURCE`]) carrying every item's result; a worker writes the files
//! and the manifest to S3. The frame waits in [`Waiting::WritingResults`]; the task
//! records no history of its own (AWS shows none), and its outcome comes back as
//! [`Waiting::ResultsWritten`]: the Map's result is then
//! `{"MapRunArn", "ResultWriterDetails": {"Bucket", "Key"}}` (then ResultSelector,
//! ResultPath, OutputPath), or the Map fails with `States.ResultWriterFailed`.
//!
//! A Map Run that fails (beyond its tolerance) writes its files too, as AWS does: the
//! frame waits in [`Waiting::FailingWritingResults`] holding the failed run (its join,
//! for a redrive, and its error), and whatever the write's outcome the Map then fails
//! with the run's own error.
//!
//! The interpreter does not keep child executions' own dates: a record's `StartDate` is
//! the Map state's entry and its `StopDate` the time the results are written.

use serde_json::Value;

use super::frame::{FailedRun, Frame, Waiting};
use super::internal_task::Taken;
use super::join::Join;
use super::jsonata::States;
use super::map_run::{map_run_state, MapRunStatus};
use super::run::{Progress, Run};
use super::{Command, Event, FrameId, TaskId, TaskRequest};
use crate::distributed::config::{Language, ResultWriterSpec};
use crate::distributed::results::{
    inline_output, ChildResult, RunFacts, StoredResults, WriteResultsRequest,
    WRITE_RESULTS_RESOURCE,
};
use crate::error::{names, Failure};
use crate::jsonata::JsonataTemplate;
use crate::model::{ProcessorMode, QueryLanguage, State};
use crate::template::Template;

/// What an evaluated `ResultWriter` asks for.
enum PreparedWrite {
    /// A `WriterConfig` alone: the Map's output, shaped.
    Inline(Value),
    /// Files to write to S3.
    Export(WriteResultsRequest),
}

impl Run<'_> {
    /// For a Distributed Map with a `ResultWriter`: asks for the results to be written
    /// and blocks the frame, or (a `WriterConfig` without export) leaves the Map with its
    /// results shaped as the config says. `None` when the Map has no writer.
    pub(super) fn request_results_write(
        &mut self,
        frame_id: FrameId,
        frame: &mut Frame,
        state: &State,
        map: &crate::model::Map,
        join: &Join,
    ) -> Result<Option<Progress>, Failure> {
        match self.prepare_results_write(frame, state, map, join)? {
            None => Ok(None),
            Some(PreparedWrite::Inline(output)) => {
                self.results_written(frame, state, output).map(Some)
            }
            Some(PreparedWrite::Export(request)) => {
                let task = self.invoke_results_write(frame_id, frame, &request)?;
                let stored = request.stored.as_ref().map(|stored| stored.map);
                let run = map_run_state(join, MapRunStatus::Succeeded).map(Box::new);
                frame.waiting = Waiting::WritingResults { task, stored, run };
                Ok(Some(Progress::Blocked))
            }
        }
    }

    /// A Distributed Map Run failed (beyond its tolerance, or a child failed without
    /// one): as AWS does, an exporting `ResultWriter` first writes the results
    /// (SUCCEEDED, FAILED, PENDING for the items no child finished, and the manifest),
    /// then the Map fails with `failure`. A writer that cannot be evaluated, or a Map
    /// whose results the driver keeps, fails at once with `failure`: the run's own
    /// error is the one Retry and Catch see.
    pub(super) fn write_failed_run_results(
        &mut self,
        frame_id: FrameId,
        frame: &mut Frame,
        map: &crate::model::Map,
        join: Box<Join>,
        failure: Failure,
        events: &[&str],
    ) -> Progress {
        let write = match self.state_of(frame) {
            Some(state) if map.mode == ProcessorMode::Distributed => {
                match self.prepare_results_write(&mut *frame, state, map, &join) {
                    Ok(Some(PreparedWrite::Export(request))) => {
                        self.invoke_results_write(frame_id, frame, &request).ok()
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        match write {
            Some(task) => {
                frame.waiting = Waiting::FailingWritingResults {
                    task,
                    failed: Box::new(FailedRun {
                        join,
                        failure,
                        events: events.iter().map(|e| e.to_string()).collect(),
                    }),
                };
                Progress::Blocked
            }
            None => self.map_failed(frame, join, failure, events),
        }
    }

    /// The failed run's results were written (or the write failed, which leaves the
    /// run's failure as it was): the Map fails.
    pub(super) fn failed_results_written(
        &mut self,
        frame: &mut Frame,
        failed: FailedRun,
    ) -> Progress {
        let FailedRun {
            join,
            failure,
            events,
        } = failed;
        let events: Vec<&str> = events.iter().map(String::as_str).collect();
        self.map_failed(frame, join, failure, &events)
    }

    /// Evaluates the writer: `None` when the Map has none, the inline output for a
    /// `WriterConfig` alone, or the request for the worker.
    fn prepare_results_write(
        &mut self,
        frame: &mut Frame,
        state: &State,
        map: &crate::model::Map,
        join: &Join,
    ) -> Result<Option<PreparedWrite>, Failure> {
        let Some(raw) = &map.result_writer else {
            return Ok(None);
        };
        let Some(map_run) = &join.map_run else {
            return Ok(None);
        };
        let language = match state.query_language {
            QueryLanguage::JsonPath => Language::JsonPath,
            QueryLanguage::JsonAta => Language::JsonAta,
        };
        let mut diagnostics = Vec::new();
        let Some(spec) = ResultWriterSpec::parse(raw, "/ResultWriter", language, &mut diagnostics)
        else {
            return Err(Failure::new(
                names::RESULT_WRITER_FAILED,
                "The ResultWriter field is not valid",
            ));
        };
        let effective = &join.effective_input;
        let parameters = match language {
            Language::JsonPath => match raw.get("Parameters") {
                None => None,
                Some(value) => {
                    let template = Template::compile(value).map_err(|_| {
                        Failure::new(
                            names::RESULT_WRITER_FAILED,
                            "The ResultWriter's Parameters are not valid",
                        )
                    })?;
                    Some(self.evaluate(frame, &template, effective, "ResultWriter.Parameters")?)
                }
            },
            Language::JsonAta => match raw.get("Arguments") {
                None => None,
                Some(value) => {
                    let template = JsonataTemplate::compile(value).map_err(|_| {
                        Failure::new(
                            names::RESULT_WRITER_FAILED,
                            "The ResultWriter's Arguments are not valid",
                        )
                    })?;
                    Some(self.jsonata_value(
                        frame,
                        &template,
                        States::input(effective),
                        "ResultWriter.Arguments",
                    )?)
                }
            },
        };
        let writer = spec.resolve(parameters.as_ref())?;
        let mut facts = self.run_facts(frame, join, &map_run.arn, map_run.redrive_count);
        facts.express = map.execution_type == crate::model::ChildExecutionType::Express;
        // A stored Map's results stay with the driver: the worker pages them.
        let (results, stored) = match &join.stored {
            Some(stored) => (
                Vec::new(),
                Some(StoredResults {
                    map: stored.map,
                    total: stored.total as u64,
                    failed: join
                        .redo
                        .iter()
                        .filter(|(_, redo)| redo.failed)
                        .map(|(index, _)| *index as u64)
                        .collect(),
                    timed_out: join
                        .redo
                        .iter()
                        .filter(|(_, redo)| redo.timed_out)
                        .map(|(index, _)| *index as u64)
                        .collect(),
                    run: facts,
                }),
            ),
            None => (self.child_results(join, &facts), None),
        };
        let Some(destination) = writer.destination else {
            if stored.is_some() {
                return Err(Failure::new(
                    names::RESULT_WRITER_FAILED,
                    "Cairn does not shape the results of a Map kept as rows inline",
                ));
            }
            let output = inline_output(&results, writer.output_type, writer.transformation);
            return Ok(Some(PreparedWrite::Inline(output)));
        };
        Ok(Some(PreparedWrite::Export(WriteResultsRequest {
            destination,
            map_run_arn: map_run.arn.clone(),
            output_type: writer.output_type,
            transformation: writer.transformation,
            results,
            stored,
        })))
    }

    /// Asks a worker to write the results: the internal task's id.
    fn invoke_results_write(
        &mut self,
        frame_id: FrameId,
        frame: &Frame,
        request: &WriteResultsRequest,
    ) -> Result<TaskId, Failure> {
        let input = serde_json::to_value(request)
            .map_err(|e| Failure::new(names::RESULT_WRITER_FAILED, e.to_string()))?;
        let task_id = self.snapshot.next_task;
        self.snapshot.next_task += 1;
        let attempt = frame.retries.iter().sum();
        self.output.commands.push(Command::InvokeTask(TaskRequest {
            task: task_id,
            state_name: frame.state.clone(),
            resource: WRITE_RESULTS_RESOURCE.to_string(),
            input,
            timeout_seconds: None,
            heartbeat_seconds: None,
            attempt,
            token: None,
            entered_event: frame.entered_event,
        }));
        self.snapshot.tasks.insert(task_id, frame_id);
        Ok(task_id)
    }

    /// What every record of this Map Run's children says of their runs.
    fn run_facts(
        &self,
        frame: &Frame,
        join: &Join,
        map_run_arn: &str,
        redrive_count: u64,
    ) -> RunFacts {
        RunFacts {
            map_run_arn: map_run_arn.to_string(),
            children: join.children,
            express: false,
            start_date: frame.entered_time.to_rfc3339_millis(),
            stop_date: self.now.to_rfc3339_millis(),
            redrive_count,
        }
    }

    /// Every item's result in item order: a child that ran (succeeded, or failed as
    /// `join.redo` says), or PENDING for an item no child started.
    fn child_results(&self, join: &Join, facts: &RunFacts) -> Vec<ChildResult> {
        join.results
            .iter()
            .enumerate()
            .map(|(index, result)| {
                let input = join.items.get(index).cloned().unwrap_or(Value::Null);
                let redo = join.redo.get(&index);
                let failed = redo.is_some_and(|redo| redo.failed);
                // A STANDARD child's own dates, when the parent kept them.
                let dates = join.child_dates.get(&index).map(|dates| {
                    (
                        dates.start.to_rfc3339_millis(),
                        dates.stop.to_rfc3339_millis(),
                    )
                });
                let record = facts.child_result(index as u64, input, result.clone(), failed, dates);
                if redo.is_some_and(|redo| redo.timed_out) {
                    record.timed_out()
                } else {
                    record
                }
            })
            .collect()
    }

    /// Takes up a task event for a Map writing its results; `false` when the event is
    /// for another kind of task (or none).
    pub(super) fn results_event(&mut self, event: &Event) -> bool {
        let writing = |waiting: &Waiting, task| {
            matches!(waiting, Waiting::WritingResults { task: t, .. }
                | Waiting::FailingWritingResults { task: t, .. } if *t == task)
        };
        let ended = match self.internal_task_event(
            event,
            writing,
            names::RESULT_WRITER_FAILED,
            "Writing the results timed out",
        ) {
            Taken::NotMine => return false,
            Taken::GoesOn => return true,
            Taken::Ended(ended) => ended,
        };
        self.snapshot.tasks.remove(&ended.task);
        let result = ended.outcome;
        let mut written = None;
        if let Some(frame) = self.snapshot.frames.get_mut(&ended.frame) {
            if let Waiting::WritingResults {
                stored: Some(map), ..
            } = frame.waiting
            {
                // The Map leaves with the writer's output (or fails): its stored
                // values are of no more use.
                self.output.commands.push(Command::ReleaseStored { map });
            }
            frame.waiting = match std::mem::replace(&mut frame.waiting, Waiting::Enter) {
                // The run failed already: whether the files were written or not, the
                // Map fails with the run's error.
                Waiting::FailingWritingResults { failed, .. } => {
                    if result.is_ok() {
                        written = map_run_state(&failed.join, MapRunStatus::Failed);
                    }
                    Waiting::FailedResultsWritten(failed)
                }
                Waiting::WritingResults { run, .. } => {
                    if let (Some(run), true) = (run, result.is_ok()) {
                        written = Some(*run);
                    }
                    Waiting::ResultsWritten(result)
                }
                _ => Waiting::ResultsWritten(result),
            };
            self.ready.push_back(ended.frame);
        }
        // The Map Run's `resultsWritten`: the items that ran, their records written.
        if let Some(mut state) = written {
            state.results_written = state.succeeded + state.failed;
            self.output.commands.push(Command::MapRun(state));
        }
        true
    }

    /// The results were written: the Map succeeds with the writer's output.
    pub(super) fn results_written(
        &mut self,
        frame: &mut Frame,
        state: &State,
        output: Value,
    ) -> Result<Progress, Failure> {
        let crate::model::StateKind::Map(map) = &state.kind else {
            return Err(Failure::runtime(
                "results written for a state that is no Map",
            ));
        };
        self.record_for_frame(
            frame,
            "MapStateSucceeded",
            crate::history::Details::default(),
        );
        self.complete(
            frame,
            state,
            output,
            map.result_selector.as_ref(),
            &map.result_path,
            &map.next,
        )
    }
}
