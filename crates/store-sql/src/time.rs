//! How each backend stores a [`Timestamp`]: Postgres as `timestamptz`, SQLite as
//! INTEGER milliseconds since the Unix epoch. Domain timestamps are already whole
//! milliseconds, so both read back exactly as they were written.

use chrono::{DateTime, Utc};
use tozalash_domain::{RepoError, Timestamp};

/// A column type that holds a [`Timestamp`] on one backend.
pub(crate) trait StoredTime: Sized {
    /// The value to bind for `t`.
    fn store(t: Timestamp) -> Self;
    /// The timestamp a stored value stands for.
    fn load(self) -> Result<Timestamp, RepoError>;
}

/// Postgres: `timestamptz`, decoded by sqlx straight into UTC.
pub(crate) type PgTime = DateTime<Utc>;

impl StoredTime for PgTime {
    fn store(t: Timestamp) -> Self {
        t
    }

    fn load(self) -> Result<Timestamp, RepoError> {
        Ok(self)
    }
}

/// SQLite: milliseconds since 1970-01-01T00:00:00Z in an INTEGER column.
#[derive(Debug, Clone, Copy, sqlx::Type)]
#[sqlx(transparent)]
pub(crate) struct UnixMillis(i64);

impl StoredTime for UnixMillis {
    fn store(t: Timestamp) -> Self {
        Self(t.timestamp_millis())
    }

    fn load(self) -> Result<Timestamp, RepoError> {
        DateTime::from_timestamp_millis(self.0).ok_or_else(|| {
            RepoError::Failed(format!("stored timestamp {} ms is out of range", self.0).into())
        })
    }
}
