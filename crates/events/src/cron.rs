//! AWS's six-field cron format (`minutes hours day-of-month month day-of-week year`)
//! behind an adapter over `croner`, which evaluates Quartz-style patterns.
//!
//! What the adapter adds to croner, to be AWS's format:
//! - exactly one of day-of-month and day-of-week is `?` (AWS refuses `*` in both);
//! - each field takes only the wildcards AWS lists for it (`L` and `W` in day-of-month,
//!   `L` and `#` in day-of-week, one expression only beside a `#`), the year 1970–2199;
//! - ranges that wrap (`20-2` hours, `FRI-MON`) are written out, as AWS reads them;
//! - `L` alone in day-of-week is Saturday, the last day of AWS's week (1 = SUN … 7 = SAT);
//! - times are found in the schedule's time zone as AWS documents for daylight saving:
//!   a time that does not exist (spring forward) is skipped, and a time that happens
//!   twice (fall back) fires once, the first time.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

/// Why a cron expression is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CronError(pub String);

/// A checked AWS cron expression (the text inside `cron(...)`).
#[derive(Debug, Clone)]
pub struct AwsCron {
    cron: Cron,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// One field: its name, bounds, and the wildcards AWS allows in it beyond `, - * /`.
struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    extra: &'static str,
    names: &'static [&'static str],
}

const FIELDS: [FieldSpec; 6] = [
    FieldSpec {
        name: "Minutes",
        min: 0,
        max: 59,
        extra: "",
        names: &[],
    },
    FieldSpec {
        name: "Hours",
        min: 0,
        max: 23,
        extra: "",
        names: &[],
    },
    FieldSpec {
        name: "Day-of-month",
        min: 1,
        max: 31,
        extra: "?LW",
        names: &[],
    },
    FieldSpec {
        name: "Month",
        min: 1,
        max: 12,
        extra: "",
        names: &MONTHS,
    },
    FieldSpec {
        name: "Day-of-week",
        min: 1,
        max: 7,
        extra: "?L#",
        names: &DAYS,
    },
    FieldSpec {
        name: "Year",
        min: 1970,
        max: 2199,
        extra: "",
        names: &[],
    },
];

/// How far ahead a next time is looked for (croner's own search is bounded too).
const MAX_CANDIDATES: usize = 10_000;

impl AwsCron {
    /// Parses the six fields inside `cron(...)`.
    pub fn parse(fields: &str) -> Result<AwsCron, CronError> {
        let parts: Vec<&str> = fields.split_whitespace().collect();
        if parts.len() != 6 {
            return Err(CronError(format!(
                "a cron expression has 6 fields (minutes hours day-of-month month day-of-week year), got {}",
                parts.len()
            )));
        }
        let (dom, dow) = (parts[2], parts[4]);
        if (dom == "?") == (dow == "?") {
            return Err(CronError(
                "one of day-of-month and day-of-week must be '?', and only one".to_string(),
            ));
        }
        let mut written = Vec::with_capacity(7);
        written.push("0".to_string());
        for (part, spec) in parts.iter().zip(FIELDS.iter()) {
            written.push(field(part, spec)?);
        }
        let pattern = written.join(" ");
        let parser = CronParser::builder()
            .seconds(Seconds::Required)
            .year(Year::Required)
            .alternative_weekdays(true)
            .sloppy_ranges(true)
            .build();
        let cron = parser
            .parse(&pattern)
            .map_err(|e| CronError(format!("the cron expression is not valid: {e}")))?;
        Ok(AwsCron { cron })
    }

