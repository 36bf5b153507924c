//! [`OrderRepo`] on SQL: the `orders` table (see `migrations/*/0003_orders.sql`).
//!
//! Status changes and detail edits are each ONE conditional `UPDATE … WHERE id =
//! $1 AND status = … RETURNING …`: the database decides which of two racing
//! requests matches, never a read before the write. On Postgres a loser waits on
//! the winner's row lock and then re-checks the condition (READ COMMITTED); on
//! SQLite a writing statement takes the write lock before it reads.
//!
//! Every statement but the list is a fixed string shared by both backends. The
//! list's WHERE clause is assembled from fixed fragments, one per filter that is
//! set (see [`Filters`]), so the planner sees `user_id = $1 ORDER BY created_at
//! DESC, id DESC LIMIT …` and walks the matching index even in a Postgres
//! generic plan, which a catch-all `($1 IS NULL OR user_id = $1)` would prevent.
//! User input only ever travels as a bound parameter.

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::{Database, Encode, QueryBuilder, Row, Type};
use tozalash_domain::{
    Address, Id, Money, Notes, Order, OrderDetails, OrderQuery, OrderRepo, OrderSort, OrderStatus,
    OutboxMessage, Page, PlacementChecks, Reference, RepoError, ServiceName, Timestamp, Username,
    Version,
};

use crate::error::translate;
use crate::outbox::{bind_message, enqueue_query, message_columns};
use crate::sessions::{begin_write, session_live};
use crate::time::StoredTime;
use crate::{on_pool, Pool};

/// The columns an [`OrderRow`] is read from, in every statement that returns orders.
macro_rules! order_columns {
    () => {
        "id, user_id, customer_name, service_id, service_name, price, status, scheduled_at, \
         address, notes, created_at, updated_at, version"
    };
}

/// Stores the order only while its user `$2` exists. Postgres locks the
/// user's row (`FOR KEY SHARE`) until the insert commits, so a deletion
/// either comes first (no row) or waits and then sees the order to cancel;
/// SQLite has one writer at a time, which gives the same.
/// With `checked`, also only while the user is at version `$customer`, the
/// order's service is at version `$service` (and not archived), and the
/// session `$session` of the user `$caller` is live at `$now`: the
/// [`PlacementChecks`] of a new order.
macro_rules! insert_for_live_user {
    ($lock:literal) => {
        insert_for_live_user!("", $lock)
    };
    ($lock:literal, checked: customer at $customer:literal, service at $service:literal,
     session $session:literal of $caller:literal at $now:literal) => {
        insert_for_live_user!(
            concat!(
                " AND version = ",
                $customer,
                " AND ",
                service_at!("$4", $service),
                " AND ",
                session_live!($session, $caller, $now)
            ),
            $lock
        )
    };
    ($condition:expr, $lock:literal) => {
        concat!(
            "INSERT INTO orders (",
            order_columns!(),
            ") SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 ",
            "FROM users WHERE id = $2",
            $condition,
            $lock
        )
    };
}
const INSERT_POSTGRES: &str = insert_for_live_user!(" FOR KEY SHARE");
const INSERT_SQLITE: &str = insert_for_live_user!("");

/// The condition that the service `$id` (an order's, `$4`) is still at the
/// version `$version` its snapshot (name, price) was taken from, and not
/// archived.
macro_rules! service_at {
    ($id:literal, $version:literal) => {
        concat!(
            "EXISTS (SELECT 1 FROM services WHERE id = ",
            $id,
            " AND version = ",
            $version,
            " AND archived_at IS NULL)"
        )
    };
}

/// Postgres: the order (while its user exists, as [`INSERT_POSTGRES`], and
/// its [`PlacementChecks`] hold: customer at `$26`, service at `$25`, session
/// `$27` of `$28` live at `$29`) and its mail `$14`…`$24` in one statement, so
/// one round trip where a read of the caller's session, BEGIN, two INSERTs and
/// COMMIT took five. The mail is inserted from the order's RETURNING row: an
/// order refused queues nothing, and a statement is atomic, so there is never
/// an order without its mail or a mail without its order. It answers whether
/// the mail was queued and, from the same snapshot, whether the session was
/// live and the service current, which tells the three refusals apart.
/// SQLite has no data-modifying CTE; it uses a transaction ([`PLACE_SQLITE`]),
/// which costs no network round trip there.
const PLACE_POSTGRES: &str = concat!(
    "WITH placed AS (",
    insert_for_live_user!(" FOR KEY SHARE", checked: customer at "$26", service at "$25",
        session "$27" of "$28" at "$29"),
    " RETURNING id), queued AS (INSERT INTO outbox (",
    message_columns!(),
    ") SELECT $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24 FROM placed RETURNING id) ",
    "SELECT EXISTS (SELECT 1 FROM queued), ",
    session_live!("$27", "$28", "$29"),
    ", ",
    service_at!("$4", "$25")
);

