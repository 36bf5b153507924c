//! Mail with several instances: three app processes on one database share one
//! slow SMTP server, and 100 signups get exactly 100 mails, one each; an
//! instance stopped (SIGTERM) mid-batch hands back what it claimed, and another
//! instance sends it at once. These run on every backend (`TEST_API_DATABASE_URL`).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::StreamExt;

use serde_json::json;

use crate::helpers::spawn_app_with;
use crate::smtp::{Delivered, SmtpServer};

const PASSWORD: &str = "Gilam-yuvish-2026";

/// Signs up `count` customers named `{prefix}{n}`, spread over the instances
/// at `bases`, and answers their addresses.
async fn sign_up(bases: &[&str], prefix: &str, count: usize) -> HashSet<String> {
    let client = reqwest::Client::new();
    let names: Vec<String> = (0..count).map(|n| format!("{prefix}{n}")).collect();
    let emails: Vec<String> = names.iter().map(|name| format!("{name}@example.uz")).collect();
    let signups = names.iter().zip(&emails).enumerate().map(|(n, (name, email))| {
        let request = client
            .post(format!("{}/api/v1/auth/signup", bases[n % bases.len()]))
            .json(&json!({ "username": name, "email": email, "password": PASSWORD }));
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 201, "signing up {email}");
        }
    });
    // Many at once, not all: each signup hashes a password.
    futures::stream::iter(signups).buffer_unordered(16).collect::<Vec<_>>().await;
    emails.into_iter().collect()
}

/// Waits (up to `within`) until `count` mails arrived, and answers them.
async fn wait_for(smtp: &SmtpServer, count: usize, within: Duration) -> Vec<Delivered> {
    let deadline = Instant::now() + within;
    loop {
        let mails = smtp.delivered();
        if mails.len() >= count {
            return mails;
        }
        assert!(
            Instant::now() < deadline,
            "expected {count} mails within {within:?}, got {}",
            mails.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn recipients(mails: &[Delivered]) -> Vec<String> {
    let mut to: Vec<String> = mails.iter().map(|m| m.to.clone()).collect();
    to.sort();
    to
}

/// Issue 13: three app processes on one database, one SMTP server that takes a
/// while over each message (serving several connections at once), and 100
/// signups spread over the instances: exactly 100 mails, one to each address.
/// A batch of 10 at 250 ms a mail outlasts the 2 s lease, so without a lease
/// renewed per message (bug 1) another instance claimed the end of a batch
/// while it was still being sent, and sent it again. The three are OS
/// processes of the real binary, as a deployment runs them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_processes_on_a_slow_smtp_server_send_a_hundred_mails_exactly_once() {
    let smtp = SmtpServer::start_slow(Duration::from_millis(250));
    let url = smtp.url();
    let first = spawn_app_with(&[
        ("SMTP_URL", url.as_str()),
        ("OUTBOX_LEASE_MS", "2000"),
        ("OUTBOX_BATCH", "10"),
        // Rounds about a batch apart, so that each claims a full batch.
        ("OUTBOX_POLL_MS", "2000"),
    ])
    .await;
    // It made the database; the three processes below do the work.
    first.stop().await;
    let processes = [
        first.another_process().await,
        first.another_process().await,
        first.another_process().await,
    ];
    let bases: Vec<&str> = processes.iter().map(|p| p.base.as_str()).collect();

    let expected = sign_up(&bases, "mijoz", 100).await;
    assert_eq!(expected.len(), 100);

    wait_for(&smtp, expected.len(), Duration::from_secs(60)).await;
    // Longer than a lease and a poll: a mail sent twice would be in by now.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let delivered = recipients(&smtp.delivered());
    let unique: HashSet<String> = delivered.iter().cloned().collect();
    assert_eq!(unique, expected, "every signup got its mail");
    assert_eq!(delivered.len(), expected.len(), "none twice: {delivered:?}");
}

/// Shutdown: an instance stopped in the middle of a batch finishes the mail in
/// hand and hands back the rest, so another instance sends them at once, not
/// after the (30 s) lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_instance_hands_back_the_mail_it_claimed_but_did_not_send() {
    let smtp = SmtpServer::start_slow(Duration::from_secs(1));
    let url = smtp.url();
    let a = spawn_app_with(&[
        ("SMTP_URL", url.as_str()),
        ("OUTBOX_LEASE_MS", "30000"),
        ("OUTBOX_BATCH", "10"),
        ("OUTBOX_POLL_MS", "1500"),
    ])
    .await;
    let expected = sign_up(&[&a.base], "mijoz", 6).await;
    wait_for(&smtp, 1, Duration::from_secs(15)).await;

    a.stop().await;
    let stopped = Instant::now();
    let b = a.another_instance().await;

    let left = expected.len() - smtp.delivered().len();
    assert!(left >= 2, "the test stops A in the middle of its batch ({left} left)");
    // Handed back, the rest goes out at B's next rounds, one second a mail; held
    // to its lease, it would wait 30 s. (Generous: a loaded machine is slow.)
    wait_for(&smtp, expected.len(), Duration::from_secs(25)).await;
    assert!(stopped.elapsed() < Duration::from_secs(28), "before the 30 s lease ended");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let delivered = recipients(&smtp.delivered());
    assert_eq!(delivered.iter().cloned().collect::<HashSet<_>>(), expected);
    assert_eq!(delivered.len(), expected.len(), "none twice: {delivered:?}");
    drop(b);
}
