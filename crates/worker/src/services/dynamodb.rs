//! `arn:aws:states:::dynamodb:getItem`, `putItem`, `updateItem`, `deleteItem`: the
//! parameters (DynamoDB JSON: `TableName`, `Key`/`Item`, expressions, …) are the request
//! as given, in the AWS JSON 1.0 protocol (`X-Amz-Target: DynamoDB_20120810.GetItem`);
//! the result is DynamoDB's answer with `SdkHttpMetadata` and `SdkResponseMetadata`, as
//! Step Functions shows it. AWS has no `.waitForTaskToken` for DynamoDB.

use serde_json::{Map, Value};

use super::{arn_region, Call, JsonVersion};
use crate::aws::endpoint::AwsService;
use crate::aws::metadata;
use crate::error::InvokeError;

/// The four item actions of the optimized integration (`getItem`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Get,
    Put,
    Update,
    Delete,
}

impl Action {
    pub(super) fn parse(action: &str) -> Option<Action> {
        Some(match action {
            "getItem" => Action::Get,
            "putItem" => Action::Put,
            "updateItem" => Action::Update,
            "deleteItem" => Action::Delete,
            _ => return None,
        })
    }

    fn target(self) -> &'static str {
        match self {
            Action::Get => "DynamoDB_20120810.GetItem",
            Action::Put => "DynamoDB_20120810.PutItem",
            Action::Update => "DynamoDB_20120810.UpdateItem",
            Action::Delete => "DynamoDB_20120810.DeleteItem",
        }
    }
}

pub(super) async fn call(
    call: &Call<'_>,
    action: Action,
    parameters: &Map<String, Value>,
) -> Result<Value, InvokeError> {
    let table = match parameters.get("TableName") {
        Some(Value::String(table)) if !table.is_empty() => table.as_str(),
        _ => {
            return Err(call.bad(
                AwsService::DynamoDb,
                format!(
                    "{}: the parameter TableName (a string) is required",
                    action.target()
                ),
            ))
        }
    };
    // A table may be named by its ARN, which names its region.
    let region = call.region(arn_region(table).map(|(_, region)| region));
    let (fetched, mut answer) = call
        .json(
            AwsService::DynamoDb,
            region,
            action.target(),
            JsonVersion::V1_0,
            &Value::Object(parameters.clone()),
        )
        .await?;
    metadata::add_sdk_metadata(&mut answer, &fetched, metadata::request_id(&fetched, None));
    Ok(Value::Object(answer))
}
