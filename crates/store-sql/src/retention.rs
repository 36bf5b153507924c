//! Retention on SQL: the batched deletes behind `SessionRepo::purge_ended`,
//! `EmailTokenRepo::purge_spent`, `Outbox::purge_finished` and
//! `IdempotencyRepo::purge_expired` (indexes: `migrations/*/0011_retention.sql`).
//!
//! Each is ONE statement, `DELETE … WHERE <past retention> AND key IN (SELECT
//! key … WHERE <past retention> LIMIT $2)`: the inner SELECT picks at most one
//! batch through an index on the time that decides it, and the outer WHERE
//! repeats the condition, so a row that changed between the two (an
//! idempotency key taken again) is left alone. `$1` is the cut-off time and
//! `$2` the batch size. Deleting rows past retention is idempotent: two
//! instances purging at once delete each row once between them.

use tozalash_domain::{RepoError, Timestamp};

use crate::error::translate;
use crate::time::StoredTime;
use crate::{on_pool, Pool};

/// Sessions revoked or expired at `$1` or earlier. Their refresh tokens go
/// with them in the same statement, by the foreign key's `ON DELETE CASCADE`
/// (served by `refresh_tokens_session_id`).
pub(crate) const ENDED_SESSIONS: &str = "\
    DELETE FROM sessions WHERE (expires_at <= $1 OR revoked_at <= $1) AND id IN \
    (SELECT id FROM sessions WHERE expires_at <= $1 OR revoked_at <= $1 LIMIT $2)";

/// E-mail tokens used or expired at `$1` or earlier.
pub(crate) const SPENT_EMAIL_TOKENS: &str = "\
    DELETE FROM email_tokens WHERE (used_at <= $1 OR expires_at <= $1) AND hash IN \
    (SELECT hash FROM email_tokens WHERE used_at <= $1 OR expires_at <= $1 LIMIT $2)";

/// SENT or DEAD mail created at `$1` or earlier (`status <> 'PENDING'` is
/// the predicate of the partial index `outbox_finished_created_at`).
pub(crate) const FINISHED_MAIL: &str = "\
    DELETE FROM outbox WHERE status <> 'PENDING' AND created_at <= $1 AND id IN \
    (SELECT id FROM outbox WHERE status <> 'PENDING' AND created_at <= $1 \
     ORDER BY created_at LIMIT $2)";

/// Idempotency records expired at `$1` or earlier.
pub(crate) const EXPIRED_IDEMPOTENCY_KEYS: &str = "\
    DELETE FROM idempotency_keys WHERE expires_at <= $1 AND (user_id, key) IN \
    (SELECT user_id, key FROM idempotency_keys WHERE expires_at <= $1 \
     ORDER BY expires_at LIMIT $2)";

/// Runs one of the deletes above with the cut-off `before` and at most
/// `limit` rows; answers how many rows it deleted.
pub(crate) async fn purge(
    pool: &Pool,
    statement: &'static str,
    before: Timestamp,
    limit: u32,
) -> Result<u64, RepoError> {
    on_pool!(pool, |db, Time| {
        sqlx::query(statement)
            .bind(Time::store(before))
            .bind(i64::from(limit))
            .execute(db)
            .await
            .map(|done| done.rows_affected())
    })
    .map_err(translate)
}
