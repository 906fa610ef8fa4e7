//! Data Hub rules that need no database: workspace slugs, endpoint paths,
//! who may call an endpoint, collection page sizes, and the query a caller
//! sends to `/hub/{workspace}/{path}`.
use std::fmt;

/// How long a slug may be (a DNS label's length, so it also fits a host name).
const SLUG_MAX: usize = 63;

/// A slug from a workspace name: ASCII letters and digits lowercased, runs of
/// anything else as one `-` ("Acme Café" → "acme-caf"); "workspace" if nothing is left.
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= SLUG_MAX {
            break;
        }
    }
    let out = out.trim_end_matches('-').to_owned();
    if out.is_empty() { "workspace".into() } else { out }
}

/// A slug typed by an admin.
pub fn parse_slug(input: &str) -> Result<String, &'static str> {
    let s = input.trim();
    if s.is_empty() {
        return Err("Enter a slug: lowercase letters, digits and hyphens.");
    }
    if s.len() > SLUG_MAX {
        return Err("Use at most 63 characters.");
    }
    if !s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err("Use only lowercase letters a–z, digits and hyphens.");
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err("A slug cannot start or end with a hyphen.");
    }
    Ok(s.to_owned())
}

/// An endpoint path below `/hub/{workspace}/`: lowercase letters, digits,
/// `-`, `_` and `/` between segments. Leading and trailing `/` are dropped.
pub fn parse_endpoint_path(input: &str) -> Result<String, &'static str> {
    let s = input.trim().trim_matches('/');
    if s.is_empty() {
        return Err("Enter a path, such as sales/orders.");
    }
    if s.len() > 200 {
        return Err("Use at most 200 characters.");
    }
    if !s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_/".contains(&b)) {
        return Err("Use only lowercase letters a–z, digits, “-”, “_” and “/”.");
    }
    if s.contains("//") {
        return Err("Remove the empty part between two slashes.");
    }
    Ok(s.to_owned())
}

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Anyone, without a key.
    Public,
    /// Any personal key of the workspace whose rights include `data.read`.
    Members,
    /// Only the Data Hub keys chosen for it.
    Keys,
}

impl Access {
    pub const ALL: [Access; 3] = [Access::Public, Access::Members, Access::Keys];

