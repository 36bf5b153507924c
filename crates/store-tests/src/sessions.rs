//! Conformance tests of [`SessionRepo`](tozalash_domain::SessionRepo).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;

use tozalash_domain::{
    Id, RefreshToken, Repositories, Role, Session, Timestamp, TokenHash, UserPatch,
};

use crate::users::user;

use tozalash_domain::clock::at;

const T0: i64 = 1_764_201_600_123;
const DAY: i64 = 86_400_000;

fn hash(n: u8) -> TokenHash {
    TokenHash([n; 32])
}

pub(crate) fn session(user_id: Id) -> Session {
    Session {
        id: Id::generate(),
        user_id,
        created_at: at(T0),
        expires_at: at(T0 + 30 * DAY),
        revoked_at: None,
    }
}

pub(crate) fn token(session: &Session, hash: TokenHash, created: i64) -> RefreshToken {
    RefreshToken { hash, session_id: session.id, created_at: at(created), rotated_at: None }
}

pub async fn a_created_session_is_found_by_its_refresh_token(repos: &Repositories) {
    let s = session(Id::generate());
    let t = token(&s, hash(1), T0);
    repos.sessions.create(&s, &t).await.unwrap();

    let found = repos.sessions.find_refresh_token(&t.hash).await.unwrap();

    assert_eq!(found, Some((t, s)));
    assert_eq!(repos.sessions.find_refresh_token(&hash(2)).await.unwrap(), None);
}

pub async fn rotation_replaces_the_current_token_and_remembers_the_old_one(repos: &Repositories) {
    let s = session(Id::generate());
    let first = token(&s, hash(1), T0);
    repos.sessions.create(&s, &first).await.unwrap();
    let second = token(&s, hash(2), T0 + 1_000);

    assert!(repos.sessions.rotate(&first.hash, &second, at(T0 + 1_000)).await.unwrap());

    let (old, _) = repos.sessions.find_refresh_token(&first.hash).await.unwrap().unwrap();
    assert_eq!(old.rotated_at, Some(at(T0 + 1_000)));
    let found = repos.sessions.find_refresh_token(&second.hash).await.unwrap();
    assert_eq!(found, Some((second, s.clone())));

    // The rotated token cannot be rotated again.
    let third = token(&s, hash(3), T0 + 2_000);
    assert!(!repos.sessions.rotate(&first.hash, &third, at(T0 + 2_000)).await.unwrap());
    assert_eq!(repos.sessions.find_refresh_token(&third.hash).await.unwrap(), None);
}

