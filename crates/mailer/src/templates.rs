//! The mail templates: files under `templates/mail/<kind>/<locale>/`, embedded
//! at compile time and rendered with minijinja.

use std::fmt;

use minijinja::{context, AutoEscape, Environment, UndefinedBehavior};
use tozalash_domain::error::BoxError;
pub use tozalash_domain::{Locale, UnknownLocale};
use tozalash_domain::{MailKind, MailRenderer, MailRequest, RenderedMail};

use crate::message::single_line;

/// Names an embedded template file, relative to `templates/mail/`, and
/// includes its text at compile time.
macro_rules! template {
    ($path:literal) => {
        ($path, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../templates/mail/", $path)))
    };
}

/// Every template file, keyed by `<kind>/<locale>/<part>`.
const TEMPLATES: [(&str, &str); 61] = [
    // The frame every body.html extends.
    template!("layout.html"),
    // What every order mail ends with, included by them.
    template!("order_facts/uz/body.txt"),
    template!("order_facts/uz/body.html"),
    template!("order_facts/ru/body.txt"),
    template!("order_facts/ru/body.html"),
    template!("order_facts/en/body.txt"),
    template!("order_facts/en/body.html"),
    template!("verify_email/uz/subject.txt"),
    template!("verify_email/uz/body.txt"),
    template!("verify_email/uz/body.html"),
    template!("verify_email/ru/subject.txt"),
    template!("verify_email/ru/body.txt"),
    template!("verify_email/ru/body.html"),
    template!("verify_email/en/subject.txt"),
    template!("verify_email/en/body.txt"),
    template!("verify_email/en/body.html"),
    template!("reset_password/uz/subject.txt"),
    template!("reset_password/uz/body.txt"),
    template!("reset_password/uz/body.html"),
    template!("reset_password/ru/subject.txt"),
    template!("reset_password/ru/body.txt"),
    template!("reset_password/ru/body.html"),
    template!("reset_password/en/subject.txt"),
    template!("reset_password/en/body.txt"),
    template!("reset_password/en/body.html"),
    template!("email_changed/uz/subject.txt"),
    template!("email_changed/uz/body.txt"),
    template!("email_changed/uz/body.html"),
    template!("email_changed/ru/subject.txt"),
    template!("email_changed/ru/body.txt"),
    template!("email_changed/ru/body.html"),
    template!("email_changed/en/subject.txt"),
    template!("email_changed/en/body.txt"),
    template!("email_changed/en/body.html"),
    template!("order_placed/uz/subject.txt"),
    template!("order_placed/uz/body.txt"),
    template!("order_placed/uz/body.html"),
    template!("order_placed/ru/subject.txt"),
    template!("order_placed/ru/body.txt"),
    template!("order_placed/ru/body.html"),
    template!("order_placed/en/subject.txt"),
    template!("order_placed/en/body.txt"),
    template!("order_placed/en/body.html"),
    template!("order_completed/uz/subject.txt"),
    template!("order_completed/uz/body.txt"),
    template!("order_completed/uz/body.html"),
    template!("order_completed/ru/subject.txt"),
    template!("order_completed/ru/body.txt"),
    template!("order_completed/ru/body.html"),
    template!("order_completed/en/subject.txt"),
    template!("order_completed/en/body.txt"),
    template!("order_completed/en/body.html"),
    template!("order_cancelled/uz/subject.txt"),
    template!("order_cancelled/uz/body.txt"),
    template!("order_cancelled/uz/body.html"),
    template!("order_cancelled/ru/subject.txt"),
    template!("order_cancelled/ru/body.txt"),
    template!("order_cancelled/ru/body.html"),
    template!("order_cancelled/en/subject.txt"),
    template!("order_cancelled/en/body.txt"),
    template!("order_cancelled/en/body.html"),
];

/// The embedded source of the template `name`.
fn source(name: &str) -> Option<&'static str> {
    TEMPLATES.iter().find(|(known, _)| *known == name).map(|(_, source)| *source)
}

/// Renders mail from the embedded templates in one locale. Each template sees
/// `username`, `link` and `detail`; the `.html` parts are HTML-escaped, the `.txt` parts
/// are not, and the subject is collapsed to a single line.
pub struct Templates {
    env: Environment<'static>,
    locale: Locale,
}

