//! A hub key's response headers: rows of *name* + *value* + *exclude*. A value
//! is fixed text or holds `${collection.meta.*}` placeholders filled per
//! response. Everything that could break the response or weaken its security
//! is refused on save; a filled value is checked again before it is sent,
//! because a collection's name is user text.
use std::fmt;

pub const MAX_ROWS: usize = 50;
pub const MAX_VALUE_BYTES: usize = 1024;

/// The values a placeholder can take from the response being sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    Count,
    Name,
    Limit,
    Offset,
}

impl Var {
    pub const ALL: [Var; 4] = [Var::Count, Var::Name, Var::Limit, Var::Offset];

    pub fn placeholder(self) -> &'static str {
        match self {
            Var::Count => "${collection.meta.count}",
            Var::Name => "${collection.meta.name}",
            Var::Limit => "${collection.meta.limit}",
            Var::Offset => "${collection.meta.offset}",
        }
    }

    fn parse(inner: &str) -> Option<Var> {
        Var::ALL.into_iter().find(|v| &v.placeholder()[2..v.placeholder().len() - 1] == inner)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(Var),
}

/// A checked value, ready to fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Part>);

/// What a response offers the placeholders.
#[derive(Debug, Clone, Copy)]
pub struct Meta<'a> {
    pub name: &'a str,
    pub count: u64,
    pub limit: u64,
    pub offset: u64,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Headers keyhub sets itself or that change how the response is framed,
/// cached across origins, or protected.
fn is_reserved(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "set-cookie",
        "set-cookie2",
        "cookie",
        "content-length",
        "content-type",
        "content-encoding",
        "content-range",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "host",
        "content-security-policy",
        "content-security-policy-report-only",
        "strict-transport-security",
        "x-frame-options",
        "x-content-type-options",
        "referrer-policy",
        "permissions-policy",
        "location",
        "refresh",
        "etag",
        "last-modified",
        "vary",
        "cache-control",
        "expires",
        "pragma",
        "age",
        "date",
        "server",
        "www-authenticate",
        "authorization",
        "alt-svc",
        "clear-site-data",
        "retry-after",
        "link",
        "origin",
        "x-xss-protection",
        "server-timing",
    ];
    const PREFIXES: &[&str] = &["access-control-", "cross-origin-", "proxy-", "sec-"];
    let lower = name.to_ascii_lowercase();
    EXACT.contains(&lower.as_str()) || PREFIXES.iter().any(|p| lower.starts_with(p))
}

pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Enter the header's name, e.g. X-Dataset-Count.".into());
    }
    if name.len() > 100 {
        return Err("A header name has at most 100 characters.".into());
    }
    if !name.bytes().all(is_tchar) {
        return Err(format!("“{name}” is not an HTTP header name: use letters, digits and - (no spaces or colons)."));
    }
    if is_reserved(name) {
        return Err(format!(
            "{name} is set by keyhub or would break the response or its security; choose another header."
        ));
    }
    Ok(())
}

/// Characters that must never reach a header: CR, LF, NUL, other C0
/// controls, DEL, and the C1 controls.
fn bad_char(c: char) -> bool {
    c.is_control()
}

/// Parses a value: text with `${collection.meta.count|name|limit|offset}`.
pub fn parse(value: &str) -> Result<Template, String> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(format!("A header value has at most {MAX_VALUE_BYTES} bytes; this one has {}.", value.len()));
    }
    if let Some(c) = value.chars().find(|c| bad_char(*c)) {
        return Err(format!(
            "The value contains the control character U+{:04X} (line breaks, NUL and other controls are refused).",
            c as u32
        ));
    }
    let mut parts = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        if start > 0 {
            parts.push(Part::Text(rest[..start].to_owned()));
        }
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| "A placeholder is not closed: write e.g. ${collection.meta.count}.".to_owned())?;
        let inner = &after[..end];
        let var = Var::parse(inner).ok_or_else(|| {
            format!("${{{inner}}} is not a known placeholder; use {}.", Var::ALL.map(Var::placeholder).join(", "))
        })?;
        parts.push(Part::Var(var));
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_owned()));
    }
    Ok(Template(parts))
}

impl Template {
    /// The value for one response, or `None` when the filled text is not
    /// fit to send (the header is then left out, never sent broken).
    pub fn fill(&self, meta: &Meta) -> Option<String> {
        use std::fmt::Write;
        // Filled on every answer to the key: written into one string.
        let mut out = String::with_capacity(64);
        for p in &self.0 {
            let _ = match p {
                Part::Text(t) => out.write_str(t),
                Part::Var(Var::Name) => out.write_str(meta.name),
                Part::Var(Var::Count) => write!(out, "{}", meta.count),
                Part::Var(Var::Limit) => write!(out, "{}", meta.limit),
                Part::Var(Var::Offset) => write!(out, "{}", meta.offset),
            };
        }
        (out.len() <= MAX_VALUE_BYTES && !out.chars().any(bad_char)).then_some(out)
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            match p {
                Part::Text(t) => f.write_str(t)?,
                Part::Var(v) => f.write_str(v.placeholder())?,
            }
        }
        Ok(())
    }
}

/// One header row as submitted.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct HeaderRow {
    pub name: String,
    pub value: String,
    /// Kept in the key but not sent.
    #[serde(default)]
    pub exclude: bool,
}

