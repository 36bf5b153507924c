//! Orders: a customer books a cleaning service. An order keeps a snapshot of
//! the service's name and price, and its status only ever moves from PENDING
//! to COMPLETED or CANCELLED.

use std::fmt;
use std::str::FromStr;

use crate::catalog::{Money, ServiceName};
use crate::clock::Timestamp;
use crate::error::{FieldError, ValidationErrors};
use crate::id::Id;
use crate::page::PageRequest;
use crate::text::check_characters;
use crate::version::Version;

/// A booked cleaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: Id,
    pub user_id: Id,
    pub service_id: Id,
    /// The service's name when the order was placed.
    pub service_name: ServiceName,
    /// The service's price when the order was placed.
    pub price: Money,
    pub status: OrderStatus,
    pub scheduled_at: Option<Timestamp>,
    pub address: Option<Address>,
    pub notes: Option<Notes>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Raised by one with every status change and edit; the API's `ETag`.
    pub version: Version,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    Pending,
    Completed,
    Cancelled,
}

/// A status move the business does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an order cannot move from {from} to {to}")]
pub struct InvalidTransition {
    pub from: OrderStatus,
    pub to: OrderStatus,
}

impl OrderStatus {
    pub const ALL: [Self; 3] = [Self::Pending, Self::Completed, Self::Cancelled];

    /// The one rule of the status machine: only PENDING moves, and only to
    /// COMPLETED or CANCELLED. Terminal states are final.
    pub fn transition(self, to: Self) -> Result<Self, InvalidTransition> {
        match (self, to) {
            (Self::Pending, Self::Completed | Self::Cancelled) => Ok(to),
            _ => Err(InvalidTransition { from: self, to }),
        }
    }

    /// The wire and storage spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Completed => "COMPLETED",
            Self::Cancelled => "CANCELLED",
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown order status")]
pub struct UnknownStatus;

impl FromStr for OrderStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|status| status.as_str() == s).ok_or(UnknownStatus)
    }
}

/// Where to clean: up to 300 characters, may span lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address(String);

impl Address {
    pub const MAX_CHARS: usize = 300;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        bounded_text("address", raw, Self::MAX_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Free notes for the cleaners: up to 1,000 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notes(String);

impl Notes {
    pub const MAX_CHARS: usize = 1_000;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        bounded_text("notes", raw, Self::MAX_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn bounded_text(field: &'static str, raw: &str, max: usize) -> Result<String, FieldError> {
    let text = raw.trim();
    check_characters(field, text, true)?;
    if text.chars().count() > max {
        return Err(FieldError::new(
            field,
            "too_long",
            format!("must be at most {max} characters"),
        ));
    }
    Ok(text.to_owned())
}

/// A visit time must lie in the future when it is set.
pub fn check_scheduled_at(at: Timestamp, now: Timestamp) -> Result<Timestamp, FieldError> {
    if at > now {
        Ok(at)
    } else {
        Err(FieldError::new("scheduledAt", "in_the_past", "must be in the future"))
    }
}

/// The details a customer gives, and may edit while the order is PENDING.
/// For each field, `None` means "not given"; `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderDetails {
    pub scheduled_at: Option<Option<Timestamp>>,
    pub address: Option<Option<Address>>,
    pub notes: Option<Option<Notes>>,
}

impl OrderDetails {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Parses raw details, reporting every broken field. Whether a visit time
    /// lies in the future is for the use case to check, against its clock
    /// ([`check_scheduled_at`]).
    pub fn parse(
        scheduled_at: Option<Option<Timestamp>>,
        address: Option<Option<&str>>,
        notes: Option<Option<&str>>,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let details = Self {
            scheduled_at,
            address: address.map(|a| a.and_then(|a| errors.check(Address::parse(a)))),
            notes: notes.map(|n| n.and_then(|n| errors.check(Notes::parse(n)))),
        };
        errors.into_result(|| details)
    }
}

/// Which orders to list, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderQuery {
    pub page: PageRequest,
    /// Only this customer's orders (always set for a customer).
    pub user_id: Option<Id>,
    pub status: Option<OrderStatus>,
    pub service_id: Option<Id>,
    /// Created at or after.
    pub created_from: Option<Timestamp>,
    /// Created strictly before.
    pub created_to: Option<Timestamp>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::{Cancelled, Completed, Pending};

    #[test]
    fn only_pending_orders_move_and_only_to_completed_or_cancelled() {
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                let legal = matches!((from, to), (Pending, Completed) | (Pending, Cancelled));
                assert_eq!(from.transition(to).is_ok(), legal, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn statuses_round_trip_through_their_spelling() {
        for status in OrderStatus::ALL {
            assert_eq!(status.as_str().parse::<OrderStatus>(), Ok(status));
        }
        assert_eq!("pending".parse::<OrderStatus>(), Err(UnknownStatus));
    }

    #[test]
    fn address_and_notes_are_bounded() {
        assert!(Address::parse(&"a".repeat(300)).is_ok());
        assert_eq!(Address::parse(&"a".repeat(301)).unwrap_err().code, "too_long");
        assert!(Notes::parse("Ring twice\nThe dog is friendly").is_ok());
        assert_eq!(Notes::parse(&"n".repeat(1_001)).unwrap_err().code, "too_long");
        assert_eq!(Notes::parse("a\u{0}").unwrap_err().code, "invalid_characters");
    }

    #[test]
    fn a_visit_must_be_scheduled_in_the_future() {
        let now = chrono::DateTime::from_timestamp_millis(10_000).unwrap();
        let past = chrono::DateTime::from_timestamp_millis(9_999).unwrap();
        let future = chrono::DateTime::from_timestamp_millis(10_001).unwrap();
        assert_eq!(check_scheduled_at(past, now).unwrap_err().code, "in_the_past");
        assert_eq!(check_scheduled_at(now, now).unwrap_err().code, "in_the_past");
        assert_eq!(check_scheduled_at(future, now), Ok(future));
    }

    #[test]
    fn details_distinguish_not_given_from_cleared() {
        let d = OrderDetails::parse(None, Some(None), Some(Some("hi"))).unwrap();
        assert_eq!(d.scheduled_at, None);
        assert_eq!(d.address, Some(None));
        assert_eq!(d.notes.unwrap().unwrap().as_str(), "hi");
        assert!(OrderDetails::default().is_empty());
    }
}