pub async fn concurrent_rotations_of_one_token_have_exactly_one_winner(repos: &Repositories) {
    let s = session(Id::generate());
    let first = token(&s, hash(1), T0);
    repos.sessions.create(&s, &first).await.unwrap();

    let tasks: Vec<_> = (0..10u8)
        .map(|i| {
            let sessions = Arc::clone(&repos.sessions);
            let next = token(&s, hash(10 + i), T0 + 1_000);
            let old = first.hash;
            tokio::spawn(async move {
                sessions.rotate(&old, &next, at(T0 + 1_000)).await.map(|won| (won, next))
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (won, next) = task.await.unwrap().unwrap();
        let stored = repos.sessions.find_refresh_token(&next.hash).await.unwrap();
        assert_eq!(stored.is_some(), won, "only the winner's token is stored");
        if won {
            winners.push(next);
        }
    }
    assert_eq!(winners.len(), 1);
}

pub async fn rotation_after_a_revocation_fails(repos: &Repositories) {
    let user = Id::generate();
    let (a, b) = (session(user), session(user));
    let (ta, tb) = (token(&a, hash(1), T0), token(&b, hash(2), T0));
    repos.sessions.create(&a, &ta).await.unwrap();
    repos.sessions.create(&b, &tb).await.unwrap();

    // Logout of one session, and a password reset that revokes them all.
    assert!(repos.sessions.revoke(a.id, at(T0 + 1_000)).await.unwrap());
    assert_eq!(repos.sessions.revoke_all_for_user(user, None, at(T0 + 1_000)).await.unwrap(), 1);

    for (s, old, new) in [(&a, &ta, hash(3)), (&b, &tb, hash(4))] {
        let next = token(s, new, T0 + 2_000);
        assert!(
            !repos.sessions.rotate(&old.hash, &next, at(T0 + 2_000)).await.unwrap(),
            "a revoked session never rotates"
        );
        assert_eq!(repos.sessions.find_refresh_token(&next.hash).await.unwrap(), None);
        let (still, _) = repos.sessions.find_refresh_token(&old.hash).await.unwrap().unwrap();
        assert_eq!(still.rotated_at, None, "a refused rotation changes nothing");
    }
}

pub async fn rotation_after_expiry_fails(repos: &Repositories) {
    let s = session(Id::generate());
    let first = token(&s, hash(1), T0);
    repos.sessions.create(&s, &first).await.unwrap();
    let end = T0 + 30 * DAY;

    let late = token(&s, hash(2), end);
    assert!(
        !repos.sessions.rotate(&first.hash, &late, at(end)).await.unwrap(),
        "a session expiring exactly now is over"
    );
    assert_eq!(repos.sessions.find_refresh_token(&late.hash).await.unwrap(), None);

    let in_time = token(&s, hash(3), end - 1);
    assert!(
        repos.sessions.rotate(&first.hash, &in_time, at(end - 1)).await.unwrap(),
        "live until its last millisecond"
    );
    let later = token(&s, hash(4), end + DAY);
    assert!(!repos.sessions.rotate(&in_time.hash, &later, at(end + DAY)).await.unwrap());
}

pub async fn rotations_racing_a_revocation_never_win_after_it(repos: &Repositories) {
    // Ten rounds of ten rotations against one revocation: whatever the order,
    // once `revoke` has answered, no rotation that starts later wins, and a
    // rotation that won did so before the revocation, so its new token belongs
    // to the revoked session.
    for round in 0..10u8 {
        let s = session(Id::generate());
        let first = token(&s, hash(round.wrapping_mul(20)), T0);
        repos.sessions.create(&s, &first).await.unwrap();
        let rotations: Vec<_> = (0..10u8)
            .map(|i| {
                let sessions = Arc::clone(&repos.sessions);
                let next = token(&s, hash(round.wrapping_mul(20) + 1 + i), T0 + 1_000);
                let old = first.hash;
                tokio::spawn(async move {
                    sessions.rotate(&old, &next, at(T0 + 1_000)).await.map(|won| (won, next))
                })
            })
            .collect();
        assert!(repos.sessions.revoke(s.id, at(T0 + 1_000)).await.unwrap());
        let next = token(&s, hash(round.wrapping_mul(20) + 19), T0 + 2_000);
        assert!(
            !repos.sessions.rotate(&first.hash, &next, at(T0 + 2_000)).await.unwrap(),
            "after the revocation answered"
        );
        let mut winners = 0;
        for task in rotations {
            let (won, next) = task.await.unwrap().unwrap();
            if won {
                winners += 1;
                let (_, session) =
                    repos.sessions.find_refresh_token(&next.hash).await.unwrap().unwrap();
                assert_eq!(session.revoked_at, Some(at(T0 + 1_000)));
            }
        }
        assert!(winners <= 1, "never two winners");
    }
}

pub async fn revoke_marks_one_session_revoked(repos: &Repositories) {
    let user = Id::generate();
    let (a, b) = (session(user), session(user));
    let (ta, tb) = (token(&a, hash(1), T0), token(&b, hash(2), T0));
    repos.sessions.create(&a, &ta).await.unwrap();
    repos.sessions.create(&b, &tb).await.unwrap();

    assert!(repos.sessions.revoke(a.id, at(T0 + 5)).await.unwrap());
    assert!(!repos.sessions.revoke(a.id, at(T0 + 6)).await.unwrap(), "already revoked");
    assert!(!repos.sessions.revoke(Id::generate(), at(T0 + 6)).await.unwrap());

    let (_, revoked) = repos.sessions.find_refresh_token(&ta.hash).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(at(T0 + 5)));
    let (_, other) = repos.sessions.find_refresh_token(&tb.hash).await.unwrap().unwrap();
    assert_eq!(other.revoked_at, None);
}

pub async fn revoke_all_for_user_spares_the_kept_session_and_other_users(repos: &Repositories) {
    let (user, stranger) = (Id::generate(), Id::generate());
    let sessions = [session(user), session(user), session(user), session(stranger)];
    let tokens: Vec<RefreshToken> =
        sessions.iter().enumerate().map(|(i, s)| token(s, hash(i as u8 + 1), T0)).collect();
    for (s, t) in sessions.iter().zip(&tokens) {
        repos.sessions.create(s, t).await.unwrap();
    }
    repos.sessions.revoke(sessions[2].id, at(T0 + 1)).await.unwrap();

    let revoked =
        repos.sessions.revoke_all_for_user(user, Some(sessions[1].id), at(T0 + 9)).await.unwrap();

    assert_eq!(revoked, 1, "only the one active, not kept session");
    let state = |i: usize| {
        let sessions = Arc::clone(&repos.sessions);
        let hash = tokens[i].hash;
        async move { sessions.find_refresh_token(&hash).await.unwrap().unwrap().1.revoked_at }
    };
    assert_eq!(state(0).await, Some(at(T0 + 9)));
    assert_eq!(state(1).await, None);
    assert_eq!(state(2).await, Some(at(T0 + 1)), "an earlier revocation keeps its time");
    assert_eq!(state(3).await, None);

    assert_eq!(repos.sessions.revoke_all_for_user(user, None, at(T0 + 10)).await.unwrap(), 1);
    assert_eq!(state(1).await, Some(at(T0 + 10)));
}

pub async fn live_user_answers_the_user_of_a_live_session_only(repos: &Repositories) {
    let owner = user("owner", "owner@example.uz", T0);
    let other = user("other", "other@example.uz", T0);
    repos.users.insert(&owner).await.unwrap();
    repos.users.insert(&other).await.unwrap();
    let mine = session(owner.id);
    let theirs = session(other.id);
    repos.sessions.create(&mine, &token(&mine, hash(1), T0)).await.unwrap();
    repos.sessions.create(&theirs, &token(&theirs, hash(2), T0)).await.unwrap();
    let now = at(T0 + DAY);

    assert_eq!(
        repos.sessions.live_user(mine.id, owner.id, now).await.unwrap(),
        Some(owner.clone())
    );
    assert_eq!(
        repos.sessions.live_user(mine.id, owner.id, at(T0 + 30 * DAY - 1)).await.unwrap(),
        Some(owner.clone()),
        "live until its last millisecond"
    );
    let live = |session: Id, user: Id, at: Timestamp| {
        let sessions = Arc::clone(&repos.sessions);
        async move { sessions.live_user(session, user, at).await.unwrap() }
    };
    assert_eq!(live(mine.id, owner.id, at(T0 + 30 * DAY)).await, None, "expired");
    assert_eq!(live(theirs.id, owner.id, now).await, None, "another user's session");
    assert_eq!(live(mine.id, other.id, now).await, None, "another user's session");
    assert_eq!(live(Id::generate(), owner.id, now).await, None, "no such session");

    // The user as stored now, not as at login.
    let promote = UserPatch { role: Some(Role::Admin), ..UserPatch::default() };
    let promoted = repos.users.update(owner.id, &promote, None, at(T0 + 1)).await.unwrap().unwrap();
    assert_eq!(live(mine.id, owner.id, now).await, Some(promoted));

    repos.sessions.revoke(mine.id, at(T0 + 2)).await.unwrap();
    assert_eq!(live(mine.id, owner.id, now).await, None, "revoked");

    assert_eq!(live(theirs.id, other.id, now).await, Some(other.clone()));
    assert!(repos.users.delete(other.id).await.unwrap());
    assert_eq!(live(theirs.id, other.id, now).await, None, "the user is gone");
}
