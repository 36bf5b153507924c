//! The catalogue's read cache: public catalogue reads (`GET /services`,
//! `GET /services/{id}`) answered from memory instead of a database round trip
//! per request, with a stated staleness bound.
//!
//! - A write made through this instance (create, update, archive) empties the
//!   cache at once: the instance that made it shows it to the next read.
//! - A write made by another instance shows here within `ttl` (one second in
//!   production, `CATALOG_CACHE_TTL` in docs/operations.md): no entry is served
//!   once it is older than that.
//! - Only catalogue data is cached, never who may do what: authorisation runs
//!   on every request before the use case is reached.
//! - Orders read services through this cache too, but an order is stored
//!   only while its service is still at the version its price was read at
//!   (`OrderRepo::insert_with_mail`); otherwise the service is read again from
//!   storage, so an order's price snapshot is never stale.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tozalash_domain::{
    Id, Page, RepoError, Service, ServicePatch, ServiceQuery, ServiceRepo, Timestamp, Version,
};

/// How long an entry is served: the bound on how late another instance's write
/// can show here.
pub const CATALOG_CACHE_TTL: Duration = Duration::from_secs(1);

/// Entries kept per kind (lists, single services); a full map is emptied, so
/// memory stays bounded whatever ids and queries clients send.
const MAX_ENTRIES: usize = 1024;

/// A [`ServiceRepo`] that answers `get` and `list` from memory for up to `ttl`
/// and forgets everything on a write through it.
pub struct CachedServiceRepo {
    inner: Arc<dyn ServiceRepo>,
    ttl: Duration,
    state: Mutex<State>,
}

impl std::fmt::Debug for CachedServiceRepo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedServiceRepo").field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    /// Raised by every write: a read that started before a write does not
    /// store what it read (it may predate the write).
    generation: u64,
    lists: HashMap<String, (Instant, Page<Service>)>,
    services: HashMap<Id, (Instant, Option<Service>)>,
}

