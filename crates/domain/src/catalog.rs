//! The catalogue of cleaning services a customer can order.

use std::str::FromStr;

use crate::clock::Timestamp;
use crate::error::{FieldError, ValidationErrors};
use crate::id::Id;
use crate::keys::{has_visible, name_key, search_key};
use crate::page::{PageRequest, SortDirection};
use crate::text::{check_characters, fold, SearchText};
use crate::version::Version;

/// A cleaning service in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub id: Id,
    pub name: ServiceName,
    pub description: Description,
    pub price: Money,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Raised by one with every update; the API's `ETag`.
    pub version: Version,
    /// When an administrator took the service out of the catalogue, if they
    /// did. An archived service is hidden from the public catalogue and cannot
    /// be ordered; its name stays taken, and an administrator can restore it.
    pub archived_at: Option<Timestamp>,
}

impl Service {
    /// A new catalogue entry, created and last updated `now`.
    pub fn create(new: NewService, now: Timestamp) -> Self {
        Self {
            id: Id::generate(),
            name: new.name,
            description: new.description,
            price: new.price,
            created_at: now,
            updated_at: now,
            version: Version::FIRST,
            archived_at: None,
        }
    }

    /// Whether the service is out of the public catalogue.
    pub fn is_archived(&self) -> bool {
        self.archived_at.is_some()
    }
}

/// A service's name: 1 to 100 characters after trimming, on one line, at least
/// one of them visible. No two services share a name [key](ServiceName::key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceName(String);

impl ServiceName {
    pub const FIELD: &'static str = "name";
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let name = raw.trim();
        check_characters(Self::FIELD, name, false)?;
        match name.chars().count() {
            0 => Err(FieldError::new(Self::FIELD, "required", "must not be empty")),
            _ if !has_visible(name) => Err(FieldError::new(
                Self::FIELD,
                "required",
                "must have a visible character, not only blank or zero-width ones",
            )),
            n if n > Self::MAX_CHARS => {
                Err(FieldError::new(Self::FIELD, "too_long", "must be at most 100 characters"))
            }
            _ => Ok(Self(name.to_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name folded for case-insensitive ordering; adapters store it.
    pub fn folded(&self) -> String {
        fold(&self.0)
    }

    /// What makes two names the same name ([`name_key`]: case, surrounding and
    /// repeated space, width and apostrophe look-alikes ignored). Adapters
    /// store it under a unique index.
    pub fn key(&self) -> String {
        name_key(&self.0)
    }

    /// What a catalogue search matches ([`search_key`]: Uzbek Latin and
    /// Cyrillic alike, apostrophes ignored). Adapters store it.
    pub fn search_key(&self) -> String {
        search_key(&self.0)
    }
}

/// A service's description: up to 2,000 characters, may span lines, may be empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Description(String);

impl Description {
    pub const FIELD: &'static str = "description";
    pub const MAX_CHARS: usize = 2_000;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let text = raw.trim();
        check_characters(Self::FIELD, text, true)?;
        if text.chars().count() > Self::MAX_CHARS {
            return Err(FieldError::new(
                Self::FIELD,
                "too_long",
                "must be at most 2000 characters",
            ));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An amount of money in the currency's smallest unit (tiyin, cents…), from 0 to
/// 10^12. Never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Money(i64);

impl Money {
    pub const MAX: i64 = 1_000_000_000_000;

    pub fn parse(field: &'static str, minor_units: i64) -> Result<Self, FieldError> {
        if (0..=Self::MAX).contains(&minor_units) {
            Ok(Self(minor_units))
        } else {
            Err(FieldError::new(
                field,
                "out_of_range",
                "must be a whole number from 0 to 1000000000000",
            ))
        }
    }

    pub fn minor_units(&self) -> i64 {
        self.0
    }
}

/// What an administrator gives to add a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewService {
    pub name: ServiceName,
    pub description: Description,
    pub price: Money,
}

impl NewService {
    /// Checks every field and reports every broken rule at once.
    pub fn parse(
        name: &str,
        description: Option<&str>,
        price: i64,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let name = errors.check(ServiceName::parse(name));
        let description =
            errors.check(description.map_or(Ok(Description::default()), Description::parse));
        let price = errors.check(Money::parse("price", price));
        match (name, description, price) {
            (Some(name), Some(description), Some(price)) if errors.is_empty() => {
                Ok(Self { name, description, price })
            }
            _ => Err(errors),
        }
    }
}

/// A partial update: only the fields that are `Some` change.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServicePatch {
    pub name: Option<ServiceName>,
    pub description: Option<Description>,
    pub price: Option<Money>,
    /// `Some(true)` archives the service (stamped with the time of the
    /// write), `Some(false)` restores it to the catalogue.
    pub archived: Option<bool>,
}

impl ServicePatch {
    pub fn parse(
        name: Option<&str>,
        description: Option<&str>,
        price: Option<i64>,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let patch = Self {
            name: name.and_then(|n| errors.check(ServiceName::parse(n))),
            description: description.and_then(|d| errors.check(Description::parse(d))),
            price: price.and_then(|p| errors.check(Money::parse("price", p))),
            archived: None,
        };
        errors.into_result(|| patch)
    }

    /// True when the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.description.is_none()
            && self.price.is_none()
            && self.archived.is_none()
    }

    /// The service as it is after the patch, touched at `now`, one version on.
    pub fn apply(&self, mut service: Service, now: Timestamp) -> Service {
        if let Some(name) = &self.name {
            service.name = name.clone();
        }
        if let Some(description) = &self.description {
            service.description = description.clone();
        }
        if let Some(price) = self.price {
            service.price = price;
        }
        if let Some(archived) = self.archived {
            service.archived_at = archived.then_some(now);
        }
        service.updated_at = now;
        service.version = service.version.next();
        service
    }
}

/// What the catalogue can be ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServiceSortField {
    /// Case-insensitive (folded) name.
    #[default]
    Name,
    Price,
    CreatedAt,
}

/// An order for the catalogue: a field and a direction. Ties are broken by id
/// in the same direction, so pages never overlap or skip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServiceSort {
    pub field: ServiceSortField,
    pub direction: SortDirection,
}

