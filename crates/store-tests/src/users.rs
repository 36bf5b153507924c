//! Conformance tests of [`UserRepo`](tozalash_domain::UserRepo).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;

use tozalash_domain::{
    Email, Id, PageRequest, PasswordHash, RepoError, Repositories, Role, SearchText, Timestamp,
    User, UserPatch, UserQuery, Username,
};

fn at(millis: i64) -> Timestamp {
    chrono::DateTime::from_timestamp_millis(millis).unwrap()
}

const T0: i64 = 1_764_201_600_123;

pub(crate) fn user(username: &str, email: &str, created: i64) -> User {
    User {
        id: Id::generate(),
        username: Username::parse("username", username).unwrap(),
        email: Email::parse("email", email).unwrap(),
        password_hash: PasswordHash::from_phc(format!(
            "$argon2id$v=19$m=19456,t=2,p=1$salt${username}"
        )),
        role: Role::User,
        is_verified: false,
        created_at: at(created),
        updated_at: at(created),
    }
}

fn query(page: u32, limit: u32) -> UserQuery {
    UserQuery { page: PageRequest::new(Some(page), Some(limit)).unwrap(), ..UserQuery::default() }
}

async fn usernames(repos: &Repositories, q: &UserQuery) -> Vec<String> {
    let page = repos.users.list(q).await.unwrap();
    page.items.iter().map(|u| u.username.as_str().to_owned()).collect()
}

pub async fn insert_then_get_and_find_by_email_return_exactly_what_was_stored(
    repos: &Repositories,
) {
    let mut stored = user("Zarina_K", "zarina@example.uz", T0);
    stored.role = Role::Admin;
    stored.is_verified = true;
    repos.users.insert(&stored).await.unwrap();

    assert_eq!(repos.users.get(stored.id).await.unwrap(), Some(stored.clone()));
    let email = Email::parse("email", "zarina@example.uz").unwrap();
    assert_eq!(repos.users.find_by_email(&email).await.unwrap(), Some(stored));
    let other = Email::parse("email", "nobody@example.uz").unwrap();
    assert_eq!(repos.users.find_by_email(&other).await.unwrap(), None);
    assert_eq!(repos.users.get(Id::generate()).await.unwrap(), None);
}

pub async fn a_taken_email_is_a_duplicate(repos: &Repositories) {
    repos.users.insert(&user("first", "same@example.uz", T0)).await.unwrap();

    let err = repos.users.insert(&user("second", "same@example.uz", T0)).await.unwrap_err();

    assert!(matches!(err, RepoError::Duplicate("email")), "{err:?}");
}

pub async fn a_taken_username_in_any_case_is_a_duplicate(repos: &Repositories) {
    repos.users.insert(&user("Alisher", "a1@example.uz", T0)).await.unwrap();

    let err = repos.users.insert(&user("aLISHER", "a2@example.uz", T0)).await.unwrap_err();

    assert!(matches!(err, RepoError::Duplicate("username")), "{err:?}");
}

pub async fn twenty_concurrent_identical_inserts_store_exactly_one_user(repos: &Repositories) {
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let users = Arc::clone(&repos.users);
            tokio::spawn(async move { users.insert(&user("racer", "racer@example.uz", T0)).await })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => won += 1,
            Err(RepoError::Duplicate("email" | "username")) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(repos.users.list(&query(1, 100)).await.unwrap().total, 1);
}

pub async fn update_changes_only_the_patched_fields_and_advances_updated_at(repos: &Repositories) {
    let original = user("olim", "olim@example.uz", T0);
    repos.users.insert(&original).await.unwrap();
    let patch = UserPatch {
        email: Some(Email::parse("email", "olim.new@example.uz").unwrap()),
        role: Some(Role::Admin),
        is_verified: Some(true),
        ..UserPatch::default()
    };

    let updated = repos.users.update(original.id, &patch, at(T0 + 1_000)).await.unwrap().unwrap();

    assert_eq!(updated.email.as_str(), "olim.new@example.uz");
    assert_eq!((updated.role, updated.is_verified), (Role::Admin, true));
    assert_eq!(updated.username, original.username);
    assert_eq!(updated.password_hash, original.password_hash);
    assert_eq!((updated.created_at, updated.updated_at), (original.created_at, at(T0 + 1_000)));
    assert_eq!(repos.users.get(original.id).await.unwrap(), Some(updated));

    let patch = UserPatch {
        username: Some(Username::parse("username", "Olim2").unwrap()),
        password_hash: Some(PasswordHash::from_phc("$argon2id$new".into())),
        is_verified: Some(false),
        ..UserPatch::default()
    };
    let again = repos.users.update(original.id, &patch, at(T0 + 2_000)).await.unwrap().unwrap();
    assert_eq!(again.username.as_str(), "Olim2");
    assert_eq!(again.password_hash.as_str(), "$argon2id$new");
    assert!(!again.is_verified);
    assert_eq!(again.role, Role::Admin);
}

