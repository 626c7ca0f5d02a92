//! Payload templates: `Parameters`, `ResultSelector`, `ItemSelector` (and the legacy
//! Map `Parameters`). A key ending in `.$` takes its value from a path (`$.x`, `$$.x`)
//! or an intrinsic function call; every other value is copied as written.

use serde_json::Value;

use crate::error::Failure;
use crate::random::Random;

/// Where a template or an intrinsic reads data from.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The effective input (`$`).
    pub input: &'a Value,
    /// The context object (`$$`).
    pub context: &'a Value,
}

/// A problem in a template found at definition time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// JSON pointer relative to the template's own location, e.g. `/a/b.$` ("" for the root).
    pub location: String,
    pub message: String,
}

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    _private: (),
}

impl Template {
    /// Compiles a template from its JSON, reporting every invalid path or intrinsic call.
    pub fn compile(value: &Value) -> Result<Template, Vec<TemplateError>> {
        let _ = value;
        todo!("template::Template::compile")
    }

    /// Compiles the value of a field that holds one path or one intrinsic call
    /// (`ErrorPath`, `CausePath`): `$.x`, `$$.x` or `States.Format(…)`.
    pub fn compile_expression(text: &str) -> Result<Template, TemplateError> {
        let _ = text;
        todo!("template::Template::compile_expression")
    }

    /// Builds the value. `field` is the name AWS uses in error causes (`Parameters`,
    /// `ResultSelector`, `ItemSelector`, `ErrorPath`, …). A path that matches nothing is
    /// `States.Runtime`; a failing intrinsic is `States.IntrinsicFailure`.
    pub fn evaluate(
        &self,
        scope: Scope<'_>,
        random: &mut dyn Random,
        field: &str,
    ) -> Result<Value, Failure> {
        let _ = (scope, random, field);
        todo!("template::Template::evaluate")
    }
}
