//! Timestamps as ASL uses them: RFC 3339 with a zone (`Z` or an offset), fractional
//! seconds up to nanoseconds; formatted as AWS formats the context object's times.
//!
//! The accepted form is the one the States Language specifies (the RFC 3339 profile of
//! ISO 8601 with an uppercase `T` between date and time and an uppercase `Z` when there is
//! no numeric offset) intersected with what AWS's Java runtime parses
//! (`ISO_OFFSET_DATE_TIME`):
//!
//! ```text
//! YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|+HH:MM|-HH:MM)
//! ```
//!
//! - every field has exactly the digits shown, and all ranges are checked: month 1–12, day
//!   within the month (leap years included), hour 0–23, minute and second 0–59 (no leap
//!   second `60`);
//! - the fraction has 1 to 9 digits (`.00Z`, `.000000Z` and nanoseconds are accepted at
//!   run time by AWS, as the conformance corpus shows);
//! - an offset is at most `18:00` either way, as `java.time.ZoneOffset` requires;
//! - no `T` (`2016-12-05 21:29:29Z`), no zone (`2016-12-05T21:29:29`), lowercase `t`/`z`
//!   and anything else are invalid.
//!
//! The calendar arithmetic is the proleptic Gregorian calendar, done by hand
//! (days-from-civil and its inverse), with no clock and no time-zone database.

use serde::{Deserialize, Serialize};

/// An instant, nanoseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i128);

const NANOS_PER_MILLI: i128 = 1_000_000;
const SECONDS_PER_DAY: i128 = 86_400;
/// The largest offset `java.time.ZoneOffset` accepts, in minutes (`±18:00`).
const MAX_OFFSET_MINUTES: i64 = 18 * 60;

impl Timestamp {
    pub const NANOS_PER_SECOND: i128 = 1_000_000_000;

    pub fn from_unix_millis(ms: i64) -> Timestamp {
        Timestamp(ms as i128 * NANOS_PER_MILLI)
    }

    /// Milliseconds since the epoch, rounded towards negative infinity (saturating at the
    /// ends of `i64`).
    pub fn unix_millis(self) -> i64 {
        let ms = self.0.div_euclid(NANOS_PER_MILLI);
        ms.clamp(i64::MIN as i128, i64::MAX as i128) as i64
    }

    /// This instant moved by `seconds` (which may be fractional or negative), rounded to
    /// the nearest nanosecond. Saturates instead of overflowing; `NaN` moves nothing.
    pub fn plus_seconds(self, seconds: f64) -> Timestamp {
        if seconds.is_nan() {
            return self;
        }
        if seconds.is_infinite() {
            return Timestamp(if seconds > 0.0 { i128::MAX } else { i128::MIN });
        }
        // Whole seconds and the fraction separately, so that large values keep their
        // nanoseconds exact where an f64 can represent them.
        let whole = seconds.trunc();
        let fraction = seconds - whole;
        // `as` saturates for out-of-range floats.
        let whole_nanos = (whole as i128).saturating_mul(Self::NANOS_PER_SECOND);
        let fraction_nanos = (fraction * Self::NANOS_PER_SECOND as f64).round() as i128;
        Timestamp(
            self.0
                .saturating_add(whole_nanos)
                .saturating_add(fraction_nanos),
        )
    }

    /// Parses an RFC 3339 timestamp as ASL requires it: `T` separator, a zone, optional
    /// fraction. `None` for anything else.
    pub fn parse(text: &str) -> Option<Timestamp> {
        let b = text.as_bytes();
        let year = digits(b, 0, 4)?;
        expect(b, 4, b'-')?;
        let month = digits(b, 5, 2)?;
        expect(b, 7, b'-')?;
        let day = digits(b, 8, 2)?;
        expect(b, 10, b'T')?;
        let hour = digits(b, 11, 2)?;
        expect(b, 13, b':')?;
        let minute = digits(b, 14, 2)?;
        expect(b, 16, b':')?;
        let second = digits(b, 17, 2)?;

        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return None;
        }

