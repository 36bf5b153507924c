//! Rules shared by every free-text field: what characters may be stored, and how
//! text is folded for case-insensitive search and sorting.

use crate::error::FieldError;

/// Text [`check_characters`] accepts on one line, as a JSON Schema pattern: no
/// control character (Unicode `Cc`, what `char::is_control` means) and no
/// [disguising](is_disguising) one.
pub const SINGLE_LINE_PATTERN: &str =
    r"^[^\u0000-\u001F\u007F-\u009F\u200B\u202A-\u202E\u2060\u2066-\u2069\uFEFF]*$";

/// Text [`check_characters`] accepts across lines: the same, but tab, line feed
/// and carriage return are allowed.
pub const MULTI_LINE_PATTERN: &str = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u200B\u202A-\u202E\u2060\u2066-\u2069\uFEFF]*$";

/// Refuses characters that have no business in stored text: NUL (which Postgres
/// cannot store at all) and other control characters, and the invisible
/// characters that disguise text ([`is_disguising`]). `multiline` allows tab,
/// line feed and carriage return.
pub(crate) fn check_characters(
    field: &'static str,
    value: &str,
    multiline: bool,
) -> Result<(), FieldError> {
    let bad = value.chars().any(|c| {
        (c.is_control() && !(multiline && matches!(c, '\t' | '\n' | '\r'))) || is_disguising(c)
    });
    if bad {
        Err(FieldError::new(
            field,
            "invalid_characters",
            "must not contain control, bidirectional-override or zero-width characters",
        ))
    } else {
        Ok(())
    }
}

/// Invisible characters that make text read other than it is stored: the
/// bidirectional embeddings, overrides and isolates (U+202A–202E,
/// U+2066–2069), which can reverse what an administrator sees, and the
/// zero-width space, word joiner and byte-order mark (U+200B, U+2060, U+FEFF),
/// which make two names look alike. ZWJ and ZWNJ (U+200C, U+200D) stay: some
/// scripts and emoji need them.
pub fn is_disguising(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200B}' | '\u{2060}' | '\u{FEFF}')
}

/// The one folding used for case-insensitive search and name order on every
/// backend: Unicode lower case. Stored beside the text it folds, so SQLite (whose
/// `lower()` only knows ASCII), Postgres and MongoDB all compare the same bytes.
pub fn fold(text: &str) -> String {
    text.to_lowercase()
}

/// A case-insensitive "contains" search term, already folded. Empty after
/// trimming means "no search".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText {
    folded: String,
    key: String,
}

impl SearchText {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(field: &'static str, raw: &str) -> Result<Option<Self>, FieldError> {
        let trimmed = raw.trim();
        check_characters(field, trimmed, false)?;
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(FieldError::new(field, "too_long", "must be at most 100 characters"));
        }
        Ok((!trimmed.is_empty())
            .then(|| Self { folded: fold(trimmed), key: crate::keys::search_key(trimmed) }))
    }

    /// The folded term; adapters match it against a folded column, literally
    /// (wildcards in it are escaped, not interpreted).
    pub fn folded(&self) -> &str {
        &self.folded
    }

    /// The term as a catalogue search key ([`crate::keys::search_key`]): what
    /// adapters match, literally, against a service's stored search key. May be
    /// empty (a term of apostrophes only), which matches every service.
    pub fn key(&self) -> &str {
        &self.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_lowers_non_ascii_letters_too() {
        assert_eq!(fold("UYNI TOZALASH Ўзбек"), "uyni tozalash ўзбек");
    }

    #[test]
    fn search_text_is_trimmed_folded_and_empty_means_none() {
        assert_eq!(SearchText::parse("q", "  Deep ").unwrap().unwrap().folded(), "deep");
        assert_eq!(SearchText::parse("q", "   ").unwrap(), None);
        assert_eq!(SearchText::parse("q", "a\u{0}b").unwrap_err().code, "invalid_characters");
        assert_eq!(SearchText::parse("q", &"x".repeat(101)).unwrap_err().code, "too_long");
    }

    #[test]
    fn bidi_overrides_and_zero_width_characters_are_refused_but_joiners_kept() {
        for c in
            ['\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}', '\u{200B}', '\u{2060}', '\u{FEFF}']
        {
            let text = format!("Gilam{c}yuvish");
            let err = check_characters("f", &text, true).expect_err("disguising");
            assert_eq!(err.code, "invalid_characters", "{c:?}");
        }
        assert!(check_characters("f", "👩\u{200D}🔧 a\u{200C}b", false).is_ok());
    }

    /// The characters the one negated class of a `^[^…]*$` pattern refuses,
    /// written as `\uXXXX` and `\uXXXX-\uXXXX`.
    fn refused_by(pattern: &str) -> Vec<(u32, u32)> {
        let class = pattern.strip_prefix("^[^").and_then(|p| p.strip_suffix("]*$"));
        let mut ranges = Vec::new();
        let mut start = None;
        for token in class.expect("a ^[^…]*$ pattern").split(r"\u").skip(1) {
            let point = u32::from_str_radix(token.trim_end_matches('-'), 16).expect("hex");
            match (start.take(), token.ends_with('-')) {
                (None, true) => start = Some(point),
                (None, false) => ranges.push((point, point)),
                (Some(from), _) => ranges.push((from, point)),
            }
        }
        ranges
    }

    /// The patterns the API documents refuse exactly what the rule refuses.
    #[test]
    fn the_patterns_say_what_check_characters_refuses() {
        for (pattern, multiline) in [(SINGLE_LINE_PATTERN, false), (MULTI_LINE_PATTERN, true)] {
            let refused = refused_by(pattern);
            for c in (0..=0x10FFFF).filter_map(char::from_u32) {
                let by_pattern =
                    refused.iter().any(|&(from, to)| (from..=to).contains(&(c as u32)));
                let by_rule = check_characters("f", &c.to_string(), multiline).is_err();
                assert_eq!(by_pattern, by_rule, "{c:?} in {pattern}");
            }
        }
    }

    #[test]
    fn control_characters_are_refused_unless_multiline_allows_them() {
        assert!(check_characters("f", "a\nb", false).is_err());
        assert!(check_characters("f", "a\nb\tc\r", true).is_ok());
        assert!(check_characters("f", "a\u{7}b", true).is_err());
    }
}
