//! The state-transition token bucket: AWS's StateTransition quota, per replica.
//!
//! On AWS every state an execution enters (and every retry it runs) takes a token from a
//! bucket of the account and Region; when the bucket is empty the execution is slowed
//! down, not failed, and the transition counts in the `ExecutionThrottled` metric. Here
//! every scheduler loop of one process shares one bucket. An advance may make as many
//! transitions as the bucket holds whole tokens; the interpreter holds the rest back in
//! the snapshot, and the same transaction queues an `Event::Resume` for when the
//! bucket will have refilled. Tokens are counted in memory only: they are a rate, not
//! execution state, and a restart simply starts with a full bucket.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The slowest refill honoured: one token every 1,000 seconds.
const MIN_REFILL: f64 = 0.001;

/// A bucket's shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TransitionRate {
    /// Tokens when full: the most transitions made at once (at least 1).
    pub bucket: u32,
    /// Tokens regained per second (more than 0, or held-back executions would never
    /// resume).
    pub refill_per_second: f64,
}

/// The tokens of one process.
#[derive(Debug)]
pub(crate) struct TransitionBucket {
    size: f64,
    refill: f64,
    state: Mutex<Tokens>,
}

#[derive(Debug)]
struct Tokens {
    tokens: f64,
    counted: Instant,
    /// The earliest moment not yet handed out as a resume time: resumes are spread one
    /// token's refill apart, so a crowd of held-back executions does not wake at once
    /// to find one token between them.
    next_resume: Instant,
}

/// What one advance under the bucket made of its budget.
pub(crate) struct Spent<T> {
    pub value: T,
    /// When the execution should resume, if it was held back.
    pub resume_after: Option<Duration>,
}

impl TransitionBucket {
    pub(crate) fn new(rate: TransitionRate) -> TransitionBucket {
        let now = Instant::now();
        let size = f64::from(rate.bucket.max(1));
        TransitionBucket {
            size,
            // A bucket that never refills would strand held-back executions; the
            // configuration refuses 0, and this floor keeps every wait finite.
            refill: if rate.refill_per_second.is_finite() {
                rate.refill_per_second.max(MIN_REFILL)
            } else {
                MIN_REFILL
            },
            state: Mutex::new(Tokens {
                tokens: size,
                counted: now,
                next_resume: now,
            }),
        }
    }

    /// Runs `advance` with the whole tokens the bucket holds as its budget and takes
    /// the transitions it reports (`(value, transitions, held_back)`). The bucket stays
    /// locked meanwhile, so two scheduler loops never spend the same tokens; the
    /// interpreter runs in microseconds.
    pub(crate) fn spend<T>(&self, advance: impl FnOnce(u64) -> (T, u64, bool)) -> Spent<T> {
        let Ok(mut state) = self.state.lock() else {
            // A loop panicked while holding the bucket: run unthrottled rather than stall.
            let (value, _, _) = advance(u64::MAX);
            return Spent {
                value,
                resume_after: None,
            };
        };
        let now = Instant::now();
        let regained = now.duration_since(state.counted).as_secs_f64() * self.refill;
        state.tokens = (state.tokens + regained).min(self.size);
        state.counted = now;
        let budget = state.tokens.floor().max(0.0) as u64;
        let (value, used, held_back) = advance(budget);
        state.tokens -= used.min(budget) as f64;
        let resume_after = held_back.then(|| {
            let missing = (1.0 - state.tokens).max(0.0);
            let refilled = now + Duration::from_secs_f64(missing / self.refill);
            let at = refilled.max(state.next_resume);
            state.next_resume = at + Duration::from_secs_f64(1.0 / self.refill);
            at.duration_since(now)
        });
        Spent {
            value,
            resume_after,
        }
    }

    /// Whether the bucket holds no whole token now (an advance would make no
    /// transition).
    pub(crate) fn is_empty(&self) -> bool {
        let Ok(state) = self.state.lock() else {
            return false;
        };
        let regained = state.counted.elapsed().as_secs_f64() * self.refill;
        state.tokens + regained < 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_grants_its_size_then_nothing_and_says_when_to_resume() {
        let bucket = TransitionBucket::new(TransitionRate {
            bucket: 5,
            refill_per_second: 2.0,
        });
        let first = bucket.spend(|budget| (budget, 3, false));
        assert_eq!(first.value, 5);
        assert_eq!(first.resume_after, None);
        let second = bucket.spend(|budget| (budget, budget, true));
        assert_eq!(second.value, 2, "what the first left");
        let wait = second.resume_after.expect("held back");
        assert!(
            wait <= Duration::from_millis(500),
            "{wait:?}: one token at 2/s"
        );
        assert!(bucket.is_empty());
        let third = bucket.spend(|budget| (budget, 0, true));
        assert_eq!(third.value, 0);
        let later = third.resume_after.expect("held back");
        assert!(
            later >= wait + Duration::from_millis(450),
            "resumes are spread one refill apart: {wait:?} then {later:?}"
        );
    }

    #[test]
    fn the_bucket_refills_but_never_beyond_its_size() {
        let bucket = TransitionBucket::new(TransitionRate {
            bucket: 2,
            refill_per_second: 1000.0,
        });
        let spent = bucket.spend(|budget| (budget, budget, false));
        assert_eq!(spent.value, 2);
        std::thread::sleep(Duration::from_millis(20));
        let spent = bucket.spend(|budget| (budget, 0, false));
        assert_eq!(spent.value, 2, "refilled to its size, no more");
    }
}
