//! [`BulkLoad`]: generated data in multi-row INSERTs, a thousand rows per
//! statement (`tozalash seed --profile bench`).
//! The columns are those of each repository's own INSERT.

use async_trait::async_trait;
use sqlx::QueryBuilder;
use tozalash_domain::{Address, BulkLoad, Email, Notes, Order, RepoError, Service, User, Username};

use crate::error::translate;
use crate::time::StoredTime;
use crate::{on_pool, Pool};

/// Rows per statement: 13 parameters a row stays under both SQLite's 32,766
/// and Postgres's 65,535 bound parameters.
const CHUNK: usize = 1000;

#[derive(Debug, Clone)]
pub(crate) struct SqlBulkLoad {
    pool: Pool,
}

impl SqlBulkLoad {
    pub(crate) fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

/// Runs `INSERT INTO $table ($columns) VALUES (…), (…)` over `$rows` in chunks,
/// binding each row with `$bind(separated, row)` for the backend's `Time`.
macro_rules! insert_chunks {
    ($pool:expr, $head:literal, $rows:expr, |$b:ident, $row:ident, $Time:ident| $bind:expr) => {
        on_pool!($pool, |db, $Time| {
            for chunk in $rows.chunks(CHUNK) {
                let mut sql = QueryBuilder::new($head);
                sql.push_values(chunk, |mut $b, $row| {
                    $bind;
                });
                sql.build().execute(db).await.map_err(translate)?;
            }
            Ok(())
        })
    };
}

#[async_trait]
impl BulkLoad for SqlBulkLoad {
    async fn users(&self, users: &[User]) -> Result<(), RepoError> {
        insert_chunks!(
            &self.pool,
            "INSERT INTO users (id, username, username_folded, email, pending_email, \
             password_hash, role, is_verified, created_at, updated_at, version, locale) ",
            users,
            |b, user, Time| {
                b.push_bind(user.id.to_hex())
                    .push_bind(user.username.as_str())
                    .push_bind(user.username.folded())
                    .push_bind(user.email.as_str())
                    .push_bind(user.pending_email.as_ref().map(Email::as_str))
                    .push_bind(user.password_hash.as_str())
                    .push_bind(user.role.as_str())
                    .push_bind(user.is_verified)
                    .push_bind(Time::store(user.created_at))
                    .push_bind(Time::store(user.updated_at))
                    .push_bind(user.version.get())
                    .push_bind(user.locale.map(|l| l.as_str()))
            }
        )
    }

    async fn services(&self, services: &[Service]) -> Result<(), RepoError> {
        insert_chunks!(
            &self.pool,
            "INSERT INTO services (id, name, name_folded, name_key, search_key, description, \
             price, created_at, updated_at, version, archived_at) ",
            services,
            |b, service, Time| {
                b.push_bind(service.id.to_hex())
                    .push_bind(service.name.as_str())
                    .push_bind(service.name.folded())
                    .push_bind(service.name.key())
                    .push_bind(service.name.search_key())
                    .push_bind(service.description.as_str())
                    .push_bind(service.price.minor_units())
                    .push_bind(Time::store(service.created_at))
                    .push_bind(Time::store(service.updated_at))
                    .push_bind(service.version.get())
                    .push_bind(service.archived_at.map(Time::store))
            }
        )
    }

    async fn orders(&self, orders: &[Order]) -> Result<(), RepoError> {
        insert_chunks!(
            &self.pool,
            "INSERT INTO orders (id, user_id, customer_name, service_id, service_name, price, \
             status, scheduled_at, address, notes, created_at, updated_at, version) ",
            orders,
            |b, order, Time| {
                b.push_bind(order.id.to_hex())
                    .push_bind(order.user_id.to_hex())
                    .push_bind(order.customer_name.as_ref().map(Username::as_str))
                    .push_bind(order.service_id.to_hex())
                    .push_bind(order.service_name.as_str())
                    .push_bind(order.price.minor_units())
                    .push_bind(order.status.as_str())
                    .push_bind(order.scheduled_at.map(Time::store))
                    .push_bind(order.address.as_ref().map(Address::as_str))
                    .push_bind(order.notes.as_ref().map(Notes::as_str))
                    .push_bind(Time::store(order.created_at))
                    .push_bind(Time::store(order.updated_at))
                    .push_bind(order.version.get())
            }
        )
    }
}
