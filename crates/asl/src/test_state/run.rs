//! Each state type's data flow in a test, recording the inspection data as it goes.
//!
//! The steps are an execution's (InputPath → Parameters → the work → ResultSelector →
//! ResultPath → OutputPath, or a JSONata state's Arguments and Output, and Assign), with
//! the test's differences: the work of a Map or Parallel state is the mock, a Wait does
//! not wait, and no cause is prefixed with an event id (a test records no events).

use serde_json::{json, Map, Value};

use crate::error::{names, Failure};
use crate::jsonata::template::EvaluationFailure;
use crate::jsonata::{self, JsonataTemplate, Session};
use crate::model::{
    Choice, Condition, Fail, NumberSource, Pass, QueryLanguage, ResultPath, State, StateKind,
    TextSource, Transition, WaitFor,
};
use crate::payload;
use crate::random::SplitMix64;
use crate::task::{Route, TaskOutcome};
use crate::template::{Scope, Template};
use crate::timestamp::Timestamp;
use crate::variables::Assign;

use super::{
    context, Environment, HttpTrace, Inspection, InspectionLevel, MockOutcome, PendingTask,
    Prepared, Response, Step, TaskCall,
};

/// AWS refuses waits longer than this (as the interpreter does).
const MAX_WAIT_SECONDS: i64 = 24_855 * 24 * 3600;

/// How a state's work ended well: its output, where it goes, what it assigns.
pub(super) struct Left {
    pub output: Value,
    pub next: Option<String>,
    pub assigned: Option<Map<String, Value>>,
}

/// One test being run.
#[derive(Debug)]
pub(super) struct Tester {
    pub(super) p: Prepared,
    /// `$$`: the caller's, or made up.
    pub(super) context: Value,
    pub(super) random: SplitMix64,
    now: Timestamp,
    /// `$$.Task.Token` while a callback task's Parameters are evaluated.
    token: Option<String>,
    pub(super) inspection: Inspection,
    max_payload: usize,
}

fn transition(next: &Transition) -> Option<String> {
    match next {
        Transition::Next(name) => Some(name.clone()),
        Transition::End => None,
    }
}

fn query_failure(failure: EvaluationFailure) -> Failure {
    Failure::new(names::QUERY_EVALUATION_ERROR, failure.cause())
}

/// A value as AWS prints it inside causes: strings bare, everything else as JSON.
fn display(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => payload::to_text(other),
    }
}

impl Tester {
    pub(super) fn new(p: Prepared, environment: &Environment<'_>) -> Tester {
        let mut random = SplitMix64::new(environment.clock.seed);
        let context = match &p.context {
            Some(given) => given.clone(),
            None => context::made_up(
                environment,
                &mut random,
                &p.state,
                &p.input,
                p.role_arn.as_deref(),
                p.configuration.retrier_retry_count.unwrap_or(0),
            ),
        };
        let token = match &p.state.kind {
            StateKind::Task(task) if Route::of(&task.resource).uses_token() => {
                let execution = context["Execution"]["Id"].as_str().unwrap_or("test");
                Some(crate::callback::token(
                    &environment.clock.entropy,
                    execution,
                    1,
                ))
            }
            _ => None,
        };
        Tester {
            p,
            context,
            random,
            now: environment.clock.now,
            token,
            inspection: Inspection::default(),
            max_payload: environment.max_payload_bytes,
        }
    }

    pub(super) fn level(&self) -> InspectionLevel {
        self.p.level
    }

    fn jsonata(&self) -> bool {
        self.p.state.query_language == QueryLanguage::JsonAta
    }

    pub(super) fn start(mut self) -> Step {
        let state = self.p.state.clone();
        self.inspection.input = Some(self.p.input.clone());
        let left = match &state.kind {
            StateKind::Pass(pass) => self.pass(&state, pass),
            StateKind::Choice(choice) => self.choice(&state, choice),
            StateKind::Wait(wait) => self.wait(&state, &wait.wait_for, &wait.next),
            StateKind::Succeed => self.succeed(&state),
            StateKind::Fail(fail) => self.fail(fail),
            StateKind::Parallel(parallel) => self.parallel(&state, parallel),
            StateKind::Map(map) => self.map(&state, map),
            StateKind::Task(task) => match self.task_start(&state, task) {
                Ok(TaskStart::Call(call)) => {
                    return Step::Invoke(Box::new(PendingTask { call, tester: self }));
                }
                Ok(TaskStart::Answer(outcome)) => self.task_end(&state, task, outcome),
                Err(failure) => Err(failure),
            },
        };
        Step::Done(Box::new(self.respond(&state, left)))
    }

