//! `arn:aws:states:::events:putEvents` (and `.waitForTaskToken`): PutEvents in the AWS
//! JSON 1.1 protocol (`X-Amz-Target: AWSEvents.PutEvents`).
//!
//! As Step Functions does: each entry's `Detail` given as a JSON object is sent as its
//! JSON text; the state machine's ARN and the execution's ARN are appended to each
//! entry's `Resources`; a `FailedEntryCount` above zero fails the task with
//! `EventBridge.FailedEntry` and EventBridge's answer as the cause. The result is the
//! answer, `{"Entries": [{"EventId"}…], "FailedEntryCount": 0}`.

use serde_json::{Map, Value};

use super::{arn_region, Call, JsonVersion};
use crate::aws::endpoint::AwsService;
use crate::error::InvokeError;

pub(super) async fn put_events(
    call: &Call<'_>,
    parameters: &Map<String, Value>,
) -> Result<Value, InvokeError> {
    let bad = |m: String| call.bad(AwsService::EventBridge, format!("putEvents: {m}"));
    let Some(Value::Array(entries)) = parameters.get("Entries") else {
        return Err(bad("the parameter Entries (an array) is required".into()));
    };
    let execution = call.invocation.execution_arn.as_str();
    let machine = state_machine_arn(execution);
    let mut sent = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let Value::Object(entry) = entry else {
            return Err(bad(format!("Entries[{i}] must be an object, got {entry}")));
        };
        let mut entry = entry.clone();
        if let Some(detail @ Value::Object(_)) = entry.get("Detail") {
            let text = detail.to_string();
            entry.insert("Detail".into(), Value::String(text));
        }
        let mut resources = match entry.remove("Resources") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(resources)) => resources,
            Some(other) => {
                return Err(bad(format!(
                    "Entries[{i}].Resources must be an array, got {other}"
                )))
            }
        };
        if let Some(machine) = &machine {
            resources.push(Value::String(machine.clone()));
        }
        resources.push(Value::String(execution.to_string()));
        entry.insert("Resources".into(), Value::Array(resources));
        sent.push(Value::Object(entry));
    }
    let mut request = Map::new();
    request.insert("Entries".into(), Value::Array(sent));
    if let Some(endpoint) = parameters.get("EndpointId") {
        request.insert("EndpointId".into(), endpoint.clone());
    }
    // The execution's own region, which is where Step Functions sends its events.
    let region = call.region(arn_region(execution).map(|(_, region)| region));
    let (_fetched, answer) = call
        .json(
            AwsService::EventBridge,
            region,
            "AWSEvents.PutEvents",
            JsonVersion::V1_1,
            &Value::Object(request),
        )
        .await?;
    let failed = answer
        .get("FailedEntryCount")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let answer = Value::Object(answer);
    if failed > 0 {
        return Err(InvokeError::named(
            "EventBridge.FailedEntry",
            answer.to_string(),
        ));
    }
    Ok(answer)
}

/// `arn:aws:states:R:A:stateMachine:M` of `arn:aws:states:R:A:execution:M:NAME`.
fn state_machine_arn(execution_arn: &str) -> Option<String> {
    let fields: Vec<&str> = execution_arn.split(':').collect();
    match fields.as_slice() {
        ["arn", partition, "states", region, account, "execution", machine, _name, ..] => Some(
            format!("arn:{partition}:states:{region}:{account}:stateMachine:{machine}"),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_of_an_execution() {
        assert_eq!(
            state_machine_arn("arn:aws:states:us-east-1:123456789012:execution:orders:run-1")
                .as_deref(),
            Some("arn:aws:states:us-east-1:123456789012:stateMachine:orders")
        );
        assert_eq!(state_machine_arn("not-an-arn"), None);
    }
}
