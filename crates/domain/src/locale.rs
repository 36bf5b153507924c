//! The languages Tozalash speaks: Uzbek (Latin script), Russian and English.
//! An account keeps the one its mail is written in; `MAIL_LOCALE` is the
//! default for accounts that never chose.

use std::fmt;
use std::str::FromStr;

/// `uz` (Uzbek, Latin script), `ru` (Russian) or `en` (English).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Locale {
    Uz,
    Ru,
    En,
}

impl Locale {
    /// Every locale the app and the mail templates exist in.
    pub const ALL: [Locale; 3] = [Locale::Uz, Locale::Ru, Locale::En];

    /// The code used in the API, in `MAIL_LOCALE` and as the template folder name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Uz => "uz",
            Self::Ru => "ru",
            Self::En => "en",
        }
    }

    /// The locale an `Accept-Language` header prefers most among ours: the
    /// highest `q` wins, ties go to the earlier entry, `q=0` means "not this",
    /// and a region (`ru-RU`) or script (`uz-Latn-UZ`) counts as its language.
    /// `None` when it names none of ours (or is malformed throughout).
    pub fn from_accept_language(header: &str) -> Option<Locale> {
        let mut best: Option<(Locale, u16)> = None;
        for entry in header.split(',').take(32) {
            let mut parts = entry.split(';');
            let tag = parts.next().unwrap_or("").trim();
            let language = tag.split(['-', '_']).next().unwrap_or("");
            let Ok(locale) = language.parse::<Locale>() else { continue };
            let quality =
                parts.find_map(|p| p.trim().strip_prefix("q=").map(quality)).unwrap_or(Some(1000));
            let Some(quality) = quality.filter(|q| *q > 0) else { continue };
            if best.is_none_or(|(_, q)| quality > q) {
                best = Some((locale, quality));
            }
        }
        best.map(|(locale, _)| locale)
    }
}

/// An RFC 9110 `qvalue` in thousandths (`0.8` → 800); `None` if malformed.
fn quality(raw: &str) -> Option<u16> {
    let raw = raw.trim();
    let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value that names none of our locales.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown locale {0:?}: expected \"uz\", \"ru\" or \"en\"")]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_ones_are_refused() {
        for locale in Locale::ALL {
            assert_eq!(locale.to_string().parse::<Locale>(), Ok(locale));
        }
        assert_eq!(" RU ".parse::<Locale>(), Ok(Locale::Ru));
        assert!("kk".parse::<Locale>().is_err());
        assert!("".parse::<Locale>().is_err());
    }

    #[test]
    fn accept_language_picks_the_most_preferred_of_ours() {
        let cases = [
            ("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7", Some(Locale::Ru)),
            ("en-GB", Some(Locale::En)),
            ("uz-Latn-UZ", Some(Locale::Uz)),
            ("de-DE,de;q=0.9,en;q=0.5,ru;q=0.4", Some(Locale::En)),
            ("en;q=0.5, ru;q=0.8", Some(Locale::Ru)),
            ("en, ru", Some(Locale::En)),
            ("ru;q=0, en;q=0.1", Some(Locale::En)),
            ("ru;q=0", None),
            ("de, fr", None),
            ("*", None),
            ("", None),
            ("ru;q=2, en;q=abc, uz;q=0.3", Some(Locale::Uz)),
        ];
        for (header, expected) in cases {
            assert_eq!(Locale::from_accept_language(header), expected, "{header:?}");
        }
    }
}
