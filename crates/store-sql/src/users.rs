//! [`UserRepo`] on SQL: the `users` table (see `migrations/*/0002_users_sessions.sql`
//! and `0005_users_pending_email.sql`).
//!
//! Uniqueness of the e-mail and of the folded username is the database's job
//! (unique constraints, mapped to `RepoError::Duplicate` in [`translate`]), never
//! a read before the write. Every statement is a fixed string shared by both
//! backends; user input only ever travels as a bound parameter.
//!
//! The last administrator: a write that may remove an ADMIN (a demotion, any
//! deletion) runs in a write transaction that first reads the administrators
//! and the target ([`AdminLock`]), refuses with `LastAdmin` if the target is the
//! only one, and then writes. On Postgres that read locks the rows (`FOR
//! UPDATE`, in id order), so of two administrators demoting each other the
//! second waits, re-reads under READ COMMITTED, finds one ADMIN left and is
//! refused; on SQLite `BEGIN IMMEDIATE` holds the one write lock for the whole
//! step. Every other update stays one statement.

use std::str::FromStr;

use async_trait::async_trait;
use tozalash_domain::{
    Email, Id, MailSlot, Page, PasswordHash, RepoError, Role, Timestamp, User, UserPatch,
    UserQuery, UserRepo, Username, Version,
};

use crate::error::translate;
use crate::services::like_escape;
use crate::sessions::{begin_write, WriteTransaction};
use crate::time::StoredTime;
use crate::{on_pool, Pool};

/// The columns a [`UserRow`] is read from, in every statement that returns
/// users; `user_columns!("u.")` qualifies them for a join.
#[rustfmt::skip]
macro_rules! user_columns {
    () => {
        user_columns!("")
    };
    ($table:literal) => {
        concat!(
            $table, "id, ",
            $table, "username, ",
            $table, "email, ",
            $table, "pending_email, ",
            $table, "password_hash, ",
            $table, "role, ",
            $table, "is_verified, ",
            $table, "locale, ",
            $table, "created_at, ",
            $table, "updated_at, ",
            $table, "version"
        )
    };
}
pub(crate) use user_columns;

const INSERT: &str = "\
    INSERT INTO users (id, username, username_folded, email, pending_email, password_hash, role, \
                       is_verified, created_at, updated_at, version, locale) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

const GET: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");

const FIND_BY_EMAIL: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE email = $1");

/// Walks the partial index `users_pending_email` from its newest entry.
const FIND_BY_PENDING_EMAIL: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE pending_email = $1 ORDER BY created_at DESC, id DESC LIMIT 1"
);

/// Patches in one atomic statement: a NULL parameter keeps the stored value.
/// The pending address may be cleared, which a NULL cannot say, so it has its
/// own flag: `$9` whether to write it, `$10` the value (NULL clears it). The
/// version goes up by one; with `$11` (the expected version) set, the row
/// matches only while it still has that version. `$12` the locale (NULL keeps it).
const UPDATE: &str = concat!(
    "UPDATE users SET ",
    "username = COALESCE($2, username), ",
    "username_folded = COALESCE($3, username_folded), ",
    "email = COALESCE($4, email), ",
    "password_hash = COALESCE($5, password_hash), ",
    "role = COALESCE($6, role), ",
    "is_verified = COALESCE($7, is_verified), ",
    "updated_at = $8, ",
    "pending_email = CASE WHEN $9 THEN $10 ELSE pending_email END, ",
    "locale = COALESCE($12, locale), ",
    "version = version + 1 ",
    "WHERE id = $1 AND ($11 IS NULL OR version = $11) ",
    "RETURNING ",
    user_columns!()
);

/// `confirm_email` as ONE conditional write: it matches only while `$2` is the
/// pending or the account's address. Every SET reads the row as it was, so a
/// pending `$2` moves into `email` and leaves `pending_email` empty; the unique
/// constraint on `email` refuses an address another account took meanwhile.
const CONFIRM_EMAIL: &str = concat!(
    "UPDATE users SET ",
    "email = CASE WHEN pending_email = $2 THEN pending_email ELSE email END, ",
    "pending_email = CASE WHEN pending_email = $2 THEN NULL ELSE pending_email END, ",
    "is_verified = TRUE, ",
    "updated_at = $3, ",
    "version = version + 1 ",
    "WHERE id = $1 AND (pending_email = $2 OR email = $2) ",
    "RETURNING ",
    user_columns!()
);

