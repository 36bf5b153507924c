//! Conformance tests of the mail [`Outbox`](tozalash_domain::Outbox).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::HashSet;
use std::sync::Arc;

use tozalash_domain::{
    ClaimToken, ClaimedMessage, Email, Id, MailKind, OutboxMessage, OutboxStatus, RenderedMail,
    Repositories,
};

use tozalash_domain::clock::at;

const T0: i64 = 1_764_201_600_123;

pub(crate) fn message(due: i64) -> OutboxMessage {
    OutboxMessage {
        id: Id::generate(),
        kind: MailKind::VerifyEmail,
        mail: RenderedMail {
            to: Email::parse("to", "zarina@example.uz").unwrap(),
            subject: "E-pochtangizni tasdiqlang".into(),
            text: "Havola: http://127.0.0.1:8080/api/v1/auth/verify-email?token=abc".into(),
            html: "<p>Havola: <a href=\"http://x\">tasdiqlash</a></p>".into(),
        },
        status: OutboxStatus::Pending,
        attempts: 0,
        next_attempt_at: at(due),
        created_at: at(T0),
        last_error: None,
    }
}

/// Claims the `n` messages due at `T0` (all of them) under one lease until
/// `T0 + 60 s`, and answers the claim's token.
async fn claim_all(repos: &Repositories, n: usize) -> ClaimToken {
    let claimed = repos.outbox.claim_due(at(T0), at(T0 + 60_000), 100).await.unwrap();
    assert_eq!(claimed.len(), n);
    claimed[0].token.clone()
}

/// Claims the one message due at `now`, leased until `lease_until`.
async fn claim_one(repos: &Repositories, now: i64, lease_until: i64) -> ClaimedMessage {
    let mut claimed = repos.outbox.claim_due(at(now), at(lease_until), 10).await.unwrap();
    assert_eq!(claimed.len(), 1, "one message due at {now}");
    claimed.remove(0)
}

pub async fn an_enqueued_message_reads_back_exactly(repos: &Repositories) {
    let m = message(T0);
    repos.outbox.enqueue(&m).await.unwrap();

    assert_eq!(repos.outbox.get(m.id).await.unwrap(), Some(m));
    assert_eq!(repos.outbox.backlog().await.unwrap(), (1, 0));
}

pub async fn claiming_takes_due_messages_oldest_first_and_leases_them(repos: &Repositories) {
    let late = message(T0 + 10);
    let early = message(T0 + 5);
    let future = message(T0 + 1_000);
    for m in [&late, &early, &future] {
        repos.outbox.enqueue(m).await.unwrap();
    }

    let claimed = repos.outbox.claim_due(at(T0 + 100), at(T0 + 60_000), 10).await.unwrap();

    let ids: Vec<Id> = claimed.iter().map(|c| c.message.id).collect();
    assert_eq!(ids, [early.id, late.id]);
    assert!(
        claimed.iter().all(|c| c.message.next_attempt_at == at(T0 + 60_000)),
        "answered with the lease"
    );
    assert_eq!(claimed[0].token, claimed[1].token, "one token per claim");
    assert!(
        repos.outbox.claim_due(at(T0 + 200), at(T0 + 60_000), 10).await.unwrap().is_empty(),
        "leased, not due"
    );
    let after_lease = repos.outbox.claim_due(at(T0 + 60_000), at(T0 + 120_000), 1).await.unwrap();
    assert_eq!(after_lease.len(), 1, "the limit holds");
}

pub async fn concurrent_claims_never_hand_out_a_message_twice(repos: &Repositories) {
    let all: Vec<OutboxMessage> = (0..20).map(|i| message(T0 + i)).collect();
    for m in &all {
        repos.outbox.enqueue(m).await.unwrap();
    }

    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let outbox = Arc::clone(&repos.outbox);
            tokio::spawn(async move {
                outbox.claim_due(at(T0 + 100), at(T0 + 60_000), 8).await.unwrap()
            })
        })
        .collect();
    let mut seen = Vec::new();
    for task in tasks {
        seen.extend(task.await.unwrap().into_iter().map(|c| c.message.id));
    }

    let unique: HashSet<Id> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no message claimed twice");
    assert_eq!(unique.len(), 20);
}

