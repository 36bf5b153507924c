//! Conformance tests of [`OrderRepo`](tozalash_domain::OrderRepo).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;

use tozalash_domain::{
    Address, Id, MailKind, Money, Notes, Order, OrderDetails, OrderQuery, OrderSort, OrderStatus,
    OutboxMessage, PageRequest, PlacementChecks, Reference, RepoError, Repositories, ServiceName,
    ServicePatch, UserPatch, Username, Version,
};

use crate::services::service;

use tozalash_domain::clock::at;

const T0: i64 = 1_764_201_600_123;

pub(crate) fn order(user_id: Id, service_id: Id, created: i64) -> Order {
    Order {
        id: Id::generate(),
        user_id,
        customer_name: None,
        service_id,
        service_name: ServiceName::parse("Deep clean").unwrap(),
        price: Money::parse("price", 450_000).unwrap(),
        status: OrderStatus::Pending,
        scheduled_at: None,
        address: None,
        notes: None,
        created_at: at(created),
        updated_at: at(created),
        version: Version::FIRST,
    }
}

/// A stored customer: orders are stored only for users that exist.
pub(crate) async fn customer(repos: &Repositories) -> Id {
    let tag = &Id::generate().to_hex()[12..];
    let customer = crate::users::user(&format!("c_{tag}"), &format!("c{tag}@example.uz"), T0);
    repos.users.insert(&customer).await.unwrap();
    customer.id
}

fn query(page: u32, limit: u32) -> OrderQuery {
    OrderQuery { page: PageRequest::new(Some(page), Some(limit)).unwrap(), ..OrderQuery::default() }
}

async fn ids(repos: &Repositories, q: &OrderQuery) -> Vec<Id> {
    repos.orders.list(q).await.unwrap().items.iter().map(|o| o.id).collect()
}

pub async fn insert_then_get_returns_exactly_what_was_stored(repos: &Repositories) {
    let mut stored = order(customer(repos).await, Id::generate(), T0);
    stored.customer_name = Some(Username::parse("customerName", "Zarina_01").unwrap());
    stored.scheduled_at = Some(at(T0 + 86_400_000));
    stored.address = Address::parse("Chilonzor 9, kv. 12\nToshkent").unwrap();
    stored.notes = Notes::parse("Ring twice").unwrap();
    repos.orders.insert(&stored).await.unwrap();

    assert_eq!(repos.orders.get(stored.id).await.unwrap(), Some(stored));
    assert_eq!(repos.orders.get(Id::generate()).await.unwrap(), None);
}

pub async fn insert_of_a_taken_id_is_a_duplicate(repos: &Repositories) {
    let first = order(customer(repos).await, Id::generate(), T0);
    repos.orders.insert(&first).await.unwrap();
    let mut second = order(customer(repos).await, Id::generate(), T0 + 1);
    second.id = first.id;

    let err = repos.orders.insert(&second).await.unwrap_err();

    assert!(matches!(err, RepoError::Duplicate(tozalash_domain::UniqueKey::Id)), "{err:?}");
    assert_eq!(repos.orders.get(first.id).await.unwrap(), Some(first));
}

