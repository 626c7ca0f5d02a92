//! Errors as AWS shapes them: HTTP 400 (mostly) with
//! `{"__type": "<namespace>#<Name>", "message": "..."}`. botocore takes the part of
//! `__type` after `#` as the error code and reads `message` (or `Message`).

use axum::http::StatusCode;
use serde_json::{json, Value};

/// Step Functions' own (modelled) errors.
const SFN: &str = "com.amazonaws.swf.service.v2.model";
/// Errors of AWS's request layer, shared by every JSON service.
const CORAL_SERVICE: &str = "com.amazon.coral.service";
/// AWS's request layer refusing for load (throttling).
const CORAL_AVAILABILITY: &str = "com.amazon.coral.availability";
const CORAL_VALIDATE: &str = "com.amazon.coral.validate";

/// Everything a request can fail with. Each variant is the AWS error of the same name;
/// the text is the message AWS would send.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A member violates its model constraint (length, range, required).
    #[error("{0}")]
    Validation(String),
    /// The body is not a JSON object, or a member has the wrong JSON type.
    #[error("{0}")]
    Serialization(String),
    /// The `X-Amz-Target` names no Step Functions operation, or one Cairn lacks.
    #[error("{0}")]
    UnknownOperation(String),
    /// The body is larger than the configured limit (HTTP 413).
    #[error("{0}")]
    RequestTooLarge(String),
    #[error("Invalid Arn: '{0}'")]
    InvalidArn(String),
    #[error("Invalid Name: '{0}'")]
    InvalidName(String),
    /// The message is built by `cairn_asl::diagnostic::invalid_definition_message`.
    #[error("{0}")]
    InvalidDefinition(String),
    #[error("Invalid State Machine Execution Input: '{0}'")]
    InvalidExecutionInput(String),
    #[error("Invalid Token: '{0}'")]
    InvalidToken(String),
    /// A task token that worked once but no longer does (used, timed out, execution over).
    #[error("Task Timed Out: '{0}'")]
    TaskTimedOut(String),
    /// SendTaskSuccess's `output` is not JSON.
    #[error("Invalid Output: '{0}'")]
    InvalidOutput(String),
    #[error("{0}")]
    InvalidLoggingConfiguration(String),
    #[error("{0}")]
    InvalidTracingConfiguration(String),
    #[error("{0}")]
    InvalidEncryptionConfiguration(String),
    #[error("{0}")]
    MissingRequiredParameter(String),
    #[error("State Machine Does Not Exist: '{0}'")]
    StateMachineDoesNotExist(String),
    #[error("State Machine Already Exists: '{0}'")]
    StateMachineAlreadyExists(String),
    #[error("Execution Does Not Exist: '{0}'")]
    ExecutionDoesNotExist(String),
    #[error("Execution Already Exists: '{0}'")]
    ExecutionAlreadyExists(String),
    /// RedriveExecution of an execution that cannot be redriven now (the reason given).
    #[error("{0}")]
    ExecutionNotRedrivable(String),
    #[error("Activity Does Not Exist: '{0}'")]
    ActivityDoesNotExist(String),
    /// The operation does not apply to the machine's type (StartSyncExecution on a
    /// STANDARD machine, ListExecutions on an EXPRESS one).
    #[error("{0}")]
    StateMachineTypeNotSupported(String),
    /// AWS's own wording given.
    #[error("{0}")]
    ResourceNotFound(String),
    /// The request conflicts with the resource's state (AWS's own wording given).
    #[error("{0}")]
    Conflict(String),
    #[error("State Machine is being deleted: '{0}'")]
    StateMachineDeleting(String),
    /// A quota would be exceeded (AWS's own wording given).
    #[error("{0}")]
    ServiceQuotaExceeded(String),
    #[error("Too many tags for '{0}': a resource may carry at most 50")]
    TooManyTags(String),
    /// The action's token bucket is empty (see `crate::throttle`); botocore retries it.
    #[error("{0}")]
    Throttling(String),
    /// The request may not do this: today only the console's cross-site checks refuse
    /// with it (HTTP 403), the place a sign-in's refusal will use too.
    #[error("{0}")]
    AccessDenied(String),
    /// The request carries no signature while access keys are configured.
    #[error("{0}")]
    MissingAuthenticationToken(String),
    /// The signature is malformed (a part missing, a bad date).
    #[error("{0}")]
    IncompleteSignature(String),
    /// The access key id is not one Cairn knows.
    #[error("{0}")]
    UnrecognizedClient(String),
    /// The signature does not match, is out of scope, or its time is off.
    #[error("{0}")]
    InvalidSignature(String),
    /// The caller's key policy does not allow the action (see `crate::auth::policy`).
    #[error("{0}")]
    NotAuthorized(String),
    /// The database failed; the detail is logged, not sent.
    #[error("Cairn could not complete the request; see the server log")]
    Internal(String),
}

impl ApiError {
    /// `ResourceNotFound` as AWS words it for a resource of a tagging call.
    pub fn no_tagged_resource(arn: &str) -> ApiError {
        ApiError::ResourceNotFound(format!("Resource not found: '{arn}'"))
    }

    /// `ResourceNotFound` as AWS words it for an alias.
    pub fn no_such_alias() -> ApiError {
        ApiError::ResourceNotFound("Request references a resource that does not exist.".to_string())
    }

