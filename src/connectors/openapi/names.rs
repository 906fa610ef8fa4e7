//! Stream names from paths: the last literal segment in snake case, made
//! unique within the document by the segments before it.
/// Literal segments of a path (no `{param}`), an extension such as `.json` dropped.
pub(super) fn literal_segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty() && !s.contains('{'))
        .map(|s| s.split_once('.').map_or(s, |(stem, _)| stem).to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `CallSummaries` → `call_summaries`, `items-v2` → `items_v2`.
pub fn snake(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    let mut prev_lower = false;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && prev_lower {
                out.push('_');
            }
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
            out.push(c.to_ascii_lowercase());
        } else {
            if !out.ends_with('_') {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    out.trim_matches('_').to_owned()
}

/// Names unique within the document: the last literal segment, then as
/// many segments before it as it takes, then a number.
pub(super) fn unique_names(wanted: &[(Vec<String>, Option<String>)]) -> Vec<String> {
    let base = |segments: &[String], id: &Option<String>, depth: usize| -> String {
        if segments.is_empty() {
            return id.as_deref().map(snake).filter(|s| !s.is_empty()).unwrap_or_else(|| "records".to_owned());
        }
        let from = segments.len().saturating_sub(depth);
        snake(&segments[from..].join("_"))
    };
    let mut depth = vec![1usize; wanted.len()];
    let mut names: Vec<String> = wanted.iter().map(|(s, id)| base(s, id, 1)).collect();
    for _ in 0..6 {
        let mut changed = false;
        let clashing: Vec<usize> =
            (0..names.len()).filter(|&i| names.iter().enumerate().any(|(j, n)| j != i && *n == names[i])).collect();
        for i in clashing {
            if depth[i] < wanted[i].0.len() {
                depth[i] += 1;
                names[i] = base(&wanted[i].0, &wanted[i].1, depth[i]);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // Still the same (one path under two spellings): number them.
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for n in names {
        let mut candidate = n.clone();
        let mut k = 2;
        while out.contains(&candidate) {
            candidate = format!("{n}_{k}");
            k += 1;
        }
        out.push(candidate);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_snake_case_and_unique() {
        assert_eq!(snake("CallSummaries"), "call_summaries");
        assert_eq!(snake("items-v2"), "items_v2");
        assert_eq!(snake("astronomicalObject"), "astronomical_object");
        let w = |s: &[&str]| (s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>(), None);
        let names = unique_names(&[w(&["a", "list"]), w(&["b", "list"]), w(&["list"]), w(&["list"]), w(&[])]);
        assert_eq!(names, ["a_list", "b_list", "list", "list_2", "records"]);
    }
}
