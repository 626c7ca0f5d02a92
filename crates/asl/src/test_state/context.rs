//! The context object of a test (`$$`, `$states.context`), unless the request brings its
//! own: the execution of an Express machine made up for the test (AWS's ARNs have
//! `express` and two generated names), the role the caller gave (`null` without one),
//! the state as `StateName`, and a retry count for the states that retry.

use serde_json::{json, Map, Value};

use crate::model::{State, StateKind};
use crate::random::Random;

use super::definition::LONE_STATE_NAME;
use super::Environment;

/// A version-4-shaped UUID from `random`: the names AWS generates for a test's machine
/// and execution.
pub(super) fn uuid(random: &mut dyn Random) -> String {
    let a = random.next_u64();
    let b = random.next_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// What the context object shows, for a test of `state` with `input`.
pub(super) fn made_up(
    environment: &Environment<'_>,
    random: &mut dyn Random,
    state: &State,
    input: &Value,
    role_arn: Option<&str>,
    retry_count: u64,
) -> Value {
    let machine = uuid(random);
    let execution = uuid(random);
    let prefix = format!(
        "arn:aws:states:{}:{}",
        environment.region, environment.account
    );
    let now = environment.clock.now.to_rfc3339_millis();
    let mut entered = Map::new();
    entered.insert("Name".into(), json!(LONE_STATE_NAME));
    entered.insert("EnteredTime".into(), json!(now));
    // Only the states that can retry count retries, as in an execution.
    if matches!(
        state.kind,
        StateKind::Task(_) | StateKind::Parallel(_) | StateKind::Map(_)
    ) {
        entered.insert("RetryCount".into(), json!(retry_count));
    }
    json!({
        "Execution": {
            "Id": format!("{prefix}:express:{machine}:{execution}"),
            "Input": input,
            "Name": execution,
            "RoleArn": role_arn,
            "StartTime": now,
        },
        "StateMachine": {
            "Id": format!("{prefix}:stateMachine:{machine}"),
            "Name": machine,
        },
        "State": entered,
    })
}
