//! Names people type (display names, workspace names, key labels): trimmed,
//! stored in Unicode NFC, free of control, invisible and bidi-control
//! characters (which can hide text or reverse the text around them in
//! messages and the audit log), and compared for uniqueness through a key
//! that ignores case and look-alike letters (Unicode TR39): a Cyrillic
//! “Cаfé” beside a Latin “Café” is the same name to a reader, whatever it
//! names (a workspace, hub key, dataset, collection, entity, source, team).
use unicode_normalization::UnicodeNormalization;

/// The sentences one kind of name is refused with.
pub struct NameRules {
    pub max_chars: usize,
    pub empty: &'static str,
    pub too_long: &'static str,
    pub invisible: &'static str,
}

/// Bidi_Control characters (UAX #9): they reorder the text around them.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Default_Ignorable_Code_Point characters (DerivedCoreProperties.txt) that
/// render as nothing: zero-width spaces and joiners, word joiners, soft
/// hyphens, fillers, tags. Variation selectors (emoji presentation) are allowed.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200D}'
            | '\u{2060}'..='\u{2065}'
            | '\u{206A}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// True when `c` may appear in a name.
pub fn is_allowed_char(c: char) -> bool {
    !(c.is_control() || is_bidi_control(c) || is_invisible(c))
}

/// Trims, checks and NFC-normalises a name.
pub fn clean_name(input: &str, rules: &NameRules) -> Result<String, &'static str> {
    let s: String = input.trim().nfc().collect();
    if s.is_empty() {
        return Err(rules.empty);
    }
    if s.chars().count() > rules.max_chars {
        return Err(rules.too_long);
    }
    if !s.chars().all(is_allowed_char) {
        return Err(rules.invisible);
    }
    Ok(s)
}

/// NFC and case folded (lower-casing after NFKC, which also folds
/// full-width forms): names sort and are searched by it, and a dataset's
/// column names must differ in it.
pub fn name_key(name: &str) -> String {
    name.nfkc().flat_map(char::to_lowercase).collect::<String>().nfc().collect()
}

/// Two names with the same look key are the same name to a reader:
/// `name_key`, then the TR39 confusable skeleton, so "Acme", "acme" and
/// Cyrillic "Аcme" collide. Stored (`look_key`, unique per workspace) beside
/// every name a workspace gives; it is not for sorting ("1" becomes "l").
pub fn look_key(name: &str) -> String {
    let folded = name_key(name);
    let skeleton: String = unicode_security::skeleton(&folded).collect();
    skeleton.chars().flat_map(char::to_lowercase).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: NameRules = NameRules { max_chars: 20, empty: "empty", too_long: "long", invisible: "invisible" };

    #[test]
    fn invisible_and_bidi_characters_are_refused() {
        for bad in ["Ac\u{202E}me", "Ac\u{200B}me", "Acme\u{2067}", "A\u{FEFF}cme", "Ac\u{00AD}me", "A\u{0007}"] {
            assert_eq!(clean_name(bad, &RULES), Err("invisible"), "{bad:?}");
        }
        assert_eq!(clean_name("  ", &RULES), Err("empty"));
        assert_eq!(clean_name(&"x".repeat(21), &RULES), Err("long"));
        assert_eq!(clean_name("Łódź ❤\u{FE0F} שלום", &RULES).as_deref(), Ok("Łódź ❤\u{FE0F} שלום"));
    }

    #[test]
    fn names_are_stored_in_nfc() {
        assert_eq!(clean_name("Acme\u{301}", &RULES).unwrap(), "Acm\u{e9}");
    }

    #[test]
    fn look_alike_names_share_a_look_key() {
        let acme = look_key("Acme");
        for same in ["acme", "ACME", "\u{410}cme", "Ａｃｍｅ"] {
            assert_eq!(look_key(same), acme, "{same:?}");
        }
        assert_eq!(look_key("Acm\u{e9}"), look_key("Acme\u{301}"));
        assert_ne!(look_key("Acme"), look_key("Acne"));
        assert_eq!(name_key("Nightly Export"), name_key("nightly export"));
        assert_eq!(name_key("Caf\u{e9}"), name_key("Cafe\u{301}"));
        assert_eq!(look_key("C\u{430}f\u{e9}"), look_key("Caf\u{e9}"), "Cyrillic а beside Latin a");
        assert_ne!(name_key("C\u{430}f\u{e9}"), name_key("Caf\u{e9}"), "the sort key folds case only");
    }
}
