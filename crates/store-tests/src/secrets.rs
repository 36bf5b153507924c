//! Conformance tests of [`SecretStore`](tozalash_domain::SecretStore).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;

use tozalash_domain::Repositories;

pub async fn the_first_value_stored_under_a_name_is_kept(repos: &Repositories) {
    let first = repos.secrets.get_or_insert("jwt_key", "first-value").await.unwrap();
    assert_eq!(first, "first-value");

    let later = repos.secrets.get_or_insert("jwt_key", "second-value").await.unwrap();
    assert_eq!(later, "first-value", "never overwritten");

    let other = repos.secrets.get_or_insert("another", "its-own").await.unwrap();
    assert_eq!(other, "its-own", "names are independent");
}

pub async fn concurrent_first_writers_all_get_the_same_value(repos: &Repositories) {
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let secrets = Arc::clone(&repos.secrets);
            tokio::spawn(async move { secrets.get_or_insert("jwt_key", &format!("key-{i}")).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap().unwrap());
    }
    let winner = answers[0].clone();
    assert!(winner.starts_with("key-"), "{winner}");
    assert!(answers.iter().all(|a| *a == winner), "{answers:?}");
    assert_eq!(repos.secrets.get_or_insert("jwt_key", "late").await.unwrap(), winner);
}
