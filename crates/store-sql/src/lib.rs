//! The SQL storage adapter: every Tozalash repository port on Postgres or SQLite
//! through `sqlx`, chosen by the database URL.
//!
//! Both backends share one implementation. The SQL text is written once (sqlx's
//! SQLite driver accepts Postgres-style `$1` placeholders) and each port method
//! is written once as the body of [`on_pool!`], which compiles it for each
//! concrete pool. The only thing that differs is how a timestamp is stored: see
//! [`time`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), tozalash_domain::RepoError> {
//! let store = tozalash_store_sql::SqlStore::open("sqlite://tozalash.db?mode=rwc").await?;
//! store.migrate().await?;
//! let repos = store.repositories();
//! # Ok(()) }
//! ```

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tozalash_domain::{Id, RepoError, Repositories, Version};

/// What a list's total counts up to: [`tozalash_domain::Page::COUNT_UP_TO`], as a
/// literal for the statements (`LIMIT` in the counting subquery), so that no
/// total costs more than that many index entries or rows.
macro_rules! count_up_to {
    () => {
        "10001"
    };
}

mod bulk;
mod email_tokens;
mod error;
mod health;
mod idempotency;
mod orders;
mod outbox;
mod retention;
mod secrets;
mod services;
mod sessions;
mod time;
mod users;

use error::translate;

/// How long a request waits for a free pooled connection (or a new one) before
/// the database counts as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A pooled connection idle at least this long is pinged before it is handed
/// out; see [`ping_if_idle`].
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// The pool's health check: a connection that sat idle for
/// [`PING_AFTER_IDLE`] or longer (long enough for the server to have restarted
/// or a proxy to have dropped it) is pinged, and replaced if the ping fails.
/// One reused at once (under load) is not: a ping is a round trip of its own,
/// and sqlx's default (`test_before_acquire`) made it one per statement. A
/// connection that breaks mid-use fails that statement either way.
async fn ping_if_idle<C: sqlx::Connection>(
    conn: &mut C,
    meta: sqlx::pool::PoolConnectionMetadata,
) -> Result<bool, sqlx::Error> {
    if meta.idle_for >= PING_AFTER_IDLE {
        conn.ping().await?;
    }
    Ok(true)
}

/// How long a pooled Postgres connection may stay unused before it is closed
/// (one stays open): a burst's connections do not hold a server backend, and
/// their buffers and statement caches here, for long after it ended.
const PG_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long SQLite waits for another connection's write lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// A connection pool to one of the supported databases.
#[derive(Debug, Clone)]
enum Pool {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// Runs one body of code against whichever database `$pool` (a `&Pool`) holds.
///
/// `$db` is bound to the concrete `&PgPool` / `&SqlitePool` and `$Time` names
/// that backend's [`time::StoredTime`] type, so the body is written once and
/// type-checked for each backend. Every arm must produce the same type.
macro_rules! on_pool {
    ($pool:expr, |$db:ident, $Time:ident| $body:expr) => {
        match $pool {
            $crate::Pool::Postgres($db) => {
                #[allow(dead_code)]
                type $Time = $crate::time::PgTime;
                $body
            }
            $crate::Pool::Sqlite($db) => {
                #[allow(dead_code)]
                type $Time = $crate::time::UnixMillis;
                $body
            }
        }
    };
}
pub(crate) use on_pool;

/// What a write conditional on the version `expected` that matched nothing
/// means: `VersionMismatch` if the row `id` exists at another version, else
/// `None` (no such row, or another condition of the write did not hold).
/// `version_of` selects the version of the row `$1`. It only explains a
/// refusal: the condition itself was part of the write.
async fn not_found_or_stale<T>(
    pool: &Pool,
    version_of: &str,
    id: Id,
    expected: Version,
) -> Result<Option<T>, RepoError> {
    let stored = on_pool!(pool, |db, _Time| {
        sqlx::query_scalar::<_, i64>(version_of)
            .bind(id.to_hex())
            .fetch_optional(db)
            .await
            .map_err(translate)?
    });
    match stored {
        Some(version) if version != expected.get() => Err(RepoError::VersionMismatch),
        _ => Ok(None),
    }
}

/// The SQL store: a Postgres or SQLite connection pool that every port shares.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: Pool,
}

/// How [`SqlStore::open_with`] sets up its connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// Postgres's `statement_timeout` on every pooled connection: a statement
    /// running longer is cancelled by the server and reported as
    /// [`RepoError::Unavailable`]. Migrations run without it. SQLite has no
    /// statement timeout, so it ignores this.
    pub statement_timeout: Option<Duration>,
}

impl SqlStore {
    /// Opens a pool for a `postgres://` / `postgresql://` or `sqlite:` URL and
    /// makes one connection to prove the database is there.
    ///
    /// SQLite connections use WAL journalling, `synchronous=NORMAL`, a 5-second
    /// busy timeout and foreign keys; the file is created only when the URL asks
    /// for it (`?mode=rwc`).
    ///
    /// A database that refuses connections is retried for up to 10 seconds (so
    /// the app may start alongside it), then is [`RepoError::Unavailable`]; a
    /// malformed URL or an unsupported scheme is [`RepoError::Failed`].
    pub async fn open(url: &str) -> Result<SqlStore, RepoError> {
        Self::open_with(url, OpenOptions::default()).await
    }

