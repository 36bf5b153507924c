//! [`SessionRepo`] on SQL: the `sessions` and `refresh_tokens` tables (see
//! `migrations/*/0002_users_sessions.sql`).
//!
//! Rotation is one transaction. Its first statement reads the session only if
//! it is live (not revoked, not expired at `now`); on Postgres it also locks
//! the row `FOR SHARE`, which a revoking `UPDATE` (logout, password reset)
//! has to wait for, and which waits for a revoking `UPDATE` in progress and
//! then re-checks the condition on the row as committed. So a revocation that
//! committed before the rotation is always seen, and one that comes later waits
//! for the rotation to commit and then revokes the new token's session too.
//! Its second statement is the conditional
//! `UPDATE … WHERE hash = old AND session_id = new's AND rotated_at IS NULL`:
//! whichever request marks the old token rotated wins and stores the new one;
//! every other one finds no row to mark, rolls back and answers `false`.
//! On Postgres the losers wait on the winner's row lock and then re-check the
//! condition (the shared session locks do not conflict with each other); on
//! SQLite the transaction is `BEGIN IMMEDIATE`, so writers queue for the write
//! lock (under the busy timeout) instead of failing to upgrade a read lock, and
//! no revocation can commit between the two statements.

use async_trait::async_trait;
use tozalash_domain::{
    Id, RefreshToken, RepoError, Session, SessionRepo, Timestamp, TokenHash, User,
};

use crate::error::translate;
use crate::time::StoredTime;
use crate::users::{user_columns, UserRow};
use crate::{on_pool, Pool};

const INSERT_SESSION: &str = "\
    INSERT INTO sessions (id, user_id, created_at, expires_at, revoked_at) \
    VALUES ($1, $2, $3, $4, $5)";

const INSERT_TOKEN: &str = "\
    INSERT INTO refresh_tokens (hash, session_id, created_at, rotated_at) \
    VALUES ($1, $2, $3, $4)";

/// A token with its session, in one round trip.
const FIND_TOKEN: &str = "\
    SELECT t.hash, t.session_id, t.created_at AS token_created_at, t.rotated_at, \
           s.user_id, s.created_at AS session_created_at, s.expires_at, s.revoked_at \
    FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
    WHERE t.hash = $1";

/// The condition that the session `$session` is the user `$user`'s, not
/// revoked, and not expired at `$now` (a session expiring exactly then is
/// over): what a live session is, for [`LIVE_USER`] and for the write that
/// places an order (`orders.rs`).
macro_rules! session_live {
    ($session:literal, $user:literal, $now:literal) => {
        concat!(
            "EXISTS (SELECT 1 FROM sessions WHERE id = ",
            $session,
            " AND user_id = ",
            $user,
            " AND revoked_at IS NULL AND expires_at > ",
            $now,
            ")"
        )
    };
}
pub(crate) use session_live;

/// The user of a live session: two primary-key lookups in one statement, asked
/// on every write request, so a revoked session, a deleted user or a new role
/// counts at once. `$3` is now.
const LIVE_USER: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE id = $2 AND ",
    session_live!("$1", "$2", "$3")
);

/// Marks `$1` rotated at `$2` if it is still the current token of session `$3`.
/// The session in the condition keeps "same session" true: a new token of
/// another session claims nothing (as on MongoDB).
const MARK_ROTATED: &str = "\
    UPDATE refresh_tokens SET rotated_at = $2 \
    WHERE hash = $1 AND session_id = $3 AND rotated_at IS NULL";

/// The session `$1` if it is live at `$2`, on SQLite (where the transaction
/// already holds the database's write lock).
const LIVE_SESSION_PLAIN: &str = "\
    SELECT id FROM sessions WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2";

/// The same on Postgres, locking the row against a concurrent revocation until
/// the transaction ends. `FOR SHARE` conflicts with the revoking `UPDATE` but
/// neither with another rotation's lock nor with the foreign key check of the
/// new token's insert.
const LIVE_SESSION_LOCKED: &str = "\
    SELECT id FROM sessions WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2 \
    FOR SHARE";

