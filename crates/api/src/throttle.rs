//! Request throttling as AWS does it: a token bucket per API action, each request takes a
//! token, an empty bucket answers `ThrottlingException` (HTTP 400) and changes nothing.
//!
//! AWS's buckets are per account and Region; Cairn's are per replica (the process
//! answering), so a cluster of N replicas admits up to N times a bucket's rate. AWS's
//! defaults (Step Functions quotas, US East (N. Virginia), US West (Oregon), Europe
//! (Ireland)): StartExecution 1,300 tokens refilled at 300 per second for Standard
//! workflows; most other actions far less. Cairn's buckets are off unless configured.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// One bucket's shape: how many tokens it holds when full and how fast it refills.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Tokens when full: the largest burst admitted at once (at least 1).
    pub size: f64,
    /// Tokens added per second.
    pub refill_per_second: f64,
}

/// Which actions are throttled. `None` admits everything.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ThrottleConfig {
    /// StartExecution (Standard and Express machines alike). StartSyncExecution is not
    /// counted here, as AWS does not count it against StartExecution's quota.
    pub start_execution: Option<Bucket>,
    /// Every other action, each with a bucket of its own of this shape.
    pub other_actions: Option<Bucket>,
}

/// The buckets of one process.
#[derive(Debug, Default)]
pub struct Throttle {
    config: ThrottleConfig,
    /// Tokens and when they were last counted, per action.
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Throttle {
    pub fn new(config: ThrottleConfig) -> Throttle {
        Throttle {
            config,
            buckets: Mutex::default(),
        }
    }

    /// Takes a token for `action`; `false` when its bucket is empty (throttle it).
    pub fn admit(&self, action: &str) -> bool {
        let bucket = match action {
            "StartExecution" => self.config.start_execution,
            "StartSyncExecution" => None,
            _ => self.config.other_actions,
        };
        let Some(bucket) = bucket else {
            return true;
        };
        let size = bucket.size.max(1.0);
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else {
            return true;
        };
        let (tokens, counted) = buckets.entry(action.to_string()).or_insert((size, now));
        let refilled =
            now.duration_since(*counted).as_secs_f64() * bucket.refill_per_second.max(0.0);
        *tokens = (*tokens + refilled).min(size);
        *counted = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_admits_its_size_then_refuses() {
        let throttle = Throttle::new(ThrottleConfig {
            start_execution: Some(Bucket {
                size: 3.0,
                refill_per_second: 0.0,
            }),
            other_actions: None,
        });
        let admitted = (0..10).filter(|_| throttle.admit("StartExecution")).count();
        assert_eq!(admitted, 3);
        assert!(
            throttle.admit("DescribeExecution"),
            "others are not throttled"
        );
        assert!(
            throttle.admit("StartSyncExecution"),
            "sync starts are not counted"
        );
    }

    #[test]
    fn each_other_action_has_its_own_bucket() {
        let throttle = Throttle::new(ThrottleConfig {
            start_execution: None,
            other_actions: Some(Bucket {
                size: 1.0,
                refill_per_second: 0.0,
            }),
        });
        assert!(throttle.admit("DescribeExecution"));
        assert!(!throttle.admit("DescribeExecution"));
        assert!(throttle.admit("ListExecutions"));
        assert!(
            throttle.admit("StartExecution"),
            "StartExecution has its own setting"
        );
    }

    #[test]
    fn off_admits_everything() {
        let throttle = Throttle::new(ThrottleConfig::default());
        assert!((0..10_000).all(|_| throttle.admit("StartExecution")));
    }
}
