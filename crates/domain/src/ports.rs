//! Ports: what the use cases need from the outside world. Each adapter
//! (`store-sql`, `store-mongo`) implements them, and the one conformance suite
//! (`store-tests`) holds every adapter to the promises written here.

use async_trait::async_trait;

use crate::catalog::{Service, ServicePatch, ServiceQuery};
use crate::clock::Timestamp;
use crate::email_tokens::{EmailToken, TokenPurpose};
use crate::error::{BoxError, RepoError};
use crate::id::Id;
use crate::idempotency::{IdempotencyClaim, IdempotencyState, StoredResponse};
use crate::mail::{ClaimToken, ClaimedMessage, MailSlot, OutboxMessage};
use crate::orders::{Order, OrderDetails, OrderQuery, OrderStatus, PlacementChecks};
use crate::page::Page;
use crate::rate_limits::{Quota, Verdict};
use crate::sessions::{RefreshToken, SecretToken, Session, TokenHash};
use crate::users::{Email, Password, PasswordHash, User, UserPatch, UserQuery};
use crate::version::Version;

/// The catalogue of services.
///
/// Every service is stored with its name key (`ServiceName::key`) under a
/// unique index, archived services included, and its search key
/// (`ServiceName::search_key`), both moving with the name in the same write.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait ServiceRepo: Send + Sync {
    /// Stores a new service exactly as given (timestamps included).
    /// MUST fail with `RepoError::Duplicate(UniqueKey::Id)` if the id is taken,
    /// and with `Duplicate(UniqueKey::ServiceName)` when another service (even
    /// an archived one) has the same name key, enforced by the unique index so
    /// that concurrent creates cannot both succeed.
    async fn insert(&self, service: &Service) -> Result<(), RepoError>;

    /// The service with this id, archived or not, or `None`.
    async fn get(&self, id: Id) -> Result<Option<Service>, RepoError>;

    /// One page of services matching the query, in the query's order (ties broken
    /// by id in the same direction), and the number of services that match in all.
    /// Only services that are not archived, or with `query.archived` only the
    /// archived ones. A search keeps the services whose stored search key
    /// contains the term's key, literally. A page past the end has no items but
    /// the true total.
    async fn list(&self, query: &ServiceQuery) -> Result<Page<Service>, RepoError>;

    /// Applies `patch`, sets `updated_at` to `now` and raises `version` by one
    /// in one atomic write, and returns the service as stored afterwards;
    /// `None` if no service has this id. A new name moves its name and
    /// search keys in the same write; a name key another service has MUST
    /// fail with `Duplicate(UniqueKey::ServiceName)`, changing nothing.
    /// `patch.archived` sets `archived_at` to `now` (true) or clears it (false).
    ///
    /// With `expected`, the write is ONE conditional write that matches only
    /// while the stored version is `expected` (SQL `UPDATE … WHERE id = ? AND
    /// version = ?`, a Mongo filter on `version`), never a read and then a
    /// write: a service at another version is left as it is and the answer
    /// is `RepoError::VersionMismatch` (`None` still means no such service).
    /// Of two writers expecting the same version exactly one succeeds.
    async fn update(
        &self,
        id: Id,
        patch: &ServicePatch,
        expected: Option<Version>,
        now: Timestamp,
    ) -> Result<Option<Service>, RepoError>;

    /// Archives the service if it is in the catalogue: `archived_at` and
    /// `updated_at` become `now` and `version` goes up by one, in one
    /// conditional write. `false` if no service with this id is in the
    /// catalogue (none has it, or it is archived already).
    async fn archive(&self, id: Id, now: Timestamp) -> Result<bool, RepoError>;
}

