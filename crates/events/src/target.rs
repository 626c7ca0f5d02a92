//! Targets: a rule's (PutTargets) and a schedule's (CreateSchedule), checked as AWS checks
//! them. Cairn delivers to Step Functions state machines only; any other target is
//! refused by name rather than accepted and ignored.

use serde_json::{Map, Value};

use crate::path::JsonPath;
use crate::retry::{RetryPolicy, MAX_EVENT_AGE_SECONDS, MAX_RETRY_ATTEMPTS, MIN_EVENT_AGE_SECONDS};
use crate::transform::{InputTransformer, TargetInput};

/// The Scheduler's universal target for Step Functions' StartExecution.
pub const SFN_START_EXECUTION: &str = "arn:aws:scheduler:::aws-sdk:sfn:startExecution";

/// Why a target is refused: AWS's `ValidationException` text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TargetError(pub String);

fn refuse<T>(message: impl Into<String>) -> Result<T, TargetError> {
    Err(TargetError(message.into()))
}

/// A checked rule target.
#[derive(Debug, Clone)]
pub struct RuleTarget {
    pub id: String,
    pub machine_arn: String,
    pub input: TargetInput,
    pub retry: RetryPolicy,
    pub dead_letter_arn: Option<String>,
}

/// A checked schedule target.
#[derive(Debug, Clone)]
pub struct ScheduleTarget {
    pub machine_arn: String,
    /// The execution's input (the target's `Input`, or StartExecution's `Input`).
    pub input: String,
    pub retry: RetryPolicy,
    pub dead_letter_arn: Option<String>,
}

/// Whether `arn` is a state machine's (unqualified) ARN.
pub fn is_state_machine(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    matches!(parts.as_slice(), ["arn", _, "states", region, account, "stateMachine", name]
        if !region.is_empty() && !account.is_empty() && !name.is_empty())
}

fn string<'v>(
    object: &'v Map<String, Value>,
    field: &str,
    at: &str,
) -> Result<Option<&'v str>, TargetError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => refuse(format!("{at}{field} must be a string")),
    }
}

fn unsupported(arn: &str) -> TargetError {
    TargetError(format!(
        "Target {arn} is not supported: Cairn delivers only to Step Functions state machines \
         (arn:aws:states:REGION:ACCOUNT:stateMachine:NAME); see docs/api-support.md"
    ))
}

/// `RetryPolicy`, with AWS's ranges and defaults.
fn retry(object: &Map<String, Value>, at: &str) -> Result<RetryPolicy, TargetError> {
    let mut policy = RetryPolicy::default();
    let Some(value) = object.get("RetryPolicy").filter(|v| !v.is_null()) else {
        return Ok(policy);
    };
    let Value::Object(value) = value else {
        return refuse(format!("{at}RetryPolicy must be an object"));
    };
    let integer = |name: &str| -> Result<Option<i64>, TargetError> {
        match value.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| TargetError(format!("{at}RetryPolicy.{name} must be an integer"))),
        }
    };
    if let Some(n) = integer("MaximumRetryAttempts")? {
        if !(0..=MAX_RETRY_ATTEMPTS).contains(&n) {
            return refuse(format!(
                "{at}RetryPolicy.MaximumRetryAttempts must be between 0 and {MAX_RETRY_ATTEMPTS}"
            ));
        }
        policy.maximum_retry_attempts = n;
    }
    if let Some(n) = integer("MaximumEventAgeInSeconds")? {
        if !(MIN_EVENT_AGE_SECONDS..=MAX_EVENT_AGE_SECONDS).contains(&n) {
            return refuse(format!(
                "{at}RetryPolicy.MaximumEventAgeInSeconds must be between {MIN_EVENT_AGE_SECONDS} and {MAX_EVENT_AGE_SECONDS}"
            ));
        }
        policy.maximum_event_age_seconds = n;
    }
    Ok(policy)
}

/// `DeadLetterConfig.Arn`: an SQS queue's ARN.
fn dead_letter(object: &Map<String, Value>, at: &str) -> Result<Option<String>, TargetError> {
    let Some(value) = object.get("DeadLetterConfig").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let Value::Object(value) = value else {
        return refuse(format!("{at}DeadLetterConfig must be an object"));
    };
    let Some(arn) = string(value, "Arn", &format!("{at}DeadLetterConfig."))? else {
        return Ok(None);
    };
    let parts: Vec<&str> = arn.split(':').collect();
    if !matches!(parts.as_slice(), ["arn", _, "sqs", region, account, name]
        if !region.is_empty() && !account.is_empty() && !name.is_empty())
    {
        return refuse(format!(
            "{at}DeadLetterConfig.Arn '{arn}' is not valid: it must be an SQS queue's ARN"
        ));
    }
    Ok(Some(arn.to_string()))
}

