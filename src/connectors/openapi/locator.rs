//! How one OpenAPI stream is read, as kept in the source's catalog: its
//! path, where the records are, how it pages, sorts, counts and filters.
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Locator {
    pub path: String,
    /// The key of the list in a wrapper object (none: the answer is the list).
    #[serde(default)]
    pub records_key: Option<String>,
    #[serde(default)]
    pub paging: Paging,
    /// The largest page the document allows (at most 1,000).
    #[serde(default)]
    pub max_size: Option<u64>,
    /// A sort parameter and the value that gives a stable order (the key).
    #[serde(default)]
    pub sort: Option<(String, String)>,
    /// The sort parameter takes a list (`sort=updated_at,id`); else one field.
    #[serde(default)]
    pub sort_many: bool,
    /// A parameter that makes the answer carry its total (`meta=total_count`).
    #[serde(default)]
    pub count: Option<(String, String)>,
    /// Server-side filters for incremental reads, by cursor column.
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// Required parameters with one possible value, sent on every call.
    #[serde(default)]
    pub fixed: Vec<Fixed>,
    /// Every query parameter the operation declares (for choosing a filter).
    #[serde(default)]
    pub params: Vec<String>,
}

/// A parameter sent with a fixed value (a version header, say).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fixed {
    pub name: String,
    pub value: String,
    /// A header rather than a query parameter.
    pub header: bool,
}

impl Locator {
    /// The stored locator; catalogs saved before paging was planned name it
    /// by a word (`limit_offset`, `page`, `single`).
    pub fn read(v: &Value) -> Locator {
        let mut v = v.clone();
        if let Some(word) = v["paging"].as_str() {
            v["paging"] = match word {
                "limit_offset" => serde_json::json!({"kind": "offset", "limit": "limit", "offset": "offset"}),
                "page" => serde_json::json!({"kind": "page", "page": "page", "size": "per_page", "first": 1}),
                _ => serde_json::json!({"kind": "next", "size": null}),
            };
        }
        serde_json::from_value(v).unwrap_or_else(|_| Locator { path: "/".into(), ..Locator::default() })
    }

    pub fn size_param(&self) -> Option<&str> {
        match &self.paging {
            Paging::Offset { limit, .. } => Some(limit),
            Paging::Page { size, .. } | Paging::Cursor { size, .. } | Paging::Next { size } => size.as_deref(),
        }
    }

    /// This locator reading `column` through `param`, which must be a
    /// declared parameter or the bracket form of one (`filter[col][_gt]`).
    pub fn choose(&self, column: &str, param: &str) -> Result<Locator, String> {
        let param = param.trim();
        let stem = param.split('[').next().unwrap_or(param);
        if param.is_empty() || !self.params.iter().any(|p| p == param || p == stem) {
            let declared = if self.params.is_empty() { "none".to_owned() } else { self.params.join(", ") };
            return Err(format!("“{param}” is not a parameter this operation declares (it declares: {declared})."));
        }
        let lower = param.to_ascii_lowercase();
        let inclusive = ["gte", "since", "min", "from", "ge]", ">="].iter().any(|w| lower.contains(w));
        let mut out = self.clone();
        out.filters.retain(|f| f.column != column);
        out.filters.insert(
            0,
            Filter { column: column.to_owned(), param: param.to_owned(), inclusive, value_prefix: String::new() },
        );
        Ok(out)
    }

    pub fn filter_for(&self, column: &str) -> Option<&Filter> {
        // An inclusive bound re-reads the rows at the cursor (upserted by
        // key), so a row written in the same second after a sync is not
        // lost; an exclusive one is the fallback.
        let mut candidates: Vec<&Filter> = self.filters.iter().filter(|f| f.column == column).collect();
        candidates.sort_by_key(|f| !f.inclusive);
        candidates.first().copied()
    }
}

/// How a stream's pages follow one another. Whatever the kind, a `Link:
/// rel="next"` header or a next URL in the answer is followed when present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Paging {
    /// `limit` and `offset` (or their spellings).
    Offset { limit: String, offset: String },
    /// A page number from `first`, with an optional page size.
    Page { page: String, size: Option<String>, first: u64 },
    /// A token from the answer (`next_cursor`, `meta.next`…) sent back as `param`.
    Cursor { param: String, size: Option<String> },
    /// No paging parameters: only a next link in the answer leads on.
    Next { size: Option<String> },
}

impl Default for Paging {
    fn default() -> Self {
        Paging::Next { size: None }
    }
}

impl Paging {
    pub fn word(&self) -> &'static str {
        match self {
            Paging::Offset { .. } => "offset",
            Paging::Page { .. } => "page",
            Paging::Cursor { .. } => "cursor",
            Paging::Next { .. } => "next_link",
        }
    }
}

/// A query parameter that keeps records whose `column` is above a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    pub column: String,
    pub param: String,
    /// `>=` rather than `>`.
    pub inclusive: bool,
    /// Written before the value (PostgREST's `gt.`).
    #[serde(default)]
    pub value_prefix: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn catalogs_saved_before_planning_still_read() {
        let old = Locator::read(&json!({"path": "/things", "records_key": "data", "paging": "limit_offset"}));
        assert_eq!(old.paging, Paging::Offset { limit: "limit".into(), offset: "offset".into() });
        assert_eq!(old.records_key.as_deref(), Some("data"));
        assert_eq!(Locator::read(&json!({"path": "/p", "paging": "page"})).size_param(), Some("per_page"));
        assert_eq!(Locator::read(&json!({"path": "/s", "paging": "single"})).paging, Paging::Next { size: None });
        let new =
            Locator::read(&json!({"path": "/c", "paging": {"kind": "cursor", "param": "after", "size": "limit"}}));
        assert_eq!(new.paging, Paging::Cursor { param: "after".into(), size: Some("limit".into()) });
    }
}
