//! The `users` collection: accounts as [`UserRepo`], their document shape and
//! the indexes that keep e-mails and usernames unique.

use async_trait::async_trait;
use mongodb::bson::{doc, oid::ObjectId, Document};
use mongodb::options::{IndexOptions, ReturnDocument};
use mongodb::{Collection, IndexModel};
use serde::{Deserialize, Serialize};
use tozalash_domain::{
    Email, Id, Page, PasswordHash, RepoError, Role, Timestamp, User, UserPatch, UserQuery,
    UserRepo, Username,
};

use crate::error::{translate, MalformedDocument};
use crate::pages::page_of;
use crate::services::escape_regex;
use crate::values::{bson_date, id_of, object_id, timestamp_of};

pub(crate) const COLLECTION: &str = "users";

/// The unique index on `email`; `error::constraint_of_index` maps it to `"email"`.
pub(crate) const EMAIL_UNIQUE: &str = "users_email_unique";
/// The unique index on `usernameFolded`; mapped to `"username"`.
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
    /// PHC string.
    password_hash: String,
    /// `Role::as_str()`: `"ADMIN"` or `"USER"`.
    role: String,
    is_verified: bool,
    created_at: mongodb::bson::DateTime,
    updated_at: mongodb::bson::DateTime,
}

impl From<&User> for UserDoc {
    fn from(u: &User) -> Self {
        Self {
            id: object_id(u.id),
            username: u.username.as_str().to_owned(),
            username_folded: u.username.folded(),
            email: u.email.as_str().to_owned(),
            password_hash: u.password_hash.as_str().to_owned(),
            role: u.role.as_str().to_owned(),
            is_verified: u.is_verified,
            created_at: bson_date(u.created_at),
            updated_at: bson_date(u.updated_at),
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
        let email = Email::parse("email", &d.email)
            .map_err(|e| malformed(format!("email: {}", e.message)))?;
        if email.as_str() != d.email {
            return Err(malformed("email is not normalised".into()));
        }
        let role = d
            .role
            .parse::<Role>()
            .map_err(|_| malformed(format!("role {:?} is unknown", d.role)))?;
        Ok(User {
            id: id_of(d.id),
            username,
            email,
            password_hash: PasswordHash::from_phc(d.password_hash),
            role,
            is_verified: d.is_verified,
            created_at: date("createdAt", d.created_at)?,
            updated_at: date("updatedAt", d.updated_at)?,
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
    ]
}

/// [`UserRepo`] on the `users` collection.
#[derive(Debug, Clone)]
pub(crate) struct MongoUserRepo {
    collection: Collection<UserDoc>,
}

impl MongoUserRepo {
    pub(crate) fn new(collection: Collection<UserDoc>) -> Self {
        Self { collection }
    }

    async fn find_one(&self, filter: Document) -> Result<Option<User>, RepoError> {
        let found = self.collection.find_one(filter).await.map_err(translate)?;
        Ok(found.map(User::try_from).transpose()?)
    }
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
        // index, translated to Duplicate("email" | "username" | "id").
        self.collection.insert_one(UserDoc::from(user)).await.map_err(translate)?;
        Ok(())
    }

    async fn get(&self, id: Id) -> Result<Option<User>, RepoError> {
        self.find_one(doc! { "_id": object_id(id) }).await
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepoError> {
        self.find_one(doc! { "email": email.as_str() }).await
    }

    async fn list(&self, query: &UserQuery) -> Result<Page<User>, RepoError> {
        let filter = list_filter(query);
        page_of(&self.collection, filter, doc! { "createdAt": -1, "_id": -1 }, query.page).await
    }

    async fn update(
        &self,
        id: Id,
        patch: &UserPatch,
        now: Timestamp,
    ) -> Result<Option<User>, RepoError> {
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
        if let Some(hash) = &patch.password_hash {
            set.insert("passwordHash", hash.as_str());
        }
        if let Some(role) = patch.role {
            set.insert("role", role.as_str());
        }
        if let Some(verified) = patch.is_verified {
            set.insert("isVerified", verified);
        }
        // One atomic findAndModify. A new e-mail or username that is taken fails
        // the whole write on the unique index (11000 → Duplicate), leaving the
        // document unchanged.
        let updated = self
            .collection
            .find_one_and_update(doc! { "_id": object_id(id) }, doc! { "$set": set })
            .return_document(ReturnDocument::After)
            .await
            .map_err(translate)?;
        Ok(updated.map(User::try_from).transpose()?)
    }

    async fn delete(&self, id: Id) -> Result<bool, RepoError> {
        let result =
            self.collection.delete_one(doc! { "_id": object_id(id) }).await.map_err(translate)?;
        Ok(result.deleted_count == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tozalash_domain::{PageRequest, SearchText};

    fn at(ms: i64) -> Timestamp {
        chrono::DateTime::from_timestamp_millis(ms).expect("in range")
    }

    fn user() -> User {
        User {
            id: Id::generate(),
            username: Username::parse("username", "Zarina_K").expect("valid"),
            email: Email::parse("email", "Zarina@Example.UZ").expect("valid"),
            password_hash: PasswordHash::from_phc("$argon2id$v=19$x".into()),
            role: Role::Admin,
            is_verified: true,
            created_at: at(1_764_201_600_123),
            updated_at: at(1_764_201_700_456),
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
    }

    #[test]
    fn a_document_breaking_a_domain_rule_is_malformed_not_a_panic() {
        let broken: [fn(&mut UserDoc); 5] = [
            |d| d.username = "a b".into(),
            |d| d.username_folded = "someone_else".into(),
            |d| d.email = "Zarina@example.uz".into(),
            |d| d.email = "not-an-email".into(),
            |d| d.role = "ROOT".into(),
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
