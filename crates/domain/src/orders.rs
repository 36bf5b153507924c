//! Orders: a customer books a cleaning service. An order keeps a snapshot of
//! the service's name and price, and its status only ever moves from PENDING
//! to COMPLETED or CANCELLED.

use std::fmt;
use std::str::FromStr;

use crate::catalog::{Money, ServiceName};
use crate::clock::Timestamp;
use crate::error::{FieldError, Reference, RepoError, ValidationErrors};
use crate::id::Id;
use crate::page::PageRequest;
use crate::text::check_characters;
use crate::users::Username;
use crate::version::Version;

/// A booked cleaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: Id,
    pub user_id: Id,
    /// The customer's username when the order was placed, so the order stays
    /// readable after their account is deleted. `None` only for orders placed
    /// before the snapshot existed whose customer was already gone.
    pub customer_name: Option<Username>,
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

/// What the write of a new order checks, in the same write as the insert,
/// before it stores anything (`OrderRepo::insert_with_mail`). An order and its
/// mail are made from earlier reads, some from a cache; they are stored only
/// while those reads still hold, and only for a caller whose session is live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlacementChecks {
    /// The session the order is placed in: it must be of `caller`, not
    /// revoked, and not expired at `now`.
    pub session_id: Id,
    pub caller: Id,
    pub now: Timestamp,
    /// The customer's (the order's user's) version their name and the mail's
    /// address and language were read at.
    pub customer_version: Version,
    /// The service's version its name and price were read at; it must not be
    /// archived either.
    pub service_version: Version,
}

impl PlacementChecks {
    /// Why a write that checked these stored nothing, in
    /// `OrderRepo::insert_with_mail`'s order of precedence: the session, then
    /// the service, else the customer.
    pub fn refusal(session_live: bool, service_current: bool) -> RepoError {
        match (session_live, service_current) {
            (false, _) => RepoError::SessionEnded,
            (true, false) => RepoError::MissingReference(Reference::Service),
            (true, true) => RepoError::MissingReference(Reference::User),
        }
    }
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

/// Where to clean: up to 300 characters, may span lines, never blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address(String);

impl Address {
    pub const MAX_CHARS: usize = 300;