/// Accounts.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait UserRepo: Send + Sync {
    /// Stores a new user exactly as given. MUST fail with
    /// `RepoError::Duplicate(UniqueKey::Email)` or `Duplicate(UniqueKey::Username)` when another
    /// user has the same e-mail or the same username ignoring ASCII case
    /// (`Username::folded`), enforced by unique indexes so that concurrent
    /// signups cannot both succeed; `Duplicate(UniqueKey::Id)` for a taken id.
    async fn insert(&self, user: &User) -> Result<(), RepoError>;

    /// The user with this id, or `None`.
    async fn get(&self, id: Id) -> Result<Option<User>, RepoError>;

    /// The user with this (already normalised) e-mail, or `None`. Only the
    /// account's address counts, never a pending one.
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepoError>;

    /// The most recently created user whose pending (unproven) address is
    /// this one, or `None`; served by an index on the pending address.
    async fn find_by_pending_email(&self, email: &Email) -> Result<Option<User>, RepoError>;

    /// Records that the owner proved `email` (raising `version` by one), in ONE conditional write: if it
    /// is the user's pending address, it becomes the account's address (the
    /// pending one is cleared) and the account is verified; else if it is the
    /// account's address, the account is verified. Otherwise (the address
    /// changed meanwhile, or no such user) it changes nothing and answers
    /// `None`. MUST fail with `Duplicate(UniqueKey::Email)` when another
    /// account has taken the address meanwhile.
    async fn confirm_email(
        &self,
        id: Id,
        email: &Email,
        now: Timestamp,
    ) -> Result<Option<User>, RepoError>;

    /// Takes the account's mail slot, so that at most one mail carrying a link
    /// goes to it per interval however many requests (on however many
    /// instances) ask at once. ONE conditional write: if no such mail was
    /// recorded yet, or the last one was at `free_since` or earlier, records
    /// `now` as the last and answers `Claimed`; otherwise changes nothing and
    /// answers `Taken` with the time of the last one (`NoUser` without an
    /// account). Of concurrent claims with the same arguments exactly one wins.
    async fn claim_mail_slot(
        &self,
        id: Id,
        now: Timestamp,
        free_since: Timestamp,
    ) -> Result<MailSlot, RepoError>;

    /// Gives back the slot a [`claim_mail_slot`](Self::claim_mail_slot) took
    /// at `claimed_at`, when the mail it was taken for was not queued. ONE
    /// conditional write: frees the slot only while it still holds
    /// `claimed_at`, so a later claim is never undone. Nothing happens
    /// without such an account or such a claim.
    async fn release_mail_slot(&self, id: Id, claimed_at: Timestamp) -> Result<(), RepoError>;

    /// One page of users matching every given filter, newest first (ties by id,
    /// descending), and the number that match in all. `search` matches the
    /// folded username or the e-mail, literally, anywhere.
    async fn list(&self, query: &UserQuery) -> Result<Page<User>, RepoError>;

    /// Applies `patch`, sets `updated_at` to `now` and raises `version` by one
    /// in one atomic write, and returns the stored user; `None` if no user has
    /// this id. MUST fail with `Duplicate(UniqueKey::Email |
    /// UniqueKey::Username)` as `insert` does. MUST fail with `LastAdmin`,
    /// changing nothing, when the patch would demote the only remaining
    /// ADMIN, decided in the same atomic step as the write: two administrators
    /// demoting each other at once leave exactly one.
    ///
    /// With `expected`, the write that changes the user is conditional on the
    /// stored version being `expected` (in its WHERE clause or Mongo filter,
    /// never checked by an earlier read); at another version nothing changes
    /// and the answer is `RepoError::VersionMismatch`. Of two writers
    /// expecting the same version exactly one succeeds.
    async fn update(
        &self,
        id: Id,
        patch: &UserPatch,
        expected: Option<Version>,
        now: Timestamp,
    ) -> Result<Option<User>, RepoError>;

    /// Removes the user; `false` if no user had this id. MUST fail with
    /// `LastAdmin`, changing nothing, when the user is the only remaining
    /// ADMIN, decided atomically as in `update`.
    async fn delete(&self, id: Id) -> Result<bool, RepoError>;
}

