//! The mail templates: files under `templates/mail/<kind>/<locale>/`, embedded
//! at compile time and rendered with minijinja.

use std::fmt;
use std::str::FromStr;

use minijinja::{context, AutoEscape, Environment, UndefinedBehavior};
use tozalash_domain::error::BoxError;
use tozalash_domain::{MailKind, MailRenderer, MailRequest, RenderedMail};

use crate::message::single_line;

/// The language mail is written in (`MAIL_LOCALE`): `uz` (Uzbek, Latin
/// script), `ru` (Russian) or `en`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Locale {
    Uz,
    Ru,
    En,
}

impl Locale {
    /// Every locale templates exist for.
    pub const ALL: [Locale; 3] = [Locale::Uz, Locale::Ru, Locale::En];

    /// The code used in `MAIL_LOCALE` and as the template folder name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Uz => "uz",
            Self::Ru => "ru",
            Self::En => "en",
        }
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `MAIL_LOCALE` value that names no known locale.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown mail locale {0:?}: expected \"uz\", \"ru\" or \"en\"")]
pub struct UnknownLocale(pub String);

impl FromStr for Locale {
    type Err = UnknownLocale;

    /// Parses `uz`, `ru` or `en` (ignoring case and surrounding blanks).
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let code = raw.trim();
        Self::ALL
            .into_iter()
            .find(|locale| locale.as_str().eq_ignore_ascii_case(code))
            .ok_or_else(|| UnknownLocale(raw.to_owned()))
    }
}

/// Names an embedded template file, relative to `templates/mail/`, and
/// includes its text at compile time.
macro_rules! template {
    ($path:literal) => {
        ($path, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../templates/mail/", $path)))
    };
}

/// Every template file, keyed by `<kind>/<locale>/<part>`.
const TEMPLATES: [(&str, &str); 27] = [
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
];

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
        for (name, source) in TEMPLATES {
            // The sources are compiled in and every one is parsed by the tests,
            // so a syntax error here cannot reach a release build.
            #[allow(clippy::expect_used)]
            env.add_template(name, source)
                .expect("the embedded mail templates are valid minijinja");
        }
        Self { env, locale }
    }

    pub fn locale(&self) -> Locale {
        self.locale
    }

    fn part(&self, kind: MailKind, part: &str, request: &MailRequest) -> Result<String, BoxError> {
        let name = format!("{}/{}/{part}", kind.as_str(), self.locale.as_str());
        let rendered = self.env.get_template(&name)?.render(context! {
            username => request.username.as_str(),
            link => request.link.as_str(),
            detail => request.detail.as_str(),
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
        }
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
