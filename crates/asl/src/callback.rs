//! Task tokens: which Task states wait for one, how a token is made from the entropy
//! the driver supplies, and the one-way hash a store keeps instead of the token.
//!
//! A token is `base64url(SHA-256(entropy ‖ execution ARN ‖ task id))`: 256 bits of
//! output whose unpredictability is the driver's 32 bytes of OS entropy ([`Clock`]'s
//! `entropy`). The ARN and task id make tokens of different tasks differ even when a
//! driver reuses entropy across the events of one batch.
//!
//! [`Clock`]: crate::interpreter::Clock

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The suffix of integrations that wait for `SendTaskSuccess`/`SendTaskFailure`.
pub const WAIT_FOR_TASK_TOKEN: &str = ".waitForTaskToken";

/// How a Task state's resource finishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// The target's answer is the task's result.
    RequestResponse,
    /// `….waitForTaskToken`: the target is invoked, then the task waits for its token.
    WaitForTaskToken,
    /// `arn:aws:states:REGION:ACCOUNT:activity:NAME`: an external worker polls for it.
    Activity,
}

impl Pattern {
    /// The pattern `resource` asks for.
    pub fn of(resource: &str) -> Pattern {
        if is_activity(resource) {
            Pattern::Activity
        } else if resource.ends_with(WAIT_FOR_TASK_TOKEN) {
            Pattern::WaitForTaskToken
        } else {
            Pattern::RequestResponse
        }
    }

    /// Whether the task is completed through a token.
    pub fn uses_token(self) -> bool {
        !matches!(self, Pattern::RequestResponse)
    }
}

/// `arn:PARTITION:states:REGION:ACCOUNT:activity:NAME`.
pub fn is_activity(resource: &str) -> bool {
    let fields: Vec<&str> = resource.split(':').collect();
    matches!(
        fields.as_slice(),
        ["arn", partition, "states", region, account, "activity", name]
            if !partition.is_empty() && !region.is_empty() && !account.is_empty() && !name.is_empty()
    )
}

/// The token of task `task` of `execution_arn`.
pub fn token(entropy: &[u8; 32], execution_arn: &str, task: u64) -> String {
    let mut hasher = Sha256::new();
    hasher.update(entropy);
    hasher.update(execution_arn.as_bytes());
    hasher.update(task.to_be_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hasher.finalize())
}

/// What a store keeps of a token: lowercase hex SHA-256 of its text.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert_eq!(
            Pattern::of("arn:aws:states:::lambda:invoke.waitForTaskToken"),
            Pattern::WaitForTaskToken
        );
        assert_eq!(
            Pattern::of("arn:aws:states:us-east-1:123456789012:activity:Pay"),
            Pattern::Activity
        );
        assert_eq!(
            Pattern::of("arn:aws:states:::lambda:invoke"),
            Pattern::RequestResponse
        );
        assert!(!is_activity("arn:aws:states:::activity:x"));
        assert!(!is_activity(
            "arn:aws:states:us-east-1:123456789012:stateMachine:x"
        ));
    }

    #[test]
    fn tokens_differ_per_task_and_entropy_and_hash_is_hex() {
        let a = token(&[1; 32], "arn:x", 1);
        assert_eq!(a.len(), 43);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(a, token(&[1; 32], "arn:x", 2));
        assert_ne!(a, token(&[2; 32], "arn:x", 1));
        assert_ne!(a, token(&[1; 32], "arn:y", 1));
        let hash = token_hash(&a);
        assert_eq!(hash.len(), 64);
        assert_ne!(hash, token_hash(&token(&[1; 32], "arn:x", 2)));
    }
}
