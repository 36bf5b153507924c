//! Conformance tests of the versions of services, users and orders: every
//! write that changes a record raises its version by one, and a write given
//! an expected version is one conditional write (see the ports' doc comments).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::future::Future;
use std::sync::Arc;

use tozalash_domain::{
    Email, Id, Money, Notes, Order, OrderDetails, OrderStatus, PasswordHash, RepoError,
    Repositories, Role, ServicePatch, User, UserPatch, Username, Version,
};

use tozalash_domain::clock::at;

use crate::services::service;
use crate::users::user;

const T0: i64 = 1_764_201_600_123;

/// How many writers race for one version.
const RACERS: usize = 8;

fn v(n: i64) -> Version {
    Version::from_stored(n).unwrap()
}

fn email(raw: &str) -> Email {
    Email::parse("email", raw).unwrap()
}

fn price(minor: i64) -> ServicePatch {
    ServicePatch { price: Some(Money::parse("price", minor).unwrap()), ..ServicePatch::default() }
}

/// A PENDING order of `user_id` made at `T0`.
fn order(user_id: Id) -> Order {
    crate::orders::order(user_id, Id::generate(), T0)
}

fn notes(text: &str) -> OrderDetails {
    OrderDetails { notes: Some(Notes::parse(text).unwrap()), ..OrderDetails::default() }
}

/// Runs `RACERS` writes at once, each on its own task; answers how many wrote
/// and checks that every other one was refused as stale.
async fn race<F, T>(write: impl Fn(usize) -> F) -> usize
where
    F: Future<Output = Result<Option<T>, RepoError>> + Send + 'static,
    T: Send + 'static,
{
    let tasks: Vec<_> = (0..RACERS).map(|i| tokio::spawn(write(i))).collect();
    let mut winners = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(Some(_)) => winners += 1,
            Err(RepoError::VersionMismatch) => {}
            Ok(None) => panic!("a racer found nothing to write"),
            Err(other) => panic!("a racer failed: {other:?}"),
        }
    }
    winners
}

pub async fn a_service_starts_at_version_one_and_each_update_raises_it(repos: &Repositories) {
    let s = service("Windows", 100, T0);
    assert_eq!(s.version, Version::FIRST);
    repos.services.insert(&s).await.unwrap();
    assert_eq!(repos.services.get(s.id).await.unwrap().unwrap().version, v(1));

    let first = repos.services.update(s.id, &price(200), None, at(T0 + 1)).await.unwrap();
    assert_eq!(first.unwrap().version, v(2));
    let second = repos.services.update(s.id, &price(300), Some(v(2)), at(T0 + 2)).await.unwrap();
    assert_eq!(second.unwrap().version, v(3));
    let listed = repos.services.list(&Default::default()).await.unwrap();
    assert_eq!(listed.items[0].version, v(3));
    assert_eq!(repos.services.get(s.id).await.unwrap().unwrap().version, v(3));
}

pub async fn a_stale_service_version_changes_nothing_and_is_a_mismatch(repos: &Repositories) {
    let s = service("Windows", 100, T0);
    repos.services.insert(&s).await.unwrap();
    let current = repos.services.update(s.id, &price(200), None, at(T0 + 1)).await.unwrap();
    let current = current.unwrap();

    for stale in [v(1), v(3), v(99)] {
        let err = repos.services.update(s.id, &price(999), Some(stale), at(T0 + 2)).await;
        assert!(matches!(err, Err(RepoError::VersionMismatch)), "{stale}: {err:?}");
    }
    assert_eq!(repos.services.get(s.id).await.unwrap(), Some(current));
    let missing = repos.services.update(Id::generate(), &price(1), Some(v(1)), at(T0)).await;
    assert_eq!(missing.unwrap(), None, "a missing service is not found, not stale");
}

pub async fn concurrent_service_updates_expecting_one_version_have_one_winner(
    repos: &Repositories,
) {
    let s = service("Windows", 100, T0);
    repos.services.insert(&s).await.unwrap();

    let winners = race(|i| {
        let services = Arc::clone(&repos.services);
        async move {
            let minor = 1_000 + i64::try_from(i).unwrap();
            services.update(s.id, &price(minor), Some(v(1)), at(T0 + 1)).await
        }
    })
    .await;

    assert_eq!(winners, 1);
    assert_eq!(repos.services.get(s.id).await.unwrap().unwrap().version, v(2));
}

