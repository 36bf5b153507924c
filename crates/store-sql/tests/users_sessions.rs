//! What the SQL adapter promises about users and sessions beyond the shared
//! conformance suite: a row a hand edit broke is a failure (never a panic), and
//! rotation never moves a token into another session (it claims nothing,
//! as on MongoDB).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use sqlx::Connection;
use tozalash_domain::{
    Email, Id, PageRequest, PasswordHash, RefreshToken, RepoError, Role, Session, TokenHash, User,
    UserQuery, Username,
};
use tozalash_store_sql::SqlStore;

use tozalash_domain::clock::at;

const T0: i64 = 1_764_201_600_123;

async fn sqlite() -> (SqlStore, tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let store = SqlStore::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    (store, dir, url)
}

fn user(name: &str) -> User {
    User {
        id: Id::generate(),
        username: Username::parse("username", name).unwrap(),
        email: Email::parse("email", &format!("{name}@example.uz")).unwrap(),
        pending_email: None,
        password_hash: PasswordHash::from_phc("$argon2id$x".into()),
        role: Role::User,
        is_verified: false,
        locale: None,
        created_at: at(T0),
        updated_at: at(T0),
        version: tozalash_domain::Version::FIRST,
    }
}

#[tokio::test]
async fn a_user_row_broken_by_hand_is_a_failure() {
    let (store, _dir, url) = sqlite().await;
    let repos = store.repositories();
    let stored = user("valid");
    repos.users.insert(&stored).await.unwrap();

    // Each edit adds to the ones before, so the first one alone breaks the row.
    for edit in [
        "UPDATE users SET pending_email = 'Not.Lower@Example.uz'",
        "UPDATE users SET email = 'Not.Lower@Example.uz'",
        "UPDATE users SET email = 'no-at-sign'",
        "UPDATE users SET username = 'x y z', username_folded = 'x y z'",
    ] {
        // Bypass the CHECKs a hand edit could also disable; only the values matter.
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("PRAGMA ignore_check_constraints = ON").execute(&mut conn).await.unwrap();
        sqlx::query(edit).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();

        let err = repos.users.get(stored.id).await.unwrap_err();
        assert!(matches!(err, RepoError::Failed(_)), "{edit}: {err:?}");
        let err = repos.users.list(&UserQuery::default()).await.unwrap_err();
        assert!(matches!(err, RepoError::Failed(_)), "{edit}: {err:?}");
    }
    store.close().await;
}

#[tokio::test]
async fn a_page_past_the_end_has_no_users_but_the_true_total() {
    let (store, _dir, _) = sqlite().await;
    let repos = store.repositories();
    for name in ["one", "two", "three"] {
        repos.users.insert(&user(name)).await.unwrap();
    }
    let query =
        UserQuery { page: PageRequest::new(Some(5), Some(2)).unwrap(), ..UserQuery::default() };
    let page = repos.users.list(&query).await.unwrap();
    assert!(page.items.is_empty());
    assert_eq!(page.total, 3);
    store.close().await;
}

#[tokio::test]
async fn rotation_into_another_session_is_refused_and_changes_nothing() {
    let (store, _dir, _) = sqlite().await;
    let repos = store.repositories();
    let session = Session {
        id: Id::generate(),
        user_id: Id::generate(),
        created_at: at(T0),
        expires_at: at(T0 + 1_000_000),
        revoked_at: None,
    };
    let first = RefreshToken {
        hash: TokenHash([1; 32]),
        session_id: session.id,
        created_at: at(T0),
        rotated_at: None,
    };
    repos.sessions.create(&session, &first).await.unwrap();
    let stray =
        RefreshToken { hash: TokenHash([2; 32]), session_id: Id::generate(), ..first.clone() };

    let won = repos.sessions.rotate(&first.hash, &stray, at(T0 + 1)).await.unwrap();

    assert!(!won, "a token of another session claims nothing");
    let (token, _) = repos.sessions.find_refresh_token(&first.hash).await.unwrap().unwrap();
    assert_eq!(token.rotated_at, None, "the old token is still current");
    assert_eq!(repos.sessions.find_refresh_token(&stray.hash).await.unwrap(), None);
    store.close().await;
}
