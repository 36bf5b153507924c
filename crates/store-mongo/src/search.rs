//! Searching stored text: a client's search term becomes a regex that
//! matches it literally, never a pattern of the client's choosing.

/// Escapes `term` so that a MongoDB (PCRE) regex matches it literally. Every
/// ASCII punctuation character is escaped, a superset of the metacharacters
/// (`\ ^ $ . | ? * + ( ) [ ] { }`, plus `-` and `#` which matter inside classes
/// and in extended mode): PCRE reads a backslash before any non-alphanumeric
/// character as that character itself, so over-escaping is always safe, and
/// under-escaping would let a client's search run a pattern.
pub(crate) fn escape_regex(term: &str) -> String {
    let mut escaped = String::with_capacity(term.len() * 2);
    for c in term.chars() {
        if c.is_ascii_punctuation() {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_regex_escapes_every_metacharacter() {
        assert_eq!(escape_regex(r"\^$.|?*+()[]{}-#"), r"\\\^\$\.\|\?\*\+\(\)\[\]\{\}\-\#");
    }

    #[test]
    fn escape_regex_keeps_letters_digits_spaces_and_non_ascii() {
        assert_eq!(escape_regex("deep clean 2 ўзбек 🧽"), "deep clean 2 ўзбек 🧽");
        assert_eq!(escape_regex("100% a_b"), r"100\% a\_b");
    }
}