impl Templates {
    pub fn new(locale: Locale) -> Self {
        let mut env = Environment::new();
        // A misspelt variable is an error, not a silently empty string.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.set_formatter(|out, state, value| {
            // minijinja's HTML escaping also turns `/` into `&#x2f;`, which is
            // valid but makes every link in the markup unreadable; escape the
            // five characters that matter instead.
            if matches!(state.auto_escape(), AutoEscape::Html) && !value.is_safe() {
                if let Some(text) = value.as_str() {
                    return Ok(write_html_escaped(out, text)?);
                }
            }
            minijinja::escape_formatter(out, state, value)
        });
        // Each template is compiled when a mail first needs it, and kept: a
        // server that sends only order mails in one language holds a handful
        // of the 61 (compiled, they took about 2 MiB of heap). The sources are
        // compiled in, and the tests compile every one
        // (`every_embedded_template_compiles`), so a syntax error cannot reach
        // a release build.
        env.set_loader(|name| Ok(source(name)));
        Self { env, locale }
    }

    pub fn locale(&self) -> Locale {
        self.locale
    }

    fn part(&self, kind: MailKind, part: &str, request: &MailRequest) -> Result<String, BoxError> {
        // The recipient's language, or the service's default (`MAIL_LOCALE`).
        let locale = request.locale.unwrap_or(self.locale);
        let name = format!("{}/{}/{part}", kind.as_str(), locale.as_str());
        let rendered = self.env.get_template(&name)?.render(context! {
            username => request.username.as_str(),
            link => request.link.as_str(),
            detail => request.detail.as_str(),
            order => request.order.as_ref().map(|o| context! {
                service => o.service.as_str(),
                visit => o.visit.as_deref(),
                address => o.address.as_deref(),
                price => o.price.as_str(),
                by_admin => o.by_admin,
            }),
        })?;
        Ok(rendered)
    }
}

/// Writes `text` with `&`, `<`, `>`, `"` and `'` as character references:
/// safe in element content and in quoted attribute values.
fn write_html_escaped(out: &mut impl fmt::Write, text: &str) -> fmt::Result {
    let mut rest = text;
    while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
        out.write_str(&rest[..at])?;
        out.write_str(match rest.as_bytes()[at] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            _ => "&#39;",
        })?;
        rest = &rest[at + 1..];
    }
    out.write_str(rest)
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Templates").field("locale", &self.locale).finish_non_exhaustive()
    }
}

