//! `cairn-scheduler`: claims executions that have due events, plans each with the pure
//! interpreter ([`plan::plan`]) and commits the batch's plans — snapshots, history,
//! tasks, timers and the consumption of the events — in one transaction. Metrics, spans
//! and the local worker's hand-off happen only once the batch has committed.
//!
//! ```text
//! claim ──▶ plan (pure, per execution) ──▶ commit (one transaction) ──▶ after the commit
//! ```

mod entropy; // callbacks: task tokens
pub mod handoff;
pub mod logging;
pub mod plan;
pub mod retention;
mod throttle;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_asl::interpreter::{Event, Limits};
use cairn_asl::{ExecutionStatus, StateMachine};
use cairn_store::engine::{Batch, Claimed, Committed, InboxEvent, Plan};
use cairn_store::{Store, StoreError};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit};

pub use handoff::Handoff;
pub use plan::{plan, Context, Planned};
pub use throttle::TransitionRate;

/// How a scheduler loop behaves.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Most executions claimed and committed together.
    pub batch_size: i64,
    /// Longest sleep when idle, in case a notification was missed.
    pub idle_poll: Duration,
    pub limits: Limits,
    /// The state-transition token bucket of this process's schedulers (AWS's
    /// StateTransition quota); `None`, the default, makes no transition wait.
    pub transitions: Option<TransitionRate>,
}

/// Inline Maps of more items than this keep their items, results and input as rows
/// rather than in the snapshot (`Limits::store_map_items_over`; docs/benchmarks.md
/// measures both sides).
pub const STORE_MAP_ITEMS_OVER: usize = 256;

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            batch_size: 64,
            idle_poll: Duration::from_secs(5),
            limits: Limits::default()
                .storing_maps_over(STORE_MAP_ITEMS_OVER)
                .with_map_child_executions(),
            transitions: None,
        }
    }
}

/// More stored values than this given back to one batch make its planning heavy.
const HEAVY_VALUES: usize = 4096;
/// More snapshot and input text than this in one batch make its planning heavy.
const HEAVY_BYTES: usize = 4 << 20;

/// Whether planning `claimed` is heavy enough to run off the runtime's worker threads
/// (`cairn_store::heavy`): a Map's results given back at its end, or large snapshots and
/// inputs to parse and write again. A batch of small advances is planned in place.
fn heavy(claimed: &[Claimed]) -> bool {
    let values: usize = claimed.iter().map(|c| c.stored.len()).sum();
    let bytes: usize = claimed
        .iter()
        .map(|c| c.input.len() + c.snapshot.as_ref().map_or(0, String::len))
        .sum();
    values > HEAVY_VALUES || bytes > HEAVY_BYTES
}

/// Parsed definitions by id: a definition is immutable once stored.
#[derive(Default)]
struct Definitions(Mutex<HashMap<i64, Arc<StateMachine>>>);

impl Definitions {
    fn known(&self) -> Vec<i64> {
        self.0
            .lock()
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default()
    }

    /// The claimed execution's machine: parsed before, or parsed now from the text the
    /// claim brought.
    fn of(&self, claimed: &Claimed) -> Result<Arc<StateMachine>, String> {
        if let Some(machine) = self
            .0
            .lock()
            .ok()
            .and_then(|m| m.get(&claimed.definition_id).cloned())
        {
            return Ok(machine);
        }
        let text = claimed
            .definition
            .as_deref()
            .ok_or_else(|| "definition text missing".to_string())?;
        let machine = Arc::new(plan::parse(text)?);
        if let Ok(mut m) = self.0.lock() {
            m.insert(claimed.definition_id, machine.clone());
        }
        Ok(machine)
    }
}

/// Drives executions forward. Any number of schedulers, in any number of processes,
/// may share one database: they coordinate only through row locks.
pub struct Scheduler<S> {
    store: S,
    config: SchedulerConfig,
    definitions: Definitions,
    transitions: Option<throttle::TransitionBucket>,
    /// This process's worker, which takes the tasks this scheduler creates while it
    /// has free slots.
    handoff: Option<Handoff>,
    /// Machines' logging configurations.
    logging: logging::Configs,
}

