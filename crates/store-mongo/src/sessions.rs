//! The `sessions` and `refreshTokens` collections: logins and every refresh
//! token each has had, as [`SessionRepo`].
//!
//! Nothing here needs a multi-document transaction (a standalone MongoDB has
//! none): each promise of the port rests on one single-document atomic write.
//!
//! - A session document holds the hash of its current refresh token
//!   (`currentToken`) beside its revocation and expiry, so rotation is decided
//!   by one conditional `findAndModify` on the session:
//!   `{_id, currentToken: old, revokedAt: null, expiresAt: {$gt: now}}` →
//!   `{$set: {currentToken: new}}`. Of any number of concurrent rotations of
//!   one token exactly one matches, and none matches once a revocation
//!   (`revokedAt` set, by logout or a password reset) or the expiry is there:
//!   the revocation and the rotation are writes to the same document, which
//!   the server orders. Only the winner then marks the old token document
//!   rotated and inserts the new one (kept for `find_refresh_token` and the
//!   replay detection: a rotated token presented again revokes the session),
//!   and answers `true`.
//! - Crash window: if the process dies (or a write fails) after the session
//!   names the new token and before its document is stored, the session's
//!   current token is one no client holds, and the old token no longer
//!   rotates. The client never received the new token, so it must log in
//!   again. Nothing is ever granted twice; the failure mode is a lost session,
//!   not a duplicated one.
//! - Sessions stored before `currentToken` existed have no such field. The
//!   first rotation of such a session adopts its current token document (the
//!   one with `rotatedAt: null`) into the session, with a write conditional on
//!   the field still being absent, and then rotates as above; so the decision
//!   is still the one write on the session. No migration step is needed.
//! - `create` stores the session before its token. A crash in between leaves a
//!   session no token points to, which nothing can find or refresh.
//! - Retention (`purge_ended`) removes a session's tokens before the session;
//!   a token whose session is missing all the same reads as unknown (`None`),
//!   so a replayed old token is a plain 401, never a server error.
//! - `live_user` reads the session and the user by `_id`, both at once, and
//!   checks the session in memory: two point reads on one round trip's time,
//!   which is what a join of two primary keys costs on SQL.

use std::future::IntoFuture;

use async_trait::async_trait;
use mongodb::bson::{doc, oid::ObjectId, DateTime, Document};
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};
use serde::{Deserialize, Serialize};
use tozalash_domain::{
    Id, RefreshToken, RepoError, Session, SessionRepo, Timestamp, TokenHash, User,
};

use crate::error::{translate, MalformedDocument};
use crate::users::UserDoc;
use crate::values::{bson_date, id_of, object_id, timestamp_of};

pub(crate) const SESSIONS: &str = "sessions";
pub(crate) const REFRESH_TOKENS: &str = "refreshTokens";

/// The stored shape of a session.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionDoc {
    #[serde(rename = "_id")]
    id: ObjectId,
    user_id: ObjectId,
    created_at: DateTime,
    expires_at: DateTime,
    /// Written as an explicit `null` while active, so `{revokedAt: null}` is the
    /// condition of every revoking write.
    revoked_at: Option<DateTime>,
    /// The hash (`TokenHash::to_hex`) of the session's current refresh token,
    /// the condition of rotation. Absent on sessions stored before it existed
    /// (see the module's notes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    current_token: Option<String>,
}

/// The stored shape of a refresh token. Its `_id` is the token's SHA-256 as 64
/// lower-case hex characters (`TokenHash::to_hex`): the lookup key is the
/// primary key, and the `_id_` index makes a hash unique.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RefreshTokenDoc {
    #[serde(rename = "_id")]
    hash: String,
    session_id: ObjectId,
    created_at: DateTime,
    /// `null` while it is its session's current token.
    rotated_at: Option<DateTime>,
}

impl From<&Session> for SessionDoc {
    fn from(s: &Session) -> Self {
        Self {
            id: object_id(s.id),
            user_id: object_id(s.user_id),
            created_at: bson_date(s.created_at),
            expires_at: bson_date(s.expires_at),
            revoked_at: s.revoked_at.map(bson_date),
            current_token: None,
        }
    }
}

