//! [`StorageHealth`] on SQL: one `SELECT 1`, bounded by a timeout.

use std::time::Duration;

use async_trait::async_trait;
use tozalash_domain::{RepoError, StorageHealth};

use crate::error::translate;
use crate::{on_pool, Pool};

/// The longest a readiness probe waits for the database.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Answers whether the database takes a query at all.
#[derive(Debug)]
pub(crate) struct SqlHealth {
    pool: Pool,
}

impl SqlHealth {
    pub(crate) fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl StorageHealth for SqlHealth {
    async fn ping(&self) -> Result<(), RepoError> {
        let round_trip = async {
            on_pool!(&self.pool, |db, _Time| sqlx::query("SELECT 1").execute(db).await.map(drop))
        };
        match tokio::time::timeout(PING_TIMEOUT, round_trip).await {
            Ok(outcome) => outcome.map_err(translate),
            Err(elapsed) => Err(RepoError::Unavailable(Box::new(elapsed))),
        }
    }
}
