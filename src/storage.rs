//! Picks the storage adapter from `DATABASE_URL`'s scheme and prepares its
//! schema: sqlx migrations for SQLite and Postgres, indexes for MongoDB.

use anyhow::{bail, Context};
use std::time::Duration;
use tozalash_domain::Repositories;

use tozalash_store_mongo::MongoStore;
use tozalash_store_sql::SqlStore;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MongoDb,
}

impl Backend {
    pub fn of(url: &str) -> anyhow::Result<Self> {
        let scheme = url.split(':').next().unwrap_or_default();
        Ok(match scheme {
            "sqlite" => Self::Sqlite,
            "postgres" | "postgresql" => Self::Postgres,
            "mongodb" | "mongodb+srv" => Self::MongoDb,
            _ => bail!("the scheme must be sqlite:, postgres:, or mongodb:"),
        })
    }
}

/// Connects to the database and brings its schema up to date.
/// `statement_timeout` (`DB_STATEMENT_TIMEOUT_MS`) bounds each Postgres
/// statement and each MongoDB list read; SQLite has no such limit.
pub async fn open(url: &str, statement_timeout: Option<Duration>) -> anyhow::Result<Repositories> {
    match Backend::of(url)? {
        Backend::Sqlite | Backend::Postgres => {
            let options = tozalash_store_sql::OpenOptions { statement_timeout };
            let store =
                SqlStore::open_with(url, options).await.context("connecting to the database")?;
            store.migrate().await.context("migrating the database")?;
            Ok(store.repositories())
        }
        Backend::MongoDb => {
            let options = tozalash_store_mongo::OpenOptions { statement_timeout };
            let store =
                MongoStore::open_with(url, options).await.context("connecting to MongoDB")?;
            store.ensure_indexes().await.context("creating MongoDB indexes")?;
            Ok(store.repositories())
        }
    }
}