impl From<&RefreshToken> for RefreshTokenDoc {
    fn from(t: &RefreshToken) -> Self {
        Self {
            hash: t.hash.to_hex(),
            session_id: object_id(t.session_id),
            created_at: bson_date(t.created_at),
            rotated_at: t.rotated_at.map(bson_date),
        }
    }
}

/// A date field's domain value, or why the document is malformed.
fn date(
    malformed: &impl Fn(String) -> MalformedDocument,
    field: &str,
    value: DateTime,
) -> Result<Timestamp, MalformedDocument> {
    timestamp_of(value).ok_or_else(|| malformed(format!("{field} is out of range")))
}

impl TryFrom<SessionDoc> for Session {
    type Error = MalformedDocument;

    fn try_from(d: SessionDoc) -> Result<Self, Self::Error> {
        let malformed =
            |reason: String| MalformedDocument { collection: SESSIONS, id: d.id.to_hex(), reason };
        Ok(Session {
            id: id_of(d.id),
            user_id: id_of(d.user_id),
            created_at: date(&malformed, "createdAt", d.created_at)?,
            expires_at: date(&malformed, "expiresAt", d.expires_at)?,
            revoked_at: d.revoked_at.map(|at| date(&malformed, "revokedAt", at)).transpose()?,
        })
    }
}

impl TryFrom<RefreshTokenDoc> for RefreshToken {
    type Error = MalformedDocument;

    fn try_from(d: RefreshTokenDoc) -> Result<Self, Self::Error> {
        let malformed = |reason: String| MalformedDocument {
            collection: REFRESH_TOKENS,
            id: d.hash.clone(),
            reason,
        };
        // Only the canonical form: a hash stored any other way (upper case)
        // could never be found by the lookups, which use `to_hex`.
        let hash = TokenHash::from_hex(&d.hash)
            .filter(|h| h.to_hex() == d.hash)
            .ok_or_else(|| malformed("_id is not 64 lower-case hex characters".into()))?;
        Ok(RefreshToken {
            hash,
            session_id: id_of(d.session_id),
            created_at: date(&malformed, "createdAt", d.created_at)?,
            rotated_at: d.rotated_at.map(|at| date(&malformed, "rotatedAt", at)).transpose()?,
        })
    }
}

fn index(name: &str, keys: Document) -> IndexModel {
    IndexModel::builder()
        .keys(keys)
        .options(IndexOptions::builder().name(name.to_owned()).build())
        .build()
}

/// Every index on `sessions` (named explicitly, see `services::indexes`).
/// The filter of session `id` while it is live at `now`: not revoked, not
/// expired (a session expiring exactly then is over), as `Session::is_active`
/// says, for the writes that must only happen in a live session.
pub(crate) fn live_session(id: Id, now: Timestamp) -> Document {
    doc! { "_id": object_id(id), "revokedAt": null, "expiresAt": { "$gt": bson_date(now) } }
}

pub(crate) fn session_indexes() -> Vec<IndexModel> {
    // `revoke_all_for_user` (logout-all, password reset and change): a user's
    // sessions without scanning everyone's. `revoke` and the session lookup of
    // `find_refresh_token` use `_id`.
    vec![index("sessions_userId", doc! { "userId": 1 })]
}

/// Every index on `refreshTokens`.
pub(crate) fn refresh_token_indexes() -> Vec<IndexModel> {
    // `find_refresh_token` and `rotate` go by `_id` (the hash). This one finds
    // a session's tokens: `purge_ended` deletes the tokens of ended sessions
    // (before the sessions) through it.
    vec![index("refreshTokens_sessionId", doc! { "sessionId": 1 })]
}

/// [`SessionRepo`] on the `sessions` and `refreshTokens` collections (and
/// `users`, read by `live_user`).
#[derive(Debug, Clone)]
pub(crate) struct MongoSessionRepo {
    sessions: Collection<SessionDoc>,
    tokens: Collection<RefreshTokenDoc>,
    users: Collection<UserDoc>,
}

impl MongoSessionRepo {
    pub(crate) fn new(
        sessions: Collection<SessionDoc>,
        tokens: Collection<RefreshTokenDoc>,
        users: Collection<UserDoc>,
    ) -> Self {
        Self { sessions, tokens, users }
    }
}

