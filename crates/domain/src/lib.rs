//! Tozalash's business core: entities, value objects, rules and the ports that
//! adapters implement. No I/O and no framework lives here.
//!
//! Values are parsed, not validated: a [`ServiceName`], [`Money`] or [`Id`] that
//! exists is valid, because the only way to make one is its fallible constructor.

pub mod auth;
pub mod booking;
pub mod catalog;
pub mod clock;
pub mod email_tokens;
pub mod error;
pub mod id;
pub mod idempotency;
pub mod keys;
pub mod locale;
pub mod mail;
pub mod orders;
pub mod page;
pub mod ports;
pub mod rate_limits;
pub mod sessions;
pub mod text;
pub mod users;
pub mod version;

pub use auth::{Admin, Principal, Role};
pub use booking::{BookingConfigError, BookingRules, VisitRefusal, WorkingHours};
pub use catalog::{
    Description, Money, NewService, Service, ServiceName, ServicePatch, ServiceQuery, ServiceSort,
    ServiceSortField,
};
pub use clock::{Clock, SystemClock, Timestamp};
pub use email_tokens::{EmailToken, TokenPurpose};
pub use error::{FieldError, Reference, RepoError, UniqueKey, ValidationErrors};
pub use id::Id;
pub use idempotency::{
    Fingerprint, IdempotencyClaim, IdempotencyKey, IdempotencyState, StoredResponse,
};
pub use locale::{Locale, UnknownLocale};
pub use mail::{
    ClaimToken, ClaimedMessage, MailKind, MailRenderer, MailRequest, MailSlot, Mailer, OrderFacts,
    OutboxMessage, OutboxStatus, RenderedMail, SendError,
};
pub use orders::{
    Address, InvalidTransition, Notes, Order, OrderDetails, OrderQuery, OrderSort, OrderStatus,
    PlacementChecks,
};
pub use page::{Page, PageRequest, SortDirection};
pub use ports::{
    AuthMetrics, BulkLoad, EmailTokenRepo, IdempotencyRepo, OrderRepo, Outbox, PasswordHasher,
    RateLimitMetrics, RateLimiter, Repositories, SecretStore, SecretTokens, ServiceRepo,
    SessionRepo, StorageHealth, UserRepo,
};
pub use rate_limits::{LoginSlowdown, Quota, Verdict};
pub use sessions::{RefreshToken, SecretToken, Session, TokenHash};
pub use text::SearchText;
pub use users::{Email, Password, PasswordHash, Signup, User, UserPatch, UserQuery, Username};
pub use version::{Precondition, Version};
