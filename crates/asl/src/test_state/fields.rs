//! A mocked result checked against the output shape of the API its Task calls, as
//! TestState's `fieldValidationMode` asks: `STRICT` (required fields present, present
//! fields well-formed), `PRESENT` (present fields well-formed) or `NONE`.
//!
//! Fields the API does not define are accepted in every mode (AWS accepts
//! `{"random": "json"}` as a `PutEvents` result). The shapes are those of the
//! integrations Cairn runs: `lambda:invoke`, `sqs:sendMessage`, `sns:publish`,
//! `events:putEvents`, the four DynamoDB item calls, `states:startExecution` (and its
//! `.sync` forms), `http:invoke` and `apigateway:invoke`. Step Functions capitalises the
//! first letter of every member of an integration's answer (`ExecutionArn`), and so do
//! these shapes. A resource without a shape here (a bare Lambda function ARN, whose
//! result is the function's own, an activity, a `.waitForTaskToken` task, whose result is
//! what `SendTaskSuccess` sends, and `aws-sdk:*`) is not checked.

use serde_json::{Map, Value};

/// How strictly a mocked result is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidationMode {
    #[default]
    Strict,
    Present,
    None,
}

/// One member type of an API shape.
#[derive(Debug, Clone)]
enum Shape {
    String {
        min: Option<u64>,
        max: Option<u64>,
        values: &'static [&'static str],
    },
    Integer {
        min: Option<i64>,
        max: Option<i64>,
    },
    Double,
    Boolean,
    /// A timestamp: JSON text in Step Functions' answers.
    Timestamp,
    /// Binary data: base64 text, or the text itself.
    Blob,
    /// Any JSON value (`ResponseBody`, a `.sync:2` execution's `Input`).
    Any,
    List(Box<Shape>),
    Map(Box<Shape>),
    Structure(Vec<Member>),
    /// DynamoDB's `AttributeValue`, expanded when a value is checked.
    Attribute,
}

#[derive(Debug, Clone)]
struct Member {
    name: &'static str,
    shape: Shape,
    required: bool,
}

fn string() -> Shape {
    Shape::String {
        min: None,
        max: None,
        values: &[],
    }
}

fn bounded(min: u64, max: u64) -> Shape {
    Shape::String {
        min: Some(min),
        max: Some(max),
        values: &[],
    }
}

fn one_of(values: &'static [&'static str]) -> Shape {
    Shape::String {
        min: None,
        max: None,
        values,
    }
}

fn integer() -> Shape {
    Shape::Integer {
        min: None,
        max: None,
    }
}

fn field(name: &'static str, shape: Shape) -> Member {
    Member {
        name,
        shape,
        required: false,
    }
}

fn required(name: &'static str, shape: Shape) -> Member {
    Member {
        name,
        shape,
        required: true,
    }
}

/// DynamoDB's `AttributeValue`: one of its typed members. It nests itself (`M`, `L`),
/// so it is built one level at a time, as a value is checked ([`Shape::Attribute`]).
fn attribute_value() -> Shape {
    Shape::Structure(vec![
        field("S", string()),
        field("N", string()),
        field("B", Shape::Blob),
        field("SS", Shape::List(Box::new(string()))),
        field("NS", Shape::List(Box::new(string()))),
        field("BS", Shape::List(Box::new(Shape::Blob))),
        field("M", Shape::Map(Box::new(Shape::Attribute))),
        field("L", Shape::List(Box::new(Shape::Attribute))),
        field("NULL", Shape::Boolean),
        field("BOOL", Shape::Boolean),
    ])
}

fn capacity() -> Shape {
    Shape::Structure(vec![
        field("ReadCapacityUnits", Shape::Double),
        field("WriteCapacityUnits", Shape::Double),
        field("CapacityUnits", Shape::Double),
    ])
}

fn consumed_capacity() -> Shape {
    Shape::Structure(vec![
        field("TableName", bounded(1, 1024)),
        field("CapacityUnits", Shape::Double),
        field("ReadCapacityUnits", Shape::Double),
        field("WriteCapacityUnits", Shape::Double),
        field("Table", capacity()),
        field("LocalSecondaryIndexes", Shape::Map(Box::new(capacity()))),
        field("GlobalSecondaryIndexes", Shape::Map(Box::new(capacity()))),
    ])
}

fn item_collection_metrics() -> Shape {
    Shape::Structure(vec![
        field("ItemCollectionKey", Shape::Map(Box::new(Shape::Attribute))),
        field("SizeEstimateRangeGB", Shape::List(Box::new(Shape::Double))),
    ])
}

fn execution_status() -> Shape {
    one_of(&[
        "RUNNING",
        "SUCCEEDED",
        "FAILED",
        "TIMED_OUT",
        "ABORTED",
        "PENDING_REDRIVE",
    ])
}

