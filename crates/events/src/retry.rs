//! A target's `RetryPolicy` and the back-off between attempts.
//!
//! A failed delivery is retried until either limit is reached: `MaximumRetryAttempts`
//! retries, or the event's age passes `MaximumEventAgeInSeconds` (AWS's defaults: 185
//! and 24 hours). The wait doubles from one second up to five minutes, with jitter (half
//! the wait, drawn by the caller), as AWS's "exponential back off and jitter".

use chrono::{DateTime, TimeDelta, Utc};

/// AWS's bounds and defaults.
pub const MAX_RETRY_ATTEMPTS: i64 = 185;
pub const MIN_EVENT_AGE_SECONDS: i64 = 60;
pub const MAX_EVENT_AGE_SECONDS: i64 = 86_400;

const FIRST_WAIT_MS: i64 = 1_000;
const LONGEST_WAIT_MS: i64 = 300_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub maximum_retry_attempts: i64,
    pub maximum_event_age_seconds: i64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            maximum_retry_attempts: MAX_RETRY_ATTEMPTS,
            maximum_event_age_seconds: MAX_EVENT_AGE_SECONDS,
        }
    }
}

/// Which limit stopped the retries: AWS's `EXHAUSTED_RETRY_CONDITION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exhausted {
    MaximumRetryAttempts,
    MaximumEventAgeInSeconds,
}

impl Exhausted {
    pub fn as_str(self) -> &'static str {
        match self {
            Exhausted::MaximumRetryAttempts => "MaximumRetryAttempts",
            Exhausted::MaximumEventAgeInSeconds => "MaximumEventAgeInSeconds",
        }
    }
}

impl RetryPolicy {
    /// After `retries` retries have failed (0 after the first attempt), at `now`, for an
    /// event that arrived at `arrived`: when to try again, or which limit is reached.
    /// `jitter` is in `[0, 1)`.
    pub fn next_attempt(
        &self,
        retries: i64,
        arrived: DateTime<Utc>,
        now: DateTime<Utc>,
        jitter: f64,
    ) -> Result<DateTime<Utc>, Exhausted> {
        if retries >= self.maximum_retry_attempts {
            return Err(Exhausted::MaximumRetryAttempts);
        }
        let wait_ms = FIRST_WAIT_MS
            .saturating_mul(1_i64 << retries.clamp(0, 20))
            .min(LONGEST_WAIT_MS);
        let jittered = wait_ms / 2 + ((wait_ms / 2) as f64 * jitter.clamp(0.0, 1.0)) as i64;
        let at = now + TimeDelta::milliseconds(jittered);
        if at - arrived > TimeDelta::seconds(self.maximum_event_age_seconds) {
            return Err(Exhausted::MaximumEventAgeInSeconds);
        }
        Ok(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_until_a_limit() {
        let policy = RetryPolicy {
            maximum_retry_attempts: 3,
            maximum_event_age_seconds: 60,
        };
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        assert_eq!(
            policy.next_attempt(0, t0, t0, 0.0),
            Ok(t0 + TimeDelta::milliseconds(500))
        );
        assert_eq!(
            policy.next_attempt(1, t0, t0, 0.999_999),
            Ok(t0 + TimeDelta::milliseconds(1_999))
        );
        assert_eq!(
            policy.next_attempt(3, t0, t0, 0.0),
            Err(Exhausted::MaximumRetryAttempts)
        );
        let late = t0 + TimeDelta::seconds(59);
        assert_eq!(
            policy.next_attempt(2, t0, late, 0.0),
            Err(Exhausted::MaximumEventAgeInSeconds)
        );
        // The wait stops growing at five minutes.
        let patient = RetryPolicy::default();
        assert_eq!(
            patient.next_attempt(30, t0, t0, 0.0),
            Ok(t0 + TimeDelta::seconds(150))
        );
    }
}
