//! What the SQL adapter promises about orders beyond the shared conformance
//! suite: a taken id is a duplicate, a row a hand edit broke is a failure (never
//! a panic), and a page past the end still carries the true total.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use sqlx::Connection;
use tozalash_domain::{
    Email, Id, Money, Order, OrderQuery, OrderStatus, PageRequest, PasswordHash, RepoError,
    Repositories, Role, ServiceName, UniqueKey, User, Username, Version,
};
use tozalash_store_sql::SqlStore;

use tozalash_domain::clock::at;

const T0: i64 = 1_764_201_600_123;

/// A stored customer: orders are stored only for users that exist.
async fn customer(repos: &Repositories, name: &str) -> Id {
    let user = User {
        id: Id::generate(),
        username: Username::parse("username", name).unwrap(),
        email: Email::parse("email", &format!("{name}@example.uz")).unwrap(),
        pending_email: None,
        password_hash: PasswordHash::from_phc("$argon2id$v=19$m=19456,t=2,p=1$salt$hash".into()),
        role: Role::User,
        is_verified: true,
        locale: None,
        created_at: at(T0),
        updated_at: at(T0),
        version: Version::FIRST,
    };
    repos.users.insert(&user).await.unwrap();
    user.id
}

async fn sqlite() -> (SqlStore, tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let store = SqlStore::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    (store, dir, url)
}

fn order(user_id: Id, created: i64) -> Order {
    Order {
        id: Id::generate(),
        user_id,
        customer_name: None,
        service_id: Id::generate(),
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

#[tokio::test]
async fn a_taken_id_is_a_duplicate_and_changes_nothing() {
    let (store, _dir, _) = sqlite().await;
    let repos = store.repositories();
    let first = order(customer(&repos, "alice").await, T0);
    repos.orders.insert(&first).await.unwrap();

    let again = order(customer(&repos, "bob").await, T0 + 1);
    let again = Order { id: first.id, ..again };
    let err = repos.orders.insert(&again).await.unwrap_err();

    assert!(matches!(err, RepoError::Duplicate(UniqueKey::Id)), "{err:?}");
    assert_eq!(repos.orders.get(first.id).await.unwrap(), Some(first));
    store.close().await;
}

#[tokio::test]
async fn an_order_row_broken_by_hand_is_a_failure() {
    let (store, _dir, url) = sqlite().await;
    let repos = store.repositories();
    let stored = order(customer(&repos, "alice").await, T0);
    repos.orders.insert(&stored).await.unwrap();

    for edit in [
        "UPDATE orders SET status = 'pending'",
        "UPDATE orders SET price = -1",
        "UPDATE orders SET service_name = ''",
        "UPDATE orders SET user_id = 'not an id'",
        "UPDATE orders SET service_id = 'zzzzzzzzzzzzzzzzzzzzzzzz'",
        // 302 and 1,002 characters: longer than an Address / Notes may be.
        "UPDATE orders SET address = replace(hex(zeroblob(151)), '0', 'a')",
        "UPDATE orders SET notes = replace(hex(zeroblob(501)), '0', 'n')",
        "UPDATE orders SET notes = 'a' || char(0)",
        "UPDATE orders SET scheduled_at = 9223372036854775807",
    ] {
        // Bypass the CHECKs a hand edit could also disable; only the values matter.
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("PRAGMA ignore_check_constraints = ON").execute(&mut conn).await.unwrap();
        sqlx::query(edit).execute(&mut conn).await.unwrap();

        let err = repos.orders.get(stored.id).await.unwrap_err();
        assert!(matches!(err, RepoError::Failed(_)), "{edit}: {err:?}");
        let err = repos.orders.list(&OrderQuery::default()).await.unwrap_err();
        assert!(matches!(err, RepoError::Failed(_)), "{edit}: {err:?}");

        // Put the row back as it was for the next edit.
        sqlx::query("DELETE FROM orders").execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        repos.orders.insert(&stored).await.unwrap();
        assert_eq!(repos.orders.get(stored.id).await.unwrap(), Some(stored.clone()));
    }
    store.close().await;
}

#[tokio::test]
async fn a_page_past_the_end_has_no_orders_but_the_true_total() {
    let (store, _dir, _) = sqlite().await;
    let repos = store.repositories();
    let (alice, bob) = (customer(&repos, "alice").await, customer(&repos, "bob").await);
    for i in 0..3 {
        repos.orders.insert(&order(alice, T0 + i)).await.unwrap();
    }
    repos.orders.insert(&order(bob, T0 + 9)).await.unwrap();

    let query = OrderQuery {
        page: PageRequest::new(Some(5), Some(2)).unwrap(),
        user_id: Some(alice),
        ..OrderQuery::default()
    };
    let page = repos.orders.list(&query).await.unwrap();

    assert!(page.items.is_empty());
    assert_eq!(page.total, 3);
    store.close().await;
}
