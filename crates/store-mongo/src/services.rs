//! The `services` collection: the catalogue as [`ServiceRepo`], its document
//! shape and the indexes its queries need.

use async_trait::async_trait;
use mongodb::bson::{doc, oid::ObjectId, Document};
use mongodb::options::{IndexOptions, ReturnDocument};
use mongodb::{Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};
use tozalash_domain::keys;
use tozalash_domain::{
    Description, Id, Money, Page, RepoError, Service, ServiceName, ServicePatch, ServiceQuery,
    ServiceRepo, ServiceSortField, SortDirection, Timestamp, UniqueKey, Version,
};

use crate::error::{translate, MalformedDocument};
use crate::pages::{page_of, ReadLimit};
use crate::values::{bson_date, id_of, object_id, timestamp_of};
use crate::versions;

pub(crate) const COLLECTION: &str = "services";

/// The unique index on `nameKey`: no two services (archived ones included)
/// share a name ignoring case and spaces.
pub(crate) const NAME_KEY_UNIQUE: &str = "services_nameKey_unique";

/// The stored shape of a service. Private to the adapter, so the domain types
/// carry no serde and the storage layout can change without touching them.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServiceDoc {
    #[serde(rename = "_id")]
    id: ObjectId,
    name: String,
    /// `ServiceName::folded()`: what search matches and the name sort orders by,
    /// identical on every backend (MongoDB's own case folding is not).
    name_folded: String,
    /// `ServiceName::key()`, under [`NAME_KEY_UNIQUE`]. Missing only on
    /// documents stored before it existed, until `backfill_keys` runs.
    #[serde(default)]
    name_key: Option<String>,
    /// `ServiceName::search_key()`: what a search matches.
    #[serde(default)]
    search_key: Option<String>,
    description: String,
    /// Minor units; serde's i64 is always written as BSON Int64.
    price: i64,
    created_at: mongodb::bson::DateTime,
    updated_at: mongodb::bson::DateTime,
    /// Raised by every update (`$inc`); 1 when missing (see `versions.rs`).
    #[serde(default = "versions::first")]
    version: i64,
    /// When the service was archived; null (or, before it existed, missing)
    /// while it is in the catalogue.
    #[serde(default)]
    archived_at: Option<mongodb::bson::DateTime>,
}

impl From<&Service> for ServiceDoc {
    fn from(s: &Service) -> Self {
        Self {
            id: object_id(s.id),
            name: s.name.as_str().to_owned(),
            name_folded: s.name.folded(),
            name_key: Some(s.name.key()),
            search_key: Some(s.name.search_key()),
            description: s.description.as_str().to_owned(),
            price: s.price.minor_units(),
            created_at: bson_date(s.created_at),
            updated_at: bson_date(s.updated_at),
            version: s.version.get(),
            archived_at: s.archived_at.map(bson_date),
        }
    }
}

impl TryFrom<ServiceDoc> for Service {
    type Error = MalformedDocument;

    /// Re-parses every field, so a document written by anything else (a shell,
    /// an old version) that breaks a domain rule is reported, never trusted.
    fn try_from(d: ServiceDoc) -> Result<Self, Self::Error> {
        let malformed = |reason: String| MalformedDocument {
            collection: COLLECTION,
            id: d.id.to_hex(),
            reason,
        };
        let date = |field: &str, value: mongodb::bson::DateTime| {
            timestamp_of(value).ok_or_else(|| malformed(format!("{field} is out of range")))
        };
        Ok(Service {
            id: id_of(d.id),
            name: ServiceName::parse(&d.name)
                .map_err(|e| malformed(format!("name: {}", e.message)))?,
            description: Description::parse(&d.description)
                .map_err(|e| malformed(format!("description: {}", e.message)))?,
            price: Money::parse("price", d.price)
                .map_err(|e| malformed(format!("price: {}", e.message)))?,
            created_at: date("createdAt", d.created_at)?,
            updated_at: date("updatedAt", d.updated_at)?,
            version: Version::from_stored(d.version)
                .ok_or_else(|| malformed(format!("version {} is not positive", d.version)))?,
            archived_at: d.archived_at.map(|at| date("archivedAt", at)).transpose()?,
        })
    }
}

