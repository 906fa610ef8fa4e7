//! Discovery over real public OpenAPI documents (`tests/fixtures/openapi/`,
//! sources and licences in its SOURCES.md): it never fails or panics, names
//! streams uniquely, and its plan for each document is a reviewed snapshot
//! beside it. `KEYHUB_UPDATE_SNAPSHOTS=1` rewrites the snapshots; review
//! the diff before committing it.
use std::fmt::Write as _;
use std::path::PathBuf;

use super::document::{Operation, operations};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openapi")
}

/// What a person reviewing discovery wants to see of one stream.
fn describe(out: &mut String, op: &Operation) {
    let l = &op.locator;
    let _ = write!(
        out,
        "{}  GET {}  records={}  paging={:?}",
        op.name,
        l.path,
        l.records_key.as_deref().unwrap_or("(the answer)"),
        l.paging
    );
    if let Some(m) = l.max_size {
        let _ = write!(out, "  max={m}");
    }
    if let Some((p, v)) = &l.sort {
        let _ = write!(out, "  sort={p}={v}");
    }
    if let Some(pk) = &op.primary_key {
        let _ = write!(out, "  key={pk}");
    }
    for f in &l.fixed {
        let _ = write!(out, "  {}{}={}", if f.header { "header:" } else { "" }, f.name, f.value);
    }
    for f in &l.filters {
        let _ = write!(out, "  filter={}:{}{}", f.column, f.param, if f.inclusive { ">=" } else { ">" });
    }
    out.push('\n');
    let cols: Vec<String> = op.columns.iter().map(|c| format!("{}:{}", c.name, c.kind.as_str())).collect();
    let _ = writeln!(
        out,
        "    columns: {}",
        if cols.is_empty() { "(learnt from a sample)".to_owned() } else { cols.join(", ") }
    );
    for n in &op.notes {
        let _ = writeln!(out, "    note: {n}");
    }
}

#[test]
fn discovery_over_real_documents_matches_the_reviewed_snapshots() {
    let update = std::env::var("KEYHUB_UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1");
    let mut docs: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("the corpus directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    docs.sort();
    assert!(docs.len() >= 40, "at least 40 real documents, found {}", docs.len());
    let mut differ = Vec::new();
    let mut total = 0;
    for path in &docs {
        let text = std::fs::read_to_string(path).expect("readable");
        let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert!(super::document::is_openapi3(&doc), "{} is OpenAPI 3", path.display());
        let ops = operations(&doc);
        let mut names: Vec<&str> = ops.iter().map(|o| o.name.as_str()).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "unique stream names in {}", path.display());
        assert!(ops.iter().all(|o| !o.name.is_empty() && !o.locator.path.contains('{')), "{}", path.display());
        total += ops.len();
        let mut snapshot = format!("# {} list operations\n", ops.len());
        for op in &ops {
            describe(&mut snapshot, op);
        }
        let file = path.with_extension("streams.txt");
        if update {
            std::fs::write(&file, &snapshot).expect("write the snapshot");
        } else if std::fs::read_to_string(&file).ok().as_deref() != Some(snapshot.as_str()) {
            differ.push(file.display().to_string());
        }
    }
    assert!(total > 100, "the corpus yields streams ({total})");
    assert!(
        differ.is_empty(),
        "discovery changed for {differ:?}: run with KEYHUB_UPDATE_SNAPSHOTS=1 and review the diff"
    );
}
