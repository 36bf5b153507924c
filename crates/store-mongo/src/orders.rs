//! The `orders` collection: booked cleanings as [`OrderRepo`], their document
//! shape and the indexes that keep a customer's list and the admin's filters
//! fast at millions of orders.
//!
//! An order is a snapshot: `serviceName` and `price` are copied at order time,
//! and `userId` / `serviceId` are plain values the database does not enforce
//! (the use case checks them), so catalogue edits and deletes never touch it.
//!
//! Every change is ONE single-document conditional write — the condition
//! (`status: from`, `status: "PENDING"`) is part of the filter of a
//! `findOneAndUpdate` — never a read followed by a write, so of any number of
//! racing requests exactly one can match.

use async_trait::async_trait;
use mongodb::bson::{doc, oid::ObjectId, Bson, DateTime, Document};
use mongodb::options::{IndexOptions, ReturnDocument};
use mongodb::{Collection, IndexModel};
use serde::{Deserialize, Serialize};
use tozalash_domain::{
    Address, Id, Money, Notes, Order, OrderDetails, OrderQuery, OrderRepo, OrderSort, OrderStatus,
    Outbox, OutboxMessage, Page, PlacementChecks, RepoError, ServiceName, Timestamp, Username,
    Version,
};

use crate::error::{translate, MalformedDocument};
use crate::outbox::MongoOutbox;
use crate::pages::{page_of, ReadLimit};
use crate::sessions::live_session;
use crate::values::{bson_date, id_of, object_id, timestamp_of};
use crate::versions;

pub(crate) const COLLECTION: &str = "orders";

/// The stored shape of an order. Optional details are written as explicit
/// `null`s (like `sessions.revokedAt`), so every document has every field.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OrderDoc {
    #[serde(rename = "_id")]
    id: ObjectId,
    user_id: ObjectId,
    /// The customer's username when the order was placed; `null` only for
    /// orders older than the field whose customer was gone when [`backfill`]
    /// ran.
    #[serde(default)]
    customer_name: Option<String>,
    service_id: ObjectId,
    /// The service's name when the order was placed.
    service_name: String,
    /// The service's price when the order was placed, in minor units (Int64).
    price: i64,
    /// `OrderStatus::as_str()`: `"PENDING"`, `"COMPLETED"` or `"CANCELLED"`.
    status: String,
    scheduled_at: Option<DateTime>,
    address: Option<String>,
    notes: Option<String>,
    created_at: DateTime,
    updated_at: DateTime,
    /// Raised by every change (`$inc`); 1 when missing (see `versions.rs`).
    #[serde(default = "versions::first")]
    version: i64,
}

impl From<&Order> for OrderDoc {
    fn from(o: &Order) -> Self {
        Self {
            id: object_id(o.id),
            user_id: object_id(o.user_id),
            customer_name: o.customer_name.as_ref().map(|name| name.as_str().to_owned()),
            service_id: object_id(o.service_id),
            service_name: o.service_name.as_str().to_owned(),
            price: o.price.minor_units(),
            status: o.status.as_str().to_owned(),
            scheduled_at: o.scheduled_at.map(bson_date),
            address: o.address.as_ref().map(|a| a.as_str().to_owned()),
            notes: o.notes.as_ref().map(|n| n.as_str().to_owned()),
            created_at: bson_date(o.created_at),
            updated_at: bson_date(o.updated_at),
            version: o.version.get(),
        }
    }
}

impl TryFrom<OrderDoc> for Order {
    type Error = MalformedDocument;

