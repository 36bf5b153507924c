//! The `emailTokens` collection: e-mail verification and password-reset
//! tokens as [`EmailTokenRepo`].
//!
//! A token's `_id` is its hash (`TokenHash::to_hex`, 64 lower-case hex
//! characters): every lookup is by primary key, and the `_id_` index makes a
//! hash unique. Using a token is ONE single-document conditional write — the
//! conditions "unused" (`usedAt: null`) and "unexpired" (`expiresAt > now`)
//! are part of the filter of a `findOneAndUpdate` — so of any number of
//! concurrent uses exactly one matches; no multi-document transaction needed.

use async_trait::async_trait;
use mongodb::bson::{doc, oid::ObjectId, DateTime, Document};
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};
use serde::{Deserialize, Serialize};
use tozalash_domain::{
    Email, EmailToken, EmailTokenRepo, Id, RepoError, Timestamp, TokenHash, TokenPurpose,
};

use crate::error::{translate, MalformedDocument};
use crate::values::{bson_date, id_of, object_id, timestamp_of};

pub(crate) const COLLECTION: &str = "emailTokens";

/// The stored shape of a token.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EmailTokenDoc {
    /// `TokenHash::to_hex()`: the lookup key is the primary key.
    #[serde(rename = "_id")]
    hash: String,
    user_id: ObjectId,
    /// `TokenPurpose::as_str()`: `"VERIFY_EMAIL"` or `"RESET_PASSWORD"`.
    purpose: String,
    email: String,
    created_at: DateTime,
    expires_at: DateTime,
    /// Written as an explicit `null` while usable, so `{usedAt: null}` is the
    /// condition of every using or invalidating write.
    used_at: Option<DateTime>,
}

impl From<&EmailToken> for EmailTokenDoc {
    fn from(t: &EmailToken) -> Self {
        Self {
            hash: t.hash.to_hex(),
            user_id: object_id(t.user_id),
            purpose: t.purpose.as_str().to_owned(),
            email: t.email.as_str().to_owned(),
            created_at: bson_date(t.created_at),
            expires_at: bson_date(t.expires_at),
            used_at: t.used_at.map(bson_date),
        }
    }
}

impl TryFrom<EmailTokenDoc> for EmailToken {
    type Error = MalformedDocument;

    /// Re-parses every field through the domain's constructors, so a document
    /// written by anything else that breaks a domain rule is reported, never
    /// trusted.
    fn try_from(d: EmailTokenDoc) -> Result<Self, Self::Error> {
        let malformed = |reason: String| MalformedDocument {
            collection: COLLECTION,
            // Only a prefix: the hash is the lookup key of a live secret.
            id: d.hash.chars().take(8).collect::<String>() + "…",
            reason,
        };
        let date = |field: &str, value: DateTime| {
            timestamp_of(value).ok_or_else(|| malformed(format!("{field} is out of range")))
        };
        // Only the canonical form: a hash stored any other way (upper case)
        // could never be found by the lookups, which use `to_hex`.
        let hash = TokenHash::from_hex(&d.hash)
            .filter(|h| h.to_hex() == d.hash)
            .ok_or_else(|| malformed("_id is not 64 lower-case hex characters".into()))?;
        let email = Email::parse("email", &d.email)
            .map_err(|e| malformed(format!("email: {}", e.message)))?;
        if email.as_str() != d.email {
            return Err(malformed("email is not normalised".into()));
        }
        Ok(EmailToken {
            hash,
            user_id: id_of(d.user_id),
            purpose: d
                .purpose
                .parse::<TokenPurpose>()
                .map_err(|()| malformed(format!("purpose {:?} is unknown", d.purpose)))?,
            email,
            created_at: date("createdAt", d.created_at)?,
            expires_at: date("expiresAt", d.expires_at)?,
            used_at: d.used_at.map(|at| date("usedAt", at)).transpose()?,
        })
    }
}

/// Every index on `emailTokens` (named explicitly, see `services::indexes`).
pub(crate) fn indexes() -> Vec<IndexModel> {
    // `invalidate` (a user's unused tokens of one purpose). `find` and
    // `consume` go by `_id` (the hash).
    vec![IndexModel::builder()
        .keys(doc! { "userId": 1, "purpose": 1, "createdAt": -1 })
        .options(
            IndexOptions::builder().name("emailTokens_userId_purpose_createdAt".to_owned()).build(),
        )
        .build()]
}

/// The condition of a usable token: this hash and purpose, unused, and not
/// expired at `now` (a token expiring exactly at `now` is expired).
fn usable(hash: &TokenHash, purpose: TokenPurpose, now: Timestamp) -> Document {
    doc! {
        "_id": hash.to_hex(),
        "purpose": purpose.as_str(),
        "usedAt": null,
        "expiresAt": { "$gt": bson_date(now) },
    }
}

/// [`EmailTokenRepo`] on the `emailTokens` collection.
#[derive(Debug, Clone)]
pub(crate) struct MongoEmailTokenRepo {
    collection: Collection<EmailTokenDoc>,
}

