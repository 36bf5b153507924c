//! Delivery through an SMTP server with lettre's async transport on tokio.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::transport::smtp;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tozalash_domain::error::BoxError;
use tozalash_domain::{Mailer, RenderedMail, SendError};

use crate::message;

/// How long connecting may take, by default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends mail through the SMTP server of `SMTP_URL`:
///
/// * `smtp://host:port`: plain SMTP (a local relay, a test server);
/// * `smtp://host:port?tls=required`: STARTTLS, refusing to go on without it;
/// * `smtps://host:port`: TLS from the first byte (implicit TLS);
/// * `smtp://user:password@host…`: with AUTH (percent-encode special characters).
///
/// Certificates are checked against the Mozilla roots (webpki-roots). Every
/// send opens a connection, delivers and quits. Connecting is bounded by the
/// timeout (10 s by default) and the whole delivery by three times it. The
/// password never appears in `Debug` output nor in errors.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// `SMTP_URL` without its credentials, for `Debug`.
    endpoint: String,
    /// Bound on one whole delivery (connect, TLS, AUTH, MAIL, RCPT, DATA).
    deadline: Duration,
}

impl SmtpMailer {
    /// A mailer for `smtp_url` (see the type's docs) sending as `from`
    /// (`MAIL_FROM`, e.g. `Tozalash <no-reply@localhost>`).
    pub fn new(smtp_url: &str, from: &str) -> Result<Self, BoxError> {
        Self::with_timeout(smtp_url, from, DEFAULT_TIMEOUT)
    }

    /// Like [`SmtpMailer::new`], with `timeout` for connecting and three times
    /// it for a whole delivery.
    pub fn with_timeout(smtp_url: &str, from: &str, timeout: Duration) -> Result<Self, BoxError> {
        let endpoint = redact(smtp_url);
        let from = message::parse_from(from)?;
        // lettre's errors name neither the URL nor its password.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url.trim())
            .map_err(|e| format!("invalid SMTP_URL {endpoint}: {e}"))?
            .timeout(Some(timeout))
            .build();
        Ok(Self { transport, from, endpoint, deadline: timeout.saturating_mul(3) })
    }

    /// Bounds a whole delivery by `deadline` too (whichever is shorter), so
    /// that it fits inside the outbox lease that guards it.
    #[must_use]
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = self.deadline.min(deadline);
        self
    }
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("endpoint", &self.endpoint)
            .field("from", &self.from.to_string())
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &RenderedMail) -> Result<(), SendError> {
        let message = message::build(&self.from, mail).map_err(SendError::Permanent)?;
        match tokio::time::timeout(self.deadline, self.transport.send(message)).await {
            Ok(Ok(response)) => {
                tracing::debug!(
                    to = mail.to.as_str(),
                    code = %response.code(),
                    "mail accepted by the SMTP server"
                );
                Ok(())
            }
            Ok(Err(error)) => Err(classify(error)),
            Err(_elapsed) => Err(SendError::Transient(
                format!("SMTP delivery via {} took longer than {:?}", self.endpoint, self.deadline)
                    .into(),
            )),
        }
    }
}

/// Only a 5xx reply is permanent. Everything else (refused or dropped
/// connections, timeouts, 4xx replies, TLS or protocol trouble) may heal, so
/// the outbox should try again later.
fn classify(error: smtp::Error) -> SendError {
    if error.is_permanent() {
        SendError::Permanent(Box::new(error))
    } else {
        SendError::Transient(Box::new(error))
    }
}

/// `url` without the `user:password@` part, e.g. `smtps://mail.example.com:465`.
fn redact(url: &str) -> String {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let tail = tail.split_once('#').map_or(tail, |(before, _)| before);
    if scheme.is_empty() {
        format!("{host}{tail}")
    } else {
        format!("{scheme}://{host}{tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_drops_the_credentials() {
        assert_eq!(redact("smtp://127.0.0.1:2525"), "smtp://127.0.0.1:2525");
        assert_eq!(
            redact("smtp://user:s3cr%40t@mail.example.com:587?tls=required"),
            "smtp://mail.example.com:587?tls=required"
        );
        assert_eq!(redact("smtps://a@b:p@ss@host"), "smtps://host");
        assert_eq!(redact("user:pw@host"), "host");
    }

    #[test]
    fn a_deadline_only_ever_shortens_a_delivery() {
        let mailer = SmtpMailer::new("smtp://127.0.0.1:2525", "a@b.uz").expect("valid");
        assert_eq!(mailer.deadline, Duration::from_secs(30));
        let within_lease = mailer.clone().with_deadline(Duration::from_millis(1_500));
        assert_eq!(within_lease.deadline, Duration::from_millis(1_500));
        assert_eq!(mailer.with_deadline(Duration::from_secs(45)).deadline, Duration::from_secs(30));
    }

    #[tokio::test]
    async fn debug_and_errors_hide_the_password() {
        let mailer = SmtpMailer::new(
            "smtp://alice:s3cret-pw@127.0.0.1:2525",
            "Tozalash <no-reply@localhost>",
        )
        .expect("valid configuration");
        let debug = format!("{mailer:?}");
        assert!(!debug.contains("s3cret-pw"), "{debug}");
        assert!(debug.contains("smtp://127.0.0.1:2525"), "{debug}");

        let error = SmtpMailer::new(
            "ftp://alice:s3cret-pw@127.0.0.1:2525",
            "Tozalash <no-reply@localhost>",
        )
        .expect_err("unknown scheme");
        assert!(!error.to_string().contains("s3cret-pw"), "{error}");
        assert!(!format!("{error:?}").contains("s3cret-pw"), "{error:?}");
    }

    #[tokio::test]
    async fn accepts_every_documented_url_form() {
        for url in [
            "smtp://localhost:25",
            "smtp://localhost:587?tls=required",
            "smtps://localhost:465",
            "smtp://user:pass@localhost",
            "smtps://user:p%40ss@smtp.example.com",
        ] {
            SmtpMailer::new(url, "Tozalash <no-reply@localhost>")
                .unwrap_or_else(|e| panic!("{url}: {e}"));
        }
        assert!(SmtpMailer::new("not a url", "Tozalash <no-reply@localhost>").is_err());
        assert!(SmtpMailer::new("smtp://localhost:25", "nobody").is_err());
    }
}
