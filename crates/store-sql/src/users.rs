//! [`UserRepo`] on SQL: the `users` table (see `migrations/*/0002_users_sessions.sql`).
//!
//! Uniqueness of the e-mail and of the folded username is the database's job
//! (unique constraints, mapped to `RepoError::Duplicate` in [`translate`]), never
//! a read before the write. Every statement is a fixed string shared by both
//! backends; user input only ever travels as a bound parameter.

use std::str::FromStr;

use async_trait::async_trait;
use tozalash_domain::{
    Email, Id, Page, PasswordHash, RepoError, Role, Timestamp, User, UserPatch, UserQuery,
    UserRepo, Username,
};

use crate::error::translate;
use crate::services::like_escape;
use crate::time::StoredTime;
use crate::{on_pool, Pool};

/// The columns a [`UserRow`] is read from, in every statement that returns users.
macro_rules! user_columns {
    () => {
        "id, username, email, password_hash, role, is_verified, created_at, updated_at"
    };
}

const INSERT: &str = "\
    INSERT INTO users (id, username, username_folded, email, password_hash, role, is_verified, \
                       created_at, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

const GET: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");

const FIND_BY_EMAIL: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE email = $1");

/// Patches in one atomic statement: a NULL parameter keeps the stored value.
const UPDATE: &str = concat!(
    "UPDATE users SET ",
    "username = COALESCE($2, username), ",
    "username_folded = COALESCE($3, username_folded), ",
    "email = COALESCE($4, email), ",
    "password_hash = COALESCE($5, password_hash), ",
    "role = COALESCE($6, role), ",
    "is_verified = COALESCE($7, is_verified), ",
    "updated_at = $8 ",
    "WHERE id = $1 ",
    "RETURNING ",
    user_columns!()
);

const DELETE: &str = "DELETE FROM users WHERE id = $1";

/// The filters of a list, each off when its parameter is NULL, combined with AND:
/// `$1` the search term with LIKE's wildcards escaped (see [`like_escape`]),
/// matched anywhere in the folded username or the e-mail; `$2` the role
/// (`ADMIN` / `USER`); `$3` whether the user is verified.
macro_rules! filters {
    () => {
        concat!(
            r"($1 IS NULL OR username_folded LIKE ('%' || $1 || '%') ESCAPE '\' ",
            r"OR email LIKE ('%' || $1 || '%') ESCAPE '\') ",
            "AND ($2 IS NULL OR role = $2) ",
            "AND ($3 IS NULL OR is_verified = $3)"
        )
    };
}

/// One page, newest first (ties by id, descending), each row carrying the number
/// of users that match in all, as the services list does (see its `list_sql!`
/// for why an uncorrelated subquery rather than a window). `$4` is the limit and
/// `$5` the offset. The order walks the `users_created_at_id` index backwards.
const LIST: &str = concat!(
    "SELECT ",
    user_columns!(),
    ", (SELECT COUNT(*) FROM users WHERE ",
    filters!(),
    ") AS total FROM users WHERE ",
    filters!(),
    " ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5"
);

/// How many users match; needed only when a page past the end comes back
/// without rows to carry the total.
const COUNT: &str = concat!("SELECT COUNT(*) FROM users WHERE ", filters!());

/// A `users` row as selected; `T` is the backend's timestamp column type.
#[derive(sqlx::FromRow)]
struct UserRow<T> {
    id: String,
    username: String,
    email: String,
    password_hash: String,
    role: String,
    is_verified: bool,
    created_at: T,
    updated_at: T,
}

/// A row of a list page: the user and the number of matches in all.
#[derive(sqlx::FromRow)]
struct ListedRow<T> {
    #[sqlx(flatten)]
    user: UserRow<T>,
    total: i64,
}

impl<T: StoredTime> UserRow<T> {
    /// The stored row as a domain value. A row that breaks a domain rule, or that
    /// the domain would have normalised differently (which only a hand edit of the
    /// database can make), is a failure, not a panic.
    fn into_user(self) -> Result<User, RepoError> {
        let id = self.id;
        let corrupt = |what: &str| {
            RepoError::Failed(format!("stored user {id:?} has an invalid {what}").into())
        };
        let username = Username::parse("username", &self.username)
            .ok()
            .filter(|u| u.as_str() == self.username)
            .ok_or_else(|| corrupt("username"))?;
        let email = Email::parse("email", &self.email)
            .ok()
            .filter(|e| e.as_str() == self.email)
            .ok_or_else(|| corrupt("email"))?;
        Ok(User {
            id: Id::parse(&id).map_err(|_| corrupt("id"))?,
            username,
            email,
            password_hash: PasswordHash::from_phc(self.password_hash),
            role: Role::from_str(&self.role).map_err(|_| corrupt("role"))?,
            is_verified: self.is_verified,
            created_at: self.created_at.load()?,
            updated_at: self.updated_at.load()?,
        })
    }
}

