//! [`ServiceRepo`] on SQL: the `services` table (see `migrations/*/0001_services.sql`
//! and `0014_catalogue_keys_archive.sql`).
//!
//! Every statement is a fixed string shared by both backends; user input only
//! ever travels as a bound parameter.

use async_trait::async_trait;
use tozalash_domain::keys;
use tozalash_domain::{
    Description, Id, Money, Page, RepoError, Service, ServiceName, ServicePatch, ServiceQuery,
    ServiceRepo, ServiceSort, ServiceSortField, SortDirection, Timestamp, UniqueKey, Version,
};

use crate::error::translate;
use crate::time::StoredTime;
use crate::{on_pool, Pool};

/// The columns a [`ServiceRow`] is read from.
macro_rules! service_columns {
    () => {
        "id, name, description, price, created_at, updated_at, version, archived_at"
    };
}

const INSERT: &str = "\
    INSERT INTO services (id, name, name_folded, name_key, search_key, description, price, \
                          created_at, updated_at, version, archived_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

const GET: &str = concat!("SELECT ", service_columns!(), " FROM services WHERE id = $1");

/// Patches in one atomic statement: a NULL parameter keeps the stored value.
/// The name's keys move with it. `$10` archives (true: `archived_at` becomes
/// `$6`, the time of the write) or restores (false). The version goes up by one
/// in the same statement; with `$7` (the expected version) set, the row
/// matches only while it still has that version.
const UPDATE: &str = concat!(
    "UPDATE services SET ",
    "name = COALESCE($2, name), ",
    "name_folded = COALESCE($3, name_folded), ",
    "name_key = COALESCE($8, name_key), ",
    "search_key = COALESCE($9, search_key), ",
    "description = COALESCE($4, description), ",
    "price = COALESCE($5, price), ",
    "archived_at = CASE WHEN $10 IS NULL THEN archived_at WHEN $10 THEN $6 ELSE NULL END, ",
    "updated_at = $6, ",
    "version = version + 1 ",
    "WHERE id = $1 AND ($7 IS NULL OR version = $7) ",
    "RETURNING ",
    service_columns!()
);

/// Archives `$1` at `$2`, only while it is in the catalogue, one version on.
const ARCHIVE: &str = "\
    UPDATE services SET archived_at = $2, updated_at = $2, version = version + 1 \
    WHERE id = $1 AND archived_at IS NULL";

/// After a conditional write matched nothing: whether the service exists at
/// all (then its version was not the expected one).
const VERSION_OF: &str = "SELECT version FROM services WHERE id = $1";

/// The filter of a list. `$4` says which part of the catalogue: the services in
/// it (false) or the archived ones (true). With a search, `$1` is the term's
/// search key with LIKE's wildcards escaped (see [`like_escape`]), matched
/// anywhere in the stored search key; a list without one binds `$1` as NULL and
/// never reads it (both backends accept a bound parameter that a statement does
/// not use: sqlx gives Postgres its type). Two statements rather than one catch-all `$1 IS NULL OR …`,
/// so that a Postgres generic plan is the plan of the query actually asked.
macro_rules! list_filter {
    (all) => {
        "(archived_at IS NOT NULL) = $4"
    };
    (search) => {
        r"(archived_at IS NOT NULL) = $4 AND search_key LIKE ('%' || $1 || '%') ESCAPE '\'"
    };
}

/// One page of a list in the given order, each row carrying the number of rows
/// that match in all, so items and total come back in one round trip (and one
/// snapshot). `$2` is the limit and `$3` the offset.
///
/// The total is an uncorrelated scalar subquery, which both databases evaluate
/// once. Unlike `COUNT(*) OVER ()` it lets the page itself walk the sort index
/// and stop after offset + limit rows: Postgres reads 60 index entries instead of
/// all of them for page 3 of 20, and SQLite uses the index instead of sorting.
macro_rules! list_sql {
    ($filter:tt, $order:literal) => {
        concat!(
            "SELECT ",
            service_columns!(),
            ", (SELECT COUNT(*) FROM (SELECT 1 FROM services WHERE ",
            list_filter!($filter),
            " LIMIT ",
            count_up_to!(),
            ") AS counted) AS total ",
            "FROM services WHERE ",
            list_filter!($filter),
            " ORDER BY ",
            $order,
            " LIMIT $2 OFFSET $3"
        )
    };
}

/// How many services match (up to the cap); needed only when a page past the end comes back
/// without rows to carry the total. Binds all four parameters as the list does.
fn count_sql(search: bool) -> &'static str {
    if search {
        concat!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM services WHERE ",
            list_filter!(search),
            " LIMIT ",
            count_up_to!(),
            ") AS counted"
        )
    } else {
        concat!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM services WHERE ",
            list_filter!(all),
            " LIMIT ",
            count_up_to!(),
            ") AS counted"
        )
    }
}