impl MailRenderer for Templates {
    fn render(&self, request: &MailRequest) -> Result<RenderedMail, BoxError> {
        Ok(RenderedMail {
            to: request.to.clone(),
            subject: single_line(&self.part(request.kind, "subject.txt", request)?),
            text: self.part(request.kind, "body.txt", request)?,
            html: self.part(request.kind, "body.html", request)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use tozalash_domain::Email;

    use super::*;

    const KINDS: [MailKind; 3] =
        [MailKind::VerifyEmail, MailKind::ResetPassword, MailKind::EmailChanged];

    fn request(kind: MailKind, username: &str) -> MailRequest {
        MailRequest {
            kind,
            to: Email::parse("to", "aziza@example.uz").expect("valid email"),
            username: username.to_owned(),
            link: "https://tozalash.example/verify?token=abc123&x=1".to_owned(),
            detail: String::new(),
            locale: None,
            order: None,
        }
    }

    fn order_request(kind: MailKind, by_admin: bool, visit: Option<&str>) -> MailRequest {
        MailRequest {
            link: "https://tozalash.example/#/orders".to_owned(),
            order: Some(tozalash_domain::OrderFacts {
                service: "Gilam <yuvish>".to_owned(),
                visit: visit.map(str::to_owned),
                address: Some("Chilonzor 9, 12".to_owned()),
                price: "40 000 UZS".to_owned(),
                by_admin,
            }),
            ..request(kind, "aziza_90")
        }
    }

    #[test]
    fn every_order_mail_shows_the_order_in_every_locale() {
        let kinds = [MailKind::OrderPlaced, MailKind::OrderCompleted, MailKind::OrderCancelled];
        for locale in Locale::ALL {
            let templates = Templates::new(locale);
            for kind in kinds {
                let label = format!("{kind:?}/{locale}");
                let visit = Some("2026-12-02 10:00 (Asia/Tashkent)");
                let mail = templates.render(&order_request(kind, false, visit)).expect("renders");
                assert!(mail.subject.contains("Gilam <yuvish>"), "{label}: {}", mail.subject);
                for part in [&mail.text, &mail.html] {
                    assert!(part.contains("aziza_90"), "{label}");
                    assert!(part.contains("2026-12-02 10:00 (Asia/Tashkent)"), "{label}");
                    assert!(part.contains("40 000 UZS"), "{label}");
                    assert!(part.contains("Chilonzor 9, 12"), "{label}");
                    assert!(part.contains("https://tozalash.example/#/orders"), "{label}");
                }
                assert!(mail.text.contains("Gilam <yuvish>"), "{label}");
                assert!(mail.html.contains("Gilam &lt;yuvish&gt;"), "{label}: escaped");
                let unscheduled = templates.render(&order_request(kind, false, None));
                let unscheduled = unscheduled.expect("renders without a visit time");
                assert!(!unscheduled.text.contains("Asia/Tashkent"), "{label}");
            }
            let by_admin = templates
                .render(&order_request(MailKind::OrderCancelled, true, None))
                .expect("renders");
            let by_customer = templates
                .render(&order_request(MailKind::OrderCancelled, false, None))
                .expect("renders");
            assert_ne!(by_admin.text, by_customer.text, "{locale}: says by whom");
        }
    }

    #[test]
    fn every_embedded_template_compiles() {
        let templates = Templates::new(Locale::En);
        for (name, _) in TEMPLATES {
            if let Err(e) = templates.env.get_template(name) {
                panic!("{name}: {e:#}");
            }
        }
        assert!(templates.env.get_template("order_placed/xx/body.txt").is_err());
    }

    #[test]
    fn the_recipients_locale_wins_over_the_default() {
        let uz = Templates::new(Locale::Uz);
        let default = uz.render(&request(MailKind::VerifyEmail, "aziza")).expect("renders");
        let russian =
            MailRequest { locale: Some(Locale::Ru), ..request(MailKind::VerifyEmail, "aziza") };
        let chosen = uz.render(&russian).expect("renders");
        let ru = Templates::new(Locale::Ru).render(&request(MailKind::VerifyEmail, "aziza"));
        assert_eq!(chosen.subject, ru.expect("renders").subject);
        assert_ne!(chosen.subject, default.subject);
    }

    #[test]
    fn locale_parses_from_mail_locale_values() {
        assert_eq!("uz".parse::<Locale>(), Ok(Locale::Uz));
        assert_eq!("en".parse::<Locale>(), Ok(Locale::En));
        assert_eq!(" EN ".parse::<Locale>(), Ok(Locale::En));
        assert_eq!("ru".parse::<Locale>(), Ok(Locale::Ru));
        assert_eq!("kk".parse::<Locale>(), Err(UnknownLocale("kk".to_owned())));
        assert!("".parse::<Locale>().is_err());
        for locale in Locale::ALL {
            assert_eq!(locale.to_string().parse::<Locale>(), Ok(locale));
        }
    }

    #[test]
    fn every_kind_and_locale_renders_the_link_and_the_username() {
        for locale in Locale::ALL {
            let templates = Templates::new(locale);
            for kind in KINDS {
                let mail = templates.render(&request(kind, "aziza_90")).expect("renders");
                let label = format!("{kind:?}/{locale}");
                assert_eq!(mail.to.as_str(), "aziza@example.uz");
                assert!(!mail.subject.is_empty(), "{label}: empty subject");
                assert!(mail.subject.contains("Tozalash"), "{label}: {}", mail.subject);
                // The text part shows the link as is.
                assert!(
                    mail.text.contains("https://tozalash.example/verify?token=abc123&x=1"),
                    "{label}: text lacks the link"
                );
                assert!(mail.text.contains("aziza_90"), "{label}: text lacks the username");
                // The HTML part has it in the href, `&` escaped as it must be.
                assert!(
                    mail.html
                        .contains(r#"href="https://tozalash.example/verify?token=abc123&amp;x=1""#),
                    "{label}: html lacks the link"
                );
                assert!(mail.html.contains("aziza_90"), "{label}: html lacks the username");
                assert!(mail.html.starts_with("<!DOCTYPE html>"), "{label}");
                assert!(mail.html.contains(&format!(r#"<html lang="{locale}">"#)), "{label}");
            }
        }
    }

    #[test]
    fn the_change_notice_names_the_new_address_escaped_in_html() {
        for locale in Locale::ALL {
            let mut notice = request(MailKind::EmailChanged, "aziza");
            notice.detail = "new<b>@example.uz".to_owned();
            let mail = Templates::new(locale).render(&notice).expect("renders");
            assert!(mail.text.contains("new<b>@example.uz"), "{locale}: {}", mail.text);
            assert!(mail.html.contains("new&lt;b&gt;@example.uz"), "{locale}");
        }
    }

    #[test]
    fn templates_state_how_long_the_link_is_valid() {
        let cases = [
            (Locale::En, MailKind::VerifyEmail, "24 hours"),
            (Locale::En, MailKind::ResetPassword, "30 minutes"),
            (Locale::Uz, MailKind::VerifyEmail, "24 soat"),
            (Locale::Uz, MailKind::ResetPassword, "30 daqiqa"),
            (Locale::Ru, MailKind::VerifyEmail, "24 часа"),
            (Locale::Ru, MailKind::ResetPassword, "30 минут"),
        ];
        for (locale, kind, ttl) in cases {
            let mail = Templates::new(locale).render(&request(kind, "aziza")).expect("renders");
            assert!(mail.text.contains(ttl), "{kind:?}/{locale}: text lacks {ttl}");
            assert!(mail.html.contains(ttl), "{kind:?}/{locale}: html lacks {ttl}");
        }
    }

    #[test]
    fn locales_are_really_different_languages() {
        let uz = Templates::new(Locale::Uz)
            .render(&request(MailKind::VerifyEmail, "aziza"))
            .expect("renders");
        let en = Templates::new(Locale::En)
            .render(&request(MailKind::VerifyEmail, "aziza"))
            .expect("renders");
        assert!(uz.text.contains("Assalomu alaykum"));
        assert!(en.text.contains("Hi aziza"));
        assert_ne!(uz.subject, en.subject);
    }

    #[test]
    fn html_escapes_the_username_but_text_keeps_it() {
        let evil = r#"<script>alert("x")</script>&"#;
        for locale in Locale::ALL {
            let templates = Templates::new(locale);
            for kind in KINDS {
                let mail = templates.render(&request(kind, evil)).expect("renders");
                assert!(!mail.html.contains("<script>"), "{kind:?}/{locale}: unescaped");
                assert!(
                    mail.html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;"),
                    "{kind:?}/{locale}: {}",
                    mail.html
                );
                assert!(mail.text.contains(evil), "{kind:?}/{locale}: text was escaped");
            }
        }
    }

    #[test]
    fn subject_is_a_single_line_even_with_a_hostile_username() {
        for locale in Locale::ALL {
            let templates = Templates::new(locale);
            for kind in KINDS {
                let mail = templates
                    .render(&request(kind, "eve\r\nBcc: victim@example.com\r\n"))
                    .expect("renders");
                assert!(
                    !mail.subject.contains(['\r', '\n']),
                    "{kind:?}/{locale}: {:?}",
                    mail.subject
                );
                assert_eq!(mail.subject, mail.subject.trim());
            }
        }
    }

    #[test]
    fn html_escaping_covers_the_five_special_characters() {
        let mut out = String::new();
        write_html_escaped(&mut out, r#"a&b<c>d"e'f/g ʻ"#).expect("writes");
        assert_eq!(out, "a&amp;b&lt;c&gt;d&quot;e&#39;f/g ʻ");
    }

    #[test]
    fn a_hostile_link_cannot_break_out_of_the_href() {
        let mut hostile = request(MailKind::ResetPassword, "aziza");
        hostile.link = r#"https://x.test/" onclick="alert(1)"#.to_owned();
        let mail = Templates::new(Locale::En).render(&hostile).expect("renders");
        assert!(!mail.html.contains(r#"" onclick="#), "{}", mail.html);
        assert!(mail.html.contains("&quot; onclick=&quot;alert(1)"));
    }

    #[test]
    fn every_embedded_template_parses() {
        let templates = Templates::new(Locale::En);
        for (name, _) in TEMPLATES {
            templates.env.get_template(name).expect("template is registered");
        }
    }
}