        let mut pos = 19;
        let mut nanos: i64 = 0;
        if b.get(pos) == Some(&b'.') {
            pos += 1;
            let start = pos;
            while let Some(d) = b.get(pos).filter(|c| c.is_ascii_digit()) {
                if pos - start == 9 {
                    return None; // more than nanosecond precision
                }
                nanos = nanos * 10 + i64::from(d - b'0');
                pos += 1;
            }
            let count = pos - start;
            if count == 0 {
                return None;
            }
            for _ in count..9 {
                nanos *= 10;
            }
        }

        let offset_minutes: i64 = match b.get(pos) {
            Some(b'Z') => {
                pos += 1;
                0
            }
            Some(&sign @ (b'+' | b'-')) => {
                let hours = digits(b, pos + 1, 2)?;
                expect(b, pos + 3, b':')?;
                let minutes = digits(b, pos + 4, 2)?;
                pos += 6;
                if minutes > 59 {
                    return None;
                }
                let total = hours * 60 + minutes;
                if total > MAX_OFFSET_MINUTES {
                    return None;
                }
                if sign == b'-' {
                    -total
                } else {
                    total
                }
            }
            _ => return None,
        };
        if pos != b.len() {
            return None;
        }

        let days = days_from_civil(year, month, day);
        let local_seconds = days * 86_400 + hour * 3_600 + minute * 60 + second;
        let utc_seconds = local_seconds - offset_minutes * 60;
        Some(Timestamp(
            i128::from(utc_seconds) * Self::NANOS_PER_SECOND + i128::from(nanos),
        ))
    }

    /// The form AWS uses in the context object: `2024-05-01T12:00:00.123Z`
    /// (milliseconds, UTC).
    pub fn to_rfc3339_millis(self) -> String {
        let parts = Parts::of(self);
        format!(
            "{}.{:03}Z",
            parts.date_time(),
            parts.nanos / NANOS_PER_MILLI as u32
        )
    }

    /// The form of Java's `Instant.toString()`: UTC, the fraction left out when it is zero
    /// and otherwise written with 3, 6 or 9 digits, whichever is the shortest exact one
    /// (`2016-03-14T01:59:00Z`, `2016-03-05T21:29:29.243167252Z`).
    pub fn to_rfc3339(self) -> String {
        let parts = Parts::of(self);
        let nanos = parts.nanos;
        if nanos == 0 {
            format!("{}Z", parts.date_time())
        } else if nanos.is_multiple_of(1_000_000) {
            format!("{}.{:03}Z", parts.date_time(), nanos / 1_000_000)
        } else if nanos.is_multiple_of(1_000) {
            format!("{}.{:06}Z", parts.date_time(), nanos / 1_000)
        } else {
            format!("{}.{:09}Z", parts.date_time(), nanos)
        }
    }
}

/// A UTC instant split into calendar fields.
struct Parts {
    year: i128,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
}

impl Parts {
    fn of(t: Timestamp) -> Parts {
        let seconds = t.0.div_euclid(Timestamp::NANOS_PER_SECOND);
        // rem_euclid results are in range, so these narrowing casts are exact.
        let nanos = t.0.rem_euclid(Timestamp::NANOS_PER_SECOND) as u32;
        let days = seconds.div_euclid(SECONDS_PER_DAY);
        let second_of_day = seconds.rem_euclid(SECONDS_PER_DAY) as u32;
        let (year, month, day) = civil_from_days(days);
        Parts {
            year,
            month,
            day,
            hour: second_of_day / 3_600,
            minute: second_of_day / 60 % 60,
            second: second_of_day % 60,
            nanos,
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS`; years beyond four digits are signed, as Java writes them.
    fn date_time(&self) -> String {
        let year = if self.year < 0 {
            format!("-{:04}", self.year.unsigned_abs())
        } else if self.year > 9999 {
            format!("+{}", self.year)
        } else {
            format!("{:04}", self.year)
        };
        format!(
            "{year}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// `count` ASCII digits at `at`, as a number.
fn digits(b: &[u8], at: usize, count: usize) -> Option<i64> {
    let slice = b.get(at..at.checked_add(count)?)?;
    let mut n: i64 = 0;
    for &c in slice {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(c - b'0');
    }
    Some(n)
}

fn expect(b: &[u8], at: usize, c: u8) -> Option<()> {
    (b.get(at) == Some(&c)).then_some(())
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Days in `month` (1–12) of `year`; 0 for a month out of range.
fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1–12, day 1–31).
///
/// Counts in 400-year eras starting on March 1st, so that the leap day is the last day of
/// the counted year.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400); // 0..=399
    let month_from_march = (month + 9) % 12; // March = 0 … February = 11
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1; // 0..=365
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`]: (year, month 1–12, day 1–31).
fn civil_from_days(days: i128) -> (i128, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097); // 0..=146096
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153; // 0..=11
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i128::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        match Timestamp::parse(text) {
            Some(t) => t,
            None => panic!("{text:?} should parse"),
        }
    }

