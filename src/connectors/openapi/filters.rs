//! Which query parameters of an operation can read records after a cursor
//! value, as the document declares them.
use serde_json::Value;

use super::locator::Filter;
use crate::domain::schema::{Column, ColumnType};

/// A parameter's role: its name lower-case without `_`, `-` and `$`.
pub(super) fn role(name: &str) -> String {
    name.chars().filter(|c| !matches!(c, '_' | '-' | '$')).flat_map(char::to_lowercase).collect()
}

/// One declared query parameter.
#[derive(Debug, Clone)]
pub(super) struct Param {
    pub(super) name: String,
    pub(super) role: String,
    pub(super) location: String,
    pub(super) required: bool,
    pub(super) schema: Value,
    pub(super) description: String,
    /// The whole declaration as JSON text, for what only its example says.
    pub(super) text: String,
}

/// Server-side filters that can read records after a cursor value: a
/// declared parameter per column (`filter[col][_gt]`, `col__gt`, `col_after`,
/// `min_col`…), or a `since`-style parameter for the update time.
pub(super) fn filters(query: &[&Param], columns: &[Column]) -> Vec<Filter> {
    let mut out = Vec::new();
    for c in columns.iter().filter(|c| matches!(c.kind, ColumnType::Datetime | ColumnType::Date | ColumnType::Integer))
    {
        let n = &c.name;
        let forms = [
            (format!("filter[{n}][_gte]"), true),
            (format!("filter[{n}][_gt]"), false),
            (format!("filter[{n}][gte]"), true),
            (format!("filter[{n}][gt]"), false),
            (format!("{n}__gte"), true),
            (format!("{n}__gt"), false),
            (format!("{n}[gte]"), true),
            (format!("{n}[gt]"), false),
            (format!("{n}_gte"), true),
            (format!("{n}_gt"), false),
            (format!("{n}_after"), false),
            (format!("{n}.gte"), true),
            (format!("{n}.gt"), false),
            (format!("min_{n}"), true),
        ];
        for (form, inclusive) in forms {
            if let Some(p) = query.iter().find(|p| p.name == form) {
                out.push(Filter { column: n.clone(), param: p.name.clone(), inclusive, value_prefix: String::new() });
            }
        }
    }
    // One `filter` parameter taking `{"<field>": {"<operator>": value}}`
    // (Directus; its operators are `_gt`, `_gte`…), sent in its bracket form.
    let operator_filter =
        query.iter().find(|p| p.name == "filter" && (p.text.contains("<operator>") || p.text.contains("_gte")));
    if let Some(p) = operator_filter {
        for c in
            columns.iter().filter(|c| matches!(c.kind, ColumnType::Datetime | ColumnType::Date | ColumnType::Integer))
        {
            out.push(Filter {
                column: c.name.clone(),
                param: format!("{}[{}][_gte]", p.name, c.name),
                inclusive: true,
                value_prefix: String::new(),
            });
        }
    }
    // `updated_since`, `modified_since`, `since`, `updated_after`: the
    // update-time column, when there is exactly one datetime to pair it with.
    let times: Vec<&Column> = columns.iter().filter(|c| c.kind == ColumnType::Datetime).collect();
    let updated = times
        .iter()
        .find(|c| {
            let r = role(&c.name);
            r.contains("updated") || r.contains("modified") || r.contains("changed")
        })
        .or_else(|| (times.len() == 1).then(|| &times[0]));
    for p in query {
        let inclusive = match p.role.as_str() {
            "updatedsince" | "modifiedsince" | "changedsince" | "since" | "updatedfrom" => true,
            "updatedafter" | "modifiedafter" | "changedafter" => false,
            _ => continue,
        };
        if let Some(c) = updated {
            out.push(Filter { column: c.name.clone(), param: p.name.clone(), inclusive, value_prefix: String::new() });
        }
    }
    out
}
