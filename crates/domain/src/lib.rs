//! Tozalash's business core: entities, value objects, rules and the ports that
//! adapters implement. No I/O and no framework lives here.
//!
//! Values are parsed, not validated: a [`ServiceName`], [`Money`] or [`Id`] that
//! exists is valid, because the only way to make one is its fallible constructor.

pub mod auth;
pub mod catalog;
pub mod clock;
pub mod error;
pub mod id;
pub mod page;
pub mod ports;
pub mod text;

pub use auth::{Admin, Principal, Role};
pub use catalog::{
    Description, Money, NewService, Service, ServiceName, ServicePatch, ServiceQuery, ServiceSort,
    ServiceSortField,
};
pub use clock::{Clock, SystemClock, Timestamp};
pub use error::{FieldError, RepoError, ValidationErrors};
pub use id::Id;
pub use page::{Page, PageRequest, SortDirection};
pub use ports::{Repositories, ServiceRepo, StorageHealth};
pub use text::SearchText;
