//! Ports: what the use cases need from the outside world. Each adapter
//! (`store-sql`, `store-mongo`) implements them, and the one conformance suite
//! (`store-tests`) holds every adapter to the promises written here.

use async_trait::async_trait;

use crate::catalog::{Service, ServicePatch, ServiceQuery};
use crate::clock::Timestamp;
use crate::error::RepoError;
use crate::id::Id;
use crate::page::Page;

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
    pub health: std::sync::Arc<dyn StorageHealth>,
}

impl std::fmt::Debug for Repositories {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repositories").finish_non_exhaustive()
    }
}
