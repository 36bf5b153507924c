//! Conformance tests of the mail [`Outbox`](tozalash_domain::Outbox).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::HashSet;
use std::sync::Arc;

use tozalash_domain::{
    Email, Id, MailKind, OutboxMessage, OutboxStatus, RenderedMail, Repositories,
};

use tozalash_domain::clock::at;

const T0: i64 = 1_764_201_600_123;

fn message(due: i64) -> OutboxMessage {
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

    let ids: Vec<Id> = claimed.iter().map(|m| m.id).collect();
    assert_eq!(ids, [early.id, late.id]);
    assert!(
        claimed.iter().all(|m| m.next_attempt_at == at(T0 + 60_000)),
        "answered with the lease"
    );
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
        seen.extend(task.await.unwrap().into_iter().map(|m| m.id));
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

    repos.outbox.mark_sent(sent.id, at(T0 + 1)).await.unwrap();
    repos.outbox.mark_dead(dead.id, 7, "550 mailbox unavailable").await.unwrap();
    repos.outbox.retry_later(retried.id, 3, at(T0 + 9_000), "connection refused").await.unwrap();

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
        (OutboxStatus::Dead, 7, Some("550 mailbox unavailable"))
    );
    assert!(!d.mail.text.contains("token="));
    let r = repos.outbox.get(retried.id).await.unwrap().unwrap();
    assert_eq!(
        (r.status, r.attempts, r.next_attempt_at),
        (OutboxStatus::Pending, 3, at(T0 + 9_000))
    );
    assert_eq!(r.last_error.as_deref(), Some("connection refused"));
    assert_eq!(r.mail, retried.mail, "a retried message keeps its body");

    let due = repos.outbox.claim_due(at(T0 + 10_000), at(T0 + 70_000), 10).await.unwrap();
    assert_eq!(
        due.iter().map(|m| m.id).collect::<Vec<_>>(),
        [retried.id],
        "only pending messages are claimed"
    );
}
