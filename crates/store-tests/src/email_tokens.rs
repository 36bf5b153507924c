//! Conformance tests of [`EmailTokenRepo`](tozalash_domain::EmailTokenRepo).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;

use tozalash_domain::{Email, EmailToken, Id, Repositories, TokenHash, TokenPurpose};

use tozalash_domain::clock::at;

const T0: i64 = 1_764_201_600_123;
const HOUR: i64 = 3_600_000;

fn token(n: u8, user_id: Id, purpose: TokenPurpose, created: i64) -> EmailToken {
    EmailToken {
        hash: TokenHash([n; 32]),
        user_id,
        purpose,
        email: Email::parse("email", "zarina@example.uz").unwrap(),
        created_at: at(created),
        expires_at: at(created + HOUR),
        used_at: None,
    }
}

pub async fn a_token_is_found_and_consumed_once(repos: &Repositories) {
    let t = token(1, Id::generate(), TokenPurpose::VerifyEmail, T0);
    repos.email_tokens.insert(&t).await.unwrap();

    assert_eq!(
        repos.email_tokens.find(&t.hash, TokenPurpose::VerifyEmail, at(T0 + 1)).await.unwrap(),
        Some(t.clone())
    );
    let used =
        repos.email_tokens.consume(&t.hash, TokenPurpose::VerifyEmail, at(T0 + 2)).await.unwrap();
    assert_eq!(used, Some(t.clone()), "answers the token as it was before use");

    assert_eq!(
        repos.email_tokens.consume(&t.hash, TokenPurpose::VerifyEmail, at(T0 + 3)).await.unwrap(),
        None
    );
    assert_eq!(
        repos.email_tokens.find(&t.hash, TokenPurpose::VerifyEmail, at(T0 + 3)).await.unwrap(),
        None
    );
}

pub async fn a_token_serves_only_its_purpose_and_only_until_it_expires(repos: &Repositories) {
    let t = token(1, Id::generate(), TokenPurpose::ResetPassword, T0);
    repos.email_tokens.insert(&t).await.unwrap();

    assert_eq!(
        repos.email_tokens.consume(&t.hash, TokenPurpose::VerifyEmail, at(T0 + 1)).await.unwrap(),
        None
    );
    assert_eq!(
        repos.email_tokens.find(&t.hash, TokenPurpose::ResetPassword, at(T0 + HOUR)).await.unwrap(),
        None
    );
    assert_eq!(
        repos
            .email_tokens
            .consume(&t.hash, TokenPurpose::ResetPassword, at(T0 + HOUR))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        repos
            .email_tokens
            .consume(&TokenHash([9; 32]), TokenPurpose::ResetPassword, at(T0))
            .await
            .unwrap(),
        None
    );
    assert!(repos
        .email_tokens
        .consume(&t.hash, TokenPurpose::ResetPassword, at(T0 + HOUR - 1))
        .await
        .unwrap()
        .is_some());
}

pub async fn concurrent_uses_of_one_token_have_exactly_one_winner(repos: &Repositories) {
    let t = token(1, Id::generate(), TokenPurpose::ResetPassword, T0);
    repos.email_tokens.insert(&t).await.unwrap();

    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let tokens = Arc::clone(&repos.email_tokens);
            let hash = t.hash;
            tokio::spawn(async move {
                tokens.consume(&hash, TokenPurpose::ResetPassword, at(T0 + 1)).await.unwrap()
            })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        winners += usize::from(task.await.unwrap().is_some());
    }
    assert_eq!(winners, 1);
}

pub async fn invalidate_kills_the_users_unused_tokens_of_one_purpose(repos: &Repositories) {
    let (user, other) = (Id::generate(), Id::generate());
    let old = token(1, user, TokenPurpose::VerifyEmail, T0);
    let older = token(2, user, TokenPurpose::VerifyEmail, T0 - 1);
    let reset = token(3, user, TokenPurpose::ResetPassword, T0);
    let theirs = token(4, other, TokenPurpose::VerifyEmail, T0);
    for t in [&old, &older, &reset, &theirs] {
        repos.email_tokens.insert(t).await.unwrap();
    }

    assert_eq!(
        repos.email_tokens.invalidate(user, TokenPurpose::VerifyEmail, at(T0 + 5)).await.unwrap(),
        2
    );

    let usable = |t: &EmailToken| {
        let tokens = Arc::clone(&repos.email_tokens);
        let (hash, purpose) = (t.hash, t.purpose);
        async move { tokens.find(&hash, purpose, at(T0 + 6)).await.unwrap().is_some() }
    };
    assert!(!usable(&old).await && !usable(&older).await);
    assert!(usable(&reset).await, "another purpose is untouched");
    assert!(usable(&theirs).await, "another user is untouched");
}