/// Orders. Status changes and edits are conditional writes, never
/// read-then-write, so two racing requests cannot both succeed. Each of them
/// (and `cancel_pending_of_user`) raises the order's `version` by one in the
/// same write.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait OrderRepo: Send + Sync {
    /// Stores a new order exactly as given, only while its user exists,
    /// decided with the insert: `MissingReference(Reference::User)`, storing
    /// nothing, when the user does not exist (or is deleted meanwhile), so an
    /// order never outlives its customer's deletion as PENDING. (SQL: one
    /// `INSERT … SELECT … FROM users WHERE id = ?`, which on Postgres locks the
    /// user's row until it commits; MongoDB: the insert, then a read of the
    /// user, withdrawing the order if the user is gone, so that with
    /// `UserService::delete`'s delete-then-cancel one of the two always sees
    /// the other.) `Duplicate(UniqueKey::Id)` for a taken id.
    async fn insert(&self, order: &Order) -> Result<(), RepoError>;

    /// The order with this id, or `None`.
    async fn get(&self, id: Id) -> Result<Option<Order>, RepoError>;

    /// One page of orders matching every given filter, in the query's
    /// [`OrderSort`](crate::OrderSort) (default newest first: created_at
    /// descending, ties by id in the same direction; by visit time, orders
    /// without one first ascending and last descending), and how many match in
    /// all. `scheduled_from` is inclusive and `scheduled_to` exclusive, like
    /// the creation-time range; an order without a visit time matches neither.
    async fn list(&self, query: &OrderQuery) -> Result<Page<Order>, RepoError>;

    /// Moves the order to `to` and sets `updated_at`, in ONE conditional write
    /// that only matches while the stored status is `from` (SQL `UPDATE … WHERE
    /// id = ? AND status = ?`, Mongo `findOneAndUpdate` with the status in the
    /// filter). Answers the order as stored afterwards, or `None` if no order
    /// has this id or its status is no longer `from` — never overwriting.
    /// With `expected`, the same write also requires the stored version to be
    /// `expected`; an order at another version is left as it is and the
    /// answer is `RepoError::VersionMismatch`.
    async fn change_status(
        &self,
        id: Id,
        from: OrderStatus,
        to: OrderStatus,
        expected: Option<Version>,
        now: Timestamp,
    ) -> Result<Option<Order>, RepoError>;

    /// [`insert`](Self::insert), with `mail` (the customer's confirmation)
    /// queued in the outbox by the same write: on SQL one transaction, so
    /// either both are stored or neither. MongoDB has no multi-document
    /// transactions here (on purpose), so the mail is queued right after the
    /// order is stored and re-checked: an order refused queues nothing, and
    /// only a crash between the two writes loses the mail, never the order.
    ///
    /// The order and its mail are made from earlier reads, which `checks`
    /// names; the same write stores them only while those reads still hold
    /// (SQL: in the INSERT's condition; MongoDB: read after the insert,
    /// withdrawing the order). Otherwise nothing is stored and the answer is,
    /// in this order of precedence:
    /// - `SessionEnded` when the caller's session is not live at `checks.now`
    ///   (revoked, expired, or not the caller's): the caller's authority is
    ///   checked by the write itself, not by a read before it;
    /// - `MissingReference(Reference::Service)` when the service is no longer
    ///   at `checks.service_version` or is archived, so a price snapshot
    ///   taken from a cached read is never stored once the service changed;
    /// - `MissingReference(Reference::User)` when the customer is gone or no
    ///   longer at `checks.customer_version`, so a mail is never queued to an
    ///   address or in a language the account has since changed.
    async fn insert_with_mail(
        &self,
        order: &Order,
        checks: PlacementChecks,
        mail: &OutboxMessage,
    ) -> Result<(), RepoError>;

    /// [`change_status`](Self::change_status), with `mail` (the customer's
    /// notice) queued only if the status write matched, by the same write as
    /// in [`insert_with_mail`](Self::insert_with_mail): a move that lost a
    /// race queues nothing.
    async fn change_status_with_mail(
        &self,
        id: Id,
        from: OrderStatus,
        to: OrderStatus,
        expected: Option<Version>,
        now: Timestamp,
        mail: &OutboxMessage,
    ) -> Result<Option<Order>, RepoError>;

    /// Applies the given details and sets `updated_at`, in ONE conditional write
    /// that only matches while the order is PENDING; `None` otherwise (or if
    /// no order has this id). `expected` as in `change_status`.
    async fn update_details(
        &self,
        id: Id,
        details: &OrderDetails,
        expected: Option<Version>,
        now: Timestamp,
    ) -> Result<Option<Order>, RepoError>;

    /// Removes the order unless it is COMPLETED (a record of revenue), in ONE
    /// conditional write; `false` if no order had this id or it is COMPLETED
    /// (the caller reads it to tell which: COMPLETED is final).
    async fn delete(&self, id: Id) -> Result<bool, RepoError>;

    /// Cancels every PENDING order of the user at `now` (the user is being
    /// deleted); answers how many. Other orders are left as they are.
    async fn cancel_pending_of_user(&self, user_id: Id, now: Timestamp) -> Result<u64, RepoError>;
}

