//! What validation reports: AWS's `ValidateStateMachineDefinition` diagnostics.

use serde::{Deserialize, Serialize};

/// AWS's diagnostic codes, as `ValidateStateMachineDefinition` returns them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DiagnosticCode {
    /// The text is not JSON (or not a JSON object).
    InvalidJsonDescription,
    /// A field is missing, unknown, of the wrong type or out of range.
    SchemaValidationFailed,
    /// `Next`, `Default`, `StartAt` or a Catch names a state that does not exist.
    MissingTransitionTarget,
    /// A state name is used twice in the machine, branches included.
    DuplicateStateName,
    /// A state no transition leads to. Not emitted: AWS reports this as
    /// `MISSING_TRANSITION_TARGET` (`State "X" is not reachable.`), and so does Cairn.
    UnreachableState,
    /// No path from this state leads to a terminal state. Not emitted: AWS only checks
    /// that a state list has some terminal state, reported as [`Self::MissingEndState`].
    NoTerminalState,
    /// The definition is larger than the limit.
    DefinitionTooLarge,
    /// AWS's code for a workflow without any terminal state (`End: true`, `Succeed`,
    /// `Fail`): "Workflow has no terminal state", reported without a location.
    MissingEndState,
    /// The definition text is empty (AWS: "Received a null or empty workflow input.").
    MissingDescription,
    /// A `{% … %}` expression does not parse; the message is the parser's.
    InvalidJsonataExpression,
    /// A `{% … %}` expression references what AWS does not allow (`$$`, a name at the
    /// top level, `$states.errorOutput` outside a catcher).
    UnsupportedJsonataExpression,
}

impl DiagnosticCode {
    pub fn as_str(self) -> &'static str {
        match self {
            DiagnosticCode::InvalidJsonDescription => "INVALID_JSON_DESCRIPTION",
            DiagnosticCode::SchemaValidationFailed => "SCHEMA_VALIDATION_FAILED",
            DiagnosticCode::MissingTransitionTarget => "MISSING_TRANSITION_TARGET",
            DiagnosticCode::DuplicateStateName => "DUPLICATE_STATE_NAME",
            DiagnosticCode::UnreachableState => "UNREACHABLE_STATE",
            DiagnosticCode::NoTerminalState => "NO_TERMINAL_STATE",
            DiagnosticCode::DefinitionTooLarge => "DEFINITION_TOO_LARGE",
            DiagnosticCode::MissingEndState => "MISSING_END_STATE",
            DiagnosticCode::MissingDescription => "MISSING_DESCRIPTION",
            DiagnosticCode::InvalidJsonataExpression => "INVALID_JSONATA_EXPRESSION",
            DiagnosticCode::UnsupportedJsonataExpression => "UNSUPPORTED_JSONATA_EXPRESSION",
        }
    }
}

/// ERROR makes a definition invalid; WARNING does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about a definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: DiagnosticCode,
    /// Where in the definition, written as AWS writes it: object keys as JSON-pointer
    /// segments and array elements as `[i]`, such as `/States/Pay/Retry[0]/BackoffRate`.
    /// The root is `/`. Empty when the finding has no location (AWS omits the field and
    /// prints `at null`, as for `MISSING_END_STATE`).
    pub location: String,
    pub message: String,
}

impl Diagnostic {
    pub fn error(
        code: DiagnosticCode,
        location: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            location: location.into(),
            message: message.into(),
        }
    }

    pub fn schema(location: impl Into<String>, message: impl Into<String>) -> Self {
        Self::error(DiagnosticCode::SchemaValidationFailed, location, message)
    }

    /// The text AWS puts in `InvalidDefinition`'s message for this finding, e.g.
    /// `SCHEMA_VALIDATION_FAILED: These fields are required: [States] at /`.
    pub fn aws_text(&self) -> String {
        let location = if self.location.is_empty() {
            "null"
        } else {
            self.location.as_str()
        };
        format!("{}: {} at {}", self.code.as_str(), self.message, location)
    }
}

/// The message of AWS's `InvalidDefinition` error for a list of diagnostics.
pub fn invalid_definition_message(diagnostics: &[Diagnostic]) -> String {
    let errors: Vec<String> = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(Diagnostic::aws_text)
        .collect();
    // AWS joins several findings with ", " inside one pair of quotes, e.g.
    // `'MISSING_TRANSITION_TARGET: Missing 'Next' target: pass3 at /States/pass1/Next,
    // MISSING_TRANSITION_TARGET: State "pass2" is not reachable. at /States/pass2'`.
    if errors.is_empty() {
        "Invalid State Machine Definition".to_string()
    } else {
        format!("Invalid State Machine Definition: '{}'", errors.join(", "))
    }
}

/// Appends `/segment` to a JSON pointer, escaping `~` and `/` as RFC 6901 asks.
pub fn pointer(base: &str, segment: &str) -> String {
    let escaped = segment.replace('~', "~0").replace('/', "~1");
    if base == "/" {
        format!("/{escaped}")
    } else {
        format!("{base}/{escaped}")
    }
}

/// Appends `[i]` to a location: AWS's notation for an array element
/// (`/States/Pay/Retry[0]`).
pub fn index(base: &str, i: usize) -> String {
    format!("{base}[{i}]")
}
