//! The `outbox` collection: rendered mail waiting to be delivered, as
//! [`Outbox`].
//!
//! No multi-document transactions: each promise rests on single-document
//! atomic writes.
//!
//! - Claiming is one `findOneAndUpdate` per message: the oldest PENDING
//!   message due at `now` has its `nextAttemptAt` moved to the lease's end in
//!   the same write that finds it. A message leased by one claim is no longer
//!   due for any other, so concurrent claimers (in this or another instance)
//!   never get the same message. A batch is up to `limit` such claims, each
//!   atomic on its own; the batch as a whole is not (nothing needs it to be).
//! - Each claim stores a fresh `claimToken` with the messages it leases. Every
//!   write that follows (renew, mark sent, retry later, mark dead, release) is
//!   one `updateOne` filtered on `_id`, `claimToken` and `status: PENDING`
//!   together, so a worker whose lease ran out cannot touch a message another
//!   worker claimed or sent since (a SENT message is never turned DEAD);
//!   `attempts` is raised with `$inc` in the same write.
//! - A claimed message whose worker dies is due again when its lease ends:
//!   delivery is at least once.
//! - A stored document that does not map back is `RepoError::Failed`, also in
//!   the middle of a claim batch: the messages claimed before it in that batch
//!   stay leased and are claimed again when their lease ends; the broken one
//!   is leased too, so it never blocks the messages due after it.

use async_trait::async_trait;
use mongodb::bson::{doc, oid::ObjectId, DateTime, Document};
use mongodb::options::{IndexOptions, ReturnDocument};
use mongodb::{Collection, IndexModel};
use serde::{Deserialize, Serialize};
use tozalash_domain::{
    ClaimToken, ClaimedMessage, Email, Id, MailKind, Outbox, OutboxMessage, OutboxStatus,
    RenderedMail, RepoError, Timestamp,
};

use crate::error::{translate, MalformedDocument};
use crate::values::{bson_date, id_of, object_id, timestamp_of};

pub(crate) const COLLECTION: &str = "outbox";

/// The stored shape of a message. Absent values are explicit `null`s, so
/// every document has every field.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OutboxDoc {
    #[serde(rename = "_id")]
    id: ObjectId,
    /// `MailKind::as_str()`: `"verify_email"` or `"reset_password"`.
    kind: String,
    to: String,
    subject: String,
    /// Emptied once the message is SENT or DEAD: its links carry secrets.
    text: String,
    html: String,
    /// `OutboxStatus::as_str()`: `"PENDING"`, `"SENT"` or `"DEAD"`.
    status: String,
    /// Written as Int64; an Int32 (another writer) reads back the same.
    attempts: i64,
    /// When the message is next due; while claimed, the end of its lease.
    next_attempt_at: DateTime,
    created_at: DateTime,
    last_error: Option<String>,
    /// When it was sent (`mark_sent`); `null` until then. Not part of the
    /// domain's message, kept for operators. `default`: documents written
    /// without it read as `null`.
    #[serde(default)]
    sent_at: Option<DateTime>,
    /// The token of the claim that holds the message (`ClaimToken`), `null`
    /// while none does. Every write that follows a claim filters on it.
    /// `default`: documents written without it read as `null`.
    #[serde(default)]
    claim_token: Option<String>,
}

impl From<&OutboxMessage> for OutboxDoc {
    fn from(m: &OutboxMessage) -> Self {
        Self {
            id: object_id(m.id),
            kind: m.kind.as_str().to_owned(),
            to: m.mail.to.as_str().to_owned(),
            subject: m.mail.subject.clone(),
            text: m.mail.text.clone(),
            html: m.mail.html.clone(),
            status: m.status.as_str().to_owned(),
            attempts: i64::from(m.attempts),
            next_attempt_at: bson_date(m.next_attempt_at),
            created_at: bson_date(m.created_at),
            last_error: m.last_error.clone(),
            sent_at: None,
            claim_token: None,
        }
    }
}

impl TryFrom<OutboxDoc> for OutboxMessage {
    type Error = MalformedDocument;

    /// Re-parses every field through the domain's constructors, so a document
    /// written by anything else that breaks a domain rule is reported, never
    /// trusted.
    fn try_from(d: OutboxDoc) -> Result<Self, Self::Error> {
        let malformed = |reason: String| MalformedDocument {
            collection: COLLECTION,
            id: d.id.to_hex(),
            reason,
        };
        let date = |field: &str, value: DateTime| {
            timestamp_of(value).ok_or_else(|| malformed(format!("{field} is out of range")))
        };
        let to = Email::parse("to", &d.to).map_err(|e| malformed(format!("to: {}", e.message)))?;
        if to.as_str() != d.to {
            return Err(malformed("to is not normalised".into()));
        }
        Ok(OutboxMessage {
            id: id_of(d.id),
            kind: d
                .kind
                .parse::<MailKind>()
                .map_err(|()| malformed(format!("kind {:?} is unknown", d.kind)))?,
            status: d
                .status
                .parse::<OutboxStatus>()
                .map_err(|()| malformed(format!("status {:?} is unknown", d.status)))?,
            attempts: u32::try_from(d.attempts)
                .map_err(|_| malformed(format!("attempts {} is out of range", d.attempts)))?,
            next_attempt_at: date("nextAttemptAt", d.next_attempt_at)?,
            created_at: date("createdAt", d.created_at)?,
            mail: RenderedMail { to, subject: d.subject, text: d.text, html: d.html },
            last_error: d.last_error,
        })
    }
}