impl MongoEmailTokenRepo {
    pub(crate) fn new(collection: Collection<EmailTokenDoc>) -> Self {
        Self { collection }
    }
}

#[async_trait]
impl EmailTokenRepo for MongoEmailTokenRepo {
    async fn insert(&self, token: &EmailToken) -> Result<(), RepoError> {
        // A taken hash is refused by the `_id_` index (→ `Duplicate(UniqueKey::Id)`).
        self.collection.insert_one(EmailTokenDoc::from(token)).await.map_err(translate)?;
        Ok(())
    }

    async fn find(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: Timestamp,
    ) -> Result<Option<EmailToken>, RepoError> {
        let found =
            self.collection.find_one(usable(hash, purpose, now)).await.map_err(translate)?;
        Ok(found.map(EmailToken::try_from).transpose()?)
    }

    async fn consume(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: Timestamp,
    ) -> Result<Option<EmailToken>, RepoError> {
        // One `findAndModify`: the usability conditions are its filter, so of
        // concurrent uses exactly one matches and marks it used; every other
        // finds nothing and writes nothing. It answers the document as it was
        // before this write (the driver's default, `ReturnDocument::Before`):
        // the token as it was when it was used.
        let used = self
            .collection
            .find_one_and_update(
                usable(hash, purpose, now),
                doc! { "$set": { "usedAt": bson_date(now) } },
            )
            .await
            .map_err(translate)?;
        Ok(used.map(EmailToken::try_from).transpose()?)
    }

    async fn invalidate(
        &self,
        user_id: Id,
        purpose: TokenPurpose,
        now: Timestamp,
    ) -> Result<u64, RepoError> {
        // Each document is marked atomically and only while unused, so a token
        // used (or invalidated) concurrently keeps its time and is not counted.
        let result = self
            .collection
            .update_many(
                doc! {
                    "userId": object_id(user_id),
                    "purpose": purpose.as_str(),
                    "usedAt": null,
                },
                doc! { "$set": { "usedAt": bson_date(now) } },
            )
            .await
            .map_err(translate)?;
        Ok(result.modified_count)
    }

    async fn purge_spent(&self, before: Timestamp, limit: u32) -> Result<u64, RepoError> {
        let spent = crate::retention::spent_tokens(bson_date(before));
        crate::retention::purge(&self.collection, spent, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::Bson;

    use tozalash_domain::clock::at;

    fn token() -> EmailToken {
        EmailToken {
            hash: TokenHash([0xab; 32]),
            user_id: Id::generate(),
            purpose: TokenPurpose::ResetPassword,
            email: Email::parse("email", "zarina@example.uz").expect("valid"),
            created_at: at(1_764_201_600_123),
            expires_at: at(1_764_203_400_123),
            used_at: None,
        }
    }

    #[test]
    fn documents_round_trip_to_the_same_token() {
        let unused = token();
        let doc = EmailTokenDoc::from(&unused);
        assert_eq!(doc.hash, "ab".repeat(32));
        assert_eq!(doc.purpose, "RESET_PASSWORD");
        assert_eq!(EmailToken::try_from(doc).expect("maps back"), unused);

        let used = EmailToken {
            purpose: TokenPurpose::VerifyEmail,
            used_at: Some(at(1_764_201_700_456)),
            ..token()
        };
        assert_eq!(EmailToken::try_from(EmailTokenDoc::from(&used)).expect("maps back"), used);
    }

    #[test]
    fn an_unused_token_stores_an_explicit_null_used_at() {
        let stored =
            mongodb::bson::to_document(&EmailTokenDoc::from(&token())).expect("serialises");
        assert_eq!(stored.get("usedAt"), Some(&Bson::Null));
        assert!(matches!(stored.get("userId"), Some(Bson::ObjectId(_))));
        assert!(matches!(stored.get("expiresAt"), Some(Bson::DateTime(_))));
    }

    #[test]
    fn a_document_breaking_a_domain_rule_is_malformed_not_a_panic() {
        let broken: [fn(&mut EmailTokenDoc); 7] = [
            |d| d.hash = "xyz".into(),
            |d| d.hash = "AB".repeat(32),
            |d| d.purpose = "verify_email".into(),
            |d| d.email = "not-an-email".into(),
            |d| d.email = "Zarina@example.uz".into(),
            |d| d.created_at = DateTime::MAX,
            |d| d.used_at = Some(DateTime::MIN),
        ];
        for breakage in broken {
            let mut doc = EmailTokenDoc::from(&token());
            breakage(&mut doc);
            assert!(EmailToken::try_from(doc).is_err());
        }
    }

    #[test]
    fn a_usable_token_is_unused_and_expires_strictly_after_now() {
        let hash = TokenHash([0x01; 32]);
        assert_eq!(
            usable(&hash, TokenPurpose::VerifyEmail, at(5_000)),
            doc! {
                "_id": "01".repeat(32),
                "purpose": "VERIFY_EMAIL",
                "usedAt": null,
                "expiresAt": { "$gt": DateTime::from_millis(5_000) },
            }
        );
    }
}