impl CachedServiceRepo {
    pub fn new(inner: Arc<dyn ServiceRepo>, ttl: Duration) -> Self {
        Self { inner, ttl, state: Mutex::new(State::default()) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fresh(&self, at: Instant) -> bool {
        at.elapsed() < self.ttl
    }

    /// The fresh entry under `key` in the map `entries` picks, or what `load`
    /// reads, stored unless a write came in meanwhile (it may predate the write).
    async fn read_through<K, V>(
        &self,
        key: K,
        entries: impl Fn(&mut State) -> &mut HashMap<K, (Instant, V)>,
        load: impl std::future::Future<Output = Result<V, RepoError>>,
    ) -> Result<V, RepoError>
    where
        K: std::hash::Hash + Eq,
        V: Clone,
    {
        let generation = {
            let mut state = self.lock();
            if let Some((at, value)) = entries(&mut state).get(&key) {
                if self.fresh(*at) {
                    return Ok(value.clone());
                }
            }
            state.generation
        };
        let value = load.await?;
        let mut state = self.lock();
        if state.generation == generation {
            let map = entries(&mut state);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(key, (Instant::now(), value.clone()));
        }
        Ok(value)
    }

    fn invalidate(&self) {
        let mut state = self.lock();
        state.generation += 1;
        state.lists.clear();
        state.services.clear();
    }
}

/// The cache key of a list query: every field of the query, so that a field
/// added later is part of it too.
fn list_key(query: &ServiceQuery) -> String {
    format!("{query:?}")
}

#[async_trait]
impl ServiceRepo for CachedServiceRepo {
    async fn insert(&self, service: &Service) -> Result<(), RepoError> {
        let result = self.inner.insert(service).await;
        self.invalidate();
        result
    }

    async fn get(&self, id: Id) -> Result<Option<Service>, RepoError> {
        self.read_through(id, |state| &mut state.services, self.inner.get(id)).await
    }

    async fn list(&self, query: &ServiceQuery) -> Result<Page<Service>, RepoError> {
        self.read_through(list_key(query), |state| &mut state.lists, self.inner.list(query)).await
    }

    async fn update(
        &self,
        id: Id,
        patch: &ServicePatch,
        expected: Option<Version>,
        now: Timestamp,
    ) -> Result<Option<Service>, RepoError> {
        let result = self.inner.update(id, patch, expected, now).await;
        self.invalidate();
        result
    }

    async fn archive(&self, id: Id, now: Timestamp) -> Result<bool, RepoError> {
        let result = self.inner.archive(id, now).await;
        self.invalidate();
        result
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tozalash_domain::clock::at;
    use tozalash_domain::ports::MockServiceRepo;
    use tozalash_domain::{NewService, PageRequest};

    use super::*;

    fn service(price: i64) -> Service {
        Service::create(NewService::parse("Deep clean", None, price).unwrap(), at(0))
    }

    fn page(price: i64) -> Page<Service> {
        Page { items: vec![service(price)], total: 1 }
    }

    #[tokio::test]
    async fn reads_within_the_bound_cost_no_round_trip() {
        let mut repo = MockServiceRepo::new();
        repo.expect_list().times(1).returning(|_| Ok(page(100)));
        repo.expect_get().times(1).returning(|_| Ok(None));
        let cache = CachedServiceRepo::new(Arc::new(repo), Duration::from_secs(3600));
        let query = ServiceQuery::default();
        let id = Id::generate();
        let first = cache.list(&query).await.unwrap();
        for _ in 0..3 {
            assert_eq!(cache.list(&query).await.unwrap(), first);
            assert_eq!(cache.get(id).await.unwrap(), None);
        }
    }

    #[tokio::test]
    async fn different_queries_are_different_entries() {
        let mut repo = MockServiceRepo::new();
        repo.expect_list().times(2).returning(|_| Ok(page(100)));
        let cache = CachedServiceRepo::new(Arc::new(repo), Duration::from_secs(3600));
        let second = ServiceQuery {
            page: PageRequest::new(Some(2), None).unwrap(),
            ..ServiceQuery::default()
        };
        cache.list(&ServiceQuery::default()).await.unwrap();
        cache.list(&second).await.unwrap();
        cache.list(&second).await.unwrap();
    }

    #[tokio::test]
    async fn a_write_through_this_instance_shows_at_once() {
        let mut repo = MockServiceRepo::new();
        let mut prices = [100, 200].into_iter();
        repo.expect_list().times(2).returning(move |_| Ok(page(prices.next().unwrap())));
        repo.expect_update().times(1).returning(|_, _, _, _| Ok(Some(service(200))));
        let cache = CachedServiceRepo::new(Arc::new(repo), Duration::from_secs(3600));
        let query = ServiceQuery::default();
        assert_eq!(cache.list(&query).await.unwrap().items[0].price.minor_units(), 100);
        cache.update(Id::generate(), &ServicePatch::default(), None, at(1)).await.unwrap();
        assert_eq!(cache.list(&query).await.unwrap().items[0].price.minor_units(), 200);
    }

    #[tokio::test]
    async fn another_instances_write_shows_within_the_bound() {
        let mut repo = MockServiceRepo::new();
        let mut prices = [100, 200].into_iter();
        repo.expect_list().times(2).returning(move |_| Ok(page(prices.next().unwrap())));
        let ttl = Duration::from_millis(50);
        let cache = CachedServiceRepo::new(Arc::new(repo), ttl);
        let query = ServiceQuery::default();
        assert_eq!(cache.list(&query).await.unwrap().items[0].price.minor_units(), 100);
        // (The other instance changes the price here.)
        std::thread::sleep(ttl + Duration::from_millis(10));
        assert_eq!(cache.list(&query).await.unwrap().items[0].price.minor_units(), 200);
    }
}
