//! Building the MIME message both mailers send.

use lettre::message::{Mailbox, MultiPart};
use lettre::Message;
use tozalash_domain::error::BoxError;
use tozalash_domain::RenderedMail;

/// Collapses `text` to one line: every control character (CR, LF, tab, …) is
/// replaced by a space, runs of whitespace are squeezed and the ends trimmed.
/// A subject is a header value: a line break in it could inject headers.
pub(crate) fn single_line(text: &str) -> String {
    text.split(|c: char| c.is_control() || c.is_whitespace())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses a sender such as `Tozalash <no-reply@localhost>` (`MAIL_FROM`).
pub(crate) fn parse_from(from: &str) -> Result<Mailbox, BoxError> {
    from.trim().parse::<Mailbox>().map_err(|e| format!("invalid MAIL_FROM {from:?}: {e}").into())
}

/// The `multipart/alternative` message (text, then HTML) from `from` to the
/// mail's recipient.
pub(crate) fn build(from: &Mailbox, mail: &RenderedMail) -> Result<Message, BoxError> {
    let to: Mailbox =
        mail.to.as_str().parse().map_err(|e| format!("invalid recipient address: {e}"))?;
    // `<random@sender's domain>`, as RFC 5322 suggests; it does not leak the
    // host name of the machine that sent it.
    let message_id = format!("<{:032x}@{}>", rand::random::<u128>(), from.email.domain());
    let message = Message::builder()
        .message_id(Some(message_id))
        .from(from.clone())
        .to(to)
        .subject(single_line(&mail.subject))
        .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))?;
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line_removes_line_breaks_and_controls() {
        assert_eq!(
            single_line("  Hello\r\nBcc: evil@example.com\n\tthere \u{0} "),
            "Hello Bcc: evil@example.com there"
        );
        assert_eq!(single_line("\r\n"), "");
        assert_eq!(single_line("Parolni tiklash"), "Parolni tiklash");
    }

    #[test]
    fn parses_the_default_sender() {
        let from = parse_from("Tozalash <no-reply@localhost>").expect("valid sender");
        assert_eq!(from.name.as_deref(), Some("Tozalash"));
        assert_eq!(from.email.to_string(), "no-reply@localhost");
        assert!(parse_from("not an address").is_err());
    }
}
