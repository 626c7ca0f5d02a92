//! History events as stored: one `history_batches` row per advance, holding the events it
//! recorded as a JSON array of `[id, previous_event_id, at, type, details]`.

use cairn_asl::history::HistoryEvent;
use chrono::SecondsFormat;
use serde_json::value::RawValue;

use crate::executions::StoredEvent;
use crate::time::to_time;
use crate::{Result, StoreError};

/// One advance's events (dense, ascending) as the `events` column's JSON text.
pub(crate) fn encode(events: &[HistoryEvent]) -> Result<String> {
    let rows: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.id,
                e.previous_event_id,
                to_time(e.timestamp).to_rfc3339_opts(SecondsFormat::Micros, true),
                &e.event_type,
                &e.details,
            )
        })
        .collect();
    serde_json::to_string(&rows).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Which events of the batches read to keep.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Page {
    /// Ids above `after`, ascending.
    After(i64),
    /// Ids below `before`, descending.
    Before(i64),
}

/// The events of `batches` (JSON texts, in the page's order) on `page`, at most `limit`.
/// A batch's details stay the text they were stored as.
pub(crate) fn decode(batches: &[String], page: Page, limit: i64) -> Result<Vec<StoredEvent>> {
    let limit = usize::try_from(limit).unwrap_or(0);
    let mut events = Vec::with_capacity(limit.min(1024));
    for batch in batches {
        let mut rows: Vec<(i64, i64, String, String, &RawValue)> =
            serde_json::from_str(batch).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if let Page::Before(_) = page {
            rows.reverse();
        }
        for (id, previous_event_id, at, event_type, details) in rows {
            let wanted = match page {
                Page::After(after) => id > after,
                Page::Before(before) => id < before,
            };
            if !wanted {
                continue;
            }
            if events.len() == limit {
                return Ok(events);
            }
            let at = chrono::DateTime::parse_from_rfc3339(&at)
                .map_err(|e| StoreError::Corrupt(format!("event {id} time {at:?}: {e}")))?
                .to_utc();
            events.push(StoredEvent {
                id,
                previous_event_id,
                at,
                event_type,
                details: details.get().to_string(),
            });
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_asl::history::Details;
    use cairn_asl::timestamp::Timestamp;

    fn event(id: u64) -> HistoryEvent {
        HistoryEvent {
            id,
            previous_event_id: id - 1,
            timestamp: Timestamp(1_764_072_000_123_456_789 + id as i128 * 1_000),
            event_type: "PassStateEntered".to_string(),
            details: Details {
                name: Some(format!("S{id}")),
                ..Details::default()
            },
        }
    }

    fn batches() -> Vec<String> {
        vec![
            encode(&[event(1), event(2)]).expect("encode"),
            encode(&[event(3), event(4), event(5)]).expect("encode"),
        ]
    }

    #[test]
    fn pages_forward_across_batches_from_any_id() {
        let all = decode(&batches(), Page::After(0), 100).expect("decode");
        assert_eq!(
            all.iter().map(|e| e.id).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(all[2].previous_event_id, 2);
        assert_eq!(all[2].event_type, "PassStateEntered");
        assert_eq!(all[2].details, r#"{"name":"S3"}"#);
        // Microseconds are what Postgres keeps, and what the batch keeps.
        assert_eq!(
            all[0].at.to_rfc3339_opts(SecondsFormat::Micros, true),
            "2025-11-25T12:00:00.123457Z"
        );
        let page = decode(&batches(), Page::After(1), 3).expect("decode");
        assert_eq!(page.iter().map(|e| e.id).collect::<Vec<_>>(), [2, 3, 4]);
    }

    #[test]
    fn pages_backward_across_batches() {
        let mut reversed = batches();
        reversed.reverse();
        let page = decode(&reversed, Page::Before(5), 3).expect("decode");
        assert_eq!(page.iter().map(|e| e.id).collect::<Vec<_>>(), [4, 3, 2]);
        let all = decode(&reversed, Page::Before(i64::MAX), 10).expect("decode");
        assert_eq!(
            all.iter().map(|e| e.id).collect::<Vec<_>>(),
            [5, 4, 3, 2, 1]
        );
    }

    #[test]
    fn a_batch_that_is_not_events_is_reported_corrupt() {
        let error = decode(&["{}".to_string()], Page::After(0), 10).expect_err("corrupt");
        assert!(matches!(error, StoreError::Corrupt(_)));
    }
}