pub async fn a_user_starts_at_version_one_and_each_write_raises_it(repos: &Repositories) {
    let mut u = user("versioned", "versioned@example.uz", T0);
    u.pending_email = Some(email("next@example.uz"));
    assert_eq!(u.version, Version::FIRST);
    repos.users.insert(&u).await.unwrap();
    assert_eq!(repos.users.get(u.id).await.unwrap().unwrap().version, v(1));

    let rename = UserPatch {
        username: Some(Username::parse("username", "renamed").unwrap()),
        ..UserPatch::default()
    };
    let renamed = repos.users.update(u.id, &rename, None, at(T0 + 1)).await.unwrap().unwrap();
    assert_eq!(renamed.version, v(2));
    let password = UserPatch {
        password_hash: Some(PasswordHash::from_phc("$argon2id$v=19$new".into())),
        ..UserPatch::default()
    };
    let changed = repos.users.update(u.id, &password, Some(v(2)), at(T0 + 2)).await.unwrap();
    assert_eq!(changed.unwrap().version, v(3));
    let confirmed = repos.users.confirm_email(u.id, &email("next@example.uz"), at(T0 + 3)).await;
    assert_eq!(confirmed.unwrap().unwrap().version, v(4));
    // A promotion and a demotion take the ADMIN paths of the adapters.
    let keeper = User { role: Role::Admin, ..user("keeper", "keeper@example.uz", T0) };
    repos.users.insert(&keeper).await.unwrap();
    let role = |role| UserPatch { role: Some(role), ..UserPatch::default() };
    let promoted = repos.users.update(u.id, &role(Role::Admin), Some(v(4)), at(T0 + 4)).await;
    assert_eq!(promoted.unwrap().unwrap().version, v(5));
    let demoted = repos.users.update(u.id, &role(Role::User), Some(v(5)), at(T0 + 5)).await;
    assert_eq!(demoted.unwrap().unwrap().version, v(6));

    assert_eq!(repos.users.get(u.id).await.unwrap().unwrap().version, v(6));
    assert_eq!(
        repos.users.find_by_email(&email("next@example.uz")).await.unwrap().unwrap().version,
        v(6)
    );
}

pub async fn a_stale_user_version_changes_nothing_and_is_a_mismatch(repos: &Repositories) {
    let keeper = User { role: Role::Admin, ..user("keeper", "keeper@example.uz", T0) };
    let target = User { role: Role::Admin, ..user("target", "target@example.uz", T0) };
    let customer = user("customer", "customer@example.uz", T0);
    for u in [&keeper, &target, &customer] {
        repos.users.insert(u).await.unwrap();
        let touch = UserPatch { is_verified: Some(true), ..UserPatch::default() };
        repos.users.update(u.id, &touch, None, at(T0 + 1)).await.unwrap().unwrap();
    }
    let rename = UserPatch {
        username: Some(Username::parse("username", "stolen").unwrap()),
        ..UserPatch::default()
    };
    let role = |role| UserPatch { role: Some(role), ..UserPatch::default() };

    // A plain update, a demotion of an ADMIN, a promotion of a customer.
    for (id, patch) in [(target.id, &rename), (target.id, &role(Role::User))] {
        let err = repos.users.update(id, patch, Some(v(1)), at(T0 + 2)).await;
        assert!(matches!(err, Err(RepoError::VersionMismatch)), "{err:?}");
    }
    let err = repos.users.update(customer.id, &role(Role::Admin), Some(v(7)), at(T0 + 2)).await;
    assert!(matches!(err, Err(RepoError::VersionMismatch)), "{err:?}");

    let target_now = repos.users.get(target.id).await.unwrap().unwrap();
    assert_eq!(
        (target_now.role, target_now.username.as_str(), target_now.version),
        (Role::Admin, "target", v(2))
    );
    let customer_now = repos.users.get(customer.id).await.unwrap().unwrap();
    assert_eq!((customer_now.role, customer_now.version), (Role::User, v(2)));
    // The demotion that was refused gave its place in the ADMIN count back:
    // the keeper may still be demoted while the target remains.
    let demote = role(Role::User);
    let keeper_demoted = repos.users.update(keeper.id, &demote, Some(v(2)), at(T0 + 3)).await;
    assert_eq!(keeper_demoted.unwrap().unwrap().version, v(3));
    let missing = repos.users.update(Id::generate(), &rename, Some(v(1)), at(T0)).await;
    assert_eq!(missing.unwrap(), None, "a missing user is not found, not stale");
}