impl MongoSessionRepo {
    /// The decision of a rotation: one conditional write on the session
    /// document, which holds the current token, the revocation and the expiry.
    async fn claim(
        &self,
        old: &TokenHash,
        new: &RefreshToken,
        now: Timestamp,
    ) -> Result<bool, RepoError> {
        let mut current = live_session(new.session_id, now);
        current.insert("currentToken", old.to_hex());
        let claimed = self
            .sessions
            .find_one_and_update(current, doc! { "$set": { "currentToken": new.hash.to_hex() } })
            .await
            .map_err(translate)?;
        Ok(claimed.is_some())
    }

    /// For a session stored before `currentToken` existed: records its current
    /// token document (`rotatedAt: null`) as its `currentToken`, only if the
    /// field is still absent. Answers whether the session now has the field
    /// where it had none, that is, whether deciding again may change the answer.
    async fn adopt_current_token(&self, session_id: Id) -> Result<bool, RepoError> {
        let session = object_id(session_id);
        let legacy = doc! { "_id": session, "currentToken": { "$exists": false } };
        if self.sessions.find_one(legacy.clone()).await.map_err(translate)?.is_none() {
            return Ok(false);
        }
        let Some(current) = self
            .tokens
            .find_one(doc! { "sessionId": session, "rotatedAt": null })
            .await
            .map_err(translate)?
        else {
            return Ok(false);
        };
        // Concurrent adopters all write the same value; whichever lands first
        // sets it, and the others match nothing.
        self.sessions
            .update_one(legacy, doc! { "$set": { "currentToken": current.hash } })
            .await
            .map_err(translate)?;
        Ok(true)
    }
}

#[async_trait]
impl SessionRepo for MongoSessionRepo {
    async fn create(&self, session: &Session, token: &RefreshToken) -> Result<(), RepoError> {
        let stored = SessionDoc { current_token: Some(token.hash.to_hex()), ..session.into() };
        self.sessions.insert_one(stored).await.map_err(translate)?;
        if let Err(err) = self.tokens.insert_one(RefreshTokenDoc::from(token)).await {
            // Best effort: do not leave a session behind whose creation failed.
            // If this fails too, the session is unreachable (no token names it).
            if let Err(cleanup) =
                self.sessions.delete_one(doc! { "_id": object_id(session.id) }).await
            {
                tracing::warn!(error = %cleanup, session = %session.id, "could not remove a half-created session");
            }
            return Err(translate(err));
        }
        Ok(())
    }

    async fn find_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(RefreshToken, Session)>, RepoError> {
        let Some(token) =
            self.tokens.find_one(doc! { "_id": hash.to_hex() }).await.map_err(translate)?
        else {
            return Ok(None);
        };
        let token = RefreshToken::try_from(token)?;
        let session = self
            .sessions
            .find_one(doc! { "_id": object_id(token.session_id) })
            .await
            .map_err(translate)?;
        // Its session was purged (retention deletes the tokens first, but a
        // purge may be under way): an unknown token, not a malformed one.
        let Some(session) = session else {
            return Ok(None);
        };
        Ok(Some((token, Session::try_from(session)?)))
    }

    async fn rotate(
        &self,
        old: &TokenHash,
        new: &RefreshToken,
        now: Timestamp,
    ) -> Result<bool, RepoError> {
        let mut claimed = self.claim(old, new, now).await?;
        if !claimed && self.adopt_current_token(new.session_id).await? {
            // A session from before `currentToken`: now it has one; decide again.
            claimed = self.claim(old, new, now).await?;
        }
        if !claimed {
            // Already rotated (another request won), never issued, of another
            // session, or the session was revoked or has expired.
            return Ok(false);
        }
        // Only the winner gets here. Until the insert, the session's current
        // token has no document (see the module's crash window).
        self.tokens
            .update_one(
                doc! { "_id": old.to_hex(), "rotatedAt": null },
                doc! { "$set": { "rotatedAt": bson_date(now) } },
            )
            .await
            .map_err(translate)?;
        self.tokens.insert_one(RefreshTokenDoc::from(new)).await.map_err(translate)?;
        Ok(true)
    }