    /// Re-parses every field through the domain's constructors, so a document
    /// written by anything else that breaks a domain rule is reported, never
    /// trusted.
    fn try_from(d: OrderDoc) -> Result<Self, Self::Error> {
        let malformed = |reason: String| MalformedDocument {
            collection: COLLECTION,
            id: d.id.to_hex(),
            reason,
        };
        let date = |field: &str, value: DateTime| {
            timestamp_of(value).ok_or_else(|| malformed(format!("{field} is out of range")))
        };
        Ok(Order {
            id: id_of(d.id),
            user_id: id_of(d.user_id),
            customer_name: d
                .customer_name
                .as_deref()
                .map(|name| Username::parse("customerName", name))
                .transpose()
                .map_err(|e| malformed(format!("customerName: {}", e.message)))?,
            service_id: id_of(d.service_id),
            service_name: ServiceName::parse(&d.service_name)
                .map_err(|e| malformed(format!("serviceName: {}", e.message)))?,
            price: Money::parse("price", d.price)
                .map_err(|e| malformed(format!("price: {}", e.message)))?,
            status: d
                .status
                .parse::<OrderStatus>()
                .map_err(|_| malformed(format!("status {:?} is unknown", d.status)))?,
            scheduled_at: d.scheduled_at.map(|at| date("scheduledAt", at)).transpose()?,
            address: d
                .address
                .as_deref()
                .map(Address::parse)
                .transpose()
                .map_err(|e| malformed(format!("address: {}", e.message)))?
                .flatten(),
            notes: d
                .notes
                .as_deref()
                .map(Notes::parse)
                .transpose()
                .map_err(|e| malformed(format!("notes: {}", e.message)))?
                .flatten(),
            created_at: date("createdAt", d.created_at)?,
            updated_at: date("updatedAt", d.updated_at)?,
            version: Version::from_stored(d.version)
                .ok_or_else(|| malformed(format!("version {} is not positive", d.version)))?,
        })
    }
}

/// Every index on `orders`, named explicitly (see `services::indexes`). Every
/// list is newest first with `_id` as the tie-breaker, so each index ends in
/// `createdAt: -1, _id: -1`: after its equality prefix the index alone yields
/// the page order (and the `createdAt` range), with no in-memory sort.
pub(crate) fn indexes() -> Vec<IndexModel> {
    let index = |name: &str, keys: Document| {
        IndexModel::builder()
            .keys(keys)
            .options(IndexOptions::builder().name(name.to_owned()).build())
            .build()
    };
    vec![
        // A customer's own orders (`list` with `user_id`, always set for a
        // USER), and `cancel_pending_of_user` (a user's orders, then status).
        index("orders_userId_createdAt_id", doc! { "userId": 1, "createdAt": -1, "_id": -1 }),
        // The admin's status filter (`list` with `status`, e.g. every PENDING order).
        index("orders_status_createdAt_id", doc! { "status": 1, "createdAt": -1, "_id": -1 }),
        // The admin's unfiltered list, and the `createdAt` range filter alone.
        index("orders_createdAt_id", doc! { "createdAt": -1, "_id": -1 }),
        // The admin's filter by service (`list` with `service_id`).
        index("orders_serviceId_createdAt_id", doc! { "serviceId": 1, "createdAt": -1, "_id": -1 }),
        // The dispatcher's view: the visit-time range, in visit order (either
        // direction; `null` sorts first ascending).
        index("orders_scheduledAt_id", doc! { "scheduledAt": 1, "_id": 1 }),
    ]
}

/// The sort of a list (see [`OrderSort`]); MongoDB puts `null` first
/// ascending and last descending, which is the order every backend gives.
fn list_sort(sort: OrderSort) -> Document {
    match sort {
        OrderSort::CreatedAtDesc => doc! { "createdAt": -1, "_id": -1 },
        OrderSort::CreatedAt => doc! { "createdAt": 1, "_id": 1 },
        OrderSort::ScheduledAt => doc! { "scheduledAt": 1, "_id": 1 },
        OrderSort::ScheduledAtDesc => doc! { "scheduledAt": -1, "_id": -1 },
    }
}