/// SQLite: [`INSERT_SQLITE`] while its [`PlacementChecks`] hold: service at
/// `$14`, customer at `$15`, session `$16` of `$17` live at `$18`.
const PLACE_SQLITE: &str = insert_for_live_user!("", checked: customer at "$15",
    service at "$14", session "$16" of "$17" at "$18");

/// Why [`PLACE_SQLITE`] stored nothing: whether the session `$1` of `$2` was
/// live at `$3`, and whether the service `$4` was at `$5`.
const REFUSAL_SQLITE: &str =
    concat!("SELECT ", session_live!("$1", "$2", "$3"), ", ", service_at!("$4", "$5"));

const GET: &str = concat!("SELECT ", order_columns!(), " FROM orders WHERE id = $1");

/// Moves `$1` from status `$2` to `$3` at `$4`, only while it is still `$2`
/// (and, with `$5` set, still at version `$5`), one version on.
const CHANGE_STATUS: &str = concat!(
    "UPDATE orders SET status = $3, updated_at = $4, version = version + 1 ",
    "WHERE id = $1 AND status = $2 AND ($5 IS NULL OR version = $5) ",
    "RETURNING ",
    order_columns!()
);

/// Edits the details of `$1` at `$8`, only while it is PENDING. Each field has a
/// flag saying whether it was given (`$2`, `$4`, `$6`) and the value to store
/// (`$3`, `$5`, `$7`; NULL clears it); a field not given keeps its stored value.
/// One version on; with `$9` set, only while the order is at version `$9`.
const UPDATE_DETAILS: &str = concat!(
    "UPDATE orders SET ",
    "scheduled_at = CASE WHEN $2 THEN $3 ELSE scheduled_at END, ",
    "address = CASE WHEN $4 THEN $5 ELSE address END, ",
    "notes = CASE WHEN $6 THEN $7 ELSE notes END, ",
    "updated_at = $8, ",
    "version = version + 1 ",
    "WHERE id = $1 AND status = 'PENDING' AND ($9 IS NULL OR version = $9) ",
    "RETURNING ",
    order_columns!()
);

/// Deletes `$1` unless it is COMPLETED: a record of revenue stays.
const DELETE: &str = "DELETE FROM orders WHERE id = $1 AND status <> 'COMPLETED'";

/// After a conditional write matched nothing: the order's version, if any.
const VERSION_OF: &str = "SELECT version FROM orders WHERE id = $1";

/// Cancels every PENDING order of `$1` at `$2`.
const CANCEL_PENDING_OF_USER: &str = "\
    UPDATE orders SET status = 'CANCELLED', updated_at = $2, version = version + 1 \
    WHERE user_id = $1 AND status = 'PENDING'";

/// The order of a list, ties by id in the same direction, so rows created
/// (or visited) in the same millisecond never swap places between pages. The
/// indexes of `0003_orders.sql` hold the creation order after their filter
/// column, read forwards or backwards; `0013`'s holds the visit order. A
/// missing visit time sorts first ascending, last descending, as on MongoDB.
fn order_by(sort: OrderSort) -> &'static str {
    match sort {
        OrderSort::CreatedAtDesc => " ORDER BY created_at DESC, id DESC",
        OrderSort::CreatedAt => " ORDER BY created_at ASC, id ASC",
        OrderSort::ScheduledAt => " ORDER BY scheduled_at ASC NULLS FIRST, id ASC",
        OrderSort::ScheduledAtDesc => " ORDER BY scheduled_at DESC NULLS LAST, id DESC",
    }
}

