//! The one storage conformance suite. Every repository adapter runs the same
//! test functions, each against a fresh, isolated database:
//!
//! ```text
//! async fn backend() -> tozalash_store_tests::TestBackend { /* fresh database */ }
//! tozalash_store_tests::conformance_suite!();
//! ```
//!
//! The functions here state the promises written on the ports in
//! `tozalash_domain::ports`; an adapter that passes them behaves like every other.

use std::future::Future;
use std::pin::Pin;

pub use tozalash_domain::Repositories;

pub mod bulk;
pub mod email_tokens;
pub mod idempotency;
pub mod orders;
pub mod outbox;
pub mod retention;
pub mod secrets;
pub mod services;
pub mod sessions;
pub mod users;
pub mod versions;

/// The adapter under test, on a database no other test touches.
pub struct TestBackend {
    pub repos: Repositories,
    cleanup: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl std::fmt::Debug for TestBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestBackend").finish_non_exhaustive()
    }
}

impl TestBackend {
    pub fn new(repos: Repositories) -> Self {
        Self { repos, cleanup: None }
    }

    /// Runs `cleanup` (drop the database, …) after a test that passed.
    pub fn with_cleanup(mut self, cleanup: impl Future<Output = ()> + Send + 'static) -> Self {
        self.cleanup = Some(Box::pin(cleanup));
        self
    }

    pub async fn finish(self) {
        if let Some(cleanup) = self.cleanup {
            cleanup.await;
        }
    }
}