    /// The first time strictly after `after` that the expression names in `zone`, with
    /// AWS's daylight-saving rules; `None` when there is none (a year range that ended).
    pub fn next_after(&self, after: DateTime<Utc>, zone: Tz) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&zone).naive_local();
        for candidate in self.cron.iter_after(local).take(MAX_CANDIDATES) {
            let candidate: NaiveDateTime = candidate;
            match zone.from_local_datetime(&candidate) {
                LocalResult::Single(time) => {
                    let time = time.with_timezone(&Utc);
                    if time > after {
                        return Some(time);
                    }
                }
                // Fall back: the first of the two, once; never the repeat.
                LocalResult::Ambiguous(first, _) => {
                    let first = first.with_timezone(&Utc);
                    if first > after {
                        return Some(first);
                    }
                }
                // Spring forward: a time that does not exist is skipped.
                LocalResult::None => {}
            }
        }
        None
    }
}

/// One field rewritten for croner, or why AWS refuses it.
fn field(text: &str, spec: &FieldSpec) -> Result<String, CronError> {
    let bad = |why: &str| {
        CronError(format!(
            "the {} field '{text}' is not valid: {why}",
            spec.name
        ))
    };
    let upper = text.to_ascii_uppercase();
    // Letters other than the field's names and its own wildcards are refused.
    let mut letters = upper.clone();
    for name in spec.names {
        letters = letters.replace(name, "");
    }
    let allowed = |c: char| c.is_ascii_digit() || ",-*/".contains(c) || spec.extra.contains(c);
    if text.is_empty() || !letters.chars().all(allowed) {
        return Err(bad("it has a character this field does not take"));
    }
    if spec.name == "Day-of-week" {
        if upper == "L" {
            return Ok("7".to_string());
        }
        if upper.contains('#') && upper.contains(',') {
            return Err(bad("beside '#' only one expression is allowed"));
        }
    }
    if upper == "*" || upper == "?" || upper.contains(['L', 'W', '#']) && spec.names.is_empty() {
        return Ok(upper);
    }
    let mut items = Vec::new();
    for item in upper.split(',') {
        items.push(item_of(item, spec).ok_or_else(|| bad("a value is out of range or unknown"))?);
    }
    Ok(items.join(","))
}