/// Accounts in the `users` table.
#[derive(Debug)]
pub(crate) struct SqlUserRepo {
    pool: Pool,
}

impl SqlUserRepo {
    pub(crate) fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl UserRepo for SqlUserRepo {
    async fn insert(&self, user: &User) -> Result<(), RepoError> {
        on_pool!(&self.pool, |db, Time| {
            sqlx::query(INSERT)
                .bind(user.id.to_hex())
                .bind(user.username.as_str())
                .bind(user.username.folded())
                .bind(user.email.as_str())
                .bind(user.password_hash.as_str())
                .bind(user.role.as_str())
                .bind(user.is_verified)
                .bind(Time::store(user.created_at))
                .bind(Time::store(user.updated_at))
                .execute(db)
                .await
                .map(drop)
        })
        .map_err(translate)
    }

    async fn get(&self, id: Id) -> Result<Option<User>, RepoError> {
        on_pool!(&self.pool, |db, Time| {
            sqlx::query_as::<_, UserRow<Time>>(GET)
                .bind(id.to_hex())
                .fetch_optional(db)
                .await
                .map_err(translate)?
                .map(UserRow::into_user)
                .transpose()
        })
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepoError> {
        on_pool!(&self.pool, |db, Time| {
            sqlx::query_as::<_, UserRow<Time>>(FIND_BY_EMAIL)
                .bind(email.as_str())
                .fetch_optional(db)
                .await
                .map_err(translate)?
                .map(UserRow::into_user)
                .transpose()
        })
    }

    async fn list(&self, query: &UserQuery) -> Result<Page<User>, RepoError> {
        let pattern = query.search.as_ref().map(|term| like_escape(term.folded()));
        let role = query.role.map(|role| role.as_str());
        let verified = query.verified;
        let limit = i64::from(query.page.limit());
        let offset = i64::try_from(query.page.offset()).unwrap_or(i64::MAX);

        let (items, total) = on_pool!(&self.pool, |db, Time| {
            let rows = sqlx::query_as::<_, ListedRow<Time>>(LIST)
                .bind(pattern.as_deref())
                .bind(role)
                .bind(verified)
                .bind(limit)
                .bind(offset)
                .fetch_all(db)
                .await
                .map_err(translate)?;
            let total = match rows.first() {
                Some(row) => row.total,
                None if offset > 0 => sqlx::query_scalar::<_, i64>(COUNT)
                    .bind(pattern.as_deref())
                    .bind(role)
                    .bind(verified)
                    .fetch_one(db)
                    .await
                    .map_err(translate)?,
                None => 0,
            };
            let items =
                rows.into_iter().map(|row| row.user.into_user()).collect::<Result<Vec<_>, _>>()?;
            (items, total)
        });
        Ok(Page { items, total: u64::try_from(total).unwrap_or(0) })
    }

    async fn update(
        &self,
        id: Id,
        patch: &UserPatch,
        now: Timestamp,
    ) -> Result<Option<User>, RepoError> {
        on_pool!(&self.pool, |db, Time| {
            sqlx::query_as::<_, UserRow<Time>>(UPDATE)
                .bind(id.to_hex())
                .bind(patch.username.as_ref().map(Username::as_str))
                .bind(patch.username.as_ref().map(Username::folded))
                .bind(patch.email.as_ref().map(Email::as_str))
                .bind(patch.password_hash.as_ref().map(PasswordHash::as_str))
                .bind(patch.role.map(|role| role.as_str()))
                .bind(patch.is_verified)
                .bind(Time::store(now))
                .fetch_optional(db)
                .await
                .map_err(translate)?
                .map(UserRow::into_user)
                .transpose()
        })
    }

    async fn delete(&self, id: Id) -> Result<bool, RepoError> {
        on_pool!(&self.pool, |db, _Time| {
            sqlx::query(DELETE).bind(id.to_hex()).execute(db).await.map(|r| r.rows_affected() > 0)
        })
        .map_err(translate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_newest_first_with_ties_by_id_descending() {
        assert!(LIST.ends_with(" ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5"), "{LIST}");
    }

    #[test]
    fn the_count_uses_the_same_filters_as_the_page() {
        let page_filters = LIST.rsplit_once(" WHERE ").map(|(_, tail)| tail);
        let count_filters = COUNT.split_once(" WHERE ").map(|(_, tail)| tail);
        assert!(page_filters
            .zip(count_filters)
            .is_some_and(|(page, count)| page.starts_with(count)));
    }
}
