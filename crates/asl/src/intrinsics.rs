//! The 18 intrinsic functions (`States.Format`, `States.Array`, … `States.UUID`): parsing
//! a call expression and evaluating it with AWS's exact edge cases.

use serde_json::Value;

use crate::error::Failure;
use crate::random::Random;
use crate::template::Scope;

/// Why a call text is not a valid intrinsic call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct IntrinsicError {
    pub message: String,
}

/// A parsed call, e.g. `States.Format('{}', $.name)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    _private: (),
}

impl Call {
    /// Parses an intrinsic call expression.
    pub fn parse(text: &str) -> Result<Call, IntrinsicError> {
        let _ = text;
        todo!("intrinsics::Call::parse")
    }

    /// Evaluates the call. Failures are `States.IntrinsicFailure` (bad arguments) or
    /// `States.Runtime` (a path argument that matches nothing), with AWS's causes.
    pub fn evaluate(&self, scope: Scope<'_>, random: &mut dyn Random) -> Result<Value, Failure> {
        let _ = (scope, random);
        todo!("intrinsics::Call::evaluate")
    }
}

/// Whether a string looks like an intrinsic call (starts with `States.` and has `(`).
pub fn looks_like_call(text: &str) -> bool {
    text.starts_with("States.") && text.contains('(')
}
