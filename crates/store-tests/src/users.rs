//! Conformance tests of [`UserRepo`](tozalash_domain::UserRepo).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;

use tozalash_domain::{
    Email, Id, Locale, MailSlot, PageRequest, PasswordHash, RepoError, Repositories, Role,
    SearchText, UniqueKey, User, UserPatch, UserQuery, Username,
};

use tozalash_domain::clock::at;

const T0: i64 = 1_764_201_600_123;

pub(crate) fn user(username: &str, email: &str, created: i64) -> User {
    User {
        id: Id::generate(),
        username: Username::parse("username", username).unwrap(),
        email: Email::parse("email", email).unwrap(),
        pending_email: None,
        password_hash: PasswordHash::from_phc(format!(
            "$argon2id$v=19$m=19456,t=2,p=1$salt${username}"
        )),
        role: Role::User,
        is_verified: false,
        locale: None,
        created_at: at(created),
        updated_at: at(created),
        version: tozalash_domain::Version::FIRST,
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

    assert!(matches!(err, RepoError::Duplicate(UniqueKey::Email)), "{err:?}");
}

pub async fn a_taken_username_in_any_case_is_a_duplicate(repos: &Repositories) {
    repos.users.insert(&user("Alisher", "a1@example.uz", T0)).await.unwrap();

    let err = repos.users.insert(&user("aLISHER", "a2@example.uz", T0)).await.unwrap_err();

    assert!(matches!(err, RepoError::Duplicate(UniqueKey::Username)), "{err:?}");
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
            Err(RepoError::Duplicate(UniqueKey::Email | UniqueKey::Username)) => {}
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

    let updated =
        repos.users.update(original.id, &patch, None, at(T0 + 1_000)).await.unwrap().unwrap();

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
    let again =
        repos.users.update(original.id, &patch, None, at(T0 + 2_000)).await.unwrap().unwrap();
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
    let err = repos.users.update(b.id, &email, None, at(T0 + 1)).await.unwrap_err();
    assert!(matches!(err, RepoError::Duplicate(UniqueKey::Email)), "{err:?}");
    let name =
        UserPatch { username: Some(Username::parse("u", "AZIZ").unwrap()), ..UserPatch::default() };
    let err = repos.users.update(b.id, &name, None, at(T0 + 1)).await.unwrap_err();
    assert!(matches!(err, RepoError::Duplicate(UniqueKey::Username)), "{err:?}");

    assert_eq!(repos.users.get(b.id).await.unwrap(), Some(b));
}

pub async fn update_and_delete_of_an_unknown_id_find_nothing(repos: &Repositories) {
    let patch = UserPatch { is_verified: Some(true), ..UserPatch::default() };
    assert_eq!(repos.users.update(Id::generate(), &patch, None, at(T0)).await.unwrap(), None);
    assert!(!repos.users.delete(Id::generate()).await.unwrap());
    // Not even the last-admin rule finds anything to refuse.
    repos.users.insert(&admin("sole", "sole@example.uz", T0)).await.unwrap();
    for role in [Role::User, Role::Admin] {
        let patch = UserPatch { role: Some(role), ..UserPatch::default() };
        assert_eq!(repos.users.update(Id::generate(), &patch, None, at(T0)).await.unwrap(), None);
    }
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

fn email(address: &str) -> Email {
    Email::parse("email", address).unwrap()
}

fn admin(username: &str, address: &str, created: i64) -> User {
    User { role: Role::Admin, is_verified: true, ..user(username, address, created) }
}

fn demote() -> UserPatch {
    UserPatch { role: Some(Role::User), ..UserPatch::default() }
}

async fn admin_count(repos: &Repositories) -> u64 {
    let admins = UserQuery { role: Some(Role::Admin), ..query(1, 100) };
    repos.users.list(&admins).await.unwrap().total
}

pub async fn the_pending_email_round_trips_and_is_set_left_and_cleared(repos: &Repositories) {
    let mut stored = user("pending", "pending@example.uz", T0);
    stored.pending_email = Some(email("pending.new@example.uz"));
    repos.users.insert(&stored).await.unwrap();
    assert_eq!(repos.users.get(stored.id).await.unwrap(), Some(stored.clone()));
    let pending = email("pending.new@example.uz");
    assert_eq!(
        repos.users.find_by_email(&pending).await.unwrap(),
        None,
        "a pending address is not the account's"
    );

    let set = UserPatch {
        pending_email: Some(Some(email("pending.other@example.uz"))),
        ..UserPatch::default()
    };
    let updated = repos.users.update(stored.id, &set, None, at(T0 + 1)).await.unwrap().unwrap();
    assert_eq!(updated.pending_email, Some(email("pending.other@example.uz")));
    assert_eq!(updated.email, stored.email);

    let other_fields = UserPatch { is_verified: Some(true), ..UserPatch::default() };
    let left =
        repos.users.update(stored.id, &other_fields, None, at(T0 + 2)).await.unwrap().unwrap();
    assert_eq!(left.pending_email, Some(email("pending.other@example.uz")), "None leaves it");

    let clear = UserPatch { pending_email: Some(None), ..UserPatch::default() };
    let cleared = repos.users.update(stored.id, &clear, None, at(T0 + 3)).await.unwrap().unwrap();
    assert_eq!(cleared.pending_email, None);
    assert_eq!(repos.users.get(stored.id).await.unwrap(), Some(cleared));
}

pub async fn the_locale_round_trips_and_is_set_or_left(repos: &Repositories) {
    let mut russian = user("rus_tilida", "rus@example.uz", T0);
    russian.locale = Some(Locale::Ru);
    let unset = user("tanlamagan", "unset@example.uz", T0);
    repos.users.insert(&russian).await.unwrap();
    repos.users.insert(&unset).await.unwrap();
    assert_eq!(repos.users.get(russian.id).await.unwrap(), Some(russian.clone()));
    assert_eq!(repos.users.get(unset.id).await.unwrap().unwrap().locale, None);

    let other_fields = UserPatch { is_verified: Some(true), ..UserPatch::default() };
    let left = repos.users.update(russian.id, &other_fields, None, at(T0 + 1)).await.unwrap();
    assert_eq!(left.unwrap().locale, Some(Locale::Ru), "None leaves it");
    let english = UserPatch { locale: Some(Locale::En), ..UserPatch::default() };
    let set = repos.users.update(unset.id, &english, None, at(T0 + 2)).await.unwrap().unwrap();
    assert_eq!(set.locale, Some(Locale::En));
    assert_eq!(repos.users.get(unset.id).await.unwrap(), Some(set));
}

pub async fn find_by_pending_email_answers_the_newest_account_waiting_for_it(repos: &Repositories) {
    let wanted = email("wanted@example.uz");
    let mut older = user("older", "older@example.uz", T0);
    older.pending_email = Some(wanted.clone());
    let mut newer = user("newer", "newer@example.uz", T0 + 5);
    newer.pending_email = Some(wanted.clone());
    let owner = user("owner", "wanted@example.uz", T0 + 9);
    for u in [&newer, &older, &owner] {
        repos.users.insert(u).await.unwrap();
    }

    assert_eq!(repos.users.find_by_pending_email(&wanted).await.unwrap(), Some(newer.clone()));
    let nobody = email("nobody@example.uz");
    assert_eq!(repos.users.find_by_pending_email(&nobody).await.unwrap(), None);
    assert_eq!(
        repos.users.find_by_pending_email(&older.email).await.unwrap(),
        None,
        "an account's own address is not pending"
    );
    let clear = UserPatch { pending_email: Some(None), ..UserPatch::default() };
    repos.users.update(newer.id, &clear, None, at(T0 + 10)).await.unwrap();
    assert_eq!(
        repos.users.find_by_pending_email(&wanted).await.unwrap().map(|u| u.id),
        Some(older.id)
    );
}

pub async fn confirm_email_moves_the_pending_address_into_place_and_verifies(repos: &Repositories) {
    let mut moving = user("moving", "moving@example.uz", T0);
    moving.pending_email = Some(email("moved@example.uz"));
    repos.users.insert(&moving).await.unwrap();

    let confirmed = repos
        .users
        .confirm_email(moving.id, &email("moved@example.uz"), at(T0 + 1_000))
        .await
        .unwrap();

    let expected = User {
        email: email("moved@example.uz"),
        pending_email: None,
        is_verified: true,
        updated_at: at(T0 + 1_000),
        version: moving.version.next(),
        ..moving.clone()
    };
    assert_eq!(confirmed, Some(expected.clone()));
    assert_eq!(repos.users.get(moving.id).await.unwrap(), Some(expected.clone()));
    assert_eq!(
        repos.users.find_by_email(&email("moved@example.uz")).await.unwrap(),
        Some(expected)
    );
    assert_eq!(repos.users.find_by_email(&email("moving@example.uz")).await.unwrap(), None);
    assert_eq!(repos.users.find_by_pending_email(&email("moved@example.uz")).await.unwrap(), None);
}

pub async fn confirm_email_of_the_accounts_own_address_verifies_it_and_keeps_the_pending_one(
    repos: &Repositories,
) {
    let mut signed_up = user("signed", "signed@example.uz", T0);
    signed_up.pending_email = Some(email("later@example.uz"));
    repos.users.insert(&signed_up).await.unwrap();

    let confirmed =
        repos.users.confirm_email(signed_up.id, &signed_up.email, at(T0 + 1_000)).await.unwrap();

    let expected = User {
        is_verified: true,
        updated_at: at(T0 + 1_000),
        version: signed_up.version.next(),
        ..signed_up.clone()
    };
    assert_eq!(confirmed, Some(expected.clone()));
    assert_eq!(repos.users.get(signed_up.id).await.unwrap(), Some(expected));
}

pub async fn confirm_email_of_a_stale_or_unknown_address_changes_nothing(repos: &Repositories) {
    let mut changing = user("changing", "changing@example.uz", T0);
    changing.pending_email = Some(email("first.try@example.uz"));
    repos.users.insert(&changing).await.unwrap();
    // The owner asked for another address after the first link was sent.
    let again = UserPatch {
        pending_email: Some(Some(email("second.try@example.uz"))),
        ..UserPatch::default()
    };
    let current = repos.users.update(changing.id, &again, None, at(T0 + 1)).await.unwrap().unwrap();

    for stale in ["first.try@example.uz", "third@example.uz"] {
        let answer =
            repos.users.confirm_email(changing.id, &email(stale), at(T0 + 2)).await.unwrap();
        assert_eq!(answer, None, "{stale}");
    }
    let current_address = email("second.try@example.uz");
    let unknown = repos.users.confirm_email(Id::generate(), &current_address, at(T0 + 2));
    assert_eq!(unknown.await.unwrap(), None);
    assert_eq!(repos.users.get(changing.id).await.unwrap(), Some(current));
}

pub async fn confirm_email_of_an_address_another_account_took_is_a_duplicate_and_changes_nothing(
    repos: &Repositories,
) {
    let mut slow = user("slow", "slow@example.uz", T0);
    slow.pending_email = Some(email("contested@example.uz"));
    repos.users.insert(&slow).await.unwrap();
    // Pending addresses are not reserved: another account signs up with it.
    repos.users.insert(&user("quick", "contested@example.uz", T0 + 1)).await.unwrap();

    let err = repos
        .users
        .confirm_email(slow.id, &email("contested@example.uz"), at(T0 + 2))
        .await
        .unwrap_err();

    assert!(matches!(err, RepoError::Duplicate(UniqueKey::Email)), "{err:?}");
    assert_eq!(repos.users.get(slow.id).await.unwrap(), Some(slow));
}

pub async fn the_last_admin_can_be_neither_demoted_nor_deleted(repos: &Repositories) {
    let only = admin("only", "only@example.uz", T0);
    let customer = user("customer", "customer@example.uz", T0 + 1);
    repos.users.insert(&only).await.unwrap();
    repos.users.insert(&customer).await.unwrap();

    let err = repos.users.update(only.id, &demote(), None, at(T0 + 2)).await.unwrap_err();
    assert!(matches!(err, RepoError::LastAdmin), "{err:?}");
    // Refused as a whole: the other fields of the patch are not written either.
    let demote_and_rename = UserPatch {
        username: Some(Username::parse("u", "renamed").unwrap()),
        email: Some(email("renamed@example.uz")),
        ..demote()
    };
    let err = repos.users.update(only.id, &demote_and_rename, None, at(T0 + 2)).await.unwrap_err();
    assert!(matches!(err, RepoError::LastAdmin), "{err:?}");
    let err = repos.users.delete(only.id).await.unwrap_err();
    assert!(matches!(err, RepoError::LastAdmin), "{err:?}");
    assert_eq!(repos.users.get(only.id).await.unwrap(), Some(only.clone()));

    // Customers stay free to change and go while the only ADMIN is kept.
    let still_user = repos.users.update(customer.id, &demote(), None, at(T0 + 3)).await.unwrap();
    assert_eq!(still_user.map(|u| u.role), Some(Role::User));
    assert_eq!(
        repos.users.update(Id::generate(), &demote(), None, at(T0 + 3)).await.unwrap(),
        None
    );
    assert!(!repos.users.delete(Id::generate()).await.unwrap());
    assert!(repos.users.delete(customer.id).await.unwrap());
    assert_eq!(admin_count(repos).await, 1);
}

pub async fn an_admin_can_be_demoted_or_deleted_while_another_remains(repos: &Repositories) {
    let first = admin("first", "first@example.uz", T0);
    let second = admin("second", "second@example.uz", T0 + 1);
    repos.users.insert(&first).await.unwrap();
    repos.users.insert(&second).await.unwrap();

    let demoted = repos.users.update(first.id, &demote(), None, at(T0 + 2)).await.unwrap().unwrap();
    assert_eq!(demoted.role, Role::User);
    let err = repos.users.delete(second.id).await.unwrap_err();
    assert!(matches!(err, RepoError::LastAdmin), "{err:?}");

    // A promotion makes another ADMIN, so the second one may go.
    let promote = UserPatch { role: Some(Role::Admin), ..UserPatch::default() };
    let promoted = repos.users.update(first.id, &promote, None, at(T0 + 3)).await.unwrap().unwrap();
    assert_eq!(promoted.role, Role::Admin);
    // Promoting an ADMIN again adds none.
    repos.users.update(first.id, &promote, None, at(T0 + 4)).await.unwrap().unwrap();
    assert!(repos.users.delete(second.id).await.unwrap());
    assert_eq!(repos.users.get(second.id).await.unwrap(), None);
    let err = repos.users.update(first.id, &demote(), None, at(T0 + 5)).await.unwrap_err();
    assert!(matches!(err, RepoError::LastAdmin), "{err:?}");
    assert_eq!(admin_count(repos).await, 1);
}

/// Rounds of two ADMINs removing each other at once (demotion against
/// demotion, or against deletion): each round must leave exactly one, refusing
/// the other write and leaving its target untouched.
pub async fn two_admins_removing_each_other_at_once_leave_exactly_one(repos: &Repositories) {
    const ROUNDS: i64 = 20;
    let mut survivor = admin("admin0", "admin0@example.uz", T0);
    repos.users.insert(&survivor).await.unwrap();
    for round in 1..=ROUNDS {
        let newcomer =
            admin(&format!("admin{round}"), &format!("admin{round}@example.uz"), T0 + round);
        repos.users.insert(&newcomer).await.unwrap();
        let now = at(T0 + 1_000 + round);

        let (old, new) = (Arc::clone(&repos.users), Arc::clone(&repos.users));
        let (old_id, new_id) = (survivor.id, newcomer.id);
        let (old_gone, new_gone) = tokio::join!(
            async move { old.update(old_id, &demote(), None, now).await.map(|u| u.is_some()) },
            async move {
                if round % 2 == 0 {
                    new.delete(new_id).await
                } else {
                    new.update(new_id, &demote(), None, now).await.map(|u| u.is_some())
                }
            },
        );

        let (winner, loser) = match (old_gone, new_gone) {
            (Ok(true), Err(RepoError::LastAdmin)) => (&survivor, &newcomer),
            (Err(RepoError::LastAdmin), Ok(true)) => (&newcomer, &survivor),
            other => panic!("round {round}: expected one removal and one LastAdmin, got {other:?}"),
        };
        assert_eq!(admin_count(repos).await, 1, "round {round}");
        assert_eq!(repos.users.get(loser.id).await.unwrap().as_ref(), Some(loser), "round {round}");
        assert_ne!(repos.users.get(winner.id).await.unwrap().map(|u| u.role), Some(Role::Admin));
        survivor = loser.clone();
    }
}

pub async fn the_mail_slot_is_taken_once_per_interval(repos: &Repositories) {
    let u = user("pochta", "pochta@example.uz", T0);
    repos.users.insert(&u).await.unwrap();
    let claim = |now: i64, free_since: i64| {
        let users = Arc::clone(&repos.users);
        async move { users.claim_mail_slot(u.id, at(now), at(free_since)).await.unwrap() }
    };

    assert_eq!(claim(T0 + 1_000, T0 - 59_000).await, MailSlot::Claimed, "no mail yet");
    assert_eq!(
        claim(T0 + 2_000, T0 - 58_000).await,
        MailSlot::Taken { last: at(T0 + 1_000) },
        "within the interval"
    );
    assert_eq!(claim(T0 + 61_000, T0 + 1_000).await, MailSlot::Claimed, "exactly one interval on");
    assert_eq!(claim(T0 + 61_500, T0 + 1_500).await, MailSlot::Taken { last: at(T0 + 61_000) });

    let other = user("boshqa", "boshqa@example.uz", T0);
    repos.users.insert(&other).await.unwrap();
    let theirs = repos.users.claim_mail_slot(other.id, at(T0 + 61_500), at(T0 + 1_500));
    assert_eq!(theirs.await.unwrap(), MailSlot::Claimed, "each account has its own slot");
    let nobody = repos.users.claim_mail_slot(Id::generate(), at(T0), at(T0 - 60_000));
    assert_eq!(nobody.await.unwrap(), MailSlot::NoUser);
    let stored = repos.users.get(u.id).await.unwrap().unwrap();
    assert_eq!(stored, u, "the slot changes nothing the account shows");
}

pub async fn a_released_mail_slot_is_free_again_unless_claimed_since(repos: &Repositories) {
    let u = user("qaytar", "qaytar@example.uz", T0);
    repos.users.insert(&u).await.unwrap();
    let claim = |now: i64| {
        let users = Arc::clone(&repos.users);
        async move { users.claim_mail_slot(u.id, at(now), at(now - 60_000)).await.unwrap() }
    };

    assert_eq!(claim(T0 + 1_000).await, MailSlot::Claimed);
    repos.users.release_mail_slot(u.id, at(T0 + 1_000)).await.unwrap();
    assert_eq!(claim(T0 + 2_000).await, MailSlot::Claimed, "given back: free at once");

    // A release for a claim that is no longer the slot's (a stale one, or
    // one from before a later claim) leaves the later claim standing.
    repos.users.release_mail_slot(u.id, at(T0 + 1_000)).await.unwrap();
    assert_eq!(claim(T0 + 3_000).await, MailSlot::Taken { last: at(T0 + 2_000) });

    repos.users.release_mail_slot(Id::generate(), at(T0 + 2_000)).await.unwrap();
    let stored = repos.users.get(u.id).await.unwrap().unwrap();
    assert_eq!(stored, u, "the slot changes nothing the account shows");
}

pub async fn concurrent_claims_of_the_mail_slot_have_exactly_one_winner(repos: &Repositories) {
    let u = user("shoshqin", "shoshqin@example.uz", T0);
    repos.users.insert(&u).await.unwrap();
    let claims: Vec<_> = (0..20)
        .map(|_| {
            let users = Arc::clone(&repos.users);
            tokio::spawn(async move { users.claim_mail_slot(u.id, at(T0), at(T0 - 60_000)).await })
        })
        .collect();
    let mut won = 0;
    for claim in claims {
        if claim.await.unwrap().unwrap() == MailSlot::Claimed {
            won += 1;
        }
    }
    assert_eq!(won, 1);
}
