//! Browsing and running the catalogue of cleaning services.

use std::sync::Arc;

use tozalash_domain::{
    Admin, Clock, Id, NewService, Page, Precondition, Service, ServicePatch, ServiceQuery,
    ServiceRepo, Version,
};

use crate::error::AppError;

const SERVICE: &str = "service";

/// Anyone may browse the catalogue; only an [`Admin`] may change it.
#[derive(Clone)]
pub struct CatalogService {
    services: Arc<dyn ServiceRepo>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for CatalogService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogService").finish_non_exhaustive()
    }
}

impl CatalogService {
    pub fn new(services: Arc<dyn ServiceRepo>, clock: Arc<dyn Clock>) -> Self {
        Self { services, clock }
    }

    /// A page of the public catalogue. Archived services are listed only by
    /// [`CatalogService::list_archived`]: asking this one for them is `Forbidden`.
    pub async fn list(&self, query: &ServiceQuery) -> Result<Page<Service>, AppError> {
        if query.archived {
            return Err(AppError::Forbidden);
        }
        Ok(self.services.list(query).await?)
    }

    /// A page of the archived services, for an administrator (the rest of the
    /// query, search and order included, works as in the public list).
    pub async fn list_archived(
        &self,
        _by: &Admin,
        query: &ServiceQuery,
    ) -> Result<Page<Service>, AppError> {
        let query = ServiceQuery { archived: true, ..query.clone() };
        Ok(self.services.list(&query).await?)
    }

    /// A service of the public catalogue: an archived one is not found, as a
    /// deleted one was.
    pub async fn get(&self, id: Id) -> Result<Service, AppError> {
        self.services
            .get(id)
            .await?
            .filter(|service| !service.is_archived())
            .ok_or(AppError::NotFound(SERVICE))
    }

    /// The service, archived or not, for an administrator's change.
    async fn stored(&self, id: Id) -> Result<Service, AppError> {
        self.services.get(id).await?.ok_or(AppError::NotFound(SERVICE))
    }

    /// Adds a service. A name with the same key as another service's, archived
    /// ones included, is `Duplicate(ServiceName)`, decided by the storage's
    /// unique index.
    pub async fn create(&self, by: &Admin, new: NewService) -> Result<Service, AppError> {
        let service = Service::create(new, self.clock.now());
        self.services.insert(&service).await?;
        tracing::info!(service_id = %service.id, admin_id = %by.principal().user_id, "service created");
        Ok(service)
    }

    /// Applies a partial update, to an archived service too: `archived: false`
    /// restores one (its name is still its own: archived names stay taken). A
    /// new name taken by another service is `Duplicate(ServiceName)`. An
    /// empty patch changes nothing, not even `updatedAt`, and answers the
    /// service as it is.
    ///
    /// With a `precondition` (HTTP `If-Match`), the update applies only while
    /// the service is at one of its versions, as one conditional write:
    /// otherwise `PreconditionFailed`, and nothing changes. A precondition
    /// naming one version needs no read first.
    pub async fn update(
        &self,
        by: &Admin,
        id: Id,
        patch: ServicePatch,
        precondition: Option<Precondition>,
    ) -> Result<Service, AppError> {
        if patch.is_empty() {
            let service = self.stored(id).await?;
            check(precondition.as_ref(), service.version)?;
            return Ok(service);
        }
        let expected = match precondition {
            None => None,
            Some(precondition) => match precondition.single() {
                Some(version) => Some(version),
                None => {
                    let current = self.stored(id).await?.version;
                    check(Some(&precondition), current)?;
                    Some(current)
                }
            },
        };
        let service = self
            .services
            .update(id, &patch, expected, self.clock.now())
            .await?
            .ok_or(AppError::NotFound(SERVICE))?;
        tracing::info!(service_id = %id, admin_id = %by.principal().user_id, "service updated");
        Ok(service)
    }

    /// Takes a service out of the catalogue by archiving it: the public no
    /// longer sees it and it cannot be ordered, orders keep their own snapshot
    /// of it, and an administrator can restore it. A service that is archived
    /// already is not found, as a deleted one was.
    pub async fn delete(&self, by: &Admin, id: Id) -> Result<(), AppError> {
        if !self.services.archive(id, self.clock.now()).await? {
            return Err(AppError::NotFound(SERVICE));
        }
        tracing::info!(service_id = %id, admin_id = %by.principal().user_id, "service archived");
        Ok(())
    }
}