/// For orders written before `customerName` existed (what migration
/// `0013_orders_dispatch.sql` does on SQL): each takes its customer's current
/// username, or `null` if the customer is gone; and a blank address or notes
/// becomes `null`. Matches only documents still to fix, so running it again,
/// or from several instances at once, is harmless.
pub(crate) async fn backfill(
    orders: &Collection<Document>,
    users: &Collection<Document>,
) -> Result<(), RepoError> {
    use futures::TryStreamExt;

    let missing = doc! { "customerName": { "$exists": false } };
    let mut customers = std::collections::BTreeSet::new();
    let mut cursor =
        orders.find(missing.clone()).projection(doc! { "userId": 1 }).await.map_err(translate)?;
    while let Some(order) = cursor.try_next().await.map_err(translate)? {
        if let Ok(user_id) = order.get_object_id("userId") {
            customers.insert(user_id);
        }
    }
    for user_id in customers {
        let user = users
            .find_one(doc! { "_id": user_id })
            .projection(doc! { "username": 1 })
            .await
            .map_err(translate)?;
        let name = user
            .and_then(|u| u.get_str("username").ok().map(|n| Bson::String(n.to_owned())))
            .unwrap_or(Bson::Null);
        let mut theirs = missing.clone();
        theirs.insert("userId", user_id);
        orders
            .update_many(theirs, doc! { "$set": { "customerName": name } })
            .await
            .map_err(translate)?;
    }
    for field in ["address", "notes"] {
        orders
            .update_many(doc! { field: "" }, doc! { "$set": { field: Bson::Null } })
            .await
            .map_err(translate)?;
    }
    Ok(())
}

/// The filter of a list query: only the filters that are given, all of which
/// must hold. Each range's start is inclusive, its end exclusive.
fn list_filter(query: &OrderQuery) -> Document {
    let mut filter = Document::new();
    if let Some(user_id) = query.user_id {
        filter.insert("userId", object_id(user_id));
    }
    if let Some(status) = query.status {
        filter.insert("status", status.as_str());
    }
    if let Some(service_id) = query.service_id {
        filter.insert("serviceId", object_id(service_id));
    }
    time_range(&mut filter, "createdAt", query.created_from, query.created_to);
    time_range(&mut filter, "scheduledAt", query.scheduled_from, query.scheduled_to);
    filter
}

/// `field` from `from` (inclusive) to `to` (exclusive), either bound optional;
/// nothing when neither is given.
fn time_range(filter: &mut Document, field: &str, from: Option<Timestamp>, to: Option<Timestamp>) {
    let mut range = Document::new();
    if let Some(from) = from {
        range.insert("$gte", bson_date(from));
    }
    if let Some(to) = to {
        range.insert("$lt", bson_date(to));
    }
    if !range.is_empty() {
        filter.insert(field, range);
    }
}

/// The `$set` of `update_details`: `updatedAt` always, and each given field —
/// a value, or an explicit `null` when the field is cleared (`Some(None)`).
fn details_set(details: &OrderDetails, now: Timestamp) -> Document {
    let mut set = doc! { "updatedAt": bson_date(now) };
    if let Some(scheduled_at) = details.scheduled_at {
        set.insert(
            "scheduledAt",
            scheduled_at.map_or(Bson::Null, |at| Bson::DateTime(bson_date(at))),
        );
    }
    if let Some(address) = &details.address {
        set.insert(
            "address",
            address.as_ref().map_or(Bson::Null, |a| Bson::String(a.as_str().to_owned())),
        );
    }
    if let Some(notes) = &details.notes {
        set.insert(
            "notes",
            notes.as_ref().map_or(Bson::Null, |n| Bson::String(n.as_str().to_owned())),
        );
    }
    set
}

/// Whether `collection` holds a document matching `filter` (reading its id only).
async fn exists(collection: &Collection<Document>, filter: Document) -> Result<bool, RepoError> {
    let found = collection.find_one(filter).projection(doc! { "_id": 1 }).await;
    found.map(|d| d.is_some()).map_err(translate)
}

/// [`OrderRepo`] on the `orders` collection.
#[derive(Debug, Clone)]
pub(crate) struct MongoOrderRepo {
    collection: Collection<OrderDoc>,
    /// The `users` collection, read to check that an order's user exists.
    users: Collection<Document>,
    /// The `services` collection, read to check that an order's service
    /// snapshot is current.
    services: Collection<Document>,
    /// The `sessions` collection, read to check that the session an order is
    /// placed in is live.
    sessions: Collection<Document>,
    /// Where an order's mail is queued, after the order (see `insert_with_mail`).
    outbox: MongoOutbox,
    read_limit: ReadLimit,
}

