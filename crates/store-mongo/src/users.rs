//! The `users` collection: accounts as [`UserRepo`], their document shape and
//! the indexes that keep e-mails and usernames unique; and the `guards`
//! document that keeps the last administrator.
//!
//! # The last administrator, without transactions
//!
//! The adapter never uses multi-document transactions (a standalone MongoDB
//! has none), so "is this the only ADMIN?" cannot be read and then written
//! atomically across user documents. Instead one document, `{_id: "admins",
//! count}` in `guards`, holds a LOWER BOUND of the number of ADMIN accounts,
//! and every write that changes that number goes through it in an order that
//! can only leave it too low:
//!
//! - removing an ADMIN (demotion, deletion) first takes one off the bound with
//!   ONE conditional write, `findOneAndUpdate({_id: "admins", count: {$gt: 1}},
//!   {$inc: {count: -1}})`; no match means it may be the last one (`LastAdmin`).
//!   Only then is the user written, conditional on `role: "ADMIN"`; if that
//!   matches nothing (no longer an ADMIN, or gone), the one is given back.
//! - adding an ADMIN (insert, promotion) writes the user first and then adds
//!   one, only when the write really turned a non-ADMIN into one.
//!
//! Since the bound never exceeds the true number, a take that succeeds leaves
//! at least one ADMIN, and two administrators demoting each other cannot both
//! take (the second finds `count: 1`). A crash, or a failed write, between the
//! two steps leaves the bound too low: a later demotion may be refused although
//! allowed, never the reverse. Operators may repair the bound while no instance
//! runs (see the crate's README). The document is created by
//! `MongoStore::ensure_indexes`, or on the first refusal if it is missing, with
//! the number of ADMIN accounts counted then (`$setOnInsert`, so never twice).

use std::future::Future;

use async_trait::async_trait;
use mongodb::bson::{doc, oid::ObjectId, Bson, Document};
use mongodb::options::{IndexOptions, ReturnDocument};
use mongodb::{Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};
use tozalash_domain::{
    Email, Id, MailSlot, Page, PasswordHash, RepoError, Role, Timestamp, UniqueKey, User,
    UserPatch, UserQuery, UserRepo, Username, Version,
};

use crate::error::{translate, MalformedDocument};
use crate::pages::{page_of, ReadLimit};
use crate::search::escape_regex;
use crate::values::{bson_date, id_of, object_id, timestamp_of};
use crate::versions;

pub(crate) const COLLECTION: &str = "users";

/// Documents that guard an invariant spanning many documents; see the module.
pub(crate) const GUARDS: &str = "guards";

/// The `_id` of the guard document of the ADMIN accounts.
const ADMINS: &str = "admins";

/// How often a write that may remove an ADMIN starts over when the user's
/// role changes under it, before it gives up.
const ROLE_RACE_ROUNDS: usize = 3;

/// The unique index on `email`; `error::constraint_of_index` maps it to
/// `UniqueKey::Email`.
pub(crate) const EMAIL_UNIQUE: &str = "users_email_unique";
/// The unique index on `usernameFolded`; mapped to `UniqueKey::Username`.
pub(crate) const USERNAME_UNIQUE: &str = "users_username_unique";

/// The stored shape of a user. Private to the adapter, like every document type.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UserDoc {
    #[serde(rename = "_id")]
    id: ObjectId,
    /// As the user typed it (shown back as given).
    username: String,
    /// `Username::folded()`: what uniqueness is enforced on, so `Alice` and
    /// `alice` collide in the unique index, and what search matches.
    username_folded: String,
    /// Already normalised (lower case) by `Email::parse`; unique as stored.
    email: String,
    /// An address asked for and not proven yet, normalised like `email`; not
    /// unique. An explicit `null` when there is none; documents written before
    /// the field existed read as `None`.
    #[serde(default)]
    pending_email: Option<String>,
    /// PHC string.
    password_hash: String,
    /// `Role::as_str()`: `"ADMIN"` or `"USER"`.
    role: String,
    is_verified: bool,
    /// `Locale::as_str()`: `"uz"`, `"ru"` or `"en"`; `null` (or missing, in
    /// documents written before the field) for the service's default.
    #[serde(default)]
    locale: Option<String>,
    /// When the last link mail went (`UserRepo::claim_mail_slot` and
    /// `release_mail_slot`, the only writers); written as `null` at insert;
    /// not part of the domain's `User`.
    #[serde(default)]
    last_mail_at: Option<mongodb::bson::DateTime>,
    created_at: mongodb::bson::DateTime,
    updated_at: mongodb::bson::DateTime,
    /// Raised by every update and confirmation (`$inc`); 1 when missing
    /// (see `versions.rs`).
    #[serde(default = "versions::first")]
    version: i64,
}

