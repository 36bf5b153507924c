//! [`ServiceRepo`] on SQL: the `services` table (see `migrations/*/0001_services.sql`).
//!
//! Every statement is a fixed string shared by both backends; user input only
//! ever travels as a bound parameter.

use async_trait::async_trait;
use tozalash_domain::{
    Description, Id, Money, Page, RepoError, Service, ServiceName, ServicePatch, ServiceQuery,
    ServiceRepo, ServiceSort, ServiceSortField, SortDirection, Timestamp, Version,
};

use crate::error::translate;
use crate::time::StoredTime;
use crate::{on_pool, Pool};

const INSERT: &str = "\
    INSERT INTO services (id, name, name_folded, description, price, created_at, updated_at, \
                          version) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

const GET: &str = "\
    SELECT id, name, description, price, created_at, updated_at, version \
    FROM services WHERE id = $1";

/// Patches in one atomic statement: a NULL parameter keeps the stored value.
/// The version goes up by one in the same statement; with `$7` (the expected
/// version) set, the row matches only while it still has that version.
const UPDATE: &str = "\
    UPDATE services SET \
        name = COALESCE($2, name), \
        name_folded = COALESCE($3, name_folded), \
        description = COALESCE($4, description), \
        price = COALESCE($5, price), \
        updated_at = $6, \
        version = version + 1 \
    WHERE id = $1 AND ($7 IS NULL OR version = $7) \
    RETURNING id, name, description, price, created_at, updated_at, version";

/// After a conditional write matched nothing: whether the service exists at
/// all (then its version was not the expected one).
const VERSION_OF: &str = "SELECT version FROM services WHERE id = $1";

const DELETE: &str = "DELETE FROM services WHERE id = $1";

/// The search filter of a list: `$1` is NULL (no search) or the folded term with
/// LIKE's wildcards escaped (see [`like_escape`]), matched anywhere in the name.
macro_rules! search_filter {
    () => {
        r"($1 IS NULL OR name_folded LIKE ('%' || $1 || '%') ESCAPE '\')"
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
    ($order:literal) => {
        concat!(
            "SELECT id, name, description, price, created_at, updated_at, version, ",
            "(SELECT COUNT(*) FROM services WHERE ",
            search_filter!(),
            ") AS total ",
            "FROM services WHERE ",
            search_filter!(),
            " ORDER BY ",
            $order,
            " LIMIT $2 OFFSET $3"
        )
    };
}

/// How many services match a search; needed only when a page past the end comes
/// back without rows to carry the total.
const COUNT: &str = concat!("SELECT COUNT(*) FROM services WHERE ", search_filter!());

/// The list statement for a sort order; every order ends with the id in the same
/// direction, so rows that tie never swap places between pages.
fn list_sql(sort: ServiceSort) -> &'static str {
    use ServiceSortField::{CreatedAt, Name, Price};
    use SortDirection::{Ascending, Descending};
    match (sort.field, sort.direction) {
        (Name, Ascending) => list_sql!("name_folded ASC, id ASC"),
        (Name, Descending) => list_sql!("name_folded DESC, id DESC"),
        (Price, Ascending) => list_sql!("price ASC, id ASC"),
        (Price, Descending) => list_sql!("price DESC, id DESC"),
        (CreatedAt, Ascending) => list_sql!("created_at ASC, id ASC"),
        (CreatedAt, Descending) => list_sql!("created_at DESC, id DESC"),
    }
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
                .bind(service.description.as_str())
                .bind(service.price.minor_units())
                .bind(Time::store(service.created_at))
                .bind(Time::store(service.updated_at))
                .bind(service.version.get())
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
        let sql = list_sql(query.sort);
        let pattern = query.search.as_ref().map(|term| like_escape(term.folded()));
        let limit = i64::from(query.page.limit());
        let offset = i64::try_from(query.page.offset()).unwrap_or(i64::MAX);

        let (items, total) = on_pool!(&self.pool, |db, Time| {
            let rows = sqlx::query_as::<_, ListedRow<Time>>(sql)
                .bind(pattern.as_deref())
                .bind(limit)
                .bind(offset)
                .fetch_all(db)
                .await
                .map_err(translate)?;
            let total = match rows.first() {
                Some(row) => row.total,
                None if offset > 0 => sqlx::query_scalar::<_, i64>(COUNT)
                    .bind(pattern.as_deref())
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
                let sql = list_sql(ServiceSort { field, direction });
                let tail = match direction {
                    SortDirection::Ascending => ", id ASC LIMIT $2 OFFSET $3",
                    SortDirection::Descending => ", id DESC LIMIT $2 OFFSET $3",
                };
                assert!(sql.ends_with(tail), "{sql}");
            }
        }
    }
}