/// The list statement for a sort order, with or without a search; every order
/// ends with the id in the same direction, so rows that tie never swap places
/// between pages.
fn list_sql(sort: ServiceSort, search: bool) -> &'static str {
    use ServiceSortField::{CreatedAt, Name, Price};
    use SortDirection::{Ascending, Descending};
    macro_rules! either {
        ($order:literal) => {
            if search {
                list_sql!(search, $order)
            } else {
                list_sql!(all, $order)
            }
        };
    }
    match (sort.field, sort.direction) {
        (Name, Ascending) => either!("name_folded ASC, id ASC"),
        (Name, Descending) => either!("name_folded DESC, id DESC"),
        (Price, Ascending) => either!("price ASC, id ASC"),
        (Price, Descending) => either!("price DESC, id DESC"),
        (CreatedAt, Ascending) => either!("created_at ASC, id ASC"),
        (CreatedAt, Descending) => either!("created_at DESC, id DESC"),
    }
}

/// The services stored before their keys existed (migration 0014), or by
/// anything that left them out.
const WITHOUT_KEYS: &str =
    "SELECT id, name FROM services WHERE name_key IS NULL OR search_key IS NULL";

const SET_KEYS: &str = "\
    UPDATE services SET name_key = $2, search_key = $3 \
    WHERE id = $1 AND (name_key IS NULL OR search_key IS NULL)";

const WITH_NAME_KEY: &str = "SELECT id FROM services WHERE name_key = $1 AND id <> $2";

