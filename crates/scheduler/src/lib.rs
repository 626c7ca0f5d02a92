//! `cairn-scheduler`: claims executions that have due events, applies them with the pure
//! interpreter and commits the result — snapshot, history, tasks, timers and the
//! consumption of the events — in one transaction per batch.

mod apply;
mod entropy; // callbacks: task tokens
mod throttle;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_asl::interpreter::Event;
use cairn_asl::interpreter::Limits;
use cairn_asl::interpreter::TaskRequest;
use cairn_asl::StateMachine;
use cairn_store::handoff::{runs_on_worker, Handoff};
use cairn_store::{Advance, InboxEvent, Store, StoreError};
use tokio::sync::{watch, Notify};

pub use apply::{apply, apply_traced, apply_within, Applied};
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
            limits: Limits::default().storing_maps_over(STORE_MAP_ITEMS_OVER),
            transitions: None,
        }
    }
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

    fn get(&self, id: i64) -> Option<Arc<StateMachine>> {
        self.0.lock().ok()?.get(&id).cloned()
    }

    fn insert(&self, id: i64, machine: Arc<StateMachine>) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(id, machine);
        }
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
}

impl<S: Store> Scheduler<S> {
    pub fn new(store: S, config: SchedulerConfig) -> Self {
        Scheduler {
            store,
            transitions: config.transitions.map(throttle::TransitionBucket::new),
            config,
            definitions: Definitions::default(),
            handoff: None,
        }
    }

    /// Hands the tasks this scheduler creates to a worker in this process while it has
    /// free slots: they are leased and started in the advance that creates them.
    pub fn with_handoff(mut self, handoff: Handoff) -> Self {
        self.handoff = Some(handoff);
        self
    }

    /// Claims and advances one batch; returns how many executions advanced.
    pub async fn tick(&self) -> Result<usize, StoreError> {
        let known = self.definitions.known();
        let limits = self.config.limits;
        let definitions = &self.definitions;
        let transitions = self.transitions.as_ref();
        let mut spans = Vec::new();
        let handoff = self.handoff.as_ref();
        // The worker slots taken by tasks of this batch, by (execution, task id).
        let mut slots = HashMap::new();
        let advanced = self
            .store
            .advance(
                self.config.batch_size,
                &known,
                handoff.map(|h| &h.lease),
                |claimed| {
                    let arn = claimed.arn.clone();
                    let mut hand_off = |task: &TaskRequest| {
                        let slot = handoff
                            .filter(|_| runs_on_worker(task))
                            .and_then(Handoff::try_slot);
                        slot.map(|slot| slots.insert((arn.clone(), task.task as i64), slot))
                            .is_some()
                    };
                    let machine =
                        match (definitions.get(claimed.definition_id), &claimed.definition) {
                            (Some(machine), _) => Ok(machine),
                            (None, Some(text)) => apply::parse(text).map(|m| {
                                let m = Arc::new(m);
                                definitions.insert(claimed.definition_id, m.clone());
                                m
                            }),
                            (None, None) => Err("definition text missing".to_string()),
                        };
                    // Read before `apply` takes the claim, and only when throttling.
                    let throttled = transitions.map(|bucket| {
                        let only_resumes = claimed.status == "RUNNING"
                            && claimed
                                .events
                                .iter()
                                .all(|e| matches!(e, InboxEvent::Step(Event::Resume)));
                        (bucket, claimed.state_machine_arn.clone(), only_resumes)
                    });
                    let apply = |budget| {
                        let now = chrono::Utc::now();
                        apply_within(
                            machine.as_deref(),
                            claimed,
                            limits,
                            now,
                            budget,
                            &mut hand_off,
                        )
                    };
                    let Some((bucket, machine_arn, only_resumes)) = throttled else {
                        let applied = apply(None);
                        spans.extend(applied.spans);
                        return applied.advance;
                    };
                    let spent = if only_resumes && bucket.is_empty() {
                        // Still no token: wait again without reading the snapshot.
                        bucket.spend(|_| (None, 0, true))
                    } else {
                        bucket.spend(|budget| {
                            let applied = apply(Some(budget));
                            let (transitions, paused) = (applied.transitions, applied.paused);
                            (Some(applied), transitions, paused)
                        })
                    };
                    let mut advance = match spent.value {
                        Some(applied) => {
                            spans.extend(applied.spans);
                            applied.advance
                        }
                        None => Advance::default(),
                    };
                    if let Some(wait) = spent.resume_after {
                        cairn_telemetry::execution_throttled(&machine_arn);
                        let now = chrono::Utc::now();
                        advance.resume_at = Some(
                            chrono::Duration::from_std(wait)
                                .ok()
                                .and_then(|wait| now.checked_add_signed(wait))
                                .unwrap_or(now),
                        );
                    }
                    advance
                },
            )
            .await?;
        // Drawn only for what committed.
        for execution in spans {
            execution.export();
        }
        if let Some(handoff) = handoff {
            for task in advanced.leased {
                if let Some(slot) = slots.remove(&(task.execution_arn.clone(), task.task_id)) {
                    handoff.hand_over(task, slot);
                }
            }
        }
        Ok(advanced.executions)
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
