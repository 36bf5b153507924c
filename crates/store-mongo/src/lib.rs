//! MongoDB adapter: every Tozalash repository port on the official `mongodb`
//! driver. The composition root calls [`MongoStore::open`], then
//! [`MongoStore::ensure_indexes`], then hands out [`MongoStore::repositories`].
//!
//! Storage layout (see DESIGN.md §2): ids are stored natively as ObjectIds,
//! timestamps as BSON dates (milliseconds, exactly the domain's precision),
//! money as Int64, and every name is stored beside its folded form so search
//! and order are identical on every backend.

mod email_tokens;
mod error;
mod health;
mod idempotency;
mod orders;
mod outbox;
mod pages;
mod retention;
mod search;
mod services;
mod sessions;
mod users;
mod values;
mod versions;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mongodb::options::ClientOptions;
use mongodb::{Client, Database};
use tozalash_domain::{RepoError, Repositories};

use crate::email_tokens::MongoEmailTokenRepo;
use crate::error::translate;
use crate::health::MongoHealth;
use crate::orders::MongoOrderRepo;
use crate::outbox::MongoOutbox;
use crate::services::MongoServiceRepo;
use crate::sessions::MongoSessionRepo;
use crate::users::MongoUserRepo;

/// The database used when the URL names none.
pub const DEFAULT_DATABASE: &str = "tozalash";

/// How long the driver looks for a usable server before an operation fails,
/// unless the URL sets `serverSelectionTimeoutMS`. The driver's own default
/// (30 s) would leave requests and start-up hanging far too long on an outage.
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// The database to use: an explicit name, else the URL's, else the default.
fn database_name(options: &ClientOptions, explicit: Option<&str>) -> String {
    explicit.or(options.default_database.as_deref()).unwrap_or(DEFAULT_DATABASE).to_owned()
}

/// A connection pool to one MongoDB deployment and the database Tozalash uses.
/// Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct MongoStore {
    client: Client,
    db: Database,
}

impl fmt::Debug for MongoStore {
    // Only the database name: the client's options may hold credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MongoStore").field("database", &self.db.name()).finish_non_exhaustive()
    }
}

impl MongoStore {
    /// Connects for a `mongodb://` or `mongodb+srv://` URL; the database is the
    /// URL's default database, else [`DEFAULT_DATABASE`].
    ///
    /// Answers `RepoError::Unavailable` if no server answers within the server
    /// selection timeout (5 s unless the URL sets one), `RepoError::Failed` for a
    /// malformed URL or refused credentials.
    pub async fn open(url: &str) -> Result<MongoStore, RepoError> {
        Self::connect(url, None).await
    }

    /// Like [`MongoStore::open`], but uses the database `name` whatever the URL
    /// says; tests use it to give every test its own database.
    pub async fn open_database(url: &str, name: &str) -> Result<MongoStore, RepoError> {
        Self::connect(url, Some(name)).await
    }

    async fn connect(url: &str, database: Option<&str>) -> Result<MongoStore, RepoError> {
        let mut options = ClientOptions::parse(url).await.map_err(translate)?;
        options.server_selection_timeout.get_or_insert(SERVER_SELECTION_TIMEOUT);
        options.app_name.get_or_insert_with(|| "tozalash".to_owned());
        let name = database_name(&options, database);

        let client = Client::with_options(options).map_err(translate)?;
        let db = client.database(&name);
        // The driver connects lazily; one round trip now turns an unreachable or
        // misconfigured server into an error at start-up, not on the first request.
        health::ping(&db).await?;
        tracing::debug!(database = %name, "connected to MongoDB");
        Ok(MongoStore { client, db })
    }

    /// Creates every index, the guard document that keeps the last
    /// administrator (see `users.rs`) if it is missing, and the `version` of
    /// services, users and orders stored before it existed (see
    /// `versions.rs`). Idempotent:
    /// `createIndexes` with an existing name and the same keys is a no-op, and
    /// an existing guard is left as it is, so every instance may run it on
    /// every start, even concurrently. The unique indexes on `users` must exist
    /// before the first signup: they, not a read-before-write, keep e-mails and
    /// usernames unique.
    pub async fn ensure_indexes(&self) -> Result<(), RepoError> {
        let collections = [
            (services::COLLECTION, services::indexes()),
            (users::COLLECTION, users::indexes()),
            (sessions::SESSIONS, sessions::session_indexes()),
            (sessions::REFRESH_TOKENS, sessions::refresh_token_indexes()),
            (orders::COLLECTION, orders::indexes()),
            (email_tokens::COLLECTION, email_tokens::indexes()),
            (outbox::COLLECTION, outbox::indexes()),
            (idempotency::COLLECTION, idempotency::indexes()),
        ];
        for (collection, indexes) in collections.into_iter().chain(retention::indexes()) {
            self.db
                .collection::<mongodb::bson::Document>(collection)
                .create_indexes(indexes)
                .await
                .map_err(translate)?;
        }
        versions::backfill(
            &self.db,
            &[services::COLLECTION, users::COLLECTION, orders::COLLECTION],
        )
        .await?;
        users::AdminGuard::new(&self.db).ensure().await
    }

    /// Every port, as the composition root wires them.
    pub fn repositories(&self) -> Repositories {
        Repositories {
            services: Arc::new(MongoServiceRepo::new(self.db.collection(services::COLLECTION))),
            users: Arc::new(MongoUserRepo::new(
                self.db.collection(users::COLLECTION),
                users::AdminGuard::new(&self.db),
            )),
            sessions: Arc::new(MongoSessionRepo::new(
                self.db.collection(sessions::SESSIONS),
                self.db.collection(sessions::REFRESH_TOKENS),
                self.db.collection(users::COLLECTION),
            )),
            orders: Arc::new(MongoOrderRepo::new(self.db.collection(orders::COLLECTION))),
            email_tokens: Arc::new(MongoEmailTokenRepo::new(
                self.db.collection(email_tokens::COLLECTION),
            )),
            outbox: Arc::new(MongoOutbox::new(self.db.collection(outbox::COLLECTION))),
            idempotency: Arc::new(idempotency::MongoIdempotencyRepo::new(
                self.db.collection(idempotency::COLLECTION),
            )),
            health: Arc::new(MongoHealth::new(self.db.clone())),
        }
    }

    /// Drops the whole database, data and indexes; tests clean up with it.
    pub async fn drop_database(&self) -> Result<(), RepoError> {
        self.db.drop().await.map_err(translate)
    }

    /// The name of the database this store uses.
    pub fn database_name(&self) -> &str {
        self.db.name()
    }

    /// The underlying client, for the rare caller that needs the driver itself.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn options(url: &str) -> ClientOptions {
        ClientOptions::parse(url).await.expect("valid URL")
    }

    #[tokio::test]
    async fn database_is_the_explicit_name_else_the_urls_else_tozalash() {
        let with_db = options("mongodb://h:27017/shop?directConnection=true").await;
        let without = options("mongodb://h:27017/?directConnection=true").await;
        assert_eq!(database_name(&with_db, None), "shop");
        assert_eq!(database_name(&without, None), "tozalash");
        assert_eq!(database_name(&with_db, Some("t_1")), "t_1");
    }
}