/// One comma item, names turned to numbers and a wrapping range written out.
fn item_of(item: &str, spec: &FieldSpec) -> Option<String> {
    if item.contains(['L', '#', 'W']) && !spec.names.iter().any(|n| item.contains(n)) {
        // `6L`, `3#2` and the like: croner checks them.
        return Some(item.to_string());
    }
    let (range, step) = match item.split_once('/') {
        Some((range, step)) => (range, Some(step.parse::<u32>().ok().filter(|s| *s > 0)?)),
        None => (item, None),
    };
    let value = |text: &str| -> Option<u32> {
        let n = match text.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                let i = spec.names.iter().position(|n| *n == text)?;
                spec.min + i as u32
            }
        };
        (spec.min..=spec.max).contains(&n).then_some(n)
    };
    let (start, end) = match range {
        "*" => return Some(item.to_string()),
        _ => match range.split_once('-') {
            Some((a, b)) => (value(a)?, Some(value(b)?)),
            None => (value(range)?, None),
        },
    };
    match (end, step) {
        (Some(end), step) if start > end => {
            // A range that wraps, as `20-2` hours: start..=max, then min..=end.
            let step = step.unwrap_or(1);
            let values: Vec<String> = (start..=spec.max)
                .chain(spec.min..=end)
                .step_by(step as usize)
                .map(|v| v.to_string())
                .collect();
            Some(values.join(","))
        }
        (Some(end), Some(step)) => Some(format!("{start}-{end}/{step}")),
        (Some(end), None) => Some(format!("{start}-{end}")),
        (None, Some(step)) => Some(format!("{start}/{step}")),
        (None, None) => Some(start.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        NaiveDate::from_ymd_opt(y, mo, d)
            .and_then(|d| d.and_hms_opt(h, mi, 0))
            .map(|t| t.and_utc())
            .expect("a valid time")
    }

    /// The next `n` times after `from`, in UTC, as `Www YYYY-MM-DD HH:MM`.
    fn next(expression: &str, from: DateTime<Utc>, zone: Tz, n: usize) -> Vec<String> {
        let cron = AwsCron::parse(expression).expect("valid");
        let mut out = Vec::new();
        let mut at = from;
        while out.len() < n {
            let Some(time) = cron.next_after(at, zone) else {
                break;
            };
            out.push(time.format("%a %Y-%m-%d %H:%M").to_string());
            at = time;
        }
        out
    }

    const MARCH: fn() -> DateTime<Utc> = || utc(2026, 3, 1, 0, 0);

    /// The examples of AWS's cron expression reference, each checked against its meaning.
    #[test]
    fn aws_documented_examples() {
        // Run at 10:00 am (UTC+0) every day.
        assert_eq!(
            next("0 10 * * ? *", MARCH(), Tz::UTC, 2),
            ["Sun 2026-03-01 10:00", "Mon 2026-03-02 10:00"]
        );
        // Run at 12:15 pm (UTC+0) every day.
        assert_eq!(
            next("15 12 * * ? *", MARCH(), Tz::UTC, 1),
            ["Sun 2026-03-01 12:15"]
        );
        // Run at 6:00 pm (UTC+0) every Monday through Friday.
        assert_eq!(
            next("0 18 ? * MON-FRI *", utc(2026, 3, 6, 19, 0), Tz::UTC, 2),
            ["Mon 2026-03-09 18:00", "Tue 2026-03-10 18:00"]
        );
        // Run at 8:00 am (UTC+0) every 1st day of the month.
        assert_eq!(
            next("0 8 1 * ? *", MARCH(), Tz::UTC, 2),
            ["Sun 2026-03-01 08:00", "Wed 2026-04-01 08:00"]
        );
        // Run every 15 minutes.
        assert_eq!(
            next("0/15 * * * ? *", MARCH(), Tz::UTC, 2),
            ["Sun 2026-03-01 00:15", "Sun 2026-03-01 00:30"]
        );
        // Run every 10 minutes Monday through Friday.
        assert_eq!(
            next("0/10 * ? * MON-FRI *", MARCH(), Tz::UTC, 1),
            ["Mon 2026-03-02 00:00"]
        );
        // Run every 5 minutes Monday through Friday between 8:00 am and 5:55 pm (UTC+0).
        let times = next(
            "0/5 8-17 ? * MON-FRI *",
            utc(2026, 3, 2, 17, 50),
            Tz::UTC,
            2,
        );
        assert_eq!(times, ["Mon 2026-03-02 17:55", "Tue 2026-03-03 08:00"]);
        // Run every 30 minutes Monday through Friday, 20:00 to 2:59 (a range that wraps).
        let times = next("0/30 20-2 ? * MON-FRI *", utc(2026, 3, 3, 2, 0), Tz::UTC, 3);
        assert_eq!(
            times,
            [
                "Tue 2026-03-03 02:30",
                "Tue 2026-03-03 20:00",
                "Tue 2026-03-03 20:30"
            ]
        );
        // Every day at 2:05 pm and 2:35 pm UTC+0.
        assert_eq!(
            next("5,35 14 * * ? *", MARCH(), Tz::UTC, 2),
            ["Sun 2026-03-01 14:05", "Sun 2026-03-01 14:35"]
        );
        // 10:15 am UTC+0 on the last Friday of each month during the years 2019 to 2022.
        assert_eq!(
            next("15 10 ? * 6L 2019-2022", utc(2022, 11, 1, 0, 0), Tz::UTC, 3),
            ["Fri 2022-11-25 10:15", "Fri 2022-12-30 10:15"]
        );
        // 3#2: the second Tuesday of the month.
        assert_eq!(
            next("0 9 ? * 3#2 *", MARCH(), Tz::UTC, 1),
            ["Tue 2026-03-10 09:00"]
        );
        // 3W: the weekday closest to the third day of the month (Sat 3 Oct 2026 → Fri 2).
        assert_eq!(
            next("0 9 3W * ? *", utc(2026, 9, 30, 0, 0), Tz::UTC, 1),
            ["Fri 2026-10-02 09:00"]
        );
        // L: the last day of the month, and of the week (Saturday).
        assert_eq!(
            next("0 9 L * ? *", MARCH(), Tz::UTC, 1),
            ["Tue 2026-03-31 09:00"]
        );
        assert_eq!(
            next("0 9 ? * L *", MARCH(), Tz::UTC, 1),
            ["Sat 2026-03-07 09:00"]
        );
        // 1/10: every tenth minute from the first.
        assert_eq!(
            next("1/10 * * * ? *", MARCH(), Tz::UTC, 2),
            ["Sun 2026-03-01 00:01", "Sun 2026-03-01 00:11"]
        );
        // 1 is Sunday, 7 Saturday.
        assert_eq!(
            next("0 9 ? * 1 *", utc(2026, 3, 2, 0, 0), Tz::UTC, 1),
            ["Sun 2026-03-08 09:00"]
        );
        assert_eq!(
            next("0 9 ? * FRI-MON *", utc(2026, 3, 3, 0, 0), Tz::UTC, 2),
            ["Fri 2026-03-06 09:00", "Sat 2026-03-07 09:00"]
        );
        // A year range that ended has no next time.
        assert!(next("0 9 * * ? 2019", MARCH(), Tz::UTC, 1).is_empty());
    }

    #[test]
    fn refused_as_aws_refuses() {
        for bad in [
            "0 10 * * * *",       // * in both day fields
            "0 10 ? * ? *",       // ? in both
            "0 10 * *",           // too few fields
            "0 10 * * ? * *",     // too many
            "60 10 * * ? *",      // minute out of range
            "0 24 * * ? *",       // hour out of range
            "0 10 * 13 ? *",      // month out of range
            "0 10 ? * 8 *",       // day of week out of range
            "0 10 * * ? 1969",    // year out of range
            "0 10 ? * 3#1,6#3 *", // two expressions beside #
            "0L 10 * * ? *",      // L in minutes
            "0 10 ? * 2W *",      // W in day of week
            "0 10 * JANUARY ? *", // unknown name
        ] {
            assert!(AwsCron::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    /// Daylight saving, as AWS documents it: a time that does not exist is skipped; a
    /// time that happens twice fires once.
    #[test]
    fn daylight_saving_transitions() {
        let ny: Tz = "America/New_York".parse().expect("zone");
        // 2026-03-08 02:30 does not exist in New York: that day is skipped.
        let times = next("30 2 * * ? *", utc(2026, 3, 7, 0, 0), ny, 3);
        assert_eq!(
            times,
            [
                "Sat 2026-03-07 07:30",
                "Mon 2026-03-09 06:30",
                "Tue 2026-03-10 06:30"
            ],
            "07:30 UTC is 02:30 EST; 06:30 UTC is 02:30 EDT"
        );
        // 2026-11-01 01:30 happens twice in New York: it fires once, at the first (EDT).
        let times = next("30 1 * * ? *", utc(2026, 10, 31, 12, 0), ny, 3);
        assert_eq!(
            times,
            [
                "Sun 2026-11-01 05:30",
                "Mon 2026-11-02 06:30",
                "Tue 2026-11-03 06:30"
            ]
        );
        // Every 15 minutes through the repeated hour: each minute once.
        let times = next("0/15 * * * ? *", utc(2026, 11, 1, 5, 0), ny, 6);
        assert_eq!(
            times,
            [
                "Sun 2026-11-01 05:15",
                "Sun 2026-11-01 05:30",
                "Sun 2026-11-01 05:45",
                "Sun 2026-11-01 07:00",
                "Sun 2026-11-01 07:15",
                "Sun 2026-11-01 07:30"
            ],
            "01:00–01:45 EDT fire; the repeated 01:00–01:45 EST do not"
        );
        // In a zone's own time: 9:00 in Tokyo is 0:00 UTC.
        let tokyo: Tz = "Asia/Tokyo".parse().expect("zone");
        assert_eq!(
            next("0 9 * * ? *", MARCH(), tokyo, 1),
            ["Mon 2026-03-02 00:00"]
        );
    }
}
