//! EventBridge's and the Scheduler's errors: the JSON 1.1 shape
//! (`{"__type": "<Name>", "message": "..."}`, HTTP 400) for EventBridge, and the REST
//! shape (`x-amzn-ErrorType: <Name>`, `{"Message": "..."}`, the model's status) for the
//! Scheduler.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::error::ApiError;

/// An EventBridge or Scheduler error: AWS's name and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct EventsError {
    pub code: &'static str,
    pub message: String,
}

impl EventsError {
    pub fn new(code: &'static str, message: impl Into<String>) -> EventsError {
        EventsError {
            code,
            message: message.into(),
        }
    }

    pub fn validation(message: impl Into<String>) -> EventsError {
        EventsError::new("ValidationException", message)
    }

    pub fn not_found(message: impl Into<String>) -> EventsError {
        EventsError::new("ResourceNotFoundException", message)
    }

    /// The JSON 1.1 body.
    pub fn body(&self) -> Value {
        json!({"__type": self.code, "message": self.message})
    }

    /// The HTTP status the Scheduler's model gives the error (EventBridge sends 400 for
    /// all but internal errors).
    pub fn rest_status(&self) -> StatusCode {
        match self.code {
            "ResourceNotFoundException" => StatusCode::NOT_FOUND,
            "ConflictException" => StatusCode::CONFLICT,
            "ServiceQuotaExceededException" => StatusCode::PAYMENT_REQUIRED,
            "ThrottlingException" => StatusCode::TOO_MANY_REQUESTS,
            "InternalServerException" | "InternalException" => StatusCode::INTERNAL_SERVER_ERROR,
            // The request layer's refusals of a REST call (see `crate::auth`).
            "MissingAuthenticationTokenException"
            | "AccessDeniedException"
            | "UnrecognizedClientException"
            | "InvalidSignatureException" => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    pub fn json_status(&self) -> StatusCode {
        match self.code {
            "InternalException" | "InternalServerException" => StatusCode::INTERNAL_SERVER_ERROR,
            "MissingAuthenticationTokenException" => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl From<ApiError> for EventsError {
    fn from(error: ApiError) -> EventsError {
        EventsError::new(error.code(), error.to_string())
    }
}

impl From<cairn_store::StoreError> for EventsError {
    fn from(error: cairn_store::StoreError) -> EventsError {
        tracing::error!(%error, "store failed");
        EventsError::new(
            "InternalException",
            "Cairn could not complete the request; see the server log",
        )
    }
}
