//! The Task state: the [`TaskRequest`] it asks for, the history events of its family
//! ([`TaskEvents`]) as the task starts, succeeds, fails or times out, and its result.

use serde_json::Value;

use crate::error::Failure;
use crate::history::Details;
use crate::interpreter::data::display_value;
use crate::interpreter::frame::{Frame, TimerPurpose, Waiting};
use crate::interpreter::jsonata::States;
use crate::interpreter::record::details;
use crate::interpreter::run::{Progress, Run};
use crate::interpreter::{Command, FrameId, TaskId, TaskRequest};
use crate::model::{NumberSource, StateKind};
use crate::payload;

impl Run<'_> {
    pub(super) fn run_task(
        &mut self,
        frame_id: FrameId,
        frame: &mut Frame,
        task: &crate::model::Task,
    ) -> Result<Progress, Failure> {
        let state = self
            .state_of(frame)
            .ok_or_else(|| Failure::runtime("missing state"))?;
        let effective = self.effective_input(frame, state)?;
        let timeout_seconds = self.number_source(
            frame,
            task.timeout_seconds.as_ref(),
            &effective,
            "TimeoutSeconds",
        )?;
        let heartbeat_seconds = self.number_source(
            frame,
            task.heartbeat_seconds.as_ref(),
            &effective,
            "HeartbeatSeconds",
        )?;
        let task_id = self.snapshot.next_task;
        let token = crate::task::Route::of(&task.resource)
            .uses_token()
            .then(|| {
                crate::callback::token(&self.entropy, &self.snapshot.info.execution_arn, task_id)
            });
        self.task_token = token.clone();
        let input = match (&task.parameters, &task.arguments) {
            (Some(parameters), _) => self.evaluate(frame, parameters, &effective, "Parameters"),
            (None, Some(arguments)) => {
                self.jsonata_value(frame, arguments, States::input(&effective), "Arguments")
            }
            (None, None) => Ok(effective),
        };
        self.task_token = None;
        let input = input?;
        self.snapshot.next_task += 1;
        let events = TaskEvents::of(&task.resource);
        let mut d = match events {
            // The resource's ARN and its input, as AWS shows them.
            TaskEvents::Activity | TaskEvents::LambdaFunction => Details {
                resource: Some(task.resource.clone()),
                input: Some(payload::to_text(&input)),
                ..Details::default()
            },
            TaskEvents::Task => {
                let (resource_type, resource) = resource_parts(&task.resource);
                details([
                    ("resourceType", Value::String(resource_type)),
                    ("resource", Value::String(resource)),
                    (
                        "region",
                        Value::String(region_of(&self.snapshot.info.state_machine_arn)),
                    ),
                    ("parameters", Value::String(payload::to_text(&input))),
                ])
            }
        };
        d.timeout_in_seconds = timeout_seconds;
        // AWS shows no heartbeat in LambdaFunctionScheduled.
        if events != TaskEvents::LambdaFunction {
            d.heartbeat_in_seconds = heartbeat_seconds;
        }
        self.record_for_frame(frame, &events.named("Scheduled"), d);
        let timeout_timer = timeout_seconds.map(|seconds| {
            let timer = self.new_timer(TimerPurpose::TaskTimeout(frame_id, task_id));
            let due = self.now.plus_seconds(seconds as f64);
            self.output
                .commands
                .push(Command::StartTimer { timer, due });
            timer
        });
        let attempt = frame.retries.iter().sum();
        self.output.commands.push(Command::InvokeTask(TaskRequest {
            task: task_id,
            state_name: frame.state.clone(),
            resource: task.resource.clone(),
            input,
            timeout_seconds,
            heartbeat_seconds,
            attempt,
            token,
            entered_event: frame.entered_event,
        }));
        self.snapshot.tasks.insert(task_id, frame_id);
        frame.waiting = Waiting::Task {
            task: task_id,
            timeout_timer,
        };
        Ok(Progress::Blocked)
    }

    fn number_source(
        &mut self,
        frame: &mut Frame,
        source: Option<&NumberSource<u64>>,
        effective: &Value,
        field: &str,
    ) -> Result<Option<u64>, Failure> {
        match source {
            None => Ok(None),
            Some(NumberSource::Literal(n)) => Ok(Some(*n)),
            Some(NumberSource::Jsonata(expression)) => {
                let value =
                    self.jsonata_expression(frame, expression, States::input(effective), field)?;
                match value.as_u64() {
                    Some(n) if n > 0 => Ok(Some(n)),
                    _ => Err(self.evaluation_failed(
                        frame,
                        field,
                        format!(
                            "The {field} field must be a positive integer: {}",
                            display_value(&value)
                        ),
                    )),
                }
            }
            Some(NumberSource::Path(path)) => match self.lookup(frame, path, effective) {
                None => Err(self.with_prefix(frame, payload::no_results(path))),
                Some(value) => match value.as_u64() {
                    Some(n) if n > 0 => Ok(Some(n)),
                    _ => Err(self.with_prefix(
                        frame,
                        Failure::runtime(format!(
                            "The value at {} must be a positive integer: {}",
                            path.source(),
                            display_value(&value)
                        )),
                    )),
                },
            },
        }
    }

    /// Records `TaskStarted`, or `ActivityStarted` with the worker's name.
    pub(in crate::interpreter) fn task_started(
        &mut self,
        task: TaskId,
        worker_name: Option<String>,
    ) {
        let Some(&frame_id) = self.snapshot.tasks.get(&task) else {
            return;
        };
        let (events, mut d) = self.task_details(frame_id);
        if events == TaskEvents::Activity {
            d.worker_name = worker_name;
        }
        self.record_for(frame_id, &events.named("Started"), d);
    }

    /// The family of events the frame's task records, and the details they start from:
    /// `resourceType`/`resource` for `Task*` events, nothing for `Activity*` and
    /// `LambdaFunction*` (AWS's details of those carry neither).
    pub(in crate::interpreter) fn task_details(&self, frame_id: FrameId) -> (TaskEvents, Details) {
        let events = self
            .snapshot
            .frames
            .get(&frame_id)
            .and_then(|frame| self.state_of(frame))
            .and_then(|state| match &state.kind {
                StateKind::Task(task) => Some(TaskEvents::of(&task.resource)),
                _ => None,
            })
            .unwrap_or(TaskEvents::Task);
        if events != TaskEvents::Task {
            return (events, Details::default());
        }
        let resource = self.current_resource(frame_id);
        (
            events,
            details([("resourceType", resource.0), ("resource", resource.1)]),
        )
    }

    pub(in crate::interpreter) fn task_timed_out(&mut self, frame_id: FrameId, error: &str) {
        let (events, mut d) = self.task_details(frame_id);
        d.error = Some(error.to_string());
        d.cause = Some(String::new());
        self.record_for(frame_id, &events.named("TimedOut"), d);
        self.resume_task(
            frame_id,
            Err(Failure {
                error: error.to_string(),
                cause: None,
            }),
        );
    }

    pub(in crate::interpreter) fn take_task(&mut self, task: TaskId) -> Option<FrameId> {
        let frame_id = self.snapshot.tasks.remove(&task)?;
        if let Some(frame) = self.snapshot.frames.get_mut(&frame_id) {
            if let Waiting::Task {
                timeout_timer: Some(timer),
                ..
            } = frame.waiting
            {
                self.snapshot.timers.remove(&timer);
                self.output.commands.push(Command::CancelTimer { timer });
            }
        }
        Some(frame_id)
    }

    pub(in crate::interpreter) fn current_resource(&self, frame_id: FrameId) -> (Value, Value) {
        let Some(frame) = self.snapshot.frames.get(&frame_id) else {
            return (Value::Null, Value::Null);
        };
        match self.state_of(frame).map(|s| &s.kind) {
            Some(StateKind::Task(task)) => {
                let (kind, name) = resource_parts(&task.resource);
                (Value::String(kind), Value::String(name))
            }
            _ => (Value::Null, Value::Null),
        }
    }

    /// A task of `frame_id` ended: finish its state or handle its error.
    pub(in crate::interpreter) fn resume_task(
        &mut self,
        frame_id: FrameId,
        result: Result<Value, Failure>,
    ) {
        let Some(mut frame) = self.snapshot.frames.remove(&frame_id) else {
            return;
        };
        let progress = match self.state_of(&frame).map(|s| (s, &s.kind)) {
            Some((state, StateKind::Task(task))) => match result {
                Ok(output) => {
                    let result_selector = task.result_selector.as_ref();
                    match self.complete(
                        &mut frame,
                        state,
                        output,
                        result_selector,
                        &task.result_path,
                        &task.next,
                    ) {
                        Ok(progress) => progress,
                        Err(failure) => self.handle_error(&mut frame, failure),
                    }
                }
                Err(failure) => self.handle_error(&mut frame, failure),
            },
            _ => Progress::Blocked,
        };
        self.put_back(frame_id, frame, progress);
    }
}

