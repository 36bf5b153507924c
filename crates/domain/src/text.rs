//! Rules shared by every free-text field: what characters may be stored, and how
//! text is folded for case-insensitive search and sorting.

use crate::error::FieldError;

/// Refuses characters that have no business in stored text: NUL (which Postgres
/// cannot store at all) and other control characters. `multiline` allows tab,
/// line feed and carriage return.
pub(crate) fn check_characters(
    field: &'static str,
    value: &str,
    multiline: bool,
) -> Result<(), FieldError> {
    let bad =
        value.chars().any(|c| c.is_control() && !(multiline && matches!(c, '\t' | '\n' | '\r')));
    if bad {
        Err(FieldError::new(field, "invalid_characters", "must not contain control characters"))
    } else {
        Ok(())
    }
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
pub struct SearchText(String);

impl SearchText {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(field: &'static str, raw: &str) -> Result<Option<Self>, FieldError> {
        let trimmed = raw.trim();
        check_characters(field, trimmed, false)?;
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(FieldError::new(field, "too_long", "must be at most 100 characters"));
        }
        Ok((!trimmed.is_empty()).then(|| Self(fold(trimmed))))
    }

    /// The folded term; adapters match it against a folded column, literally
    /// (wildcards in it are escaped, not interpreted).
    pub fn folded(&self) -> &str {
        &self.0
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
    fn control_characters_are_refused_unless_multiline_allows_them() {
        assert!(check_characters("f", "a\nb", false).is_err());
        assert!(check_characters("f", "a\nb\tc\r", true).is_ok());
        assert!(check_characters("f", "a\u{7}b", true).is_err());
    }
}
