//! Asynchronous Express executions at least once: the replica-side half of
//! [`cairn_store::express_runs`].
//!
//! How to drive it: the API calls [`AsyncExpress::record`] before it answers
//! StartExecution, then [`AsyncExpress::launch`] to run the execution in this process;
//! [`AsyncExpress::run_loop`] runs on every replica (no leader) and, every renew period,
//! renews the leases of all of this replica's runs in one statement, takes over the runs
//! whose lease expired (their replica died) to run them again from the start, with the
//! same ARN, input and start time, and deletes the rows of the runs that ended since the
//! last pass in one statement. A replica that dies within a renew period of a run's end
//! has its run executed again: within at least once.
//!
//! At least once, as AWS promises for asynchronous Express workflows: a run whose
//! replica died mid-run executes again, so its tasks may be invoked twice. A run taken
//! over more than [`ExpressRunsConfig::max_takeovers`] times is abandoned (it ends
//! `FAILED` in the log and its row is deleted): a run that kills whichever replica runs
//! it would otherwise take the whole cluster down one replica after another. A run
//! taken over after its five minutes (counted from StartExecution) ends `TIMED_OUT`
//! without running.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_asl::error::names;
use cairn_asl::interpreter::{ExecutionInfo, Limits};
use cairn_asl::validate::{validate, ValidateOptions};
use cairn_asl::{ExecutionStatus, StateMachine};
use cairn_store::express_runs::{ExpressRun, TakenOver};
use cairn_store::time::{after_seconds, from_time};
use cairn_store::{Store, StoreError};
use cairn_telemetry::execution_log::LoggingConfig;
use serde_json::Value;
use tokio::sync::watch;

use crate::express::{self, ExpressOptions};
use crate::Targets;

/// How asynchronous Express runs are leased and taken over.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExpressRunsConfig {
    /// How long a run's lease lasts without renewal (`CAIRN_EXPRESS_LEASE`): how long
    /// after a replica's death its runs start again elsewhere.
    pub lease: Duration,
    /// How often a replica renews its leases and looks for expired ones
    /// (`CAIRN_EXPRESS_RENEW`; a third of the lease by default).
    pub renew_every: Duration,
    /// How many takeovers a run may have before it is abandoned
    /// (`CAIRN_EXPRESS_MAX_TAKEOVERS`).
    pub max_takeovers: i32,
    /// Most runs one takeover call takes.
    pub batch: i64,
    /// Payload and history limits of the runs.
    pub limits: Limits,
    /// How long a run may last from its start (AWS: five minutes).
    pub max_duration: Duration,
}

impl Default for ExpressRunsConfig {
    fn default() -> Self {
        ExpressRunsConfig {
            lease: Duration::from_secs(30),
            renew_every: Duration::from_secs(10),
            max_takeovers: 3,
            batch: 100,
            limits: Limits::default(),
            max_duration: express::MAX_DURATION,
        }
    }
}

/// What went wrong recording a run.
#[derive(Debug, thiserror::Error)]
pub enum ExpressRunError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where a run of this replica is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    Running,
    /// Ended; its row is deleted by the next pass, with the others that ended since
    /// (one statement per renew period, not one per run). Its lease is renewed until
    /// then, so nobody runs it again.
    Ended,
}

/// This replica's asynchronous Express runs. Cheap to share (`Arc`).
pub struct AsyncExpress<S> {
    store: S,
    targets: Arc<Targets>,
    owner: String,
    config: ExpressRunsConfig,
    mine: Mutex<HashMap<String, Progress>>,
    definitions: Mutex<HashMap<i64, Arc<StateMachine>>>,
}

impl<S: Store> AsyncExpress<S> {
    /// Runs held by `owner` (this replica's unique id) in `store`.
    pub fn new(store: S, targets: Arc<Targets>, owner: String, config: ExpressRunsConfig) -> Self {
        AsyncExpress {
            store,
            targets,
            owner,
            config,
            mine: Mutex::default(),
            definitions: Mutex::default(),
        }
    }

    pub fn config(&self) -> &ExpressRunsConfig {
        &self.config
    }

