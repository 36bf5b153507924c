//! Tozalash's mail adapters (DESIGN.md §6).
//!
//! * [`Templates`] renders a [`MailRequest`](tozalash_domain::MailRequest) into
//!   a subject, a text part and an HTML part from the files under
//!   `templates/mail/<kind>/<locale>/`, embedded in the binary at compile time
//!   and rendered with minijinja (the HTML part is auto-escaped).
//! * [`SmtpMailer`] delivers through an SMTP server (`SMTP_URL`) with lettre
//!   on tokio, TLS by rustls.
//! * [`FileMailer`] is the development mailer used when no SMTP server is
//!   configured: it writes each message as an `.eml` file and logs its link.
//!
//! Both mailers send a `multipart/alternative` message (text + HTML) and never
//! log a message body: the links in it carry secret tokens. (The development
//! mailer's log line with the link is the one deliberate exception.)

mod file;
mod message;
mod smtp;
mod templates;

pub use file::FileMailer;
pub use smtp::SmtpMailer;
pub use templates::{Locale, Templates, UnknownLocale};