pub async fn concurrent_user_updates_expecting_one_version_have_one_winner(repos: &Repositories) {
    let u = user("contested", "contested@example.uz", T0);
    repos.users.insert(&u).await.unwrap();

    let winners = race(|i| {
        let users = Arc::clone(&repos.users);
        async move {
            let patch = UserPatch {
                username: Some(Username::parse("username", &format!("racer{i}")).unwrap()),
                ..UserPatch::default()
            };
            users.update(u.id, &patch, Some(v(1)), at(T0 + 1)).await
        }
    })
    .await;

    assert_eq!(winners, 1);
    assert_eq!(repos.users.get(u.id).await.unwrap().unwrap().version, v(2));
}

pub async fn an_order_starts_at_version_one_and_each_change_raises_it(repos: &Repositories) {
    let customer = crate::orders::customer(repos).await;
    let o = order(customer);
    repos.orders.insert(&o).await.unwrap();
    assert_eq!(repos.orders.get(o.id).await.unwrap().unwrap().version, v(1));

    let edited = repos.orders.update_details(o.id, &notes("ring"), None, at(T0 + 1)).await;
    assert_eq!(edited.unwrap().unwrap().version, v(2));
    let again = repos.orders.update_details(o.id, &notes("knock"), Some(v(2)), at(T0 + 2)).await;
    assert_eq!(again.unwrap().unwrap().version, v(3));
    let (pending, done) = (OrderStatus::Pending, OrderStatus::Completed);
    let completed = repos.orders.change_status(o.id, pending, done, Some(v(3)), at(T0 + 3)).await;
    assert_eq!(completed.unwrap().unwrap().version, v(4));

    let other = order(customer);
    repos.orders.insert(&other).await.unwrap();
    assert_eq!(repos.orders.cancel_pending_of_user(customer, at(T0 + 4)).await.unwrap(), 1);
    let cancelled = repos.orders.get(other.id).await.unwrap().unwrap();
    assert_eq!((cancelled.status, cancelled.version), (OrderStatus::Cancelled, v(2)));
    assert_eq!(repos.orders.get(o.id).await.unwrap().unwrap().version, v(4), "left alone");
}

pub async fn a_stale_order_version_changes_nothing_and_is_a_mismatch(repos: &Repositories) {
    let o = order(crate::orders::customer(repos).await);
    repos.orders.insert(&o).await.unwrap();
    let current = repos.orders.update_details(o.id, &notes("ring"), None, at(T0 + 1)).await;
    let current = current.unwrap().unwrap();
    let (pending, cancelled) = (OrderStatus::Pending, OrderStatus::Cancelled);

    let err = repos.orders.update_details(o.id, &notes("stale"), Some(v(1)), at(T0 + 2)).await;
    assert!(matches!(err, Err(RepoError::VersionMismatch)), "{err:?}");
    let err = repos.orders.change_status(o.id, pending, cancelled, Some(v(1)), at(T0 + 2)).await;
    assert!(matches!(err, Err(RepoError::VersionMismatch)), "{err:?}");
    assert_eq!(repos.orders.get(o.id).await.unwrap(), Some(current));

    // The right version but a status that moved on is no mismatch: `None`.
    let (from, to) = (OrderStatus::Completed, OrderStatus::Cancelled);
    assert_eq!(
        repos.orders.change_status(o.id, from, to, Some(v(2)), at(T0 + 3)).await.unwrap(),
        None
    );
    let missing =
        repos.orders.update_details(Id::generate(), &notes("x"), Some(v(1)), at(T0)).await;
    assert_eq!(missing.unwrap(), None, "a missing order is not found, not stale");
}

pub async fn concurrent_order_changes_expecting_one_version_have_one_winner(repos: &Repositories) {
    let o = order(crate::orders::customer(repos).await);
    repos.orders.insert(&o).await.unwrap();

    // Half edit the details, half cancel: all hold version 1, one may win.
    let winners = race(|i| {
        let orders = Arc::clone(&repos.orders);
        async move {
            if i % 2 == 0 {
                orders
                    .update_details(o.id, &notes(&format!("racer {i}")), Some(v(1)), at(T0 + 1))
                    .await
            } else {
                let (from, to) = (OrderStatus::Pending, OrderStatus::Cancelled);
                orders.change_status(o.id, from, to, Some(v(1)), at(T0 + 1)).await
            }
        }
    })
    .await;

    assert_eq!(winners, 1);
    assert_eq!(repos.orders.get(o.id).await.unwrap().unwrap().version, v(2));
}
