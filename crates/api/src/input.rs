//! A request body, read member by member with AWS's model constraints: a required
//! member that is absent is a `ValidationException` naming it, a member of the wrong
//! JSON type a `SerializationException` naming it. Unknown members are ignored, as AWS
//! ignores them.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// The members of one request.
#[derive(Debug)]
pub struct Input {
    members: Map<String, Value>,
    /// The request's W3C `traceparent` and `tracestate` headers, if it carried them.
    traceparent: Option<String>,
    tracestate: Option<String>,
}

impl Input {
    /// Parses a request body. An empty body is an empty object.
    pub fn parse(body: &[u8]) -> Result<Input, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Input {
                members: Map::new(),
                traceparent: None,
                tracestate: None,
            });
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(members)) => Ok(Input {
                members,
                traceparent: None,
                tracestate: None,
            }),
            Ok(_) => Err(ApiError::Serialization(
                "The request body must be a JSON object".to_string(),
            )),
            Err(e) => Err(ApiError::Serialization(format!(
                "The request body is not valid JSON: {e}"
            ))),
        }
    }

    /// Every member of the request, as sent.
    pub fn members(&self) -> &Map<String, Value> {
        &self.members
    }

    /// Keeps the request's W3C Trace Context headers (`traceparent`, `tracestate`), so
    /// that a started execution continues the caller's trace.
    pub fn with_trace_headers(mut self, headers: &axum::http::HeaderMap) -> Input {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        self.traceparent = text("traceparent");
        self.tracestate = text("tracestate");
        self
    }

    /// The same request with the string member `field` set to `value` (the API reads a
    /// test case's StartExecution with the `#CASE` suffix taken off the machine's ARN).
    pub(crate) fn with_string(&self, field: &str, value: &str) -> Input {
        let mut members = self.members.clone();
        members.insert(field.to_string(), Value::String(value.to_string()));
        Input {
            members,
            traceparent: self.traceparent.clone(),
            tracestate: self.tracestate.clone(),
        }
    }

    /// A W3C Trace Context header the request carried: `traceparent` or `tracestate`.
    pub fn trace_header(&self, name: &str) -> Option<&str> {
        match name {
            "traceparent" => self.traceparent.as_deref(),
            "tracestate" => self.tracestate.as_deref(),
            _ => None,
        }
    }

    fn get(&self, field: &str) -> Option<&Value> {
        self.members.get(field).filter(|v| !v.is_null())
    }

    fn wrong_type(field: &str, expected: &str) -> ApiError {
        ApiError::Serialization(format!(
            "Member '{field}' has the wrong type: expected {expected}"
        ))
    }

    pub fn string(&self, field: &str) -> Result<Option<&str>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Self::wrong_type(field, "a string")),
        }
    }

    pub fn required_string(&self, field: &str) -> Result<&str, ApiError> {
        self.string(field)?.ok_or_else(|| ApiError::missing(field))
    }

    pub fn bool(&self, field: &str) -> Result<Option<bool>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Self::wrong_type(field, "a boolean")),
        }
    }

    pub fn integer(&self, field: &str) -> Result<Option<i64>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| Self::wrong_type(field, "an integer")),
            Some(_) => Err(Self::wrong_type(field, "an integer")),
        }
    }

    /// A `Float` or `Double` member: any JSON number.
    pub fn number(&self, field: &str) -> Result<Option<f64>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .map(Some)
                .ok_or_else(|| Self::wrong_type(field, "a number")),
            Some(_) => Err(Self::wrong_type(field, "a number")),
        }
    }

    pub fn object(&self, field: &str) -> Result<Option<&Map<String, Value>>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(_) => Err(Self::wrong_type(field, "an object")),
        }
    }

    pub fn array(&self, field: &str) -> Result<Option<&Vec<Value>>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(Self::wrong_type(field, "a list")),
        }
    }

    /// A page size: absent or 0 means `default`; otherwise within `0..=max`.
    pub fn page_size(&self, field: &str, default: i64, max: i64) -> Result<i64, ApiError> {
        match self.integer(field)? {
            None | Some(0) => Ok(default),
            Some(n) if n < 0 => Err(ApiError::constraint(
                field,
                Some(&n.to_string()),
                "Member must have value greater than or equal to 0",
            )),
            Some(n) if n > max => Err(ApiError::constraint(
                field,
                Some(&n.to_string()),
                &format!("Member must have value less than or equal to {max}"),
            )),
            Some(n) => Ok(n),
        }
    }
}

/// Checks a string member's length (in characters, as AWS counts) against its model.
/// `sensitive` members are not echoed in the message.
pub fn check_length(
    field: &str,
    value: &str,
    min: usize,
    max: usize,
    sensitive: bool,
) -> Result<(), ApiError> {
    let length = value.chars().count();
    let shown = if sensitive { None } else { Some(value) };
    if length < min {
        return Err(ApiError::constraint(
            field,
            shown,
            &format!("Member must have length greater than or equal to {min}"),
        ));
    }
    if length > max {
        return Err(ApiError::constraint(
            field,
            shown,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    Ok(())
}

/// Checks an enumerated member.
pub fn check_enum(field: &str, value: &str, allowed: &[&str]) -> Result<(), ApiError> {
    if allowed.contains(&value) {
        return Ok(());
    }
    Err(ApiError::constraint(
        field,
        Some(value),
        &format!(
            "Member must satisfy enum value set: [{}]",
            allowed.join(", ")
        ),
    ))
}