/// Every index on `outbox` (named explicitly, see `services::indexes`).
pub(crate) fn indexes() -> Vec<IndexModel> {
    // The claim query of `claim_due`: `{status: "PENDING", nextAttemptAt:
    // {$lte: now}}` sorted `{nextAttemptAt: 1, _id: 1}`. The equality on
    // `status` first, then the range and the sort on the same keys in the same
    // order: the index yields the oldest due message directly, with no
    // in-memory sort, however many SENT messages accumulate. It also serves
    // `backlog`'s counts by status. `get` and the follow-up writes go by `_id`.
    vec![IndexModel::builder()
        .keys(doc! { "status": 1, "nextAttemptAt": 1, "_id": 1 })
        .options(IndexOptions::builder().name("outbox_status_nextAttemptAt_id".to_owned()).build())
        .build()]
}

/// [`Outbox`] on the `outbox` collection.
#[derive(Debug, Clone)]
pub(crate) struct MongoOutbox {
    collection: Collection<OutboxDoc>,
}

impl MongoOutbox {
    pub(crate) fn new(collection: Collection<OutboxDoc>) -> Self {
        Self { collection }
    }

    /// One conditional update of a message the claim `token` holds: the
    /// filter is `_id`, `claimToken` and `status: PENDING` together, so a
    /// stale worker's write matches nothing. Answers whether it matched.
    async fn follow_up(
        &self,
        id: Id,
        token: &ClaimToken,
        update: Document,
    ) -> Result<bool, RepoError> {
        let result = self
            .collection
            .update_one(
                doc! {
                    "_id": object_id(id),
                    "claimToken": token.as_str(),
                    "status": OutboxStatus::Pending.as_str(),
                },
                update,
            )
            .await
            .map_err(translate)?;
        Ok(result.matched_count == 1)
    }

    async fn count(&self, status: OutboxStatus) -> Result<u64, RepoError> {
        self.collection.count_documents(doc! { "status": status.as_str() }).await.map_err(translate)
    }
}

#[async_trait]
impl Outbox for MongoOutbox {
    async fn enqueue(&self, message: &OutboxMessage) -> Result<(), RepoError> {
        self.collection.insert_one(OutboxDoc::from(message)).await.map_err(translate)?;
        Ok(())
    }

    async fn claim_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<ClaimedMessage>, RepoError> {
        let token = ClaimToken::generate();
        let mut claimed = Vec::new();
        for _ in 0..limit {
            // One atomic claim: finds the oldest due message and leases it in
            // the same write, so no concurrent claim can find it any more.
            let Some(doc) = self
                .collection
                .find_one_and_update(
                    doc! {
                        "status": OutboxStatus::Pending.as_str(),
                        "nextAttemptAt": { "$lte": bson_date(now) },
                    },
                    doc! { "$set": {
                        "nextAttemptAt": bson_date(lease_until),
                        "claimToken": token.as_str(),
                    } },
                )
                .sort(doc! { "nextAttemptAt": 1, "_id": 1 })
                .return_document(ReturnDocument::After)
                .await
                .map_err(translate)?
            else {
                break; // nothing more is due
            };
            let message = OutboxMessage::try_from(doc)?;
            claimed.push(ClaimedMessage { message, token: token.clone() });
        }
        Ok(claimed)
    }

    async fn renew(
        &self,
        id: Id,
        token: &ClaimToken,
        lease_until: Timestamp,
    ) -> Result<bool, RepoError> {
        self.follow_up(id, token, doc! { "$set": { "nextAttemptAt": bson_date(lease_until) } })
            .await
    }

    async fn mark_sent(
        &self,
        id: Id,
        token: &ClaimToken,
        now: Timestamp,
    ) -> Result<bool, RepoError> {
        // The body goes: its links carry secret tokens. The claim ends.
        let update = doc! { "$set": {
            "status": OutboxStatus::Sent.as_str(),
            "sentAt": bson_date(now),
            "text": "",
            "html": "",
            "claimToken": null,
        } };
        self.follow_up(id, token, update).await
    }