    /// The address, trimmed; a blank one (only spaces) is no address at all.
    pub fn parse(raw: &str) -> Result<Option<Self>, FieldError> {
        bounded_text("address", raw, Self::MAX_CHARS).map(|text| text.map(Self))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Free notes for the cleaners: up to 1,000 characters, never blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notes(String);

impl Notes {
    pub const MAX_CHARS: usize = 1_000;

    /// The notes, trimmed; blank notes (only spaces) are no notes at all.
    pub fn parse(raw: &str) -> Result<Option<Self>, FieldError> {
        bounded_text("notes", raw, Self::MAX_CHARS).map(|text| text.map(Self))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Trimmed text of at most `max` characters; `None` when nothing is left.
fn bounded_text(field: &'static str, raw: &str, max: usize) -> Result<Option<String>, FieldError> {
    let text = raw.trim();
    check_characters(field, text, true)?;
    if text.chars().count() > max {
        return Err(FieldError::new(
            field,
            "too_long",
            format!("must be at most {max} characters"),
        ));
    }
    Ok((!text.is_empty()).then(|| text.to_owned()))
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

    /// Parses raw details, reporting every broken field; a blank address or
    /// blank notes clear it. Whether a visit time keeps the booking rules is
    /// for the use case to check, against its clock
    /// ([`crate::BookingRules::check_visit`]).
    pub fn parse(
        scheduled_at: Option<Option<Timestamp>>,
        address: Option<Option<&str>>,
        notes: Option<Option<&str>>,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let details = Self {
            scheduled_at,
            address: address.map(|a| a.and_then(|a| errors.check(Address::parse(a)).flatten())),
            notes: notes.map(|n| n.and_then(|n| errors.check(Notes::parse(n)).flatten())),
        };
        errors.into_result(|| details)
    }
}

/// The orders of a list in the order of creation (the default, newest first)
/// or of the visit. Ties go by id in the same direction. By visit time,
/// orders without one come first ascending and last descending, on every
/// backend (as MongoDB sorts `null`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OrderSort {
    CreatedAt,
    #[default]
    CreatedAtDesc,
    ScheduledAt,
    ScheduledAtDesc,
}

impl OrderSort {
    /// The wire spelling: `createdAt`, `-createdAt`, `scheduledAt`, `-scheduledAt`.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        match raw {
            "createdAt" => Ok(Self::CreatedAt),
            "-createdAt" => Ok(Self::CreatedAtDesc),
            "scheduledAt" => Ok(Self::ScheduledAt),
            "-scheduledAt" => Ok(Self::ScheduledAtDesc),
            _ => Err(FieldError::new(
                "sort",
                "invalid",
                "must be createdAt, -createdAt, scheduledAt or -scheduledAt",
            )),
        }
    }

    /// Whether the list goes by visit time rather than creation time.
    pub fn by_visit(self) -> bool {
        matches!(self, Self::ScheduledAt | Self::ScheduledAtDesc)
    }

    pub fn descending(self) -> bool {
        matches!(self, Self::CreatedAtDesc | Self::ScheduledAtDesc)
    }
}

/// A range `[from, to)` whose start lies after its end names nothing: a
/// mistake, not an empty list. Answers the error on the `from` parameter.
pub fn check_range(
    from_field: &'static str,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
) -> Result<(), FieldError> {
    match (from, to) {
        (Some(from), Some(to)) if from > to => {
            Err(FieldError::new(from_field, "after_end", "must not be after the end of the range"))
        }
        _ => Ok(()),
    }
}

/// Which orders to list, and in which order.
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
    /// Visit at or after (orders without a visit time never match).
    pub scheduled_from: Option<Timestamp>,
    /// Visit strictly before.
    pub scheduled_to: Option<Timestamp>,
    pub sort: OrderSort,
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
        assert!(Address::parse(&"a".repeat(300)).unwrap().is_some());
        assert_eq!(Address::parse(&"a".repeat(301)).unwrap_err().code, "too_long");
        assert!(Notes::parse("Ring twice\nThe dog is friendly").is_ok());
        assert_eq!(Notes::parse(&"n".repeat(1_001)).unwrap_err().code, "too_long");
        assert_eq!(Notes::parse("a\u{0}").unwrap_err().code, "invalid_characters");
    }

    #[test]
    fn blank_address_and_notes_are_absent() {
        assert_eq!(Address::parse("  \n\t ").unwrap(), None);
        assert_eq!(Notes::parse("").unwrap(), None);
        assert_eq!(Address::parse(" Chilonzor 9 ").unwrap().unwrap().as_str(), "Chilonzor 9");
        let d = OrderDetails::parse(None, Some(Some("   ")), Some(Some(" "))).unwrap();
        assert_eq!((d.address, d.notes), (Some(None), Some(None)), "blank clears");
    }

    #[test]
    fn sorts_have_four_spellings_and_ranges_must_not_run_backwards() {
        for (raw, sort) in [
            ("createdAt", OrderSort::CreatedAt),
            ("-createdAt", OrderSort::CreatedAtDesc),
            ("scheduledAt", OrderSort::ScheduledAt),
            ("-scheduledAt", OrderSort::ScheduledAtDesc),
        ] {
            assert_eq!(OrderSort::parse(raw), Ok(sort));
        }
        assert_eq!(OrderSort::default(), OrderSort::CreatedAtDesc);
        assert_eq!(OrderSort::parse("price").unwrap_err().field, "sort");
        let (t1, t2) = (crate::clock::at(1), crate::clock::at(2));
        assert!(check_range("createdFrom", Some(t1), Some(t2)).is_ok());
        assert!(check_range("createdFrom", Some(t1), Some(t1)).is_ok());
        assert!(check_range("createdFrom", None, Some(t1)).is_ok());
        let err = check_range("scheduledFrom", Some(t2), Some(t1)).unwrap_err();
        assert_eq!((err.field.as_ref(), err.code), ("scheduledFrom", "after_end"));
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
