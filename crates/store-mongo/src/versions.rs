//! The `version` field of services, users and orders (see
//! `tozalash_domain::version`): an Int64 that every write changing the
//! document raises with `$inc` in the same `findAndModify` / update, and that
//! a conditional write puts in its filter.
//!
//! Documents written before the field existed have none. `MongoStore::ensure_indexes`
//! gives each of them `version: 1` (one `updateMany` per collection, matching
//! only documents without the field, so running it again, or from several
//! instances at once, is harmless), and reads treat a missing field as 1 too.

use mongodb::bson::{doc, Document};
use mongodb::{Collection, Database};
use tozalash_domain::{Id, RepoError, Version};

use crate::error::translate;
use crate::values::object_id;

/// The field's name in every collection that has it.
pub(crate) const FIELD: &str = "version";

/// What a document without the field reads as (serde's default).
pub(crate) fn first() -> i64 {
    Version::FIRST.get()
}

/// The update operator that raises the version by one, to go beside `$set`.
pub(crate) fn bump() -> Document {
    doc! { FIELD: 1_i64 }
}

/// `filter` with the expected version added, when there is one.
pub(crate) fn expecting(mut filter: Document, expected: Option<Version>) -> Document {
    if let Some(expected) = expected {
        filter.insert(FIELD, expected.get());
    }
    filter
}

/// Why a write conditional on `expected` matched nothing: `VersionMismatch`
/// if the document `id` exists at another version, else `None` (no such
/// document, or another condition of the write failed). It only explains
/// a refusal; the condition itself was part of the write.
pub(crate) async fn not_found_or_stale<T>(
    collection: &Collection<Document>,
    id: Id,
    expected: Version,
) -> Result<Option<T>, RepoError> {
    let found = collection
        .find_one(doc! { "_id": object_id(id) })
        .projection(doc! { FIELD: 1 })
        .await
        .map_err(translate)?;
    let Some(found) = found else {
        return Ok(None);
    };
    let stored = match found.get(FIELD) {
        None => first(),
        Some(value) => value.as_i64().or_else(|| value.as_i32().map(i64::from)).unwrap_or(0),
    };
    if stored == expected.get() {
        Ok(None)
    } else {
        Err(RepoError::VersionMismatch)
    }
}

/// Gives `version: 1` to every document of `collections` that has no version.
pub(crate) async fn backfill(db: &Database, collections: &[&str]) -> Result<(), RepoError> {
    for collection in collections {
        db.collection::<Document>(collection)
            .update_many(doc! { FIELD: { "$exists": false } }, doc! { "$set": { FIELD: first() } })
            .await
            .map_err(translate)?;
    }
    Ok(())
}
