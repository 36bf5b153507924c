//! Booking cleanings: customers place, read and cancel their own orders;
//! administrators see all, complete or cancel them, and delete them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tozalash_domain::orders::check_range;
use tozalash_domain::{
    Address, Admin, BookingRules, Clock, Id, MailKind, Notes, Order, OrderDetails, OrderFacts,
    OrderQuery, OrderRepo, OrderStatus, OutboxMessage, Page, PlacementChecks, Precondition,
    Principal, Reference, RepoError, Role, ServiceRepo, SessionRepo, Timestamp, UserRepo,
    ValidationErrors, Version,
};

use crate::auth::{live_caller, session_ended};
use crate::catalog::check;
use crate::error::AppError;
use crate::limits::{Limit, RateLimits};
use crate::mail::{Customer, MailFlows};

const ORDER: &str = "order";

/// An account as placing an order uses it, and whether it was read from
/// storage for this order (else it is this instance's last read of it).
struct Snapshot {
    account: Customer,
    fresh: bool,
}

/// The accounts this instance placed orders for lately, as last read from
/// storage: what an order and its mail need of them (never a password hash).
/// An entry is only ever used together with its version, which the order's
/// write checks, so a changed account is read again, never used stale; and
/// the write checks the caller's session itself, so no authority is cached.
/// At most [`Accounts::MAX`] entries: a full map is emptied.
#[derive(Default)]
struct Accounts(Mutex<HashMap<Id, Customer>>);

impl Accounts {
    const MAX: usize = 1024;

    fn lock(&self) -> MutexGuard<'_, HashMap<Id, Customer>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, id: Id) -> Option<Customer> {
        self.lock().get(&id).cloned()
    }

    fn remember(&self, account: &Customer) {
        let mut accounts = self.lock();
        if accounts.len() >= Self::MAX {
            accounts.clear();
        }
        accounts.insert(account.id, account.clone());
    }

    fn forget(&self, id: Id) {
        self.lock().remove(&id);
    }
}

/// What placing an order asks for.
#[derive(Debug, Clone)]
pub struct PlaceOrder {
    pub service_id: Id,
    /// Administrators may order for a customer; customers always order for themselves.
    pub for_user: Option<Id>,
    pub scheduled_at: Option<Timestamp>,
    pub address: Option<Address>,
    pub notes: Option<Notes>,
}

/// One change to an order: its status, or its details.
#[derive(Debug, Clone)]
pub enum OrderChange {
    Status(OrderStatus),
    Details(OrderDetails),
}

#[derive(Clone)]
pub struct OrderService {
    orders: Arc<dyn OrderRepo>,
    /// The catalogue as read for orders: in production the catalogue's cache
    /// (`catalog_cache`), whose entries may be a second old; a snapshot taken
    /// from it is stored only if the service has not changed since.
    catalog: Arc<dyn ServiceRepo>,
    /// The catalogue read straight from storage, when `catalog` was stale.
    services: Arc<dyn ServiceRepo>,
    users: Arc<dyn UserRepo>,
    /// Where the caller's session is checked when their account is read.
    sessions: Arc<dyn SessionRepo>,
    /// The accounts this instance placed orders for lately.
    accounts: Arc<Accounts>,
    clock: Arc<dyn Clock>,
    limits: RateLimits,
    rules: BookingRules,
    mail: MailFlows,
}

impl std::fmt::Debug for OrderService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderService").finish_non_exhaustive()
    }
}