const DELETE: &str = "DELETE FROM users WHERE id = $1";

/// Takes user `$1`'s mail slot at `$2` if it has been free since `$3`.
const CLAIM_MAIL_SLOT: &str = "\
    UPDATE users SET last_mail_at = $2 \
    WHERE id = $1 AND (last_mail_at IS NULL OR last_mail_at <= $3)";

/// Frees user `$1`'s mail slot while it still holds the claim made at `$2`.
const RELEASE_MAIL_SLOT: &str =
    "UPDATE users SET last_mail_at = NULL WHERE id = $1 AND last_mail_at = $2";

/// When the last mail went to user `$1` (after a refused claim).
const LAST_MAIL_AT: &str = "SELECT last_mail_at FROM users WHERE id = $1";

/// After a conditional update matched nothing: the user's version, if any.
const VERSION_OF: &str = "SELECT version FROM users WHERE id = $1";

/// How each backend reads the administrators and the target user (`$1`) so
/// that neither changes until the transaction ends.
trait AdminLock: WriteTransaction {
    const ADMINS_AND_TARGET: &'static str;
}

impl AdminLock for sqlx::Postgres {
    // Row locks, taken in id order so two such transactions never deadlock. A
    // row another transaction changed is waited for and re-checked against the
    // WHERE (READ COMMITTED), so an administrator demoted meanwhile drops out.
    // Rows that became ADMIN after the statement began are missed: that can
    // only refuse a demotion, never allow the last one.
    const ADMINS_AND_TARGET: &'static str =
        "SELECT id, role FROM users WHERE role = 'ADMIN' OR id = $1 ORDER BY id FOR UPDATE";
}

impl AdminLock for sqlx::Sqlite {
    // `BEGIN IMMEDIATE` already holds the database's only write lock, and
    // SQLite has no FOR UPDATE.
    const ADMINS_AND_TARGET: &'static str =
        "SELECT id, role FROM users WHERE role = 'ADMIN' OR id = $1";
}

/// The backend's [`AdminLock`] statement, picked by the pool's type.
fn admins_and_target<DB: AdminLock>(_: &sqlx::Pool<DB>) -> &'static str {
    DB::ADMINS_AND_TARGET
}

/// What a write that may remove an ADMIN may do, given the `(id, role)` rows of
/// [`AdminLock`]: `Ok(false)` if the target does not exist, `LastAdmin` if it
/// is the only ADMIN, else `Ok(true)`.
fn may_remove_admin(target: &str, rows: &[(String, String)]) -> Result<bool, RepoError> {
    let admin = Role::Admin.as_str();
    let Some((_, role)) = rows.iter().find(|(id, _)| id == target) else {
        return Ok(false);
    };
    let admins = rows.iter().filter(|(_, role)| role == admin).count();
    if role == admin && admins <= 1 {
        Err(RepoError::LastAdmin)
    } else {
        Ok(true)
    }
}

/// Whether the patch takes a role other than ADMIN, so that it may demote.
fn demotes(patch: &UserPatch) -> bool {
    patch.role.is_some_and(|role| role != Role::Admin)
}

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
    ", (SELECT COUNT(*) FROM (SELECT 1 FROM users WHERE ",
    filters!(),
    " LIMIT ",
    count_up_to!(),
    ") AS counted) AS total FROM users WHERE ",
    filters!(),
    " ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5"
);

/// How many users match; needed only when a page past the end comes back
/// without rows to carry the total.
const COUNT: &str = concat!(
    "SELECT COUNT(*) FROM (SELECT 1 FROM users WHERE ",
    filters!(),
    " LIMIT ",
    count_up_to!(),
    ") AS counted"
);