/// The filters of a list that are set, as values to bind; `T` is the backend's
/// timestamp column type.
#[derive(Debug, Clone)]
struct Filters<T> {
    user_id: Option<String>,
    status: Option<&'static str>,
    service_id: Option<String>,
    created_from: Option<T>,
    created_to: Option<T>,
    scheduled_from: Option<T>,
    scheduled_to: Option<T>,
    sort: OrderSort,
}

impl<T: StoredTime + Copy> Filters<T> {
    fn of(query: &OrderQuery) -> Self {
        Self {
            user_id: query.user_id.map(|id| id.to_hex()),
            status: query.status.map(|status| status.as_str()),
            service_id: query.service_id.map(|id| id.to_hex()),
            created_from: query.created_from.map(T::store),
            created_to: query.created_to.map(T::store),
            scheduled_from: query.scheduled_from.map(T::store),
            scheduled_to: query.scheduled_to.map(T::store),
            sort: query.sort,
        }
    }

    /// Appends ` WHERE f1 AND f2 …` with one fixed fragment and one bound value
    /// per filter that is set, and nothing at all when none is.
    fn push_where<'args, DB>(&self, sql: &mut QueryBuilder<'args, DB>)
    where
        DB: Database,
        String: Encode<'args, DB> + Type<DB>,
        T: 'args + Encode<'args, DB> + Type<DB>,
    {
        let mut glue = " WHERE ";
        let mut next = |sql: &mut QueryBuilder<'args, DB>, fragment: &'static str| {
            sql.push(glue).push(fragment);
            glue = " AND ";
        };
        if let Some(user_id) = &self.user_id {
            next(sql, "user_id = ");
            sql.push_bind(user_id.clone());
        }
        if let Some(status) = self.status {
            next(sql, "status = ");
            sql.push_bind(status.to_owned());
        }
        if let Some(service_id) = &self.service_id {
            next(sql, "service_id = ");
            sql.push_bind(service_id.clone());
        }
        if let Some(from) = self.created_from {
            next(sql, "created_at >= ");
            sql.push_bind(from);
        }
        if let Some(to) = self.created_to {
            next(sql, "created_at < ");
            sql.push_bind(to);
        }
        if let Some(from) = self.scheduled_from {
            next(sql, "scheduled_at >= ");
            sql.push_bind(from);
        }
        if let Some(to) = self.scheduled_to {
            next(sql, "scheduled_at < ");
            sql.push_bind(to);
        }
    }

    /// One page in the query's order, each row carrying the number of orders that match
    /// in all, so items and total come back in one round trip (and one snapshot).
    /// As in the services list, the total is an uncorrelated scalar subquery,
    /// which lets the page itself walk an index and stop after offset + limit rows.
    fn page_query<'args, DB>(&self, limit: i64, offset: i64) -> QueryBuilder<'args, DB>
    where
        DB: Database,
        DB::Arguments<'args>: Default,
        String: Encode<'args, DB> + Type<DB>,
        i64: Encode<'args, DB> + Type<DB>,
        T: 'args + Encode<'args, DB> + Type<DB>,
    {
        let mut sql = QueryBuilder::new(concat!(
            "SELECT ",
            order_columns!(),
            ", (SELECT COUNT(*) FROM (SELECT 1 FROM orders"
        ));
        self.push_where(&mut sql);
        sql.push(concat!(" LIMIT ", count_up_to!(), ") AS counted) AS total FROM orders"));
        self.push_where(&mut sql);
        sql.push(order_by(self.sort));
        sql.push(" LIMIT ").push_bind(limit);
        sql.push(" OFFSET ").push_bind(offset);
        sql
    }

    /// How many orders match; needed only when a page past the end comes back
    /// without rows to carry the total.
    fn count_query<'args, DB>(&self) -> QueryBuilder<'args, DB>
    where
        DB: Database,
        DB::Arguments<'args>: Default,
        String: Encode<'args, DB> + Type<DB>,
        T: 'args + Encode<'args, DB> + Type<DB>,
    {
        let mut sql = QueryBuilder::new("SELECT COUNT(*) FROM (SELECT 1 FROM orders");
        self.push_where(&mut sql);
        sql.push(concat!(" LIMIT ", count_up_to!(), ") AS counted"));
        sql
    }
}

