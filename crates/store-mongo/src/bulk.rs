//! [`BulkLoad`]: generated data in `insertMany` batches of ten thousand
//! documents (`tozalash seed --profile bench`), each document exactly as the
//! repository's own insert writes it.

use async_trait::async_trait;
use mongodb::{Collection, Database};
use serde::Serialize;
use tozalash_domain::{BulkLoad, Order, RepoError, Role, Service, User};

use crate::error::translate;
use crate::orders::OrderDoc;
use crate::services::ServiceDoc;
use crate::users::{AdminGuard, UserDoc};
use crate::{orders, services, users};

const BATCH: usize = 10_000;

#[derive(Debug)]
pub(crate) struct MongoBulkLoad {
    db: Database,
}

impl MongoBulkLoad {
    pub(crate) fn new(db: Database) -> Self {
        Self { db }
    }
}

async fn insert_batches<T, D>(collection: Collection<D>, items: &[T]) -> Result<(), RepoError>
where
    D: Serialize + Send + Sync + for<'a> From<&'a T>,
{
    for batch in items.chunks(BATCH) {
        collection.insert_many(batch.iter().map(D::from)).await.map_err(translate)?;
    }
    Ok(())
}

#[async_trait]
impl BulkLoad for MongoBulkLoad {
    async fn users(&self, users: &[User]) -> Result<(), RepoError> {
        insert_batches::<_, UserDoc>(self.db.collection(users::COLLECTION), users).await?;
        // The last-admin guard counts ADMIN accounts; it counts these too.
        let guard = AdminGuard::new(&self.db);
        for _ in users.iter().filter(|user| user.role == Role::Admin) {
            guard.add().await;
        }
        Ok(())
    }

    async fn services(&self, services: &[Service]) -> Result<(), RepoError> {
        insert_batches::<_, ServiceDoc>(self.db.collection(services::COLLECTION), services).await
    }

    async fn orders(&self, orders: &[Order]) -> Result<(), RepoError> {
        insert_batches::<_, OrderDoc>(self.db.collection(orders::COLLECTION), orders).await
    }
}