/// A `users` row as selected; `T` is the backend's timestamp column type.
#[derive(sqlx::FromRow)]
pub(crate) struct UserRow<T> {
    id: String,
    username: String,
    email: String,
    pending_email: Option<String>,
    password_hash: String,
    role: String,
    is_verified: bool,
    locale: Option<String>,
    created_at: T,
    updated_at: T,
    version: i64,
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
    pub(crate) fn into_user(self) -> Result<User, RepoError> {
        let id = self.id;
        let corrupt = |what: &str| {
            RepoError::Failed(format!("stored user {id:?} has an invalid {what}").into())
        };
        let username = Username::parse("username", &self.username)
            .ok()
            .filter(|u| u.as_str() == self.username)
            .ok_or_else(|| corrupt("username"))?;
        let email = |stored: &str, what: &str| {
            Email::parse("email", stored)
                .ok()
                .filter(|e| e.as_str() == stored)
                .ok_or_else(|| corrupt(what))
        };
        let pending_email =
            self.pending_email.as_deref().map(|e| email(e, "pending_email")).transpose()?;
        Ok(User {
            id: Id::parse(&id).map_err(|_| corrupt("id"))?,
            username,
            email: email(&self.email, "email")?,
            pending_email,
            password_hash: PasswordHash::from_phc(self.password_hash),
            role: Role::from_str(&self.role).map_err(|_| corrupt("role"))?,
            is_verified: self.is_verified,
            locale: self
                .locale
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|_| corrupt("locale"))?,
            created_at: self.created_at.load()?,
            updated_at: self.updated_at.load()?,
            version: Version::from_stored(self.version).ok_or_else(|| corrupt("version"))?,
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
                .bind(user.pending_email.as_ref().map(Email::as_str))
                .bind(user.password_hash.as_str())
                .bind(user.role.as_str())
                .bind(user.is_verified)
                .bind(Time::store(user.created_at))
                .bind(Time::store(user.updated_at))
                .bind(user.version.get())
                .bind(user.locale.map(|l| l.as_str()))
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

    async fn find_by_pending_email(&self, email: &Email) -> Result<Option<User>, RepoError> {
        on_pool!(&self.pool, |db, Time| {
            sqlx::query_as::<_, UserRow<Time>>(FIND_BY_PENDING_EMAIL)
                .bind(email.as_str())
                .fetch_optional(db)
                .await
                .map_err(translate)?
                .map(UserRow::into_user)
                .transpose()
        })
    }

    async fn confirm_email(
        &self,
        id: Id,
        email: &Email,
        now: Timestamp,
    ) -> Result<Option<User>, RepoError> {
        on_pool!(&self.pool, |db, Time| {
            sqlx::query_as::<_, UserRow<Time>>(CONFIRM_EMAIL)
                .bind(id.to_hex())
                .bind(email.as_str())
                .bind(Time::store(now))
                .fetch_optional(db)
                .await
                .map_err(translate)?
                .map(UserRow::into_user)
                .transpose()
        })
    }

    async fn claim_mail_slot(
        &self,
        id: Id,
        now: Timestamp,
        free_since: Timestamp,
    ) -> Result<MailSlot, RepoError> {
        on_pool!(&self.pool, |db, Time| {
            let claimed = sqlx::query(CLAIM_MAIL_SLOT)
                .bind(id.to_hex())
                .bind(Time::store(now))
                .bind(Time::store(free_since))
                .execute(db)
                .await
                .map_err(translate)?
                .rows_affected();
            if claimed > 0 {
                return Ok(MailSlot::Claimed);
            }
            // Refused: the slot is taken, or there is no such user.
            let last = sqlx::query_scalar::<_, Option<Time>>(LAST_MAIL_AT)
                .bind(id.to_hex())
                .fetch_optional(db)
                .await
                .map_err(translate)?;
            Ok(match last {
                None => MailSlot::NoUser,
                Some(Some(last)) => MailSlot::Taken { last: last.load()? },
                // Cannot be (NULL always matches); never a second mail.
                Some(None) => MailSlot::Taken { last: now },
            })
        })
    }

    async fn release_mail_slot(&self, id: Id, claimed_at: Timestamp) -> Result<(), RepoError> {
        on_pool!(&self.pool, |db, Time| {
            sqlx::query(RELEASE_MAIL_SLOT)
                .bind(id.to_hex())
                .bind(Time::store(claimed_at))
                .execute(db)
                .await
                .map_err(translate)?;
            Ok(())
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
        expected: Option<Version>,
        now: Timestamp,
    ) -> Result<Option<User>, RepoError> {
        let updated = self.update_row(id, patch, expected, now).await?;
        match (updated, expected) {
            (None, Some(expected)) => {
                crate::not_found_or_stale(&self.pool, VERSION_OF, id, expected).await
            }
            (updated, _) => Ok(updated),
        }
    }

    async fn delete(&self, id: Id) -> Result<bool, RepoError> {
        let target = id.to_hex();
        // Any user may be the last ADMIN, so every deletion decides under the lock.
        on_pool!(&self.pool, |db, _Time| {
            let mut tx = begin_write(db).await?;
            let rows: Vec<(String, String)> = sqlx::query_as(admins_and_target(db))
                .bind(&target)
                .fetch_all(&mut *tx)
                .await
                .map_err(translate)?;
            if !may_remove_admin(&target, &rows)? {
                return Ok(false);
            }
            let deleted =
                sqlx::query(DELETE).bind(&target).execute(&mut *tx).await.map_err(translate)?;
            tx.commit().await.map_err(translate)?;
            Ok(deleted.rows_affected() > 0)
        })
    }
}

impl SqlUserRepo {
    /// The one UPDATE of [`UserRepo::update`] (under the ADMIN lock when it
    /// may demote); `None` if it matched no row.
    async fn update_row(
        &self,
        id: Id,
        patch: &UserPatch,
        expected: Option<Version>,
        now: Timestamp,
    ) -> Result<Option<User>, RepoError> {
        let target = id.to_hex();
        // One statement and its binds for both paths below; a macro, because
        // each runs it with the backend's own `Time` on its own executor.
        macro_rules! update {
            ($Time:ident) => {
                sqlx::query_as::<_, UserRow<$Time>>(UPDATE)
                    .bind(&target)
                    .bind(patch.username.as_ref().map(Username::as_str))
                    .bind(patch.username.as_ref().map(Username::folded))
                    .bind(patch.email.as_ref().map(Email::as_str))
                    .bind(patch.password_hash.as_ref().map(PasswordHash::as_str))
                    .bind(patch.role.map(|role| role.as_str()))
                    .bind(patch.is_verified)
                    .bind($Time::store(now))
                    .bind(patch.pending_email.is_some())
                    .bind(patch.pending_email.as_ref().and_then(|e| e.as_ref().map(Email::as_str)))
                    .bind(expected.map(Version::get))
                    .bind(patch.locale.map(|l| l.as_str()))
            };
        }
        on_pool!(&self.pool, |db, Time| {
            if !demotes(patch) {
                return update!(Time)
                    .fetch_optional(db)
                    .await
                    .map_err(translate)?
                    .map(UserRow::into_user)
                    .transpose();
            }
            let mut tx = begin_write(db).await?;
            let rows: Vec<(String, String)> = sqlx::query_as(admins_and_target(db))
                .bind(&target)
                .fetch_all(&mut *tx)
                .await
                .map_err(translate)?;
            // Dropping `tx` on a refusal rolls it back (it wrote nothing).
            if !may_remove_admin(&target, &rows)? {
                return Ok(None);
            }
            let row = update!(Time).fetch_optional(&mut *tx).await.map_err(translate)?;
            tx.commit().await.map_err(translate)?;
            row.map(UserRow::into_user).transpose()
        })
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
    fn a_join_reads_the_same_columns_qualified() {
        let plain: Vec<String> =
            user_columns!().split(", ").map(|column| format!("u.{column}")).collect();
        assert_eq!(user_columns!("u.").split(", ").collect::<Vec<_>>(), plain);
    }

    #[test]
    fn only_the_only_admin_is_refused_removal() {
        let row = |id: &str, role: &str| (id.to_owned(), role.to_owned());
        let one = [row("a", "ADMIN"), row("u", "USER")];
        assert!(matches!(may_remove_admin("a", &one), Err(RepoError::LastAdmin)));
        assert!(matches!(may_remove_admin("u", &one), Ok(true)));
        assert!(matches!(may_remove_admin("x", &one), Ok(false)));
        let two = [row("a", "ADMIN"), row("b", "ADMIN")];
        assert!(matches!(may_remove_admin("a", &two), Ok(true)));
    }

    #[test]
    fn only_a_role_other_than_admin_demotes() {
        let patch = |role| UserPatch { role, ..UserPatch::default() };
        assert!(demotes(&patch(Some(Role::User))));
        assert!(!demotes(&patch(Some(Role::Admin))));
        assert!(!demotes(&patch(None)));
    }

    #[test]
    fn the_count_uses_the_same_filters_as_the_page() {
        let page_filters = LIST.rsplit_once(" WHERE ").map(|(_, tail)| tail);
        let count_filters = COUNT
            .split_once(" WHERE ")
            .and_then(|(_, tail)| tail.split_once(" LIMIT "))
            .map(|(filters, _)| filters);
        assert!(page_filters
            .zip(count_filters)
            .is_some_and(|(page, count)| page.starts_with(count)));
    }
}
