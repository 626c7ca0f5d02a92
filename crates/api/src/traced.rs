//! Which machines' executions are traced: a machine's `tracingConfiguration.enabled`,
//! read when StartExecution needs it and trusted for [`FRESH_FOR`], so that a start
//! costs no extra read of its machine while tracing is on, and none at all while the
//! process exports no traces. An UpdateStateMachine that turns tracing on or off applies
//! to the executions started within [`FRESH_FOR`] after it, and then to every one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cairn_store::Store;

/// How long a machine's setting is trusted before it is read again.
pub const FRESH_FOR: Duration = Duration::from_secs(5);

/// Machines' tracing settings, as last read.
#[derive(Default)]
pub(crate) struct TracedMachines(Mutex<HashMap<String, (bool, Instant)>>);

impl TracedMachines {
    /// Whether executions of `machine_arn` (unqualified) are traced. A machine that
    /// cannot be read is not.
    pub(crate) async fn traced<S: Store>(&self, store: &S, machine_arn: &str) -> bool {
        if !cairn_telemetry::trace::enabled() {
            return false;
        }
        if let Some((traced, read)) = self.0.lock().ok().and_then(|m| m.get(machine_arn).copied()) {
            if read.elapsed() < FRESH_FOR {
                return traced;
            }
        }
        let traced = match store.state_machine(machine_arn).await {
            Ok(Some(machine)) => cairn_telemetry::trace::machine_traced(machine.tracing.as_deref()),
            _ => false,
        };
        if let Ok(mut known) = self.0.lock() {
            known.insert(machine_arn.to_string(), (traced, Instant::now()));
        }
        traced
    }
}
