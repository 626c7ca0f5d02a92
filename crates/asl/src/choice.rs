//! Choice rules: the comparison operators and their `…Path` forms, the `Is*` tests,
//! `StringMatches`, and `And`/`Or`/`Not`.

use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::error::Failure;
use crate::template::Scope;

/// One Choice rule (a top-level rule's `Next` lives in [`crate::model::ChoiceBranch`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    _private: (),
}

impl Rule {
    /// Parses a rule at `location` (a JSON pointer such as `/States/Check/Choices/0`),
    /// pushing a diagnostic for each problem. `top_level` rules must carry `Next`
    /// (read by the caller); nested ones must not.
    pub fn parse(
        value: &Value,
        location: &str,
        top_level: bool,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<Rule> {
        let _ = (value, location, top_level, diagnostics);
        todo!("choice::Rule::parse")
    }

    /// Evaluates the rule. A `Variable` that matches nothing is `States.Runtime`, as AWS
    /// reports it; comparisons of mismatched types are simply false.
    pub fn evaluate(&self, scope: Scope<'_>) -> Result<bool, Failure> {
        let _ = scope;
        todo!("choice::Rule::evaluate")
    }
}