/// An `orders` row as selected; `T` is the backend's timestamp column type.
#[derive(sqlx::FromRow)]
struct OrderRow<T> {
    id: String,
    user_id: String,
    customer_name: Option<String>,
    service_id: String,
    service_name: String,
    price: i64,
    status: String,
    scheduled_at: Option<T>,
    address: Option<String>,
    notes: Option<String>,
    created_at: T,
    updated_at: T,
    version: i64,
}

/// A row of a list page: the order and the number of matches in all.
#[derive(sqlx::FromRow)]
struct ListedRow<T> {
    #[sqlx(flatten)]
    order: OrderRow<T>,
    total: i64,
}

impl<T: StoredTime> OrderRow<T> {
    /// The stored row as a domain value; a row that breaks a domain rule (which
    /// only a hand edit of the database can make) is a failure, not a panic.
    fn into_order(self) -> Result<Order, RepoError> {
        let id = self.id;
        let corrupt = |what: &str| {
            RepoError::Failed(format!("stored order {id:?} has an invalid {what}").into())
        };
        Ok(Order {
            id: Id::parse(&id).map_err(|_| corrupt("id"))?,
            user_id: Id::parse(&self.user_id).map_err(|_| corrupt("user id"))?,
            customer_name: self
                .customer_name
                .as_deref()
                .map(|name| Username::parse("customerName", name))
                .transpose()
                .map_err(|_| corrupt("customer name"))?,
            service_id: Id::parse(&self.service_id).map_err(|_| corrupt("service id"))?,
            service_name: ServiceName::parse(&self.service_name)
                .map_err(|_| corrupt("service name"))?,
            price: Money::parse("price", self.price).map_err(|_| corrupt("price"))?,
            status: OrderStatus::from_str(&self.status).map_err(|_| corrupt("status"))?,
            scheduled_at: self.scheduled_at.map(StoredTime::load).transpose()?,
            address: self
                .address
                .as_deref()
                .map(Address::parse)
                .transpose()
                .map_err(|_| corrupt("address"))?
                .flatten(),
            notes: self
                .notes
                .as_deref()
                .map(Notes::parse)
                .transpose()
                .map_err(|_| corrupt("notes"))?
                .flatten(),
            created_at: self.created_at.load()?,
            updated_at: self.updated_at.load()?,
            version: Version::from_stored(self.version).ok_or_else(|| corrupt("version"))?,
        })
    }
}

/// The order INSERT (`$insert`, one of the `INSERT_*` statements) of `$order`,
/// bound, for the backend whose timestamp type is `$Time`.
macro_rules! insert_order {
    ($insert:expr, $order:expr, $Time:ident) => {{
        let order: &Order = $order;
        sqlx::query($insert)
            .bind(order.id.to_hex())
            .bind(order.user_id.to_hex())
            .bind(order.customer_name.as_ref().map(Username::as_str))
            .bind(order.service_id.to_hex())
            .bind(order.service_name.as_str())
            .bind(order.price.minor_units())
            .bind(order.status.as_str())
            .bind(order.scheduled_at.map($Time::store))
            .bind(order.address.as_ref().map(Address::as_str))
            .bind(order.notes.as_ref().map(Notes::as_str))
            .bind($Time::store(order.created_at))
            .bind($Time::store(order.updated_at))
            .bind(order.version.get())
    }};
}

/// [`CHANGE_STATUS`], bound, answering the changed row.
macro_rules! change_status_query {
    ($id:expr, $from:expr, $to:expr, $expected:expr, $now:expr, $Time:ident) => {
        sqlx::query_as::<_, OrderRow<$Time>>(CHANGE_STATUS)
            .bind($id.to_hex())
            .bind($from.as_str())
            .bind($to.as_str())
            .bind($Time::store($now))
            .bind($expected.map(Version::get))
    };
}

/// Orders in the `orders` table.
#[derive(Debug)]
pub(crate) struct SqlOrderRepo {
    pool: Pool,
}

