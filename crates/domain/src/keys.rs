//! The keys a catalogue name is stored under, computed here once so that every
//! backend compares the same bytes: the name key (what makes two names "the
//! same name") and the search key (what a search in either of Uzbek's
//! alphabets matches).
//!
//! Both start from the same normal form: Unicode NFKC (so compatibility look-alikes
//! such as full-width letters or the `ﬁ` ligature become their plain letters),
//! full case folding (upper then lower case, so `ß` and `SS` agree), no invisible
//! characters ([`is_invisible`]) and one space between words.

use unicode_normalization::UnicodeNormalization;

/// The apostrophe look-alikes Uzbek is typed with: the official modifier letters
/// ʻ (U+02BB, in oʻ and gʻ) and ʼ (U+02BC, the tutuq belgisi), and what keyboards
/// give instead: ' ’ ‘ ` ´ ′ ʹ ʽ.
pub fn is_apostrophe(c: char) -> bool {
    matches!(
        c,
        '\u{02BB}'
            | '\u{02BC}'
            | '\''
            | '\u{2019}'
            | '\u{2018}'
            | '`'
            | '\u{00B4}'
            | '\u{2032}'
            | '\u{02B9}'
            | '\u{02BD}'
    )
}

/// Characters that show nothing on their own: white space and Unicode's default
/// ignorable code points (soft hyphen, zero-width space/joiners, bidirectional
/// marks, word joiner, invisible operators, variation selectors, tags…), and the
/// blank "letters" that render as space (Hangul fillers, the braille blank).
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFF8}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// Whether `text` has at least one character that shows.
pub fn has_visible(text: &str) -> bool {
    text.chars().any(|c| !is_invisible(c))
}

/// NFKC, full case folding, invisible characters dropped and white space
/// runs made one space, trimmed. Apostrophes are left as they are.
fn normal_form(text: &str) -> String {
    let folded: String = text.nfkc().collect::<String>().to_uppercase().to_lowercase();
    let mut out = String::with_capacity(folded.len());
    let mut pending_space = false;
    for c in folded.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
        } else if !is_invisible(c) {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
    out
}

/// What makes two service names the same name: equal name keys. The normal form,
/// with every apostrophe look-alike written `'` ("Taʼmir" and "Ta'mir" are one
/// name). The alphabet counts: "Gilam" and "Гилам" are two names, because a
/// business may well list a service in both.
pub fn name_key(text: &str) -> String {
    normal_form(text).chars().map(|c| if is_apostrophe(c) { '\'' } else { c }).collect()
}

/// What a search matches: the normal form written in Uzbek Latin (Cyrillic
/// transliterated by the official correspondence), without apostrophes.
///
/// Dropping the apostrophes makes every look-alike agree, and lets a customer
/// who types none ("ozbek", "gisht") still find "Oʻzbek" and "Gʻisht"; a search
/// is a substring match, so it is more useful forgiving than strict.
///
/// A search term folded by this function is a substring of a name's key
/// whenever the term's text is a substring of the name, except across the
/// few context rules of the transliteration (`е` is `ye` at the start of a
/// word and after a vowel).
pub fn search_key(text: &str) -> String {
    let normal = normal_form(text);
    let mut out = String::with_capacity(normal.len());
    let mut previous: Option<char> = None;
    for c in normal.chars() {
        if is_apostrophe(c) {
            previous = Some(c);
            continue;
        }
        match latin(c) {
            Some(latin) => {
                if c == 'е' && starts_syllable(previous) {
                    out.push('y');
                }
                out.push_str(latin);
            }
            None => out.push(c),
        }
        previous = Some(c);
    }
    out
}

/// Whether a Cyrillic `е` after `previous` is written `ye`: at the start of a
/// word, and after a vowel, `ъ` or `ь`.
fn starts_syllable(previous: Option<char>) -> bool {
    match previous {
        None => true,
        Some(p) => {
            !p.is_alphabetic()
                || matches!(
                    p,
                    'а' | 'е'
                        | 'ё'
                        | 'и'
                        | 'о'
                        | 'у'
                        | 'ў'
                        | 'э'
                        | 'ю'
                        | 'я'
                        | 'ы'
                        | 'ъ'
                        | 'ь'
                        | 'a'
                        | 'e'
                        | 'i'
                        | 'o'
                        | 'u'
                )
        }
    }
}