    async fn live_user(
        &self,
        session_id: Id,
        user_id: Id,
        now: Timestamp,
    ) -> Result<Option<User>, RepoError> {
        let (session, user) = futures::join!(
            self.sessions.find_one(doc! { "_id": object_id(session_id) }).into_future(),
            self.users.find_one(doc! { "_id": object_id(user_id) }).into_future(),
        );
        let Some(session) = session.map_err(translate)? else {
            return Ok(None);
        };
        let session = Session::try_from(session)?;
        if session.user_id != user_id || !session.is_active(now) {
            return Ok(None);
        }
        Ok(user.map_err(translate)?.map(User::try_from).transpose()?)
    }

    async fn revoke(&self, session_id: Id, now: Timestamp) -> Result<bool, RepoError> {
        let result = self
            .sessions
            .update_one(
                doc! { "_id": object_id(session_id), "revokedAt": null },
                doc! { "$set": { "revokedAt": bson_date(now) } },
            )
            .await
            .map_err(translate)?;
        Ok(result.modified_count == 1)
    }

    async fn revoke_all_for_user(
        &self,
        user_id: Id,
        keep: Option<Id>,
        now: Timestamp,
    ) -> Result<u64, RepoError> {
        // `revokedAt: null` spares sessions revoked earlier, so they keep their
        // time and are not counted.
        let mut filter = doc! { "userId": object_id(user_id), "revokedAt": null };
        if let Some(keep) = keep {
            filter.insert("_id", doc! { "$ne": object_id(keep) });
        }
        let result = self
            .sessions
            .update_many(filter, doc! { "$set": { "revokedAt": bson_date(now) } })
            .await
            .map_err(translate)?;
        Ok(result.modified_count)
    }

    async fn purge_ended(&self, before: Timestamp, limit: u32) -> Result<u64, RepoError> {
        // Tokens first, then their sessions: a crash in between leaves ended
        // sessions without tokens (purged next time), never a token whose
        // session is missing (which `find_refresh_token` reads as `None` anyway).
        let ended = crate::retention::ended_sessions(bson_date(before));
        let ids = crate::retention::ids(&self.sessions, &ended, limit).await?;
        if ids.is_empty() {
            return Ok(0);
        }
        self.tokens
            .delete_many(doc! { "sessionId": { "$in": ids.clone() } })
            .await
            .map_err(translate)?;
        crate::retention::delete(&self.sessions, ended, ids).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use tozalash_domain::clock::at;

    #[test]
    fn documents_round_trip_to_the_same_session_and_token() {
        let session = Session {
            id: Id::generate(),
            user_id: Id::generate(),
            created_at: at(1_764_201_600_123),
            expires_at: at(1_766_793_600_123),
            revoked_at: Some(at(1_764_201_700_456)),
        };
        assert_eq!(Session::try_from(SessionDoc::from(&session)).expect("maps back"), session);
        let active = Session { revoked_at: None, ..session.clone() };
        assert_eq!(Session::try_from(SessionDoc::from(&active)).expect("maps back"), active);

        let token = RefreshToken {
            hash: TokenHash([0xab; 32]),
            session_id: session.id,
            created_at: at(1_764_201_600_123),
            rotated_at: Some(at(1_764_201_600_999)),
        };
        let doc = RefreshTokenDoc::from(&token);
        assert_eq!(doc.hash, "ab".repeat(32));
        assert_eq!(RefreshToken::try_from(doc).expect("maps back"), token);
    }

    #[test]
    fn an_active_session_stores_an_explicit_null_revoked_at() {
        let session = Session {
            id: Id::generate(),
            user_id: Id::generate(),
            created_at: at(0),
            expires_at: at(1),
            revoked_at: None,
        };
        let stored = mongodb::bson::to_document(&SessionDoc::from(&session)).expect("serialises");
        assert_eq!(stored.get("revokedAt"), Some(&mongodb::bson::Bson::Null));
    }

    #[test]
    fn a_token_whose_id_is_not_a_canonical_hash_is_malformed_not_a_panic() {
        for bad in ["", "xyz", &"AB".repeat(32), &"ab".repeat(31)] {
            let doc = RefreshTokenDoc {
                hash: bad.to_owned(),
                session_id: ObjectId::new(),
                created_at: DateTime::from_millis(0),
                rotated_at: None,
            };
            assert!(RefreshToken::try_from(doc).is_err(), "{bad:?}");
        }
    }
}