/// E-mail verification and password-reset tokens.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait EmailTokenRepo: Send + Sync {
    /// Stores a new token.
    async fn insert(&self, token: &EmailToken) -> Result<(), RepoError>;

    /// The token with this hash and purpose if it is unused and unexpired at
    /// `now`, without using it (to check a request before consuming the token).
    async fn find(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: Timestamp,
    ) -> Result<Option<EmailToken>, RepoError>;

    /// Uses the token, as one atomic write: if a token with this hash and
    /// purpose exists, is unused and has not expired at `now`, marks it used at
    /// `now` and answers it; otherwise answers `None` and changes nothing. Of
    /// two concurrent uses, exactly one gets the token.
    async fn consume(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: Timestamp,
    ) -> Result<Option<EmailToken>, RepoError>;

    /// Marks every unused token of this user and purpose used at `now`, so
    /// links sent earlier stop working; answers how many.
    async fn invalidate(
        &self,
        user_id: Id,
        purpose: TokenPurpose,
        now: Timestamp,
    ) -> Result<u64, RepoError>;

    /// Retention: deletes up to `limit` tokens that were spent at `before` or
    /// earlier (used at or before it, or expired at or before it), and
    /// answers how many. Never deletes a token that is neither; a token that
    /// is unused and unexpired is never touched. One batched delete, served
    /// by indexes on the two times; call it again until it answers less than
    /// `limit`. Deleting what is past retention is idempotent, so any number
    /// of instances may run it at once.
    async fn purge_spent(&self, before: Timestamp, limit: u32) -> Result<u64, RepoError>;
}