/// `PreconditionFailed` unless `precondition` (if any) holds at `current`.
pub(crate) fn check(precondition: Option<&Precondition>, current: Version) -> Result<(), AppError> {
    match precondition {
        Some(precondition) if !precondition.matches(current) => Err(AppError::PreconditionFailed),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mockall::predicate::eq;
    use tozalash_domain::clock::MockClock;
    use tozalash_domain::ports::MockServiceRepo;
    use tozalash_domain::{Principal, RepoError, Role};

    use tozalash_domain::clock::at;

    fn admin() -> Admin {
        Principal { user_id: Id::generate(), role: Role::Admin, session_id: Id::generate() }
            .require_admin()
            .expect("an admin principal")
    }

    fn clock_at(millis: i64) -> Arc<MockClock> {
        let mut clock = MockClock::new();
        clock.expect_now().returning(move || at(millis));
        Arc::new(clock)
    }

    fn windows() -> NewService {
        NewService::parse("Windows", Some("Inside and out"), 150_000).expect("valid service")
    }

    #[tokio::test]
    async fn create_stamps_both_timestamps_with_now_and_stores_the_service() {
        let mut repo = MockServiceRepo::new();
        repo.expect_insert()
            .withf(|s| {
                s.name.as_str() == "Windows" && s.created_at == at(5) && s.updated_at == at(5)
            })
            .times(1)
            .returning(|_| Ok(()));
        let catalog = CatalogService::new(Arc::new(repo), clock_at(5));

        let created = catalog.create(&admin(), windows()).await.expect("created");

        assert_eq!(created.price.minor_units(), 150_000);
        assert_eq!(created.created_at, at(5));
    }

    #[tokio::test]
    async fn get_of_an_unknown_id_is_not_found() {
        let mut repo = MockServiceRepo::new();
        repo.expect_get().returning(|_| Ok(None));
        let catalog = CatalogService::new(Arc::new(repo), clock_at(0));

        let err = catalog.get(Id::generate()).await.expect_err("missing");

        assert!(matches!(err, AppError::NotFound("service")));
    }

    #[tokio::test]
    async fn update_passes_the_patch_and_now_to_one_atomic_repo_write() {
        let id = Id::generate();
        let mut repo = MockServiceRepo::new();
        repo.expect_update()
            .with(eq(id), mockall::predicate::always(), eq(None), eq(at(9)))
            .times(1)
            .returning(|_, patch, _, now| {
                let base = Service::create(windows(), at(1));
                Ok(Some(patch.apply(base, now)))
            });
        repo.expect_get().never();
        let catalog = CatalogService::new(Arc::new(repo), clock_at(9));
        let patch = ServicePatch::parse(None, None, Some(99)).expect("valid patch");

        let updated = catalog.update(&admin(), id, patch, None).await.expect("updated");

        assert_eq!(updated.price.minor_units(), 99);
        assert_eq!(updated.updated_at, at(9));
    }

    #[tokio::test]
    async fn an_empty_patch_writes_nothing_and_returns_the_service_as_is() {
        let stored = Service::create(windows(), at(1));
        let answer = stored.clone();
        let mut repo = MockServiceRepo::new();
        repo.expect_update().never();
        repo.expect_get().times(1).returning(move |_| Ok(Some(answer.clone())));
        let catalog = CatalogService::new(Arc::new(repo), clock_at(9));

        let same =
            catalog.update(&admin(), stored.id, ServicePatch::default(), None).await.expect("ok");

        assert_eq!(same, stored);
    }

    #[tokio::test]
    async fn an_archived_service_is_not_found_by_the_public_get() {
        let mut archived = Service::create(windows(), at(1));
        archived.archived_at = Some(at(2));
        let mut repo = MockServiceRepo::new();
        repo.expect_get().returning(move |_| Ok(Some(archived.clone())));
        let catalog = CatalogService::new(Arc::new(repo), clock_at(0));

        let err = catalog.get(Id::generate()).await.expect_err("archived");

        assert!(matches!(err, AppError::NotFound("service")));
    }

    #[tokio::test]
    async fn delete_archives_the_service_at_now() {
        let id = Id::generate();
        let mut repo = MockServiceRepo::new();
        repo.expect_archive().with(eq(id), eq(at(7))).times(1).returning(|_, _| Ok(true));
        let catalog = CatalogService::new(Arc::new(repo), clock_at(7));

        catalog.delete(&admin(), id).await.expect("archived");
    }

    #[tokio::test]
    async fn only_the_admin_listing_reaches_the_archived_services() {
        let mut repo = MockServiceRepo::new();
        repo.expect_list()
            .withf(|query| query.archived)
            .times(1)
            .returning(|_| Ok(Page { items: Vec::new(), total: 0 }));
        let catalog = CatalogService::new(Arc::new(repo), clock_at(0));
        let archived = ServiceQuery { archived: true, ..ServiceQuery::default() };

        let err = catalog.list(&archived).await.expect_err("public");
        assert!(matches!(err, AppError::Forbidden), "{err:?}");
        let page = catalog.list_archived(&admin(), &ServiceQuery::default()).await.expect("admin");
        assert_eq!(page.total, 0);
    }

    #[tokio::test]
    async fn update_and_delete_of_an_unknown_id_are_not_found() {
        let mut repo = MockServiceRepo::new();
        repo.expect_update().returning(|_, _, _, _| Ok(None));
        repo.expect_archive().returning(|_, _| Ok(false));
        let catalog = CatalogService::new(Arc::new(repo), clock_at(0));
        let patch = ServicePatch::parse(Some("New"), None, None).expect("valid patch");

        let update =
            catalog.update(&admin(), Id::generate(), patch, None).await.expect_err("missing");
        let delete = catalog.delete(&admin(), Id::generate()).await.expect_err("missing");

        assert!(matches!(update, AppError::NotFound("service")));
        assert!(matches!(delete, AppError::NotFound("service")));
    }

    #[tokio::test]
    async fn storage_outages_and_faults_stay_distinguishable() {
        let mut repo = MockServiceRepo::new();
        repo.expect_get().returning(|_| Err(RepoError::Unavailable("timed out".into())));
        repo.expect_archive().returning(|_, _| Err(RepoError::Failed("syntax error".into())));
        let catalog = CatalogService::new(Arc::new(repo), clock_at(0));

        let get = catalog.get(Id::generate()).await.expect_err("down");
        let delete = catalog.delete(&admin(), Id::generate()).await.expect_err("broken");

        assert!(matches!(get, AppError::Unavailable(_)));
        assert!(matches!(delete, AppError::Internal(_)));
    }

    fn version(n: i64) -> Version {
        Version::from_stored(n).expect("positive")
    }

    #[tokio::test]
    async fn one_expected_version_goes_into_the_one_conditional_write() {
        let id = Id::generate();
        let mut repo = MockServiceRepo::new();
        repo.expect_get().never();
        repo.expect_update()
            .with(eq(id), mockall::predicate::always(), eq(Some(version(3))), eq(at(9)))
            .times(1)
            .returning(|_, patch, _, now| {
                let base = Service { version: version(3), ..Service::create(windows(), at(1)) };
                Ok(Some(patch.apply(base, now)))
            });
        let catalog = CatalogService::new(Arc::new(repo), clock_at(9));
        let patch = ServicePatch::parse(None, None, Some(99)).expect("valid patch");

        let updated = catalog
            .update(&admin(), id, patch, Some(Precondition::version(version(3))))
            .await
            .expect("updated");

        assert_eq!(updated.version, version(4));
    }

    #[tokio::test]
    async fn a_stale_version_is_a_failed_precondition() {
        let mut repo = MockServiceRepo::new();
        repo.expect_update().times(1).returning(|_, _, _, _| Err(RepoError::VersionMismatch));
        let catalog = CatalogService::new(Arc::new(repo), clock_at(9));
        let patch = ServicePatch::parse(None, None, Some(99)).expect("valid patch");

        let err = catalog
            .update(&admin(), Id::generate(), patch, Some(Precondition::version(version(1))))
            .await
            .expect_err("stale");

        assert!(matches!(err, AppError::PreconditionFailed), "{err:?}");
    }

    #[tokio::test]
    async fn several_or_no_versions_are_checked_against_the_current_one_then_expected() {
        let stored = Service { version: version(2), ..Service::create(windows(), at(1)) };
        let id = stored.id;
        let mut repo = MockServiceRepo::new();
        let answer = stored.clone();
        repo.expect_get().returning(move |_| Ok(Some(answer.clone())));
        repo.expect_update()
            .with(eq(id), mockall::predicate::always(), eq(Some(version(2))), eq(at(9)))
            .times(1)
            .returning(move |_, patch, _, now| Ok(Some(patch.apply(stored.clone(), now))));
        let catalog = CatalogService::new(Arc::new(repo), clock_at(9));
        let patch = || ServicePatch::parse(None, None, Some(99)).expect("valid patch");

        let either = Precondition::one_of([version(1), version(2)]);
        let updated = catalog.update(&admin(), id, patch(), Some(either)).await.expect("ok");
        assert_eq!(updated.version, version(3));

        // Tags this server never made match nothing, even on an empty patch.
        let none = Some(Precondition::default());
        let err = catalog.update(&admin(), id, patch(), none.clone()).await.expect_err("no tag");
        assert!(matches!(err, AppError::PreconditionFailed), "{err:?}");
        let err =
            catalog.update(&admin(), id, ServicePatch::default(), none).await.expect_err("{}");
        assert!(matches!(err, AppError::PreconditionFailed), "{err:?}");
    }
}
