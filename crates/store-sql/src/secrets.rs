//! [`SecretStore`] on SQL: the `secrets` table (see
//! `migrations/*/0012_secrets.sql`).
//!
//! `get_or_insert` is `INSERT … ON CONFLICT (name) DO NOTHING`, then a read
//! back: of racing first writers exactly one inserts (on Postgres the others
//! wait for its commit on the primary key and then insert nothing; on SQLite
//! writers queue for the write lock), and all of them read the winner's value.
//! Nothing ever overwrites a stored value.

use async_trait::async_trait;
use tozalash_domain::{RepoError, SecretStore};

use crate::error::translate;
use crate::{on_pool, Pool};

const INSERT_IF_ABSENT: &str = "\
    INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING";

const FIND: &str = "SELECT value FROM secrets WHERE name = $1";

/// Named secrets in the `secrets` table.
#[derive(Debug)]
pub(crate) struct SqlSecretStore {
    pool: Pool,
}

impl SqlSecretStore {
    pub(crate) fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl SecretStore for SqlSecretStore {
    async fn get_or_insert(&self, name: &str, value: &str) -> Result<String, RepoError> {
        let stored = on_pool!(&self.pool, |db, _Time| {
            sqlx::query(INSERT_IF_ABSENT)
                .bind(name)
                .bind(value)
                .execute(db)
                .await
                .map_err(translate)?;
            sqlx::query_scalar::<_, String>(FIND)
                .bind(name)
                .fetch_optional(db)
                .await
                .map_err(translate)?
        });
        stored.ok_or_else(|| {
            RepoError::Failed(format!("the secret {name:?} vanished right after its insert").into())
        })
    }
}