/// Every index on `services`. Names are explicit so that `createIndexes` is
/// idempotent across versions and an index can be found (and dropped) by name.
/// Each compound index ends in `_id` because every list sorts by `_id` as the
/// tie-breaker, so the index alone yields the full order without an in-memory sort.
pub(crate) fn indexes() -> Vec<IndexModel> {
    let index = |name: &str, keys: Document, unique: bool| {
        IndexModel::builder()
            .keys(keys)
            .options(
                IndexOptions::builder()
                    .name(name.to_owned())
                    .unique(unique.then_some(true))
                    .build(),
            )
            .build()
    };
    vec![
        // insert and rename: a taken name key → Duplicate(UniqueKey::ServiceName).
        index(NAME_KEY_UNIQUE, doc! { "nameKey": 1 }, true),
        // list sorted by name (the default order).
        index("services_nameFolded_id", doc! { "nameFolded": 1, "_id": 1 }, false),
        // the search on searchKey: an unanchored regex can walk this index's
        // keys instead of the documents.
        index("services_searchKey", doc! { "searchKey": 1 }, false),
        // list sorted by price.
        index("services_price_id", doc! { "price": 1, "_id": 1 }, false),
        // list sorted by createdAt.
        index("services_createdAt_id", doc! { "createdAt": 1, "_id": 1 }, false),
    ]
}

/// [`ServiceRepo`] on the `services` collection.
#[derive(Debug, Clone)]
pub(crate) struct MongoServiceRepo {
    collection: Collection<ServiceDoc>,
    read_limit: ReadLimit,
}

impl MongoServiceRepo {
    pub(crate) fn new(collection: Collection<ServiceDoc>, read_limit: ReadLimit) -> Self {
        Self { collection, read_limit }
    }
}

#[async_trait]
impl ServiceRepo for MongoServiceRepo {
    async fn insert(&self, service: &Service) -> Result<(), RepoError> {
        // A taken `_id` is refused by the `_id_` unique index: error 11000,
        // translated to `Duplicate(UniqueKey::Id)` — no read-before-write.
        self.collection.insert_one(ServiceDoc::from(service)).await.map_err(translate)?;
        Ok(())
    }

    async fn get(&self, id: Id) -> Result<Option<Service>, RepoError> {
        let found =
            self.collection.find_one(doc! { "_id": object_id(id) }).await.map_err(translate)?;
        Ok(found.map(Service::try_from).transpose()?)
    }

    async fn list(&self, query: &ServiceQuery) -> Result<Page<Service>, RepoError> {
        let mut filter = if query.archived {
            doc! { "archivedAt": { "$ne": null } }
        } else {
            doc! { "archivedAt": null }
        };
        if let Some(term) = &query.search {
            // Both sides are folded by the same domain function, so a plain
            // (case-sensitive) regex is the domain's "contains".
            filter.insert("searchKey", doc! { "$regex": crate::search::escape_regex(term.key()) });
        }
        let field = match query.sort.field {
            ServiceSortField::Name => "nameFolded",
            ServiceSortField::Price => "price",
            ServiceSortField::CreatedAt => "createdAt",
        };
        let direction = match query.sort.direction {
            SortDirection::Ascending => 1,
            SortDirection::Descending => -1,
        };
        // `_id` in the same direction breaks ties, so pages never overlap or skip.
        let sort = doc! { field: direction, "_id": direction };

        page_of(&self.collection, filter, sort, query.page, self.read_limit).await
    }

    async fn update(
        &self,
        id: Id,
        patch: &ServicePatch,
        expected: Option<Version>,
        now: Timestamp,
    ) -> Result<Option<Service>, RepoError> {
        let mut set = doc! { "updatedAt": bson_date(now) };
        if let Some(name) = &patch.name {
            set.insert("name", name.as_str());
            // The folded copy and the keys move with the name, in the same write.
            set.insert("nameFolded", name.folded());
            set.insert("nameKey", name.key());
            set.insert("searchKey", name.search_key());
        }
        match patch.archived {
            Some(true) => set.insert("archivedAt", bson_date(now)),
            Some(false) => set.insert("archivedAt", mongodb::bson::Bson::Null),
            None => None,
        };
        if let Some(description) = &patch.description {
            set.insert("description", description.as_str());
        }
        if let Some(price) = patch.price {
            set.insert("price", price.minor_units());
        }
        // One atomic findAndModify: the document returned is exactly the one
        // this write produced, with no window for another writer in between;
        // the expected version, if any, is part of its filter.
        let filter = versions::expecting(doc! { "_id": object_id(id) }, expected);
        let updated = self
            .collection
            .find_one_and_update(filter, doc! { "$set": set, "$inc": versions::bump() })
            .return_document(ReturnDocument::After)
            .await
            .map_err(translate)?;
        match (updated, expected) {
            (None, Some(expected)) => {
                let documents = self.collection.clone_with_type();
                versions::not_found_or_stale(&documents, id, expected).await
            }
            (updated, _) => Ok(updated.map(Service::try_from).transpose()?),
        }
    }