    const SECOND: i128 = Timestamp::NANOS_PER_SECOND;

    #[test]
    fn parses_the_epoch_and_known_instants() {
        assert_eq!(ts("1970-01-01T00:00:00Z"), Timestamp(0));
        // `date -u -d 2012-10-09T19:00:55Z +%s`
        assert_eq!(
            ts("2012-10-09T19:00:55Z"),
            Timestamp(1_349_809_255 * SECOND)
        );
        assert_eq!(
            ts("2016-03-14T01:59:00Z"),
            Timestamp(1_457_920_740 * SECOND)
        );
        assert_eq!(ts("2000-02-29T00:00:00Z"), Timestamp(951_782_400 * SECOND));
        assert_eq!(ts("1969-12-31T23:59:59Z"), Timestamp(-SECOND));
        assert_eq!(
            ts("0000-01-01T00:00:00Z"),
            Timestamp(-62_167_219_200 * SECOND)
        );
        assert_eq!(
            ts("9999-12-31T23:59:59Z"),
            Timestamp(253_402_300_799 * SECOND)
        );
    }

    #[test]
    fn offsets_shift_to_utc() {
        assert_eq!(ts("2012-10-09T19:00:55+01:00"), ts("2012-10-09T18:00:55Z"));
        assert_eq!(ts("2012-10-09T19:00:55-05:30"), ts("2012-10-10T00:30:55Z"));
        assert_eq!(ts("2012-10-09T19:00:55+00:00"), ts("2012-10-09T19:00:55Z"));
        assert_eq!(ts("2012-10-09T19:00:55-00:00"), ts("2012-10-09T19:00:55Z"));
        assert_eq!(ts("2012-10-09T19:00:55+18:00"), ts("2012-10-09T01:00:55Z"));
        assert_eq!(ts("2012-10-09T19:00:55-18:00"), ts("2012-10-10T13:00:55Z"));
        // Crossing a year boundary.
        assert_eq!(ts("2024-01-01T00:30:00+01:00"), ts("2023-12-31T23:30:00Z"));
    }

    #[test]
    fn fractions_of_one_to_nine_digits() {
        let base = ts("2020-01-01T00:00:00Z");
        assert_eq!(ts("2020-01-01T00:00:00.00Z"), base);
        assert_eq!(ts("2020-01-01T00:00:00.000000Z"), base);
        assert_eq!(ts("2020-01-01T00:00:00.5Z"), Timestamp(base.0 + SECOND / 2));
        assert_eq!(
            ts("2020-01-01T00:00:00.123Z"),
            Timestamp(base.0 + 123_000_000)
        );
        assert_eq!(
            ts("2016-03-05T21:29:29.243167252Z"),
            Timestamp(1_457_213_369 * SECOND + 243_167_252)
        );
        assert_eq!(
            ts("2020-01-01T00:00:00.000000001+00:00"),
            Timestamp(base.0 + 1)
        );
        assert_eq!(Timestamp::parse("2020-01-01T00:00:00.0000000001Z"), None);
        assert_eq!(Timestamp::parse("2020-01-01T00:00:00.Z"), None);
        assert_eq!(Timestamp::parse("2020-01-01T00:00:00,5Z"), None);
    }

