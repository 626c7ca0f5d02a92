//! Schedule expressions — `at(...)`, `rate(...)` and `cron(...)` — and when a schedule
//! fires next.
//!
//! A rule takes `rate` and `cron`, evaluated in UTC; EventBridge Scheduler takes all
//! three, in the schedule's time zone, between its start and end dates. A rate counts
//! fixed durations from its anchor (the schedule's start date, or when it was created),
//! so daylight saving does not move it: AWS evaluates `rate(1 day)` 24 hours after the
//! last invocation.
//!
//! **Missed fires.** When no replica ran at a fire's time (every one was down), the
//! occurrences missed are coalesced: the schedule fires once, for the latest occurrence
//! that is due, if that occurrence is younger than the target's
//! `MaximumEventAgeInSeconds` (AWS drops an invocation it could not make within that age,
//! 24 hours by default), and then goes on from the next occurrence after now. This is
//! AWS's at-least-once invocation with its retry window applied to a late fire, without
//! a burst of stale invocations after an outage.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::cron::AwsCron;

/// Why an expression is refused (the API answers `ValidationException`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExpressionError(pub String);

/// Who evaluates the expression: a rule's `ScheduleExpression`, or a Scheduler schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Rule,
    Scheduler,
}

/// A checked schedule expression.
#[derive(Debug, Clone)]
pub enum Expression {
    /// `at(yyyy-mm-ddThh:mm:ss)`: once, at that wall-clock time in the schedule's zone.
    At(NaiveDateTime),
    /// `rate(value unit)`.
    Rate(TimeDelta),
    /// `cron(fields)`.
    Cron(Box<AwsCron>),
}

/// AWS's bound on a rate's value (any positive 32-bit number; days bound it first).
const MAX_RATE_MINUTES: i64 = 60 * 24 * 365 * 100;

impl Expression {
    pub fn parse(text: &str, dialect: Dialect) -> Result<Expression, ExpressionError> {
        let bad = || {
            ExpressionError(format!(
                "Parameter ScheduleExpression is not valid: '{text}'"
            ))
        };
        let trimmed = text.trim();
        let (kind, inner) = trimmed
            .strip_suffix(')')
            .and_then(|t| t.split_once('('))
            .ok_or_else(bad)?;
        match (kind, dialect) {
            ("at", Dialect::Scheduler) => NaiveDateTime::parse_from_str(inner, "%Y-%m-%dT%H:%M:%S")
                .map(Expression::At)
                .map_err(|_| {
                    ExpressionError(format!(
                        "Invalid Schedule Expression {text}: at() takes yyyy-mm-ddThh:mm:ss"
                    ))
                }),
            ("rate", _) => {
                let mut parts = inner.split_whitespace();
                let (Some(value), Some(unit), None) = (parts.next(), parts.next(), parts.next())
                else {
                    return Err(bad());
                };
                let value: i64 = value.parse().ok().filter(|v| *v > 0).ok_or_else(bad)?;
                let minutes = match unit {
                    "minute" | "minutes" => 1,
                    "hour" | "hours" => 60,
                    "day" | "days" => 60 * 24,
                    _ => return Err(bad()),
                };
                // AWS: singular for 1, plural above.
                if (value == 1) == unit.ends_with('s') {
                    return Err(bad());
                }
                let total = value
                    .checked_mul(minutes)
                    .filter(|m| *m <= MAX_RATE_MINUTES)
                    .ok_or_else(bad)?;
                Ok(Expression::Rate(TimeDelta::minutes(total)))
            }
            ("cron", _) => AwsCron::parse(inner)
                .map(|c| Expression::Cron(Box::new(c)))
                .map_err(|e| {
                    ExpressionError(format!("Parameter ScheduleExpression is not valid: {e}"))
                }),
            _ => Err(bad()),
        }
    }
}

/// When a schedule may fire: its expression, zone and date bounds, and the anchor a
/// rate counts from.
#[derive(Debug, Clone)]
pub struct Timing {
    pub expression: Expression,
    pub zone: Tz,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// Where a rate counts from: the start date, else when the schedule was created.
    pub anchor: DateTime<Utc>,
    /// A rule's rate first fires one period after its creation; a Scheduler rate at
    /// once (its start date, or its creation).
    pub dialect: Dialect,
}

