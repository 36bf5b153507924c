//! Conformance tests of [`BulkLoad`](tozalash_domain::BulkLoad).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use tozalash_domain::{
    Id, OrderQuery, PageRequest, RepoError, Repositories, ServiceQuery, UniqueKey,
};

use crate::orders::order;
use crate::services::service;
use crate::users::user;

const T0: i64 = 1_764_201_600_123;

/// More than one statement's (or batch's) worth of each, read back through
/// the ports exactly as stored.
pub async fn bulk_loaded_records_read_back_exactly_as_given(repos: &Repositories) {
    let users: Vec<_> = (0..1_205)
        .map(|i| user(&format!("bulk{i:04}"), &format!("b{i}@example.uz"), T0 + i))
        .collect();
    let services: Vec<_> = (0..3).map(|i| service(&format!("Bulk {i}"), 100 + i, T0 + i)).collect();
    let orders: Vec<_> = (0..2_345_i64)
        .map(|i| {
            let owner = &users[usize::try_from(i).unwrap() % 7];
            order(owner.id, services[usize::try_from(i).unwrap() % 3].id, T0 + i)
        })
        .collect();
    repos.bulk.users(&users).await.unwrap();
    repos.bulk.services(&services).await.unwrap();
    repos.bulk.orders(&orders).await.unwrap();

    for stored in [&users[0], &users[1_204]] {
        assert_eq!(repos.users.get(stored.id).await.unwrap().as_ref(), Some(stored));
    }
    for stored in &services {
        assert_eq!(repos.services.get(stored.id).await.unwrap().as_ref(), Some(stored));
    }
    for stored in [&orders[0], &orders[1_500], &orders[2_344]] {
        assert_eq!(repos.orders.get(stored.id).await.unwrap().as_ref(), Some(stored));
    }
    let catalogue = repos.services.list(&ServiceQuery::default()).await.unwrap();
    assert_eq!(catalogue.total, 3);
    let all =
        OrderQuery { page: PageRequest::new(Some(1), Some(100)).unwrap(), ..OrderQuery::default() };
    assert_eq!(repos.orders.list(&all).await.unwrap().total, 2_345);
    let mine = OrderQuery { user_id: Some(users[0].id), ..all };
    // Orders 0, 7, 14, … belong to the first user.
    assert_eq!(repos.orders.list(&mine).await.unwrap().total, 2_345_u64.div_ceil(7));
}

/// The unique indexes hold for bulk loads as for single inserts.
pub async fn a_bulk_load_that_repeats_an_e_mail_is_a_duplicate(repos: &Repositories) {
    let taken = user("taken", "taken@example.uz", T0);
    repos.users.insert(&taken).await.unwrap();
    let again = user("another", "taken@example.uz", T0);
    let err = repos.bulk.users(&[again]).await.unwrap_err();
    assert!(matches!(err, RepoError::Duplicate(UniqueKey::Email)), "{err:?}");
    let copy = tozalash_domain::Order { id: Id::generate(), ..order(taken.id, Id::generate(), T0) };
    repos.bulk.orders(std::slice::from_ref(&copy)).await.unwrap();
    let err = repos.bulk.orders(&[copy]).await.unwrap_err();
    assert!(matches!(err, RepoError::Duplicate(UniqueKey::Id)), "{err:?}");
}
