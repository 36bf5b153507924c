//! What the SQL adapter promises about e-mail tokens and the outbox beyond the
//! shared conformance suite: a row a hand edit broke is a failure (never a
//! panic), a finished message cannot keep its body, and the worker's claim
//! reads the partial index. (That a message no longer PENDING is never
//! rescheduled or demoted is in the conformance suite, for every backend.)

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use sqlx::{Connection, Row, SqliteConnection};
use tozalash_domain::{
    Email, EmailToken, Id, MailKind, OutboxMessage, OutboxStatus, RenderedMail, RepoError,
    TokenHash, TokenPurpose,
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

/// A connection that ignores CHECK constraints, as a hand edit could.
async fn hand_editor(url: &str) -> SqliteConnection {
    let mut conn = SqliteConnection::connect(url).await.unwrap();
    sqlx::query("PRAGMA ignore_check_constraints = ON").execute(&mut conn).await.unwrap();
    conn
}

fn token(user_id: Id) -> EmailToken {
    EmailToken {
        hash: TokenHash([7; 32]),
        user_id,
        purpose: TokenPurpose::VerifyEmail,
        email: Email::parse("email", "zarina@example.uz").unwrap(),
        created_at: at(T0),
        expires_at: at(T0 + 60_000),
        used_at: None,
    }
}

fn message(due: i64) -> OutboxMessage {
    OutboxMessage {
        id: Id::generate(),
        kind: MailKind::ResetPassword,
        mail: RenderedMail {
            to: Email::parse("to", "zarina@example.uz").unwrap(),
            subject: "Parolni tiklash".into(),
            text: "http://127.0.0.1:8080/api/v1/auth/reset-password?token=abc".into(),
            html: "<a href=\"http://x?token=abc\">tiklash</a>".into(),
        },
        status: OutboxStatus::Pending,
        attempts: 0,
        next_attempt_at: at(due),
        created_at: at(T0),
        last_error: None,
    }
}

#[tokio::test]
async fn an_email_token_row_broken_by_hand_is_a_failure() {
    let (store, _dir, url) = sqlite().await;
    let repos = store.repositories();
    let stored = token(Id::generate());
    repos.email_tokens.insert(&stored).await.unwrap();

    for edit in [
        "UPDATE email_tokens SET email = 'Zarina@Example.uz'",
        "UPDATE email_tokens SET email = 'not an address'",
        "UPDATE email_tokens SET user_id = 'zzzzzzzzzzzzzzzzzzzzzzzz'",
        "UPDATE email_tokens SET created_at = 9223372036854775807",
    ] {
        let mut conn = hand_editor(&url).await;
        sqlx::query(edit).execute(&mut conn).await.unwrap();

        let err =
            repos.email_tokens.find(&stored.hash, stored.purpose, at(T0 + 1)).await.unwrap_err();
        assert!(matches!(err, RepoError::Failed(_)), "{edit}: {err:?}");

        // Put the row back as it was for the next edit.
        sqlx::query("DELETE FROM email_tokens").execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        repos.email_tokens.insert(&stored).await.unwrap();
    }

    store.close().await;
}

#[tokio::test]
async fn an_outbox_row_broken_by_hand_is_a_failure() {
    let (store, _dir, url) = sqlite().await;
    let repos = store.repositories();

    for edit in [
        "UPDATE outbox SET kind = 'VERIFY_EMAIL'",
        "UPDATE outbox SET recipient = 'nobody'",
        "UPDATE outbox SET recipient = 'Zarina@Example.uz'",
        "UPDATE outbox SET attempts = -1",
        "UPDATE outbox SET created_at = 9223372036854775807",
        "UPDATE outbox SET status = 'pending'",
    ] {
        let m = message(T0);
        repos.outbox.enqueue(&m).await.unwrap();
        let mut conn = hand_editor(&url).await;
        sqlx::query(edit).execute(&mut conn).await.unwrap();

        let err = repos.outbox.get(m.id).await.unwrap_err();
        assert!(matches!(err, RepoError::Failed(_)), "{edit}: {err:?}");
        let claimed = repos.outbox.claim_due(at(T0), at(T0 + 1_000), 10).await;
        if edit.contains("status") {
            // Not PENDING: the claim does not even see it.
            assert!(claimed.unwrap().is_empty(), "{edit}");
        } else {
            let err = claimed.unwrap_err();
            assert!(matches!(err, RepoError::Failed(_)), "{edit}: {err:?}");
        }

        sqlx::query("DELETE FROM outbox").execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }
    store.close().await;
}

#[tokio::test]
async fn a_finished_message_cannot_keep_its_body() {
    let (store, _dir, url) = sqlite().await;
    let repos = store.repositories();
    let m = message(T0);
    repos.outbox.enqueue(&m).await.unwrap();

    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    let refused = sqlx::query("UPDATE outbox SET status = 'SENT'").execute(&mut conn).await;
    assert!(refused.is_err(), "{refused:?}");
    conn.close().await.unwrap();
    store.close().await;
}

#[tokio::test]
async fn the_claim_and_the_backlog_read_the_partial_indexes() {
    let (store, _dir, url) = sqlite().await;

    let plan = |sql: &'static str| {
        let url = url.clone();
        async move {
            let mut conn = SqliteConnection::connect(&url).await.unwrap();
            let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
                .fetch_all(&mut conn)
                .await
                .unwrap();
            rows.iter().map(|row| row.get::<String, _>("detail")).collect::<Vec<_>>().join("\n")
        }
    };

    let claim = plan(
        "SELECT id FROM outbox WHERE status = 'PENDING' AND next_attempt_at <= 5 \
         ORDER BY next_attempt_at, id LIMIT 8",
    )
    .await;
    assert!(claim.contains("outbox_pending_due"), "{claim}");
    assert!(!claim.contains("TEMP B-TREE"), "no sort: {claim}");

    let backlog = plan(
        "SELECT (SELECT COUNT(*) FROM outbox WHERE status = 'PENDING'), \
                (SELECT COUNT(*) FROM outbox WHERE status = 'DEAD')",
    )
    .await;
    assert!(backlog.contains("outbox_pending_due") && backlog.contains("outbox_dead"), "{backlog}");

    let latest = plan(
        "SELECT created_at FROM email_tokens WHERE user_id = 'u' AND purpose = 'VERIFY_EMAIL' \
         ORDER BY created_at DESC LIMIT 1",
    )
    .await;
    assert!(
        latest.contains("email_tokens_user_id_purpose_created_at") && !latest.contains("TEMP"),
        "{latest}"
    );

    store.close().await;
}
