//! Retention on MongoDB: the batched deletes behind `SessionRepo::purge_ended`,
//! `EmailTokenRepo::purge_spent`, `Outbox::purge_finished` and
//! `IdempotencyRepo::purge_expired`, and the indexes that serve them.
//!
//! A batch is a `find` of at most `limit` ids past retention (through the
//! indexes below), then one `deleteMany` of those ids that repeats the
//! condition, so a document that changed in between (an idempotency key
//! taken again) is left alone. Deleting documents past retention is
//! idempotent: two instances purging at once delete each document once
//! between them. No TTL index: the emulator the tests run on ignores TTL
//! options, so a TTL purge could not be tested, and it would not batch.

use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, DateTime, Document};
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};
use tozalash_domain::RepoError;

use crate::error::translate;

fn index(name: &str, keys: Document) -> IndexModel {
    IndexModel::builder()
        .keys(keys)
        .options(IndexOptions::builder().name(name.to_owned()).build())
        .build()
}

/// The indexes the purges need, by collection (created by `ensure_indexes`
/// with every other index).
pub(crate) fn indexes() -> Vec<(&'static str, Vec<IndexModel>)> {
    vec![
        // purge_ended: `{$or: [{expiresAt: {$lte}}, {revokedAt: {$lte}}]}`,
        // one index per clause of the `$or`.
        (
            crate::sessions::SESSIONS,
            vec![
                index("sessions_expiresAt", doc! { "expiresAt": 1 }),
                index("sessions_revokedAt", doc! { "revokedAt": 1 }),
            ],
        ),
        // purge_spent: `{$or: [{usedAt: {$lte}}, {expiresAt: {$lte}}]}`.
        (
            crate::email_tokens::COLLECTION,
            vec![
                index("emailTokens_expiresAt", doc! { "expiresAt": 1 }),
                index("emailTokens_usedAt", doc! { "usedAt": 1 }),
            ],
        ),
        // purge_finished: `{status: {$in: ["SENT", "DEAD"]}, createdAt: {$lte}}`.
        (
            crate::outbox::COLLECTION,
            vec![index("outbox_status_createdAt", doc! { "status": 1, "createdAt": 1 })],
        ),
        // purge_expired uses `idempotencyKeys_expiresAt` (idempotency.rs).
    ]
}

/// Sessions revoked or expired at `before` or earlier.
pub(crate) fn ended_sessions(before: DateTime) -> Document {
    doc! { "$or": [
        { "expiresAt": { "$lte": before } },
        { "revokedAt": { "$lte": before } },
    ] }
}

/// E-mail tokens used or expired at `before` or earlier.
pub(crate) fn spent_tokens(before: DateTime) -> Document {
    doc! { "$or": [
        { "usedAt": { "$lte": before } },
        { "expiresAt": { "$lte": before } },
    ] }
}

/// SENT or DEAD mail created at `before` or earlier.
pub(crate) fn finished_mail(before: DateTime) -> Document {
    doc! { "status": { "$in": ["SENT", "DEAD"] }, "createdAt": { "$lte": before } }
}

/// Idempotency records expired at `now` or earlier.
pub(crate) fn expired_keys(now: DateTime) -> Document {
    doc! { "expiresAt": { "$lte": now } }
}

/// The ids of at most `limit` documents matching `filter`.
pub(crate) async fn ids<T: Send + Sync>(
    collection: &Collection<T>,
    filter: &Document,
    limit: u32,
) -> Result<Vec<Bson>, RepoError> {
    let found: Vec<Document> = collection
        .clone_with_type::<Document>()
        .find(filter.clone())
        .projection(doc! { "_id": 1 })
        .limit(i64::from(limit))
        .await
        .map_err(translate)?
        .try_collect()
        .await
        .map_err(translate)?;
    Ok(found.into_iter().filter_map(|mut d| d.remove("_id")).collect())
}

/// Deletes the documents among `ids` that still match `filter`; answers how many.
pub(crate) async fn delete<T: Send + Sync>(
    collection: &Collection<T>,
    filter: Document,
    ids: Vec<Bson>,
) -> Result<u64, RepoError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let mut filter = filter;
    filter.insert("_id", doc! { "$in": ids });
    let deleted = collection.delete_many(filter).await.map_err(translate)?;
    Ok(deleted.deleted_count)
}

/// One batch: at most `limit` documents matching `filter`, deleted.
pub(crate) async fn purge<T: Send + Sync>(
    collection: &Collection<T>,
    filter: Document,
    limit: u32,
) -> Result<u64, RepoError> {
    let ids = ids(collection, &filter, limit).await?;
    delete(collection, filter, ids).await
}
