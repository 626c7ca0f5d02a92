//! The Fail state: its Error and Cause, literal or evaluated.

use serde_json::Value;

use crate::error::Failure;
use crate::interpreter::frame::Frame;
use crate::interpreter::jsonata::States;
use crate::interpreter::run::Run;
use crate::model::{Fail, TextSource};
use crate::payload;

impl Run<'_> {
    pub(super) fn fail_state(
        &mut self,
        frame: &mut Frame,
        fail: &Fail,
    ) -> Result<Failure, Failure> {
        let error = self.text_source(frame, fail.error.as_ref(), "Error")?;
        let cause = self.text_source(frame, fail.cause.as_ref(), "Cause")?;
        Ok(Failure {
            error: error.unwrap_or_default(),
            cause,
        })
    }

    fn text_source(
        &mut self,
        frame: &mut Frame,
        source: Option<&TextSource>,
        field: &str,
    ) -> Result<Option<String>, Failure> {
        match source {
            None => Ok(None),
            Some(TextSource::Literal(text)) => Ok(Some(text.clone())),
            Some(TextSource::Jsonata(expression)) => {
                let input = frame.input.clone();
                let value =
                    self.jsonata_expression(frame, expression, States::input(&input), field)?;
                match value {
                    Value::String(s) => Ok(Some(s)),
                    other => Ok(Some(payload::to_text(&other))),
                }
            }
            Some(TextSource::Expression(template)) => {
                let input = frame.input.clone();
                let field = format!("{field}Path");
                let value = self.evaluate(frame, template, &input, &field)?;
                match value {
                    Value::String(s) => Ok(Some(s)),
                    other => Ok(Some(payload::to_text(&other))),
                }
            }
        }
    }
}