    /// AWS's error name, the part of `__type` after `#`.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Validation(_) | ApiError::RequestTooLarge(_) => "ValidationException",
            ApiError::Serialization(_) => "SerializationException",
            ApiError::UnknownOperation(_) => "UnknownOperationException",
            ApiError::InvalidArn(_) => "InvalidArn",
            ApiError::InvalidName(_) => "InvalidName",
            ApiError::InvalidDefinition(_) => "InvalidDefinition",
            ApiError::InvalidExecutionInput(_) => "InvalidExecutionInput",
            ApiError::InvalidToken(_) => "InvalidToken",
            ApiError::TaskTimedOut(_) => "TaskTimedOut",
            ApiError::InvalidOutput(_) => "InvalidOutput",
            ApiError::InvalidLoggingConfiguration(_) => "InvalidLoggingConfiguration",
            ApiError::InvalidTracingConfiguration(_) => "InvalidTracingConfiguration",
            ApiError::InvalidEncryptionConfiguration(_) => "InvalidEncryptionConfiguration",
            ApiError::MissingRequiredParameter(_) => "MissingRequiredParameter",
            ApiError::StateMachineDoesNotExist(_) => "StateMachineDoesNotExist",
            ApiError::StateMachineAlreadyExists(_) => "StateMachineAlreadyExists",
            ApiError::ExecutionDoesNotExist(_) => "ExecutionDoesNotExist",
            ApiError::ExecutionAlreadyExists(_) => "ExecutionAlreadyExists",
            ApiError::ExecutionNotRedrivable(_) => "ExecutionNotRedrivable",
            ApiError::ActivityDoesNotExist(_) => "ActivityDoesNotExist",
            ApiError::ResourceNotFound(_) => "ResourceNotFound",
            ApiError::Conflict(_) => "ConflictException",
            ApiError::StateMachineDeleting(_) => "StateMachineDeleting",
            ApiError::ServiceQuotaExceeded(_) => "ServiceQuotaExceededException",
            ApiError::StateMachineTypeNotSupported(_) => "StateMachineTypeNotSupported",
            ApiError::TooManyTags(_) => "TooManyTags",
            ApiError::Throttling(_) => "ThrottlingException",
            ApiError::AccessDenied(_) | ApiError::NotAuthorized(_) => "AccessDeniedException",
            ApiError::MissingAuthenticationToken(_) => "MissingAuthenticationTokenException",
            ApiError::IncompleteSignature(_) => "IncompleteSignatureException",
            ApiError::UnrecognizedClient(_) => "UnrecognizedClientException",
            ApiError::InvalidSignature(_) => "InvalidSignatureException",
            ApiError::Internal(_) => "InternalFailure",
        }
    }

    fn namespace(&self) -> &'static str {
        match self {
            ApiError::Validation(_) | ApiError::RequestTooLarge(_) => CORAL_VALIDATE,
            ApiError::Serialization(_)
            | ApiError::UnknownOperation(_)
            | ApiError::AccessDenied(_)
            | ApiError::NotAuthorized(_)
            | ApiError::MissingAuthenticationToken(_)
            | ApiError::IncompleteSignature(_)
            | ApiError::UnrecognizedClient(_)
            | ApiError::InvalidSignature(_)
            | ApiError::Internal(_) => CORAL_SERVICE,
            ApiError::Throttling(_) => CORAL_AVAILABILITY,
            _ => SFN,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::RequestTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            // AWS's request layer answers a missing signature with 403 and the other
            // authentication and authorization refusals with 400.
            ApiError::AccessDenied(_) | ApiError::MissingAuthenticationToken(_) => {
                StatusCode::FORBIDDEN
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The JSON body AWS sends for this error.
    pub fn body(&self) -> Value {
        json!({
            "__type": format!("{}#{}", self.namespace(), self.code()),
            "message": self.to_string(),
        })
    }

    /// AWS's wording for a member that breaks its model constraint, e.g.
    /// `1 validation error detected: Value 'x' at 'name' failed to satisfy constraint:
    /// Member must have length less than or equal to 80`. Sensitive members (inputs,
    /// definitions) are not echoed, as AWS does not echo them.
    pub fn constraint(field: &str, value: Option<&str>, constraint: &str) -> ApiError {
        let value = match value {
            Some(v) => format!("Value '{v}' at"),
            None => "Value at".to_string(),
        };
        ApiError::Validation(format!(
            "1 validation error detected: {value} '{field}' failed to satisfy constraint: {constraint}"
        ))
    }

    /// A required member is absent (or null).
    pub fn missing(field: &str) -> ApiError {
        ApiError::Validation(format!(
            "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
        ))
    }
}

impl From<cairn_store::StoreError> for ApiError {
    fn from(error: cairn_store::StoreError) -> Self {
        use cairn_store::StoreError;
        match error {
            StoreError::ExecutionAlreadyExists(arn) => ApiError::ExecutionAlreadyExists(arn),
            StoreError::ExecutionDoesNotExist(arn) => ApiError::ExecutionDoesNotExist(arn),
            error @ StoreError::ExecutionNotRedrivable(..) => {
                ApiError::ExecutionNotRedrivable(error.to_string())
            }
            other => {
                tracing::error!(error = %other, "store failed");
                ApiError::Internal(other.to_string())
            }
        }
    }
}
