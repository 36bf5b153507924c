//! Helpers shared by the integration tests: a rendered mail to send and a
//! real MIME parser to read the result back.

#![allow(dead_code, clippy::unwrap_used)]

use mail_parser::{MessageParser, MimeHeaders};
use tozalash_domain::{Email, MailKind, MailRenderer, MailRequest, RenderedMail};
use tozalash_mailer::{Locale, Templates};

pub const FROM: &str = "Tozalash <no-reply@localhost>";
pub const LINK: &str = "http://127.0.0.1:8080/verify-email?token=Zm9vYmFy-secret&lang=uz";

/// A verification mail for `to`, rendered from the real templates.
pub fn rendered(locale: Locale, kind: MailKind, to: &str, username: &str) -> RenderedMail {
    Templates::new(locale)
        .render(&MailRequest {
            kind,
            to: Email::parse("to", to).unwrap(),
            username: username.to_owned(),
            link: LINK.to_owned(),
            detail: String::new(),
            locale: None,
            order: None,
        })
        .unwrap()
}

/// What the tests check of a message, decoded by a MIME parser.
#[derive(Debug)]
pub struct Parsed {
    pub from_name: Option<String>,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub content_type: String,
    pub text: String,
    pub html: String,
    pub message_id: Option<String>,
}

pub fn parse(raw: &[u8]) -> Parsed {
    let message = MessageParser::default().parse(raw).expect("the message parses as RFC 5322");
    let from = message.from().and_then(|a| a.first()).expect("a From");
    let content_type = message.content_type().expect("a Content-Type");
    Parsed {
        from_name: from.name().map(str::to_owned),
        from: from.address().unwrap().to_owned(),
        to: message
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .expect("a To")
            .to_owned(),
        subject: message.subject().expect("a Subject").to_owned(),
        content_type: format!(
            "{}/{}",
            content_type.ctype(),
            content_type.subtype().unwrap_or_default()
        ),
        text: message.body_text(0).expect("a text part").into_owned(),
        html: message.body_html(0).expect("an HTML part").into_owned(),
        message_id: message.message_id().map(str::to_owned),
    }
}

/// Checks `parsed` is `mail` sent from [`FROM`], both parts intact.
pub fn assert_same_mail(parsed: &Parsed, mail: &RenderedMail) {
    assert_eq!(parsed.content_type, "multipart/alternative");
    assert_eq!(parsed.from_name.as_deref(), Some("Tozalash"));
    assert_eq!(parsed.from, "no-reply@localhost");
    assert_eq!(parsed.to, mail.to.as_str());
    assert_eq!(parsed.subject, mail.subject);
    assert_eq!(parsed.text.replace("\r\n", "\n").trim_end(), mail.text.trim_end());
    assert_eq!(parsed.html.replace("\r\n", "\n").trim_end(), mail.html.trim_end());
    assert!(parsed.text.contains(LINK));
    assert!(parsed.html.contains("token=Zm9vYmFy-secret&amp;lang=uz"));
    assert!(parsed.message_id.is_some(), "lettre sets a Message-ID");
}