pub async fn update_to_a_taken_email_or_username_is_a_duplicate_and_changes_nothing(
    repos: &Repositories,
) {
    let a = user("aziz", "aziz@example.uz", T0);
    let b = user("bobur", "bobur@example.uz", T0);
    repos.users.insert(&a).await.unwrap();
    repos.users.insert(&b).await.unwrap();

    let email = UserPatch { email: Some(a.email.clone()), ..UserPatch::default() };
    let err = repos.users.update(b.id, &email, at(T0 + 1)).await.unwrap_err();
    assert!(matches!(err, RepoError::Duplicate("email")), "{err:?}");
    let name =
        UserPatch { username: Some(Username::parse("u", "AZIZ").unwrap()), ..UserPatch::default() };
    let err = repos.users.update(b.id, &name, at(T0 + 1)).await.unwrap_err();
    assert!(matches!(err, RepoError::Duplicate("username")), "{err:?}");

    assert_eq!(repos.users.get(b.id).await.unwrap(), Some(b));
}

pub async fn update_and_delete_of_an_unknown_id_find_nothing(repos: &Repositories) {
    let patch = UserPatch { is_verified: Some(true), ..UserPatch::default() };
    assert_eq!(repos.users.update(Id::generate(), &patch, at(T0)).await.unwrap(), None);
    assert!(!repos.users.delete(Id::generate()).await.unwrap());
}

pub async fn delete_removes_the_user(repos: &Repositories) {
    let gone = user("gone", "gone@example.uz", T0);
    let kept = user("kept", "kept@example.uz", T0);
    repos.users.insert(&gone).await.unwrap();
    repos.users.insert(&kept).await.unwrap();

    assert!(repos.users.delete(gone.id).await.unwrap());

    assert_eq!(repos.users.get(gone.id).await.unwrap(), None);
    assert_eq!(repos.users.find_by_email(&gone.email).await.unwrap(), None);
    assert_eq!(repos.users.get(kept.id).await.unwrap(), Some(kept));
    // The e-mail and username are free again.
    repos.users.insert(&user("gone", "gone@example.uz", T0)).await.unwrap();
}

pub async fn list_is_newest_first_with_totals_and_filters(repos: &Repositories) {
    let mut admin = user("admin1", "admin1@example.uz", T0 + 3);
    admin.role = Role::Admin;
    admin.is_verified = true;
    let mut verified = user("Verified_Vali", "vali@mail.uz", T0 + 2);
    verified.is_verified = true;
    let plain = user("plain", "plain@example.uz", T0 + 1);
    let old = user("oldest", "old@example.uz", T0);
    for u in [&plain, &admin, &old, &verified] {
        repos.users.insert(u).await.unwrap();
    }

    let all = repos.users.list(&query(1, 3)).await.unwrap();
    assert_eq!(all.total, 4);
    assert_eq!(usernames(repos, &query(1, 3)).await, ["admin1", "Verified_Vali", "plain"]);
    assert_eq!(usernames(repos, &query(2, 3)).await, ["oldest"]);

    let admins = UserQuery { role: Some(Role::Admin), ..query(1, 10) };
    assert_eq!(usernames(repos, &admins).await, ["admin1"]);
    let verified_users = UserQuery { role: Some(Role::User), verified: Some(true), ..query(1, 10) };
    assert_eq!(usernames(repos, &verified_users).await, ["Verified_Vali"]);
    let unverified = UserQuery { verified: Some(false), ..query(1, 10) };
    assert_eq!(repos.users.list(&unverified).await.unwrap().total, 2);

    let by_name = UserQuery { search: SearchText::parse("q", "VALI").unwrap(), ..query(1, 10) };
    assert_eq!(usernames(repos, &by_name).await, ["Verified_Vali"]);
    let by_email =
        UserQuery { search: SearchText::parse("q", "@MAIL.uz").unwrap(), ..query(1, 10) };
    assert_eq!(usernames(repos, &by_email).await, ["Verified_Vali"]);
    let literal = UserQuery { search: SearchText::parse("q", "_v").unwrap(), ..query(1, 10) };
    assert_eq!(usernames(repos, &literal).await, ["Verified_Vali"], "'_' is literal");
}