/// The mail outbox: mail is written here in the same step as the change that
/// causes it, and a worker delivers it at least once, surviving restarts.
///
/// Claims and leases: a worker claims due messages; each claim stores a fresh
/// [`ClaimToken`] with the message and moves its `next_attempt_at` to the end
/// of a lease, so no other worker (in this or another instance) takes it
/// meanwhile. Every write that follows a claim (`renew`, `mark_sent`,
/// `retry_later`, `mark_dead`, `release`) is ONE conditional write on
/// `id AND token AND status = PENDING`: once the lease ran out and another
/// worker claimed the message (a new token), or the message is SENT or DEAD,
/// the stale worker's write changes nothing and answers `false` (never an
/// error). `mark_sent`, `retry_later`, `mark_dead` and `release` end the
/// claim (the token is cleared), so a second write with the same token
/// changes nothing either.
///
/// The lease must cover the work it guards: the worker renews a message's
/// lease (`renew`) right before it sends it, and the lease is longer than the
/// longest send (the SMTP timeout), so no message is sent by two workers at
/// once however long a batch takes.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Queues a message (status PENDING).
    async fn enqueue(&self, message: &OutboxMessage) -> Result<(), RepoError>;

    /// Claims up to `limit` PENDING messages due at `now` (oldest due first):
    /// atomically moves each one's `next_attempt_at` to `lease_until` and
    /// stores a fresh claim token with it (one token for the whole claim), and
    /// answers them with that token, `next_attempt_at` = `lease_until`.
    async fn claim_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<ClaimedMessage>, RepoError>;

    /// Extends the lease of a message this claim still holds to
    /// `lease_until`. `false`: the claim is lost (another worker claimed it,
    /// or it is no longer PENDING); do not send it.
    async fn renew(
        &self,
        id: Id,
        token: &ClaimToken,
        lease_until: Timestamp,
    ) -> Result<bool, RepoError>;

    /// Marks the message sent at `now` and drops its body (its links carry
    /// secrets), if this claim still holds it.
    async fn mark_sent(
        &self,
        id: Id,
        token: &ClaimToken,
        now: Timestamp,
    ) -> Result<bool, RepoError>;

    /// Records a failed attempt, if this claim still holds the message:
    /// `attempts` goes up by one (computed in the write), with the error and
    /// when to try again.
    async fn retry_later(
        &self,
        id: Id,
        token: &ClaimToken,
        next_attempt_at: Timestamp,
        error: &str,
    ) -> Result<bool, RepoError>;

    /// Gives up on the message (status DEAD, `attempts` up by one) and drops
    /// its body, if this claim still holds it.
    async fn mark_dead(&self, id: Id, token: &ClaimToken, error: &str) -> Result<bool, RepoError>;

    /// Hands back a message this claim holds but did not attempt (shutdown):
    /// due again at `now`, attempts unchanged, so another worker sends it at
    /// once instead of after the lease.
    async fn release(&self, id: Id, token: &ClaimToken, now: Timestamp) -> Result<bool, RepoError>;

    /// The message with this id, if any (for tests and operators).
    async fn get(&self, id: Id) -> Result<Option<OutboxMessage>, RepoError>;

    /// How many messages are PENDING and how many DEAD.
    async fn backlog(&self) -> Result<(u64, u64), RepoError>;

    /// Retention: deletes up to `limit` finished messages (SENT or DEAD)
    /// created at `before` or earlier, and answers how many. A PENDING
    /// message is never deleted, however old. One batched delete served by
    /// an index on the finished messages' creation time; call it again until
    /// it answers less than `limit`. Idempotent, safe on several instances.
    async fn purge_finished(&self, before: Timestamp, limit: u32) -> Result<u64, RepoError>;
}

/// Records of idempotent requests (`Idempotency-Key`), kept in the database so
/// that they hold across instances and restarts.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait IdempotencyRepo: Send + Sync {
    /// ONE atomic step: if the user has no live record of this key (none, or
    /// it expired at `now`), or its request is unfinished with the same
    /// fingerprint and its lease ran out by `now`, stores the claim as a
    /// running request and answers `Started`. Otherwise changes nothing and
    /// answers what the record holds: `Mismatch` (another fingerprint),
    /// `Replay` (finished) or `InProgress`. Of concurrent claims of one key,
    /// exactly one is `Started`.
    async fn begin(&self, claim: &IdempotencyClaim) -> Result<IdempotencyState, RepoError>;

    /// Stores the answer of the running request `claim` started, so that
    /// retries replay it. Changes nothing if the record is no longer that
    /// running request (taken over after its lease, or released).
    async fn complete(
        &self,
        claim: &IdempotencyClaim,
        response: &StoredResponse,
    ) -> Result<(), RepoError>;

    /// Forgets the running request `claim` started, so that a retry runs
    /// again (its answer said "try again": a 5xx or a 429). Changes nothing
    /// if the record is no longer that running request.
    async fn release(&self, claim: &IdempotencyClaim) -> Result<(), RepoError>;

    /// Deletes up to `limit` records expired at `now` (a record whose
    /// `expires_at` is `now` or earlier) and answers how many; a live record
    /// is never deleted. One batched delete served by the index on
    /// `expires_at`; call it again until it answers less than `limit`.
    /// Idempotent, safe on several instances.
    async fn purge_expired(&self, now: Timestamp, limit: u32) -> Result<u64, RepoError>;
}