impl SqlOrderRepo {
    pub(crate) fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// The INSERT of an order only while its user exists, as the backend
    /// words it.
    fn insert_statement(&self) -> &'static str {
        match self.pool {
            Pool::Postgres(_) => INSERT_POSTGRES,
            Pool::Sqlite(_) => INSERT_SQLITE,
        }
    }

    /// The answer of a conditional write: what it wrote, or why it wrote nothing.
    async fn explain(
        &self,
        written: Option<Order>,
        id: Id,
        expected: Option<Version>,
    ) -> Result<Option<Order>, RepoError> {
        match (written, expected) {
            (None, Some(expected)) => {
                crate::not_found_or_stale(&self.pool, VERSION_OF, id, expected).await
            }
            (written, _) => Ok(written),
        }
    }
}

#[async_trait]
impl OrderRepo for SqlOrderRepo {
    async fn insert(&self, order: &Order) -> Result<(), RepoError> {
        let insert = self.insert_statement();
        let stored = on_pool!(&self.pool, |db, Time| {
            insert_order!(insert, order, Time).execute(db).await.map(|done| done.rows_affected())
        })
        .map_err(translate)?;
        if stored == 0 {
            return Err(RepoError::MissingReference(Reference::User));
        }
        Ok(())
    }

    async fn insert_with_mail(
        &self,
        order: &Order,
        checks: PlacementChecks,
        mail: &OutboxMessage,
    ) -> Result<(), RepoError> {
        match &self.pool {
            Pool::Postgres(db) => {
                type Time = crate::time::PgTime;
                let answer = bind_message!(insert_order!(PLACE_POSTGRES, order, Time), mail, Time)
                    .bind(checks.service_version.get())
                    .bind(checks.customer_version.get())
                    .bind(checks.session_id.to_hex())
                    .bind(checks.caller.to_hex())
                    .bind(Time::store(checks.now))
                    .fetch_one(db)
                    .await
                    .map_err(translate)?;
                let column = |i| answer.try_get::<bool, _>(i).map_err(translate);
                match column(0)? {
                    true => Ok(()),
                    false => Err(PlacementChecks::refusal(column(1)?, column(2)?)),
                }
            }
            Pool::Sqlite(db) => {
                type Time = crate::time::UnixMillis;
                let mut tx = begin_write(db).await?;
                let stored = insert_order!(PLACE_SQLITE, order, Time)
                    .bind(checks.service_version.get())
                    .bind(checks.customer_version.get())
                    .bind(checks.session_id.to_hex())
                    .bind(checks.caller.to_hex())
                    .bind(Time::store(checks.now))
                    .execute(&mut *tx)
                    .await
                    .map_err(translate)?
                    .rows_affected();
                if stored == 0 {
                    // Rolled back as `tx` drops: nothing stored, no mail.
                    let (session_live, service_current): (bool, bool) =
                        sqlx::query_as(REFUSAL_SQLITE)
                            .bind(checks.session_id.to_hex())
                            .bind(checks.caller.to_hex())
                            .bind(Time::store(checks.now))
                            .bind(order.service_id.to_hex())
                            .bind(checks.service_version.get())
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(translate)?;
                    return Err(PlacementChecks::refusal(session_live, service_current));
                }
                enqueue_query!(mail, Time).execute(&mut *tx).await.map_err(translate)?;
                tx.commit().await.map_err(translate)
            }
        }
    }

    async fn get(&self, id: Id) -> Result<Option<Order>, RepoError> {
        on_pool!(&self.pool, |db, Time| {
            sqlx::query_as::<_, OrderRow<Time>>(GET)
                .bind(id.to_hex())
                .fetch_optional(db)
                .await
                .map_err(translate)?
                .map(OrderRow::into_order)
                .transpose()
        })
    }

    async fn list(&self, query: &OrderQuery) -> Result<Page<Order>, RepoError> {
        let limit = i64::from(query.page.limit());
        let offset = i64::try_from(query.page.offset()).unwrap_or(i64::MAX);

        let (items, total) = on_pool!(&self.pool, |db, Time| {
            let filters = Filters::<Time>::of(query);
            let mut page = filters.page_query(limit, offset);
            let rows =
                page.build_query_as::<ListedRow<Time>>().fetch_all(db).await.map_err(translate)?;
            let total = match rows.first() {
                Some(row) => row.total,
                None if offset > 0 => {
                    let mut count = filters.count_query();
                    count.build_query_scalar::<i64>().fetch_one(db).await.map_err(translate)?
                }
                None => 0,
            };
            let items = rows
                .into_iter()
                .map(|row| row.order.into_order())
                .collect::<Result<Vec<_>, _>>()?;
            (items, total)
        });
        Ok(Page { items, total: u64::try_from(total).unwrap_or(0) })
    }