    /// Records `run` leased to this replica; StartExecution answers only after this.
    pub async fn record(&self, run: &ExpressRun) -> Result<(), ExpressRunError> {
        let lease_until = after_seconds(chrono::Utc::now(), self.config.lease.as_secs_f64());
        self.store
            .record_express_run(run, &self.owner, lease_until)
            .await?;
        Ok(())
    }

    /// Runs the recorded `run` in this process, in `span`; its row is deleted when it
    /// ends.
    pub fn launch(
        self: &Arc<Self>,
        run: &ExpressRun,
        machine: Arc<StateMachine>,
        input: Value,
        options: ExpressOptions,
        span: tracing::Span,
    ) {
        self.progress().insert(run.arn.clone(), Progress::Running);
        let this = self.clone();
        let arn = run.arn.clone();
        let machine_arn = run.state_machine_arn.clone();
        let started_at = run.started_at;
        // Boxed, so that spawning moves a pointer rather than the run's future.
        tokio::spawn(Box::pin(tracing::Instrument::instrument(
            async move {
                let targets = this.targets.clone();
                let outcome = express::run(&machine, input, options, targets).await;
                cairn_telemetry::execution_finished(&machine_arn, outcome.status, started_at);
                tracing::Span::current().record("cairn.execution.status", outcome.status.as_str());
                this.ended(&arn);
            },
            span,
        )));
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, HashMap<String, Progress>> {
        self.mine.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The run `arn` has ended: its row goes with the next pass's deletions (its lease
    /// is renewed until then, so nobody runs it again).
    fn ended(&self, arn: &str) {
        if let Some(progress) = self.progress().get_mut(arn) {
            *progress = Progress::Ended;
        }
    }

    /// Deletes the rows of the runs that have ended, in one statement; those it could
    /// not delete are tried again next time.
    async fn forget_ended(&self) -> Result<(), ExpressRunError> {
        let ended: Vec<String> = self
            .progress()
            .iter()
            .filter(|(_, p)| **p == Progress::Ended)
            .map(|(arn, _)| arn.clone())
            .collect();
        if ended.is_empty() {
            return Ok(());
        }
        self.store.finish_express_runs(&ended).await?;
        let mut mine = self.progress();
        for arn in &ended {
            mine.remove(arn);
        }
        Ok(())
    }

    /// Every renew period until `shutdown`: renew this replica's leases, delete the
    /// rows of ended runs, take over expired runs. Runs on every replica.
    pub async fn run_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            if let Err(error) = self.tick().await {
                tracing::warn!(%error, "express runs: a pass failed; the next one tries again");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.renew_every) => {}
                _ = shutdown.changed() => {}
            }
        }
        // Runs that ended since the last pass would otherwise run again elsewhere.
        if let Err(error) = self.forget_ended().await {
            tracing::warn!(%error, "express runs: ended runs not deleted at shutdown; \
                they will run again on another replica");
        }
    }

    /// One pass of [`Self::run_loop`]: renew this replica's leases, take over expired
    /// runs, delete the rows of ended ones. Returns how many runs it took over.
    pub async fn tick(self: &Arc<Self>) -> Result<usize, ExpressRunError> {
        let now = chrono::Utc::now();
        let lease_until = after_seconds(now, self.config.lease.as_secs_f64());
        let held: Vec<String> = self.progress().keys().cloned().collect();
        if !held.is_empty() {
            let renewed = self
                .store
                .renew_express_leases(&self.owner, &held, lease_until)
                .await?;
            if renewed < held.len() as u64 {
                // This replica stalled past its lease and another took the run over:
                // both run it, which at least once allows.
                tracing::warn!(
                    held = held.len(),
                    renewed,
                    "express runs: some leases were lost to another replica"
                );
            }
        }
        let mut taken = 0;
        loop {
            let batch = self
                .store
                .take_over_express_runs(&self.owner, now, lease_until, self.config.batch)
                .await?;
            let count = batch.len();
            taken += count;
            for run in batch {
                self.take_over(run);
            }
            if count < self.config.batch.max(1) as usize {
                break;
            }
        }
        self.forget_ended().await?;
        Ok(taken)
    }

    /// Runs `taken` again from its start, or ends it when it may not run.
    fn take_over(self: &Arc<Self>, taken: TakenOver) {
        let TakenOver {
            run,
            definition,
            takeovers,
        } = taken;
        cairn_telemetry::express_takeovers(1);
        let elapsed = (chrono::Utc::now() - run.started_at)
            .to_std()
            .unwrap_or_default();
        tracing::warn!(execution = %run.arn, takeovers, elapsed_seconds = elapsed.as_secs_f64(),
            "express run taken over from a replica whose lease expired: running it again");
        let refusal = if takeovers > self.config.max_takeovers {
            Some((
                ExecutionStatus::Failed,
                format!(
                    "abandoned after {takeovers} takeovers (CAIRN_EXPRESS_MAX_TAKEOVERS is {}): \
                     every replica running it stopped before it ended",
                    self.config.max_takeovers
                ),
            ))
        } else if elapsed >= self.config.max_duration {
            Some((
                ExecutionStatus::TimedOut,
                format!(
                    "the execution ran longer than the {} seconds an Express execution may last",
                    self.config.max_duration.as_secs_f64()
                ),
            ))
        } else {
            None
        };
        let prepared = match refusal {
            Some(refusal) => Err(refusal),
            None => self.prepare(&run, &definition, elapsed),
        };
        match prepared {
            Ok((machine, input, options)) => {
                let span = express_span(&run);
                self.launch(&run, machine, input, options, span);
            }
            Err((status, cause)) => {
                let error = match status {
                    ExecutionStatus::TimedOut => names::TIMEOUT,
                    _ => names::RUNTIME,
                };
                tracing::error!(execution = %run.arn, status = status.as_str(), error, %cause,
                    "express execution ended");
                cairn_telemetry::execution_finished(&run.state_machine_arn, status, run.started_at);
                self.progress().insert(run.arn.clone(), Progress::Ended);
            }
        }
    }

    /// What running `run` again needs; a refusal (status and cause) when it cannot run.
    #[allow(clippy::type_complexity)]
    fn prepare(
        &self,
        run: &ExpressRun,
        definition: &str,
        elapsed: Duration,
    ) -> Result<(Arc<StateMachine>, Value, ExpressOptions), (ExecutionStatus, String)> {
        let machine = self
            .definition(run.definition_id, definition)
            .map_err(|cause| (ExecutionStatus::Failed, cause))?;
        let input = serde_json::from_str(&run.input).map_err(|e| {
            (
                ExecutionStatus::Failed,
                format!("the recorded input is not JSON: {e}"),
            )
        })?;
        let options = ExpressOptions {
            info: ExecutionInfo {
                execution_arn: run.arn.clone(),
                execution_name: run.name.clone(),
                state_machine_arn: run.state_machine_arn.clone(),
                state_machine_name: run.state_machine_name.clone(),
                role_arn: run.role_arn.clone(),
                start_time: from_time(run.started_at),
                redrive_count: None,
            },
            limits: self.config.limits,
            max_duration: self.config.max_duration,
            already_elapsed: elapsed,
            logging: LoggingConfig::from_stored(run.logging.as_deref()),
        };
        Ok((machine, input, options))
    }

    /// The parsed definition `id`, parsed once per process.
    fn definition(&self, id: i64, text: &str) -> Result<Arc<StateMachine>, String> {
        let cache = || self.definitions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(machine) = cache().get(&id).cloned() {
            return Ok(machine);
        }
        let (machine, _) = validate(text, &ValidateOptions::default()).map_err(|d| {
            format!(
                "the stored definition cannot be run: {}",
                cairn_asl::diagnostic::invalid_definition_message(&d)
            )
        })?;
        let machine = Arc::new(machine);
        cache().insert(id, machine.clone());
        Ok(machine)
    }
}

/// The span of a run taken over: a new root (the caller's trace context is not kept),
/// exported when the machine is traced.
fn express_span(run: &ExpressRun) -> tracing::Span {
    let span = tracing::info_span!(
        "express_execution",
        otel.name = "execution",
        cairn.execution.arn = %run.arn,
        cairn.state_machine.arn = %run.state_machine_arn,
        cairn.execution.status = tracing::field::Empty,
        cairn.execution.takeover = true,
    );
    if !cairn_telemetry::trace::machine_traced(run.tracing.as_deref()) {
        cairn_telemetry::trace::leave_untraced(&span);
    }
    span
}