    pub(super) fn resume_task(mut self, outcome: TaskOutcome, http: Option<HttpTrace>) -> Response {
        let state = self.p.state.clone();
        if let Some(http) = http {
            self.inspection.request = Some(http.request);
            self.inspection.response = http.response;
        }
        let StateKind::Task(task) = &state.kind else {
            return self.respond(&state, Err(Failure::runtime("not a Task state")));
        };
        let left = self.task_end(&state, task, outcome);
        self.respond(&state, left)
    }

    // ---------------------------------------------------------------- the data language

    /// `$`, `$$` and the variables as a JSONPath template sees them.
    fn template(
        &mut self,
        template: &Template,
        input: &Value,
        field: &str,
    ) -> Result<Value, Failure> {
        let scope = Scope {
            input,
            context: &self.context,
            variables: &self.p.variables,
        };
        template.evaluate(scope, &mut self.random, field)
    }

    fn lookup(&self, path: &crate::path::Path, input: &Value) -> Option<Value> {
        let scope = Scope {
            input,
            context: &self.context,
            variables: &self.p.variables,
        };
        scope.select(path).map(std::borrow::Cow::into_owned)
    }

    /// Runs `evaluate` in a JSONata session with `$states.input`, `.result` and
    /// `.errorOutput` as given.
    pub(super) fn with_jsonata<T>(
        &mut self,
        input: &Value,
        result: Option<&Value>,
        error_output: Option<&Value>,
        evaluate: impl FnOnce(&mut Session<'_>) -> Result<T, EvaluationFailure>,
    ) -> Result<T, Failure> {
        let mut session = jsonata::session(jsonata::Environment {
            input,
            context: &self.context,
            result,
            error_output,
            variables: &self.p.variables,
            now: self.now,
            random: &mut self.random,
            limits: jsonata::Limits::default(),
        });
        evaluate(&mut session).map_err(query_failure)
    }

    fn jsonata_value(
        &mut self,
        template: &JsonataTemplate,
        input: &Value,
        field: &str,
    ) -> Result<Value, Failure> {
        self.with_jsonata(input, None, None, |session| {
            template.evaluate(session, field)
        })
    }

    fn jsonata_expression(
        &mut self,
        expression: &jsonata::Expression,
        input: &Value,
        field: &str,
    ) -> Result<Value, Failure> {
        self.with_jsonata(input, None, None, |session| {
            expression.evaluate_at(session, field)
        })
    }

    /// A JSONata state's `Assign` and `Output` (default `default`), against one
    /// `$states`.
    pub(super) fn jsonata_leave(
        &mut self,
        assign: Option<&Assign>,
        output: Option<&JsonataTemplate>,
        input: &Value,
        result: Option<&Value>,
        error_output: Option<&Value>,
        default: Value,
    ) -> Result<(Option<Map<String, Value>>, Value), Failure> {
        let assign = assign.and_then(Assign::jsonata);
        let (assigned, output) = self.with_jsonata(input, result, error_output, |session| {
            crate::jsonata::template::assign_and_output(session, assign, output)
        })?;
        let assigned = assigned.map(Assign::accept).transpose()?;
        Ok((assigned, output.unwrap_or(default)))
    }

    /// A JSONPath `Assign`, with `dollar` as `$`.
    pub(super) fn assign(
        &mut self,
        assign: Option<&Assign>,
        dollar: &Value,
    ) -> Result<Option<Map<String, Value>>, Failure> {
        let Some(assign) = assign else {
            return Ok(None);
        };
        let scope = Scope {
            input: dollar,
            context: &self.context,
            variables: &self.p.variables,
        };
        assign.evaluate(scope, &mut self.random).map(Some)
    }

    /// InputPath, recorded as `afterInputPath`.
    fn input_path(&mut self, state: &State) -> Result<Value, Failure> {
        let effective = payload::select_ref(
            &self.p.input,
            state.input_path.as_ref(),
            &self.context,
            &self.p.variables,
        )?;
        self.inspection.after_input_path = Some(effective.clone());
        Ok(effective)
    }

    fn output_path(&self, state: &State, value: Value) -> Result<Value, Failure> {
        payload::select(
            value,
            state.output_path.as_ref(),
            &self.context,
            &self.p.variables,
        )
    }

    /// A JSONPath state's result: ResultSelector, Assign, ResultPath and OutputPath,
    /// each recorded.
    fn place(
        &mut self,
        state: &State,
        result: Value,
        result_selector: Option<&Template>,
        result_path: &ResultPath,
        next: &Transition,
    ) -> Result<Left, Failure> {
        let selected = match result_selector {
            Some(selector) => self.template(selector, &result, "ResultSelector")?,
            None => result,
        };
        self.inspection.after_result_selector = Some(selected.clone());
        let assigned = self.assign(state.assign.as_ref(), &selected)?;
        let placed = payload::place_result(self.p.input.clone(), selected, result_path)?;
        self.inspection.after_result_path = Some(placed.clone());
        Ok(Left {
            output: self.output_path(state, placed)?,
            next: transition(next),
            assigned,
        })
    }

    /// A JSONata state whose work gave `result`: Assign and Output see it as
    /// `$states.result`; the output is the result by default.
    fn jsonata_result(
        &mut self,
        state: &State,
        result: Value,
        next: &Transition,
    ) -> Result<Left, Failure> {
        let input = self.p.input.clone();
        let (assigned, output) = self.jsonata_leave(
            state.assign.as_ref(),
            state.output.as_ref(),
            &input,
            Some(&result),
            None,
            result.clone(),
        )?;
        Ok(Left {
            output,
            next: transition(next),
            assigned,
        })
    }

    /// A JSONata state without a result: Assign and Output see its input.
    fn jsonata_input(&mut self, state: &State, next: Option<String>) -> Result<Left, Failure> {
        let input = self.p.input.clone();
        let (assigned, output) = self.jsonata_leave(
            state.assign.as_ref(),
            state.output.as_ref(),
            &input,
            None,
            None,
            input.clone(),
        )?;
        Ok(Left {
            output,
            next,
            assigned,
        })
    }

    // ---------------------------------------------------------------- the state types

    fn pass(&mut self, state: &State, pass: &Pass) -> Result<Left, Failure> {
        if self.jsonata() {
            return self.jsonata_input(state, transition(&pass.next));
        }
        let result = match &pass.result {
            // AWS shows neither InputPath nor Parameters: `Result` replaces them.
            Some(result) => {
                self.inspection.result = Some(result.clone());
                result.clone()
            }
            None => {
                let effective = self.input_path(state)?;
                let result = match &pass.parameters {
                    Some(parameters) => self.template(parameters, &effective, "Parameters")?,
                    None => effective,
                };
                self.inspection.after_parameters = Some(result.clone());
                result
            }
        };
        self.place(state, result, None, &pass.result_path, &pass.next)
    }

    fn succeed(&mut self, state: &State) -> Result<Left, Failure> {
        if self.jsonata() {
            return self.jsonata_input(state, None);
        }
        let effective = self.input_path(state)?;
        Ok(Left {
            output: self.output_path(state, effective)?,
            next: None,
            assigned: None,
        })
    }

    fn fail(&mut self, fail: &Fail) -> Result<Left, Failure> {
        let input = self.p.input.clone();
        if !self.jsonata() {
            self.inspection.after_input_path = Some(input.clone());
        }
        let error = self.text(fail.error.as_ref(), &input, "Error")?;
        let cause = self.text(fail.cause.as_ref(), &input, "Cause")?;
        Err(Failure {
            error: error.unwrap_or_default(),
            cause,
        })
    }

    fn text(
        &mut self,
        source: Option<&TextSource>,
        input: &Value,
        field: &str,
    ) -> Result<Option<String>, Failure> {
        let value = match source {
            None => return Ok(None),
            Some(TextSource::Literal(text)) => return Ok(Some(text.clone())),
            Some(TextSource::Jsonata(expression)) => {
                self.jsonata_expression(expression, input, field)?
            }
            Some(TextSource::Expression(template)) => {
                self.template(template, input, &format!("{field}Path"))?
            }
        };
        Ok(Some(display(&value)))
    }

    fn choice(&mut self, state: &State, choice: &Choice) -> Result<Left, Failure> {
        if self.jsonata() {
            return self.jsonata_choice(state, choice);
        }
        let effective = self.input_path(state)?;
        let mut matched = None;
        {
            let scope = Scope {
                input: &effective,
                context: &self.context,
                variables: &self.p.variables,
            };
            for branch in &choice.choices {
                let Condition::Rule(rule) = &branch.condition else {
                    continue;
                };
                if rule.evaluate(scope)? {
                    matched = Some(branch);
                    break;
                }
            }
        }
        let (assign, next) = match matched {
            Some(branch) => (branch.assign.as_ref(), Some(branch.next.clone())),
            None => (state.assign.as_ref(), choice.default.clone()),
        };
        let Some(next) = next else {
            return Err(no_choice_matched());
        };
        let assigned = self.assign(assign, &effective)?;
        Ok(Left {
            output: self.output_path(state, effective)?,
            next: Some(next),
            assigned,
        })
    }

    fn jsonata_choice(&mut self, state: &State, choice: &Choice) -> Result<Left, Failure> {
        let input = self.p.input.clone();
        let matched = self.with_jsonata(&input, None, None, |session| {
            crate::choice::first_jsonata_match(session, &choice.choices)
        })?;
        let (assign, output, next) = match matched {
            Some(branch) => (
                branch.assign.as_ref(),
                branch.output.as_ref(),
                Some(branch.next.clone()),
            ),
            None => (
                state.assign.as_ref(),
                state.output.as_ref(),
                choice.default.clone(),
            ),
        };
        let Some(next) = next else {
            return Err(no_choice_matched());
        };
        let (assigned, output) =
            self.jsonata_leave(assign, output, &input, None, None, input.clone())?;
        Ok(Left {
            output,
            next: Some(next),
            assigned,
        })
    }

    /// A Wait state: its time is worked out and checked as an execution would, but the
    /// test does not wait for it.
    fn wait(
        &mut self,
        state: &State,
        wait_for: &WaitFor,
        next: &Transition,
    ) -> Result<Left, Failure> {
        let effective = if self.jsonata() {
            self.p.input.clone()
        } else {
            self.input_path(state)?
        };
        let seconds = |value: &Value, field: &str| -> Result<(), Failure> {
            match value.as_i64() {
                Some(s) if (0..=MAX_WAIT_SECONDS).contains(&s) => Ok(()),
                Some(s) if s > MAX_WAIT_SECONDS => {
                    Err(Failure::runtime("Wait state delay is too long"))
                }
                Some(_) => Err(Failure::runtime(format!(
                    "The {field} parameter references a negative value: {}",
                    display(value)
                ))),
                None => Err(Failure::runtime(format!(
                    "The {field} parameter cannot be parsed as a long value: {}",
                    display(value)
                ))),
            }
        };
        match wait_for {
            WaitFor::Seconds(_) | WaitFor::Timestamp(_) => {}
            WaitFor::SecondsPath(path) => {
                let value = self.lookup(path, &effective).ok_or_else(|| {
                    Failure::runtime(format!(
                        "The SecondsPath parameter does not reference an input value: {}",
                        path.source()
                    ))
                })?;
                seconds(&value, "SecondsPath")?;
            }
            WaitFor::TimestampPath(path) => {
                let value = self.lookup(path, &effective).ok_or_else(|| {
                    Failure::runtime(format!(
                        "The TimestampPath parameter does not reference an input value: {}",
                        path.source()
                    ))
                })?;
                if value.as_str().and_then(Timestamp::parse).is_none() {
                    return Err(Failure::runtime(format!(
                        "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: {} == {}",
                        path.source(),
                        display(&value)
                    )));
                }
            }
            WaitFor::SecondsExpression(expression) => {
                let value = self.jsonata_expression(expression, &effective, "Seconds")?;
                if value.as_i64().is_none_or(|s| s < 0) {
                    return Err(Failure::new(
                        names::QUERY_EVALUATION_ERROR,
                        format!(
                            "The Seconds field must be a non-negative integer: {}",
                            display(&value)
                        ),
                    ));
                }
            }
            WaitFor::TimestampExpression(expression) => {
                let value = self.jsonata_expression(expression, &effective, "Timestamp")?;
                if value.as_str().and_then(Timestamp::parse).is_none() {
                    return Err(Failure::new(
                        names::QUERY_EVALUATION_ERROR,
                        format!(
                            "The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: {}",
                            display(&value)
                        ),
                    ));
                }
            }
        }
        if self.jsonata() {
            return self.jsonata_input(state, transition(next));
        }
        let assigned = self.assign(state.assign.as_ref(), &effective)?;
        Ok(Left {
            output: self.output_path(state, effective)?,
            next: transition(next),
            assigned,
        })
    }

    fn task_start(
        &mut self,
        state: &State,
        task: &crate::model::Task,
    ) -> Result<TaskStart, Failure> {
        let jsonata = self.jsonata();
        let effective = if jsonata {
            self.p.input.clone()
        } else {
            self.input_path(state)?
        };
        let timeout_seconds =
            self.number(task.timeout_seconds.as_ref(), &effective, "TimeoutSeconds")?;
        let heartbeat_seconds = self.number(
            task.heartbeat_seconds.as_ref(),
            &effective,
            "HeartbeatSeconds",
        )?;
        if self.p.context.is_none() {
            if let (Some(token), Value::Object(context)) = (&self.token, &mut self.context) {
                context.insert("Task".into(), json!({ "Token": token }));
            }
        }
        let input = match (&task.parameters, &task.arguments) {
            (Some(parameters), _) => self.template(parameters, &effective, "Parameters"),
            (None, Some(arguments)) => self.jsonata_value(arguments, &effective, "Arguments"),
            (None, None) => Ok(effective),
        };
        if self.p.context.is_none() {
            if let Value::Object(context) = &mut self.context {
                context.shift_remove("Task");
            }
        }
        let input = input?;
        if jsonata {
            self.inspection.after_arguments = Some(input.clone());
        } else {
            self.inspection.after_parameters = Some(input.clone());
        }
        Ok(match &self.p.mock {
            Some(MockOutcome::Result(result)) => {
                TaskStart::Answer(TaskOutcome::Succeeded(result.clone()))
            }
            Some(MockOutcome::Error(failure)) => TaskStart::Answer(TaskOutcome::Failed {
                error: failure.error.clone(),
                cause: failure.cause.clone(),
            }),
            None => TaskStart::Call(TaskCall {
                state_name: self.p.state_name.clone(),
                resource: task.resource.clone(),
                input,
                timeout_seconds,
                heartbeat_seconds,
            }),
        })
    }

    fn task_end(
        &mut self,
        state: &State,
        task: &crate::model::Task,
        outcome: TaskOutcome,
    ) -> Result<Left, Failure> {
        let result = match outcome {
            TaskOutcome::Succeeded(result) => result,
            TaskOutcome::Failed { error, cause } => return Err(Failure { error, cause }),
            TaskOutcome::TimedOut => {
                return Err(Failure::new(
                    names::TIMEOUT,
                    "The target did not answer within the task's time limit",
                ))
            }
            TaskOutcome::HeartbeatTimedOut => {
                return Err(Failure {
                    error: names::HEARTBEAT_TIMEOUT.to_string(),
                    cause: None,
                })
            }
        };
        self.inspection.result = Some(result.clone());
        self.finish(
            state,
            result,
            task.result_selector.as_ref(),
            &task.result_path,
            &task.next,
        )
    }

    /// A Task, Parallel or Map state's work gave `result`: the rest of its data flow,
    /// in its query language.
    fn finish(
        &mut self,
        state: &State,
        result: Value,
        result_selector: Option<&Template>,
        result_path: &ResultPath,
        next: &Transition,
    ) -> Result<Left, Failure> {
        if self.jsonata() {
            return self.jsonata_result(state, result, next);
        }
        self.place(state, result, result_selector, result_path, next)
    }

    /// `TimeoutSeconds`/`HeartbeatSeconds`, literal or from the input.
    fn number(
        &mut self,
        source: Option<&NumberSource<u64>>,
        effective: &Value,
        field: &str,
    ) -> Result<Option<u64>, Failure> {
        let value = match source {
            None => return Ok(None),
            Some(NumberSource::Literal(n)) => return Ok(Some(*n)),
            Some(NumberSource::Jsonata(expression)) => {
                self.jsonata_expression(expression, effective, field)?
            }
            Some(NumberSource::Path(path)) => self
                .lookup(path, effective)
                .ok_or_else(|| payload::no_results(path))?,
        };
        match value.as_u64() {
            Some(n) if n > 0 => Ok(Some(n)),
            _ => Err(Failure::runtime(format!(
                "The {field} field must be a positive integer: {}",
                display(&value)
            ))),
        }
    }

    fn parallel(
        &mut self,
        state: &State,
        parallel: &crate::model::Parallel,
    ) -> Result<Left, Failure> {
        // The branches' input is worked out (it can fail) but not shown: AWS shows
        // neither InputPath nor Parameters of a Parallel state.
        if self.jsonata() {
            if let Some(arguments) = &parallel.arguments {
                let input = self.p.input.clone();
                self.jsonata_value(arguments, &input, "Arguments")?;
            }
        } else {
            let effective = payload::select_ref(
                &self.p.input,
                state.input_path.as_ref(),
                &self.context,
                &self.p.variables,
            )?;
            if let Some(parameters) = &parallel.parameters {
                self.template(parameters, &effective, "Parameters")?;
            }
        }
        let result = self.mocked()?;
        self.finish(
            state,
            result,
            parallel.result_selector.as_ref(),
            &parallel.result_path,
            &parallel.next,
        )
    }

    /// The mock's result of a Map or Parallel state, or its error.
    fn mocked(&self) -> Result<Value, Failure> {
        match &self.p.mock {
            Some(MockOutcome::Result(result)) => Ok(result.clone()),
            Some(MockOutcome::Error(failure)) => Err(failure.clone()),
            None => Err(Failure::runtime(
                "a Map or Parallel state is tested with a mock",
            )),
        }
    }

    fn map(&mut self, state: &State, map: &crate::model::Map) -> Result<Left, Failure> {
        let jsonata = self.jsonata();
        let effective = if jsonata {
            self.p.input.clone()
        } else {
            self.input_path(state)?
        };
        let items = self.map_items(map, &effective)?;
        self.select_items(map, &items, &effective)?;
        let max_concurrency = match &map.max_concurrency {
            NumberSource::Literal(n) => *n,
            NumberSource::Path(path) => {
                let value = self
                    .lookup(path, &effective)
                    .ok_or_else(|| payload::no_results(path))?;
                lenient_u64(&value).ok_or_else(|| {
                    Failure::runtime(format!(
                        "The MaxConcurrencyPath field refers to value \"{}\" which is not a valid integer: {}",
                        display(&value),
                        path.source()
                    ))
                })?
            }
            NumberSource::Jsonata(expression) => {
                let value = self.jsonata_expression(expression, &effective, "MaxConcurrency")?;
                match value.as_f64() {
                    Some(n) if n >= 0.0 && n.fract() == 0.0 => n as u64,
                    _ => {
                        return Err(Failure::new(
                            names::QUERY_EVALUATION_ERROR,
                            format!(
                                "The MaxConcurrency field must be a non-negative integer: {}",
                                display(&value)
                            ),
                        ))
                    }
                }
            }
        };
        self.inspection.max_concurrency = Some(max_concurrency);
        let count = match &map.tolerated_failure_count {
            None => None,
            Some(source) => {
                Some(self.tolerance(source, |n| n as f64, &effective, "ToleratedFailureCount")?)
            }
        };
        let percentage = match &map.tolerated_failure_percentage {
            None => None,
            Some(source) => {
                Some(self.tolerance(source, |p| p, &effective, "ToleratedFailurePercentage")?)
            }
        };
        if let Some(count) = count {
            if count < 0.0 {
                return Err(Failure::runtime(
                    "ToleratedFailureCount cannot be negative.",
                ));
            }
            self.inspection.tolerated_failure_count = Some(count as u64);
        }
        if let Some(percentage) = percentage {
            if !(0.0..=100.0).contains(&percentage) {
                return Err(Failure::runtime(
                    "ToleratedFailurePercentage must be between 0 and 100.",
                ));
            }
            self.inspection.tolerated_failure_percentage = Some(percentage);
        }
        let result = self.mocked()?;
        // The failed iterations count only against a threshold the state sets.
        let failures = self
            .p
            .configuration
            .map_iteration_failure_count
            .unwrap_or(0);
        if count.is_some() || percentage.is_some() {
            let by_count = count.map_or(0, |c| c as u64);
            let by_percentage =
                percentage.map_or(0, |p| ((p / 100.0) * items.len() as f64).floor() as u64);
            if failures > by_count.max(by_percentage) {
                return Err(Failure::new(
                    names::EXCEED_TOLERATED_FAILURE_THRESHOLD,
                    "The specified tolerated failure threshold was exceeded",
                ));
            }
        }
        self.finish(
            state,
            result,
            map.result_selector.as_ref(),
            &map.result_path,
            &map.next,
        )
    }

    /// The Map's items: what its ItemReader read (`mapItemReaderData`), its JSONata
    /// `Items`, or its `ItemsPath` (`afterItemsPath`).
    fn map_items(
        &mut self,
        map: &crate::model::Map,
        effective: &Value,
    ) -> Result<Vec<Value>, Failure> {
        if map.item_reader.is_some() {
            return Ok(self.p.reader_items.clone().unwrap_or_default());
        }
        if self.jsonata() {
            let value = match &map.items {
                Some(template) => self.jsonata_value(template, effective, "Items")?,
                None => effective.clone(),
            };
            return match value {
                Value::Array(items) => Ok(items),
                other => Err(Failure::new(
                    names::QUERY_EVALUATION_ERROR,
                    format!(
                        "Map state input must be an array but was: {}",
                        payload::to_text(&other)
                    ),
                )),
            };
        }
        match self.lookup(&map.items_path, effective) {
            Some(Value::Array(items)) => {
                self.inspection.after_items_path = Some(Value::Array(items.clone()));
                Ok(items)
            }
            Some(_) => {
                // AWS names a path into the context object from the object's own root.
                let source = map.items_path.source();
                let shown = source
                    .strip_prefix('$')
                    .filter(|_| map.items_path.is_context())
                    .unwrap_or(source);
                Err(Failure::runtime(format!(
                    "Reference path \"{shown}\" must point to array."
                )))
            }
            None => Err(payload::no_results(&map.items_path)),
        }
    }

    /// `ItemSelector` (`afterItemSelector`) and `ItemBatcher` (`afterItemBatcher`), as
    /// each iteration would receive its input.
    fn select_items(
        &mut self,
        map: &crate::model::Map,
        items: &[Value],
        effective: &Value,
    ) -> Result<(), Failure> {
        let mut inputs = Vec::with_capacity(items.len());
        let selector = map.item_selector.is_some() || map.jsonata_item_selector.is_some();
        if selector {
            for (index, item) in items.iter().enumerate() {
                if let Value::Object(context) = &mut self.context {
                    context.insert(
                        "Map".into(),
                        json!({"Item": {"Index": index, "Value": item}}),
                    );
                }
                let selected = match (&map.item_selector, &map.jsonata_item_selector) {
                    (Some(selector), _) => self.template(selector, effective, "ItemSelector"),
                    (None, Some(selector)) => {
                        self.jsonata_value(selector, effective, "ItemSelector")
                    }
                    (None, None) => Ok(item.clone()),
                };
                if let Value::Object(context) = &mut self.context {
                    context.shift_remove("Map");
                }
                inputs.push(selected?);
            }
            self.inspection.after_item_selector = Some(Value::Array(inputs.clone()));
        } else {
            inputs = items.to_vec();
        }
        if let Some(batcher) = &map.item_batcher {
            let batches = self.batches(batcher, inputs, effective)?;
            self.inspection.after_item_batcher = Some(Value::Array(batches));
        }
        Ok(())
    }

    /// The iterations' inputs in batches: `MaxItemsPerBatch` and `MaxInputBytesPerBatch`
    /// (literal or read from the input) and `BatchInput`.
    fn batches(
        &mut self,
        batcher: &Value,
        inputs: Vec<Value>,
        effective: &Value,
    ) -> Result<Vec<Value>, Failure> {
        let limit = |this: &mut Tester, key: &str| -> Result<Option<u64>, Failure> {
            if let Some(n) = batcher.get(key).and_then(Value::as_u64) {
                return Ok(Some(n));
            }
            match batcher.get(format!("{key}Path")).and_then(Value::as_str) {
                None => Ok(None),
                Some(source) => {
                    let path = crate::path::Path::parse_reference(source)
                        .map_err(|e| Failure::runtime(format!("{key}Path: {}", e.message)))?;
                    let value = this
                        .lookup(&path, effective)
                        .ok_or_else(|| payload::no_results(&path))?;
                    crate::distributed::config::batch_limit_from_value(
                        &value,
                        &format!("{key}Path"),
                        source,
                    )
                    .map(Some)
                }
            }
        };
        let max_items = limit(self, "MaxItemsPerBatch")?;
        let max_bytes = limit(self, "MaxInputBytesPerBatch")?;
        let batch_input = match batcher.get("BatchInput") {
            None => None,
            Some(template) if self.jsonata() => {
                let template = JsonataTemplate::compile(template)
                    .map_err(|_| Failure::runtime("BatchInput is not a valid template"))?;
                Some(self.jsonata_value(&template, effective, "BatchInput")?)
            }
            Some(template) => {
                let template = Template::compile(template)
                    .map_err(|_| Failure::runtime("BatchInput is not a valid template"))?;
                Some(self.template(&template, effective, "BatchInput")?)
            }
        };
        let batching = crate::distributed::batch::Batching {
            max_items,
            max_bytes,
            batch_input,
        };
        crate::distributed::batch::batch_all(&batching, inputs).map_err(|e| e.into_failure())
    }

    /// A tolerated failure count or percentage, literal or read.
    fn tolerance<T: Copy>(
        &mut self,
        source: &NumberSource<T>,
        as_f64: fn(T) -> f64,
        effective: &Value,
        field: &str,
    ) -> Result<f64, Failure> {
        match source {
            NumberSource::Literal(n) => Ok(as_f64(*n)),
            NumberSource::Path(path) => {
                let value = self
                    .lookup(path, effective)
                    .ok_or_else(|| payload::no_results(path))?;
                lenient_f64(&value).ok_or_else(|| {
                    Failure::runtime(format!(
                        "The {field}Path field refers to value \"{}\" which is not a valid number: {}",
                        display(&value),
                        path.source()
                    ))
                })
            }
            NumberSource::Jsonata(expression) => {
                let value = self.jsonata_expression(expression, effective, field)?;
                value.as_f64().ok_or_else(|| {
                    Failure::new(
                        names::QUERY_EVALUATION_ERROR,
                        format!("The {field} field must be a number: {}", display(&value)),
                    )
                })
            }
        }
    }

    /// The response: the state left well, or its error after Retry and Catch.
    fn respond(&mut self, state: &State, left: Result<Left, Failure>) -> Response {
        let left = left.and_then(|left| {
            if payload::json_size_exceeds(&left.output, self.max_payload) {
                return Err(Failure::new(
                    names::DATA_LIMIT_EXCEEDED,
                    format!(
                        "The state/task '{}' returned a result with a size exceeding the maximum number of bytes service limit.",
                        self.p.state_name
                    ),
                ));
            }
            Ok(left)
        });
        match left {
            Ok(left) => {
                if let Some(assigned) = left.assigned {
                    self.p.variables.extend(assigned);
                }
                let response = Response {
                    status: super::Status::Succeeded,
                    output: Some(left.output),
                    error: None,
                    cause: None,
                    next_state: left.next,
                    inspection: None,
                };
                self.with_inspection(response)
            }
            Err(failure) => {
                let response = self.handle_error(state, failure);
                self.with_inspection(response)
            }
        }
    }

    /// Adds what the inspection level shows.
    pub(super) fn with_inspection(&mut self, mut response: Response) -> Response {
        if self.p.level == InspectionLevel::Info {
            return response;
        }
        let mut inspection = std::mem::take(&mut self.inspection);
        if !self.p.variables.is_empty() {
            inspection.variables = Some(Value::Object(self.p.variables.clone()));
        }
        if self.p.level != InspectionLevel::Trace {
            inspection.request = None;
            inspection.response = None;
        }
        response.inspection = Some(inspection);
        response
    }
}

/// Where a Task's work comes from.
pub(super) enum TaskStart {
    Answer(TaskOutcome),
    Call(TaskCall),
}

fn no_choice_matched() -> Failure {
    Failure::new(
        names::NO_CHOICE_MATCHED,
        "Failed to transition out of the state. No match for the given input.",
    )
}

/// An integer given as a number or a string holding one (AWS accepts `"1"` in
/// `MaxConcurrencyPath`).
fn lenient_u64(value: &Value) -> Option<u64> {
    match value {
        Value::String(text) => text.trim().parse().ok(),
        other => other.as_u64(),
    }
}

fn lenient_f64(value: &Value) -> Option<f64> {
    match value {
        Value::String(text) => text.trim().parse().ok().filter(|f: &f64| f.is_finite()),
        other => other.as_f64(),
    }
}