    #[test]
    fn rejects_what_aws_rejects() {
        for bad in [
            // The corpus' Wait cases (definition and TimestampPath).
            "2016-13-05T21:29:29Z",
            "2016-12-05T21:29:29",
            "2016-12-05T25:29:29Z",
            "2016-12-05 21:29:29Z",
            "05-12-2016T21:29:29Z",
            "2020-01-01T00:00:00.000000",
            "2020-01-01T00:00:00",
            "{% '2016-03-14T01:59:00Z' %}",
            // From the Choice corpus.
            "2023-02-24",
            "2023-02-24 12:15:56.832957",
            "",
            " ",
            "HelloWorld",
            // Ranges.
            "2016-00-05T21:29:29Z",
            "2016-12-00T21:29:29Z",
            "2016-12-32T21:29:29Z",
            "2016-04-31T21:29:29Z",
            "2023-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2016-12-05T24:00:00Z",
            "2016-12-05T23:60:00Z",
            "2016-12-05T23:59:60Z",
            "2016-12-05T23:59:59+18:01",
            "2016-12-05T23:59:59+19:00",
            "2016-12-05T23:59:59+01:60",
            // Shape.
            "2016-12-05t21:29:29Z",
            "2016-12-05T21:29:29z",
            "2016-12-05T21:29Z",
            "2016-12-05T21:29:29+0100",
            "2016-12-05T21:29:29+01",
            "2016-12-05T21:29:29 Z",
            " 2016-12-05T21:29:29Z",
            "2016-12-05T21:29:29Z ",
            "2016-12-05T21:29:29ZZ",
            "+2016-12-05T21:29:29Z",
            "16-12-05T21:29:29Z",
            "2016-1-05T21:29:29Z",
            "2016-12-5T21:29:29Z",
            "2016-12-05T1:29:29Z",
            "２016-12-05T21:29:29Z",
            "2016-12-05T21:29:29.１Z",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad:?} should be invalid");
        }
    }

    #[test]
    fn leap_years() {
        assert!(Timestamp::parse("2024-02-29T00:00:00Z").is_some());
        assert!(Timestamp::parse("2000-02-29T00:00:00Z").is_some());
        assert!(Timestamp::parse("1600-02-29T00:00:00Z").is_some());
        assert!(Timestamp::parse("2100-02-29T00:00:00Z").is_none());
        assert_eq!(
            ts("2024-03-01T00:00:00Z").0 - ts("2024-02-28T00:00:00Z").0,
            2 * 86_400 * SECOND
        );
        assert_eq!(
            ts("2023-03-01T00:00:00Z").0 - ts("2023-02-28T00:00:00Z").0,
            86_400 * SECOND
        );
    }

    #[test]
    fn civil_round_trip_day_by_day() {
        // Walk every day from 1583 to 2500 and check that the two conversions agree with
        // each other and with a plain calendar count.
        let mut days = days_from_civil(1583, 1, 1);
        for year in 1583..=2500 {
            for month in 1..=12 {
                for day in 1..=days_in_month(year, month) {
                    assert_eq!(days_from_civil(year, month, day), days);
                    assert_eq!(
                        civil_from_days(i128::from(days)),
                        (i128::from(year), month as u32, day as u32)
                    );
                    days += 1;
                }
            }
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(-719_528), (0, 1, 1));
    }

    #[test]
    fn formats_with_milliseconds() {
        assert_eq!(Timestamp(0).to_rfc3339_millis(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            ts("2024-05-01T12:00:00.123456789Z").to_rfc3339_millis(),
            "2024-05-01T12:00:00.123Z"
        );
        assert_eq!(
            ts("2012-10-09T19:00:55+01:00").to_rfc3339_millis(),
            "2012-10-09T18:00:55.000Z"
        );
        assert_eq!(
            Timestamp(-1).to_rfc3339_millis(),
            "1969-12-31T23:59:59.999Z"
        );
        assert_eq!(
            Timestamp::from_unix_millis(1_714_564_800_123).to_rfc3339_millis(),
            "2024-05-01T12:00:00.123Z"
        );
    }

    #[test]
    fn formats_like_java_instant() {
        assert_eq!(
            ts("2016-03-14T01:59:00Z").to_rfc3339(),
            "2016-03-14T01:59:00Z"
        );
        assert_eq!(
            ts("2016-03-14T01:59:00.1Z").to_rfc3339(),
            "2016-03-14T01:59:00.100Z"
        );
        assert_eq!(
            ts("2016-03-14T01:59:00.000001Z").to_rfc3339(),
            "2016-03-14T01:59:00.000001Z"
        );
        assert_eq!(
            ts("2016-03-05T21:29:29.243167252Z").to_rfc3339(),
            "2016-03-05T21:29:29.243167252Z"
        );
    }

    #[test]
    fn round_trips_through_text() {
        for text in [
            "1970-01-01T00:00:00.000Z",
            "2000-02-29T23:59:59.999Z",
            "0001-01-01T00:00:00.000Z",
            "9999-12-31T23:59:59.999Z",
            "1600-03-01T12:34:56.789Z",
        ] {
            assert_eq!(ts(text).to_rfc3339_millis(), text);
        }
    }

    #[test]
    fn extreme_instants_format_without_panicking() {
        assert!(Timestamp(i128::MAX).to_rfc3339_millis().starts_with('+'));
        assert!(Timestamp(i128::MIN).to_rfc3339_millis().starts_with('-'));
        assert!(Timestamp(i128::MIN).to_rfc3339().starts_with('-'));
        assert_eq!(
            ts("9999-12-31T23:59:59Z").plus_seconds(1.0).to_rfc3339(),
            "+10000-01-01T00:00:00Z"
        );
        assert_eq!(
            ts("0000-01-01T00:00:00Z")
                .plus_seconds(-86_400.0)
                .to_rfc3339(),
            "-0001-12-31T00:00:00Z"
        );
    }

    #[test]
    fn millis() {
        assert_eq!(Timestamp::from_unix_millis(-1).0, -1_000_000);
        assert_eq!(Timestamp(-1).unix_millis(), -1);
        assert_eq!(Timestamp(1_999_999).unix_millis(), 1);
        assert_eq!(Timestamp(i128::MAX).unix_millis(), i64::MAX);
    }

    #[test]
    fn plus_seconds() {
        let t = ts("2024-05-01T12:00:00Z");
        assert_eq!(t.plus_seconds(0.0), t);
        assert_eq!(t.plus_seconds(1.5), Timestamp(t.0 + 3 * SECOND / 2));
        assert_eq!(t.plus_seconds(-0.25), Timestamp(t.0 - SECOND / 4));
        assert_eq!(t.plus_seconds(86_400.0), ts("2024-05-02T12:00:00Z"));
        // 99999999 s (the largest Wait) is exact.
        assert_eq!(t.plus_seconds(99_999_999.0).0, t.0 + 99_999_999 * SECOND);
        // 2^53 seconds keeps every nanosecond of the whole part.
        let big = 9_007_199_254_740_992.0;
        assert_eq!(
            Timestamp(0).plus_seconds(big).0,
            9_007_199_254_740_992 * SECOND
        );
        assert_eq!(
            t.plus_seconds(0.001).to_rfc3339_millis(),
            "2024-05-01T12:00:00.001Z"
        );
        // Never panics, saturates.
        assert_eq!(t.plus_seconds(f64::INFINITY), Timestamp(i128::MAX));
        assert_eq!(t.plus_seconds(f64::NEG_INFINITY), Timestamp(i128::MIN));
        assert_eq!(t.plus_seconds(f64::NAN), t);
        assert_eq!(Timestamp(i128::MAX).plus_seconds(1.0), Timestamp(i128::MAX));
    }

    #[test]
    fn orders_by_instant() {
        assert!(ts("2012-10-09T19:00:55Z") < ts("2012-10-09T19:00:56Z"));
        assert!(ts("2012-10-09T19:00:55+01:00") < ts("2012-10-09T19:00:55Z"));
        assert!(ts("2012-10-09T19:00:55.000000001Z") > ts("2012-10-09T19:00:55Z"));
    }
}
