//! [`IdempotencyRepo`] on SQL: the `idempotency_keys` table (see
//! `migrations/*/0009_idempotency_keys.sql`).
//!
//! Claiming a key is ONE `INSERT … ON CONFLICT (user_id, key) DO UPDATE …
//! WHERE …`: the row is created, or taken over when it expired or its
//! unfinished request's lease ran out, or left alone, decided by the database
//! under the row's lock (Postgres) or the write lock (SQLite); of racing
//! claims exactly one gets a row back. The follow-up writes name the claim
//! (its `created_at` and fingerprint), so a request whose lease was taken over
//! changes nothing.

use async_trait::async_trait;
use tozalash_domain::{
    IdempotencyClaim, IdempotencyRepo, IdempotencyState, RepoError, StoredResponse, Timestamp,
};

use crate::error::translate;
use crate::time::StoredTime;
use crate::{on_pool, Pool};

const BEGIN: &str = "\
    INSERT INTO idempotency_keys \
        (user_id, key, fingerprint, created_at, locked_until, expires_at) \
    VALUES ($1, $2, $3, $4, $5, $6) \
    ON CONFLICT (user_id, key) DO UPDATE SET \
        fingerprint = excluded.fingerprint, \
        created_at = excluded.created_at, \
        locked_until = excluded.locked_until, \
        expires_at = excluded.expires_at, \
        response_status = NULL, response_type = NULL, response_body = NULL \
    WHERE idempotency_keys.expires_at <= excluded.created_at \
        OR (idempotency_keys.response_status IS NULL \
            AND idempotency_keys.fingerprint = excluded.fingerprint \
            AND idempotency_keys.locked_until <= excluded.created_at) \
    RETURNING user_id";

/// The record of key `$2` of user `$1`, after a claim that did not start.
const FIND: &str = "\
    SELECT fingerprint, response_status, response_type, response_body \
    FROM idempotency_keys WHERE user_id = $1 AND key = $2";

/// Stores the answer of the running request that claimed at `$3` with fingerprint `$4`.
const COMPLETE: &str = "\
    UPDATE idempotency_keys \
    SET response_status = $5, response_type = $6, response_body = $7 \
    WHERE user_id = $1 AND key = $2 AND created_at = $3 AND fingerprint = $4 \
        AND response_status IS NULL";

const RELEASE: &str = "\
    DELETE FROM idempotency_keys \
    WHERE user_id = $1 AND key = $2 AND created_at = $3 AND fingerprint = $4 \
        AND response_status IS NULL";

/// How often a claim is retried when the record it lost to vanished before
/// it could be read (released or purged in between).
const ATTEMPTS: usize = 3;

#[derive(sqlx::FromRow)]
struct RecordRow {
    fingerprint: String,
    response_status: Option<i32>,
    response_type: Option<String>,
    response_body: Option<String>,
}

impl RecordRow {
    fn state(self, claim: &IdempotencyClaim) -> Result<IdempotencyState, RepoError> {
        if self.fingerprint != claim.fingerprint.to_hex() {
            return Ok(IdempotencyState::Mismatch);
        }
        Ok(match (self.response_status, self.response_type, self.response_body) {
            (Some(status), Some(content_type), Some(body)) => {
                let status = u16::try_from(status).map_err(|_| {
                    RepoError::Failed(
                        format!("a stored response status {status} is invalid").into(),
                    )
                })?;
                IdempotencyState::Replay(StoredResponse { status, content_type, body })
            }
            _ => IdempotencyState::InProgress,
        })
    }
}

#[derive(Debug, Clone)]
pub struct SqlIdempotencyRepo {
    pool: Pool,
}

impl SqlIdempotencyRepo {
    pub(crate) fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl IdempotencyRepo for SqlIdempotencyRepo {
    async fn begin(&self, claim: &IdempotencyClaim) -> Result<IdempotencyState, RepoError> {
        let (user, key, fingerprint) =
            (claim.user_id.to_hex(), claim.key.as_str(), claim.fingerprint.to_hex());
        for _ in 0..ATTEMPTS {
            let found = on_pool!(&self.pool, |db, Time| {
                let started = sqlx::query_scalar::<_, String>(BEGIN)
                    .bind(&user)
                    .bind(key)
                    .bind(&fingerprint)
                    .bind(Time::store(claim.now))
                    .bind(Time::store(claim.locked_until))
                    .bind(Time::store(claim.expires_at))
                    .fetch_optional(db)
                    .await
                    .map_err(translate)?;
                if started.is_some() {
                    return Ok(IdempotencyState::Started);
                }
                sqlx::query_as::<_, RecordRow>(FIND)
                    .bind(&user)
                    .bind(key)
                    .fetch_optional(db)
                    .await
                    .map_err(translate)?
            });
            if let Some(record) = found {
                return record.state(claim);
            }
        }
        Err(RepoError::Failed("an idempotency key kept vanishing while it was claimed".into()))
    }

    async fn complete(
        &self,
        claim: &IdempotencyClaim,
        response: &StoredResponse,
    ) -> Result<(), RepoError> {
        on_pool!(&self.pool, |db, Time| {
            sqlx::query(COMPLETE)
                .bind(claim.user_id.to_hex())
                .bind(claim.key.as_str())
                .bind(Time::store(claim.now))
                .bind(claim.fingerprint.to_hex())
                .bind(i32::from(response.status))
                .bind(&response.content_type)
                .bind(&response.body)
                .execute(db)
                .await
                .map(|_| ())
        })
        .map_err(translate)
    }

    async fn release(&self, claim: &IdempotencyClaim) -> Result<(), RepoError> {
        on_pool!(&self.pool, |db, Time| {
            sqlx::query(RELEASE)
                .bind(claim.user_id.to_hex())
                .bind(claim.key.as_str())
                .bind(Time::store(claim.now))
                .bind(claim.fingerprint.to_hex())
                .execute(db)
                .await
                .map(|_| ())
        })
        .map_err(translate)
    }

    async fn purge_expired(&self, now: Timestamp, limit: u32) -> Result<u64, RepoError> {
        let statement = crate::retention::EXPIRED_IDEMPOTENCY_KEYS;
        crate::retention::purge(&self.pool, statement, now, limit).await
    }
}