impl From<&User> for UserDoc {
    fn from(u: &User) -> Self {
        Self {
            id: object_id(u.id),
            username: u.username.as_str().to_owned(),
            username_folded: u.username.folded(),
            email: u.email.as_str().to_owned(),
            pending_email: u.pending_email.as_ref().map(|e| e.as_str().to_owned()),
            password_hash: u.password_hash.as_str().to_owned(),
            role: u.role.as_str().to_owned(),
            is_verified: u.is_verified,
            locale: u.locale.map(|l| l.as_str().to_owned()),
            last_mail_at: None,
            created_at: bson_date(u.created_at),
            updated_at: bson_date(u.updated_at),
            version: u.version.get(),
        }
    }
}

impl TryFrom<UserDoc> for User {
    type Error = MalformedDocument;

    /// Re-parses every field through the domain's constructors. A value that
    /// parses but is not stored in its normal form (an e-mail with capitals, a
    /// `usernameFolded` that is not the username's fold) is malformed too: the
    /// unique indexes and `find_by_email` rely on the normal form.
    fn try_from(d: UserDoc) -> Result<Self, Self::Error> {
        let malformed = |reason: String| MalformedDocument {
            collection: COLLECTION,
            id: d.id.to_hex(),
            reason,
        };
        let date = |field: &str, value: mongodb::bson::DateTime| {
            timestamp_of(value).ok_or_else(|| malformed(format!("{field} is out of range")))
        };
        let username = Username::parse("username", &d.username)
            .map_err(|e| malformed(format!("username: {}", e.message)))?;
        if username.as_str() != d.username || username.folded() != d.username_folded {
            return Err(malformed("username or usernameFolded is not normalised".into()));
        }
        let email = |field: &str, stored: &str| {
            let email = Email::parse("email", stored)
                .map_err(|e| malformed(format!("{field}: {}", e.message)))?;
            if email.as_str() == stored {
                Ok(email)
            } else {
                Err(malformed(format!("{field} is not normalised")))
            }
        };
        let pending_email =
            d.pending_email.as_deref().map(|e| email("pendingEmail", e)).transpose()?;
        let email = email("email", &d.email)?;
        let role = d
            .role
            .parse::<Role>()
            .map_err(|_| malformed(format!("role {:?} is unknown", d.role)))?;
        let locale = d
            .locale
            .as_deref()
            .map(|code| code.parse().map_err(|_| malformed(format!("locale {code:?} is unknown"))))
            .transpose()?;
        Ok(User {
            id: id_of(d.id),
            username,
            email,
            pending_email,
            password_hash: PasswordHash::from_phc(d.password_hash),
            role,
            is_verified: d.is_verified,
            locale,
            created_at: date("createdAt", d.created_at)?,
            updated_at: date("updatedAt", d.updated_at)?,
            version: Version::from_stored(d.version)
                .ok_or_else(|| malformed(format!("version {} is not positive", d.version)))?,
        })
    }
}

/// Every index on `users`, named explicitly (see `services::indexes`).
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
        // Uniqueness of e-mails (signup, update), and `find_by_email` (login,
        // resend-verification, forgot-password).
        index(EMAIL_UNIQUE, doc! { "email": 1 }, true),
        // Uniqueness of usernames regardless of case.
        index(USERNAME_UNIQUE, doc! { "usernameFolded": 1 }, true),
        // `list`: newest first with `_id` as the tie-breaker, walked in index
        // order so no page needs an in-memory sort; the role / isVerified /
        // search filters are applied while walking it.
        index("users_createdAt_id", doc! { "createdAt": -1, "_id": -1 }, false),
        // `find_by_pending_email`: the newest account waiting for an address,
        // the first entry of its run.
        index(
            "users_pendingEmail_createdAt_id",
            doc! { "pendingEmail": 1, "createdAt": -1, "_id": -1 },
            false,
        ),
    ]
}

/// The guard document of the ADMIN accounts (see the module): a lower bound
/// of how many there are.
#[derive(Debug, Clone)]
pub(crate) struct AdminGuard {
    guards: Collection<Document>,
    users: Collection<Document>,
}

