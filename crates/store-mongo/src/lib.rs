//! MongoDB adapter: every Tozalash repository port on the official `mongodb`
//! driver. The composition root calls [`MongoStore::open`], then
//! [`MongoStore::ensure_indexes`], then hands out [`MongoStore::repositories`].
//!
//! Storage layout (see DESIGN.md §2): ids are stored natively as ObjectIds,
//! timestamps as BSON dates (milliseconds, exactly the domain's precision),
//! money as Int64, and every name is stored beside its folded form so search
//! and order are identical on every backend.

mod bulk;
mod email_tokens;
mod error;
mod health;
mod idempotency;
mod orders;
mod outbox;
mod pages;
mod retention;
mod search;
mod secrets;
mod services;
mod sessions;
mod users;
mod values;
mod versions;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mongodb::options::{Acknowledgment, ClientOptions, ReadConcern, WriteConcern};
use mongodb::{Client, Database};
use tozalash_domain::{RepoError, Repositories};

use crate::email_tokens::MongoEmailTokenRepo;
use crate::error::translate;
use crate::health::MongoHealth;
use crate::orders::MongoOrderRepo;
use crate::outbox::MongoOutbox;
use crate::pages::ReadLimit;
use crate::services::MongoServiceRepo;
use crate::sessions::MongoSessionRepo;
use crate::users::MongoUserRepo;

/// The database used when the URL names none.
pub const DEFAULT_DATABASE: &str = "tozalash";

/// How long the driver looks for a usable server before an operation fails,
/// unless the URL sets `serverSelectionTimeoutMS`. The driver's own default
/// (30 s) would leave requests and start-up hanging far too long on an outage.
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a write waits for a majority of the replica set before it fails
/// (`wtimeout`), unless the URL sets its own write concern.
const MAJORITY_TIMEOUT: Duration = Duration::from_secs(10);

/// The options every connection gets, unless the URL says otherwise.
///
/// - Writes are acknowledged by a majority of the replica set (`w:
///   "majority"`, journaled), so an acknowledged rotation, status change or
///   claim cannot be rolled back at a failover; with the server's default
///   (which can be `w: 1`) it could.
/// - Reads use the `"majority"` read concern, so they never see a write
///   that could still be rolled back, and do see every write acknowledged
///   as above.
/// - A server is looked for for 5 s at most (see [`SERVER_SELECTION_TIMEOUT`]).
fn configure(options: &mut ClientOptions) {
    options.server_selection_timeout.get_or_insert(SERVER_SELECTION_TIMEOUT);
    options.app_name.get_or_insert_with(|| "tozalash".to_owned());
    options.write_concern.get_or_insert_with(|| {
        WriteConcern::builder()
            .w(Acknowledgment::Majority)
            .journal(true)
            .w_timeout(MAJORITY_TIMEOUT)
            .build()
    });
    options.read_concern.get_or_insert_with(ReadConcern::majority);
}

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
    read_limit: ReadLimit,
}

