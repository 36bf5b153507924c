//! `MongoStore::open` failure modes that need no running server.

use std::time::{Duration, Instant};

use tozalash_domain::RepoError;
use tozalash_store_mongo::MongoStore;

#[tokio::test]
async fn an_unreachable_server_is_unavailable_within_the_urls_selection_timeout() {
    // Port 1 on loopback: nothing listens, the connection is refused at once,
    // and the driver retries until server selection gives up.
    let started = Instant::now();
    let err = MongoStore::open(
        "mongodb://127.0.0.1:1/?directConnection=true&serverSelectionTimeoutMS=300",
    )
    .await
    .expect_err("nothing listens on port 1");
    assert!(matches!(err, RepoError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(4), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn a_malformed_url_is_a_failure_not_an_outage() {
    let err = MongoStore::open("mongodb://127.0.0.1:27017/?serverSelectionTimeoutMS=soon")
        .await
        .expect_err("malformed option");
    assert!(matches!(err, RepoError::Failed(_)), "{err:?}");
}
