//! Customers and administrators: who they are, how they are named and reached,
//! and the rules their credentials follow.

use std::fmt;

use crate::auth::Role;
use crate::clock::Timestamp;
use crate::error::{FieldError, ValidationErrors};
use crate::id::Id;
use crate::locale::Locale;
use crate::page::PageRequest;
use crate::text::SearchText;
use crate::version::Version;

/// A person with an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Id,
    pub username: Username,
    pub email: Email,
    /// A new address the owner asked for and has not proven yet. Until its
    /// verification link is followed, `email` stays the account's address for
    /// login, resets and notices.
    pub pending_email: Option<Email>,
    pub password_hash: PasswordHash,
    pub role: Role,
    pub is_verified: bool,
    /// The language the account's mail is written in; `None` (an account made
    /// before accounts had one) means the service's default, `MAIL_LOCALE`.
    pub locale: Option<Locale>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Raised by one with every write that changes what the API shows of the
    /// account (updates, password changes, confirmed addresses); the API's `ETag`.
    pub version: Version,
}

/// An e-mail address, normalised to lower case. At most 254 characters, one
/// `@`, a dotted domain of letters, digits and hyphens, no spaces or control
/// characters (so it can never smuggle a header into a mail).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub const MAX_CHARS: usize = 254;

    pub fn parse(field: &'static str, raw: &str) -> Result<Self, FieldError> {
        let invalid = || FieldError::new(field, "invalid_email", "must be a valid e-mail address");
        let email = raw.trim().to_lowercase();
        if email.chars().count() > Self::MAX_CHARS {
            return Err(FieldError::new(field, "too_long", "must be at most 254 characters"));
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let local_ok = (1..=64).contains(&local.len())
            && local.bytes().all(|b| b.is_ascii_graphic() && !b"\"(),:;<>@[\\]".contains(&b))
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && domain.len() <= 253
            && labels.iter().all(|label| {
                (1..=63).contains(&label.len())
                    && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
            && labels
                .last()
                .is_some_and(|tld| tld.len() >= 2 && !tld.bytes().all(|b| b.is_ascii_digit()));
        if local_ok && domain_ok {
            Ok(Self(email))
        } else {
            Err(invalid())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

/// A username: 3 to 32 ASCII letters, digits, `_`, `.` or `-`. Shown as given;
/// unique regardless of case (see [`Username::folded`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, FieldError> {
        let name = raw.trim();
        if !(3..=32).contains(&name.len()) {
            return Err(FieldError::new(field, "invalid_length", "must be 3 to 32 characters"));
        }
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
            return Err(FieldError::new(
                field,
                "invalid_characters",
                "may hold only letters, digits, '_', '.' and '-'",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lower-case form uniqueness is enforced on, so `Alice` and `alice`
    /// cannot both exist.
    pub fn folded(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// A password as typed: 8 to 128 characters, never truncated, not a common
/// password, not the account's username or e-mail. Its `Debug` hides it.
#[derive(Clone)]
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    /// Checks a new password for the account named by `username` and `email`.
    pub fn parse_new(
        field: &'static str,
        raw: &str,
        username: &Username,
        email: &Email,
    ) -> Result<Self, FieldError> {
        let password = Self::parse_strength(field, raw)?;
        let lower = raw.to_lowercase();
        if lower == username.folded() || lower == email.as_str() || lower == email_local(email) {
            return Err(FieldError::new(
                field,
                "too_personal",
                "must not be your username or e-mail",
            ));
        }
        Ok(password)
    }

    /// The rules that need no account: length and commonness.
    fn parse_strength(field: &'static str, raw: &str) -> Result<Self, FieldError> {
        let length = raw.chars().count();
        if length < Self::MIN_CHARS {
            return Err(FieldError::new(field, "too_short", "must be at least 8 characters"));
        }
        if length > Self::MAX_CHARS {
            return Err(FieldError::new(field, "too_long", "must be at most 128 characters"));
        }
        if is_common(&raw.to_lowercase()) {
            return Err(FieldError::new(
                field,
                "too_common",
                "is one of the most common passwords",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A password offered to log in: only the length bound, so nothing long is
    /// ever hashed and nothing is truncated.
    pub fn parse_attempt(field: &'static str, raw: &str) -> Result<Self, FieldError> {
        if raw.is_empty() {
            return Err(FieldError::new(field, "required", "must not be empty"));
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(FieldError::new(field, "too_long", "must be at most 128 characters"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A password no account has, verified in place of one that was refused
    /// before hashing, so a refusal takes as long as a wrong password.
    pub fn stand_in() -> Self {
        Self("\u{0}stand-in\u{0}".to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

fn email_local(email: &Email) -> &str {
    email.as_str().split('@').next().unwrap_or_default()
}

/// Whether `lower` is on the embedded list of common passwords. A scan of
/// its 8,400 lines takes tens of microseconds, on paths (signup, a new
/// password) that then hash for some 20 ms; a set built from it would keep
/// about 280 KiB of heap for the life of the process.
fn is_common(lower: &str) -> bool {
    include_str!("../data/common-passwords.txt")
        .lines()
        .any(|line| line == lower && !line.starts_with('#'))
}

/// A password hash in PHC string format (`$argon2id$v=19$m=…`).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn from_phc(phc: String) -> Self {
        Self(phc)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(***)")
    }
}

/// What signing up asks for.
#[derive(Debug, Clone)]
pub struct Signup {
    pub username: Username,
    pub email: Email,
    pub password: Password,
    /// The language of the account's mail; `None` for the service's default.
    pub locale: Option<Locale>,
}

impl Signup {
    /// The same signup, in `locale`.
    pub fn with_locale(self, locale: Option<Locale>) -> Self {
        Self { locale, ..self }
    }

    pub fn parse(username: &str, email: &str, password: &str) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let username = errors.check(Username::parse("username", username));
        let email = errors.check(Email::parse("email", email));
        let password = match (&username, &email) {
            (Some(u), Some(e)) => errors.check(Password::parse_new("password", password, u, e)),
            _ => errors.check(Password::parse_strength("password", password)),
        };
        match (username, email, password) {
            (Some(username), Some(email), Some(password)) => {
                Ok(Self { username, email, password, locale: None })
            }
            _ => Err(errors),
        }
    }
}

/// A change to a user. The caller decides which fields they may set (see
/// `UserService`); `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPatch {
    pub username: Option<Username>,
    pub email: Option<Email>,
    /// `Some(Some(e))` sets the pending address, `Some(None)` clears it.
    pub pending_email: Option<Option<Email>>,
    pub password_hash: Option<PasswordHash>,
    pub role: Option<Role>,
    pub is_verified: Option<bool>,
    pub locale: Option<Locale>,
}

impl UserPatch {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Which users to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserQuery {
    pub page: PageRequest,
    pub role: Option<Role>,
    pub verified: Option<bool>,
    /// Keeps users whose username or e-mail contains this, case-insensitively.
    pub search: Option<SearchText>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(s: &str) -> Email {
        Email::parse("email", s).expect("valid e-mail")
    }

    fn username(s: &str) -> Username {
        Username::parse("username", s).expect("valid username")
    }

    #[test]
    fn email_is_trimmed_and_lower_cased() {
        assert_eq!(email("  Ali.Valiyev+tag@Example.UZ ").as_str(), "ali.valiyev+tag@example.uz");
    }

    #[test]
    fn malformed_e_mails_are_refused() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@b .com",
            "a@-b.com",
            "a@b-.com",
            "a..b@c.com",
            ".a@c.com",
            "a@c.123",
            "a@c.d",
            "a\r\nBcc: x@y.com@c.com",
            "a@c.com\r\nBcc: x@y.com",
            "a\u{0}@c.com",
            "a@b_c.com",
        ] {
            assert!(Email::parse("email", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn e_mails_longer_than_254_characters_are_refused() {
        let long = format!("{}@{}.com", "a".repeat(64), "b".repeat(200));
        assert_eq!(Email::parse("email", &long).unwrap_err().code, "too_long");
    }

    #[test]
    fn usernames_are_3_to_32_plain_ascii_characters() {
        assert_eq!(username("ali_v.99-x").as_str(), "ali_v.99-x");
        assert_eq!(username("Ali").folded(), "ali");
        for bad in ["ab", &"a".repeat(33), "ali valiyev", "alí", "a@b", "<script>"] {
            assert!(Username::parse("username", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_are_8_to_128_characters_and_never_truncated() {
        let (u, e) = (username("ali"), email("ali@example.uz"));
        assert_eq!(Password::parse_new("p", "short7!", &u, &e).unwrap_err().code, "too_short");
        let long = "Zx9!".repeat(32);
        assert_eq!(Password::parse_new("p", &long, &u, &e).expect("128 chars").expose(), long);
        let too_long = format!("{long}x");
        assert_eq!(Password::parse_new("p", &too_long, &u, &e).unwrap_err().code, "too_long");
        assert_eq!(Password::parse_attempt("p", &too_long).unwrap_err().code, "too_long");
    }

    #[test]
    fn common_passwords_are_refused_in_any_case() {
        let (u, e) = (username("ali"), email("ali@example.uz"));
        for common in ["password", "Password1", "12345678", "qwertyuiop", "ILOVEYOU"] {
            let err = Password::parse_new("p", common, &u, &e);
            assert!(matches!(err, Err(ref e) if e.code == "too_common"), "{common}");
        }
        assert!(Password::parse_new("p", "Gilam-yuvish-2026!", &u, &e).is_ok());
    }

    #[test]
    fn a_password_equal_to_the_username_or_e_mail_is_refused() {
        let (u, e) = (username("ZarinaK99"), email("zarina.k.1999@example.uz"));
        for personal in ["zarinak99", "ZARINAK99", "zarina.k.1999@example.uz", "zarina.k.1999"] {
            assert_eq!(
                Password::parse_new("p", personal, &u, &e).unwrap_err().code,
                "too_personal",
                "{personal}"
            );
        }
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let p = Password::parse_attempt("p", "hunter2-secret").expect("valid");
        assert!(!format!("{p:?}").contains("hunter2"));
        let h = PasswordHash::from_phc("$argon2id$v=19$secret".into());
        assert!(!format!("{h:?}").contains("secret"));
    }

    #[test]
    fn signup_reports_every_broken_field() {
        let err = Signup::parse("a", "not-an-email", "x").unwrap_err();
        let fields: Vec<_> = err.errors().iter().map(|e| e.field.as_ref()).collect();
        assert_eq!(fields, ["username", "email", "password"]);
    }
}