    /// [`SqlStore::open`], with `options`.
    pub async fn open_with(url: &str, options: OpenOptions) -> Result<SqlStore, RepoError> {
        let statement_timeout = options.statement_timeout;
        let pool = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut options = PgConnectOptions::from_str(url).map_err(translate)?;
            if let Some(timeout) = statement_timeout {
                // A startup parameter: set on each connection as it is made,
                // after any `options` the URL gives.
                let millis = timeout.as_millis().max(1);
                options = options.options([("statement_timeout", millis)]);
            }
            let pool = PgPoolOptions::new()
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .test_before_acquire(false)
                .before_acquire(|conn, meta| Box::pin(ping_if_idle(conn, meta)))
                .idle_timeout(PG_IDLE_TIMEOUT)
                .min_connections(1)
                .connect_with(options)
                .await
                .map_err(translate)?;
            Pool::Postgres(pool)
        } else if url.starts_with("sqlite:") {
            // `from_str` honours the URL's own parameters, `mode=rwc` included.
            let options = SqliteConnectOptions::from_str(url)
                .map_err(translate)?
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .test_before_acquire(false)
                .before_acquire(|conn, meta| Box::pin(ping_if_idle(conn, meta)))
                .connect_with(options)
                .await
                .map_err(translate)?;
            Pool::Sqlite(pool)
        } else {
            // The URL itself stays out of the error: it may hold a password.
            return Err(RepoError::Failed(
                "unsupported database URL: expected postgres://, postgresql:// or sqlite:".into(),
            ));
        };
        Ok(SqlStore { pool })
    }

    /// Brings the schema up to date with the migrations embedded for this
    /// backend, then fills what SQL cannot compute: the catalogue's name and
    /// search keys of services stored before they existed (see
    /// `migrations/*/0014_catalogue_keys_archive.sql`). Running it again, or
    /// from several processes at once, is safe.
    pub async fn migrate(&self) -> Result<(), RepoError> {
        let outcome = match &self.pool {
            Pool::Postgres(pool) => {
                // On a connection of its own, without the statement timeout (a
                // migration may rightly take long); it is closed afterwards,
                // never returned to the pool.
                let mut conn = pool.acquire().await.map_err(translate)?.detach();
                sqlx::query("SET statement_timeout = 0")
                    .execute(&mut conn)
                    .await
                    .map_err(translate)?;
                POSTGRES_MIGRATIONS.run(&mut conn).await
            }
            Pool::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await,
        };
        outcome.map_err(|err| match err {
            MigrateError::Execute(err) | MigrateError::ExecuteMigration(err, _) => translate(err),
            other => RepoError::Failed(Box::new(other)),
        })?;
        let filled = services::backfill_keys(&self.pool).await?;
        if filled > 0 {
            tracing::info!(services = filled, "gave existing services their name and search keys");
        }
        Ok(())
    }

    /// Every port, sharing this store's pool.
    pub fn repositories(&self) -> Repositories {
        Repositories {
            services: Arc::new(services::SqlServiceRepo::new(self.pool.clone())),
            users: Arc::new(users::SqlUserRepo::new(self.pool.clone())),
            sessions: Arc::new(sessions::SqlSessionRepo::new(self.pool.clone())),
            orders: Arc::new(orders::SqlOrderRepo::new(self.pool.clone())),
            email_tokens: Arc::new(email_tokens::SqlEmailTokenRepo::new(self.pool.clone())),
            outbox: Arc::new(outbox::SqlOutbox::new(self.pool.clone())),
            idempotency: Arc::new(idempotency::SqlIdempotencyRepo::new(self.pool.clone())),
            secrets: Arc::new(secrets::SqlSecretStore::new(self.pool.clone())),
            health: Arc::new(health::SqlHealth::new(self.pool.clone())),
            bulk: Arc::new(bulk::SqlBulkLoad::new(self.pool.clone())),
        }
    }

    /// Runs one statement through the pool and the adapter's error
    /// translation, as the ports do; for tests of the connection settings.
    #[doc(hidden)]
    pub async fn execute_raw(&self, sql: &str) -> Result<(), RepoError> {
        on_pool!(&self.pool, |db, _Time| sqlx::query(sql).execute(db).await.map(drop))
            .map_err(translate)
    }

    /// Closes every connection, waiting for queries in flight (SQLite also
    /// checkpoints its write-ahead log). The ports stop working afterwards; call
    /// it on shutdown.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Postgres(pool) => pool.close().await,
            Pool::Sqlite(pool) => pool.close().await,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn totals_count_up_to_one_past_the_domain_cap() {
        assert_eq!(
            count_up_to!().parse::<u64>().ok(),
            Some(tozalash_domain::Page::<()>::COUNT_UP_TO)
        );
    }
}