impl RuleTarget {
    /// Checks one member of PutTargets' `Targets`.
    pub fn parse(target: &Value) -> Result<RuleTarget, TargetError> {
        let Value::Object(object) = target else {
            return refuse("Each target must be an object");
        };
        let id =
            string(object, "Id", "")?.ok_or_else(|| TargetError("Target Id is required".into()))?;
        if id.is_empty()
            || id.len() > 64
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
        {
            return refuse(format!(
                "Target Id '{id}' is not valid: 1 to 64 letters, digits, '.', '-' or '_'"
            ));
        }
        let at = format!("Target {id}: ");
        let arn = string(object, "Arn", &at)?
            .ok_or_else(|| TargetError(format!("{at}Arn is required")))?;
        if !is_state_machine(arn) {
            return Err(unsupported(arn));
        }
        for field in [
            "EcsParameters",
            "BatchParameters",
            "KinesisParameters",
            "RunCommandParameters",
            "SqsParameters",
            "HttpParameters",
            "RedshiftDataParameters",
            "SageMakerPipelineParameters",
            "AppSyncParameters",
        ] {
            if object.get(field).is_some_and(|v| !v.is_null()) {
                return refuse(format!(
                    "{at}{field} does not apply to a Step Functions state machine"
                ));
            }
        }
        let given = ["Input", "InputPath", "InputTransformer"]
            .iter()
            .filter(|f| object.get(**f).is_some_and(|v| !v.is_null()))
            .count();
        if given > 1 {
            return refuse(format!(
                "{at}Only one of Input, InputPath, or InputTransformer may be given"
            ));
        }
        let input = if let Some(text) = string(object, "Input", &at)? {
            if text.len() > 8192 || serde_json::from_str::<Value>(text).is_err() {
                return refuse(format!(
                    "{at}Input is not valid JSON text of at most 8192 characters"
                ));
            }
            TargetInput::Constant(text.to_string())
        } else if let Some(path) = string(object, "InputPath", &at)? {
            if path.len() > 256 {
                return refuse(format!("{at}InputPath is longer than 256 characters"));
            }
            TargetInput::Path(JsonPath::parse(path).map_err(|e| TargetError(format!("{at}{e}")))?)
        } else if let Some(transformer) = object.get("InputTransformer").filter(|v| !v.is_null()) {
            let Value::Object(transformer) = transformer else {
                return refuse(format!("{at}InputTransformer must be an object"));
            };
            let empty = Map::new();
            let paths = match transformer.get("InputPathsMap") {
                None | Some(Value::Null) => &empty,
                Some(Value::Object(paths)) => paths,
                Some(_) => {
                    return refuse(format!(
                        "{at}InputTransformer.InputPathsMap must be an object"
                    ))
                }
            };
            let template = string(transformer, "InputTemplate", &at)?.ok_or_else(|| {
                TargetError(format!("{at}InputTransformer.InputTemplate is required"))
            })?;
            TargetInput::Transformer(
                InputTransformer::new(paths, template)
                    .map_err(|e| TargetError(format!("{at}{e}")))?,
            )
        } else {
            TargetInput::Event
        };
        Ok(RuleTarget {
            id: id.to_string(),
            machine_arn: arn.to_string(),
            input,
            retry: retry(object, &at)?,
            dead_letter_arn: dead_letter(object, &at)?,
        })
    }
}