/// `DescribeExecution`'s answer, as `.sync` (`Input`/`Output` text) or `.sync:2`
/// (`Input`/`Output` JSON) gives it.
fn described_execution(json_io: bool) -> Shape {
    let io = || {
        if json_io {
            Shape::Any
        } else {
            bounded(0, 262_144)
        }
    };
    Shape::Structure(vec![
        required("ExecutionArn", bounded(1, 256)),
        required("StateMachineArn", bounded(1, 256)),
        field("Name", bounded(1, 80)),
        required("Status", execution_status()),
        required("StartDate", Shape::Timestamp),
        field("StopDate", Shape::Timestamp),
        field("Input", io()),
        field("Output", io()),
        field("Error", bounded(0, 256)),
        field("Cause", bounded(0, 32_768)),
    ])
}

/// The output shape of the API `resource` calls, when Cairn knows it.
fn output_shape(resource: &str) -> Option<Shape> {
    let fields: Vec<&str> = resource.splitn(7, ':').collect();
    let ["arn", _, "states", "", "", service, action] = fields.as_slice() else {
        return None;
    };
    let shape = match (*service, *action) {
        ("lambda", "invoke") => Shape::Structure(vec![
            field("StatusCode", integer()),
            field("FunctionError", string()),
            field("LogResult", string()),
            field("Payload", Shape::Blob),
            field("ExecutedVersion", bounded(1, 1024)),
        ]),
        ("sqs", "sendMessage") => Shape::Structure(vec![
            field("MD5OfMessageBody", string()),
            field("MD5OfMessageAttributes", string()),
            field("MD5OfMessageSystemAttributes", string()),
            field("MessageId", string()),
            field("SequenceNumber", string()),
        ]),
        ("sns", "publish") => Shape::Structure(vec![
            field("MessageId", string()),
            field("SequenceNumber", string()),
        ]),
        ("events", "putEvents") => Shape::Structure(vec![
            field("FailedEntryCount", integer()),
            field(
                "Entries",
                Shape::List(Box::new(Shape::Structure(vec![
                    field("EventId", bounded(0, 64)),
                    field("ErrorCode", string()),
                    field("ErrorMessage", string()),
                ]))),
            ),
        ]),
        ("dynamodb", "getItem") => Shape::Structure(vec![
            field("Item", Shape::Map(Box::new(Shape::Attribute))),
            field("ConsumedCapacity", consumed_capacity()),
        ]),
        ("dynamodb", "putItem" | "updateItem" | "deleteItem") => Shape::Structure(vec![
            field("Attributes", Shape::Map(Box::new(Shape::Attribute))),
            field("ConsumedCapacity", consumed_capacity()),
            field("ItemCollectionMetrics", item_collection_metrics()),
        ]),
        ("states", "startExecution") => Shape::Structure(vec![
            required("ExecutionArn", bounded(1, 256)),
            required("StartDate", Shape::Timestamp),
        ]),
        ("states", "startExecution.sync") => described_execution(false),
        ("states", "startExecution.sync:2") => described_execution(true),
        ("http", "invoke") | ("apigateway", "invoke") => Shape::Structure(vec![
            field("ResponseBody", Shape::Any),
            field(
                "Headers",
                Shape::Map(Box::new(Shape::List(Box::new(string())))),
            ),
            field("StatusCode", integer()),
            field("StatusText", string()),
        ]),
        _ => return None,
    };
    Some(shape)
}

/// Checks `result`, the mocked answer of a Task whose `Resource` is `resource`. `Err`
/// carries AWS's message for the first problem found.
pub fn check(resource: &str, result: &Value, mode: FieldValidationMode) -> Result<(), String> {
    if mode == FieldValidationMode::None {
        return Ok(());
    }
    let Some(shape) = output_shape(resource) else {
        return Ok(());
    };
    let Value::Object(object) = result else {
        return Err(problem("The mocked result must be a JSON object"));
    };
    check_members(&shape, object, mode).map_err(|p| problem(&p))
}

fn problem(text: &str) -> String {
    format!("Mock result schema validation error: {text}")
}

fn check_members(
    shape: &Shape,
    object: &Map<String, Value>,
    mode: FieldValidationMode,
) -> Result<(), String> {
    let Shape::Structure(members) = shape else {
        return Ok(());
    };
    for member in members {
        match object.get(member.name) {
            Some(value) => check_value(member.name, &member.shape, value, mode)?,
            None if member.required && mode == FieldValidationMode::Strict => {
                return Err(format!("Required field '{}' is missing", member.name));
            }
            None => {}
        }
    }
    Ok(())
}

