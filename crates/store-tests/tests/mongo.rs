//! The storage conformance suite against MongoDB. Needs `TEST_MONGODB_URL`
//! (scripts/test.sh provides one); every test gets its own database, dropped
//! after a test that passed.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use tozalash_store_mongo::MongoStore;
use tozalash_store_tests::TestBackend;

async fn backend() -> TestBackend {
    // Never skip silently: a suite that did not run must not look green.
    let url = std::env::var("TEST_MONGODB_URL")
        .expect("TEST_MONGODB_URL is not set; run scripts/test.sh");
    let name = format!("t_{:016x}", rand::random::<u64>());
    let store = MongoStore::open_database(&url, &name).await.unwrap();
    store.ensure_indexes().await.unwrap();
    let repos = store.repositories();
    TestBackend::new(repos).with_cleanup(async move {
        store.drop_database().await.unwrap();
    })
}

tozalash_store_tests::conformance_suite!();
