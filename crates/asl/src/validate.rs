//! The entry point for a definition text: JSON syntax, schema ([`crate::parse`]) and the
//! checks that span states (transition targets, reachability, duplicate names, size).

use crate::diagnostic::Diagnostic;
use crate::model::StateMachine;

/// Options that change what is accepted.
#[derive(Debug, Clone)]
pub struct ValidateOptions {
    /// Largest definition text accepted, in bytes (AWS: 1 MiB).
    pub max_definition_bytes: usize,
    /// Express machines refuse `.sync` and `.waitForTaskToken` integrations.
    pub express: bool,
}

impl Default for ValidateOptions {
    fn default() -> Self {
        ValidateOptions {
            max_definition_bytes: 1024 * 1024,
            express: false,
        }
    }
}

/// Validates a definition text. `Ok` carries the machine and any warnings; `Err` carries
/// every diagnostic (at least one error). Never panics, whatever the input.
pub fn validate(
    text: &str,
    options: &ValidateOptions,
) -> Result<(StateMachine, Vec<Diagnostic>), Vec<Diagnostic>> {
    let _ = (text, options);
    todo!("validate::validate")
}
