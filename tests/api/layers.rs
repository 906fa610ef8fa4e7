//! The house rules that the compiler cannot see, read from the source text:
//! handlers (`src/web`, `src/api`) call services and read views; only services
//! write through the store. A store function "writes" when its body inserts,
//! updates, deletes, executes a statement or opens a write transaction.
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const WRITES: &[&str] = &[
    ".insert(",
    ".update(",
    ".delete(",
    "insert_many(",
    "update_many(",
    "delete_many(",
    "delete_by_id(",
    ".exec(",
    ".execute(",
    "execute_unprepared(",
    "begin_write(",
    ".save(",
];

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The code before a file's unit tests.
fn code_of(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// `pub async fn` names of a store module whose bodies write.
fn writers(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let starts: Vec<usize> = code.match_indices("pub async fn ").map(|(i, _)| i).collect();
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(code.len());
        // A health check's `SELECT 1` reads.
        let body = code[start..end].replace("execute_unprepared(\"SELECT", "");
        let name: String =
            body["pub async fn ".len()..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        // A write transaction writes, whatever its body says.
        if name == "begin_write" || WRITES.iter().any(|w| body.contains(w)) {
            found.insert(name);
        }
    }
    found
}

/// Calls of `prefix::name(` in `code`.
fn calls<'a>(code: &'a str, prefix: &str, names: &'a BTreeSet<String>) -> impl Iterator<Item = &'a String> {
    let prefix = format!("{prefix}::");
    names.iter().filter(move |name| {
        code.match_indices(&format!("{prefix}{name}(")).any(|(i, _)| {
            // `crate::store::keys::revoke(` must not count as `keys::revoke(` of another module.
            i == 0 || !code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
        })
    })
}

#[test]
fn handlers_call_no_store_function_that_writes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    // module path as written in handlers → its writing functions
    let mut stores: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // A module split into a directory re-exports its files: they count as one.
    let mut add = |module: String, file: &Path| stores.entry(module).or_default().extend(writers(&code_of(file)));
    for file in rust_files(&root.join("store")) {
        let rel = file.strip_prefix(root.join("store")).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_owned();
        add(if first == "mod" { "crate::store".to_owned() } else { format!("crate::store::{first}") }, &file);
    }
    for file in rust_files(&root.join("datasets/store")) {
        add("crate::datasets::store".into(), &file);
    }
    assert!(stores["crate::store::keys"].contains("revoke"), "the reader finds writing functions: {stores:?}");
    assert!(stores["crate::datasets::store"].contains("delete"), "and those of split modules: {stores:?}");

    let mut offences = Vec::new();
    for dir in ["web", "api"] {
        for file in rust_files(&root.join(dir)) {
            let code = code_of(&file);
            for (module, names) in &stores {
                let mut spellings = vec![module.clone()];
                // `use crate::store::live_data as store;` / `use crate::datasets::{…, store};`
                let tail = module.rsplit("::").next().unwrap();
                if code.contains(&format!("use {module} as store;"))
                    || (module == "crate::datasets::store"
                        && code.contains("use crate::datasets::{")
                        && code.contains(" store}"))
                {
                    spellings.push("store".into());
                }
                if code.contains(&format!("use crate::store::{tail};")) {
                    spellings.push(tail.to_owned());
                }
                for spelling in spellings {
                    for name in calls(&code, &spelling, names) {
                        offences.push(format!("{}: {spelling}::{name}", file.strip_prefix(&root).unwrap().display()));
                    }
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "handlers write through the store; move these into a service:\n{}",
        offences.join("\n")
    );
}

#[test]
fn no_source_file_is_over_600_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let long: Vec<String> = [root.join("src"), root.join("domain/src")]
        .iter()
        .flat_map(|dir| rust_files(dir))
        .filter_map(|file| {
            let lines = fs::read_to_string(&file).unwrap().lines().count();
            (lines > 600).then(|| format!("{} ({lines} lines)", file.strip_prefix(root).unwrap().display()))
        })
        .collect();
    assert!(long.is_empty(), "split these by page or by concern:\n{}", long.join("\n"));
}
