//! A refresh token whose session document is gone (a purge half way: tokens
//! are deleted before their sessions, or a session deleted by hand) reads as
//! unknown, so a replayed token is a 401, never a server error. Needs
//! `TEST_MONGODB_URL` (scripts/test.sh provides one).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use mongodb::bson::{doc, oid::ObjectId, Document};
use tozalash_domain::clock::at;
use tozalash_domain::{Id, RefreshToken, Session, TokenHash};
use tozalash_store_mongo::MongoStore;

const T0: i64 = 1_764_201_600_123;

#[tokio::test]
async fn a_token_whose_session_is_missing_is_unknown_not_an_error() {
    let url = std::env::var("TEST_MONGODB_URL")
        .expect("TEST_MONGODB_URL is not set; run scripts/test.sh");
    let name = format!("t_{}", Id::generate());
    let store = MongoStore::open_database(&url, &name).await.unwrap();
    store.ensure_indexes().await.unwrap();
    let repos = store.repositories();
    let session = Session {
        id: Id::generate(),
        user_id: Id::generate(),
        created_at: at(T0),
        expires_at: at(T0 + 1_000),
        revoked_at: None,
    };
    let token = RefreshToken {
        hash: TokenHash([7; 32]),
        session_id: session.id,
        created_at: at(T0),
        rotated_at: None,
    };
    repos.sessions.create(&session, &token).await.unwrap();

    let sessions = store.client().database(&name).collection::<Document>("sessions");
    let id = ObjectId::parse_str(session.id.to_hex()).unwrap();
    assert_eq!(sessions.delete_one(doc! { "_id": id }).await.unwrap().deleted_count, 1);

    assert_eq!(repos.sessions.find_refresh_token(&token.hash).await.unwrap(), None);
    store.drop_database().await.unwrap();
}
