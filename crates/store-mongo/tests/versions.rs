//! Documents stored before services, users and orders had a `version`: they
//! read as version 1, `ensure_indexes` gives them `version: 1`, and the next
//! write raises it to 2. Needs `TEST_MONGODB_URL` (scripts/test.sh provides one).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use mongodb::bson::{doc, Document};
use tozalash_domain::clock::at;
use tozalash_domain::{
    Email, Id, Money, NewService, Order, OrderDetails, OrderStatus, PasswordHash, Role, Service,
    ServiceName, ServicePatch, User, UserPatch, Username, Version,
};
use tozalash_store_mongo::MongoStore;

const T0: i64 = 1_764_201_600_123;

#[tokio::test]
async fn documents_from_before_versions_start_at_one_and_count_on() {
    let url = std::env::var("TEST_MONGODB_URL")
        .expect("TEST_MONGODB_URL is not set; run scripts/test.sh");
    let name = format!("t_{}", Id::generate());
    let store = MongoStore::open_database(&url, &name).await.unwrap();
    store.ensure_indexes().await.unwrap();
    let repos = store.repositories();

    let service = Service::create(NewService::parse("Windows", None, 100).unwrap(), at(T0));
    let user = User {
        id: Id::generate(),
        username: Username::parse("username", "legacy").unwrap(),
        email: Email::parse("email", "legacy@example.uz").unwrap(),
        pending_email: None,
        password_hash: PasswordHash::from_phc("$argon2id$v=19$x".into()),
        role: Role::User,
        is_verified: false,
        locale: None,
        created_at: at(T0),
        updated_at: at(T0),
        version: Version::FIRST,
    };
    let order = Order {
        id: Id::generate(),
        user_id: user.id,
        customer_name: None,
        service_id: service.id,
        service_name: ServiceName::parse("Windows").unwrap(),
        price: Money::parse("price", 100).unwrap(),
        status: OrderStatus::Pending,
        scheduled_at: None,
        address: None,
        notes: None,
        created_at: at(T0),
        updated_at: at(T0),
        version: Version::FIRST,
    };
    repos.services.insert(&service).await.unwrap();
    repos.users.insert(&user).await.unwrap();
    repos.orders.insert(&order).await.unwrap();
    let db = store.client().database(&name);
    let ids = [("services", service.id), ("users", user.id), ("orders", order.id)];
    // As an older release stored them: without the field.
    for (collection, id) in ids {
        let oid = mongodb::bson::oid::ObjectId::from_bytes(id.bytes());
        db.collection::<Document>(collection)
            .update_one(doc! { "_id": oid }, doc! { "$unset": { "version": "" } })
            .await
            .unwrap();
    }

    assert_eq!(repos.services.get(service.id).await.unwrap().unwrap().version, Version::FIRST);
    assert_eq!(repos.users.get(user.id).await.unwrap().unwrap().version, Version::FIRST);
    assert_eq!(repos.orders.get(order.id).await.unwrap().unwrap().version, Version::FIRST);

    store.ensure_indexes().await.unwrap();
    for (collection, id) in ids {
        let oid = mongodb::bson::oid::ObjectId::from_bytes(id.bytes());
        let stored =
            db.collection::<Document>(collection).find_one(doc! { "_id": oid }).await.unwrap();
        let version = stored.unwrap().get("version").cloned();
        let version = version.and_then(|v| v.as_i64().or_else(|| v.as_i32().map(i64::from)));
        assert_eq!(version, Some(1), "{collection}");
    }

    let two = Some(Version::FIRST.next());
    let price =
        ServicePatch { price: Some(Money::parse("price", 5).unwrap()), ..Default::default() };
    let updated = repos.services.update(service.id, &price, Some(Version::FIRST), at(T0 + 1));
    assert_eq!(updated.await.unwrap().map(|s| s.version), two);
    let verify = UserPatch { is_verified: Some(true), ..UserPatch::default() };
    let updated = repos.users.update(user.id, &verify, Some(Version::FIRST), at(T0 + 1));
    assert_eq!(updated.await.unwrap().map(|u| u.version), two);
    let clear = OrderDetails { notes: Some(None), ..OrderDetails::default() };
    let updated = repos.orders.update_details(order.id, &clear, Some(Version::FIRST), at(T0 + 1));
    assert_eq!(updated.await.unwrap().map(|o| o.version), two);

    store.drop_database().await.unwrap();
}