impl AdminGuard {
    pub(crate) fn new(db: &Database) -> Self {
        Self { guards: db.collection(GUARDS), users: db.collection(COLLECTION) }
    }

    /// Creates the guard document if it is missing, holding the number of
    /// ADMIN accounts now; an existing one is left as it is.
    pub(crate) async fn ensure(&self) -> Result<(), RepoError> {
        let admins = self
            .users
            .count_documents(doc! { "role": Role::Admin.as_str() })
            .await
            .map_err(translate)?;
        let admins = i64::try_from(admins).unwrap_or(i64::MAX);
        let created = self
            .guards
            .update_one(doc! { "_id": ADMINS }, doc! { "$setOnInsert": { "count": admins } })
            .upsert(true)
            .await
            .map_err(translate);
        match created {
            // Two instances creating it at once: one insert wins, which is all we need.
            Ok(_) | Err(RepoError::Duplicate(UniqueKey::Id)) => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Takes one ADMIN off the bound, before the write that removes one;
    /// `LastAdmin` when the bound says it could be the last.
    async fn take(&self) -> Result<(), RepoError> {
        for first in [true, false] {
            let taken = self
                .guards
                .find_one_and_update(
                    doc! { "_id": ADMINS, "count": { "$gt": 1_i64 } },
                    doc! { "$inc": { "count": -1_i64 } },
                )
                .await
                .map_err(translate)?;
            if taken.is_some() {
                return Ok(());
            }
            // A database `ensure_indexes` never ran on has no guard yet: create it
            // once and ask again, rather than refuse every demotion.
            let missing =
                self.guards.find_one(doc! { "_id": ADMINS }).await.map_err(translate)?.is_none();
            if !(first && missing) {
                break;
            }
            self.ensure().await?;
        }
        Err(RepoError::LastAdmin)
    }

    /// Adds one ADMIN to the bound: after a write that made one, or to give
    /// back a [`take`](Self::take) whose write removed none. Failing here
    /// leaves the bound too low, which is safe, so it is logged, not raised:
    /// the user write it follows has happened (or has its own error).
    pub(crate) async fn add(&self) {
        let added = self
            .guards
            .update_one(doc! { "_id": ADMINS }, doc! { "$inc": { "count": 1_i64 } })
            .await;
        if let Err(err) = added {
            tracing::warn!(error = %err, "the admin guard could not be raised; it stays too low");
        }
    }
}

/// [`UserRepo`] on the `users` collection and the ADMIN guard.
#[derive(Debug, Clone)]
pub(crate) struct MongoUserRepo {
    collection: Collection<UserDoc>,
    guard: AdminGuard,
    read_limit: ReadLimit,
}

impl MongoUserRepo {
    pub(crate) fn new(
        collection: Collection<UserDoc>,
        guard: AdminGuard,
        read_limit: ReadLimit,
    ) -> Self {
        Self { collection, guard, read_limit }
    }

    async fn find_one(&self, filter: Document) -> Result<Option<User>, RepoError> {
        let found = self.collection.find_one(filter).await.map_err(translate)?;
        Ok(found.map(User::try_from).transpose()?)
    }

    /// One atomic conditional write; the user as stored afterwards, or `None`
    /// if nothing matched `filter`.
    async fn write(&self, filter: Document, update: Document) -> Result<Option<User>, RepoError> {
        let updated = self
            .collection
            .find_one_and_update(filter, update)
            .return_document(ReturnDocument::After)
            .await
            .map_err(translate)?;
        Ok(updated.map(User::try_from).transpose()?)
    }

    /// The stored role and version of the user, or `None` if there is no such user.
    async fn state_of(&self, id: Id) -> Result<Option<(String, i64)>, RepoError> {
        let found = self
            .collection
            .clone_with_type::<Document>()
            .find_one(doc! { "_id": object_id(id) })
            .projection(doc! { "role": 1, versions::FIELD: 1 })
            .await
            .map_err(translate)?;
        Ok(found.map(|d| {
            let version = match d.get(versions::FIELD) {
                None => versions::first(),
                Some(v) => v.as_i64().or_else(|| v.as_i32().map(i64::from)).unwrap_or(0),
            };
            (d.get_str("role").unwrap_or_default().to_owned(), version)
        }))
    }

    /// Runs `write` (given the filter to apply) so that it never removes the
    /// last ADMIN: on a non-ADMIN directly, on an ADMIN only after taking one
    /// off the guard (see the module). `None` if no user has this id;
    /// `VersionMismatch` if `expected` is given and the user is at another
    /// version (the filters `write` is given must then require `expected`).
    async fn sparing_the_last_admin<T, W, F>(
        &self,
        id: Id,
        expected: Option<Version>,
        write: W,
    ) -> Result<Option<T>, RepoError>
    where
        W: Fn(Document) -> F,
        F: Future<Output = Result<Option<T>, RepoError>>,
    {
        let admin = Role::Admin.as_str();
        for _ in 0..ROLE_RACE_ROUNDS {
            // Most targets are customers: one conditional write, guard untouched.
            let customer = doc! { "_id": object_id(id), "role": { "$ne": admin } };
            if let Some(done) = write(customer).await? {
                return Ok(Some(done));
            }
            let state = self.state_of(id).await?;
            if let (Some((_, stored)), Some(expected)) = (&state, expected) {
                if *stored != expected.get() {
                    return Err(RepoError::VersionMismatch);
                }
            }
            match state.map(|(role, _)| role) {
                None => return Ok(None),
                // Demoted since: the customer write applies now.
                Some(role) if role != admin => continue,
                Some(_) => {}
            }
            self.guard.take().await?;
            match write(doc! { "_id": object_id(id), "role": admin }).await {
                Ok(Some(done)) => return Ok(Some(done)),
                // Demoted or deleted since: no ADMIN was removed after all.
                Ok(None) => self.guard.add().await,
                Err(err) => {
                    self.guard.add().await;
                    return Err(err);
                }
            }
        }
        Err(RepoError::Failed(format!("the role of user {id} kept changing during a write").into()))
    }
}

/// The `$set` of a patch, `updatedAt` included.
fn patch_set(patch: &UserPatch, now: Timestamp) -> Document {
    let mut set = doc! { "updatedAt": bson_date(now) };
    if let Some(username) = &patch.username {
        set.insert("username", username.as_str());
        // The folded copy moves with the username, in the same write, so the
        // unique index checks the new name.
        set.insert("usernameFolded", username.folded());
    }
    if let Some(email) = &patch.email {
        set.insert("email", email.as_str());
    }
    if let Some(pending) = &patch.pending_email {
        set.insert("pendingEmail", pending.as_ref().map_or(Bson::Null, |e| e.as_str().into()));
    }
    if let Some(hash) = &patch.password_hash {
        set.insert("passwordHash", hash.as_str());
    }
    if let Some(role) = patch.role {
        set.insert("role", role.as_str());
    }
    if let Some(verified) = patch.is_verified {
        set.insert("isVerified", verified);
    }
    if let Some(locale) = patch.locale {
        set.insert("locale", locale.as_str());
    }
    set
}

/// The filter of a list query: every given filter must hold.
fn list_filter(query: &UserQuery) -> Document {
    let mut filter = Document::new();
    if let Some(role) = query.role {
        filter.insert("role", role.as_str());
    }
    if let Some(verified) = query.verified {
        filter.insert("isVerified", verified);
    }
    if let Some(term) = &query.search {
        // The term is folded like `usernameFolded` and the (lower-case) e-mail,
        // so a plain case-sensitive regex is the domain's case-insensitive
        // "contains"; escaping makes it literal (`_`, `.`, `+` match themselves).
        let pattern = escape_regex(term.folded());
        filter.insert(
            "$or",
            vec![
                doc! { "usernameFolded": { "$regex": pattern.as_str() } },
                doc! { "email": { "$regex": pattern.as_str() } },
            ],
        );
    }
    filter
}

#[async_trait]
impl UserRepo for MongoUserRepo {
    async fn insert(&self, user: &User) -> Result<(), RepoError> {
        // The unique indexes decide: of concurrent signups with one e-mail or
        // username exactly one insert succeeds, the others get 11000 naming the
        // index, translated to `Duplicate(UniqueKey::…)`.
        self.collection.insert_one(UserDoc::from(user)).await.map_err(translate)?;
        if user.role == Role::Admin {
            // After the write, so the guard never counts an ADMIN that is not there.
            self.guard.add().await;
        }
        Ok(())
    }

    async fn get(&self, id: Id) -> Result<Option<User>, RepoError> {
        self.find_one(doc! { "_id": object_id(id) }).await
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepoError> {
        self.find_one(doc! { "email": email.as_str() }).await
    }

    async fn find_by_pending_email(&self, email: &Email) -> Result<Option<User>, RepoError> {
        let found = self
            .collection
            .find_one(doc! { "pendingEmail": email.as_str() })
            .sort(doc! { "createdAt": -1, "_id": -1 })
            .await
            .map_err(translate)?;
        Ok(found.map(User::try_from).transpose()?)
    }

    async fn confirm_email(
        &self,
        id: Id,
        email: &Email,
        now: Timestamp,
    ) -> Result<Option<User>, RepoError> {
        // Each step is one conditional single-document write, so a pending
        // address replaced meanwhile matches neither, and a taken one fails on
        // the unique e-mail index (→ Duplicate(Email)) leaving the user as it was.
        let pending = doc! { "_id": object_id(id), "pendingEmail": email.as_str() };
        let adopt = doc! {
            "$set": {
                "email": email.as_str(),
                "pendingEmail": Bson::Null,
                "isVerified": true,
                "updatedAt": bson_date(now),
            },
            "$inc": versions::bump(),
        };
        if let Some(user) = self.write(pending, adopt).await? {
            return Ok(Some(user));
        }
        let current = doc! { "_id": object_id(id), "email": email.as_str() };
        let verify = doc! {
            "$set": { "isVerified": true, "updatedAt": bson_date(now) },
            "$inc": versions::bump(),
        };
        self.write(current, verify).await
    }

    async fn claim_mail_slot(
        &self,
        id: Id,
        now: Timestamp,
        free_since: Timestamp,
    ) -> Result<MailSlot, RepoError> {
        // One conditional single-document write; `null` also matches a
        // document without the field (no mail yet).
        let free = doc! {
            "_id": object_id(id),
            "$or": [{ "lastMailAt": Bson::Null }, { "lastMailAt": { "$lte": bson_date(free_since) } }],
        };
        let taken = self
            .collection
            .update_one(free, doc! { "$set": { "lastMailAt": bson_date(now) } })
            .await
            .map_err(translate)?;
        if taken.matched_count > 0 {
            return Ok(MailSlot::Claimed);
        }
        let found = self
            .collection
            .clone_with_type::<Document>()
            .find_one(doc! { "_id": object_id(id) })
            .projection(doc! { "_id": 0, "lastMailAt": 1 })
            .await
            .map_err(translate)?;
        Ok(match found {
            None => MailSlot::NoUser,
            Some(found) => {
                match found.get_datetime("lastMailAt").ok().copied().and_then(timestamp_of) {
                    Some(last) => MailSlot::Taken { last },
                    // Cannot be (a missing field matches); never a second mail.
                    None => MailSlot::Taken { last: now },
                }
            }
        })
    }

    async fn release_mail_slot(&self, id: Id, claimed_at: Timestamp) -> Result<(), RepoError> {
        // One conditional single-document write: a later claim is left alone.
        self.collection
            .update_one(
                doc! { "_id": object_id(id), "lastMailAt": bson_date(claimed_at) },
                doc! { "$set": { "lastMailAt": Bson::Null } },
            )
            .await
            .map_err(translate)?;
        Ok(())
    }

    async fn list(&self, query: &UserQuery) -> Result<Page<User>, RepoError> {
        let filter = list_filter(query);
        page_of(
            &self.collection,
            filter,
            doc! { "createdAt": -1, "_id": -1 },
            query.page,
            self.read_limit,
        )
        .await
    }

    async fn update(
        &self,
        id: Id,
        patch: &UserPatch,
        expected: Option<Version>,
        now: Timestamp,
    ) -> Result<Option<User>, RepoError> {
        let update = doc! { "$set": patch_set(patch, now), "$inc": versions::bump() };
        // Each write is one atomic findAndModify: a new e-mail or username that
        // is taken fails it on the unique index (11000 → Duplicate), leaving the
        // document unchanged. The expected version, if any, is in every filter.
        let matching = |filter: Document| versions::expecting(filter, expected);
        let written = match patch.role {
            Some(Role::Admin) => {
                let customer =
                    doc! { "_id": object_id(id), "role": { "$ne": Role::Admin.as_str() } };
                if let Some(promoted) = self.write(matching(customer), update.clone()).await? {
                    self.guard.add().await;
                    return Ok(Some(promoted));
                }
                // Already an ADMIN, or no such user: no ADMIN added. (If it was
                // demoted in between, this promotes it uncounted: too low, safe.)
                self.write(matching(doc! { "_id": object_id(id) }), update).await?
            }
            Some(_) => {
                self.sparing_the_last_admin(id, expected, |filter| {
                    self.write(matching(filter), update.clone())
                })
                .await?
            }
            None => self.write(matching(doc! { "_id": object_id(id) }), update).await?,
        };
        match (written, expected) {
            (None, Some(expected)) => {
                let documents = self.collection.clone_with_type();
                versions::not_found_or_stale(&documents, id, expected).await
            }
            (written, _) => Ok(written),
        }
    }

    async fn delete(&self, id: Id) -> Result<bool, RepoError> {
        let deleted = self
            .sparing_the_last_admin(id, None, |filter| async move {
                let result = self.collection.delete_one(filter).await.map_err(translate)?;
                Ok((result.deleted_count == 1).then_some(()))
            })
            .await?;
        Ok(deleted.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tozalash_domain::{PageRequest, SearchText};

    use tozalash_domain::clock::at;

    fn user() -> User {
        User {
            id: Id::generate(),
            username: Username::parse("username", "Zarina_K").expect("valid"),
            email: Email::parse("email", "Zarina@Example.UZ").expect("valid"),
            pending_email: Some(Email::parse("email", "zarina.k@example.uz").expect("valid")),
            password_hash: PasswordHash::from_phc("$argon2id$v=19$x".into()),
            role: Role::Admin,
            is_verified: true,
            locale: None,
            created_at: at(1_764_201_600_123),
            updated_at: at(1_764_201_700_456),
            version: Version::FIRST.next(),
        }
    }

    #[test]
    fn documents_round_trip_to_the_same_user() {
        let user = user();
        let doc = UserDoc::from(&user);
        assert_eq!(doc.username_folded, "zarina_k");
        assert_eq!(doc.email, "zarina@example.uz");
        assert_eq!(doc.role, "ADMIN");
        assert_eq!(User::try_from(doc).expect("maps back"), user);
        let settled = User { pending_email: None, ..user };
        let stored = mongodb::bson::to_document(&UserDoc::from(&settled)).expect("serialises");
        assert_eq!(stored.get("pendingEmail"), Some(&Bson::Null), "an explicit null");
    }

    #[test]
    fn a_document_from_before_pending_email_reads_as_none() {
        let mut stored = mongodb::bson::to_document(&UserDoc::from(&user())).expect("serialises");
        stored.remove("pendingEmail");
        let doc: UserDoc = mongodb::bson::from_document(stored).expect("deserialises");
        assert_eq!(User::try_from(doc).expect("maps back").pending_email, None);
    }

    #[test]
    fn a_patch_sets_clears_or_leaves_the_pending_address() {
        let now = at(1_764_201_600_123);
        let pending = |p| UserPatch { pending_email: p, ..UserPatch::default() };
        let set =
            patch_set(&pending(Some(Some(Email::parse("e", "n@example.uz").expect("valid")))), now);
        assert_eq!(set.get_str("pendingEmail").ok(), Some("n@example.uz"));
        assert_eq!(patch_set(&pending(Some(None)), now).get("pendingEmail"), Some(&Bson::Null));
        assert_eq!(patch_set(&pending(None), now).get("pendingEmail"), None);
    }

    #[test]
    fn a_document_breaking_a_domain_rule_is_malformed_not_a_panic() {
        let broken: [fn(&mut UserDoc); 7] = [
            |d| d.username = "a b".into(),
            |d| d.username_folded = "someone_else".into(),
            |d| d.email = "Zarina@example.uz".into(),
            |d| d.email = "not-an-email".into(),
            |d| d.role = "ROOT".into(),
            |d| d.pending_email = Some("Zarina.K@example.uz".into()),
            |d| d.pending_email = Some("no-at-sign".into()),
        ];
        for breakage in broken {
            let mut doc = UserDoc::from(&user());
            breakage(&mut doc);
            assert!(User::try_from(doc).is_err());
        }
    }

    #[test]
    fn list_filter_holds_every_given_filter_and_a_literal_search() {
        let query = UserQuery {
            page: PageRequest::default(),
            role: Some(Role::User),
            verified: Some(false),
            search: SearchText::parse("q", "A.b_").expect("valid"),
        };
        assert_eq!(
            list_filter(&query),
            doc! {
                "role": "USER",
                "isVerified": false,
                "$or": [
                    { "usernameFolded": { "$regex": r"a\.b\_" } },
                    { "email": { "$regex": r"a\.b\_" } },
                ],
            }
        );
        assert_eq!(list_filter(&UserQuery::default()), doc! {});
    }
}