/// A lower-case Cyrillic letter in Uzbek Latin, by the official correspondence
/// (with the Russian letters Uzbek Cyrillic text borrows); `None` for anything else.
fn latin(c: char) -> Option<&'static str> {
    Some(match c {
        'а' => "a",
        'б' => "b",
        'в' => "v",
        'г' => "g",
        'д' => "d",
        'е' | 'э' => "e",
        'ё' => "yo",
        'ж' => "j",
        'з' => "z",
        'и' => "i",
        'й' => "y",
        'к' => "k",
        'л' => "l",
        'м' => "m",
        'н' => "n",
        'о' => "o",
        'п' => "p",
        'р' => "r",
        'с' => "s",
        'т' => "t",
        'у' => "u",
        'ф' => "f",
        'х' => "x",
        'ц' => "ts",
        'ч' => "ch",
        'ш' | 'щ' => "sh",
        'ы' => "i",
        'ъ' | 'ь' => "",
        'ю' => "yu",
        'я' => "ya",
        'ў' => "o",
        'қ' => "q",
        'ғ' => "g",
        'ҳ' => "h",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_keys_agree_across_case_space_width_and_apostrophes() {
        let cases = [
            ("Umumiy tozalash", "umumiy tozalash"),
            ("  UMUMIY   TOZALASH  ", "umumiy tozalash"),
            ("Umumiy\u{00A0}tozalash", "umumiy tozalash"),
            ("Umumiy\u{200B}tozalash", "umumiytozalash"),
            ("Ｕｍｕｍｉｙ", "umumiy"),
            ("Taʼmir", "ta'mir"),
            ("Ta’mir", "ta'mir"),
            ("Ta`mir", "ta'mir"),
            ("Gʻisht", "g'isht"),
            ("STRASSE", "strasse"),
            ("Straße", "strasse"),
            ("ГИЛАМ Ўзбек", "гилам ўзбек"),
        ];
        for (name, key) in cases {
            assert_eq!(name_key(name), key, "{name:?}");
        }
        // The alphabet and the apostrophe itself still count.
        assert_ne!(name_key("Gilam"), name_key("Гилам"));
        assert_ne!(name_key("Ta'mir"), name_key("Tamir"));
    }

    #[test]
    fn search_keys_meet_in_latin_without_apostrophes() {
        let cases = [
            ("Taʼmirdan keyingi tozalash", "tamirdan keyingi tozalash"),
            ("ta'mir", "tamir"),
            ("ta’mir", "tamir"),
            ("ta‘mir", "tamir"),
            ("ta`mir", "tamir"),
            ("Gʻisht devor", "gisht devor"),
            ("g'isht", "gisht"),
            ("Gilam yuvish", "gilam yuvish"),
            ("гилам", "gilam"),
            ("Шкаф", "shkaf"),
            ("чой", "choy"),
            ("Ўзбек", "ozbek"),
            ("oʻzbek", "ozbek"),
            ("ғишт", "gisht"),
            ("ҳовли", "hovli"),
            ("қозон", "qozon"),
            ("Хона", "xona"),
            ("Янги", "yangi"),
            ("ёз", "yoz"),
            ("юviш", "yuvish"),
            ("цех", "tsex"),
            ("Етти", "yetti"),
            ("поезд", "poyezd"),
            ("тозалаш", "tozalash"),
            ("таъмир", "tamir"),
            ("  Ko'P   QAVATLI  ", "kop qavatli"),
        ];
        for (text, key) in cases {
            assert_eq!(search_key(text), key, "{text:?}");
        }
    }

    #[test]
    fn what_a_customer_types_is_found_in_the_name() {
        let finds = [
            ("ta'mir", "Taʼmirdan keyingi tozalash"),
            ("ta’mir", "Taʼmirdan keyingi tozalash"),
            ("ta‘mir", "Taʼmirdan keyingi tozalash"),
            ("g'isht", "Gʻisht devorlarni yuvish"),
            ("гилам", "Gilam yuvish"),
            ("shkaf", "Шкаф ичини тозалаш"),
            ("тозалаш", "Umumiy tozalash"),
        ];
        for (query, name) in finds {
            assert!(search_key(name).contains(&search_key(query)), "{query:?} in {name:?}");
        }
    }

    #[test]
    fn invisible_characters_are_told_apart_from_visible_ones() {
        for blank in
            ["", "   ", "\u{200B}\u{200C}\u{200D}", "\u{2800}", "\u{3164}\u{FEFF}", "\u{00AD}"]
        {
            assert!(!has_visible(blank), "{blank:?}");
        }
        for visible in ["a", " ʻ ", "👩\u{200D}🔧", "Ў"] {
            assert!(has_visible(visible), "{visible:?}");
        }
    }
}
