//! Conformance tests of retention: `SessionRepo::purge_ended`,
//! `EmailTokenRepo::purge_spent` and `Outbox::purge_finished` delete exactly
//! what ended before the cut-off, and nothing else, in batches.
//! (`IdempotencyRepo::purge_expired` is tested with the other idempotency tests.)

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use tozalash_domain::{
    Email, EmailToken, Id, MailKind, OutboxMessage, OutboxStatus, RefreshToken, RenderedMail,
    Repositories, Session, TokenHash, TokenPurpose,
};

use tozalash_domain::clock::at;

const T0: i64 = 1_764_201_600_123;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;
/// The cut-off of every purge here: rows that ended at it or before go.
const CUT: i64 = T0 + 10 * DAY;
/// More than any test stores: one call purges everything due.
const ALL: u32 = 1_000;

fn session(expires: i64, revoked: Option<i64>) -> Session {
    Session {
        id: Id::generate(),
        user_id: Id::generate(),
        created_at: at(T0),
        expires_at: at(expires),
        revoked_at: revoked.map(at),
    }
}

fn refresh(session: &Session, n: u8, created: i64) -> RefreshToken {
    RefreshToken {
        hash: TokenHash([n; 32]),
        session_id: session.id,
        created_at: at(created),
        rotated_at: None,
    }
}

fn email_token(n: u8, expires: i64, used: Option<i64>) -> EmailToken {
    EmailToken {
        hash: TokenHash([n; 32]),
        user_id: Id::generate(),
        purpose: TokenPurpose::VerifyEmail,
        email: Email::parse("email", "zarina@example.uz").unwrap(),
        created_at: at(T0),
        expires_at: at(expires),
        used_at: used.map(at),
    }
}

/// A message created at `created`; a finished one as the worker leaves it
/// (no body: its links carried secrets).
fn mail(status: OutboxStatus, created: i64) -> OutboxMessage {
    let finished = status != OutboxStatus::Pending;
    let body = |text: &str| if finished { String::new() } else { text.to_owned() };
    OutboxMessage {
        id: Id::generate(),
        kind: MailKind::VerifyEmail,
        mail: RenderedMail {
            to: Email::parse("to", "zarina@example.uz").unwrap(),
            subject: "E-pochtangizni tasdiqlang".into(),
            text: body("Havola: http://127.0.0.1:8080/api/v1/auth/verify-email?token=abc"),
            html: body("<p>Havola</p>"),
        },
        status,
        attempts: u32::from(finished),
        next_attempt_at: at(created),
        created_at: at(created),
        last_error: None,
    }
}

pub async fn purge_ended_removes_sessions_ended_by_the_cut_off_and_their_tokens_only(
    repos: &Repositories,
) {
    let live = session(T0 + 30 * DAY, None);
    let expired = session(T0 + DAY, None);
    let expired_at_cut = session(CUT, None);
    let revoked = session(T0 + 30 * DAY, Some(T0 + 2 * DAY));
    let revoked_lately = session(T0 + 30 * DAY, Some(CUT + 1));
    let expired_lately = session(CUT + 1, None);
    let all = [&live, &expired, &expired_at_cut, &revoked, &revoked_lately, &expired_lately];
    for (n, s) in all.iter().enumerate() {
        let n = u8::try_from(n).unwrap();
        repos.sessions.create(s, &refresh(s, 10 * n + 1, T0)).await.unwrap();
    }
    // Every refresh leaves a row: the rotated token goes with its session too.
    // (Rotated while it was live: a revoked session never rotates.)
    let next = refresh(&expired, 99, T0 + HOUR);
    assert!(repos.sessions.rotate(&TokenHash([11; 32]), &next, at(T0 + HOUR)).await.unwrap());

    assert_eq!(repos.sessions.purge_ended(at(CUT), ALL).await.unwrap(), 3);

    for gone in [11u8, 21, 31, 99] {
        assert_eq!(
            repos.sessions.find_refresh_token(&TokenHash([gone; 32])).await.unwrap(),
            None,
            "a token of a purged session is unknown, not an error (token {gone})"
        );
    }
    for (n, kept) in [(1u8, &live), (41, &revoked_lately), (51, &expired_lately)] {
        let found = repos.sessions.find_refresh_token(&TokenHash([n; 32])).await.unwrap();
        assert_eq!(found.map(|(_, s)| s), Some((*kept).clone()), "token {n} stays");
    }
    assert_eq!(repos.sessions.purge_ended(at(CUT), ALL).await.unwrap(), 0, "idempotent");
}

pub async fn a_refresh_token_whose_session_was_purged_is_unknown(repos: &Repositories) {
    let s = session(T0 + DAY, None);
    let first = refresh(&s, 1, T0);
    repos.sessions.create(&s, &first).await.unwrap();
    let second = refresh(&s, 2, T0 + HOUR);
    assert!(repos.sessions.rotate(&first.hash, &second, at(T0 + HOUR)).await.unwrap());
    repos.sessions.revoke(s.id, at(T0 + 2 * HOUR)).await.unwrap();

    assert_eq!(repos.sessions.purge_ended(at(T0 + 2 * HOUR), ALL).await.unwrap(), 1);

    // A replay of the old token: unknown (a 401), never a server error.
    assert_eq!(repos.sessions.find_refresh_token(&first.hash).await.unwrap(), None);
    assert_eq!(repos.sessions.find_refresh_token(&second.hash).await.unwrap(), None);
    let third = refresh(&s, 3, T0 + 3 * HOUR);
    assert!(
        !repos.sessions.rotate(&second.hash, &third, at(T0 + 3 * HOUR)).await.unwrap(),
        "a purged token rotates nothing"
    );
}