impl ScheduleTarget {
    /// Checks CreateSchedule's `Target`.
    pub fn parse(target: &Value) -> Result<ScheduleTarget, TargetError> {
        let Value::Object(object) = target else {
            return refuse("Target must be an object");
        };
        let at = "Target.";
        let arn = string(object, "Arn", at)?
            .ok_or_else(|| TargetError("Target.Arn is required".into()))?;
        if string(object, "RoleArn", at)?.is_none() {
            return refuse("Target.RoleArn is required");
        }
        let input = string(object, "Input", at)?;
        let (machine_arn, input) = if arn == SFN_START_EXECUTION {
            // The universal target: Input is StartExecution's request.
            let request: Map<String, Value> = match input.map(serde_json::from_str::<Value>) {
                Some(Ok(Value::Object(request))) => request,
                _ => return refuse(
                    "Target.Input of sfn:startExecution must be a JSON object with StateMachineArn",
                ),
            };
            let machine = match request.get("StateMachineArn") {
                Some(Value::String(machine)) if is_state_machine(machine) => machine.clone(),
                _ => return refuse("Target.Input.StateMachineArn must be a state machine's ARN"),
            };
            let input = match request.get("Input") {
                None | Some(Value::Null) => "{}".to_string(),
                Some(Value::String(text)) => text.clone(),
                Some(other) => other.to_string(),
            };
            (machine, input)
        } else if is_state_machine(arn) {
            (arn.to_string(), input.unwrap_or("{}").to_string())
        } else {
            return Err(unsupported(arn));
        };
        for field in [
            "EcsParameters",
            "EventBridgeParameters",
            "KinesisParameters",
            "SageMakerPipelineParameters",
            "SqsParameters",
        ] {
            if object.get(field).is_some_and(|v| !v.is_null()) {
                return refuse(format!(
                    "{at}{field} does not apply to a Step Functions target"
                ));
            }
        }
        Ok(ScheduleTarget {
            machine_arn,
            input,
            retry: retry(object, at)?,
            dead_letter_arn: dead_letter(object, at)?,
        })
    }
}

/// The Scheduler's context attributes, replaced in a target's input at each fire.
pub fn with_context(
    input: &str,
    schedule_arn: &str,
    scheduled_time: &str,
    execution_id: &str,
    attempt: i64,
) -> String {
    input
        .replace("<aws.scheduler.schedule-arn>", schedule_arn)
        .replace("<aws.scheduler.scheduled-time>", scheduled_time)
        .replace("<aws.scheduler.execution-id>", execution_id)
        .replace("<aws.scheduler.attempt-number>", &attempt.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:orders";

    #[test]
    fn rule_targets() {
        let target = RuleTarget::parse(&json!({"Id": "sfn", "Arn": MACHINE, "RoleArn": "r",
            "RetryPolicy": {"MaximumRetryAttempts": 2},
            "DeadLetterConfig": {"Arn": "arn:aws:sqs:us-east-1:123456789012:dlq"}}))
        .expect("valid");
        assert_eq!(target.retry.maximum_retry_attempts, 2);
        assert_eq!(target.retry.maximum_event_age_seconds, 86_400);
        assert!(matches!(target.input, TargetInput::Event));
        for bad in [
            json!({"Id": "x", "Arn": "arn:aws:lambda:us-east-1:123456789012:function:f"}),
            json!({"Id": "x", "Arn": MACHINE, "Input": "{", }),
            json!({"Id": "x", "Arn": MACHINE, "Input": "{}", "InputPath": "$"}),
            json!({"Id": "bad id", "Arn": MACHINE}),
            json!({"Id": "x", "Arn": MACHINE, "RetryPolicy": {"MaximumRetryAttempts": 186}}),
            json!({"Id": "x", "Arn": MACHINE, "RetryPolicy": {"MaximumEventAgeInSeconds": 59}}),
            json!({"Id": "x", "Arn": MACHINE, "DeadLetterConfig": {"Arn": "arn:aws:sns:us-east-1:1:t"}}),
            json!({"Id": "x", "Arn": MACHINE, "InputTransformer": {"InputPathsMap": {}}}),
        ] {
            assert!(RuleTarget::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn schedule_targets() {
        let direct =
            ScheduleTarget::parse(&json!({"Arn": MACHINE, "RoleArn": "r", "Input": "{\"a\":1}"}))
                .expect("valid");
        assert_eq!(
            (direct.machine_arn.as_str(), direct.input.as_str()),
            (MACHINE, "{\"a\":1}")
        );
        let universal = ScheduleTarget::parse(&json!({"Arn": SFN_START_EXECUTION, "RoleArn": "r",
            "Input": json!({"StateMachineArn": MACHINE, "Input": {"b": 2}}).to_string()}))
        .expect("valid");
        assert_eq!(universal.input, "{\"b\":2}");
        assert!(
            ScheduleTarget::parse(&json!({"Arn": MACHINE})).is_err(),
            "RoleArn is required"
        );
        assert!(ScheduleTarget::parse(
            &json!({"Arn": "arn:aws:sqs:us-east-1:1:q", "RoleArn": "r"})
        )
        .is_err());
        assert_eq!(
            with_context(
                "<aws.scheduler.scheduled-time>",
                "a",
                "2026-01-01T00:00:00Z",
                "e",
                1
            ),
            "2026-01-01T00:00:00Z"
        );
    }
}
