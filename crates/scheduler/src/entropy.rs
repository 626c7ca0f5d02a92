//! The entropy task tokens are made from (see `cairn_asl::callback`): fresh bytes from
//! the operating system for every execution a batch advances.

/// 32 bytes from the operating system's generator.
pub(crate) fn fresh() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    if let Err(error) = getrandom::fill(&mut bytes) {
        // Linux's getrandom does not fail once the kernel pool is seeded; should it ever,
        // std's per-process random SipHash keys still make tokens unguessable from outside.
        tracing::error!(%error, "the OS random generator failed; using std's hash keys");
        use std::hash::{BuildHasher, Hasher};
        for chunk in bytes.chunks_mut(8) {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u64(0);
            chunk.copy_from_slice(&hasher.finish().to_le_bytes());
        }
    }
    bytes
}