pub async fn purge_spent_removes_tokens_used_or_expired_by_the_cut_off_only(repos: &Repositories) {
    let usable = email_token(1, T0 + 30 * DAY, None);
    let expired = email_token(2, T0 + HOUR, None);
    let used = email_token(3, T0 + 30 * DAY, Some(T0 + HOUR));
    let used_at_cut = email_token(4, T0 + 30 * DAY, Some(CUT));
    let used_lately = email_token(5, T0 + 30 * DAY, Some(CUT + 1));
    let expired_lately = email_token(6, CUT + 1, None);
    for t in [&usable, &expired, &used, &used_at_cut, &used_lately, &expired_lately] {
        repos.email_tokens.insert(t).await.unwrap();
    }

    assert_eq!(repos.email_tokens.purge_spent(at(CUT), ALL).await.unwrap(), 3);
    assert_eq!(repos.email_tokens.purge_spent(at(CUT), ALL).await.unwrap(), 0, "idempotent");

    // The usable token is still there and still works.
    let purpose = TokenPurpose::VerifyEmail;
    assert_eq!(
        repos.email_tokens.find(&usable.hash, purpose, at(CUT)).await.unwrap(),
        Some(usable.clone())
    );
    // The ones spent after the cut-off were kept: a later cut-off finds
    // exactly them (and the usable one, now expired too).
    assert_eq!(repos.email_tokens.purge_spent(at(CUT + 1), ALL).await.unwrap(), 2);
    assert_eq!(repos.email_tokens.purge_spent(at(T0 + 30 * DAY), ALL).await.unwrap(), 1);
}

pub async fn purge_finished_removes_sent_and_dead_mail_by_the_cut_off_only(repos: &Repositories) {
    let old_pending = mail(OutboxStatus::Pending, T0 - 100 * DAY);
    let sent = mail(OutboxStatus::Sent, T0);
    let dead = mail(OutboxStatus::Dead, T0 + DAY);
    let sent_at_cut = mail(OutboxStatus::Sent, CUT);
    let sent_lately = mail(OutboxStatus::Sent, CUT + 1);
    let dead_lately = mail(OutboxStatus::Dead, CUT + 1);
    let all = [&old_pending, &sent, &dead, &sent_at_cut, &sent_lately, &dead_lately];
    for m in all {
        repos.outbox.enqueue(m).await.unwrap();
    }

    assert_eq!(repos.outbox.purge_finished(at(CUT), ALL).await.unwrap(), 3);

    for gone in [&sent, &dead, &sent_at_cut] {
        assert_eq!(repos.outbox.get(gone.id).await.unwrap(), None);
    }
    for kept in [&old_pending, &sent_lately, &dead_lately] {
        assert_eq!(repos.outbox.get(kept.id).await.unwrap().as_ref(), Some(kept));
    }
    assert_eq!(repos.outbox.backlog().await.unwrap(), (1, 1), "PENDING mail is never purged");
    assert_eq!(repos.outbox.purge_finished(at(CUT), ALL).await.unwrap(), 0, "idempotent");
}

/// A small batch still purges everything, over several calls, each at most
/// `limit`; the last one is short.
pub async fn every_purge_works_in_batches(repos: &Repositories) {
    for n in 0..5u8 {
        let s = session(T0 + DAY, None);
        repos.sessions.create(&s, &refresh(&s, n + 1, T0)).await.unwrap();
        repos.email_tokens.insert(&email_token(n + 1, T0 + HOUR, None)).await.unwrap();
        repos.outbox.enqueue(&mail(OutboxStatus::Sent, T0)).await.unwrap();
    }
    let live = session(T0 + 30 * DAY, None);
    repos.sessions.create(&live, &refresh(&live, 100, T0)).await.unwrap();
    let pending = mail(OutboxStatus::Pending, T0);
    repos.outbox.enqueue(&pending).await.unwrap();

    let mut sessions = Vec::new();
    let mut tokens = Vec::new();
    let mut outbox = Vec::new();
    for _ in 0..4 {
        sessions.push(repos.sessions.purge_ended(at(CUT), 2).await.unwrap());
        tokens.push(repos.email_tokens.purge_spent(at(CUT), 2).await.unwrap());
        outbox.push(repos.outbox.purge_finished(at(CUT), 2).await.unwrap());
    }
    assert_eq!(sessions, [2, 2, 1, 0]);
    assert_eq!(tokens, [2, 2, 1, 0]);
    assert_eq!(outbox, [2, 2, 1, 0]);
    assert!(repos.sessions.find_refresh_token(&TokenHash([100; 32])).await.unwrap().is_some());
    assert_eq!(repos.outbox.get(pending.id).await.unwrap(), Some(pending));
}