    async fn archive(&self, id: Id, now: Timestamp) -> Result<bool, RepoError> {
        let at = bson_date(now);
        let result = self
            .collection
            .update_one(
                doc! { "_id": object_id(id), "archivedAt": null },
                doc! { "$set": { "archivedAt": at, "updatedAt": at }, "$inc": versions::bump() },
            )
            .await
            .map_err(translate)?;
        Ok(result.matched_count == 1)
    }
}

/// Gives every service stored before them its name key and search key
/// (computed by the domain) and an explicit `archivedAt: null`. Runs before
/// the indexes are created, so that the unique index on `nameKey` never sees
/// two documents without one. Idempotent, and safe from several instances at
/// once. Two services whose names share a key fail it, naming both: the
/// operator renames one; nothing is renamed automatically.
pub(crate) async fn backfill_keys(db: &Database) -> Result<(), RepoError> {
    let services = db.collection::<Document>(COLLECTION);
    services
        .update_many(
            doc! { "archivedAt": { "$exists": false } },
            doc! { "$set": { "archivedAt": null } },
        )
        .await
        .map_err(translate)?;
    let missing = doc! { "$or": [
        { "nameKey": { "$exists": false } },
        { "searchKey": { "$exists": false } },
    ] };
    let mut cursor =
        services.find(missing).projection(doc! { "name": 1 }).await.map_err(translate)?;
    let mut rows = Vec::new();
    while cursor.advance().await.map_err(translate)? {
        let row = cursor.deserialize_current().map_err(translate)?;
        let id = row.get_object_id("_id").map_err(|e| RepoError::Failed(Box::new(e)))?;
        let name = row.get_str("name").map_err(|e| RepoError::Failed(Box::new(e)))?.to_owned();
        rows.push((id, name));
    }
    for (id, name) in rows {
        let name_key = keys::name_key(&name);
        let clash = services
            .find_one(doc! { "nameKey": &name_key, "_id": { "$ne": id } })
            .projection(doc! { "_id": 1 })
            .await
            .map_err(translate)?;
        let clash = match clash {
            Some(other) => Some(other.get_object_id("_id").map(|o| o.to_hex()).unwrap_or_default()),
            None => services
                .update_one(
                    doc! { "_id": id },
                    doc! { "$set": { "nameKey": &name_key, "searchKey": keys::search_key(&name) } },
                )
                .await
                .map(drop)
                .map_err(translate)
                .map_or_else(
                    |err| match err {
                        RepoError::Duplicate(UniqueKey::ServiceName) => Ok(Some("?".to_owned())),
                        err => Err(err),
                    },
                    |()| Ok(None),
                )?,
        };
        if let Some(other) = clash {
            return Err(RepoError::Failed(
                format!(
                    "services {} and {other} have the same name ignoring case and spaces \
                     ({name:?}); rename one of them, then start again",
                    id.to_hex()
                )
                .into(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_round_trip_to_the_same_service() {
        let at = |ms| chrono::DateTime::from_timestamp_millis(ms).expect("in range");
        let mut service = Service::create(
            tozalash_domain::NewService::parse("Gilam ЎЗБЕК", Some("two\nlines"), 42)
                .expect("valid"),
            at(1_764_201_600_123),
        );
        service.updated_at = at(1_764_201_700_456);
        let doc = ServiceDoc::from(&service);
        assert_eq!(doc.name_folded, "gilam ўзбек");
        assert_eq!(doc.name_key.as_deref(), Some("gilam ўзбек"));
        assert_eq!(doc.search_key.as_deref(), Some("gilam ozbek"));
        assert_eq!(Service::try_from(doc).expect("maps back"), service);
    }

    #[test]
    fn a_document_breaking_a_domain_rule_is_malformed_not_a_panic() {
        let doc = ServiceDoc {
            id: ObjectId::new(),
            name: String::new(),
            name_folded: String::new(),
            name_key: None,
            search_key: None,
            description: String::new(),
            price: -1,
            created_at: mongodb::bson::DateTime::from_millis(0),
            updated_at: mongodb::bson::DateTime::from_millis(0),
            version: 1,
            archived_at: None,
        };
        assert!(Service::try_from(doc).is_err());
    }
}