/// Which family of history events a Task state records: AWS names a task's events after
/// what it runs. A bare Lambda function ARN (`arn:aws:lambda:…:function:NAME`) records
/// `LambdaFunctionScheduled`/`Started`/`Succeeded`/`Failed`/`TimedOut`, an activity
/// `Activity*`, and every service integration (`arn:aws:states:::…`, `lambda:invoke`
/// included) `Task*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::interpreter) enum TaskEvents {
    Task,
    LambdaFunction,
    Activity,
}

impl TaskEvents {
    fn of(resource: &str) -> TaskEvents {
        if crate::task::is_activity(resource) {
            return TaskEvents::Activity;
        }
        match resource.splitn(7, ':').collect::<Vec<_>>().as_slice() {
            ["arn", _, "lambda", _, _, "function", _] => TaskEvents::LambdaFunction,
            _ => TaskEvents::Task,
        }
    }

    /// The event type for `what` happened: `TaskSucceeded`, `ActivityStarted`, …
    pub(in crate::interpreter) fn named(self, what: &str) -> String {
        let family = match self {
            TaskEvents::Task => "Task",
            TaskEvents::LambdaFunction => "LambdaFunction",
            TaskEvents::Activity => "Activity",
        };
        format!("{family}{what}")
    }
}

/// `arn:aws:states:::lambda:invoke.waitForTaskToken` → (`lambda`, `invoke.waitForTaskToken`);
/// a Lambda function ARN → (`lambda`, `invoke`); anything else → (`task`, the resource).
pub fn resource_parts(resource: &str) -> (String, String) {
    let parts: Vec<&str> = resource.splitn(7, ':').collect();
    match parts.as_slice() {
        ["arn", _, "states", "", "", service, action] => (service.to_string(), action.to_string()),
        ["arn", _, "lambda", ..] => ("lambda".to_string(), "invoke".to_string()),
        _ => ("task".to_string(), resource.to_string()),
    }
}

fn region_of(arn: &str) -> String {
    arn.split(':').nth(3).unwrap_or_default().to_string()
}