pub async fn a_status_change_is_conditional_on_the_current_status(repos: &Repositories) {
    let o = order(customer(repos).await, Id::generate(), T0);
    repos.orders.insert(&o).await.unwrap();

    let done = repos
        .orders
        .change_status(o.id, OrderStatus::Pending, OrderStatus::Completed, None, at(T0 + 5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (done.status, done.updated_at, done.created_at),
        (OrderStatus::Completed, at(T0 + 5), at(T0))
    );

    // A stale move (the order is no longer PENDING) changes nothing.
    let stale = repos
        .orders
        .change_status(o.id, OrderStatus::Pending, OrderStatus::Cancelled, None, at(T0 + 9))
        .await
        .unwrap();
    assert_eq!(stale, None);
    assert_eq!(repos.orders.get(o.id).await.unwrap(), Some(done));
    let missing = repos
        .orders
        .change_status(Id::generate(), OrderStatus::Pending, OrderStatus::Cancelled, None, at(T0))
        .await
        .unwrap();
    assert_eq!(missing, None);
}

pub async fn racing_status_changes_have_exactly_one_winner(repos: &Repositories) {
    let o = order(customer(repos).await, Id::generate(), T0);
    repos.orders.insert(&o).await.unwrap();

    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let orders = Arc::clone(&repos.orders);
            let to = if i % 2 == 0 { OrderStatus::Completed } else { OrderStatus::Cancelled };
            tokio::spawn(async move {
                orders
                    .change_status(o.id, OrderStatus::Pending, to, None, at(T0 + 1))
                    .await
                    .unwrap()
                    .map(|_| to)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        winners.extend(task.await.unwrap());
    }

    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(repos.orders.get(o.id).await.unwrap().unwrap().status, winners[0]);
}

pub async fn details_change_only_while_pending(repos: &Repositories) {
    let mut o = order(customer(repos).await, Id::generate(), T0);
    o.notes = Notes::parse("old notes").unwrap();
    o.address = Address::parse("old address").unwrap();
    repos.orders.insert(&o).await.unwrap();
    let details = OrderDetails {
        scheduled_at: Some(Some(at(T0 + 3_600_000))),
        address: Some(None),
        notes: None,
    };

    let edited =
        repos.orders.update_details(o.id, &details, None, at(T0 + 7)).await.unwrap().unwrap();

    assert_eq!(edited.scheduled_at, Some(at(T0 + 3_600_000)));
    assert_eq!(edited.address, None, "cleared");
    assert_eq!(edited.notes, o.notes, "left as it was");
    assert_eq!(edited.updated_at, at(T0 + 7));

    repos
        .orders
        .change_status(o.id, OrderStatus::Pending, OrderStatus::Cancelled, None, at(T0 + 8))
        .await
        .unwrap()
        .unwrap();
    let late =
        OrderDetails { notes: Some(Notes::parse("too late").unwrap()), ..OrderDetails::default() };
    assert_eq!(repos.orders.update_details(o.id, &late, None, at(T0 + 9)).await.unwrap(), None);
    assert_eq!(repos.orders.get(o.id).await.unwrap().unwrap().notes, o.notes);
    assert_eq!(
        repos.orders.update_details(Id::generate(), &late, None, at(T0 + 9)).await.unwrap(),
        None
    );
}

pub async fn list_is_newest_first_with_totals_and_the_owner_filter(repos: &Repositories) {
    let (alice, bob, service) = (customer(repos).await, customer(repos).await, Id::generate());
    let mut mine = Vec::new();
    for i in 0..5 {
        let o = order(alice, service, T0 + i);
        repos.orders.insert(&o).await.unwrap();
        mine.push(o.id);
    }
    repos.orders.insert(&order(bob, service, T0 + 10)).await.unwrap();
    mine.reverse();

    let own = OrderQuery { user_id: Some(alice), ..query(1, 3) };
    let page = repos.orders.list(&own).await.unwrap();
    assert_eq!(page.total, 5);
    assert_eq!(ids(repos, &own).await, mine[..3]);
    assert_eq!(ids(repos, &OrderQuery { user_id: Some(alice), ..query(2, 3) }).await, mine[3..]);
    assert_eq!(repos.orders.list(&query(1, 100)).await.unwrap().total, 6);
    let nobody = OrderQuery { user_id: Some(Id::generate()), ..query(1, 10) };
    assert_eq!(repos.orders.list(&nobody).await.unwrap().total, 0);
}

pub async fn list_filters_by_status_service_and_creation_time(repos: &Repositories) {
    let (user, windows, carpets) = (customer(repos).await, Id::generate(), Id::generate());
    let a = order(user, windows, T0);
    let b = order(user, carpets, T0 + 1_000);
    let c = order(user, windows, T0 + 2_000);
    for o in [&a, &b, &c] {
        repos.orders.insert(o).await.unwrap();
    }
    repos
        .orders
        .change_status(b.id, OrderStatus::Pending, OrderStatus::Completed, None, at(T0 + 3_000))
        .await
        .unwrap();

    let completed = OrderQuery { status: Some(OrderStatus::Completed), ..query(1, 10) };
    assert_eq!(ids(repos, &completed).await, [b.id]);
    let pending_windows = OrderQuery {
        status: Some(OrderStatus::Pending),
        service_id: Some(windows),
        ..query(1, 10)
    };
    assert_eq!(ids(repos, &pending_windows).await, [c.id, a.id]);
    let window = OrderQuery {
        created_from: Some(at(T0 + 1_000)),
        created_to: Some(at(T0 + 2_000)),
        ..query(1, 10)
    };
    assert_eq!(ids(repos, &window).await, [b.id], "from is inclusive, to is exclusive");
    let combined = OrderQuery {
        user_id: Some(user),
        service_id: Some(carpets),
        status: Some(OrderStatus::Pending),
        ..query(1, 10)
    };
    assert_eq!(repos.orders.list(&combined).await.unwrap().total, 0);
}

pub async fn snapshots_survive_service_updates_and_deletes(repos: &Repositories) {
    let svc = service("Windows", 100_000, T0);
    repos.services.insert(&svc).await.unwrap();
    let mut o = order(customer(repos).await, svc.id, T0);
    o.service_name = svc.name.clone();
    o.price = svc.price;
    repos.orders.insert(&o).await.unwrap();

    let patch = ServicePatch::parse(Some("Windows v2"), None, Some(999)).unwrap();
    repos.services.update(svc.id, &patch, None, at(T0 + 1)).await.unwrap();
    assert_eq!(repos.orders.get(o.id).await.unwrap(), Some(o.clone()));
    assert!(repos.services.archive(svc.id, at(T0 + 2)).await.unwrap());
    assert_eq!(repos.orders.get(o.id).await.unwrap(), Some(o));
}

pub async fn the_customers_name_stays_after_the_customer_is_deleted(repos: &Repositories) {
    let user = customer(repos).await;
    let mut o = order(user, Id::generate(), T0);
    o.customer_name = Some(Username::parse("customerName", "alisher.k").unwrap());
    repos.orders.insert(&o).await.unwrap();

    assert!(repos.users.delete(user).await.unwrap());
    repos.orders.cancel_pending_of_user(user, at(T0 + 1)).await.unwrap();

    let kept = repos.orders.get(o.id).await.unwrap().unwrap();
    assert_eq!(kept.customer_name, o.customer_name);
    assert_eq!(kept.status, OrderStatus::Cancelled);
}

pub async fn list_filters_and_sorts_by_visit_time(repos: &Repositories) {
    let (user, svc) = (customer(repos).await, Id::generate());
    let visit = |hours: i64| Some(at(T0 + hours * 3_600_000));
    let mut placed = Vec::new();
    // Created in this order; visits at +50 h, none, +20 h, +30 h, +20 h.
    for (i, scheduled_at) in
        [visit(50), None, visit(20), visit(30), visit(20)].into_iter().enumerate()
    {
        let mut o = order(user, svc, T0 + i64::try_from(i).unwrap());
        o.scheduled_at = scheduled_at;
        repos.orders.insert(&o).await.unwrap();
        placed.push(o.id);
    }
    let [d50, none, d20a, d30, d20b] = [0, 1, 2, 3, 4].map(|i| placed[i]);
    // Equal visit times go by id, in the sort's direction.
    let (first20, second20) = if d20a < d20b { (d20a, d20b) } else { (d20b, d20a) };
    let sorted = |sort| OrderQuery { sort, ..query(1, 10) };

    assert_eq!(
        ids(repos, &sorted(OrderSort::ScheduledAt)).await,
        [none, first20, second20, d30, d50],
        "soonest first, no visit time before all"
    );
    assert_eq!(
        ids(repos, &sorted(OrderSort::ScheduledAtDesc)).await,
        [d50, d30, second20, first20, none],
        "latest first, no visit time after all"
    );
    assert_eq!(ids(repos, &sorted(OrderSort::CreatedAt)).await, [d50, none, d20a, d30, d20b]);
    assert_eq!(ids(repos, &sorted(OrderSort::CreatedAtDesc)).await, [d20b, d30, d20a, none, d50]);

    let window = OrderQuery {
        scheduled_from: visit(20),
        scheduled_to: visit(50),
        ..sorted(OrderSort::ScheduledAt)
    };
    assert_eq!(ids(repos, &window).await, [first20, second20, d30], "from inclusive, to exclusive");
    assert_eq!(repos.orders.list(&window).await.unwrap().total, 3);
    let later = OrderQuery { scheduled_from: visit(21), ..query(1, 10) };
    assert_eq!(ids(repos, &later).await, [d30, d50], "no visit time never matches");
    let paged = OrderQuery {
        page: PageRequest::new(Some(2), Some(2)).unwrap(),
        ..sorted(OrderSort::ScheduledAt)
    };
    assert_eq!(ids(repos, &paged).await, [second20, d30]);
}

pub async fn a_completed_order_is_never_deleted(repos: &Repositories) {
    let o = order(customer(repos).await, Id::generate(), T0);
    repos.orders.insert(&o).await.unwrap();
    let done = repos
        .orders
        .change_status(o.id, OrderStatus::Pending, OrderStatus::Completed, None, at(T0 + 1))
        .await
        .unwrap()
        .unwrap();

    assert!(!repos.orders.delete(o.id).await.unwrap());
    assert_eq!(repos.orders.get(o.id).await.unwrap(), Some(done));

    let cancelled = order(customer(repos).await, Id::generate(), T0);
    repos.orders.insert(&cancelled).await.unwrap();
    repos
        .orders
        .change_status(cancelled.id, OrderStatus::Pending, OrderStatus::Cancelled, None, at(T0 + 1))
        .await
        .unwrap();
    assert!(repos.orders.delete(cancelled.id).await.unwrap());
}

pub async fn delete_removes_one_order(repos: &Repositories) {
    let (a, b) = (
        order(customer(repos).await, Id::generate(), T0),
        order(customer(repos).await, Id::generate(), T0),
    );
    repos.orders.insert(&a).await.unwrap();
    repos.orders.insert(&b).await.unwrap();

    assert!(repos.orders.delete(a.id).await.unwrap());
    assert!(!repos.orders.delete(a.id).await.unwrap());

    assert_eq!(repos.orders.get(a.id).await.unwrap(), None);
    assert_eq!(repos.orders.get(b.id).await.unwrap(), Some(b));
}

pub async fn cancel_pending_of_user_leaves_finished_and_others_orders_alone(repos: &Repositories) {
    let (user, other, svc) = (customer(repos).await, customer(repos).await, Id::generate());
    let pending = [order(user, svc, T0), order(user, svc, T0 + 1)];
    let done = order(user, svc, T0 + 2);
    let theirs = order(other, svc, T0 + 3);
    for o in pending.iter().chain([&done, &theirs]) {
        repos.orders.insert(o).await.unwrap();
    }
    repos
        .orders
        .change_status(done.id, OrderStatus::Pending, OrderStatus::Completed, None, at(T0 + 4))
        .await
        .unwrap();

    assert_eq!(repos.orders.cancel_pending_of_user(user, at(T0 + 9)).await.unwrap(), 2);

    for o in &pending {
        let now = repos.orders.get(o.id).await.unwrap().unwrap();
        assert_eq!((now.status, now.updated_at), (OrderStatus::Cancelled, at(T0 + 9)));
    }
    assert_eq!(repos.orders.get(done.id).await.unwrap().unwrap().status, OrderStatus::Completed);
    assert_eq!(repos.orders.get(theirs.id).await.unwrap().unwrap().status, OrderStatus::Pending);
}

pub async fn an_order_for_a_missing_user_is_refused_and_not_stored(repos: &Repositories) {
    let o = order(Id::generate(), Id::generate(), T0);
    let err = repos.orders.insert(&o).await.unwrap_err();
    assert!(matches!(err, RepoError::MissingReference(Reference::User)), "{err:?}");
    assert_eq!(repos.orders.get(o.id).await.unwrap(), None);

    // A user deleted meanwhile is missing too.
    let gone = customer(repos).await;
    assert!(repos.users.delete(gone).await.unwrap());
    let late = order(gone, Id::generate(), T0 + 1);
    let err = repos.orders.insert(&late).await.unwrap_err();
    assert!(matches!(err, RepoError::MissingReference(Reference::User)), "{err:?}");
    assert_eq!(repos.orders.list(&query(1, 10)).await.unwrap().total, 0);
}

pub async fn racing_deletion_and_order_never_leave_a_pending_order_without_its_user(
    repos: &Repositories,
) {
    // What UserService::delete does (the user, then their PENDING orders),
    // racing the placing of an order, which starts a little later each round:
    // afterwards the order is refused, gone or cancelled, never PENDING.
    for round in 0..12 {
        let user = customer(repos).await;
        let o = order(user, Id::generate(), T0 + round);
        let (orders, deleter, users) =
            (Arc::clone(&repos.orders), Arc::clone(&repos.orders), Arc::clone(&repos.users));
        let (placed, ()) = tokio::join!(
            async move {
                for _ in 0..round {
                    tokio::task::yield_now().await;
                }
                orders.insert(&o).await.map(|()| o.id)
            },
            async move {
                assert!(users.delete(user).await.unwrap());
                deleter.cancel_pending_of_user(user, at(T0 + 100)).await.unwrap();
            },
        );
        match placed {
            Ok(id) => {
                let stored = repos.orders.get(id).await.unwrap();
                assert_ne!(stored.map(|o| o.status), Some(OrderStatus::Pending), "round {round}");
            }
            Err(RepoError::MissingReference(Reference::User)) => {}
            Err(other) => panic!("round {round}: {other:?}"),
        }
    }
}

/// A stored service, named uniquely, for orders that check their snapshot.
async fn stored_service(repos: &Repositories) -> tozalash_domain::Service {
    let svc = service(&format!("Deep clean {}", &Id::generate().to_hex()[12..]), 450_000, T0);
    repos.services.insert(&svc).await.unwrap();
    svc
}

/// A live session of `caller` (stored), at `T0 + 1`.
async fn live_session(repos: &Repositories, caller: Id) -> tozalash_domain::Session {
    let session = crate::sessions::session(caller);
    let token = crate::sessions::token(&session, unique_hash(), T0);
    repos.sessions.create(&session, &token).await.unwrap();
    session
}

/// A refresh token hash of its own per session (the hash is a unique key).
fn unique_hash() -> tozalash_domain::TokenHash {
    let mut hash = [0; 32];
    hash[..24].copy_from_slice(Id::generate().to_hex().as_bytes());
    tozalash_domain::TokenHash(hash)
}

/// The checks of an order for `customer` placed by `caller` in a live
/// session, from the customer and `service` as stored now.
async fn checks_of(
    repos: &Repositories,
    caller: Id,
    customer: Id,
    service: &tozalash_domain::Service,
) -> PlacementChecks {
    let session = live_session(repos, caller).await;
    let customer_version =
        repos.users.get(customer).await.unwrap().map_or(Version::FIRST, |u| u.version);
    PlacementChecks {
        session_id: session.id,
        caller,
        now: at(T0 + 1),
        customer_version,
        service_version: service.version,
    }
}

/// Issue 15: an order and its confirmation mail are stored by one write: both,
/// or (for a missing user) neither.
pub async fn an_order_and_its_mail_are_stored_together_or_not_at_all(repos: &Repositories) {
    let svc = stored_service(repos).await;
    let user = customer(repos).await;
    let placed = order(user, svc.id, T0);
    let mail = OutboxMessage { kind: MailKind::OrderPlaced, ..crate::outbox::message(T0) };
    let checks = checks_of(repos, user, user, &svc).await;
    repos.orders.insert_with_mail(&placed, checks, &mail).await.unwrap();
    assert_eq!(repos.orders.get(placed.id).await.unwrap(), Some(placed));

    // An administrator (in a live session) ordering for an account that is gone.
    let orphan = order(Id::generate(), svc.id, T0);
    let lost = crate::outbox::message(T0);
    let refused = repos.orders.insert_with_mail(&orphan, checks, &lost).await;
    assert!(matches!(refused, Err(RepoError::MissingReference(Reference::User))), "{refused:?}");
    assert_eq!(repos.orders.get(orphan.id).await.unwrap(), None);

    let queued = repos.outbox.claim_due(at(T0), at(T0 + 60_000), 10).await.unwrap();
    let queued: Vec<_> = queued.into_iter().map(|c| c.message).collect();
    assert_eq!(queued.len(), 1, "the placed order's mail, and only it");
    assert_eq!((queued[0].id, queued[0].kind), (mail.id, MailKind::OrderPlaced));
    assert_eq!(queued[0].mail, mail.mail, "stored and read back whole");
}

/// An order's name and price are a snapshot of its service at one version
/// (read from a cache that may be a second old): the write stores it only
/// while the service is still at that version and in the catalogue, and
/// otherwise stores nothing and queues no mail.
pub async fn an_order_is_stored_only_while_its_service_snapshot_is_current(repos: &Repositories) {
    let svc = stored_service(repos).await;
    let user = customer(repos).await;
    let checks = checks_of(repos, user, user, &svc).await;
    let patch = ServicePatch::parse(None, None, Some(999_000)).unwrap();
    let raised = repos.services.update(svc.id, &patch, None, at(T0 + 1)).await.unwrap().unwrap();
    assert_ne!(raised.version, svc.version);
    let at_version = |version| PlacementChecks { service_version: version, ..checks };

    let stale = order(user, svc.id, T0 + 2);
    let refused = repos
        .orders
        .insert_with_mail(&stale, at_version(svc.version), &crate::outbox::message(T0))
        .await;
    assert!(matches!(refused, Err(RepoError::MissingReference(Reference::Service))), "{refused:?}");
    assert_eq!(repos.orders.get(stale.id).await.unwrap(), None);

    let current = order(user, svc.id, T0 + 3);
    let mail = crate::outbox::message(T0);
    repos.orders.insert_with_mail(&current, at_version(raised.version), &mail).await.unwrap();
    assert_eq!(repos.orders.get(current.id).await.unwrap(), Some(current));

    assert!(repos.services.archive(svc.id, at(T0 + 4)).await.unwrap());
    let archived = repos.services.get(svc.id).await.unwrap().unwrap();
    let late = order(user, svc.id, T0 + 5);
    let refused = repos
        .orders
        .insert_with_mail(&late, at_version(archived.version), &crate::outbox::message(T0))
        .await;
    assert!(matches!(refused, Err(RepoError::MissingReference(Reference::Service))), "{refused:?}");
    assert_eq!(repos.orders.get(late.id).await.unwrap(), None);

    let nowhere = order(user, Id::generate(), T0 + 6);
    let refused =
        repos.orders.insert_with_mail(&nowhere, checks, &crate::outbox::message(T0)).await;
    assert!(matches!(refused, Err(RepoError::MissingReference(Reference::Service))), "{refused:?}");

    let queued = repos.outbox.claim_due(at(T0), at(T0 + 60_000), 10).await.unwrap();
    let queued: Vec<_> = queued.into_iter().map(|c| c.message.id).collect();
    assert_eq!(queued, vec![mail.id], "only the stored order's mail");
}

/// The write of an order checks the caller's authority itself: it stores the
/// order only in a live session of the caller, and only while the customer is
/// still at the version the order and its mail were made from; otherwise it
/// stores nothing and queues no mail.
pub async fn an_order_is_stored_only_in_a_live_session_from_the_current_account(
    repos: &Repositories,
) {
    let svc = stored_service(repos).await;
    let user = customer(repos).await;
    let checks = checks_of(repos, user, user, &svc).await;
    let refused_as = |checks: PlacementChecks| {
        let placed = order(user, svc.id, T0 + 2);
        async move {
            let answer =
                repos.orders.insert_with_mail(&placed, checks, &crate::outbox::message(T0)).await;
            assert_eq!(repos.orders.get(placed.id).await.unwrap(), None, "nothing stored");
            answer
        }
    };

    // Another user's session, an expired one, and a revoked one.
    let stranger = live_session(repos, customer(repos).await).await;
    let foreign = refused_as(PlacementChecks { session_id: stranger.id, ..checks }).await;
    assert!(matches!(foreign, Err(RepoError::SessionEnded)), "{foreign:?}");
    let unknown = refused_as(PlacementChecks { session_id: Id::generate(), ..checks }).await;
    assert!(matches!(unknown, Err(RepoError::SessionEnded)), "{unknown:?}");
    let session = live_session(repos, user).await;
    let expired = PlacementChecks { session_id: session.id, now: session.expires_at, ..checks };
    let expired = refused_as(expired).await;
    assert!(matches!(expired, Err(RepoError::SessionEnded)), "{expired:?}");
    assert!(repos.sessions.revoke(session.id, at(T0 + 1)).await.unwrap());
    let revoked = refused_as(PlacementChecks { session_id: session.id, ..checks }).await;
    assert!(matches!(revoked, Err(RepoError::SessionEnded)), "{revoked:?}");

    // The account changed (its address, say) since it was read.
    let email = tozalash_domain::Email::parse(
        "email",
        &format!("n{}@example.uz", &Id::generate().to_hex()[12..]),
    )
    .unwrap();
    let patch = UserPatch { email: Some(email), ..UserPatch::default() };
    let changed = repos.users.update(user, &patch, None, at(T0 + 1)).await.unwrap().unwrap();
    let stale = refused_as(checks).await;
    assert!(matches!(stale, Err(RepoError::MissingReference(Reference::User))), "{stale:?}");

    let current = order(user, svc.id, T0 + 3);
    let mail = crate::outbox::message(T0);
    let checks = PlacementChecks { customer_version: changed.version, ..checks };
    repos.orders.insert_with_mail(&current, checks, &mail).await.unwrap();
    assert_eq!(repos.orders.get(current.id).await.unwrap(), Some(current));
    let queued = repos.outbox.claim_due(at(T0), at(T0 + 60_000), 10).await.unwrap();
    let queued: Vec<_> = queued.into_iter().map(|c| c.message.id).collect();
    assert_eq!(queued, vec![mail.id], "only the stored order's mail");
}

/// Issue 15: a status change's mail is queued only when the move matched.
pub async fn a_status_mail_is_queued_only_with_a_move_that_matched(repos: &Repositories) {
    let placed = order(customer(repos).await, Id::generate(), T0);
    repos.orders.insert(&placed).await.unwrap();
    let (pending, cancelled) = (OrderStatus::Pending, OrderStatus::Cancelled);

    let stale = crate::outbox::message(T0);
    let missed = repos
        .orders
        .change_status_with_mail(
            placed.id,
            OrderStatus::Completed,
            cancelled,
            None,
            at(T0 + 1),
            &stale,
        )
        .await
        .unwrap();
    assert_eq!(missed, None, "the order is not COMPLETED");
    let unknown = crate::outbox::message(T0);
    let nothing = repos
        .orders
        .change_status_with_mail(Id::generate(), pending, cancelled, None, at(T0 + 1), &unknown)
        .await
        .unwrap();
    assert_eq!(nothing, None);

    let notice = OutboxMessage { kind: MailKind::OrderCancelled, ..crate::outbox::message(T0) };
    let moved = repos
        .orders
        .change_status_with_mail(placed.id, pending, cancelled, None, at(T0 + 2), &notice)
        .await
        .unwrap()
        .expect("moved");
    assert_eq!(moved.status, cancelled);

    let queued = repos.outbox.claim_due(at(T0), at(T0 + 60_000), 10).await.unwrap();
    let queued: Vec<_> = queued.into_iter().map(|c| c.message).collect();
    assert_eq!(queued.len(), 1, "only the move that happened has its mail");
    assert_eq!(queued[0].kind, MailKind::OrderCancelled);
    assert_eq!(queued[0].id, notice.id);
}