/// A checked row.
#[derive(Debug, Clone)]
pub struct HeaderRule {
    pub name: String,
    pub template: Template,
    pub exclude: bool,
}

/// Checks every row; errors are `(row index, message)`. Blank rows (no name,
/// no value) are dropped, so an empty row left in the form is harmless.
pub fn check_rows(rows: &[HeaderRow]) -> Result<Vec<HeaderRule>, Vec<(usize, String)>> {
    let mut errors = Vec::new();
    let mut rules: Vec<HeaderRule> = Vec::new();
    let filled: Vec<(usize, &HeaderRow)> =
        rows.iter().enumerate().filter(|(_, r)| !(r.name.trim().is_empty() && r.value.is_empty())).collect();
    if filled.len() > MAX_ROWS {
        return Err(vec![(
            MAX_ROWS,
            format!("A key has at most {MAX_ROWS} headers; remove {}.", filled.len() - MAX_ROWS),
        )]);
    }
    for (i, row) in filled {
        let name = row.name.trim();
        let checked = check_name(name).and_then(|_| parse(&row.value));
        match checked {
            Err(m) => errors.push((i, m)),
            Ok(_) if rules.iter().any(|r| r.name.eq_ignore_ascii_case(name)) => {
                errors.push((i, format!("{name} is listed twice; keep one row per header.")))
            }
            Ok(template) => rules.push(HeaderRule { name: name.to_owned(), template, exclude: row.exclude }),
        }
    }
    if errors.is_empty() { Ok(rules) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn meta(name: &str) -> Meta<'_> {
        Meta { name, count: 1234, limit: 50, offset: 100 }
    }

    #[test]
    fn placeholders_fill_from_the_response() {
        let t = parse("rows=${collection.meta.count}; ${collection.meta.name} [${collection.meta.offset}+${collection.meta.limit}]").unwrap();
        assert_eq!(t.fill(&meta("Orders")).as_deref(), Some("rows=1234; Orders [100+50]"));
        assert_eq!(parse("fixed").unwrap().fill(&meta("x")).as_deref(), Some("fixed"));
        assert_eq!(
            t.to_string(),
            "rows=${collection.meta.count}; ${collection.meta.name} [${collection.meta.offset}+${collection.meta.limit}]"
        );
    }

    #[test]
    fn bad_values_are_refused_with_a_reason() {
        let cases: &[(&str, &str)] = &[
            ("${collection.meta.secret}", "not a known placeholder"),
            ("${user.email}", "not a known placeholder"),
            ("${collection.meta.count", "not closed"),
            ("a\r\nSet-Cookie: x=1", "U+000D"),
            ("a\nb", "U+000A"),
            ("a\0b", "U+0000"),
            ("a\u{7f}", "U+007F"),
            ("a\u{85}", "U+0085"),
        ];
        for (v, says) in cases {
            let e = parse(v).expect_err(v);
            assert!(e.contains(says), "{v:?}: {e}");
        }
        assert!(parse(&"x".repeat(1025)).unwrap_err().contains("1024"));
        assert!(parse(&"x".repeat(1024)).is_ok());
    }

    #[test]
    fn bad_names_are_refused() {
        for n in [
            "Set-Cookie",
            "content-length",
            "Content-Type",
            "Transfer-Encoding",
            "Connection",
            "Host",
            "Content-Security-Policy",
            "Access-Control-Allow-Origin",
            "Strict-Transport-Security",
            "X Bad",
            "X:Bad",
            "",
            "Ünicode",
        ] {
            assert!(check_name(n).is_err(), "{n}");
        }
        for n in ["X-Dataset-Count", "X-Source", "Link-Id"] {
            assert!(check_name(n).is_ok(), "{n}");
        }
    }

    #[test]
    fn rows_report_their_index_and_drop_blanks() {
        let rows = vec![
            HeaderRow { name: "X-Count".into(), value: "${collection.meta.count}".into(), exclude: false },
            HeaderRow::default(),
            HeaderRow { name: "Set-Cookie".into(), value: "a".into(), exclude: false },
            HeaderRow { name: "x-count".into(), value: "b".into(), exclude: true },
        ];
        let errs = check_rows(&rows).unwrap_err();
        assert_eq!(errs.iter().map(|e| e.0).collect::<Vec<_>>(), vec![2, 3]);
        let many: Vec<HeaderRow> =
            (0..51).map(|i| HeaderRow { name: format!("X-{i}"), value: "v".into(), exclude: false }).collect();
        assert!(check_rows(&many).unwrap_err()[0].1.contains("at most 50"));
        assert_eq!(check_rows(&many[..50]).unwrap().len(), 50);
    }

    proptest! {
        #[test]
        fn no_value_panics_and_shown_form_parses_again(v in "\\PC{0,80}") {
            if let Ok(t) = parse(&v) {
                let again = parse(&t.to_string()).unwrap();
                prop_assert_eq!(again, t);
            }
        }

        #[test]
        fn filled_values_never_hold_line_breaks(name in any::<String>(), count in any::<u64>()) {
            let t = parse("n=${collection.meta.name} c=${collection.meta.count}").unwrap();
            if let Some(v) = t.fill(&Meta { name: &name, count, limit: 1, offset: 0 }) {
                prop_assert!(!v.contains('\r') && !v.contains('\n') && !v.contains('\0'));
                prop_assert!(v.len() <= MAX_VALUE_BYTES);
            }
        }
    }
}
