//! Translates what `sqlx` reports into the domain's [`RepoError`].

use sqlx::error::DatabaseError;
use sqlx::postgres::PgDatabaseError;
use sqlx::sqlite::SqliteError;
use tozalash_domain::{RepoError, UniqueKey};

/// Every unique constraint, as Postgres names it and as SQLite reports it
/// (`UNIQUE constraint failed: table.column`), with its name in business words.
/// A unique constraint missing here (a refresh token's hash, one current token
/// per session) can only break through a bug, so it stays a `Failed`.
const UNIQUE_KEYS: &[(&str, &str, UniqueKey)] = &[
    ("services_pkey", "services.id", UniqueKey::Id),
    ("services_name_key", "services.name_key", UniqueKey::ServiceName),
    ("users_pkey", "users.id", UniqueKey::Id),
    ("users_email_key", "users.email", UniqueKey::Email),
    ("users_username_key", "users.username_folded", UniqueKey::Username),
    ("sessions_pkey", "sessions.id", UniqueKey::Id),
    ("orders_pkey", "orders.id", UniqueKey::Id),
];

/// How SQLite's message for a unique violation begins; the rest names the column(s).
const SQLITE_UNIQUE_PREFIX: &str = "UNIQUE constraint failed: ";

/// The one place a `sqlx` error becomes a [`RepoError`]:
/// a known unique constraint → `Duplicate`; anything that says the database
/// cannot be reached right now (pool timeout, I/O, connection loss, server
/// shutting down, SQLite busy or unopenable) → `Unavailable`; the rest → `Failed`.
pub(crate) fn translate(err: sqlx::Error) -> RepoError {
    let unavailable = match &err {
        sqlx::Error::Database(db) => {
            if db.is_unique_violation() {
                if let Some(key) = unique_key(db.as_ref()) {
                    return RepoError::Duplicate(key);
                }
            }
            database_unavailable(db.as_ref())
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    };
    if unavailable {
        RepoError::Unavailable(Box::new(err))
    } else {
        RepoError::Failed(Box::new(err))
    }
}

/// The business name of the unique constraint `db` names, if it is one we know.
fn unique_key(db: &dyn DatabaseError) -> Option<UniqueKey> {
    UNIQUE_KEYS.iter().find_map(|&(pg_constraint, sqlite_column, key)| {
        let hit = match db.constraint() {
            Some(constraint) => constraint == pg_constraint,
            None => db.message().strip_prefix(SQLITE_UNIQUE_PREFIX) == Some(sqlite_column),
        };
        hit.then_some(key)
    })
}

/// Whether the database refused because it cannot serve right now, rather
/// than because the statement was wrong.
fn database_unavailable(db: &dyn DatabaseError) -> bool {
    if let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() {
        // 08: connection exception; 53: insufficient resources (too many
        // connections, disk full); 57P01-57P03: the server is shutting down or
        // starting up; 57014: cancelled, by `statement_timeout` (the only
        // cancellation the adapter causes).
        let code = pg.code();
        code.starts_with("08")
            || code.starts_with("53")
            || code.starts_with("57P")
            || code == "57014"
    } else if let Some(sqlite) = db.try_downcast_ref::<SqliteError>() {
        // Extended result codes keep the primary code in their low byte:
        // SQLITE_BUSY 5, SQLITE_LOCKED 6, SQLITE_IOERR 10, SQLITE_CANTOPEN 14.
        let code = sqlite.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
        matches!(code & 0xff, 5 | 6 | 10 | 14)
    } else {
        false
    }
}
