//! The `idempotencyKeys` collection: records of idempotent requests as
//! [`IdempotencyRepo`].
//!
//! A record's `_id` is `"<user id hex>:<key>"` (the user id has a fixed
//! length, so the pair is unambiguous), so the primary key makes a key unique
//! per user. Claiming is single-document writes only: an insert (exactly one
//! of racing inserts succeeds), else one conditional `findOneAndUpdate` that
//! takes the record over when it expired or its unfinished request's lease
//! ran out, else a read of what the record holds. The follow-up writes name
//! the claim (`createdAt` and `fingerprint`) in their filter, so a request
//! whose lease was taken over changes nothing.

use async_trait::async_trait;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};
use tozalash_domain::{
    IdempotencyClaim, IdempotencyRepo, IdempotencyState, RepoError, StoredResponse, Timestamp,
    UniqueKey,
};

use crate::error::{translate, MalformedDocument};
use crate::values::{bson_date, object_id};

pub(crate) const COLLECTION: &str = "idempotencyKeys";

/// How often a claim is retried when the record it lost to vanished before
/// it could be read (released or purged in between).
const ATTEMPTS: usize = 3;

/// Every index on `idempotencyKeys` besides `_id`.
pub(crate) fn indexes() -> Vec<IndexModel> {
    // `purge_expired`: `{expiresAt: {$lte: now}}`, in batches (retention.rs).
    vec![IndexModel::builder()
        .keys(doc! { "expiresAt": 1 })
        .options(IndexOptions::builder().name("idempotencyKeys_expiresAt".to_owned()).build())
        .build()]
}

fn record_id(claim: &IdempotencyClaim) -> String {
    format!("{}:{}", claim.user_id.to_hex(), claim.key.as_str())
}

/// The fields a claim writes, answers cleared.
fn claimed(claim: &IdempotencyClaim) -> Document {
    doc! {
        "userId": object_id(claim.user_id),
        "key": claim.key.as_str(),
        "fingerprint": claim.fingerprint.to_hex(),
        "createdAt": bson_date(claim.now),
        "lockedUntil": bson_date(claim.locked_until),
        "expiresAt": bson_date(claim.expires_at),
        "responseStatus": Bson::Null,
        "responseType": Bson::Null,
        "responseBody": Bson::Null,
    }
}

/// The running request `claim` started, and nothing else.
fn running(claim: &IdempotencyClaim) -> Document {
    doc! {
        "_id": record_id(claim),
        "createdAt": bson_date(claim.now),
        "fingerprint": claim.fingerprint.to_hex(),
        "responseStatus": Bson::Null,
    }
}

/// [`IdempotencyRepo`] on the `idempotencyKeys` collection.
#[derive(Debug, Clone)]
pub(crate) struct MongoIdempotencyRepo {
    collection: Collection<Document>,
}

impl MongoIdempotencyRepo {
    pub(crate) fn new(collection: Collection<Document>) -> Self {
        Self { collection }
    }

    fn state_of(
        record: &Document,
        claim: &IdempotencyClaim,
    ) -> Result<IdempotencyState, RepoError> {
        let malformed = |reason: &str| {
            RepoError::from(MalformedDocument {
                collection: COLLECTION,
                id: record_id(claim),
                reason: reason.into(),
            })
        };
        let fingerprint = record.get_str("fingerprint").map_err(|_| malformed("no fingerprint"))?;
        if fingerprint != claim.fingerprint.to_hex() {
            return Ok(IdempotencyState::Mismatch);
        }
        let Ok(status) = record.get_i32("responseStatus") else {
            return Ok(IdempotencyState::InProgress);
        };
        let status = u16::try_from(status).map_err(|_| malformed("responseStatus is invalid"))?;
        let content_type =
            record.get_str("responseType").map_err(|_| malformed("no responseType"))?.to_owned();
        let body = record.get_str("responseBody").map_err(|_| malformed("no responseBody"))?;
        Ok(IdempotencyState::Replay(StoredResponse { status, content_type, body: body.to_owned() }))
    }
}

#[async_trait]
impl IdempotencyRepo for MongoIdempotencyRepo {
    async fn begin(&self, claim: &IdempotencyClaim) -> Result<IdempotencyState, RepoError> {
        let id = record_id(claim);
        let now = bson_date(claim.now);
        for _ in 0..ATTEMPTS {
            let mut fresh = claimed(claim);
            fresh.insert("_id", &id);
            match self.collection.insert_one(fresh).await.map_err(translate) {
                Ok(_) => return Ok(IdempotencyState::Started),
                Err(RepoError::Duplicate(UniqueKey::Id)) => {}
                Err(other) => return Err(other),
            }
            let stale = doc! {
                "_id": &id,
                "$or": [
                    { "expiresAt": { "$lte": now } },
                    {
                        "responseStatus": Bson::Null,
                        "fingerprint": claim.fingerprint.to_hex(),
                        "lockedUntil": { "$lte": now },
                    },
                ],
            };
            let taken_over = self
                .collection
                .find_one_and_update(stale, doc! { "$set": claimed(claim) })
                .await
                .map_err(translate)?;
            if taken_over.is_some() {
                return Ok(IdempotencyState::Started);
            }
            if let Some(record) =
                self.collection.find_one(doc! { "_id": &id }).await.map_err(translate)?
            {
                return Self::state_of(&record, claim);
            }
        }
        Err(RepoError::Failed("an idempotency key kept vanishing while it was claimed".into()))
    }

    async fn complete(
        &self,
        claim: &IdempotencyClaim,
        response: &StoredResponse,
    ) -> Result<(), RepoError> {
        let answer = doc! { "$set": {
            "responseStatus": i32::from(response.status),
            "responseType": &response.content_type,
            "responseBody": &response.body,
        } };
        self.collection.update_one(running(claim), answer).await.map_err(translate)?;
        Ok(())
    }

    async fn release(&self, claim: &IdempotencyClaim) -> Result<(), RepoError> {
        self.collection.delete_one(running(claim)).await.map_err(translate)?;
        Ok(())
    }

    async fn purge_expired(&self, now: Timestamp, limit: u32) -> Result<u64, RepoError> {
        let expired = crate::retention::expired_keys(bson_date(now));
        crate::retention::purge(&self.collection, expired, limit).await
    }
}