/// How [`MongoStore::open_with`] sets up the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// `maxTimeMS` on the reads whose cost grows with the data (every list
    /// and search: its count and its find); one over it fails as
    /// [`RepoError::Unavailable`].
    pub statement_timeout: Option<Duration>,
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
        Self::connect(url, None, OpenOptions::default()).await
    }

    /// [`MongoStore::open`], with `options`.
    pub async fn open_with(url: &str, options: OpenOptions) -> Result<MongoStore, RepoError> {
        Self::connect(url, None, options).await
    }

    /// Like [`MongoStore::open`], but uses the database `name` whatever the URL
    /// says; tests use it to give every test its own database.
    pub async fn open_database(url: &str, name: &str) -> Result<MongoStore, RepoError> {
        Self::connect(url, Some(name), OpenOptions::default()).await
    }

    async fn connect(
        url: &str,
        database: Option<&str>,
        open: OpenOptions,
    ) -> Result<MongoStore, RepoError> {
        let mut options = ClientOptions::parse(url).await.map_err(translate)?;
        configure(&mut options);
        let name = database_name(&options, database);

        let client = Client::with_options(options).map_err(translate)?;
        let db = client.database(&name);
        // The driver connects lazily; one round trip now turns an unreachable or
        // misconfigured server into an error at start-up, not on the first request.
        health::ping(&db).await?;
        tracing::debug!(database = %name, "connected to MongoDB");
        Ok(MongoStore { client, db, read_limit: ReadLimit(open.statement_timeout) })
    }

    /// Creates every index, the guard document that keeps the last
    /// administrator (see `users.rs`) if it is missing, and the `version` of
    /// services, users and orders stored before it existed (see
    /// `versions.rs`), the customer names of older orders (see
    /// `orders::backfill`), and the name and search keys of services stored
    /// before those existed (see `services::backfill_keys`). Idempotent:
    /// `createIndexes` with an existing name and the same keys is a no-op, and
    /// an existing guard is left as it is, so every instance may run it on
    /// every start, even concurrently. The unique indexes on `users` must exist
    /// before the first signup: they, not a read-before-write, keep e-mails and
    /// usernames unique.
    pub async fn ensure_indexes(&self) -> Result<(), RepoError> {
        // Before the unique index on `nameKey` (see `services::backfill_keys`).
        services::backfill_keys(&self.db).await?;
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
        orders::backfill(
            &self.db.collection(orders::COLLECTION),
            &self.db.collection(users::COLLECTION),
        )
        .await?;
        users::AdminGuard::new(&self.db).ensure().await
    }

    /// Every port, as the composition root wires them.
    pub fn repositories(&self) -> Repositories {
        Repositories {
            services: Arc::new(MongoServiceRepo::new(
                self.db.collection(services::COLLECTION),
                self.read_limit,
            )),
            users: Arc::new(MongoUserRepo::new(
                self.db.collection(users::COLLECTION),
                users::AdminGuard::new(&self.db),
                self.read_limit,
            )),
            sessions: Arc::new(MongoSessionRepo::new(
                self.db.collection(sessions::SESSIONS),
                self.db.collection(sessions::REFRESH_TOKENS),
                self.db.collection(users::COLLECTION),
            )),
            orders: Arc::new(MongoOrderRepo::new(
                self.db.collection(orders::COLLECTION),
                self.db.collection(users::COLLECTION),
                self.db.collection(services::COLLECTION),
                self.db.collection(sessions::SESSIONS),
                MongoOutbox::new(self.db.collection(outbox::COLLECTION)),
                self.read_limit,
            )),
            email_tokens: Arc::new(MongoEmailTokenRepo::new(
                self.db.collection(email_tokens::COLLECTION),
            )),
            outbox: Arc::new(MongoOutbox::new(self.db.collection(outbox::COLLECTION))),
            idempotency: Arc::new(idempotency::MongoIdempotencyRepo::new(
                self.db.collection(idempotency::COLLECTION),
            )),
            secrets: Arc::new(secrets::MongoSecretStore::new(
                self.db.collection(secrets::COLLECTION),
            )),
            health: Arc::new(MongoHealth::new(self.db.clone())),
            bulk: Arc::new(bulk::MongoBulkLoad::new(self.db.clone())),
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
    async fn writes_wait_for_a_majority_and_reads_see_only_majority_commits() {
        let mut plain = options("mongodb://h:27017/?replicaSet=rs0").await;
        configure(&mut plain);
        let write = plain.write_concern.expect("a write concern");
        assert_eq!(write.w, Some(Acknowledgment::Majority));
        assert_eq!(write.journal, Some(true));
        assert_eq!(write.w_timeout, Some(MAJORITY_TIMEOUT));
        assert_eq!(plain.read_concern, Some(ReadConcern::majority()));
        assert_eq!(plain.server_selection_timeout, Some(SERVER_SELECTION_TIMEOUT));

        // An operator's explicit choice in the URL stands.
        let mut chosen = options("mongodb://h:27017/?w=2&readConcernLevel=local").await;
        configure(&mut chosen);
        assert_eq!(chosen.write_concern.and_then(|w| w.w), Some(Acknowledgment::Nodes(2)));
        assert_eq!(chosen.read_concern, Some(ReadConcern::local()));
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
