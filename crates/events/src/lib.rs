//! `cairn-events`: EventBridge and EventBridge Scheduler without I/O — what a rule's
//! event pattern matches ([`pattern`]), what a target receives ([`transform`], with the
//! JSON paths of [`path`]), when a schedule fires ([`schedule`], with AWS's cron format
//! in [`cron`]), the event envelope ([`envelope`]), retries and their back-off
//! ([`retry`]), and the names of the executions a delivery starts ([`naming`]).
//!
//! Like `cairn-asl`, it reads no clock and draws no randomness of its own: times and
//! jitter come in as arguments. The API checks requests with it; the delivery and
//! schedule loops plan with it; the store only writes what they planned.

pub mod cron;
pub mod envelope;
pub mod naming;
pub mod path;
pub mod pattern;
pub mod retry;
pub mod schedule;
pub mod target;
pub mod transform;
