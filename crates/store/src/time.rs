//! Time as the store keeps it, and its conversions: the one place where the
//! interpreter's nanosecond timestamps meet database times.

use cairn_asl::timestamp::Timestamp;
use chrono::{DateTime, Utc};

/// A time as rows hold it (Postgres `timestamptz`: microsecond precision).
pub type Time = DateTime<Utc>;

/// Nanoseconds since the epoch → a row's time.
pub fn to_time(timestamp: Timestamp) -> Time {
    let nanos = timestamp.0;
    let seconds = nanos.div_euclid(1_000_000_000) as i64;
    let sub = nanos.rem_euclid(1_000_000_000) as u32;
    DateTime::from_timestamp(seconds, sub).unwrap_or_default()
}

/// A row's time → the interpreter's timestamp.
pub fn from_time(time: Time) -> Timestamp {
    let nanos = time.timestamp() as i128 * 1_000_000_000 + time.timestamp_subsec_nanos() as i128;
    Timestamp(nanos)
}

/// `time` rounded down to the microsecond, as Postgres keeps it: the in-memory store
/// rounds so that both stores answer the same times.
pub fn to_micros(time: Time) -> Time {
    let nanos = time.timestamp_subsec_nanos();
    time - chrono::Duration::nanoseconds(i64::from(nanos % 1_000))
}

/// The time `seconds` from `from` (saturating: an absurd duration is far away).
pub fn after_seconds(from: Time, seconds: f64) -> Time {
    let micros = (seconds * 1e6).clamp(0.0, 1e17) as i64;
    from.checked_add_signed(chrono::Duration::microseconds(micros))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_at_microsecond_precision() {
        let t = Timestamp(1_700_000_000_123_456_000);
        assert_eq!(from_time(to_time(t)), t);
        let before_epoch = Timestamp(-1_500);
        assert_eq!(from_time(to_time(before_epoch)), before_epoch);
    }

    #[test]
    fn micros_drop_the_nanoseconds() {
        let t = to_time(Timestamp(1_700_000_000_123_456_789));
        assert_eq!(
            from_time(to_micros(t)),
            Timestamp(1_700_000_000_123_456_000)
        );
    }

    #[test]
    fn durations_saturate() {
        let now = to_time(Timestamp(0));
        assert_eq!(after_seconds(now, 1.5), to_time(Timestamp(1_500_000_000)));
        assert!(after_seconds(now, f64::MAX) > now);
    }
}
