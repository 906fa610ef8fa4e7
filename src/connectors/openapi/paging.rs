//! Reading where the next page is (and how many records there are) from an
//! answer, the ways real APIs say it. Pure: unit-tested on real shapes.
use std::borrow::Cow;

use serde_json::Value;

/// What an answer says about the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextRef {
    /// A URL (absolute, or relative to the answer's).
    Url(String),
    /// A token to send back in the cursor parameter.
    Token(String),
}

/// The `rel="next"` target of an RFC 8288 `Link` header.
pub fn link_next(header: &str) -> Option<String> {
    for part in split_links(header) {
        let part = part.trim();
        let Some(end) = part.find('>') else { continue };
        let target = part.get(1..end)?.trim();
        let is_next = part[end + 1..].split(';').any(|p| {
            let p = p.trim();
            let Some(rels) = p.strip_prefix("rel=").or_else(|| p.strip_prefix("rel =")) else { return false };
            rels.trim_matches('"').split_whitespace().any(|r| r.eq_ignore_ascii_case("next"))
        });
        if part.starts_with('<') && is_next {
            return Some(target.to_owned());
        }
    }
    None
}

/// Links are separated by commas outside `<…>` (a URL may hold commas).
fn split_links(header: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut inside) = (0, false);
    for (i, c) in header.char_indices() {
        match c {
            '<' => inside = true,
            '>' => inside = false,
            ',' if !inside => {
                out.push(&header[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&header[start..]);
    out
}

/// Where answers keep the next page: a URL or a token, most specific first.
const NEXT_POINTERS: &[&str] = &[
    "/meta/next_page_url",
    "/next_page_url",
    "/links/next",
    "/links/next/href",
    "/_links/next/href",
    "/_links/next",
    "/paging/next",
    "/@odata.nextLink",
    "/nextLink",
    "/next_url",
    "/meta/next_cursor",
    "/meta/next",
    "/meta/pagination/next_cursor",
    "/pagination/next_cursor",
    "/pagination/next",
    "/response_metadata/next_cursor",
    "/next_cursor",
    "/nextCursor",
    "/next_marker",
    "/next_page_token",
    "/nextPageToken",
    "/next_token",
    "/nextToken",
    "/continuation_token",
    "/paging/cursors/after",
    "/cursor/next",
    "/next",
];

/// The next page an answer names, if any.
pub fn next_in_body(body: &Value) -> Option<NextRef> {
    NEXT_POINTERS.iter().find_map(|p| {
        let v = body.pointer(p)?;
        let s = match v {
            Value::String(s) => s.trim(),
            _ => return None,
        };
        if s.is_empty() {
            return None;
        }
        Some(if s.starts_with("http://") || s.starts_with("https://") || s.starts_with('/') || s.starts_with('?') {
            NextRef::Url(s.to_owned())
        } else {
            NextRef::Token(s.to_owned())
        })
    })
}

const TOTAL_POINTERS: &[&str] = &[
    "/meta/total_count",
    "/meta/filter_count",
    "/meta/total",
    "/meta/totalCount",
    "/meta/count",
    "/meta/pagination/total",
    "/meta/page/total",
    "/pagination/total",
    "/pagination/total_count",
    "/pagination/totalCount",
    "/page/totalElements",
    "/totalElements",
    "/total_count",
    "/totalCount",
    "/total_results",
    "/totalResults",
    "/total",
    "/count",
    "/@odata.count",
    "/estimatedTotalHits",
];

/// The number of records the API reports (body field or header), if any.
pub fn total(body: &Value, header: impl Fn(&str) -> Option<String>) -> Option<u64> {
    let from_body = TOTAL_POINTERS.iter().find_map(|p| match body.pointer(p)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    });
    from_body
        .or_else(|| ["x-total-count", "x-total", "total-count"].iter().find_map(|h| header(h)?.trim().parse().ok()))
        .or_else(|| {
            // `Content-Range: items 0-24/319`.
            let range = header("content-range")?;
            range.rsplit_once('/')?.1.trim().parse().ok()
        })
}

/// `body` with every JSON number a 64-bit float cannot hold exactly (more
/// than 15 significant digits, and no 64-bit integer) turned into a string
/// holding its digits, so that decimals arrive as written.
pub fn exact_numbers(body: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut i = 0;
    let mut copied = 0;
    let mut in_string = false;
    while i < body.len() {
        let b = body[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        if b == b'-' || b.is_ascii_digit() {
            let start = i;
            while i < body.len() && matches!(body[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') {
                i += 1;
            }
            let token = &body[start..i];
            if !fits_f64(token) {
                let buf = out.get_or_insert_with(|| Vec::with_capacity(body.len() + 16));
                buf.extend_from_slice(&body[copied..start]);
                buf.push(b'"');
                buf.extend_from_slice(token);
                buf.push(b'"');
                copied = i;
            }
            continue;
        }
        i += 1;
    }
    match out {
        None => Cow::Borrowed(body),
        Some(mut buf) => {
            buf.extend_from_slice(&body[copied..]);
            Cow::Owned(buf)
        }
    }
}

fn fits_f64(token: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(token) else { return true };
    let integral = !text.contains(['.', 'e', 'E']);
    if integral && (text.parse::<i64>().is_ok() || text.parse::<u64>().is_ok()) {
        return true;
    }
    if !text.parse::<f64>().is_ok_and(f64::is_finite) {
        return false;
    }
    let mantissa = text.split(['e', 'E']).next().unwrap_or("");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0');
    // Trailing zeros of an integer part still count (1000000000000000000000).
    let significant = if integral { digits.trim_start_matches('0') } else { significant };
    significant.len() <= 15
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_next_link_is_found_among_others() {
        let h = r#"<https://api.x.com/items?page=1>; rel="prev", <https://api.x.com/items?a=1,2&page=3>; rel="next", <https://api.x.com/items?page=9>; rel="last""#;
        assert_eq!(link_next(h).as_deref(), Some("https://api.x.com/items?a=1,2&page=3"));
        assert_eq!(link_next(r#"</v1/x?after=abc>; rel="next last""#).as_deref(), Some("/v1/x?after=abc"));
        assert_eq!(link_next(r#"<https://x/p>; rel="prev""#), None);
        assert_eq!(link_next("garbage"), None);
    }

    #[test]
    fn next_pages_and_totals_in_the_shapes_apis_use() {
        let twilio = json!({"countries": [], "meta": {"next_page_url": "https://pricing.twilio.com/v2/Voice/Countries?PageSize=50&Page=1&PageToken=PAx", "page": 0}});
        assert!(matches!(next_in_body(&twilio), Some(NextRef::Url(u)) if u.contains("PageToken=PAx")));
        let slack = json!({"members": [], "response_metadata": {"next_cursor": "dXNlcjpVMDYxTkZUVDI="}});
        assert_eq!(next_in_body(&slack), Some(NextRef::Token("dXNlcjpVMDYxTkZUVDI=".into())));
        let drf = json!({"count": 320, "next": "https://h/api/things/?limit=100&offset=100", "results": []});
        assert!(matches!(next_in_body(&drf), Some(NextRef::Url(_))));
        assert_eq!(total(&drf, |_| None), Some(320));
        assert_eq!(next_in_body(&json!({"next": null, "results": []})), None);
        assert_eq!(next_in_body(&json!({"meta": {"next": ""}})), None);
        let directus = json!({"data": [], "meta": {"total_count": 2000}});
        assert_eq!(total(&directus, |_| None), Some(2000));
        assert_eq!(total(&json!([]), |h| (h == "x-total-count").then(|| "41".to_owned())), Some(41));
        assert_eq!(total(&json!([]), |h| (h == "content-range").then(|| "items 0-24/319".to_owned())), Some(319));
        assert_eq!(total(&json!({"data": []}), |_| None), None);
    }

    #[test]
    fn long_decimals_arrive_as_written() {
        let body = br#"{"a": 19.99, "b": 12345678901234567890.123, "c": "x\"1234567890123456789.5", "d": -0.1234567890123456789, "e": 18446744073709551615, "f": 1e400, "g": [1, 2.5]}"#;
        let v: Value = serde_json::from_slice(&exact_numbers(body)).unwrap();
        assert_eq!(v["a"], json!(19.99));
        assert_eq!(v["b"], json!("12345678901234567890.123"));
        assert_eq!(v["c"], json!("x\"1234567890123456789.5"), "strings untouched");
        assert_eq!(v["d"], json!("-0.1234567890123456789"));
        assert_eq!(v["e"], json!(18446744073709551615u64), "a u64 is exact already");
        assert_eq!(v["f"], json!("1e400"), "beyond a float: its text");
        assert_eq!(v["g"], json!([1, 2.5]));
        assert!(matches!(exact_numbers(br#"{"a": 1.5}"#), Cow::Borrowed(_)), "nothing to change, nothing copied");
    }
}