const REVOKE: &str = "\
    UPDATE sessions SET revoked_at = $2 \
    WHERE id = $1 AND revoked_at IS NULL";

/// `$2` is the session to keep, or NULL.
const REVOKE_ALL_FOR_USER: &str = "\
    UPDATE sessions SET revoked_at = $3 \
    WHERE user_id = $1 AND revoked_at IS NULL AND ($2 IS NULL OR id <> $2)";

/// How each backend starts a transaction that is going to write.
pub(crate) trait WriteTransaction: sqlx::Database {
    const BEGIN: &'static str;
    /// Reads a live session and keeps it live until the transaction ends.
    const LIVE_SESSION: &'static str;
}

impl WriteTransaction for sqlx::Postgres {
    // Row locks do the queueing; READ COMMITTED re-checks a conditional UPDATE's
    // WHERE after waiting for a concurrent writer of the same row.
    const BEGIN: &'static str = "BEGIN";
    const LIVE_SESSION: &'static str = LIVE_SESSION_LOCKED;
}

impl WriteTransaction for sqlx::Sqlite {
    // Takes the write lock at once (waiting under the busy timeout), so two
    // writers never both hold a read snapshot and then fail to upgrade it.
    const BEGIN: &'static str = "BEGIN IMMEDIATE";
    const LIVE_SESSION: &'static str = LIVE_SESSION_PLAIN;
}

/// The `WriteTransaction` of a pool, to name its constants inside `on_pool!`.
fn live_session_query<DB: WriteTransaction>(_: &sqlx::Pool<DB>) -> &'static str {
    DB::LIVE_SESSION
}

/// A transaction on a pooled connection, ready to write. Dropped without a
/// commit, it rolls back.
pub(crate) async fn begin_write<DB: WriteTransaction>(
    pool: &sqlx::Pool<DB>,
) -> Result<sqlx::Transaction<'static, DB>, RepoError> {
    pool.begin_with(DB::BEGIN).await.map_err(translate)
}

/// A refresh token joined with its session; `T` is the backend's timestamp type.
#[derive(sqlx::FromRow)]
struct TokenRow<T> {
    hash: String,
    session_id: String,
    token_created_at: T,
    rotated_at: Option<T>,
    user_id: String,
    session_created_at: T,
    expires_at: T,
    revoked_at: Option<T>,
}

impl<T: StoredTime> TokenRow<T> {
    /// The stored rows as domain values; a value that breaks a domain rule (which
    /// only a hand edit of the database can make) is a failure, not a panic.
    fn into_domain(self) -> Result<(RefreshToken, Session), RepoError> {
        let session = self.session_id;
        let corrupt = |what: &str| {
            RepoError::Failed(format!("stored session {session:?} has an invalid {what}").into())
        };
        let session_id = Id::parse(&session).map_err(|_| corrupt("id"))?;
        let token = RefreshToken {
            hash: TokenHash::from_hex(&self.hash).ok_or_else(|| corrupt("token hash"))?,
            session_id,
            created_at: self.token_created_at.load()?,
            rotated_at: self.rotated_at.map(StoredTime::load).transpose()?,
        };
        let session = Session {
            id: session_id,
            user_id: Id::parse(&self.user_id).map_err(|_| corrupt("user id"))?,
            created_at: self.session_created_at.load()?,
            expires_at: self.expires_at.load()?,
            revoked_at: self.revoked_at.map(StoredTime::load).transpose()?,
        };
        Ok((token, session))
    }
}

/// Sessions and refresh tokens in the `sessions` and `refresh_tokens` tables.
#[derive(Debug)]
pub(crate) struct SqlSessionRepo {
    pool: Pool,
}

