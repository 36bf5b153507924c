//! The storage conformance suite against Postgres: every test gets its own
//! schema `t_<random hex>` in the database `TEST_POSTGRES_URL` names, dropped
//! again when the test passes.

use sqlx::{Connection, PgConnection};
use tozalash_store_sql::SqlStore;
use tozalash_store_tests::TestBackend;

fn server_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| panic!("TEST_POSTGRES_URL is not set; run scripts/test.sh"))
}

/// Runs one statement on a plain connection of its own.
async fn execute(url: &str, sql: &str) {
    let mut conn = PgConnection::connect(url).await.expect("Postgres accepts a connection");
    sqlx::query(sql).execute(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.close().await.expect("the connection closes");
}

async fn backend() -> TestBackend {
    let url = server_url();
    // Only hex digits go into the SQL and the URL below.
    let schema = format!("t_{:016x}", rand::random::<u64>());
    execute(&url, &format!("CREATE SCHEMA {schema}")).await;

    let separator = if url.contains('?') { '&' } else { '?' };
    let store_url = format!("{url}{separator}options=-c%20search_path%3D{schema}");
    let store = SqlStore::open(&store_url).await.expect("Postgres opens");
    store.migrate().await.expect("Postgres migrates");
    // A second run must be a no-op.
    store.migrate().await.expect("Postgres migrations are idempotent");

    let repos = store.repositories();
    TestBackend::new(repos).with_cleanup(async move {
        store.close().await;
        execute(&url, &format!("DROP SCHEMA {schema} CASCADE")).await;
    })
}

tozalash_store_tests::conformance_suite!();