/// One planned execution and what follows its commit.
struct Advance {
    arn: String,
    state_machine_arn: String,
    started_at: cairn_store::Time,
    planned: Planned,
    /// The worker slots its leased tasks hold until they are handed over: one permit
    /// per task.
    slots: Option<OwnedSemaphorePermit>,
    /// It was held back by the transition bucket.
    throttled: bool,
}

impl Advance {
    fn new(
        claimed: &Claimed,
        planned: Planned,
        slots: Option<OwnedSemaphorePermit>,
        throttled: bool,
    ) -> Advance {
        Advance {
            arn: claimed.arn.clone(),
            state_machine_arn: claimed.state_machine_arn.clone(),
            started_at: claimed.started_at,
            planned,
            slots,
            throttled,
        }
    }

    /// One of the slots this advance holds, for one of its leased tasks.
    fn take_slot(&mut self) -> Option<OwnedSemaphorePermit> {
        match self.slots.as_mut()?.num_permits() {
            0 | 1 => self.slots.take(),
            _ => self.slots.as_mut()?.split(1),
        }
    }
}

impl<S: Store> Scheduler<S> {
    pub fn new(store: S, config: SchedulerConfig) -> Self {
        Scheduler {
            store,
            transitions: config.transitions.map(throttle::TransitionBucket::new),
            config,
            definitions: Definitions::default(),
            handoff: None,
            logging: logging::Configs::default(),
        }
    }

    /// Hands the tasks this scheduler creates to a worker in this process while it has
    /// free slots: they are leased and started in the advance that creates them.
    pub fn with_handoff(mut self, handoff: Handoff) -> Self {
        self.handoff = Some(handoff);
        self
    }

    /// Claims, plans and commits one batch; returns how many executions advanced.
    pub async fn tick(&self) -> Result<usize, StoreError> {
        let batch = self
            .store
            .claim(self.config.batch_size, &self.definitions.known())
            .await?;
        if batch.claimed().is_empty() {
            return Ok(0);
        }
        let claimed = batch.claimed();
        let advances: Vec<Advance> = cairn_store::heavy::run(heavy(claimed), || {
            claimed.iter().map(|c| self.advance(c)).collect()
        });
        let executions = advances
            .iter()
            .filter(|a| a.planned.plan.execution.is_some())
            .count();
        let mut logged = Vec::new();
        let (advances, plans): (Vec<Advance>, Vec<Plan>) = advances
            .into_iter()
            .map(|mut a| {
                let plan = std::mem::take(&mut a.planned.plan);
                if !plan.history.is_empty() && self.logging.may_log(&a.state_machine_arn) {
                    logged.push(logging::Committed {
                        execution_arn: a.arn.clone(),
                        state_machine_arn: a.state_machine_arn.clone(),
                        events: plan.history.clone(),
                    });
                }
                (a, plan)
            })
            .unzip();
        let lease = self.handoff.as_ref().map(|h| &h.lease);
        let committed = batch.commit(plans, lease).await?;
        self.after_commit(advances, committed);
        self.logging.write(&self.store, logged).await;
        Ok(executions)
    }