    async fn change_status(
        &self,
        id: Id,
        from: OrderStatus,
        to: OrderStatus,
        expected: Option<Version>,
        now: Timestamp,
    ) -> Result<Option<Order>, RepoError> {
        let changed = on_pool!(&self.pool, |db, Time| {
            change_status_query!(id, from, to, expected, now, Time)
                .fetch_optional(db)
                .await
                .map_err(translate)?
                .map(OrderRow::into_order)
                .transpose()
        })?;
        self.explain(changed, id, expected).await
    }

    async fn change_status_with_mail(
        &self,
        id: Id,
        from: OrderStatus,
        to: OrderStatus,
        expected: Option<Version>,
        now: Timestamp,
        mail: &OutboxMessage,
    ) -> Result<Option<Order>, RepoError> {
        let changed = on_pool!(&self.pool, |db, Time| {
            let mut tx = begin_write(db).await?;
            let Some(row) = change_status_query!(id, from, to, expected, now, Time)
                .fetch_optional(&mut *tx)
                .await
                .map_err(translate)?
            else {
                // No move, no mail. The transaction ends before `explain`
                // reads on another connection: holding it (and, on SQLite,
                // the write lock) while waiting for a second connection
                // starves the pool when many moves race.
                tx.rollback().await.map_err(translate)?;
                return self.explain(None, id, expected).await;
            };
            let changed = row.into_order()?;
            enqueue_query!(mail, Time).execute(&mut *tx).await.map_err(translate)?;
            tx.commit().await.map_err(translate)?;
            Some(changed)
        });
        Ok(changed)
    }

    async fn update_details(
        &self,
        id: Id,
        details: &OrderDetails,
        expected: Option<Version>,
        now: Timestamp,
    ) -> Result<Option<Order>, RepoError> {
        let updated = on_pool!(&self.pool, |db, Time| {
            sqlx::query_as::<_, OrderRow<Time>>(UPDATE_DETAILS)
                .bind(id.to_hex())
                .bind(details.scheduled_at.is_some())
                .bind(details.scheduled_at.flatten().map(Time::store))
                .bind(details.address.is_some())
                .bind(details.address.as_ref().and_then(Option::as_ref).map(Address::as_str))
                .bind(details.notes.is_some())
                .bind(details.notes.as_ref().and_then(Option::as_ref).map(Notes::as_str))
                .bind(Time::store(now))
                .bind(expected.map(Version::get))
                .fetch_optional(db)
                .await
                .map_err(translate)?
                .map(OrderRow::into_order)
                .transpose()
        })?;
        self.explain(updated, id, expected).await
    }

    async fn delete(&self, id: Id) -> Result<bool, RepoError> {
        on_pool!(&self.pool, |db, _Time| {
            sqlx::query(DELETE).bind(id.to_hex()).execute(db).await.map(|r| r.rows_affected() > 0)
        })
        .map_err(translate)
    }

