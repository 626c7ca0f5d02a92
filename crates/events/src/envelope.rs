//! Events as EventBridge delivers them: a PutEvents entry checked and wrapped in AWS's
//! envelope, and the envelope of a scheduled rule's "Scheduled Event".

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

/// AWS's limit on a PutEvents request: 256 KiB of entries, counted as AWS counts them.
pub const MAX_ENTRIES_BYTES: usize = 256 * 1024;
/// Entries in one PutEvents request.
pub const MAX_ENTRIES: usize = 10;

/// Why one entry is refused: its `ErrorCode` and `ErrorMessage` in the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryError {
    pub code: &'static str,
    pub message: String,
}

/// An entry of PutEvents, read from the request.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub source: Option<String>,
    pub detail_type: Option<String>,
    pub detail: Option<String>,
    pub resources: Vec<String>,
    pub time: Option<DateTime<Utc>>,
    pub bus: Option<String>,
}

impl Entry {
    /// The entry's size as AWS counts it toward the 256 KiB limit.
    pub fn size(&self) -> usize {
        let text = |s: &Option<String>| s.as_ref().map_or(0, |s| s.len());
        14 + text(&self.source)
            + text(&self.detail_type)
            + text(&self.detail)
            + self.resources.iter().map(String::len).sum::<usize>()
    }

    /// Checks the entry and builds its event: `id` and `now` come from the caller.
    pub fn event(
        &self,
        id: &str,
        account: &str,
        region: &str,
        now: DateTime<Utc>,
    ) -> Result<Value, EntryError> {
        let invalid = |name: &str| EntryError {
            code: "InvalidArgument",
            message: format!(
                "Parameter {name} is not valid. Reason: {name} is a required argument."
            ),
        };
        let source = self
            .source
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid("Source"))?;
        let detail_type = self
            .detail_type
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid("DetailType"))?;
        let detail = self.detail.as_deref().ok_or_else(|| invalid("Detail"))?;
        let detail: Map<String, Value> = match serde_json::from_str(detail) {
            Ok(Value::Object(detail)) => detail,
            _ => {
                return Err(EntryError {
                    code: "MalformedDetail",
                    message: "Detail is malformed.".to_string(),
                })
            }
        };
        if source.starts_with("aws.") {
            return Err(EntryError {
                code: "NotAuthorizedForSourceException",
                message: format!("Not authorized for the source {source}."),
            });
        }
        Ok(json!({
            "version": "0",
            "id": id,
            "detail-type": detail_type,
            "source": source,
            "account": account,
            "time": timestamp(self.time.unwrap_or(now)),
            "region": region,
            "resources": self.resources,
            "detail": detail,
        }))
    }
}

/// The event a rule with a `ScheduleExpression` sends its targets at each fire.
pub fn scheduled_event(
    id: &str,
    account: &str,
    region: &str,
    rule_arn: &str,
    at: DateTime<Utc>,
) -> Value {
    json!({
        "version": "0",
        "id": id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": timestamp(at),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    })
}

/// An event time as AWS writes it: `2015-11-11T21:29:54Z`.
pub fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(detail: &str) -> Entry {
        Entry {
            source: Some("myapp.orders".into()),
            detail_type: Some("Order Created".into()),
            detail: Some(detail.into()),
            ..Entry::default()
        }
    }

    #[test]
    fn entries_become_aws_envelopes_or_say_why_not() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let event = entry(r#"{"orderId":"o-1"}"#)
            .event("id-1", "123456789012", "us-east-1", now)
            .expect("valid");
        assert_eq!(event["detail-type"], "Order Created");
        assert_eq!(event["time"], "1970-01-01T00:00:00Z");
        assert_eq!(event["detail"]["orderId"], "o-1");
        assert_eq!(event["resources"], json!([]));
        let keys: Vec<&String> = event
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(
            keys,
            [
                "version",
                "id",
                "detail-type",
                "source",
                "account",
                "time",
                "region",
                "resources",
                "detail"
            ]
        );
        assert_eq!(
            entry("[1]").event("i", "a", "r", now).map_err(|e| e.code),
            Err("MalformedDetail")
        );
        assert_eq!(
            entry("{").event("i", "a", "r", now).map_err(|e| e.code),
            Err("MalformedDetail")
        );
        let mut no_source = entry("{}");
        no_source.source = None;
        assert_eq!(
            no_source.event("i", "a", "r", now).map_err(|e| e.code),
            Err("InvalidArgument")
        );
        let mut aws = entry("{}");
        aws.source = Some("aws.ec2".into());
        assert_eq!(
            aws.event("i", "a", "r", now).map_err(|e| e.code),
            Err("NotAuthorizedForSourceException")
        );
        assert_eq!(entry("{}").size(), 14 + 12 + 13 + 2);
    }
}
