//! What `SqlStore::open` promises beyond the shared conformance suite: which
//! URLs it takes, how it reports a database it cannot reach, and the SQLite
//! connection settings.

use sqlx::{Connection, Row, SqliteConnection};
use tozalash_domain::RepoError;
use tozalash_store_sql::SqlStore;

#[tokio::test]
async fn an_unsupported_scheme_is_a_failure() {
    let err = SqlStore::open("mysql://localhost/tozalash").await.expect_err("refused");
    assert!(matches!(err, RepoError::Failed(_)), "{err:?}");
}

#[tokio::test]
async fn an_unreachable_postgres_is_unavailable() {
    // Nothing listens on port 1.
    let err = SqlStore::open("postgres://postgres@127.0.0.1:1/test").await.expect_err("refused");
    assert!(matches!(err, RepoError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn sqlite_creates_the_file_only_when_the_url_says_mode_rwc() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("fresh.db");

    let err = SqlStore::open(&format!("sqlite://{}", path.display())).await.expect_err("no file");
    assert!(matches!(err, RepoError::Unavailable(_)), "{err:?}");
    assert!(!path.exists());

    let store =
        SqlStore::open(&format!("sqlite://{}?mode=rwc", path.display())).await.expect("opens");
    store.migrate().await.expect("migrates");
    store.repositories().health.ping().await.expect("answers");
    store.close().await;
    assert!(path.exists());
}

#[tokio::test]
async fn sqlite_runs_in_wal_mode() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("wal.db").display());
    let store = SqlStore::open(&url).await.expect("opens");
    store.migrate().await.expect("migrates");
    store.close().await;

    // The journal mode is a property of the file, so a plain connection sees it.
    let mut conn = SqliteConnection::connect(&url).await.expect("connects");
    let row = sqlx::query("PRAGMA journal_mode").fetch_one(&mut conn).await.expect("answers");
    assert_eq!(row.get::<String, _>(0), "wal");
}