impl MongoOrderRepo {
    pub(crate) fn new(
        collection: Collection<OrderDoc>,
        users: Collection<Document>,
        services: Collection<Document>,
        sessions: Collection<Document>,
        outbox: MongoOutbox,
        read_limit: ReadLimit,
    ) -> Self {
        Self { collection, users, services, sessions, outbox, read_limit }
    }

    /// Stores `order`, then reads its user and, with `checks`, its service and
    /// the caller's session (all at once), and withdraws the order if the user
    /// is gone or, with `checks`, if any of them fails (see
    /// [`OrderRepo::insert_with_mail`] for what is checked, and the answer).
    ///
    /// No multi-document transaction: the reads come AFTER the insert. A
    /// deletion deletes the user, then cancels their PENDING orders; so either
    /// the read sees the user gone and the order is withdrawn here, or the user
    /// was still there, and the deletion's cancel comes after this insert and
    /// finds the order. A change to the service, the account or the session
    /// that lands after the reads came after the order, as on SQL. A taken
    /// `_id` is refused by the `_id_` unique index (11000 →
    /// `Duplicate(UniqueKey::Id)`); no read-before-write.
    async fn insert_checked(
        &self,
        order: &Order,
        checks: Option<PlacementChecks>,
    ) -> Result<(), RepoError> {
        self.collection.insert_one(OrderDoc::from(order)).await.map_err(translate)?;
        let user = doc! { "_id": object_id(order.user_id) };
        let (user_current, session_live, service_current) = match checks {
            None => (exists(&self.users, user).await?, true, true),
            Some(checks) => {
                let user = versions::expecting(user, Some(checks.customer_version));
                let mut session = live_session(checks.session_id, checks.now);
                session.insert("userId", object_id(checks.caller));
                let service = doc! { "_id": object_id(order.service_id), "archivedAt": null };
                let service = versions::expecting(service, Some(checks.service_version));
                let (user, session, service) = futures::join!(
                    exists(&self.users, user),
                    exists(&self.sessions, session),
                    exists(&self.services, service),
                );
                (user?, session?, service?)
            }
        };
        if session_live && service_current && user_current {
            return Ok(());
        }
        let refused = PlacementChecks::refusal(session_live, service_current);
        let withdrawn =
            doc! { "_id": object_id(order.id), "status": OrderStatus::Pending.as_str() };
        self.collection.delete_one(withdrawn).await.map_err(translate)?;
        Err(refused)
    }

    /// One atomic `findAndModify`: `$set` and one version more on the
    /// document matching `filter` (and `expected`, if given), answering the
    /// document this very write produced. If nothing matched, nothing was
    /// written: `VersionMismatch` if the order is at another version than
    /// `expected`, else `None`.
    async fn update_one_matching(
        &self,
        id: Id,
        filter: Document,
        expected: Option<Version>,
        set: Document,
    ) -> Result<Option<Order>, RepoError> {
        let updated = self
            .collection
            .find_one_and_update(
                versions::expecting(filter, expected),
                doc! { "$set": set, "$inc": versions::bump() },
            )
            .return_document(ReturnDocument::After)
            .await
            .map_err(translate)?;
        match (updated, expected) {
            (None, Some(expected)) => {
                let documents = self.collection.clone_with_type();
                versions::not_found_or_stale(&documents, id, expected).await
            }
            (updated, _) => Ok(updated.map(Order::try_from).transpose()?),
        }
    }
}

#[async_trait]
impl OrderRepo for MongoOrderRepo {
    async fn insert(&self, order: &Order) -> Result<(), RepoError> {
        self.insert_checked(order, None).await
    }

    async fn insert_with_mail(
        &self,
        order: &Order,
        checks: PlacementChecks,
        mail: &OutboxMessage,
    ) -> Result<(), RepoError> {
        // No multi-document transaction (see the crate's README): the mail is
        // queued once the order is stored and re-checked, so a refused order
        // queues nothing; a crash in between loses the mail, never the order.
        self.insert_checked(order, Some(checks)).await?;
        self.outbox.enqueue(mail).await
    }