    /// Plans one claimed execution, under the transition bucket when there is one.
    fn advance(&self, claimed: &Claimed) -> Advance {
        let machine = self.definitions.of(claimed);
        let context = Context {
            limits: self.config.limits,
            now: chrono::Utc::now(),
            budget: None,
            local_slots: self.handoff.as_ref().map_or(0, Handoff::free_slots),
            entropy: entropy::fresh(),
            tracing: cairn_telemetry::trace::enabled(),
        };
        let run = |budget| {
            let context = Context { budget, ..context };
            let machine = machine.as_deref().map_err(String::as_str);
            let planned = plan(machine, claimed, &context);
            if planned.leased == 0 {
                return (planned, None);
            }
            // The worker's slots are taken for exactly the tasks the plan started. Should
            // another scheduler loop have taken them meanwhile, the same plan without the
            // hand-off (a plan is pure: same context, same result) leaves the tasks to
            // any worker.
            match self
                .handoff
                .as_ref()
                .and_then(|h| h.take_slots(planned.leased))
            {
                Some(slots) => (planned, Some(slots)),
                None => {
                    let alone = Context {
                        local_slots: 0,
                        ..context
                    };
                    (plan(machine, claimed, &alone), None)
                }
            }
        };
        let Some(bucket) = &self.transitions else {
            let (planned, slots) = run(None);
            return Advance::new(claimed, planned, slots, false);
        };
        let only_resumes = claimed.status == ExecutionStatus::Running
            && claimed
                .events
                .iter()
                .all(|e| matches!(e, InboxEvent::Step(Event::Resume)));
        let spent = if only_resumes && bucket.is_empty() {
            // Still no token: wait again without reading the snapshot.
            bucket.spend(|_| (None, 0, true))
        } else {
            bucket.spend(|budget| {
                let (planned, slots) = run(Some(budget));
                let (transitions, paused) = (planned.transitions, planned.paused);
                (Some((planned, slots)), transitions, paused)
            })
        };
        let (mut planned, slots) = spent.value.unwrap_or_default();
        let throttled = spent.resume_after.is_some();
        if let Some(wait) = spent.resume_after {
            let now = chrono::Utc::now();
            let at = chrono::Duration::from_std(wait)
                .ok()
                .and_then(|wait| now.checked_add_signed(wait))
                .unwrap_or(now);
            plan::resume_at(&mut planned.plan, at);
        }
        Advance::new(claimed, planned, slots, throttled)
    }

    /// What happens only for what committed: metrics, spans, the local hand-off.
    fn after_commit(&self, advances: Vec<Advance>, committed: Committed) {
        let mut holding: HashMap<String, Advance> = HashMap::new();
        for mut advance in advances {
            if advance.throttled {
                cairn_telemetry::execution_throttled(&advance.state_machine_arn);
            }
            if let Some(status) = advance.planned.finished {
                cairn_telemetry::execution_finished(
                    &advance.state_machine_arn,
                    status,
                    advance.started_at,
                );
            }
            if let Some(spans) = advance.planned.spans.take() {
                spans.export();
            }
            if advance.slots.is_some() {
                holding.insert(advance.arn.clone(), advance);
            }
        }
        let Some(handoff) = &self.handoff else {
            return;
        };
        for task in committed.leased {
            let slot = holding
                .get_mut(&task.execution_arn)
                .and_then(Advance::take_slot);
            if let Some(slot) = slot {
                handoff.hand_over(task, slot);
            }
        }
    }

    /// Runs until `shutdown` turns true: advances batches while there is work, and
    /// sleeps on `doorbell` (rung by NOTIFY) or until the next timer is due when idle.
    pub async fn run(&self, doorbell: Arc<Notify>, mut shutdown: watch::Receiver<bool>) {
        let mut failures = 0u32;
        while !*shutdown.borrow() {
            let notified = doorbell.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.tick().await {
                // Work was found: look for more at once. Only an empty batch asks for the
                // next due time, which a busy loop would only learn is now.
                Ok(n) if n > 0 => {
                    failures = 0;
                    continue;
                }
                Ok(_) => failures = 0,
                Err(error) => {
                    failures = failures.saturating_add(1);
                    tracing::error!(%error, "scheduler batch failed");
                    let backoff = Duration::from_millis(100 * 2u64.pow(failures.min(6)));
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            }
            let sleep = match self.store.next_due().await {
                Ok(Some(due)) => (due - chrono::Utc::now())
                    .to_std()
                    .unwrap_or(Duration::ZERO)
                    .min(self.config.idle_poll),
                Ok(None) => self.config.idle_poll,
                Err(error) => {
                    tracing::warn!(%error, "could not read the next due time");
                    self.config.idle_poll
                }
            };
            if sleep.is_zero() {
                continue;
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(sleep) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}
