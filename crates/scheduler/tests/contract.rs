//! The store contract: one suite of scenarios, written against the [`Store`] trait only
//! (no SQL, no pool), run against every implementation, so that what a user of the Step
//! Functions API sees is the same whichever store holds their executions.
//!
//! Each scenario is an `async fn name<S: Store>(store: S)` in one of the modules under
//! `contract/`, by the part of the trait it is about. [`contract!`] instantiates every
//! scenario once per backend, as `<backend>::<scenario>` tests:
//!
//! ```text
//! cargo test -p cairn-scheduler --test contract              # every backend
//! cargo test -p cairn-scheduler --test contract postgres::   # one backend
//! ```
//!
//! Timers, leases and heartbeats are kept to a second or less; every poll has a generous
//! deadline that only a hang reaches.
//!
//! [`Store`]: cairn_store::Store

mod support;

mod contract {
    pub mod callbacks;
    pub mod catalog;
    pub mod common;
    pub mod engine;
    pub mod executions;
    pub mod express_runs;
    pub mod map_children;
    pub mod map_runs;
    pub mod nested;
    pub mod observe;
    pub mod redrive;
    pub mod retention;
    pub mod schedules;
    pub mod tasks;
    pub mod test_cases;
    pub mod versions;
}

/// A database name's part for `scenario`: short enough that Postgres keeps the unique
/// suffix `fresh_store` adds (names are cut at 63 bytes).
pub fn database_label(scenario: &str) -> String {
    let short: String = scenario.chars().take(28).collect();
    format!("c_{short}")
}

/// Instantiates every scenario for every backend: a module per backend, a test per
/// scenario. A backend is `name(label) => expression`: the expression makes a fresh, empty
/// store, and may use `label` (a `&str` naming the scenario) to name what it creates.
macro_rules! contract {
    (
        backends { $($backend:ident($label:ident) => $store:expr,)* }
        scenarios $scenarios:tt
    ) => {
        $( contract!(@backend $backend, $label, $store, $scenarios); )*
    };
    (@backend $backend:ident, $label:ident, $store:expr, { $($module:ident::$scenario:ident,)* }) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let $label: &str = &crate::database_label(stringify!($scenario));
                    crate::contract::$module::$scenario($store).await;
                }
            )*
        }
    };
}

contract! {
    backends {
        postgres(label) => cairn_store::testing::fresh_store(label, 8)
            .await
            .expect("a fresh, migrated database")
            .0,
        // The in-memory store of `cairn dev`.
        memory(_label) => cairn_store::memory::MemoryStore::new(),
    }
    scenarios {
        executions::start_creates_then_repeats_only_while_running_with_the_same_input,
        test_cases::a_test_case_is_attached_once_and_detached,
        test_cases::each_state_counts_its_mocked_invocations_from_zero,
        executions::start_answers_none_for_a_missing_or_express_machine,
        executions::describe_shows_the_input_exactly_and_the_history_length,
        executions::list_is_newest_first_filtered_and_paged_without_gaps,
        executions::history_pages_forward_and_backward_across_advances,
        executions::stop_aborts_a_running_execution_and_is_a_no_op_once_ended,
        redrive::a_redrive_runs_the_failed_task_again_and_not_the_states_before_it,
        redrive::a_redrive_is_refused_unless_the_execution_may_be_redriven,
        redrive::a_client_token_answers_again_for_fifteen_minutes_only,
        retention::closed_executions_are_purged_oldest_first_with_all_they_own,
        retention::concurrent_purges_delete_each_execution_once,
        retention::a_purged_execution_takes_its_map_runs_along,
        express_runs::an_express_run_is_leased_renewed_taken_over_once_and_deleted,
        express_runs::concurrent_takeovers_give_each_expired_run_to_one_replica,

        engine::pass_choice_parallel_map_and_tasks_succeed_with_dense_history,
        engine::a_wait_is_a_timer_and_stopping_cancels_a_year_long_one,
        engine::retries_wait_their_interval_before_the_next_attempt,
        engine::a_task_never_answered_times_out_with_states_timeout,
        engine::concurrent_schedulers_never_apply_an_event_twice,
        engine::a_large_inline_map_joins_its_results_in_order,
        engine::the_local_worker_gets_its_tasks_in_their_advance_and_they_survive_its_death,
        engine::a_dropped_batch_changes_nothing_and_an_empty_plan_consumes_its_events,

        tasks::a_live_lease_is_exclusive_and_the_first_lease_records_task_started,
        tasks::an_expired_lease_is_taken_over_and_a_released_one_is_not,
        tasks::renewing_keeps_a_lease_alive_past_its_first_expiry,
        tasks::completing_a_cancelled_or_completed_task_records_nothing,
        tasks::a_wait_for_task_token_submission_then_its_token_ends_the_task,

        callbacks::tokens_complete_once_with_success_or_a_caught_failure,
        callbacks::a_callback_that_beats_the_worker_starts_the_task_itself,
        callbacks::heartbeats_keep_a_task_alive_and_silence_times_it_out,
        callbacks::an_activity_task_goes_to_exactly_one_poller_oldest_first,
        callbacks::an_activity_task_nobody_takes_times_out_and_is_withdrawn,
        callbacks::stopping_an_execution_closes_its_tokens_and_withdraws_activity_tasks,

        map_children::map_children_start_in_the_parents_commit_under_max_concurrency,
        map_children::a_stopped_parent_aborts_its_map_children,
        map_runs::a_map_run_counts_its_items_and_ends_with_its_map,
        map_runs::a_map_run_is_aborted_when_its_execution_stops,
        map_runs::an_update_raises_the_concurrency_of_a_running_map_run,
        map_runs::a_redrive_runs_the_failed_map_run_again_and_counts_it,
        map_runs::a_timed_out_child_is_counted_apart_from_the_failed,

        nested::sync2_returns_the_child_output_as_json,
        nested::sync_returns_the_child_output_as_text,
        nested::request_response_answers_the_start_and_the_child_runs_on_its_own,
        nested::a_refused_child_start_fails_with_the_step_functions_exception,
        nested::a_failed_child_fails_the_task_with_states_task_failed,
        nested::stopping_the_parent_stops_its_sync_child,

        catalog::create_is_created_then_existing_or_conflict,
        catalog::update_changes_new_executions_only,
        catalog::delete_stops_running_executions_then_the_machine_is_gone,
        catalog::delete_without_running_executions_is_immediate,
        versions::publish_is_idempotent_per_revision_and_never_reuses_a_number,
        versions::create_and_update_publish_in_the_same_write,
        versions::a_version_runs_its_own_definition_and_executions_record_it,
        versions::aliases_route_to_versions_and_keep_them_from_deletion,
        catalog::state_machines_list_in_arn_order_and_page,
        catalog::activities_create_once_describe_list_and_delete,
        catalog::tags_add_overwrite_refuse_too_many_and_remove,

        observe::the_backlog_counts_ready_events_and_waiting_tasks,
        observe::a_migrated_store_is_ready,
        observe::doorbells_ring_after_the_writes_that_concern_them,
        versions::the_catalog_generation_moves_with_each_change_a_start_reads,
        schedules::replicas_firing_at_once_start_each_occurrence_once,
        schedules::a_disabled_schedule_does_not_fire_and_delete_after_completion_removes_it,
        schedules::a_refused_start_is_queued_then_dead_lettered,
        schedules::scheduled_rules_fire_once_across_replicas,
        schedules::new_schedules_and_deliveries_ring_the_events_doorbell,
    }
}