/// Login sessions and the refresh tokens each has had.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait SessionRepo: Send + Sync {
    /// Stores a new session and its first, current refresh token.
    async fn create(&self, session: &Session, token: &RefreshToken) -> Result<(), RepoError>;

    /// The refresh token with this hash, current or rotated, and its session;
    /// `None` if there is no such token, or its session is gone (purged).
    async fn find_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(RefreshToken, Session)>, RepoError>;

    /// Rotation, as one atomic step: if `old` is the current token of the
    /// session `new` names, and that session is live at `now` (not revoked,
    /// not expired), marks `old` rotated at `now` and stores `new` as the
    /// current one, and answers `true`. If `old` was already rotated (another
    /// request won the race), belongs to another session, or the session was
    /// revoked or has expired, it changes nothing and answers `false` — never
    /// two winners, and never a winner after a revocation that committed
    /// before it. The liveness check is part of the same conditional write
    /// (or transaction), not a read before it: a refresh racing a password
    /// reset either rotates before the revocation or fails.
    async fn rotate(
        &self,
        old: &TokenHash,
        new: &RefreshToken,
        now: Timestamp,
    ) -> Result<bool, RepoError>;

    /// The user `user_id` as stored now, if the session `session_id` is theirs,
    /// not revoked and not expired at `now`; else `None`. One indexed read of
    /// session and user together (a join on SQL), because every write request
    /// asks it: it is how logout, deletion and demotion take effect at once.
    async fn live_user(
        &self,
        session_id: Id,
        user_id: Id,
        now: Timestamp,
    ) -> Result<Option<User>, RepoError>;

    /// Revokes the session at `now`; `false` if it did not exist or was already revoked.
    async fn revoke(&self, session_id: Id, now: Timestamp) -> Result<bool, RepoError>;

    /// Revokes every not yet revoked session of the user (expired ones too),
    /// except `keep`; answers how many.
    async fn revoke_all_for_user(
        &self,
        user_id: Id,
        keep: Option<Id>,
        now: Timestamp,
    ) -> Result<u64, RepoError>;

    /// Retention: deletes up to `limit` sessions that ended at `before` or
    /// earlier (revoked at or before it, or expired at or before it) together
    /// with every refresh token they had, and answers how many sessions. A
    /// session that is live, or ended after `before`, is never touched. One
    /// batched delete served by indexes on the two times; call it again until
    /// it answers less than `limit`. Idempotent, safe on several instances.
    /// Afterwards `find_refresh_token` answers `None` for those tokens (never
    /// an error): a replayed old token is merely unknown. Where the two
    /// cannot go in one write (MongoDB), the tokens go first; a token whose
    /// session is missing reads as `None` too.
    async fn purge_ended(&self, before: Timestamp, limit: u32) -> Result<u64, RepoError>;
}

/// Small named secrets that every instance on one database must share: the
/// development access-token key when `JWT_SECRET` is not set. Never used for a
/// key an operator gives.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Stores `value` under `name` unless something is stored there already,
    /// and answers what is stored now: the first writer wins, and every
    /// caller, concurrent or later, on any instance, gets the same value. One
    /// insert-if-absent, then a read back; never an overwrite.
    async fn get_or_insert(&self, name: &str, value: &str) -> Result<String, RepoError>;
}