pub async fn sent_and_dead_messages_leave_the_backlog_and_drop_their_body(repos: &Repositories) {
    let sent = message(T0);
    let dead = message(T0);
    let retried = message(T0);
    for m in [&sent, &dead, &retried] {
        repos.outbox.enqueue(m).await.unwrap();
    }

    let token = claim_all(repos, 3).await;

    assert!(repos.outbox.mark_sent(sent.id, &token, at(T0 + 1)).await.unwrap());
    assert!(repos.outbox.mark_dead(dead.id, &token, "550 mailbox unavailable").await.unwrap());
    assert!(repos
        .outbox
        .retry_later(retried.id, &token, at(T0 + 9_000), "connection refused")
        .await
        .unwrap());

    assert_eq!(repos.outbox.backlog().await.unwrap(), (1, 1));
    let s = repos.outbox.get(sent.id).await.unwrap().unwrap();
    assert_eq!(s.status, OutboxStatus::Sent);
    assert!(
        !s.mail.text.contains("token=") && !s.mail.html.contains("href"),
        "the secret link is gone"
    );
    let d = repos.outbox.get(dead.id).await.unwrap().unwrap();
    assert_eq!(
        (d.status, d.attempts, d.last_error.as_deref()),
        (OutboxStatus::Dead, 1, Some("550 mailbox unavailable"))
    );
    assert!(!d.mail.text.contains("token="));
    let r = repos.outbox.get(retried.id).await.unwrap().unwrap();
    assert_eq!(
        (r.status, r.attempts, r.next_attempt_at),
        (OutboxStatus::Pending, 1, at(T0 + 9_000))
    );
    assert_eq!(r.last_error.as_deref(), Some("connection refused"));
    assert_eq!(r.mail, retried.mail, "a retried message keeps its body");

    let due = repos.outbox.claim_due(at(T0 + 10_000), at(T0 + 70_000), 10).await.unwrap();
    assert_eq!(
        due.iter().map(|c| c.message.id).collect::<Vec<_>>(),
        [retried.id],
        "only pending messages are claimed"
    );
}

/// Bug 1 of issue 13: a worker whose lease ran out while it was busy, and
/// whose message another worker has claimed since, can neither send (mark
/// sent), reschedule, demote, renew nor release it; its writes change nothing
/// and say so. Once the other worker sent it, it stays SENT.
pub async fn a_stale_worker_cannot_touch_a_message_another_worker_holds(repos: &Repositories) {
    let m = message(T0);
    repos.outbox.enqueue(&m).await.unwrap();
    let stale = claim_one(repos, T0, T0 + 1_000).await;
    let fresh = claim_one(repos, T0 + 1_000, T0 + 61_000).await;
    assert_ne!(stale.token, fresh.token, "each claim has its own token");

    let outbox = &repos.outbox;
    assert!(!outbox.renew(m.id, &stale.token, at(T0 + 90_000)).await.unwrap());
    assert!(!outbox.mark_sent(m.id, &stale.token, at(T0 + 1_500)).await.unwrap());
    assert!(!outbox.retry_later(m.id, &stale.token, at(T0 + 5_000), "timed out").await.unwrap());
    assert!(!outbox.mark_dead(m.id, &stale.token, "refused").await.unwrap());
    assert!(!outbox.release(m.id, &stale.token, at(T0 + 1_500)).await.unwrap());

    let stored = outbox.get(m.id).await.unwrap().unwrap();
    assert_eq!(
        stored,
        OutboxMessage { next_attempt_at: at(T0 + 61_000), ..m.clone() },
        "still PENDING, untouched, under the other worker's lease"
    );
    assert!(
        outbox.claim_due(at(T0 + 2_000), at(T0 + 62_000), 10).await.unwrap().is_empty(),
        "nobody else can take it while the other worker holds it"
    );

    assert!(outbox.mark_sent(m.id, &fresh.token, at(T0 + 2_000)).await.unwrap());
    assert!(!outbox.mark_sent(m.id, &fresh.token, at(T0 + 2_001)).await.unwrap(), "once");
    assert!(!outbox.mark_dead(m.id, &stale.token, "refused").await.unwrap());
    let sent = outbox.get(m.id).await.unwrap().unwrap();
    assert_eq!((sent.status, sent.attempts), (OutboxStatus::Sent, 0));
}