    async fn get(&self, id: Id) -> Result<Option<Order>, RepoError> {
        let found =
            self.collection.find_one(doc! { "_id": object_id(id) }).await.map_err(translate)?;
        Ok(found.map(Order::try_from).transpose()?)
    }

    async fn list(&self, query: &OrderQuery) -> Result<Page<Order>, RepoError> {
        let filter = list_filter(query);
        page_of(&self.collection, filter, list_sort(query.sort), query.page, self.read_limit).await
    }

    async fn change_status(
        &self,
        id: Id,
        from: OrderStatus,
        to: OrderStatus,
        expected: Option<Version>,
        now: Timestamp,
    ) -> Result<Option<Order>, RepoError> {
        // The stored status is part of the filter: of racing moves from the
        // same status exactly one matches, every other finds nothing and
        // answers `None` — never overwriting the winner. Whether `from → to`
        // is a legal move is the use case's rule (`OrderStatus::transition`).
        self.update_one_matching(
            id,
            doc! { "_id": object_id(id), "status": from.as_str() },
            expected,
            doc! { "status": to.as_str(), "updatedAt": bson_date(now) },
        )
        .await
    }

    async fn change_status_with_mail(
        &self,
        id: Id,
        from: OrderStatus,
        to: OrderStatus,
        expected: Option<Version>,
        now: Timestamp,
        mail: &OutboxMessage,
    ) -> Result<Option<Order>, RepoError> {
        // Queued only after the move matched, as in `insert_with_mail`.
        let changed = self.change_status(id, from, to, expected, now).await?;
        if changed.is_some() {
            self.outbox.enqueue(mail).await?;
        }
        Ok(changed)
    }

    async fn update_details(
        &self,
        id: Id,
        details: &OrderDetails,
        expected: Option<Version>,
        now: Timestamp,
    ) -> Result<Option<Order>, RepoError> {
        // Only while PENDING, decided by the same write that edits.
        self.update_one_matching(
            id,
            doc! { "_id": object_id(id), "status": OrderStatus::Pending.as_str() },
            expected,
            details_set(details, now),
        )
        .await
    }

    async fn delete(&self, id: Id) -> Result<bool, RepoError> {
        // A COMPLETED order is kept, decided by the delete's own filter.
        let unless_completed = doc! {
            "_id": object_id(id),
            "status": { "$ne": OrderStatus::Completed.as_str() },
        };
        let result = self.collection.delete_one(unless_completed).await.map_err(translate)?;
        Ok(result.deleted_count == 1)
    }

