//! Task tokens: how a token is made from the entropy the driver supplies, and the one-way
//! hash a store keeps instead of the token. Which Task states wait for one is their
//! route's to say ([`crate::task::Route::uses_token`]).
//!
//! A token is `base64url(SHA-256(entropy ‖ execution ARN ‖ task id))`: 256 bits of
//! output whose unpredictability is the driver's 32 bytes of OS entropy ([`Clock`]'s
//! `entropy`). The ARN and task id make tokens of different tasks differ even when a
//! driver reuses entropy across the events of one batch.
//!
//! [`Clock`]: crate::interpreter::Clock

use base64::Engine as _;
use sha2::{Digest, Sha256};

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
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(token.as_bytes());
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest {
        hex.push(HEX[usize::from(byte >> 4)] as char);
        hex.push(HEX[usize::from(byte & 0x0f)] as char);
    }
    hex
}

/// A UUID-shaped text derived from `seed` (the first 128 bits of its SHA-256): derived,
/// not random, so that a replayed step names the same Map Run, child or request.
pub fn derived_uuid(seed: &str) -> String {
    let hex = token_hash(seed);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn the_hash_is_sha256_in_lowercase_hex() {
        // FIPS 180-2's example: SHA-256 of "abc".
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(derived_uuid("abc"), "ba7816bf-8f01-cfea-4141-40de5dae2223");
    }
}
