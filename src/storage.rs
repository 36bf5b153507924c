//! Picks the storage adapter from `DATABASE_URL`'s scheme and prepares its
//! schema: sqlx migrations for SQLite and Postgres, indexes for MongoDB.

use anyhow::{bail, Context};
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
pub async fn open(url: &str) -> anyhow::Result<Repositories> {
    match Backend::of(url)? {
        Backend::Sqlite | Backend::Postgres => {
            let store = SqlStore::open(url).await.context("connecting to the database")?;
            store.migrate().await.context("migrating the database")?;
            Ok(store.repositories())
        }
        Backend::MongoDb => {
            let store = MongoStore::open(url).await.context("connecting to MongoDB")?;
            store.ensure_indexes().await.context("creating MongoDB indexes")?;
            Ok(store.repositories())
        }
    }
}
