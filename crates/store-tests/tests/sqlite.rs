//! The storage conformance suite against SQLite: every test gets a fresh
//! database file in its own temporary directory.

use tozalash_store_sql::SqlStore;
use tozalash_store_tests::TestBackend;

async fn backend() -> TestBackend {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("tozalash.db").display());
    let store = SqlStore::open(&url).await.expect("SQLite opens");
    store.migrate().await.expect("SQLite migrates");
    // A second run must be a no-op.
    store.migrate().await.expect("SQLite migrations are idempotent");
    let repos = store.repositories();
    TestBackend::new(repos).with_cleanup(async move {
        store.close().await;
        drop(dir);
    })
}

tozalash_store_tests::conformance_suite!();
