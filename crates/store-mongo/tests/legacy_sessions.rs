//! Sessions stored before the session document held its current refresh
//! token (`currentToken`): they rotate once their current token is adopted,
//! still exactly once, and still never after a revocation. Needs
//! `TEST_MONGODB_URL` (scripts/test.sh provides one).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;

use mongodb::bson::{doc, oid::ObjectId, Document};
use tozalash_domain::clock::at;
use tozalash_domain::{Id, RefreshToken, Repositories, Session, TokenHash};
use tozalash_store_mongo::MongoStore;

const T0: i64 = 1_764_201_600_123;

async fn store() -> (MongoStore, String) {
    let url = std::env::var("TEST_MONGODB_URL")
        .expect("TEST_MONGODB_URL is not set; run scripts/test.sh");
    let name = format!("t_{}", Id::generate());
    let store = MongoStore::open_database(&url, &name).await.unwrap();
    store.ensure_indexes().await.unwrap();
    (store, name)
}

/// A session with one rotation behind it, stored as an older release stored
/// it: no `currentToken`. Answers the session and its current token.
async fn legacy_session(
    repos: &Repositories,
    store: &MongoStore,
    name: &str,
) -> (Session, RefreshToken) {
    let session = Session {
        id: Id::generate(),
        user_id: Id::generate(),
        created_at: at(T0),
        expires_at: at(T0 + 86_400_000),
        revoked_at: None,
    };
    let first = RefreshToken {
        hash: TokenHash([1; 32]),
        session_id: session.id,
        created_at: at(T0),
        rotated_at: None,
    };
    repos.sessions.create(&session, &first).await.unwrap();
    let second = RefreshToken { hash: TokenHash([2; 32]), created_at: at(T0 + 1), ..first.clone() };
    assert!(repos.sessions.rotate(&first.hash, &second, at(T0 + 1)).await.unwrap());
    let sessions = store.client().database(name).collection::<Document>("sessions");
    let id = ObjectId::parse_str(session.id.to_hex()).unwrap();
    let unset = sessions
        .update_one(doc! { "_id": id }, doc! { "$unset": { "currentToken": "" } })
        .await
        .unwrap();
    assert_eq!(unset.modified_count, 1, "the field was there to remove");
    (session, second)
}

#[tokio::test]
async fn a_session_without_a_current_token_field_rotates_exactly_once() {
    let (store, name) = store().await;
    let repos = store.repositories();
    let (session, current) = legacy_session(&repos, &store, &name).await;

    // The token rotated before the upgrade does not rotate.
    let stale = RefreshToken { hash: TokenHash([3; 32]), ..current.clone() };
    assert!(!repos.sessions.rotate(&TokenHash([1; 32]), &stale, at(T0 + 2)).await.unwrap());

    let tasks: Vec<_> = (0..10u8)
        .map(|i| {
            let sessions = Arc::clone(&repos.sessions);
            let next = RefreshToken {
                hash: TokenHash([10 + i; 32]),
                session_id: session.id,
                created_at: at(T0 + 3),
                rotated_at: None,
            };
            let old = current.hash;
            tokio::spawn(async move { sessions.rotate(&old, &next, at(T0 + 3)).await })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
    store.drop_database().await.unwrap();
}

#[tokio::test]
async fn a_revoked_session_without_a_current_token_field_never_rotates() {
    let (store, name) = store().await;
    let repos = store.repositories();
    let (session, current) = legacy_session(&repos, &store, &name).await;
    assert!(repos.sessions.revoke(session.id, at(T0 + 2)).await.unwrap());

    let next = RefreshToken { hash: TokenHash([4; 32]), ..current.clone() };
    assert!(!repos.sessions.rotate(&current.hash, &next, at(T0 + 3)).await.unwrap());
    assert_eq!(repos.sessions.find_refresh_token(&next.hash).await.unwrap(), None);
    store.drop_database().await.unwrap();
}
