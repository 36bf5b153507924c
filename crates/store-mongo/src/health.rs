//! [`StorageHealth`] for MongoDB: a `ping` command with a hard deadline.

use std::time::Duration;

use async_trait::async_trait;
use mongodb::bson::doc;
use mongodb::Database;
use tozalash_domain::{RepoError, StorageHealth};

use crate::error::translate;

/// How long a readiness probe may wait. Shorter than the driver's server
/// selection timeout, so a probe against a dead server answers quickly instead
/// of waiting for the driver to give up.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// The ping did not answer within [`PING_TIMEOUT`].
#[derive(Debug, thiserror::Error)]
#[error("MongoDB did not answer a ping within {PING_TIMEOUT:?}")]
struct PingTimedOut;

#[derive(Debug, Clone)]
pub(crate) struct MongoHealth {
    db: Database,
}

impl MongoHealth {
    pub(crate) fn new(db: Database) -> Self {
        Self { db }
    }
}

/// One `{ping: 1}` round trip, translated but not time-bounded.
pub(crate) async fn ping(db: &Database) -> Result<(), RepoError> {
    db.run_command(doc! { "ping": 1 }).await.map_err(translate)?;
    Ok(())
}

#[async_trait]
impl StorageHealth for MongoHealth {
    async fn ping(&self) -> Result<(), RepoError> {
        match tokio::time::timeout(PING_TIMEOUT, ping(&self.db)).await {
            Ok(result) => result,
            Err(_) => Err(RepoError::Unavailable(Box::new(PingTimedOut))),
        }
    }
}