/// Gives every service without them its name key and search key, computed by
/// the domain (SQL cannot run it); `SqlStore::migrate` calls it after the
/// migrations. Idempotent, and safe from several instances at once (each
/// write only fills keys that are still missing). Two services whose names
/// share a key cannot both have it: that fails, naming both, and the
/// operator renames one; nothing is renamed automatically.
pub(crate) async fn backfill_keys(pool: &Pool) -> Result<u64, RepoError> {
    let rows: Vec<(String, String)> = on_pool!(pool, |db, _Time| {
        sqlx::query_as(WITHOUT_KEYS).fetch_all(db).await.map_err(translate)?
    });
    let mut filled = 0;
    for (id, name) in rows {
        let name_key = keys::name_key(&name);
        let written = on_pool!(pool, |db, _Time| {
            sqlx::query(SET_KEYS)
                .bind(&id)
                .bind(&name_key)
                .bind(keys::search_key(&name))
                .execute(db)
                .await
                .map(|r| r.rows_affected())
        });
        match written.map_err(translate) {
            Ok(n) => filled += n,
            Err(RepoError::Duplicate(UniqueKey::ServiceName)) => {
                let other: Option<String> = on_pool!(pool, |db, _Time| {
                    sqlx::query_scalar(WITH_NAME_KEY)
                        .bind(&name_key)
                        .bind(&id)
                        .fetch_optional(db)
                        .await
                        .map_err(translate)?
                });
                return Err(RepoError::Failed(
                    format!(
                        "services {id} and {} have the same name ignoring case and spaces \
                         ({name:?}); rename one of them, then start again",
                        other.as_deref().unwrap_or("?")
                    )
                    .into(),
                ));
            }
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

/// Escapes LIKE's wildcards (`%`, `_`) and the escape character itself (`\`),
/// so the term matches literally.
pub(crate) fn like_escape(term: &str) -> String {
    let mut escaped = String::with_capacity(term.len());
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// A `services` row as selected; `T` is the backend's timestamp column type.
#[derive(sqlx::FromRow)]
struct ServiceRow<T> {
    id: String,
    name: String,
    description: String,
    price: i64,
    created_at: T,
    updated_at: T,
    version: i64,
    archived_at: Option<T>,
}

/// A row of a list page: the service and the number of matches in all.
#[derive(sqlx::FromRow)]
struct ListedRow<T> {
    #[sqlx(flatten)]
    service: ServiceRow<T>,
    total: i64,
}

impl<T: StoredTime> ServiceRow<T> {
    /// The stored row as a domain value; a row that breaks a domain rule (which
    /// only a hand edit of the database can make) is a failure, not a panic.
    fn into_service(self) -> Result<Service, RepoError> {
        let id = self.id;
        let corrupt = |what: &str| {
            RepoError::Failed(format!("stored service {id:?} has an invalid {what}").into())
        };
        Ok(Service {
            id: Id::parse(&id).map_err(|_| corrupt("id"))?,
            name: ServiceName::parse(&self.name).map_err(|_| corrupt("name"))?,
            description: Description::parse(&self.description)
                .map_err(|_| corrupt("description"))?,
            price: Money::parse("price", self.price).map_err(|_| corrupt("price"))?,
            created_at: self.created_at.load()?,
            updated_at: self.updated_at.load()?,
            version: Version::from_stored(self.version).ok_or_else(|| corrupt("version"))?,
            archived_at: self.archived_at.map(StoredTime::load).transpose()?,
        })
    }
}

/// The catalogue in the `services` table.
#[derive(Debug)]
pub(crate) struct SqlServiceRepo {
    pool: Pool,
}

impl SqlServiceRepo {
    pub(crate) fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl ServiceRepo for SqlServiceRepo {
    async fn insert(&self, service: &Service) -> Result<(), RepoError> {
        on_pool!(&self.pool, |db, Time| {
            sqlx::query(INSERT)
                .bind(service.id.to_hex())
                .bind(service.name.as_str())
                .bind(service.name.folded())
                .bind(service.name.key())
                .bind(service.name.search_key())
                .bind(service.description.as_str())
                .bind(service.price.minor_units())
                .bind(Time::store(service.created_at))
                .bind(Time::store(service.updated_at))
                .bind(service.version.get())
                .bind(service.archived_at.map(Time::store))
                .execute(db)
                .await
                .map(drop)
        })
        .map_err(translate)
    }

    async fn get(&self, id: Id) -> Result<Option<Service>, RepoError> {
        on_pool!(&self.pool, |db, Time| {
            sqlx::query_as::<_, ServiceRow<Time>>(GET)
                .bind(id.to_hex())
                .fetch_optional(db)
                .await
                .map_err(translate)?
                .map(ServiceRow::into_service)
                .transpose()
        })
    }

    async fn list(&self, query: &ServiceQuery) -> Result<Page<Service>, RepoError> {
        let sql = list_sql(query.sort, query.search.is_some());
        let count = count_sql(query.search.is_some());
        let pattern = query.search.as_ref().map(|term| like_escape(term.key()));
        let limit = i64::from(query.page.limit());
        let offset = i64::try_from(query.page.offset()).unwrap_or(i64::MAX);

        let (items, total) = on_pool!(&self.pool, |db, Time| {
            let rows = sqlx::query_as::<_, ListedRow<Time>>(sql)
                .bind(pattern.as_deref())
                .bind(limit)
                .bind(offset)
                .bind(query.archived)
                .fetch_all(db)
                .await
                .map_err(translate)?;
            let total = match rows.first() {
                Some(row) => row.total,
                None if offset > 0 => sqlx::query_scalar::<_, i64>(count)
                    .bind(pattern.as_deref())
                    .bind(limit)
                    .bind(offset)
                    .bind(query.archived)
                    .fetch_one(db)
                    .await
                    .map_err(translate)?,
                None => 0,
            };
            let items = rows
                .into_iter()
                .map(|row| row.service.into_service())
                .collect::<Result<Vec<_>, _>>()?;
            (items, total)
        });
        Ok(Page { items, total: u64::try_from(total).unwrap_or(0) })
    }

    async fn update(
        &self,
        id: Id,
        patch: &ServicePatch,
        expected: Option<Version>,
        now: Timestamp,
    ) -> Result<Option<Service>, RepoError> {
        let updated = on_pool!(&self.pool, |db, Time| {
            sqlx::query_as::<_, ServiceRow<Time>>(UPDATE)
                .bind(id.to_hex())
                .bind(patch.name.as_ref().map(ServiceName::as_str))
                .bind(patch.name.as_ref().map(ServiceName::folded))
                .bind(patch.description.as_ref().map(Description::as_str))
                .bind(patch.price.map(|price| price.minor_units()))
                .bind(Time::store(now))
                .bind(expected.map(Version::get))
                .bind(patch.name.as_ref().map(ServiceName::key))
                .bind(patch.name.as_ref().map(ServiceName::search_key))
                .bind(patch.archived)
                .fetch_optional(db)
                .await
                .map_err(translate)?
                .map(ServiceRow::into_service)
                .transpose()
        })?;
        match (updated, expected) {
            (None, Some(expected)) => {
                crate::not_found_or_stale(&self.pool, VERSION_OF, id, expected).await
            }
            (updated, _) => Ok(updated),
        }
    }

    async fn archive(&self, id: Id, now: Timestamp) -> Result<bool, RepoError> {
        on_pool!(&self.pool, |db, Time| {
            sqlx::query(ARCHIVE)
                .bind(id.to_hex())
                .bind(Time::store(now))
                .execute(db)
                .await
                .map(|r| r.rows_affected() > 0)
        })
        .map_err(translate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_escape_makes_wildcards_literal() {
        assert_eq!(like_escape("100%"), r"100\%");
        assert_eq!(like_escape("a_b"), r"a\_b");
        assert_eq!(like_escape(r"c:\x"), r"c:\\x");
        assert_eq!(like_escape("plain ўзбек"), "plain ўзбек");
    }

    #[test]
    fn every_list_order_ends_with_the_id_in_the_same_direction() {
        for field in [ServiceSortField::Name, ServiceSortField::Price, ServiceSortField::CreatedAt]
        {
            for direction in [SortDirection::Ascending, SortDirection::Descending] {
                for search in [false, true] {
                    let sql = list_sql(ServiceSort { field, direction }, search);
                    let tail = match direction {
                        SortDirection::Ascending => ", id ASC LIMIT $2 OFFSET $3",
                        SortDirection::Descending => ", id DESC LIMIT $2 OFFSET $3",
                    };
                    assert!(sql.ends_with(tail), "{sql}");
                    assert_eq!(sql.contains("search_key LIKE"), search, "{sql}");
                }
            }
        }
    }
}
