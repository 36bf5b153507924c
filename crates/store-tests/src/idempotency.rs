//! Conformance tests of [`IdempotencyRepo`](tozalash_domain::IdempotencyRepo).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;

use tozalash_domain::clock::at;
use tozalash_domain::{
    Fingerprint, Id, IdempotencyClaim, IdempotencyKey, IdempotencyState, Repositories,
    StoredResponse,
};

const T0: i64 = 1_764_201_600_123;
const LEASE: i64 = 60_000;
const DAY: i64 = 86_400_000;

fn claim(user: Id, key: &str, body: u8, now: i64) -> IdempotencyClaim {
    IdempotencyClaim {
        user_id: user,
        key: IdempotencyKey::parse(key).unwrap(),
        fingerprint: Fingerprint::from_hex(&format!("{body:02x}").repeat(32)).unwrap(),
        now: at(now),
        locked_until: at(now + LEASE),
        expires_at: at(now + DAY),
    }
}

fn created() -> StoredResponse {
    StoredResponse {
        status: 201,
        content_type: "application/json".into(),
        body: r#"{"id":"665f1c2e9b1d4a0099887766","note":"Ўзбек ✓"}"#.into(),
    }
}

pub async fn a_key_runs_once_then_replays_its_answer(repos: &Repositories) {
    let user = Id::generate();
    let first = claim(user, "order-1", 1, T0);
    assert_eq!(repos.idempotency.begin(&first).await.unwrap(), IdempotencyState::Started);

    let retry = claim(user, "order-1", 1, T0 + 10);
    assert_eq!(repos.idempotency.begin(&retry).await.unwrap(), IdempotencyState::InProgress);
    let other_body = claim(user, "order-1", 2, T0 + 10);
    assert_eq!(repos.idempotency.begin(&other_body).await.unwrap(), IdempotencyState::Mismatch);

    repos.idempotency.complete(&first, &created()).await.unwrap();
    assert_eq!(
        repos.idempotency.begin(&retry).await.unwrap(),
        IdempotencyState::Replay(created()),
        "the answer reads back exactly"
    );
    assert_eq!(repos.idempotency.begin(&other_body).await.unwrap(), IdempotencyState::Mismatch);
    let late = claim(user, "order-1", 1, T0 + LEASE + 1);
    assert_eq!(
        repos.idempotency.begin(&late).await.unwrap(),
        IdempotencyState::Replay(created()),
        "a finished request is replayed after its lease, until it expires"
    );
}

pub async fn keys_belong_to_one_user(repos: &Repositories) {
    let (alice, bob) = (Id::generate(), Id::generate());
    let hers = claim(alice, "same-key", 1, T0);
    assert_eq!(repos.idempotency.begin(&hers).await.unwrap(), IdempotencyState::Started);
    repos.idempotency.complete(&hers, &created()).await.unwrap();

    let his = claim(bob, "same-key", 2, T0 + 1);
    assert_eq!(repos.idempotency.begin(&his).await.unwrap(), IdempotencyState::Started);
}

pub async fn a_released_key_runs_again(repos: &Repositories) {
    let user = Id::generate();
    let first = claim(user, "k", 1, T0);
    assert_eq!(repos.idempotency.begin(&first).await.unwrap(), IdempotencyState::Started);
    repos.idempotency.release(&first).await.unwrap();

    let retry = claim(user, "k", 1, T0 + 5);
    assert_eq!(repos.idempotency.begin(&retry).await.unwrap(), IdempotencyState::Started);
    // The first request's follow-up writes no longer touch the retry's record.
    repos.idempotency.complete(&first, &created()).await.unwrap();
    repos.idempotency.release(&first).await.unwrap();
    assert_eq!(
        repos.idempotency.begin(&claim(user, "k", 1, T0 + 6)).await.unwrap(),
        IdempotencyState::InProgress
    );
}

