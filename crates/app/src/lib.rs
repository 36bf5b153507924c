//! Tozalash's use cases. Each service here is what the HTTP edge calls; it
//! enforces who may do what and talks to the world only through domain ports.

pub mod auth;
pub mod catalog;
pub mod catalog_cache;
pub mod error;
pub mod idempotency;
pub mod limits;
pub mod mail;
pub mod orders;
pub mod retention;
pub mod users;

pub use auth::{needs_live_check, AuthService, Authenticated, Caller, SessionPolicy};
pub use catalog::CatalogService;
pub use error::AppError;
pub use idempotency::Idempotency;
pub use limits::{Limit, Quotas, RateLimits};
pub use orders::OrderService;
pub use retention::{PurgeReport, Retention, RetentionPolicy};
pub use users::UserService;
