//! The names of the executions deliveries start. A name is derived from what is being
//! delivered — the event and the rule's target, or the schedule and its occurrence — so
//! a delivery tried twice asks for the same execution, which Step Functions starts once.
//! Names keep AWS's limits: at most 80 characters of letters, digits, `-` and `_`.

use chrono::{DateTime, Utc};

/// FNV-1a, 64 bits: stable across builds and platforms, which `std`'s hasher is not.
pub fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hash ^= 0xff;
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        for byte in part.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

/// `<event id>-<16 hex of rule and target>`: one execution per event and target.
pub fn for_event(event_id: &str, rule_arn: &str, target_id: &str) -> String {
    let id: String = event_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(40)
        .collect();
    format!("{id}-{:016x}", fnv1a(&[rule_arn, target_id]))
}

/// `<name>-<8 hex of the ARN>-<occurrence>`: one execution per schedule occurrence.
pub fn for_occurrence(name: &str, arn: &str, occurrence: DateTime<Utc>) -> String {
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(45)
        .collect();
    let hash = fnv1a(&[arn]) as u32;
    format!("{name}-{hash:08x}-{}", occurrence.format("%Y%m%dT%H%M%SZ"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_distinct_and_within_limits() {
        let a = for_event("7bf73129-1428-4cd3-a780-95db273d1602", "arn:rule/a", "1");
        assert_eq!(
            a,
            for_event("7bf73129-1428-4cd3-a780-95db273d1602", "arn:rule/a", "1")
        );
        assert_ne!(
            a,
            for_event("7bf73129-1428-4cd3-a780-95db273d1602", "arn:rule/b", "1")
        );
        assert_eq!(a.len(), 36 + 1 + 16);
        let long = "x".repeat(64);
        let when = DateTime::<Utc>::UNIX_EPOCH;
        let name = for_occurrence(&long, "arn:schedule/default/x", when);
        assert!(name.len() <= 80, "{name}");
        assert!(name.ends_with("-19700101T000000Z"));
        assert_ne!(name, for_occurrence(&long, "arn:schedule/other/x", when));
        assert!(for_occurrence("a.b", "arn", when).starts_with("a_b-"));
    }
}