/// Moved here from the SQL adapter's tests (bug 2 of issue 13: MongoDB
/// matched on `_id` alone): a worker whose lease ran out while another one
/// sent the message never reschedules it or demotes it to DEAD.
pub async fn a_message_that_is_no_longer_pending_is_never_rescheduled_or_demoted(
    repos: &Repositories,
) {
    let m = message(T0);
    repos.outbox.enqueue(&m).await.unwrap();
    let stale = claim_one(repos, T0, T0 + 1_000).await;
    let other = claim_one(repos, T0 + 1_000, T0 + 61_000).await;
    assert!(repos.outbox.mark_sent(m.id, &other.token, at(T0 + 1_001)).await.unwrap());

    // The worker whose lease ran out, with its own token and with the one
    // that sent the message: neither may touch a SENT message.
    for token in [&stale.token, &other.token] {
        assert!(!repos.outbox.retry_later(m.id, token, at(T0 + 5_000), "timed out").await.unwrap());
        assert!(!repos.outbox.mark_dead(m.id, token, "refused").await.unwrap());
    }

    let stored = repos.outbox.get(m.id).await.unwrap().unwrap();
    assert_eq!(stored.status, OutboxStatus::Sent);
    assert_eq!((stored.attempts, stored.last_error), (0, None));
    assert_eq!(stored.mail.subject, m.mail.subject, "the subject is kept");
    assert_eq!((stored.mail.text.as_str(), stored.mail.html.as_str()), ("", ""));
    assert_eq!(repos.outbox.backlog().await.unwrap(), (0, 0));
}

/// Attempts are counted in the write, one per failed attempt, never from a
/// snapshot the worker holds.
pub async fn every_failed_attempt_counts_once(repos: &Repositories) {
    let m = message(T0);
    repos.outbox.enqueue(&m).await.unwrap();

    let first = claim_one(repos, T0, T0 + 1_000).await;
    assert!(repos.outbox.retry_later(m.id, &first.token, at(T0 + 10), "a").await.unwrap());
    assert!(!repos.outbox.retry_later(m.id, &first.token, at(T0 + 10), "a").await.unwrap());
    let second = claim_one(repos, T0 + 10, T0 + 1_000).await;
    assert_eq!(second.message.attempts, 1);
    assert!(repos.outbox.retry_later(m.id, &second.token, at(T0 + 20), "b").await.unwrap());
    let third = claim_one(repos, T0 + 20, T0 + 1_000).await;
    assert!(repos.outbox.mark_dead(m.id, &third.token, "c").await.unwrap());

    let stored = repos.outbox.get(m.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.attempts, stored.last_error.as_deref()),
        (OutboxStatus::Dead, 3, Some("c"))
    );
}

/// Renewing extends the lease of a message the claim still holds, so a slow
/// batch keeps the messages it has not sent yet.
pub async fn renewing_extends_the_lease_of_a_held_message(repos: &Repositories) {
    let m = message(T0);
    repos.outbox.enqueue(&m).await.unwrap();
    let claim = claim_one(repos, T0, T0 + 1_000).await;

    assert!(repos.outbox.renew(m.id, &claim.token, at(T0 + 5_000)).await.unwrap());
    assert!(
        repos.outbox.claim_due(at(T0 + 2_000), at(T0 + 9_000), 10).await.unwrap().is_empty(),
        "the renewed lease holds past the first one"
    );
    assert_eq!(repos.outbox.get(m.id).await.unwrap().unwrap().next_attempt_at, at(T0 + 5_000));
    assert!(repos.outbox.mark_sent(m.id, &claim.token, at(T0 + 3_000)).await.unwrap());
}

/// Shutdown: a released message is due at once for any worker, and only the
/// claim that holds it can release it.
pub async fn release_makes_a_message_due_at_once_and_only_with_its_token(repos: &Repositories) {
    let m = message(T0);
    repos.outbox.enqueue(&m).await.unwrap();
    let claim = claim_one(repos, T0, T0 + 60_000).await;

    assert!(!repos.outbox.release(m.id, &ClaimToken::generate(), at(T0 + 10)).await.unwrap());
    assert!(
        repos.outbox.claim_due(at(T0 + 10), at(T0 + 60_010), 10).await.unwrap().is_empty(),
        "a wrong token releases nothing"
    );

    assert!(repos.outbox.release(m.id, &claim.token, at(T0 + 10)).await.unwrap());
    assert!(!repos.outbox.release(m.id, &claim.token, at(T0 + 10)).await.unwrap(), "once");
    let again = claim_one(repos, T0 + 10, T0 + 60_010).await;
    assert_eq!((again.message.attempts, again.message.status), (0, OutboxStatus::Pending));
    assert_ne!(again.token, claim.token);
    assert!(
        !repos.outbox.mark_sent(m.id, &claim.token, at(T0 + 11)).await.unwrap(),
        "the released claim is over"
    );
}
