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

/// `statement_timeout` is set on every pooled connection: a statement that
/// runs longer is cancelled by the server and reported as `Unavailable` (a
/// 503 at the HTTP edge, never a 500). Migrations run without it.
#[tokio::test]
async fn a_statement_over_the_timeout_is_cancelled_as_unavailable() {
    use std::time::{Duration, Instant};
    use tozalash_domain::RepoError;
    use tozalash_store_sql::OpenOptions;

    let url = server_url();
    let schema = format!("t_{:016x}", rand::random::<u64>());
    execute(&url, &format!("CREATE SCHEMA {schema}")).await;
    let separator = if url.contains('?') { '&' } else { '?' };
    // The URL's own `options` (the search path) are kept beside the timeout.
    let store_url = format!("{url}{separator}options=-c%20search_path%3D{schema}");
    let options = OpenOptions { statement_timeout: Some(Duration::from_millis(200)) };
    let store = SqlStore::open_with(&store_url, options).await.expect("Postgres opens");
    store.migrate().await.expect("migrations are not bound by the timeout");
    store.execute_raw("SELECT pg_sleep(0.05)").await.expect("a short statement runs");

    let started = Instant::now();
    let err = store.execute_raw("SELECT pg_sleep(2)").await.expect_err("cancelled");
    assert!(matches!(err, RepoError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
    // The URL's search path still holds beside the timeout.
    store.execute_raw(&format!("CREATE TABLE {schema}.probe (x int)")).await.expect("created");
    store.execute_raw("SELECT count(*) FROM probe").await.expect("the search path holds");
    store.repositories().health.ping().await.expect("the pool still answers");

    let plain = SqlStore::open(&store_url).await.expect("Postgres opens");
    plain.execute_raw("SELECT pg_sleep(0.3)").await.expect("no timeout unless asked");
    plain.close().await;
    store.close().await;
    execute(&url, &format!("DROP SCHEMA {schema} CASCADE")).await;
}