impl OrderService {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        orders: Arc<dyn OrderRepo>,
        catalog: Arc<dyn ServiceRepo>,
        services: Arc<dyn ServiceRepo>,
        users: Arc<dyn UserRepo>,
        sessions: Arc<dyn SessionRepo>,
        clock: Arc<dyn Clock>,
        limits: RateLimits,
        rules: BookingRules,
        mail: MailFlows,
    ) -> Self {
        let accounts = Arc::new(Accounts::default());
        Self { orders, catalog, services, users, sessions, accounts, clock, limits, rules, mail }
    }

    /// Places an order with a snapshot of the service's name and price and of
    /// the customer's username. A visit time must keep the booking rules. A
    /// customer must have verified their e-mail; an administrator may order for
    /// any existing customer (their role is read from storage first).
    ///
    /// `token` is the caller as their access token names them, not yet
    /// checked against storage: the write checks it. It stores the order only
    /// in a live session of the caller, and only while the customer and the
    /// service are still at the versions the order and its mail were made
    /// from (`PlacementChecks`). So the customer's account may come from this
    /// instance's last read of it, and the service from the catalogue's
    /// cache; when the write finds either outdated, it is read again from
    /// storage and the order made again (at most twice), so neither a price
    /// nor an address is ever a stale one, and an ended session places
    /// nothing. `ORDERS_USER` limits how many orders one caller places. The
    /// customer's confirmation mail is queued by the same write as the order.
    pub async fn place(&self, token: &Principal, request: PlaceOrder) -> Result<Order, AppError> {
        self.limits.check(Limit::OrdersUser, &token.user_id.to_string()).await?;
        let now = self.clock.now();
        if let Some(at) = request.scheduled_at {
            self.rules.check_visit(at, now)?;
        }
        let (customer, service) = futures::join!(
            self.customer_of(token, request.for_user, now),
            self.catalog.get(request.service_id)
        );
        let mut customer = customer?;
        // The catalogue's answer may be up to a second old: a service it does
        // not offer (yet) is looked up in storage before the order is refused.
        let mut service = match service? {
            Some(service) if !service.is_archived() => Some(service),
            _ => self.services.get(request.service_id).await?,
        };
        let mut retries = 2;
        loop {
            if request.for_user.is_none() && !customer.account.is_verified {
                if !customer.fresh {
                    customer = self.own_account(token, now).await?;
                    continue;
                }
                return Err(AppError::EmailNotVerified);
            }
            // An archived service is out of the catalogue: it cannot be ordered.
            let current = service
                .clone()
                .filter(|service| !service.is_archived())
                .ok_or(AppError::UnknownReference(Reference::Service))?;
            let account = &customer.account;
            let order = Order {
                id: Id::generate(),
                user_id: account.id,
                customer_name: Some(account.username.clone()),
                service_id: current.id,
                service_name: current.name,
                price: current.price,
                status: OrderStatus::Pending,
                scheduled_at: request.scheduled_at,
                address: request.address.clone(),
                notes: request.notes.clone(),
                created_at: now,
                updated_at: now,
                version: Version::FIRST,
            };
            let facts = OrderFacts::of(&order, self.rules.zone(), account.id != token.user_id);
            let mail = self.mail.order_mail(MailKind::OrderPlaced, account, facts)?;
            let checks = PlacementChecks {
                session_id: token.session_id,
                caller: token.user_id,
                now,
                customer_version: account.version,
                service_version: current.version,
            };
            match self.orders.insert_with_mail(&order, checks, &mail).await {
                Err(RepoError::SessionEnded) => {
                    self.accounts.forget(token.user_id);
                    return Err(session_ended(token));
                }
                Err(RepoError::MissingReference(Reference::Service)) if retries > 0 => {
                    retries -= 1;
                    service = self.services.get(request.service_id).await?;
                }
                Err(RepoError::MissingReference(Reference::User)) if retries > 0 => {
                    retries -= 1;
                    customer = match request.for_user {
                        Some(id) if id != token.user_id => self.account_of(id).await?,
                        _ => self.own_account(token, now).await?,
                    };
                }
                placed => return placed.map(|()| order).map_err(AppError::from),
            }
        }
    }

    /// Whom an order is for: the caller themselves (as this instance last
    /// read their account, else as storage says now), or, for an
    /// administrator as storage says now, the customer `for_user`.
    async fn customer_of(
        &self,
        token: &Principal,
        for_user: Option<Id>,
        now: Timestamp,
    ) -> Result<Snapshot, AppError> {
        let Some(for_user) = for_user else {
            return match self.accounts.get(token.user_id) {
                Some(account) => Ok(Snapshot { account, fresh: false }),
                None => self.own_account(token, now).await,
            };
        };
        let caller = live_caller(&*self.sessions, token, now).await?;
        if caller.principal.role != Role::Admin {
            tracing::warn!(event = "authz_fail", user_id = %token.user_id, "a customer tried to order for someone else");
            return Err(AppError::Forbidden);
        }
        if for_user == caller.user.id {
            Ok(Snapshot { account: Customer::from(&caller.user), fresh: true })
        } else {
            self.account_of(for_user).await
        }
    }

    /// The caller's own account as storage says now, through their session
    /// (an ended one is [`AppError::SessionEnded`]); remembered for their
    /// next order.
    async fn own_account(&self, token: &Principal, now: Timestamp) -> Result<Snapshot, AppError> {
        let caller = live_caller(&*self.sessions, token, now).await?;
        let account = Customer::from(&caller.user);
        self.accounts.remember(&account);
        Ok(Snapshot { account, fresh: true })
    }

    /// Another customer's account as storage says now.
    async fn account_of(&self, id: Id) -> Result<Snapshot, AppError> {
        let user = self.users.get(id).await?.ok_or(AppError::UnknownReference(Reference::User))?;
        Ok(Snapshot { account: Customer::from(&user), fresh: true })
    }

    /// A customer lists only their own orders; an administrator lists all. A
    /// time range whose start lies after its end is refused, naming its start.
    pub async fn list(
        &self,
        caller: &Principal,
        mut query: OrderQuery,
    ) -> Result<Page<Order>, AppError> {
        let mut errors = ValidationErrors::new();
        errors.check(check_range("createdFrom", query.created_from, query.created_to));
        errors.check(check_range("scheduledFrom", query.scheduled_from, query.scheduled_to));
        errors.into_result(|| ())?;
        if caller.role != Role::Admin {
            if query.user_id.is_some_and(|id| id != caller.user_id) {
                tracing::warn!(event = "authz_fail", user_id = %caller.user_id, "a customer tried to list someone else's orders");
                return Err(AppError::Forbidden);
            }
            query.user_id = Some(caller.user_id);
        }
        Ok(self.orders.list(&query).await?)
    }

    /// An order its owner or an administrator may see; to anyone else it does not exist.
    pub async fn get(&self, caller: &Principal, id: Id) -> Result<Order, AppError> {
        match self.orders.get(id).await? {
            Some(order) if caller.role == Role::Admin || order.user_id == caller.user_id => {
                Ok(order)
            }
            _ => Err(AppError::NotFound(ORDER)),
        }
    }

    /// Changes an order's status or details, as one conditional write. The
    /// owner may cancel and edit details while it is PENDING; an administrator
    /// may also complete it. A move the status machine refuses, or one that
    /// lost a race to another, is a conflict. A visit is completed only once
    /// its time has come, and a customer cancels only up to the cut-off
    /// before it; as these rules read the visit time, the status write is
    /// conditional on the version they were checked on, so a reschedule in
    /// between makes it a lost race. A new visit time keeps the booking rules.
    ///
    /// With a `precondition` (HTTP `If-Match`), nothing changes unless the
    /// order is at one of its versions: checked on the order as read, before
    /// any other rule, and again by the conditional write itself.
    pub async fn change(
        &self,
        caller: &Principal,
        id: Id,
        change: OrderChange,
        precondition: Option<Precondition>,
    ) -> Result<Order, AppError> {
        let order = self.get(caller, id).await?;
        check(precondition.as_ref(), order.version)?;
        let expected: Option<Version> = precondition.map(|_| order.version);
        let now = self.clock.now();
        match change {
            OrderChange::Status(to) => {
                if caller.role != Role::Admin && to != OrderStatus::Cancelled {
                    tracing::warn!(event = "authz_fail", user_id = %caller.user_id, order_id = %id, "a customer tried to {to} an order");
                    return Err(AppError::Forbidden);
                }
                order.status.transition(to)?;
                match to {
                    OrderStatus::Completed => self.rules.may_complete(&order, now)?,
                    OrderStatus::Cancelled if caller.role != Role::Admin => {
                        self.rules.customer_may_cancel(&order, now)?;
                    }
                    _ => {}
                }
                let lost = AppError::InvalidTransition(tozalash_domain::InvalidTransition {
                    from: order.status,
                    to,
                });
                let written = match self.status_mail(caller, &order, to).await? {
                    Some(mail) => {
                        self.orders
                            .change_status_with_mail(
                                id,
                                order.status,
                                to,
                                Some(order.version),
                                now,
                                &mail,
                            )
                            .await
                    }
                    None => {
                        self.orders
                            .change_status(id, order.status, to, Some(order.version), now)
                            .await
                    }
                };
                let changed = match written {
                    Ok(changed) => changed.ok_or(lost)?,
                    // Changed since it was read: stale for a client that named
                    // a version, a lost race for one that did not.
                    Err(RepoError::VersionMismatch) if expected.is_none() => return Err(lost),
                    Err(error) => return Err(error.into()),
                };
                tracing::info!(order_id = %id, by = %caller.user_id, status = %to, "order status changed");
                Ok(changed)
            }
            OrderChange::Details(details) => {
                if let Some(Some(at)) = details.scheduled_at {
                    self.rules.check_visit(at, now)?;
                }
                if details.is_empty() {
                    return Ok(order);
                }
                if order.status != OrderStatus::Pending {
                    return Err(AppError::OrderNotPending);
                }
                self.orders
                    .update_details(id, &details, expected, now)
                    .await?
                    .ok_or(AppError::OrderNotPending)
            }
        }
    }

    /// The mail that tells the customer their order moved to `to` (completed,
    /// or cancelled and by whom), in their language; `None` when there is no
    /// one to tell (the account is gone) or nothing worth telling.
    async fn status_mail(
        &self,
        caller: &Principal,
        order: &Order,
        to: OrderStatus,
    ) -> Result<Option<OutboxMessage>, AppError> {
        let kind = match to {
            OrderStatus::Completed => MailKind::OrderCompleted,
            OrderStatus::Cancelled => MailKind::OrderCancelled,
            OrderStatus::Pending => return Ok(None),
        };
        let Some(customer) = self.users.get(order.user_id).await? else {
            return Ok(None);
        };
        let by_admin = caller.user_id != order.user_id;
        let facts = OrderFacts::of(order, self.rules.zone(), by_admin);
        Ok(Some(self.mail.order_mail(kind, &Customer::from(&customer), facts)?))
    }

    /// Deletes an order, unless it is COMPLETED: a record of revenue stays.
    /// Decided by the conditional delete itself; COMPLETED being final, the
    /// read after a refusal tells the reason truly.
    pub async fn delete(&self, by: &Admin, id: Id) -> Result<(), AppError> {
        if !self.orders.delete(id).await? {
            return match self.orders.get(id).await? {
                Some(order) if order.status == OrderStatus::Completed => {
                    Err(AppError::OrderCompleted)
                }
                _ => Err(AppError::NotFound(ORDER)),
            };
        }
        tracing::info!(order_id = %id, admin_id = %by.principal().user_id, "order deleted");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mockall::predicate::eq;
    use tozalash_domain::clock::MockClock;
    use tozalash_domain::mail::MockMailRenderer;
    use tozalash_domain::ports::{
        MockEmailTokenRepo, MockOrderRepo, MockOutbox, MockSecretTokens, MockServiceRepo,
        MockSessionRepo, MockUserRepo,
    };
    use tozalash_domain::RepoError;
    use tozalash_domain::{
        Email, Money, NewService, PasswordHash, RenderedMail, Service, ServiceName, User, Username,
    };

    const T0: i64 = 1_764_201_600_000;

    use tozalash_domain::clock::at;

    fn principal(role: Role) -> Principal {
        Principal { user_id: Id::generate(), role, session_id: Id::generate() }
    }

    fn user(id: Id, verified: bool) -> User {
        User {
            id,
            username: Username::parse("u", "zarina").expect("valid"),
            email: Email::parse("e", "zarina@example.uz").expect("valid"),
            password_hash: PasswordHash::from_phc("x".into()),
            pending_email: None,
            role: Role::User,
            is_verified: verified,
            locale: None,
            created_at: at(T0),
            updated_at: at(T0),
            version: Version::FIRST,
        }
    }

    /// Sessions in which `token`'s is live, its account (verified or not)
    /// read once.
    fn living(token: &Principal, verified: bool) -> MockSessionRepo {
        let account = user(token.user_id, verified);
        let mut sessions = MockSessionRepo::new();
        sessions
            .expect_live_user()
            .with(eq(token.session_id), eq(token.user_id), eq(at(T0)))
            .times(1)
            .returning(move |_, _, _| Ok(Some(account.clone())));
        sessions
    }

    /// Sessions no test here reads.
    fn no_sessions() -> MockSessionRepo {
        let mut sessions = MockSessionRepo::new();
        sessions.expect_live_user().never();
        sessions
    }

    fn order_of(owner: Id, status: OrderStatus) -> Order {
        Order {
            id: Id::generate(),
            user_id: owner,
            customer_name: None,
            service_id: Id::generate(),
            service_name: ServiceName::parse("Windows").expect("valid"),
            price: Money::parse("price", 100).expect("valid"),
            status,
            scheduled_at: None,
            address: None,
            notes: None,
            created_at: at(T0),
            updated_at: at(T0),
            version: Version::FIRST,
        }
    }

    /// The use case with `services` as both the catalogue and storage.
    fn service(
        orders: MockOrderRepo,
        services: MockServiceRepo,
        users: MockUserRepo,
    ) -> OrderService {
        placing(orders, services, users, no_sessions())
    }

    /// [`service`], checking callers in `sessions`.
    fn placing(
        orders: MockOrderRepo,
        services: MockServiceRepo,
        users: MockUserRepo,
        sessions: MockSessionRepo,
    ) -> OrderService {
        let services: Arc<dyn ServiceRepo> = Arc::new(services);
        service_reading(orders, services.clone(), services, users, sessions)
    }

    /// The use case reading the catalogue from `catalog` and, past it, `services`.
    fn service_reading(
        orders: MockOrderRepo,
        catalog: Arc<dyn ServiceRepo>,
        services: Arc<dyn ServiceRepo>,
        users: MockUserRepo,
        sessions: MockSessionRepo,
    ) -> OrderService {
        let mut clock = MockClock::new();
        clock.expect_now().returning(|| at(T0));
        let clock = Arc::new(clock);
        // Renders the facts a mail got into its subject, for the tests to read.
        let mut renderer = MockMailRenderer::new();
        renderer.expect_render().returning(|r| {
            let facts = r.order.as_ref().expect("an order mail");
            Ok(RenderedMail {
                to: r.to.clone(),
                subject: format!("{:?} {} by_admin={}", r.kind, facts.service, facts.by_admin),
                text: String::new(),
                html: String::new(),
            })
        });
        let mail = MailFlows::new(
            Arc::new(MockUserRepo::new()),
            Arc::new(MockEmailTokenRepo::new()),
            Arc::new(MockOutbox::new()),
            Arc::new(renderer),
            Arc::new(MockSecretTokens::new()),
            clock.clone(),
            "https://tozalash.uz",
            crate::mail::LinkPolicy::default(),
        );
        OrderService::new(
            Arc::new(orders),
            catalog,
            services,
            Arc::new(users),
            Arc::new(sessions),
            clock,
            RateLimits::off(),
            BookingRules::default(),
            mail,
        )
    }

    /// Users whose accounts are gone: a status change then tells no one.
    fn no_customers() -> MockUserRepo {
        let mut users = MockUserRepo::new();
        users.expect_get().returning(|_| Ok(None));
        users
    }

    #[tokio::test]
    async fn a_status_change_queues_the_customers_notice_with_the_write() {
        let admin = principal(Role::Admin);
        let customer = user(Id::generate(), true);
        let pending = order_of(customer.id, OrderStatus::Pending);
        let id = pending.id;
        let cancelled = Order { status: OrderStatus::Cancelled, ..pending.clone() };
        let mut users = MockUserRepo::new();
        users.expect_get().with(eq(customer.id)).returning(move |_| Ok(Some(customer.clone())));
        let mut orders = MockOrderRepo::new();
        orders.expect_get().returning(move |_| Ok(Some(pending.clone())));
        orders.expect_change_status().never();
        orders
            .expect_change_status_with_mail()
            .withf(move |i, from, to, _, _, mail| {
                *i == id
                    && *from == OrderStatus::Pending
                    && *to == OrderStatus::Cancelled
                    && mail.kind == MailKind::OrderCancelled
                    && mail.mail.to.as_str() == "zarina@example.uz"
                    && mail.mail.subject == "OrderCancelled Windows by_admin=true"
            })
            .times(1)
            .returning(move |_, _, _, _, _, _| Ok(Some(cancelled.clone())));

        let done = service(orders, MockServiceRepo::new(), users)
            .change(&admin, id, OrderChange::Status(OrderStatus::Cancelled), None)
            .await
            .expect("cancelled");
        assert_eq!(done.status, OrderStatus::Cancelled);
    }

    /// A catalogue service "Deep clean" at `price`, created at 0.
    fn deep_clean(price: i64) -> Service {
        Service::create(NewService::parse("Deep clean", None, price).expect("valid"), at(0))
    }

    fn place(service_id: Id) -> PlaceOrder {
        PlaceOrder { service_id, for_user: None, scheduled_at: None, address: None, notes: None }
    }

    #[tokio::test]
    async fn placing_an_order_snapshots_the_service_name_and_price() {
        let caller = principal(Role::User);
        let catalogue = deep_clean(450_000);
        let service_id = catalogue.id;
        let mut users = MockUserRepo::new();
        users.expect_get().never();
        let sessions = living(&caller, true);
        let mut services = MockServiceRepo::new();
        services.expect_get().with(eq(service_id)).returning(move |_| Ok(Some(catalogue.clone())));
        let mut orders = MockOrderRepo::new();
        let (owner, session) = (caller.user_id, caller.session_id);
        orders.expect_insert().never();
        orders
            .expect_insert_with_mail()
            .withf(move |o, checks, mail| {
                *checks
                    == PlacementChecks {
                        session_id: session,
                        caller: owner,
                        now: at(T0),
                        customer_version: Version::FIRST,
                        service_version: Version::FIRST,
                    }
                    && o.user_id == owner
                    && o.customer_name.as_ref().map(Username::as_str) == Some("zarina")
                    && o.service_name.as_str() == "Deep clean"
                    && o.price.minor_units() == 450_000
                    && o.status == OrderStatus::Pending
                    && mail.kind == MailKind::OrderPlaced
                    && mail.mail.subject == "OrderPlaced Deep clean by_admin=false"
            })
            .times(1)
            .returning(|_, _, _| Ok(()));

        let order = placing(orders, services, users, sessions)
            .place(&caller, place(service_id))
            .await
            .expect("placed");

        assert_eq!(order.created_at, at(T0));
    }

    #[tokio::test]
    async fn a_snapshot_from_a_stale_catalogue_is_taken_again_from_storage() {
        let caller = principal(Role::User);
        let sessions = living(&caller, true);
        let cached = deep_clean(100_000);
        let id = cached.id;
        // Another instance raised the price; this one's catalogue has not seen it yet.
        let current = Service {
            price: Money::parse("price", 250_000).expect("valid"),
            version: Version::FIRST.next(),
            ..cached.clone()
        };
        let mut catalog = MockServiceRepo::new();
        catalog.expect_get().times(1).returning(move |_| Ok(Some(cached.clone())));
        let mut services = MockServiceRepo::new();
        services.expect_get().with(eq(id)).times(1).returning(move |_| Ok(Some(current.clone())));
        let mut orders = MockOrderRepo::new();
        let mut seq = mockall::Sequence::new();
        orders
            .expect_insert_with_mail()
            .withf(|o, checks, _| {
                checks.service_version == Version::FIRST && o.price.minor_units() == 100_000
            })
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _, _| Err(RepoError::MissingReference(Reference::Service)));
        orders
            .expect_insert_with_mail()
            .withf(|o, checks, mail| {
                checks.service_version == Version::FIRST.next()
                    && o.price.minor_units() == 250_000
                    && mail.kind == MailKind::OrderPlaced
            })
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _, _| Ok(()));

        let users = MockUserRepo::new();
        let order = service_reading(orders, Arc::new(catalog), Arc::new(services), users, sessions)
            .place(&caller, place(id))
            .await
            .expect("placed");

        assert_eq!(order.price.minor_units(), 250_000);
    }

    #[tokio::test]
    async fn a_service_the_catalogue_does_not_offer_yet_is_looked_up_in_storage() {
        let caller = principal(Role::User);
        let sessions = living(&caller, true);
        let created = deep_clean(100_000);
        let id = created.id;
        let mut catalog = MockServiceRepo::new();
        catalog.expect_get().times(1).returning(|_| Ok(None));
        let mut services = MockServiceRepo::new();
        services.expect_get().with(eq(id)).times(1).returning(move |_| Ok(Some(created.clone())));
        let mut orders = MockOrderRepo::new();
        orders.expect_insert_with_mail().times(1).returning(|_, _, _| Ok(()));

        let users = MockUserRepo::new();
        let order = service_reading(orders, Arc::new(catalog), Arc::new(services), users, sessions)
            .place(&caller, place(id))
            .await
            .expect("placed");

        assert_eq!(order.service_id, id);
    }

    #[tokio::test]
    async fn an_unverified_customer_cannot_order() {
        let caller = principal(Role::User);
        let mut users = MockUserRepo::new();
        users.expect_get().never();
        let sessions = living(&caller, false);
        let mut services = MockServiceRepo::new();
        services.expect_get().returning(|_| Ok(None));
        let mut orders = MockOrderRepo::new();
        orders.expect_insert_with_mail().never();

        let err = placing(orders, services, users, sessions)
            .place(&caller, place(Id::generate()))
            .await
            .expect_err("refused");

        assert!(matches!(err, AppError::EmailNotVerified));
    }

    #[tokio::test]
    async fn an_unknown_service_or_a_past_visit_is_refused() {
        let caller = principal(Role::User);
        let mut users = MockUserRepo::new();
        users.expect_get().never();
        let sessions = living(&caller, true);
        let mut services = MockServiceRepo::new();
        services.expect_get().returning(|_| Ok(None));
        let svc = placing(MockOrderRepo::new(), services, users, sessions);

        let unknown = svc.place(&caller, place(Id::generate())).await.expect_err("unknown");
        assert!(matches!(unknown, AppError::UnknownReference(Reference::Service)));
        let past = PlaceOrder { scheduled_at: Some(at(T0 - 1)), ..place(Id::generate()) };
        let past = svc.place(&caller, past).await.expect_err("past");
        assert!(matches!(past, AppError::Validation(ref e) if e.errors()[0].code == "in_the_past"));
    }

    #[tokio::test]
    async fn an_archived_service_cannot_be_ordered() {
        let caller = principal(Role::User);
        let sessions = living(&caller, true);
        let mut archived = deep_clean(450_000);
        archived.archived_at = Some(at(1));
        let mut services = MockServiceRepo::new();
        services.expect_get().returning(move |_| Ok(Some(archived.clone())));
        let mut orders = MockOrderRepo::new();
        orders.expect_insert_with_mail().never();

        let err = placing(orders, services, MockUserRepo::new(), sessions)
            .place(&caller, place(Id::generate()))
            .await
            .expect_err("archived");

        assert!(matches!(err, AppError::UnknownReference(Reference::Service)), "{err:?}");
    }

    #[tokio::test]
    async fn a_customer_may_not_order_for_someone_else() {
        // An administrator's token, but the account is a customer's now.
        let caller = principal(Role::Admin);
        let request = PlaceOrder { for_user: Some(Id::generate()), ..place(Id::generate()) };
        let mut services = MockServiceRepo::new();
        services.expect_get().returning(|_| Ok(None));
        let mut orders = MockOrderRepo::new();
        orders.expect_insert_with_mail().never();

        let err = placing(orders, services, MockUserRepo::new(), living(&caller, true))
            .place(&caller, request)
            .await
            .expect_err("refused");

        assert!(matches!(err, AppError::Forbidden));
    }

    /// A catalogue that offers `offered`, read as often as asked.
    fn offering(offered: &Service) -> MockServiceRepo {
        let offered = offered.clone();
        let mut services = MockServiceRepo::new();
        services.expect_get().returning(move |_| Ok(Some(offered.clone())));
        services
    }

    #[tokio::test]
    async fn a_second_order_reuses_the_account_read_and_its_write_checks_the_session() {
        let caller = principal(Role::User);
        let offered = deep_clean(450_000);
        let session = caller.session_id;
        let mut orders = MockOrderRepo::new();
        orders
            .expect_insert_with_mail()
            .withf(move |_, checks, _| {
                checks.session_id == session && checks.customer_version == Version::FIRST
            })
            .times(2)
            .returning(|_, _, _| Ok(()));
        // `living` answers one read only.
        let svc = placing(orders, offering(&offered), MockUserRepo::new(), living(&caller, true));

        svc.place(&caller, place(offered.id)).await.expect("first");
        svc.place(&caller, place(offered.id)).await.expect("second, without a read");
    }

    #[tokio::test]
    async fn an_order_in_an_ended_session_is_refused_and_the_account_read_again_next_time() {
        let caller = principal(Role::User);
        let offered = deep_clean(450_000);
        let mut orders = MockOrderRepo::new();
        let mut seq = mockall::Sequence::new();
        for answer in [Ok(()), Err(RepoError::SessionEnded), Ok(())] {
            let answer = Mutex::new(Some(answer));
            orders.expect_insert_with_mail().times(1).in_sequence(&mut seq).returning(
                move |_, _, _| answer.lock().expect("lock").take().expect("answered once"),
            );
        }
        let account = user(caller.user_id, true);
        let mut sessions = MockSessionRepo::new();
        sessions.expect_live_user().times(2).returning(move |_, _, _| Ok(Some(account.clone())));
        let svc = placing(orders, offering(&offered), MockUserRepo::new(), sessions);

        svc.place(&caller, place(offered.id)).await.expect("placed");
        let ended = svc.place(&caller, place(offered.id)).await.expect_err("ended");
        assert!(matches!(ended, AppError::SessionEnded), "{ended:?}");
        svc.place(&caller, place(offered.id)).await.expect("a new read first");
    }

    #[tokio::test]
    async fn an_account_changed_since_it_was_read_is_read_again_and_mailed_at_its_new_address() {
        let caller = principal(Role::User);
        let offered = deep_clean(450_000);
        let first = user(caller.user_id, true);
        let moved = User {
            email: Email::parse("e", "zarina@yangi.uz").expect("valid"),
            version: Version::FIRST.next(),
            ..first.clone()
        };
        let mut sessions = MockSessionRepo::new();
        let mut reads = mockall::Sequence::new();
        for account in [first, moved] {
            sessions
                .expect_live_user()
                .times(1)
                .in_sequence(&mut reads)
                .returning(move |_, _, _| Ok(Some(account.clone())));
        }
        let mut orders = MockOrderRepo::new();
        let mut writes = mockall::Sequence::new();
        orders
            .expect_insert_with_mail()
            .times(1)
            .in_sequence(&mut writes)
            .returning(|_, _, _| Ok(()));
        orders
            .expect_insert_with_mail()
            .withf(|_, checks, _| checks.customer_version == Version::FIRST)
            .times(1)
            .in_sequence(&mut writes)
            .returning(|_, _, _| Err(RepoError::MissingReference(Reference::User)));
        orders
            .expect_insert_with_mail()
            .withf(|_, checks, mail| {
                checks.customer_version == Version::FIRST.next()
                    && mail.mail.to.as_str() == "zarina@yangi.uz"
            })
            .times(1)
            .in_sequence(&mut writes)
            .returning(|_, _, _| Ok(()));
        let svc = placing(orders, offering(&offered), MockUserRepo::new(), sessions);

        svc.place(&caller, place(offered.id)).await.expect("first");
        svc.place(&caller, place(offered.id)).await.expect("placed after a new read");
    }

    #[tokio::test]
    async fn a_customer_lists_only_their_own_orders() {
        let caller = principal(Role::User);
        let me = caller.user_id;
        let mut orders = MockOrderRepo::new();
        orders
            .expect_list()
            .withf(move |q| q.user_id == Some(me))
            .times(1)
            .returning(|_| Ok(Page { items: vec![], total: 0 }));
        let svc = service(orders, MockServiceRepo::new(), MockUserRepo::new());

        svc.list(&caller, OrderQuery::default()).await.expect("listed");
        let other = OrderQuery { user_id: Some(Id::generate()), ..OrderQuery::default() };
        assert!(matches!(svc.list(&caller, other).await, Err(AppError::Forbidden)));
    }

    #[tokio::test]
    async fn another_customers_order_does_not_exist_for_you() {
        let caller = principal(Role::User);
        let theirs = order_of(Id::generate(), OrderStatus::Pending);
        let mut orders = MockOrderRepo::new();
        orders.expect_get().returning(move |_| Ok(Some(theirs.clone())));
        orders.expect_change_status().never();
        let svc = service(orders, MockServiceRepo::new(), MockUserRepo::new());

        let read = svc.get(&caller, Id::generate()).await.expect_err("hidden");
        let cancel = svc
            .change(&caller, Id::generate(), OrderChange::Status(OrderStatus::Cancelled), None)
            .await
            .expect_err("hidden");

        assert!(matches!(read, AppError::NotFound("order")));
        assert!(matches!(cancel, AppError::NotFound("order")));
    }

    #[tokio::test]
    async fn a_customer_may_cancel_but_not_complete_their_order() {
        let caller = principal(Role::User);
        let mine = order_of(caller.user_id, OrderStatus::Pending);
        let id = mine.id;
        let cancelled = Order { status: OrderStatus::Cancelled, ..mine.clone() };
        let mut orders = MockOrderRepo::new();
        orders.expect_get().returning(move |_| Ok(Some(mine.clone())));
        orders
            .expect_change_status()
            .with(
                eq(id),
                eq(OrderStatus::Pending),
                eq(OrderStatus::Cancelled),
                eq(Some(Version::FIRST)),
                eq(at(T0)),
            )
            .times(1)
            .returning(move |_, _, _, _, _| Ok(Some(cancelled.clone())));
        let svc = service(orders, MockServiceRepo::new(), no_customers());

        let complete = svc
            .change(&caller, id, OrderChange::Status(OrderStatus::Completed), None)
            .await
            .expect_err("admin only");
        assert!(matches!(complete, AppError::Forbidden));
        let done = svc
            .change(&caller, id, OrderChange::Status(OrderStatus::Cancelled), None)
            .await
            .expect("cancelled");
        assert_eq!(done.status, OrderStatus::Cancelled);
    }

    #[tokio::test]
    async fn a_finished_order_never_moves_and_a_lost_race_is_a_conflict() {
        let admin = principal(Role::Admin);
        let done = order_of(Id::generate(), OrderStatus::Completed);
        let mut orders = MockOrderRepo::new();
        orders.expect_get().returning(move |_| Ok(Some(done.clone())));
        orders.expect_change_status().never();
        let svc = service(orders, MockServiceRepo::new(), MockUserRepo::new());
        let err = svc
            .change(&admin, Id::generate(), OrderChange::Status(OrderStatus::Cancelled), None)
            .await
            .expect_err("final");
        assert!(matches!(err, AppError::InvalidTransition(_)));

        let pending = order_of(Id::generate(), OrderStatus::Pending);
        let mut orders = MockOrderRepo::new();
        orders.expect_get().returning(move |_| Ok(Some(pending.clone())));
        orders.expect_change_status().returning(|_, _, _, _, _| Ok(None));
        let svc = service(orders, MockServiceRepo::new(), no_customers());
        let err = svc
            .change(&admin, Id::generate(), OrderChange::Status(OrderStatus::Completed), None)
            .await
            .expect_err("raced");
        assert!(matches!(err, AppError::InvalidTransition(_)));
    }

    fn version(n: i64) -> Version {
        Version::from_stored(n).expect("positive")
    }

    #[tokio::test]
    async fn a_stale_precondition_fails_before_any_other_rule() {
        let admin = principal(Role::Admin);
        let done =
            Order { version: version(2), ..order_of(Id::generate(), OrderStatus::Completed) };
        let id = done.id;
        let mut orders = MockOrderRepo::new();
        orders.expect_get().returning(move |_| Ok(Some(done.clone())));
        orders.expect_change_status().never();
        orders.expect_update_details().never();
        let svc = service(orders, MockServiceRepo::new(), MockUserRepo::new());
        let stale = || Some(Precondition::version(version(1)));

        let err = svc
            .change(&admin, id, OrderChange::Status(OrderStatus::Cancelled), stale())
            .await
            .expect_err("stale");
        assert!(matches!(err, AppError::PreconditionFailed), "{err:?}");
        let details = OrderChange::Details(OrderDetails::default());
        let err = svc.change(&admin, id, details, stale()).await.expect_err("stale");
        assert!(matches!(err, AppError::PreconditionFailed), "{err:?}");
    }

    #[tokio::test]
    async fn a_holding_precondition_goes_into_the_conditional_write() {
        let admin = principal(Role::Admin);
        let pending =
            Order { version: version(5), ..order_of(Id::generate(), OrderStatus::Pending) };
        let id = pending.id;
        let completed =
            Order { status: OrderStatus::Completed, version: version(6), ..pending.clone() };
        let mut orders = MockOrderRepo::new();
        orders.expect_get().returning(move |_| Ok(Some(pending.clone())));
        orders
            .expect_change_status()
            .with(
                eq(id),
                eq(OrderStatus::Pending),
                eq(OrderStatus::Completed),
                eq(Some(version(5))),
                eq(at(T0)),
            )
            .times(1)
            .returning(move |_, _, _, _, _| Ok(Some(completed.clone())));
        orders
            .expect_update_details()
            .withf(|_, _, expected, _| *expected == Some(version(5)))
            .times(1)
            .returning(|_, _, _, _| Err(RepoError::VersionMismatch));
        let svc = service(orders, MockServiceRepo::new(), no_customers());
        let holds = || Some(Precondition::version(version(5)));

        let done = svc
            .change(&admin, id, OrderChange::Status(OrderStatus::Completed), holds())
            .await
            .expect("completed");
        assert_eq!(done.version, version(6));
        let notes = OrderDetails::parse(None, None, Some(Some("late"))).expect("valid");
        let err =
            svc.change(&admin, id, OrderChange::Details(notes), holds()).await.expect_err("raced");
        assert!(matches!(err, AppError::PreconditionFailed), "{err:?}");
    }

    #[tokio::test]
    async fn a_visit_breaking_the_booking_rules_is_refused_before_anything_is_read() {
        let caller = principal(Role::User);
        let mut services = MockServiceRepo::new();
        services.expect_get().never();
        let svc = service(MockOrderRepo::new(), services, MockUserRepo::new());
        // T0 is 2025-11-27 00:00 UTC, 05:00 in Tashkent.
        for (offset, code) in [
            (60_000, "too_soon"),
            (91 * 86_400_000, "too_far"),
            (86_400_000 - 3_600_000, "outside_working_hours"),
        ] {
            let request =
                PlaceOrder { scheduled_at: Some(at(T0 + offset)), ..place(Id::generate()) };
            let err = svc.place(&caller, request).await.expect_err(code);
            assert!(
                matches!(err, AppError::Validation(ref e) if e.errors()[0].code == code),
                "{err:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_visit_in_the_future_cannot_be_completed() {
        let admin = principal(Role::Admin);
        let upcoming = Order {
            scheduled_at: Some(at(T0 + 1)),
            ..order_of(Id::generate(), OrderStatus::Pending)
        };
        let mut orders = MockOrderRepo::new();
        orders.expect_get().returning(move |_| Ok(Some(upcoming.clone())));
        orders.expect_change_status().never();
        let svc = service(orders, MockServiceRepo::new(), MockUserRepo::new());

        let err = svc
            .change(&admin, Id::generate(), OrderChange::Status(OrderStatus::Completed), None)
            .await
            .expect_err("not due");
        assert!(matches!(err, AppError::VisitNotDue), "{err:?}");
    }

    #[tokio::test]
    async fn inside_the_cut_off_only_an_administrator_cancels() {
        let customer = principal(Role::User);
        let soon = Order {
            scheduled_at: Some(at(T0 + 3_600_000)),
            ..order_of(customer.user_id, OrderStatus::Pending)
        };
        let cancelled = Order { status: OrderStatus::Cancelled, ..soon.clone() };
        let mut orders = MockOrderRepo::new();
        orders.expect_get().returning(move |_| Ok(Some(soon.clone())));
        orders
            .expect_change_status()
            .times(1)
            .returning(move |_, _, _, _, _| Ok(Some(cancelled.clone())));
        let svc = service(orders, MockServiceRepo::new(), no_customers());
        let cancel = || OrderChange::Status(OrderStatus::Cancelled);

        let err = svc.change(&customer, Id::generate(), cancel(), None).await.expect_err("late");
        assert!(matches!(err, AppError::TooLateToCancel), "{err:?}");
        let admin = principal(Role::Admin);
        svc.change(&admin, Id::generate(), cancel(), None).await.expect("an admin may");
    }

    #[tokio::test]
    async fn a_status_move_racing_another_change_is_a_conflict_not_a_stale_precondition() {
        let admin = principal(Role::Admin);
        let pending = order_of(Id::generate(), OrderStatus::Pending);
        let mut orders = MockOrderRepo::new();
        orders.expect_get().returning(move |_| Ok(Some(pending.clone())));
        orders
            .expect_change_status()
            .withf(|_, _, _, expected, _| *expected == Some(Version::FIRST))
            .returning(|_, _, _, _, _| Err(RepoError::VersionMismatch));
        let svc = service(orders, MockServiceRepo::new(), no_customers());

        let err = svc
            .change(&admin, Id::generate(), OrderChange::Status(OrderStatus::Completed), None)
            .await
            .expect_err("raced");
        assert!(matches!(err, AppError::InvalidTransition(_)), "{err:?}");
    }

    #[tokio::test]
    async fn a_completed_order_is_not_deleted_and_a_missing_one_is_not_found() {
        let done = order_of(Id::generate(), OrderStatus::Completed);
        let done_id = done.id;
        let mut orders = MockOrderRepo::new();
        orders.expect_delete().returning(|_| Ok(false));
        orders.expect_get().returning(move |id| Ok((id == done_id).then(|| done.clone())));
        let svc = service(orders, MockServiceRepo::new(), MockUserRepo::new());
        let admin = principal(Role::Admin).require_admin().expect("an admin");

        let err = svc.delete(&admin, done_id).await.expect_err("completed");
        assert!(matches!(err, AppError::OrderCompleted), "{err:?}");
        let err = svc.delete(&admin, Id::generate()).await.expect_err("missing");
        assert!(matches!(err, AppError::NotFound("order")), "{err:?}");
    }

    #[tokio::test]
    async fn a_range_that_ends_before_it_starts_is_refused_naming_its_start() {
        let mut orders = MockOrderRepo::new();
        orders.expect_list().never();
        let svc = service(orders, MockServiceRepo::new(), MockUserRepo::new());
        let query = OrderQuery {
            created_from: Some(at(2)),
            created_to: Some(at(1)),
            scheduled_from: Some(at(4)),
            scheduled_to: Some(at(3)),
            ..OrderQuery::default()
        };
        let err = svc.list(&principal(Role::Admin), query).await.expect_err("backwards");
        let AppError::Validation(errors) = err else { panic!("{err:?}") };
        let fields: Vec<_> = errors.errors().iter().map(|e| e.field.to_string()).collect();
        assert_eq!(fields, ["createdFrom", "scheduledFrom"]);
    }
}
