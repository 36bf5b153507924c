//! [`EmailTokenRepo`] on SQL: the `email_tokens` table (see
//! `migrations/*/0004_email_tokens_outbox.sql`).
//!
//! Using a token is ONE conditional `UPDATE … WHERE hash = $1 AND purpose = $2
//! AND used_at IS NULL AND expires_at > $3 RETURNING …`: the database decides
//! which of two racing uses matches, never a read before the write. On Postgres
//! a loser waits on the winner's row lock and then re-checks the condition (READ
//! COMMITTED), finding `used_at` set; on SQLite a writing statement takes the
//! write lock before it reads. Every statement is a fixed string shared by both
//! backends.

use std::str::FromStr;

use async_trait::async_trait;
use tozalash_domain::{
    Email, EmailToken, EmailTokenRepo, Id, RepoError, Timestamp, TokenHash, TokenPurpose,
};

use crate::error::translate;
use crate::time::StoredTime;
use crate::{on_pool, Pool};

/// The columns a [`TokenRow`] is read from, in every statement that returns tokens.
macro_rules! token_columns {
    () => {
        "hash, user_id, purpose, email, created_at, expires_at, used_at"
    };
}

const INSERT: &str = concat!(
    "INSERT INTO email_tokens (",
    token_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
);

/// The token `$1` of purpose `$2` if it is usable at `$3`.
const FIND: &str = concat!(
    "SELECT ",
    token_columns!(),
    " FROM email_tokens ",
    "WHERE hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3"
);

/// Marks the token `$1` of purpose `$2` used at `$3`, only while it is usable then.
const CONSUME: &str = concat!(
    "UPDATE email_tokens SET used_at = $3 ",
    "WHERE hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3 ",
    "RETURNING ",
    token_columns!()
);

/// Marks every unused token of user `$1` and purpose `$2` used at `$3`.
const INVALIDATE: &str = "\
    UPDATE email_tokens SET used_at = $3 \
    WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL";

/// An `email_tokens` row as selected; `T` is the backend's timestamp column type.
#[derive(sqlx::FromRow)]
struct TokenRow<T> {
    hash: String,
    user_id: String,
    purpose: String,
    email: String,
    created_at: T,
    expires_at: T,
    used_at: Option<T>,
}

impl<T: StoredTime> TokenRow<T> {
    /// The stored row as a domain value. A row that breaks a domain rule, or that
    /// the domain would have normalised differently (which only a hand edit of the
    /// database can make), is a failure, not a panic. The hash is secret-derived,
    /// so the message names the token's user, never its hash.
    fn into_token(self) -> Result<EmailToken, RepoError> {
        let user = self.user_id;
        let corrupt = |what: &str| {
            RepoError::Failed(
                format!("a stored e-mail token of user {user:?} has an invalid {what}").into(),
            )
        };
        let email = Email::parse("email", &self.email)
            .ok()
            .filter(|e| e.as_str() == self.email)
            .ok_or_else(|| corrupt("e-mail"))?;
        Ok(EmailToken {
            hash: TokenHash::from_hex(&self.hash)
                .filter(|h| h.to_hex() == self.hash)
                .ok_or_else(|| corrupt("hash"))?,
            user_id: Id::parse(&user).map_err(|_| corrupt("user id"))?,
            purpose: TokenPurpose::from_str(&self.purpose).map_err(|_| corrupt("purpose"))?,
            email,
            created_at: self.created_at.load()?,
            expires_at: self.expires_at.load()?,
            used_at: self.used_at.map(StoredTime::load).transpose()?,
        })
    }
}

/// E-mail verification and password-reset tokens in the `email_tokens` table.
#[derive(Debug)]
pub(crate) struct SqlEmailTokenRepo {
    pool: Pool,
}

impl SqlEmailTokenRepo {
    pub(crate) fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl EmailTokenRepo for SqlEmailTokenRepo {
    async fn insert(&self, token: &EmailToken) -> Result<(), RepoError> {
        on_pool!(&self.pool, |db, Time| {
            sqlx::query(INSERT)
                .bind(token.hash.to_hex())
                .bind(token.user_id.to_hex())
                .bind(token.purpose.as_str())
                .bind(token.email.as_str())
                .bind(Time::store(token.created_at))
                .bind(Time::store(token.expires_at))
                .bind(token.used_at.map(Time::store))
                .execute(db)
                .await
                .map(drop)
        })
        .map_err(translate)
    }

    async fn find(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: Timestamp,
    ) -> Result<Option<EmailToken>, RepoError> {
        on_pool!(&self.pool, |db, Time| {
            sqlx::query_as::<_, TokenRow<Time>>(FIND)
                .bind(hash.to_hex())
                .bind(purpose.as_str())
                .bind(Time::store(now))
                .fetch_optional(db)
                .await
                .map_err(translate)?
                .map(TokenRow::into_token)
                .transpose()
        })
    }

    async fn consume(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: Timestamp,
    ) -> Result<Option<EmailToken>, RepoError> {
        let used = on_pool!(&self.pool, |db, Time| {
            sqlx::query_as::<_, TokenRow<Time>>(CONSUME)
                .bind(hash.to_hex())
                .bind(purpose.as_str())
                .bind(Time::store(now))
                .fetch_optional(db)
                .await
                .map_err(translate)?
                .map(TokenRow::into_token)
                .transpose()
        })?;
        // RETURNING shows the row after the write; the token as it was before
        // it is that row unused (the condition required `used_at IS NULL`).
        Ok(used.map(|token| EmailToken { used_at: None, ..token }))
    }

    async fn invalidate(
        &self,
        user_id: Id,
        purpose: TokenPurpose,
        now: Timestamp,
    ) -> Result<u64, RepoError> {
        on_pool!(&self.pool, |db, Time| {
            sqlx::query(INVALIDATE)
                .bind(user_id.to_hex())
                .bind(purpose.as_str())
                .bind(Time::store(now))
                .execute(db)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(translate)
    }

    async fn purge_spent(&self, before: Timestamp, limit: u32) -> Result<u64, RepoError> {
        crate::retention::purge(&self.pool, crate::retention::SPENT_EMAIL_TOKENS, before, limit)
            .await
    }
}