    async fn cancel_pending_of_user(&self, user_id: Id, now: Timestamp) -> Result<u64, RepoError> {
        on_pool!(&self.pool, |db, Time| {
            sqlx::query(CANCEL_PENDING_OF_USER)
                .bind(user_id.to_hex())
                .bind(Time::store(now))
                .execute(db)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(translate)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use sqlx::{Postgres, Sqlite};
    use tozalash_domain::PageRequest;

    use super::*;
    use crate::time::{PgTime, UnixMillis};

    use tozalash_domain::clock::at;

    /// Every combination of set and unset filters.
    fn every_query() -> Vec<OrderQuery> {
        (0..128u8)
            .map(|bits| OrderQuery {
                page: PageRequest::default(),
                user_id: (bits & 1 != 0).then(Id::generate),
                status: (bits & 2 != 0).then_some(OrderStatus::Pending),
                service_id: (bits & 4 != 0).then(Id::generate),
                created_from: (bits & 8 != 0).then(|| at(1)),
                created_to: (bits & 16 != 0).then(|| at(2)),
                scheduled_from: (bits & 32 != 0).then(|| at(3)),
                scheduled_to: (bits & 64 != 0).then(|| at(4)),
                sort: OrderSort::default(),
            })
            .collect()
    }

    fn pg_page(query: &OrderQuery) -> String {
        Filters::<PgTime>::of(query).page_query::<Postgres>(20, 40).into_sql()
    }

    #[test]
    fn a_customer_list_is_a_plain_equality_the_index_can_serve() {
        let query = OrderQuery { user_id: Some(Id::generate()), ..OrderQuery::default() };
        assert_eq!(
            pg_page(&query),
            concat!(
                "SELECT ",
                order_columns!(),
                ", (SELECT COUNT(*) FROM (SELECT 1 FROM orders WHERE user_id = $1 LIMIT 10001) AS counted) AS total ",
                "FROM orders WHERE user_id = $2 ",
                "ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4"
            )
        );
    }

    #[test]
    fn the_visit_window_and_order_are_plain_range_and_sort_the_index_can_serve() {
        let query = OrderQuery {
            scheduled_from: Some(at(1)),
            scheduled_to: Some(at(2)),
            sort: OrderSort::ScheduledAt,
            ..OrderQuery::default()
        };
        assert!(pg_page(&query).ends_with(concat!(
            "FROM orders WHERE scheduled_at >= $3 AND scheduled_at < $4 ",
            "ORDER BY scheduled_at ASC NULLS FIRST, id ASC LIMIT $5 OFFSET $6"
        )));
        let latest = OrderQuery { sort: OrderSort::ScheduledAtDesc, ..OrderQuery::default() };
        assert!(pg_page(&latest).contains(" ORDER BY scheduled_at DESC NULLS LAST, id DESC "));
        let oldest = OrderQuery { sort: OrderSort::CreatedAt, ..OrderQuery::default() };
        assert!(pg_page(&oldest).contains(" ORDER BY created_at ASC, id ASC "));
    }

    #[test]
    fn an_unfiltered_list_has_no_where_clause() {
        assert_eq!(
            pg_page(&OrderQuery::default()),
            concat!(
                "SELECT ",
                order_columns!(),
                ", (SELECT COUNT(*) FROM (SELECT 1 FROM orders LIMIT 10001) AS counted) AS total FROM orders ",
                "ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2"
            )
        );
    }

    #[test]
    fn every_filter_combination_is_fixed_fragments_and_bound_values() {
        for query in every_query() {
            let set = [
                query.user_id.is_some(),
                query.status.is_some(),
                query.service_id.is_some(),
                query.created_from.is_some(),
                query.created_to.is_some(),
                query.scheduled_from.is_some(),
                query.scheduled_to.is_some(),
            ]
            .into_iter()
            .filter(|&set| set)
            .count();
            let page = pg_page(&query);
            let count = Filters::<PgTime>::of(&query).count_query::<Postgres>().into_sql();
            let sqlite_page =
                Filters::<UnixMillis>::of(&query).page_query::<Sqlite>(20, 40).into_sql();

            // No catch-all `IS NULL OR`, no literal: one placeholder per filter
            // that is set (twice in a page: total and rows), and limit and offset.
            for sql in [&page, &count, &sqlite_page] {
                assert!(!sql.contains("IS NULL") && !sql.contains('\''), "{sql}");
            }
            assert_eq!(page.matches('$').count(), 2 * set + 2, "{page}");
            assert_eq!(sqlite_page.matches('?').count(), 2 * set + 2, "{sqlite_page}");
            assert_eq!(count.matches('$').count(), set, "{count}");
            assert_eq!(page.matches(" WHERE ").count(), 2 * usize::from(set > 0));
            assert_eq!(page.matches(" AND ").count(), 2 * set.saturating_sub(1));
            assert!(page.contains(" ORDER BY created_at DESC, id DESC LIMIT $"), "{page}");

            // The count uses the same filters as the page's total.
            let count_filters =
                count.strip_prefix("SELECT COUNT(*) FROM (SELECT 1 FROM orders").unwrap();
            let total_filters = page
                .split_once("(SELECT COUNT(*) FROM (SELECT 1 FROM orders")
                .and_then(|(_, tail)| tail.split_once(") AS total"))
                .map(|(filters, _)| filters)
                .unwrap();
            assert_eq!(count_filters, total_filters);
        }
    }
}