impl FromStr for ServiceSort {
    type Err = FieldError;

    /// `name`, `price` or `createdAt`; a leading `-` means descending.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let (direction, name) = match raw.strip_prefix('-') {
            Some(rest) => (SortDirection::Descending, rest),
            None => (SortDirection::Ascending, raw),
        };
        let field = match name {
            "name" => ServiceSortField::Name,
            "price" => ServiceSortField::Price,
            "createdAt" => ServiceSortField::CreatedAt,
            _ => {
                return Err(FieldError::new(
                    "sort",
                    "invalid_choice",
                    "must be one of name, price, createdAt, optionally prefixed with -",
                ))
            }
        };
        Ok(Self { field, direction })
    }
}

/// Which slice of the catalogue to list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceQuery {
    pub page: PageRequest,
    /// Keeps services whose name contains this, matched by search key
    /// ([`SearchText::key`] within [`ServiceName::search_key`]).
    pub search: Option<SearchText>,
    pub sort: ServiceSort,
    /// `false`: the public catalogue; `true`: only the archived services.
    pub archived: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_is_trimmed_and_between_one_and_hundred_characters() {
        assert_eq!(ServiceName::parse("  Deep clean ").unwrap().as_str(), "Deep clean");
        assert_eq!(ServiceName::parse("   ").unwrap_err().code, "required");
        assert_eq!(ServiceName::parse(&"ü".repeat(100)).unwrap().as_str().chars().count(), 100);
        assert_eq!(ServiceName::parse(&"ü".repeat(101)).unwrap_err().code, "too_long");
    }

    #[test]
    fn a_name_of_only_invisible_characters_is_required() {
        for blank in ["\u{200C}\u{200D}", " \u{2800} ", "\u{3164}", "\u{00AD}\u{034F}"] {
            assert_eq!(ServiceName::parse(blank).unwrap_err().code, "required", "{blank:?}");
        }
        assert!(ServiceName::parse("Gilam\u{200C}yuvish").is_ok());
    }

    #[test]
    fn names_that_differ_only_in_case_or_space_share_a_key() {
        let key = |raw: &str| ServiceName::parse(raw).unwrap().key();
        assert_eq!(key("Umumiy tozalash"), key("  UMUMIY  tozalash "));
        assert_eq!(key("Taʼmir"), key("ta'mir"));
        assert_ne!(key("Umumiy tozalash"), key("Umumiy tozalash 2"));
        let name = ServiceName::parse("Шкаф").unwrap();
        assert_eq!(name.search_key(), "shkaf");
    }

    #[test]
    fn archiving_and_restoring_stamp_and_clear_archived_at() {
        let t0 = chrono::DateTime::from_timestamp_millis(1_000).unwrap();
        let t1 = chrono::DateTime::from_timestamp_millis(2_000).unwrap();
        let service = Service::create(NewService::parse("Windows", None, 1).unwrap(), t0);
        assert!(!service.is_archived());
        let archive = ServicePatch { archived: Some(true), ..ServicePatch::default() };
        assert!(!archive.is_empty());
        let archived = archive.apply(service, t1);
        assert_eq!(archived.archived_at, Some(t1));
        let restore = ServicePatch { archived: Some(false), ..ServicePatch::default() };
        let restored = restore.apply(archived, t1);
        assert_eq!(restored.archived_at, None);
        assert_eq!(restored.version.get(), 3);
    }

    #[test]
    fn name_is_one_line_without_control_characters() {
        assert_eq!(ServiceName::parse("a\nb").unwrap_err().code, "invalid_characters");
        assert_eq!(ServiceName::parse("a\u{0}b").unwrap_err().code, "invalid_characters");
    }

    #[test]
    fn description_may_be_empty_or_multiline_up_to_two_thousand_characters() {
        assert_eq!(Description::parse("").unwrap().as_str(), "");
        assert!(Description::parse("line one\nline two").is_ok());
        assert!(Description::parse(&"d".repeat(2000)).is_ok());
        assert_eq!(Description::parse(&"d".repeat(2001)).unwrap_err().code, "too_long");
        assert_eq!(Description::parse("nul\u{0}").unwrap_err().code, "invalid_characters");
    }

    #[test]
    fn money_is_between_zero_and_ten_to_the_twelfth() {
        assert!(Money::parse("price", 0).is_ok());
        assert!(Money::parse("price", Money::MAX).is_ok());
        assert!(Money::parse("price", -1).is_err());
        assert!(Money::parse("price", Money::MAX + 1).is_err());
    }

    #[test]
    fn new_service_reports_every_broken_field_at_once() {
        let err = NewService::parse("", Some(&"d".repeat(2001)), -5).unwrap_err();
        let fields: Vec<_> = err.errors().iter().map(|e| e.field.as_ref()).collect();
        assert_eq!(fields, ["name", "description", "price"]);
    }

    #[test]
    fn new_service_description_defaults_to_empty() {
        let new = NewService::parse("Windows", None, 5000).unwrap();
        assert_eq!(new.description.as_str(), "");
        assert_eq!(new.price.minor_units(), 5000);
    }

    #[test]
    fn patch_changes_only_given_fields_and_touches_updated_at() {
        let t0 = chrono::DateTime::from_timestamp_millis(1_000).unwrap();
        let t1 = chrono::DateTime::from_timestamp_millis(2_000).unwrap();
        let service =
            Service::create(NewService::parse("Windows", Some("All of them"), 5000).unwrap(), t0);
        let patch = ServicePatch::parse(None, None, Some(7000)).unwrap();
        let patched = patch.apply(service.clone(), t1);
        assert_eq!(patched.price.minor_units(), 7000);
        assert_eq!(patched.name, service.name);
        assert_eq!(patched.description, service.description);
        assert_eq!((patched.created_at, patched.updated_at), (t0, t1));
        assert_eq!((service.version.get(), patched.version.get()), (1, 2));
        assert!(ServicePatch::default().is_empty());
        assert!(!patch.is_empty());
    }

    #[test]
    fn sort_parses_field_and_optional_descending_prefix() {
        let s: ServiceSort = "-price".parse().unwrap();
        assert_eq!((s.field, s.direction), (ServiceSortField::Price, SortDirection::Descending));
        let s: ServiceSort = "createdAt".parse().unwrap();
        assert_eq!((s.field, s.direction), (ServiceSortField::CreatedAt, SortDirection::Ascending));
        assert!("created_at".parse::<ServiceSort>().is_err());
        assert!("--name".parse::<ServiceSort>().is_err());
        assert!("".parse::<ServiceSort>().is_err());
    }
}