    async fn cancel_pending_of_user(&self, user_id: Id, now: Timestamp) -> Result<u64, RepoError> {
        // Each document is moved atomically and only while PENDING, so an order
        // completed concurrently stays COMPLETED and is not counted.
        let result = self
            .collection
            .update_many(
                doc! {
                    "userId": object_id(user_id),
                    "status": OrderStatus::Pending.as_str(),
                },
                doc! {
                    "$set": {
                        "status": OrderStatus::Cancelled.as_str(),
                        "updatedAt": bson_date(now),
                    },
                    "$inc": versions::bump(),
                },
            )
            .await
            .map_err(translate)?;
        Ok(result.modified_count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tozalash_domain::PageRequest;

    use tozalash_domain::clock::at;

    fn order() -> Order {
        Order {
            id: Id::generate(),
            user_id: Id::generate(),
            customer_name: Some(Username::parse("u", "zarina").expect("valid")),
            service_id: Id::generate(),
            service_name: ServiceName::parse("Gilam yuvish").expect("valid"),
            price: Money::parse("price", 450_000).expect("valid"),
            status: OrderStatus::Pending,
            scheduled_at: Some(at(1_764_288_000_000)),
            address: Address::parse("Chilonzor 9\nToshkent").expect("valid"),
            notes: Notes::parse("Ring twice").expect("valid"),
            created_at: at(1_764_201_600_123),
            updated_at: at(1_764_201_700_456),
            version: Version::FIRST.next(),
        }
    }

    #[test]
    fn documents_round_trip_to_the_same_order() {
        let full = order();
        let doc = OrderDoc::from(&full);
        assert_eq!(doc.status, "PENDING");
        assert_eq!(Order::try_from(doc).expect("maps back"), full);

        let bare = Order {
            status: OrderStatus::Cancelled,
            scheduled_at: None,
            address: None,
            notes: None,
            ..order()
        };
        assert_eq!(Order::try_from(OrderDoc::from(&bare)).expect("maps back"), bare);
    }

    #[test]
    fn absent_details_are_stored_as_explicit_nulls() {
        let bare = Order { scheduled_at: None, address: None, notes: None, ..order() };
        let stored = mongodb::bson::to_document(&OrderDoc::from(&bare)).expect("serialises");
        for field in ["scheduledAt", "address", "notes"] {
            assert_eq!(stored.get(field), Some(&Bson::Null), "{field}");
        }
        assert!(matches!(stored.get("price"), Some(Bson::Int64(450_000))));
        assert!(matches!(stored.get("userId"), Some(Bson::ObjectId(_))));
    }

    #[test]
    fn a_document_breaking_a_domain_rule_is_malformed_not_a_panic() {
        let broken: [fn(&mut OrderDoc); 8] = [
            |d| d.customer_name = Some("no spaces allowed".into()),
            |d| d.service_name = String::new(),
            |d| d.price = -1,
            |d| d.status = "pending".into(),
            |d| d.address = Some("a".repeat(301)),
            |d| d.notes = Some("a\u{0}".into()),
            |d| d.created_at = DateTime::MAX,
            |d| d.scheduled_at = Some(DateTime::MIN),
        ];
        for breakage in broken {
            let mut doc = OrderDoc::from(&order());
            breakage(&mut doc);
            assert!(Order::try_from(doc).is_err());
        }
    }

    #[test]
    fn list_filter_holds_only_the_given_filters() {
        assert_eq!(list_filter(&OrderQuery::default()), doc! {});
        let (user, service) = (Id::generate(), Id::generate());
        let query = OrderQuery {
            page: PageRequest::default(),
            user_id: Some(user),
            status: Some(OrderStatus::Completed),
            service_id: Some(service),
            created_from: Some(at(1_000)),
            created_to: Some(at(2_000)),
            scheduled_from: Some(at(3_000)),
            scheduled_to: Some(at(4_000)),
            sort: OrderSort::ScheduledAt,
        };
        assert_eq!(
            list_filter(&query),
            doc! {
                "userId": object_id(user),
                "status": "COMPLETED",
                "serviceId": object_id(service),
                "createdAt": {
                    "$gte": DateTime::from_millis(1_000),
                    "$lt": DateTime::from_millis(2_000),
                },
                "scheduledAt": {
                    "$gte": DateTime::from_millis(3_000),
                    "$lt": DateTime::from_millis(4_000),
                },
            }
        );
        assert_eq!(list_sort(OrderSort::ScheduledAtDesc), doc! { "scheduledAt": -1, "_id": -1 });
        assert_eq!(list_sort(OrderSort::default()), doc! { "createdAt": -1, "_id": -1 });
        let only_to = OrderQuery { created_to: Some(at(2_000)), ..OrderQuery::default() };
        assert_eq!(
            list_filter(&only_to),
            doc! { "createdAt": { "$lt": DateTime::from_millis(2_000) } }
        );
    }

    #[test]
    fn details_set_leaves_clears_or_sets_each_field_and_always_updated_at() {
        let now = at(5_000);
        assert_eq!(
            details_set(&OrderDetails::default(), now),
            doc! { "updatedAt": DateTime::from_millis(5_000) }
        );
        let details = OrderDetails {
            scheduled_at: Some(Some(at(9_000))),
            address: Some(None),
            notes: Some(Notes::parse("hi").expect("valid")),
        };
        assert_eq!(
            details_set(&details, now),
            doc! {
                "updatedAt": DateTime::from_millis(5_000),
                "scheduledAt": DateTime::from_millis(9_000),
                "address": null,
                "notes": "hi",
            }
        );
    }
}
