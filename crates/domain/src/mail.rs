//! Mail the business sends: what it is about (verification, password reset),
//! how it is rendered, and the port that delivers it.

use std::fmt;

use crate::error::BoxError;
use crate::users::Email;

/// The kinds of mail Tozalash sends. Each has a template folder of the same
/// name (`verify_email`, `reset_password`, `email_changed`) with a subject, a
/// text and an HTML part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailKind {
    VerifyEmail,
    ResetPassword,
    /// The notice an account's old address gets when the address changes.
    EmailChanged,
    /// A customer's confirmation that their order is placed.
    OrderPlaced,
    /// The customer hears that the visit is done.
    OrderCompleted,
    /// The customer hears that the order is cancelled, and by whom.
    OrderCancelled,
}

impl MailKind {
    /// Every kind, as stored (`as_str`) and read back (`from_str`).
    pub const ALL: [MailKind; 6] = [
        Self::VerifyEmail,
        Self::ResetPassword,
        Self::EmailChanged,
        Self::OrderPlaced,
        Self::OrderCompleted,
        Self::OrderCancelled,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
            Self::EmailChanged => "email_changed",
            Self::OrderPlaced => "order_placed",
            Self::OrderCompleted => "order_completed",
            Self::OrderCancelled => "order_cancelled",
        }
    }
}

/// Whether a mail carrying a link (verification, reset) may go to an account
/// now: see [`UserRepo::claim_mail_slot`](crate::ports::UserRepo::claim_mail_slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailSlot {
    /// The slot was free and is now taken at the given `now`: send.
    Claimed,
    /// A mail went at `last` (within the interval): do not send.
    Taken { last: crate::clock::Timestamp },
    /// There is no such account.
    NoUser,
}

/// A mail to compose: its kind, recipient and the values its template shows.
#[derive(Clone, PartialEq, Eq)]
pub struct MailRequest {
    pub kind: MailKind,
    pub to: Email,
    pub username: String,
    /// The link the recipient follows (carries a secret token); the
    /// service's address for a notice.
    pub link: String,
    /// What else the kind shows: the new address of an e-mail change notice;
    /// empty otherwise.
    pub detail: String,
    /// The recipient's language; `None` for the service's default.
    pub locale: Option<crate::Locale>,
    /// What an order mail tells about the order; `None` for other kinds.
    pub order: Option<OrderFacts>,
}

/// An order as its mail shows it, already formatted for the reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFacts {
    pub service: String,
    /// The visit time in the business's time zone, e.g. `2026-12-02 10:00
    /// (Asia/Tashkent)`; `None` for a visit still to be agreed.
    pub visit: Option<String>,
    pub address: Option<String>,
    /// The price with its currency, e.g. `800 000 UZS`.
    pub price: String,
    /// Whether an administrator (not the customer) made the change.
    pub by_admin: bool,
}

impl OrderFacts {
    /// The facts of `order`, its visit shown in `zone`.
    pub fn of(order: &crate::Order, zone: chrono_tz::Tz, by_admin: bool) -> Self {
        Self {
            service: order.service_name.as_str().to_owned(),
            visit: order
                .scheduled_at
                .map(|at| format!("{} ({zone})", at.with_timezone(&zone).format("%Y-%m-%d %H:%M"))),
            address: order.address.as_ref().map(|a| a.as_str().to_owned()),
            price: format_price(order.price),
            by_admin,
        }
    }
}

/// Whole so'm with thin groups of three (`800 000 UZS`); tiyin only when
/// there are any (`1 234,50 UZS`).
fn format_price(price: crate::Money) -> String {
    let minor = price.minor_units();
    let whole = (minor / 100).to_string();
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(' ');
        }
        grouped.push(digit);
    }
    match minor % 100 {
        0 => format!("{grouped} UZS"),
        tiyin => format!("{grouped},{tiyin:02} UZS"),
    }
}

#[cfg(test)]
mod order_facts_tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_what_is_stored() {
        for kind in MailKind::ALL {
            assert_eq!(kind.as_str().parse::<MailKind>(), Ok(kind));
        }
        assert_eq!("order_lost".parse::<MailKind>(), Err(()));
    }

    #[test]
    fn prices_are_grouped_so_m_with_tiyin_only_when_there_are_any() {
        let price = |minor| format_price(crate::Money::parse("price", minor).expect("valid"));
        assert_eq!(price(80_000_000), "800 000 UZS");
        assert_eq!(price(123_450), "1 234,50 UZS");
        assert_eq!(price(0), "0 UZS");
        assert_eq!(price(5), "0,05 UZS");
        assert_eq!(price(100_000_000_000), "1 000 000 000 UZS");
    }
}

impl fmt::Debug for MailRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailRequest")
            .field("kind", &self.kind)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

/// A rendered mail, ready to send.
#[derive(Clone, PartialEq, Eq)]
pub struct RenderedMail {
    pub to: Email,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl fmt::Debug for RenderedMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RenderedMail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Turns a [`MailRequest`] into a [`RenderedMail`] from the template files, in
/// the configured language.
#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait MailRenderer: Send + Sync {
    fn render(&self, request: &MailRequest) -> Result<RenderedMail, BoxError>;
}

/// Why a delivery failed: worth retrying later, or never going to work.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The server is down, slow, or answered 4xx: retry with backoff.
    #[error("temporary delivery failure")]
    Transient(#[source] BoxError),
    /// The server refused for good (5xx), or the mail cannot be built.
    #[error("permanent delivery failure")]
    Permanent(#[source] BoxError),
}

/// Delivers one rendered mail (SMTP, or files in development).
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait::async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, mail: &RenderedMail) -> Result<(), SendError>;
}

/// A rendered mail waiting in the outbox, or sent, or given up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: crate::id::Id,
    pub kind: MailKind,
    pub mail: RenderedMail,
    pub status: OutboxStatus,
    /// Delivery attempts made so far.
    pub attempts: u32,
    /// When the worker may next try it (also its lease while claimed).
    pub next_attempt_at: crate::clock::Timestamp,
    pub created_at: crate::clock::Timestamp,
    pub last_error: Option<String>,
}

/// Proof that a worker holds a message it claimed: a fresh random value
/// stored with the message by each claim, and required by every write that
/// follows it ([`Outbox::renew`](crate::ports::Outbox::renew), `mark_sent`,
/// `retry_later`, `mark_dead`, `release`). A worker whose lease ran out and
/// whose message another worker claimed since holds a token that no longer
/// matches, so its writes change nothing.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClaimToken(String);

impl ClaimToken {
    /// A new token: 128 random bits as 32 lowercase hexadecimal characters.
    pub fn generate() -> Self {
        Self(format!("{:032x}", rand::random::<u128>()))
    }

    /// A token as stored (adapters read it back with this).
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClaimToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClaimToken({})", self.0)
    }
}

/// A message a worker claimed, with the token its follow-up writes need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedMessage {
    pub message: OutboxMessage,
    pub token: ClaimToken,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxStatus {
    Pending,
    Sent,
    /// Given up after the retry window; visible in logs and metrics.
    Dead,
}

impl OutboxStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Sent => "SENT",
            Self::Dead => "DEAD",
        }
    }
}

impl std::str::FromStr for OutboxStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        [Self::Pending, Self::Sent, Self::Dead].into_iter().find(|k| k.as_str() == s).ok_or(())
    }
}

impl std::str::FromStr for MailKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|k| k.as_str() == s).ok_or(())
    }
}