fn check_value(
    name: &str,
    shape: &Shape,
    value: &Value,
    mode: FieldValidationMode,
) -> Result<(), String> {
    let wrong = |what: &str| Err(format!("Field '{name}' must be {what}"));
    match shape {
        Shape::Any => Ok(()),
        Shape::String { min, max, values } => {
            let Value::String(text) = value else {
                return wrong("a string");
            };
            let length = text.chars().count() as u64;
            if min.is_some_and(|min| length < min) {
                return Err(format!("Field '{name}' is smaller than the minimum length"));
            }
            if max.is_some_and(|max| length > max) {
                return Err(format!("Field '{name}' exceeds the maximum length"));
            }
            if !values.is_empty() && !values.contains(&text.as_str()) {
                return Err(format!("Field '{name}' is not an expected value"));
            }
            Ok(())
        }
        Shape::Timestamp | Shape::Blob => match value {
            Value::String(_) => Ok(()),
            _ => wrong("a string"),
        },
        Shape::Integer { min, max } => {
            let Some(n) = value.as_i64().or_else(|| {
                // An integer written with a fraction of zero (`3.0`) is still one.
                value
                    .as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            }) else {
                return wrong("a number");
            };
            if min.is_some_and(|min| n < min) {
                return Err(format!("Field '{name}' is less than the minimum value"));
            }
            if max.is_some_and(|max| n > max) {
                return Err(format!("Field '{name}' exceeds the maximum value"));
            }
            Ok(())
        }
        Shape::Double => match value {
            Value::Number(_) => Ok(()),
            _ => wrong("a number"),
        },
        Shape::Boolean => match value {
            Value::Bool(_) => Ok(()),
            _ => wrong("a boolean"),
        },
        Shape::List(member) => {
            let Value::Array(items) = value else {
                return wrong("an array");
            };
            items
                .iter()
                .try_for_each(|item| check_value(name, member, item, mode))
        }
        Shape::Map(member) => {
            let Value::Object(entries) = value else {
                return wrong("an object");
            };
            entries
                .iter()
                .try_for_each(|(key, item)| check_value(key, member, item, mode))
        }
        Shape::Structure(_) => {
            let Value::Object(object) = value else {
                return wrong("an object");
            };
            check_members(shape, object, mode)
        }
        Shape::Attribute => check_value(name, &attribute_value(), value, mode),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const EVENTS: &str = "arn:aws:states:::events:putEvents";
    const START: &str = "arn:aws:states:::states:startExecution";

    fn strict(resource: &str, result: Value) -> Result<(), String> {
        check(resource, &result, FieldValidationMode::Strict)
    }

    #[test]
    fn fields_outside_the_api_are_accepted() {
        assert_eq!(strict(EVENTS, json!({"random": "json"})), Ok(()));
        assert_eq!(strict(EVENTS, json!({})), Ok(()));
    }

    #[test]
    fn wrong_types_are_named_as_aws_names_them() {
        assert_eq!(
            strict(EVENTS, json!({"Entries": "x"})),
            Err("Mock result schema validation error: Field 'Entries' must be an array".into())
        );
        assert_eq!(
            strict(
                EVENTS,
                json!({"Entries": [{"EventId": "a"}, {"EventId": ["b"]}]})
            ),
            Err("Mock result schema validation error: Field 'EventId' must be a string".into())
        );
        assert_eq!(
            strict(
                "arn:aws:states:::lambda:invoke",
                json!({"StatusCode": "200"})
            ),
            Err("Mock result schema validation error: Field 'StatusCode' must be a number".into())
        );
        assert_eq!(
            strict(
                "arn:aws:states:::dynamodb:putItem",
                json!({"ConsumedCapacity": {"CapacityUnits": "1.5"}})
            ),
            Err(
                "Mock result schema validation error: Field 'CapacityUnits' must be a number"
                    .into()
            )
        );
    }

    #[test]
    fn required_fields_only_in_strict_mode() {
        let missing = Err(
            "Mock result schema validation error: Required field 'ExecutionArn' is missing"
                .to_string(),
        );
        assert_eq!(strict(START, json!({})), missing);
        assert_eq!(
            strict(START, json!({"executionArn": "a", "startDate": "b"})),
            missing
        );
        assert_eq!(
            check(START, &json!({}), FieldValidationMode::Present),
            Ok(())
        );
        assert_eq!(
            check(
                START,
                &json!({"ExecutionArn": "a", "StartDate": true}),
                FieldValidationMode::Present
            ),
            Err("Mock result schema validation error: Field 'StartDate' must be a string".into())
        );
        assert_eq!(
            check(
                START,
                &json!({"StartDate": true}),
                FieldValidationMode::None
            ),
            Ok(())
        );
    }

    #[test]
    fn resources_without_a_shape_are_not_checked() {
        let function = "arn:aws:lambda:us-east-1:123456789012:function:f";
        assert_eq!(strict(function, json!("anything")), Ok(()));
        assert_eq!(
            strict(
                "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                json!(1)
            ),
            Ok(())
        );
    }

    #[test]
    fn enums_and_lengths() {
        assert_eq!(
            strict(
                "arn:aws:states:::states:startExecution.sync",
                json!({"ExecutionArn": "a", "StateMachineArn": "b", "Status": "DONE", "StartDate": "d"})
            ),
            Err(
                "Mock result schema validation error: Field 'Status' is not an expected value"
                    .into()
            )
        );
        assert_eq!(
            strict(
                "arn:aws:states:::lambda:invoke",
                json!({"ExecutedVersion": ""})
            ),
            Err(
                "Mock result schema validation error: Field 'ExecutedVersion' is smaller than the minimum length"
                    .into()
            )
        );
    }
}