    pub fn as_str(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::Members => "members",
            Access::Keys => "keys",
        }
    }

    pub fn parse(s: &str) -> Option<Access> {
        Access::ALL.into_iter().find(|a| a.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Access::Public => "Public: anyone, no key",
            Access::Members => "Members' keys: personal keys with data.read",
            Access::Keys => "Hub keys chosen for this endpoint",
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The largest maximum page size an admin may set.
pub const MAX_PAGE_LIMIT: i64 = 10_000;
pub const DEFAULT_LIMIT: i64 = 20;
pub const DEFAULT_MAX_LIMIT: i64 = 1_000;

/// Page sizes of a collection: the field at fault and why.
pub fn check_limits(default_limit: i64, max_limit: i64) -> Result<(), (&'static str, String)> {
    if !(1..=MAX_PAGE_LIMIT).contains(&max_limit) {
        return Err(("max_limit", format!("Enter a maximum page size from 1 to {MAX_PAGE_LIMIT}.")));
    }
    if !(1..=max_limit).contains(&default_limit) {
        return Err(("default_limit", format!("Enter a default page size from 1 to the maximum ({max_limit}).")));
    }
    Ok(())
}

/// `field` or `-field` → (field, descending).
pub fn parse_order(s: &str) -> (&str, bool) {
    match s.strip_prefix('-') {
        Some(f) => (f, true),
        None => (s, false),
    }
}

/// How a filter compares a field with its value: `field=v` is equality,
/// `field__gt=v` (and `__gte`, `__lt`, `__lte`) a range, as Datasette
/// spells it. Ranges let a client read what changed after a cursor value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cmp {
    Eq,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Cmp {
    pub const RANGES: [(&'static str, Cmp); 4] =
        [("__gte", Cmp::Gte), ("__gt", Cmp::Gt), ("__lte", Cmp::Lte), ("__lt", Cmp::Lt)];

    /// What follows the field's name in the query (`__gt`; nothing for `=`).
    pub fn suffix(self) -> &'static str {
        Cmp::RANGES.iter().find(|(_, c)| *c == self).map_or("", |(s, _)| s)
    }

    pub fn sql(self) -> &'static str {
        match self {
            Cmp::Eq => "=",
            Cmp::Gt => ">",
            Cmp::Gte => ">=",
            Cmp::Lt => "<",
            Cmp::Lte => "<=",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Json,
    Csv,
}

/// A caller's query, checked against the collection's exposed fields.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HubQuery {
    pub limit: u64,
    pub offset: u64,
    /// An exposed field's position in `fields`, and descending.
    pub order: Option<(usize, bool)>,
    /// Field position, comparison, value as given.
    pub filters: Vec<(usize, Cmp, String)>,
    pub format: Format,
    /// CSV without `limit`: every matching row, streamed (a CSV client reads
    /// one file; it would not know to ask for page two).
    pub whole: bool,
}

pub use super::query::QueryError;
use super::query::{MAX_OFFSET, whole};

/// Parses `?limit=&offset=&order=&format=&field=value…`. `apikey` is the key
/// itself and is ignored here.
pub fn parse_hub_query(
    pairs: &[(String, String)],
    fields: &[String],
    default_limit: u64,
    max_limit: u64,
    wants_csv: bool,
) -> Result<HubQuery, QueryError> {
    let err = |p: &str, m: String| QueryError { parameter: p.to_owned(), message: m };
    let mut q = HubQuery {
        limit: default_limit,
        offset: 0,
        order: None,
        filters: Vec::new(),
        format: if wants_csv { Format::Csv } else { Format::Json },
        whole: false,
    };
    let mut limited = false;
    for (k, v) in pairs {
        match k.as_str() {
            "limit" => {
                q.limit = whole("limit", v, 1, max_limit)?;
                limited = true;
            }
            "offset" => q.offset = whole("offset", v, 0, MAX_OFFSET)?,
            "order" => {
                let (name, desc) = parse_order(v);
                let i = fields.iter().position(|f| f == name).ok_or_else(|| {
                    err("order", format!("order names “{name}”, which is not a field of this endpoint."))
                })?;
                q.order = Some((i, desc));
            }
            "format" => {
                q.format = match v.as_str() {
                    "json" => Format::Json,
                    "csv" => Format::Csv,
                    _ => return Err(err("format", "format must be json or csv.".into())),
                }
            }
            "apikey" => {}
            name => {
                // A field's own name wins over a range suffix (a field may be called `a__gt`).
                let exact = fields.iter().position(|f| f == name).map(|i| (i, Cmp::Eq));
                let ranged = || {
                    Cmp::RANGES.iter().find_map(|(suffix, cmp)| {
                        let field = name.strip_suffix(suffix)?;
                        fields.iter().position(|f| f == field).map(|i| (i, *cmp))
                    })
                };
                let (i, cmp) = exact.or_else(ranged).ok_or_else(|| {
                    err(name, format!("“{name}” is not a field of this endpoint (nor limit, offset, order or format)."))
                })?;
                q.filters.push((i, cmp, v.clone()));
            }
        }
    }
    q.whole = q.format == Format::Csv && !limited;
    Ok(q)
}

/// Origins an endpoint may list, at most.
pub const MAX_ORIGINS: usize = 20;

/// The web origins allowed to read an endpoint from a browser, as given (one
/// per line or separated by spaces or commas), checked and written the way
/// browsers send `Origin` (`https://app.example.com`, a port only when not
/// the scheme's own). `*` is any site, allowed only on a public endpoint:
/// elsewhere it would let any page spend a visitor's pasted key.
pub fn parse_origins(given: &[String], access: Access) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for item in given.iter().flat_map(|g| g.split(|c: char| c.is_whitespace() || c == ',')).filter(|s| !s.is_empty()) {
        let origin = if item == "*" {
            if access != Access::Public {
                return Err("“*” (any site) is allowed only on a public endpoint; name the sites instead.".into());
            }
            "*".to_owned()
        } else {
            origin_of(item).ok_or_else(|| format!("“{item}” is not an origin: write the scheme and host, and the port if it is not the usual one, like https://app.example.com."))?
        };
        if !out.contains(&origin) {
            out.push(origin);
        }
    }
    if out.len() > MAX_ORIGINS {
        return Err(format!("List at most {MAX_ORIGINS} origins."));
    }
    if out.len() > 1 && out.iter().any(|o| o == "*") {
        return Err("“*” already allows every site: list it alone.".into());
    }
    Ok(out)
}

/// `HTTPS://App.Example.com:443/` → `https://app.example.com`; `None` for
/// anything with a path, query, user or another scheme.
fn origin_of(s: &str) -> Option<String> {
    let (scheme, rest) = s.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => "443",
        "http" => "80",
        _ => return None,
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', '\\']) {
        return None;
    }
    let (host, port) = match rest.rsplit_once(':') {
        // An IPv6 literal's colons are inside the brackets.
        Some((h, p)) if !p.contains(']') => (h, Some(p)),
        _ => (rest, None),
    };
    let host = host.to_ascii_lowercase();
    let bracketed = host.starts_with('[') && host.ends_with(']');
    if host.is_empty() || !(bracketed || host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')) {
        return None;
    }
    match port {
        None => Some(format!("{scheme}://{host}")),
        Some(p) if p.parse::<u16>().is_ok_and(|n| n > 0) && p.trim_start_matches('0') == p => {
            Some(if p == default_port { format!("{scheme}://{host}") } else { format!("{scheme}://{host}:{p}") })
        }
        Some(_) => None,
    }
}

/// The pages around one (RFC 8288 relations and their offsets): `first` and
/// `last` always, `prev` and `next` where there is one.
pub fn page_links(count: u64, limit: u64, offset: u64) -> Vec<(&'static str, u64)> {
    let limit = limit.max(1);
    let last = count.saturating_sub(1) / limit * limit;
    let mut links = vec![("first", 0)];
    if offset > 0 {
        links.push(("prev", offset.saturating_sub(limit).min(last)));
    }
    if offset.saturating_add(limit) < count {
        links.push(("next", offset + limit));
    }
    links.push(("last", last));
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_made_and_checked() {
        assert_eq!(slugify("Acme Café GmbH"), "acme-caf-gmbh");
        assert_eq!(slugify("  --  "), "workspace");
        assert_eq!(parse_slug("sales-eu"), Ok("sales-eu".into()));
        assert!(parse_slug("Sales").is_err());
        assert!(parse_slug("-x").is_err());
        assert!(parse_slug("a/b").is_err());
    }

    #[test]
    fn origins_are_checked_and_written_as_browsers_send_them() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_origins(&v(&["HTTPS://App.Example.com:443/\nhttp://localhost:3000, http://a.test:80"]), Access::Keys),
            Ok(v(&["https://app.example.com", "http://localhost:3000", "http://a.test"]))
        );
        assert_eq!(parse_origins(&v(&["*"]), Access::Public), Ok(v(&["*"])));
        assert!(parse_origins(&v(&["*"]), Access::Members).is_err(), "any site only on public endpoints");
        assert!(parse_origins(&v(&["*", "https://a.test"]), Access::Public).is_err());
        for bad in [
            "app.example.com",
            "https://a.test/path",
            "ftp://a.test",
            "https://u@a.test",
            "https://a.test:99999",
            "https://",
            "https://a b",
        ] {
            assert!(parse_origins(&v(&[bad]), Access::Public).is_err(), "{bad}");
        }
        assert_eq!(parse_origins(&v(&["http://[::1]:8080"]), Access::Keys), Ok(v(&["http://[::1]:8080"])));
        let many: Vec<String> = (0..21).map(|i| format!("https://s{i}.test")).collect();
        assert!(parse_origins(&many, Access::Keys).is_err());
    }

    #[test]
    fn page_links_name_the_pages_around() {
        assert_eq!(page_links(137, 20, 0), vec![("first", 0), ("next", 20), ("last", 120)]);
        assert_eq!(page_links(137, 20, 20), vec![("first", 0), ("prev", 0), ("next", 40), ("last", 120)]);
        assert_eq!(page_links(137, 20, 120), vec![("first", 0), ("prev", 100), ("last", 120)]);
        assert_eq!(page_links(140, 20, 120), vec![("first", 0), ("prev", 100), ("last", 120)]);
        assert_eq!(page_links(0, 20, 0), vec![("first", 0), ("last", 0)]);
        // Past the end: prev leads back to the last page.
        assert_eq!(page_links(137, 20, 500), vec![("first", 0), ("prev", 120), ("last", 120)]);
    }

    #[test]
    fn endpoint_paths_are_checked() {
        assert_eq!(parse_endpoint_path("/sales/orders/"), Ok("sales/orders".into()));
        assert!(parse_endpoint_path("Sales").is_err());
        assert!(parse_endpoint_path("a//b").is_err());
        assert!(parse_endpoint_path("a b").is_err());
        assert!(parse_endpoint_path("").is_err());
    }

    #[test]
    fn range_filters_follow_the_field_name_and_a_field_may_be_called_like_one() {
        let fields = vec!["id".to_owned(), "updated".to_owned(), "a__gt".to_owned()];
        let p = |s: &[(&str, &str)]| s.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
        let q = parse_hub_query(
            &p(&[("updated__gt", "5"), ("id__lte", "9"), ("id__gte", "2"), ("updated__lt", "7"), ("a__gt", "x")]),
            &fields,
            20,
            100,
            false,
        )
        .unwrap();
        assert_eq!(
            q.filters,
            vec![
                (1, Cmp::Gt, "5".into()),
                (0, Cmp::Lte, "9".into()),
                (0, Cmp::Gte, "2".into()),
                (1, Cmp::Lt, "7".into()),
                (2, Cmp::Eq, "x".into())
            ]
        );
        let e = parse_hub_query(&p(&[("nope__gt", "1")]), &fields, 20, 100, false).unwrap_err();
        assert_eq!(e.parameter, "nope__gt");
    }

    #[test]
    fn hub_queries_name_the_parameter_at_fault() {
        let fields = vec!["id".to_owned(), "city".to_owned()];
        let p = |s: &[(&str, &str)]| s.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
        let q = parse_hub_query(&p(&[("limit", "5"), ("order", "-city"), ("city", "Oslo")]), &fields, 20, 100, false)
            .unwrap();
        assert_eq!(
            (q.limit, q.order, q.filters, q.whole),
            (5, Some((1, true)), vec![(1, Cmp::Eq, "Oslo".into())], false)
        );
        // CSV without a limit is the whole collection; with one, a page.
        assert!(parse_hub_query(&p(&[("format", "csv")]), &fields, 20, 100, false).unwrap().whole);
        assert!(parse_hub_query(&[], &fields, 20, 100, true).unwrap().whole);
        assert!(!parse_hub_query(&p(&[("format", "csv"), ("limit", "5")]), &fields, 20, 100, false).unwrap().whole);
        for (pairs, param) in [
            (p(&[("limit", "101")]), "limit"),
            (p(&[("limit", "x")]), "limit"),
            (p(&[("offset", "-1")]), "offset"),
            (p(&[("order", "price")]), "order"),
            (p(&[("price", "1")]), "price"),
        ] {
            assert_eq!(parse_hub_query(&pairs, &fields, 20, 100, false).unwrap_err().parameter, param);
        }
        assert_eq!(parse_hub_query(&p(&[("format", "csv")]), &fields, 20, 100, false).unwrap().format, Format::Csv);
    }
}