pub async fn a_crashed_request_is_taken_over_after_its_lease_by_the_same_body_only(
    repos: &Repositories,
) {
    let user = Id::generate();
    let crashed = claim(user, "k", 1, T0);
    assert_eq!(repos.idempotency.begin(&crashed).await.unwrap(), IdempotencyState::Started);

    let before = claim(user, "k", 1, T0 + LEASE - 1);
    assert_eq!(repos.idempotency.begin(&before).await.unwrap(), IdempotencyState::InProgress);
    let another = claim(user, "k", 2, T0 + LEASE);
    assert_eq!(repos.idempotency.begin(&another).await.unwrap(), IdempotencyState::Mismatch);
    let retry = claim(user, "k", 1, T0 + LEASE);
    assert_eq!(repos.idempotency.begin(&retry).await.unwrap(), IdempotencyState::Started);

    // The crashed request, back to life, cannot overwrite the retry's record.
    repos.idempotency.complete(&crashed, &created()).await.unwrap();
    assert_eq!(
        repos.idempotency.begin(&claim(user, "k", 1, T0 + LEASE + 1)).await.unwrap(),
        IdempotencyState::InProgress
    );
}

pub async fn an_expired_key_is_free_and_purged(repos: &Repositories) {
    let user = Id::generate();
    let old = claim(user, "k", 1, T0);
    assert_eq!(repos.idempotency.begin(&old).await.unwrap(), IdempotencyState::Started);
    repos.idempotency.complete(&old, &created()).await.unwrap();
    let kept = claim(user, "kept", 1, T0 + 1);
    assert_eq!(repos.idempotency.begin(&kept).await.unwrap(), IdempotencyState::Started);

    assert_eq!(repos.idempotency.purge_expired(at(T0 + DAY - 1), 100).await.unwrap(), 0);
    let next_day = claim(user, "k", 2, T0 + DAY);
    assert_eq!(
        repos.idempotency.begin(&next_day).await.unwrap(),
        IdempotencyState::Started,
        "an expired record is no longer the key's, whatever the body"
    );
    assert_eq!(repos.idempotency.purge_expired(at(T0 + DAY + 1), 100).await.unwrap(), 1, "`kept`");
    assert_eq!(
        repos.idempotency.begin(&claim(user, "k", 2, T0 + DAY + 2)).await.unwrap(),
        IdempotencyState::InProgress,
        "a live record is not purged"
    );
}

/// A small batch still purges every expired record, over several calls.
pub async fn expired_keys_are_purged_in_batches(repos: &Repositories) {
    let user = Id::generate();
    for key in ["a", "b", "c", "d", "e"] {
        let old = claim(user, key, 1, T0);
        assert_eq!(repos.idempotency.begin(&old).await.unwrap(), IdempotencyState::Started);
        repos.idempotency.complete(&old, &created()).await.unwrap();
    }
    let live = claim(user, "live", 1, T0 + DAY);
    assert_eq!(repos.idempotency.begin(&live).await.unwrap(), IdempotencyState::Started);

    let mut purged = Vec::new();
    for _ in 0..4 {
        purged.push(repos.idempotency.purge_expired(at(T0 + DAY), 2).await.unwrap());
    }

    assert_eq!(purged, [2, 2, 1, 0]);
    assert_eq!(
        repos.idempotency.begin(&claim(user, "live", 1, T0 + DAY + 1)).await.unwrap(),
        IdempotencyState::InProgress,
        "the live record stays"
    );
}

pub async fn concurrent_claims_of_one_key_have_exactly_one_winner(repos: &Repositories) {
    let user = Id::generate();
    let claims: Vec<_> = (0..10)
        .map(|_| {
            let repo = Arc::clone(&repos.idempotency);
            tokio::spawn(async move { repo.begin(&claim(user, "burst", 7, T0)).await })
        })
        .collect();
    let mut started = 0;
    for joined in claims {
        match joined.await.unwrap().unwrap() {
            IdempotencyState::Started => started += 1,
            IdempotencyState::InProgress => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(started, 1);
}