/// Hashing passwords (argon2id). Implementations hash off the async executor
/// and bound how many hashes run at once.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, BoxError>;

    /// Whether `password` matches `hash`. With `None` (no such account) it MUST
    /// do the same work against a dummy hash and answer `false`, so that an
    /// unknown e-mail and a wrong password take the same time.
    async fn verify<'a>(
        &self,
        password: &Password,
        hash: Option<&'a PasswordHash>,
    ) -> Result<bool, BoxError>;
}

/// Opaque secret tokens (refresh, e-mail verification, password reset).
#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait SecretTokens: Send + Sync {
    /// A new random token of at least 256 bits, and its hash.
    fn generate(&self) -> SecretToken;

    /// The hash of a token a client presented.
    fn hash(&self, plain: &str) -> TokenHash;
}

/// Business events worth counting, reported by the use case where they
/// happen (the HTTP edge's Prometheus registry implements it).
#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait AuthMetrics: Send + Sync {
    /// A login was refused for an unknown e-mail or a wrong password.
    fn login_failed(&self);
}

/// Whether the storage answers at all; serves the readiness probe.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait StorageHealth: Send + Sync {
    /// A cheap round trip to the database. MUST NOT hang for long: adapters bound
    /// it with a timeout and answer `RepoError::Unavailable`.
    async fn ping(&self) -> Result<(), RepoError>;
}

/// Counters for rate limits, in fixed windows: in this process, or shared
/// by every instance (Redis). Keys are opaque to the limiter.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one hit of `key` and answers whether it is within `quota`. The
    /// window opens with the key's first hit and lasts `quota.window`; hits
    /// over the quota count too. An `Err` means the counters cannot be
    /// reached (the caller decides whether to let the request through).
    async fn hit(&self, key: &str, quota: Quota) -> Result<Verdict, BoxError>;

    /// Forgets `key`'s count and window.
    async fn forget(&self, key: &str) -> Result<(), BoxError>;
}

/// What the rate limits report (the HTTP edge's Prometheus registry
/// implements it).
#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait RateLimitMetrics: Send + Sync {
    /// A request was refused by the limit `name` (`LOGIN_IP`, …, or
    /// `LOGIN_SLOWDOWN`).
    fn refused(&self, name: &'static str);

    /// The limiter could not be reached; the request was let through.
    fn limiter_failed(&self);
}

/// Loads generated data in bulk, for `tozalash seed --profile bench`: many
/// records per statement (per `insertMany` on MongoDB) instead of one round
/// trip each. Each record is stored exactly as given, like the port's own
/// `insert`, and the unique indexes still hold (a clash fails with
/// `RepoError::Duplicate`); what the single inserts decide beyond that (an
/// order only for a live user, the admin count) is the caller's business. A
/// call that fails part-way may leave the records before the failure stored.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait BulkLoad: Send + Sync {
    async fn users(&self, users: &[User]) -> Result<(), RepoError>;
    async fn services(&self, services: &[Service]) -> Result<(), RepoError>;
    async fn orders(&self, orders: &[Order]) -> Result<(), RepoError>;
}

/// Every port a storage adapter provides, as the composition root wires them.
#[derive(Clone)]
pub struct Repositories {
    pub services: std::sync::Arc<dyn ServiceRepo>,
    pub users: std::sync::Arc<dyn UserRepo>,
    pub sessions: std::sync::Arc<dyn SessionRepo>,
    pub orders: std::sync::Arc<dyn OrderRepo>,
    pub email_tokens: std::sync::Arc<dyn EmailTokenRepo>,
    pub outbox: std::sync::Arc<dyn Outbox>,
    pub idempotency: std::sync::Arc<dyn IdempotencyRepo>,
    pub secrets: std::sync::Arc<dyn SecretStore>,
    pub health: std::sync::Arc<dyn StorageHealth>,
    pub bulk: std::sync::Arc<dyn BulkLoad>,
}

impl std::fmt::Debug for Repositories {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repositories").finish_non_exhaustive()
    }
}