impl Timing {
    /// The first occurrence at or after `from`.
    pub fn first_from(&self, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.next_after(from - TimeDelta::microseconds(1))
    }

    /// The first occurrence strictly after `after`, within the start and end dates.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let after = match self.start {
            Some(start) if start > after => start - TimeDelta::microseconds(1),
            _ => after,
        };
        let next = match &self.expression {
            Expression::At(local) => {
                use chrono::TimeZone;
                let time = match self.zone.from_local_datetime(local) {
                    chrono::LocalResult::Single(t) => t,
                    chrono::LocalResult::Ambiguous(first, _) => first,
                    // A time that does not exist fires when the clock gets past it.
                    chrono::LocalResult::None => self
                        .zone
                        .from_local_datetime(&(*local + TimeDelta::hours(1)))
                        .earliest()?,
                };
                Some(time.with_timezone(&Utc)).filter(|t| *t > after)
            }
            Expression::Rate(period) => {
                let first = match self.dialect {
                    Dialect::Scheduler => self.anchor,
                    Dialect::Rule => self.anchor + *period,
                };
                if first > after {
                    Some(first)
                } else {
                    let period_us = period.num_microseconds()?.max(1);
                    let elapsed = (after - first).num_microseconds()?;
                    let periods = elapsed / period_us + 1;
                    Some(first + TimeDelta::microseconds(periods.checked_mul(period_us)?))
                }
            }
            Expression::Cron(cron) => cron.next_after(after, self.zone),
        }?;
        match self.end {
            Some(end) if next > end => None,
            _ => Some(next),
        }
    }

    /// What a fire due at `due` does when it runs at `now`: the occurrence to fire for
    /// (the latest due one, or none when it is older than `max_age`), and the next
    /// occurrence after `now` (none when the schedule is done).
    pub fn fire(&self, due: DateTime<Utc>, now: DateTime<Utc>, max_age: TimeDelta) -> Fire {
        let mut latest = due;
        let mut steps = 0;
        let next = loop {
            match self.next_after(latest) {
                Some(t) if t <= now && steps < 100_000 => {
                    latest = t;
                    steps += 1;
                }
                other => break other,
            }
        };
        let next = match next {
            Some(t) if t <= now => self.next_after(now),
            other => other,
        };
        Fire {
            occurrence: (now - latest <= max_age).then_some(latest),
            skipped: steps + usize::from(now - latest > max_age),
            next,
        }
    }
}

/// The plan of one fire (see [`Timing::fire`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fire {
    /// The occurrence this fire invokes the target for; `None` when it is too old.
    pub occurrence: Option<DateTime<Utc>>,
    /// Occurrences missed and not invoked.
    pub skipped: usize,
    pub next: Option<DateTime<Utc>>,
}