/// Expands to one `#[tokio::test]` per conformance test, grouped by port. The
/// invoking module must define `async fn backend() -> TestBackend`.
#[macro_export]
macro_rules! conformance_suite {
    () => {
        mod service_repo {
            $crate::__conformance_tests!(services:
                insert_then_get_returns_exactly_what_was_stored,
                get_of_an_unknown_id_is_none,
                insert_of_a_taken_id_is_a_duplicate,
                update_changes_only_the_patched_fields_and_advances_updated_at,
                update_of_an_unknown_id_is_none_and_creates_nothing,
                archive_hides_the_service_from_the_list_and_says_whether_it_did,
                archived_services_are_listed_apart_and_restore_brings_them_back,
                a_name_taken_ignoring_case_and_space_is_a_duplicate_even_when_archived,
                twenty_concurrent_creates_of_one_name_store_exactly_one,
                search_matches_across_alphabets_and_apostrophes,
                list_pages_carry_the_total_of_all_matches,
                list_totals_stop_counting_one_past_the_cap,
                list_search_is_case_insensitive_and_literal,
                list_sorts_by_folded_name_both_ways,
                list_sorts_by_price_both_ways_with_ties_broken_by_id,
                list_sorts_by_created_at_both_ways,
                pages_never_overlap_or_skip_when_sort_values_tie,
                health_ping_answers,
            );
        }
        mod user_repo {
            $crate::__conformance_tests!(users:
                insert_then_get_and_find_by_email_return_exactly_what_was_stored,
                a_taken_email_is_a_duplicate,
                a_taken_username_in_any_case_is_a_duplicate,
                twenty_concurrent_identical_inserts_store_exactly_one_user,
                update_changes_only_the_patched_fields_and_advances_updated_at,
                update_to_a_taken_email_or_username_is_a_duplicate_and_changes_nothing,
                update_and_delete_of_an_unknown_id_find_nothing,
                delete_removes_the_user,
                list_is_newest_first_with_totals_and_filters,
                the_pending_email_round_trips_and_is_set_left_and_cleared,
                the_locale_round_trips_and_is_set_or_left,
                find_by_pending_email_answers_the_newest_account_waiting_for_it,
                confirm_email_moves_the_pending_address_into_place_and_verifies,
                confirm_email_of_the_accounts_own_address_verifies_it_and_keeps_the_pending_one,
                confirm_email_of_a_stale_or_unknown_address_changes_nothing,
                confirm_email_of_an_address_another_account_took_is_a_duplicate_and_changes_nothing,
                the_last_admin_can_be_neither_demoted_nor_deleted,
                an_admin_can_be_demoted_or_deleted_while_another_remains,
                two_admins_removing_each_other_at_once_leave_exactly_one,
                the_mail_slot_is_taken_once_per_interval,
                a_released_mail_slot_is_free_again_unless_claimed_since,
                concurrent_claims_of_the_mail_slot_have_exactly_one_winner,
            );
        }
        mod order_repo {
            $crate::__conformance_tests!(orders:
                insert_then_get_returns_exactly_what_was_stored,
                insert_of_a_taken_id_is_a_duplicate,
                a_status_change_is_conditional_on_the_current_status,
                racing_status_changes_have_exactly_one_winner,
                details_change_only_while_pending,
                list_is_newest_first_with_totals_and_the_owner_filter,
                list_filters_by_status_service_and_creation_time,
                snapshots_survive_service_updates_and_deletes,
                delete_removes_one_order,
                the_customers_name_stays_after_the_customer_is_deleted,
                list_filters_and_sorts_by_visit_time,
                a_completed_order_is_never_deleted,
                cancel_pending_of_user_leaves_finished_and_others_orders_alone,
                an_order_for_a_missing_user_is_refused_and_not_stored,
                an_order_and_its_mail_are_stored_together_or_not_at_all,
                an_order_is_stored_only_while_its_service_snapshot_is_current,
                an_order_is_stored_only_in_a_live_session_from_the_current_account,
                a_status_mail_is_queued_only_with_a_move_that_matched,
                racing_deletion_and_order_never_leave_a_pending_order_without_its_user,
            );
        }
        mod versions {
            $crate::__conformance_tests!(versions:
                a_service_starts_at_version_one_and_each_update_raises_it,
                a_stale_service_version_changes_nothing_and_is_a_mismatch,
                concurrent_service_updates_expecting_one_version_have_one_winner,
                a_user_starts_at_version_one_and_each_write_raises_it,
                a_stale_user_version_changes_nothing_and_is_a_mismatch,
                concurrent_user_updates_expecting_one_version_have_one_winner,
                an_order_starts_at_version_one_and_each_change_raises_it,
                a_stale_order_version_changes_nothing_and_is_a_mismatch,
                concurrent_order_changes_expecting_one_version_have_one_winner,
            );
        }
        mod email_token_repo {
            $crate::__conformance_tests!(email_tokens:
                a_token_is_found_and_consumed_once,
                a_token_serves_only_its_purpose_and_only_until_it_expires,
                concurrent_uses_of_one_token_have_exactly_one_winner,
                invalidate_kills_the_users_unused_tokens_of_one_purpose,
            );
        }
        mod outbox {
            $crate::__conformance_tests!(outbox:
                an_enqueued_message_reads_back_exactly,
                claiming_takes_due_messages_oldest_first_and_leases_them,
                concurrent_claims_never_hand_out_a_message_twice,
                sent_and_dead_messages_leave_the_backlog_and_drop_their_body,
                a_stale_worker_cannot_touch_a_message_another_worker_holds,
                a_message_that_is_no_longer_pending_is_never_rescheduled_or_demoted,
                every_failed_attempt_counts_once,
                renewing_extends_the_lease_of_a_held_message,
                release_makes_a_message_due_at_once_and_only_with_its_token,
            );
        }
        mod idempotency_repo {
            $crate::__conformance_tests!(idempotency:
                a_key_runs_once_then_replays_its_answer,
                keys_belong_to_one_user,
                a_released_key_runs_again,
                a_crashed_request_is_taken_over_after_its_lease_by_the_same_body_only,
                an_expired_key_is_free_and_purged,
                expired_keys_are_purged_in_batches,
                concurrent_claims_of_one_key_have_exactly_one_winner,
            );
        }
        mod session_repo {
            $crate::__conformance_tests!(sessions:
                a_created_session_is_found_by_its_refresh_token,
                rotation_replaces_the_current_token_and_remembers_the_old_one,
                concurrent_rotations_of_one_token_have_exactly_one_winner,
                rotation_after_a_revocation_fails,
                rotation_after_expiry_fails,
                rotations_racing_a_revocation_never_win_after_it,
                revoke_marks_one_session_revoked,
                revoke_all_for_user_spares_the_kept_session_and_other_users,
                live_user_answers_the_user_of_a_live_session_only,
            );
        }
        mod bulk_load {
            $crate::__conformance_tests!(bulk:
                bulk_loaded_records_read_back_exactly_as_given,
                a_bulk_load_that_repeats_an_e_mail_is_a_duplicate,
            );
        }
        mod secret_store {
            $crate::__conformance_tests!(secrets:
                the_first_value_stored_under_a_name_is_kept,
                concurrent_first_writers_all_get_the_same_value,
            );
        }
        mod retention {
            $crate::__conformance_tests!(retention:
                purge_ended_removes_sessions_ended_by_the_cut_off_and_their_tokens_only,
                a_refresh_token_whose_session_was_purged_is_unknown,
                purge_spent_removes_tokens_used_or_expired_by_the_cut_off_only,
                purge_finished_removes_sent_and_dead_mail_by_the_cut_off_only,
                every_purge_works_in_batches,
            );
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($module:ident: $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let backend = super::backend().await;
                $crate::$module::$name(&backend.repos).await;
                backend.finish().await;
            }
        )*
    };
}