impl SqlSessionRepo {
    pub(crate) fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl SessionRepo for SqlSessionRepo {
    async fn create(&self, session: &Session, token: &RefreshToken) -> Result<(), RepoError> {
        on_pool!(&self.pool, |db, Time| {
            let mut tx = begin_write(db).await?;
            sqlx::query(INSERT_SESSION)
                .bind(session.id.to_hex())
                .bind(session.user_id.to_hex())
                .bind(Time::store(session.created_at))
                .bind(Time::store(session.expires_at))
                .bind(session.revoked_at.map(Time::store))
                .execute(&mut *tx)
                .await
                .map_err(translate)?;
            sqlx::query(INSERT_TOKEN)
                .bind(token.hash.to_hex())
                .bind(token.session_id.to_hex())
                .bind(Time::store(token.created_at))
                .bind(token.rotated_at.map(Time::store))
                .execute(&mut *tx)
                .await
                .map_err(translate)?;
            tx.commit().await.map_err(translate)
        })
    }

    async fn find_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(RefreshToken, Session)>, RepoError> {
        on_pool!(&self.pool, |db, Time| {
            sqlx::query_as::<_, TokenRow<Time>>(FIND_TOKEN)
                .bind(hash.to_hex())
                .fetch_optional(db)
                .await
                .map_err(translate)?
                .map(TokenRow::into_domain)
                .transpose()
        })
    }

    async fn rotate(
        &self,
        old: &TokenHash,
        new: &RefreshToken,
        now: Timestamp,
    ) -> Result<bool, RepoError> {
        on_pool!(&self.pool, |db, Time| {
            let mut tx = begin_write(db).await?;
            let live = sqlx::query(live_session_query(db))
                .bind(new.session_id.to_hex())
                .bind(Time::store(now))
                .fetch_optional(&mut *tx)
                .await
                .map_err(translate)?
                .is_some();
            if !live {
                // Revoked (logout, password reset), expired, or gone.
                tx.rollback().await.map_err(translate)?;
                return Ok(false);
            }
            let claimed = sqlx::query(MARK_ROTATED)
                .bind(old.to_hex())
                .bind(Time::store(now))
                .bind(new.session_id.to_hex())
                .execute(&mut *tx)
                .await
                .map_err(translate)?
                .rows_affected()
                == 1;
            if !claimed {
                // Already rotated (another request won), never issued, or of
                // another session.
                tx.rollback().await.map_err(translate)?;
                return Ok(false);
            }
            sqlx::query(INSERT_TOKEN)
                .bind(new.hash.to_hex())
                .bind(new.session_id.to_hex())
                .bind(Time::store(new.created_at))
                .bind(new.rotated_at.map(Time::store))
                .execute(&mut *tx)
                .await
                .map_err(translate)?;
            tx.commit().await.map_err(translate)?;
            Ok(true)
        })
    }

    async fn live_user(
        &self,
        session_id: Id,
        user_id: Id,
        now: Timestamp,
    ) -> Result<Option<User>, RepoError> {
        on_pool!(&self.pool, |db, Time| {
            sqlx::query_as::<_, UserRow<Time>>(LIVE_USER)
                .bind(session_id.to_hex())
                .bind(user_id.to_hex())
                .bind(Time::store(now))
                .fetch_optional(db)
                .await
                .map_err(translate)?
                .map(UserRow::into_user)
                .transpose()
        })
    }

    async fn revoke(&self, session_id: Id, now: Timestamp) -> Result<bool, RepoError> {
        on_pool!(&self.pool, |db, Time| {
            sqlx::query(REVOKE)
                .bind(session_id.to_hex())
                .bind(Time::store(now))
                .execute(db)
                .await
                .map(|r| r.rows_affected() > 0)
        })
        .map_err(translate)
    }

    async fn revoke_all_for_user(
        &self,
        user_id: Id,
        keep: Option<Id>,
        now: Timestamp,
    ) -> Result<u64, RepoError> {
        on_pool!(&self.pool, |db, Time| {
            sqlx::query(REVOKE_ALL_FOR_USER)
                .bind(user_id.to_hex())
                .bind(keep.map(|id| id.to_hex()))
                .bind(Time::store(now))
                .execute(db)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(translate)
    }

    async fn purge_ended(&self, before: Timestamp, limit: u32) -> Result<u64, RepoError> {
        crate::retention::purge(&self.pool, crate::retention::ENDED_SESSIONS, before, limit).await
    }
}