    async fn retry_later(
        &self,
        id: Id,
        token: &ClaimToken,
        next_attempt_at: Timestamp,
        error: &str,
    ) -> Result<bool, RepoError> {
        // Status stays PENDING and the body stays; the new `nextAttemptAt`
        // replaces the lease, and the attempt is counted in the write.
        let update = doc! {
            "$set": {
                "nextAttemptAt": bson_date(next_attempt_at),
                "lastError": error,
                "claimToken": null,
            },
            "$inc": { "attempts": 1_i64 },
        };
        self.follow_up(id, token, update).await
    }

    async fn mark_dead(&self, id: Id, token: &ClaimToken, error: &str) -> Result<bool, RepoError> {
        let update = doc! {
            "$set": {
                "status": OutboxStatus::Dead.as_str(),
                "lastError": error,
                "text": "",
                "html": "",
                "claimToken": null,
            },
            "$inc": { "attempts": 1_i64 },
        };
        self.follow_up(id, token, update).await
    }

    async fn release(&self, id: Id, token: &ClaimToken, now: Timestamp) -> Result<bool, RepoError> {
        let update = doc! { "$set": { "nextAttemptAt": bson_date(now), "claimToken": null } };
        self.follow_up(id, token, update).await
    }

    async fn get(&self, id: Id) -> Result<Option<OutboxMessage>, RepoError> {
        let found =
            self.collection.find_one(doc! { "_id": object_id(id) }).await.map_err(translate)?;
        Ok(found.map(OutboxMessage::try_from).transpose()?)
    }

    async fn backlog(&self) -> Result<(u64, u64), RepoError> {
        // Two counts on the status prefix of the claim index, concurrently.
        futures::try_join!(self.count(OutboxStatus::Pending), self.count(OutboxStatus::Dead))
    }

    async fn purge_finished(&self, before: Timestamp, limit: u32) -> Result<u64, RepoError> {
        let finished = crate::retention::finished_mail(bson_date(before));
        crate::retention::purge(&self.collection, finished, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::Bson;

    use tozalash_domain::clock::at;

    fn message() -> OutboxMessage {
        OutboxMessage {
            id: Id::generate(),
            kind: MailKind::ResetPassword,
            mail: RenderedMail {
                to: Email::parse("to", "zarina@example.uz").expect("valid"),
                subject: "Parolni tiklash".into(),
                text: "Havola: http://x/?token=abc".into(),
                html: "<a href=\"http://x/?token=abc\">tiklash</a>".into(),
            },
            status: OutboxStatus::Pending,
            attempts: 3,
            next_attempt_at: at(1_764_201_609_000),
            created_at: at(1_764_201_600_123),
            last_error: Some("connection refused".into()),
        }
    }

    #[test]
    fn documents_round_trip_to_the_same_message() {
        let retried = message();
        let doc = OutboxDoc::from(&retried);
        assert_eq!((doc.kind.as_str(), doc.status.as_str()), ("reset_password", "PENDING"));
        assert_eq!(OutboxMessage::try_from(doc).expect("maps back"), retried);

        let fresh = OutboxMessage {
            kind: MailKind::VerifyEmail,
            status: OutboxStatus::Dead,
            attempts: 0,
            last_error: None,
            ..message()
        };
        assert_eq!(OutboxMessage::try_from(OutboxDoc::from(&fresh)).expect("maps back"), fresh);
    }

    #[test]
    fn a_new_message_stores_explicit_nulls_and_int64_attempts() {
        let fresh = OutboxMessage { last_error: None, ..message() };
        let stored = mongodb::bson::to_document(&OutboxDoc::from(&fresh)).expect("serialises");
        assert_eq!(stored.get("lastError"), Some(&Bson::Null));
        assert_eq!(stored.get("sentAt"), Some(&Bson::Null));
        assert_eq!(stored.get("attempts"), Some(&Bson::Int64(3)));
        assert!(matches!(stored.get("nextAttemptAt"), Some(Bson::DateTime(_))));
    }

    #[test]
    fn int32_attempts_and_a_missing_sent_at_read_back() {
        let original = message();
        let mut stored =
            mongodb::bson::to_document(&OutboxDoc::from(&original)).expect("serialises");
        stored.insert("attempts", Bson::Int32(3));
        stored.remove("sentAt");
        let doc: OutboxDoc = mongodb::bson::from_document(stored).expect("deserialises");
        assert_eq!(OutboxMessage::try_from(doc).expect("maps back"), original);
    }

    #[test]
    fn a_document_breaking_a_domain_rule_is_malformed_not_a_panic() {
        let broken: [fn(&mut OutboxDoc); 7] = [
            |d| d.kind = "VERIFY_EMAIL".into(),
            |d| d.status = "pending".into(),
            |d| d.to = "not-an-email".into(),
            |d| d.to = "Zarina@example.uz".into(),
            |d| d.attempts = -1,
            |d| d.attempts = i64::from(u32::MAX) + 1,
            |d| d.next_attempt_at = DateTime::MAX,
        ];
        for breakage in broken {
            let mut doc = OutboxDoc::from(&message());
            breakage(&mut doc);
            assert!(OutboxMessage::try_from(doc).is_err());
        }
    }
}