/// Parses an IANA zone name (`ScheduleExpressionTimezone`); UTC when absent.
pub fn zone(name: Option<&str>) -> Result<Tz, ExpressionError> {
    match name {
        None => Ok(Tz::UTC),
        Some(name) => name
            .parse::<Tz>()
            .map_err(|_| ExpressionError(format!("Invalid ScheduleExpressionTimezone: '{name}'"))),
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

    fn timing(text: &str, dialect: Dialect, zone: &str, anchor: DateTime<Utc>) -> Timing {
        Timing {
            expression: Expression::parse(text, dialect).expect("valid"),
            zone: super::zone(Some(zone)).expect("zone"),
            start: None,
            end: None,
            anchor,
            dialect,
        }
    }

    #[test]
    fn expressions_as_aws_writes_them() {
        for ok in [
            "rate(1 minute)",
            "rate(5 minutes)",
            "rate(1 hour)",
            "rate(1 day)",
            "cron(0 12 * * ? *)",
        ] {
            assert!(Expression::parse(ok, Dialect::Rule).is_ok(), "{ok}");
        }
        for bad in [
            "rate(1 hours)",
            "rate(5 hour)",
            "rate(0 minutes)",
            "rate(-1 minutes)",
            "rate(5 weeks)",
            "rate(5)",
            "every 5 minutes",
            "cron(0 12 * * * *)",
            "at(2026-01-01T00:00:00)",
            "rate(1.5 hours)",
        ] {
            assert!(Expression::parse(bad, Dialect::Rule).is_err(), "{bad}");
        }
        assert!(Expression::parse("at(2026-11-20T13:00:00)", Dialect::Scheduler).is_ok());
        assert!(Expression::parse("at(2026-11-20 13:00)", Dialect::Scheduler).is_err());
    }

    #[test]
    fn rates_count_fixed_durations_from_their_anchor() {
        let anchor = utc(2026, 3, 7, 12, 0);
        let scheduler = timing(
            "rate(1 day)",
            Dialect::Scheduler,
            "America/New_York",
            anchor,
        );
        assert_eq!(
            scheduler.first_from(anchor),
            Some(anchor),
            "a Scheduler rate fires at once"
        );
        // Across the spring-forward night: still 24 hours.
        assert_eq!(scheduler.next_after(anchor), Some(utc(2026, 3, 8, 12, 0)));
        let rule = timing("rate(5 minutes)", Dialect::Rule, "UTC", anchor);
        assert_eq!(
            rule.first_from(anchor),
            Some(utc(2026, 3, 7, 12, 5)),
            "a rule's rate one period later"
        );
        assert_eq!(
            rule.next_after(utc(2026, 3, 7, 12, 7)),
            Some(utc(2026, 3, 7, 12, 10))
        );
    }

    #[test]
    fn at_fires_once_in_its_zone_and_bounds_are_kept() {
        let anchor = utc(2026, 1, 1, 0, 0);
        let at = timing(
            "at(2026-11-20T13:00:00)",
            Dialect::Scheduler,
            "Europe/Paris",
            anchor,
        );
        assert_eq!(at.first_from(anchor), Some(utc(2026, 11, 20, 12, 0)));
        assert_eq!(at.next_after(utc(2026, 11, 20, 12, 0)), None);
        let mut bounded = timing("cron(0 9 * * ? *)", Dialect::Scheduler, "UTC", anchor);
        bounded.start = Some(utc(2026, 2, 1, 0, 0));
        bounded.end = Some(utc(2026, 2, 2, 12, 0));
        assert_eq!(bounded.first_from(anchor), Some(utc(2026, 2, 1, 9, 0)));
        assert_eq!(
            bounded.next_after(utc(2026, 2, 1, 9, 0)),
            Some(utc(2026, 2, 2, 9, 0))
        );
        assert_eq!(bounded.next_after(utc(2026, 2, 2, 9, 0)), None);
    }

    #[test]
    fn missed_fires_coalesce_into_the_latest_within_its_age() {
        let anchor = utc(2026, 3, 1, 0, 0);
        let every_minute = timing("rate(1 minute)", Dialect::Scheduler, "UTC", anchor);
        let day = TimeDelta::days(1);
        // Due at 00:00, run at 00:00:30: that occurrence, next 00:01.
        let fire = every_minute.fire(anchor, anchor + TimeDelta::seconds(30), day);
        assert_eq!(
            fire,
            Fire {
                occurrence: Some(anchor),
                skipped: 0,
                next: Some(utc(2026, 3, 1, 0, 1))
            }
        );
        // Down for an hour: one fire for 01:00, the 60 before it skipped, next 01:01.
        let fire = every_minute.fire(anchor, utc(2026, 3, 1, 1, 0), day);
        assert_eq!(fire.occurrence, Some(utc(2026, 3, 1, 1, 0)));
        assert_eq!(fire.skipped, 60);
        assert_eq!(fire.next, Some(utc(2026, 3, 1, 1, 1)));
        // A one-time schedule missed by more than its age is not invoked.
        let at = timing("at(2026-03-01T00:00:00)", Dialect::Scheduler, "UTC", anchor);
        let fire = at.fire(anchor, utc(2026, 3, 3, 0, 0), day);
        assert_eq!(
            fire,
            Fire {
                occurrence: None,
                skipped: 1,
                next: None
            }
        );
    }
}
