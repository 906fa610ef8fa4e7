//! Cells of the CSV files keyhub writes (dataset downloads, `/hub/…?format=csv`,
//! the audit log), made safe to open in a spreadsheet.
//!
//! Spreadsheets run a cell that starts with `=`, `+`, `-` or `@` as a formula
//! (`=cmd|' /C calc'!A0`, `@SUM(1+1)`), and a leading TAB or CR can hide one.
//! As OWASP's "CSV Injection" advice says, such text cells are written with a
//! `'` in front, which spreadsheets show as plain text. Numbers are numbers:
//! `-5` and `+1.5` stay as they are.
use std::borrow::Cow;

/// The text of a cell as written to CSV.
pub fn cell(text: &str) -> Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) && !is_plain_number(text) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// `-5`, `+1.5`, `-0.25e3`: a sign, digits, at most one point, an exponent.
fn is_plain_number(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exponent) = match body.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e.strip_prefix(['+', '-']).unwrap_or(e))),
        None => (body, None),
    };
    let digits = mantissa.replacen('.', "", 1);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && exponent.is_none_or(|e| !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_and_numbers_kept() {
        for (raw, written) in [
            ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
            ("@SUM(1+1)", "'@SUM(1+1)"),
            ("+1+1", "'+1+1"),
            ("-2+3", "'-2+3"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("-", "'-"),
            ("-5", "-5"),
            ("+1.5", "+1.5"),
            ("-0.25e3", "-0.25e3"),
            ("plain", "plain"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(cell(raw), written, "{raw:?}");
        }
    }
}
