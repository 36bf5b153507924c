//! Ports: what the use cases need from the outside world. Each adapter
//! (`store-sql`, `store-mongo`) implements them, and the one conformance suite
//! (`store-tests`) holds every adapter to the promises written here.

use async_trait::async_trait;

use crate::catalog::{Service, ServicePatch, ServiceQuery};
use crate::clock::Timestamp;
use crate::error::{BoxError, RepoError};
use crate::id::Id;
use crate::page::Page;
use crate::sessions::{RefreshToken, SecretToken, Session, TokenHash};
use crate::users::{Email, Password, PasswordHash, User, UserPatch, UserQuery};

/// The catalogue of services.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait ServiceRepo: Send + Sync {
    /// Stores a new service exactly as given (timestamps included).
    /// MUST fail with `RepoError::Duplicate("id")` if the id is taken.
    async fn insert(&self, service: &Service) -> Result<(), RepoError>;

    /// The service with this id, or `None`.
    async fn get(&self, id: Id) -> Result<Option<Service>, RepoError>;

    /// One page of services matching the query, in the query's order (ties broken
    /// by id in the same direction), and the number of services that match in all.
    /// A page past the end has no items but the true total.
    async fn list(&self, query: &ServiceQuery) -> Result<Page<Service>, RepoError>;

    /// Applies `patch` and sets `updated_at` to `now` in one atomic write, and
    /// returns the service as stored afterwards; `None` if no service has this id.
    async fn update(
        &self,
        id: Id,
        patch: &ServicePatch,
        now: Timestamp,
    ) -> Result<Option<Service>, RepoError>;

    /// Removes the service; `false` if no service had this id.
    async fn delete(&self, id: Id) -> Result<bool, RepoError>;
}

/// Accounts.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait UserRepo: Send + Sync {
    /// Stores a new user exactly as given. MUST fail with
    /// `RepoError::Duplicate("email")` or `Duplicate("username")` when another
    /// user has the same e-mail or the same username ignoring ASCII case
    /// (`Username::folded`), enforced by unique indexes so that concurrent
    /// signups cannot both succeed; `Duplicate("id")` for a taken id.
    async fn insert(&self, user: &User) -> Result<(), RepoError>;

    /// The user with this id, or `None`.
    async fn get(&self, id: Id) -> Result<Option<User>, RepoError>;

    /// The user with this (already normalised) e-mail, or `None`.
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepoError>;

    /// One page of users matching every given filter, newest first (ties by id,
    /// descending), and the number that match in all. `search` matches the
    /// folded username or the e-mail, literally, anywhere.
    async fn list(&self, query: &UserQuery) -> Result<Page<User>, RepoError>;

    /// Applies `patch` and sets `updated_at` to `now` in one atomic write, and
    /// returns the stored user; `None` if no user has this id. MUST fail with
    /// `Duplicate("email")` / `Duplicate("username")` as `insert` does.
    async fn update(
        &self,
        id: Id,
        patch: &UserPatch,
        now: Timestamp,
    ) -> Result<Option<User>, RepoError>;

    /// Removes the user; `false` if no user had this id.
    async fn delete(&self, id: Id) -> Result<bool, RepoError>;
}

/// Login sessions and the refresh tokens each has had.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait SessionRepo: Send + Sync {
    /// Stores a new session and its first, current refresh token.
    async fn create(&self, session: &Session, token: &RefreshToken) -> Result<(), RepoError>;

    /// The refresh token with this hash, current or rotated, and its session.
    async fn find_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(RefreshToken, Session)>, RepoError>;

    /// Rotation, as one atomic step: if `old` is the current token of the
    /// session `new` names, marks it rotated at `now` and stores `new` as the
    /// current one, and answers `true`. If `old` was already rotated (another
    /// request won the race) or belongs to another session, it changes nothing
    /// and answers `false` — never two winners.
    async fn rotate(
        &self,
        old: &TokenHash,
        new: &RefreshToken,
        now: Timestamp,
    ) -> Result<bool, RepoError>;

    /// Revokes the session at `now`; `false` if it did not exist or was already revoked.
    async fn revoke(&self, session_id: Id, now: Timestamp) -> Result<bool, RepoError>;

    /// Revokes every not yet revoked session of the user (expired ones too),
    /// except `keep`; answers how many.
    async fn revoke_all_for_user(
        &self,
        user_id: Id,
        keep: Option<Id>,
        now: Timestamp,
    ) -> Result<u64, RepoError>;
}

/// Hashing passwords (argon2id). Implementations hash off the async executor
/// and bound how many hashes run at once.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, BoxError>;

    /// Whether `password` matches `hash`. With `None` (no such account) it MUST
    /// do the same work against a dummy hash and answer `false`, so that an
    /// unknown e-mail and a wrong password take the same time.
    async fn verify<'a>(
        &self,
        password: &Password,
        hash: Option<&'a PasswordHash>,
    ) -> Result<bool, BoxError>;
}

/// Opaque secret tokens (refresh, e-mail verification, password reset).
#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait SecretTokens: Send + Sync {
    /// A new random token of at least 256 bits, and its hash.
    fn generate(&self) -> SecretToken;

    /// The hash of a token a client presented.
    fn hash(&self, plain: &str) -> TokenHash;
}

/// Whether the storage answers at all; serves the readiness probe.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait StorageHealth: Send + Sync {
    /// A cheap round trip to the database. MUST NOT hang for long: adapters bound
    /// it with a timeout and answer `RepoError::Unavailable`.
    async fn ping(&self) -> Result<(), RepoError>;
}

/// Every port a storage adapter provides, as the composition root wires them.
#[derive(Clone)]
pub struct Repositories {
    pub services: std::sync::Arc<dyn ServiceRepo>,
    pub users: std::sync::Arc<dyn UserRepo>,
    pub sessions: std::sync::Arc<dyn SessionRepo>,
    pub health: std::sync::Arc<dyn StorageHealth>,
}

impl std::fmt::Debug for Repositories {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repositories").finish_non_exhaustive()
    }
}
