//! Reading uploaded files record by record, whatever their size: CSV (comma,
//! semicolon or tab, header row), a JSON array of objects, or NDJSON. Memory
//! holds one record at a time; callers decide what to keep.
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::ImportError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv(u8),
    /// `[{…}, {…}]`
    JsonArray,
    /// One object per line.
    Ndjson,
    /// The JSON API's body: `{"name", "primary_key", "records": [...]}`.
    JsonBody,
}

impl Format {
    pub fn label(self) -> &'static str {
        match self {
            Format::Csv(b';') => "CSV (semicolon-separated)",
            Format::Csv(b'\t') => "CSV (tab-separated)",
            Format::Csv(_) => "CSV (comma-separated)",
            Format::JsonArray | Format::JsonBody => "JSON",
            Format::Ndjson => "NDJSON",
        }
    }
}

/// One record as read: CSV fields in header order, or a JSON object.
pub enum Record {
    Fields(Vec<String>),
    Object(Map<String, Value>),
}

/// Receives what the reader finds. Returning an error stops the reading.
pub trait Sink {
    /// CSV only: the header row's names.
    fn header(&mut self, names: Vec<String>) -> Result<(), ImportError>;
    /// `row` counts records from 1.
    fn record(&mut self, row: u64, record: Record) -> Result<(), ImportError>;
    /// JSON bodies: the top-level fields beside `records`.
    fn field(&mut self, _name: &str, _value: Value) {}
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Opens the file past a UTF-8 byte-order mark.
fn open(path: &Path) -> Result<BufReader<File>, ImportError> {
    let mut f = File::open(path).map_err(|e| ImportError::internal(format!("reading the upload: {e}")))?;
    let mut start = [0u8; 3];
    let n = f.read(&mut start).map_err(|e| ImportError::internal(format!("reading the upload: {e}")))?;
    let skip = if n == 3 && start == BOM { 3 } else { 0 };
    f.seek(SeekFrom::Start(skip)).map_err(|e| ImportError::internal(format!("reading the upload: {e}")))?;
    Ok(BufReader::with_capacity(256 * 1024, f))
}

/// Works out the format from the file name, or else from the first bytes; for
/// CSV, the separator is the one of `,` `;` tab that the header uses most.
pub fn detect(path: &Path, file_name: &str) -> Result<Format, ImportError> {
    let mut r = open(path)?;
    let mut head = Vec::new();
    r.by_ref().take(64 * 1024).read_to_end(&mut head).map_err(|e| ImportError::internal(e.to_string()))?;
    let first = head.iter().find(|b| !b.is_ascii_whitespace());
    let Some(&first) = first else {
        return Err(ImportError::file("The file is empty. Choose a file with a header row and at least one record."));
    };
    let lower = file_name.to_ascii_lowercase();
    if lower.ends_with(".ndjson") || lower.ends_with(".jsonl") {
        return Ok(Format::Ndjson);
    }
    if lower.ends_with(".json") || first == b'[' {
        return Ok(if first == b'{' { Format::Ndjson } else { Format::JsonArray });
    }
    if first == b'{' && !lower.ends_with(".csv") && !lower.ends_with(".tsv") {
        return Ok(Format::Ndjson);
    }
    let line_end = head.iter().position(|b| *b == b'\n').unwrap_or(head.len());
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    for b in &head[..line_end] {
        if *b == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(c) = counts.iter_mut().find(|(d, _)| d == b) {
            c.1 += 1;
        }
    }
    let best = counts.iter().max_by_key(|(_, n)| *n).filter(|(_, n)| *n > 0).map(|(d, _)| *d);
    Ok(Format::Csv(best.unwrap_or(if lower.ends_with(".tsv") { b'\t' } else { b',' })))
}

/// Reads every record of the file into `sink`.
pub fn read(path: &Path, format: Format, sink: &mut dyn Sink) -> Result<u64, ImportError> {
    let r = open(path)?;
    let rows = match format {
        Format::Csv(delimiter) => read_csv(r, delimiter, sink)?,
        Format::Ndjson => read_ndjson(r, sink)?,
        Format::JsonArray | Format::JsonBody => read_json(r, format, sink)?,
    };
    if rows == 0 {
        return Err(ImportError::file("The file has no records: add at least one row below the header."));
    }
    Ok(rows)
}

/// Watches the bytes the CSV reader takes for a quoted field that never
/// closes. The `csv` crate ends such a field at the end of the file, so
/// `1,"x⏎2,y⏎3,z` would be one record whose last cell holds the rest of the
/// file; this follows RFC 4180's quoting (as `csv` reads it) to say where the
/// open quote began.
struct QuoteTracker<R> {
    inner: R,
    delimiter: u8,
    state: Quote,
    line: u64,
    opened_at: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted field: `""` (a literal quote) or the closing one.
    Doubled,
}

impl<R: Read> QuoteTracker<R> {
    fn new(inner: R, delimiter: u8) -> Self {
        QuoteTracker { inner, delimiter, state: Quote::FieldStart, line: 1, opened_at: 0 }
    }

    fn observe(&mut self, b: u8) {
        let end_of_field = b == self.delimiter || b == b'\n' || b == b'\r';
        self.state = match (self.state, b) {
            (Quote::FieldStart, b'"') => {
                self.opened_at = self.line;
                Quote::Quoted
            }
            (Quote::Quoted, b'"') => Quote::Doubled,
            (Quote::Quoted, _) => Quote::Quoted,
            (Quote::Doubled, b'"') => Quote::Quoted,
            (_, _) if end_of_field => Quote::FieldStart,
            _ => Quote::Unquoted,
        };
        if b == b'\n' {
            self.line += 1;
        }
    }

    /// The line where a quote opened that the file never closes.
    fn unclosed(&self) -> Option<u64> {
        (self.state == Quote::Quoted).then_some(self.opened_at)
    }
}

impl<R: Read> Read for QuoteTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            self.observe(b);
        }
        Ok(n)
    }
}

fn read_csv(r: impl Read, delimiter: u8, sink: &mut dyn Sink) -> Result<u64, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(QuoteTracker::new(r, delimiter));
    let mut record = csv::ByteRecord::new();
    let mut width = 0;
    let mut names: Vec<String> = Vec::new();
    let mut row = 0u64;
    loop {
        let more = reader.read_byte_record(&mut record).map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            ImportError::file(format!("Line {line}: the file is not valid CSV ({e})."))
        })?;
        if !more {
            break;
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if names.is_empty() {
            for (i, field) in record.iter().enumerate() {
                let name = std::str::from_utf8(field)
                    .map_err(|_| ImportError::file(format!("Line {line}, header column {}: the text is not valid UTF-8. Save the file as UTF-8 and upload it again.", i + 1)))?;
                names.push(name.trim().to_owned());
            }
            width = names.len();
            sink.header(names.clone())?;
            continue;
        }
        // A blank line between records is not a record.
        if record.len() == 1 && record.get(0).is_some_and(|f| f.is_empty()) && width > 1 {
            continue;
        }
        row += 1;
        if record.len() != width {
            return Err(ImportError::at(
                row,
                None,
                format!(
                    "line {line} has {} fields but the header has {width}. Check for a missing or extra separator or an unclosed quote.",
                    record.len()
                ),
            ));
        }
        let mut fields = Vec::with_capacity(width);
        for (i, field) in record.iter().enumerate() {
            let text = std::str::from_utf8(field).map_err(|_| {
                ImportError::at(
                    row,
                    Some(names[i].clone()),
                    "the text is not valid UTF-8. Save the file as UTF-8 and upload it again.".into(),
                )
            })?;
            fields.push(text.to_owned());
        }
        sink.record(row, Record::Fields(fields))?;
    }
    if let Some(line) = reader.get_ref().unclosed() {
        return Err(ImportError::file(format!(
            "Line {line}: a quoted value starts here and its closing quote never comes, so the rest of the file would be read as one value. Close the quote (a quote inside a quoted value is written twice: \"\")."
        )));
    }
    if names.is_empty() {
        return Err(ImportError::file("The file is empty. Choose a file with a header row and at least one record."));
    }
    Ok(row)
}

fn read_ndjson(mut r: impl BufRead, sink: &mut dyn Sink) -> Result<u64, ImportError> {
    let mut line = Vec::new();
    let mut row = 0u64;
    let mut line_no = 0u64;
    loop {
        line.clear();
        let n = r.read_until(b'\n', &mut line).map_err(|e| ImportError::internal(e.to_string()))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        row += 1;
        let text = std::str::from_utf8(&line).map_err(|_| {
            ImportError::at(row, None, format!("line {line_no} is not valid UTF-8. Save the file as UTF-8."))
        })?;
        match serde_json::from_str::<Checked>(text) {
            Ok(Checked::Object(map, None)) => sink.record(row, Record::Object(map))?,
            Ok(Checked::Object(_, Some(key))) => return Err(repeated_key(row, &key)),
            Ok(Checked::Other) => {
                return Err(ImportError::at(row, None, format!("line {line_no} is not a JSON object.")));
            }
            Err(e) => return Err(ImportError::at(row, None, format!("line {line_no} is not valid JSON ({e})."))),
        }
    }
    Ok(row)
}

fn read_json(r: impl Read, format: Format, sink: &mut dyn Sink) -> Result<u64, ImportError> {
    let mut de = serde_json::Deserializer::from_reader(r);
    let mut state = Walk { sink, rows: 0, failure: None };
    let outcome = if format == Format::JsonBody {
        BodySeed(&mut state).deserialize(&mut de)
    } else {
        RecordsSeed(&mut state).deserialize(&mut de)
    };
    let outcome = outcome.and_then(|_| de.end());
    if let Some(err) = state.failure {
        return Err(err);
    }
    if let Err(e) = outcome {
        let what = if format == Format::JsonBody {
            "The body must be a JSON object with \"name\" and \"records\" (an array of objects)"
        } else {
            "The file must be a JSON array of objects"
        };
        return Err(ImportError::file(format!("{what}: {e}.")));
    }
    Ok(state.rows)
}

/// Walks a JSON document without holding more than one record.
struct Walk<'a> {
    sink: &'a mut dyn Sink,
    rows: u64,
    /// The sink's own error, which stopped the walk (serde only carries text).
    failure: Option<ImportError>,
}

struct RecordsSeed<'w, 'a>(&'w mut Walk<'a>);

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(v) = seq.next_element::<Checked>()? {
            self.0.rows += 1;
            let row = self.0.rows;
            let result = match v {
                Checked::Object(map, None) => self.0.sink.record(row, Record::Object(map)),
                Checked::Object(_, Some(key)) => Err(repeated_key(row, &key)),
                Checked::Other => Err(ImportError::at(row, None, "is not a JSON object.".into())),
            };
            if let Err(e) = result {
                self.0.failure = Some(e);
                return Err(serde::de::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}

fn repeated_key(row: u64, key: &str) -> ImportError {
    ImportError::at(
        row,
        None,
        format!(
            "the key “{key}” appears twice in this record; each key may appear once (which value was meant is unclear)."
        ),
    )
}

/// One JSON value of a records list: an object, with the first key it
/// repeats (serde_json's own map silently keeps the last value), or
/// anything else.
enum Checked {
    Object(Map<String, Value>, Option<String>),
    Other,
}

impl<'de> serde::Deserialize<'de> for Checked {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Checked, D::Error> {
        d.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        let mut out = Map::new();
        let mut repeated = None;
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value::<Value>()?;
            if out.contains_key(&key) {
                repeated.get_or_insert(key);
            } else {
                out.insert(key, value);
            }
        }
        Ok(Checked::Object(out, repeated))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Checked::Other)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked::Other)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked::Other)
    }
    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked::Other)
    }
    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked::Other)
    }
}

struct BodySeed<'w, 'a>(&'w mut Walk<'a>);

impl<'de> DeserializeSeed<'de> for BodySeed<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for BodySeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "records" => map.next_value_seed(RecordsSeed(self.0))?,
                "name" | "primary_key" => {
                    let v = map.next_value::<Value>()?;
                    self.0.sink.field(&key, v);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect {
        header: Vec<String>,
        rows: Vec<Vec<String>>,
    }

    impl Sink for Collect {
        fn header(&mut self, names: Vec<String>) -> Result<(), ImportError> {
            self.header = names;
            Ok(())
        }
        fn record(&mut self, _row: u64, record: Record) -> Result<(), ImportError> {
            match record {
                Record::Fields(f) => self.rows.push(f),
                Record::Object(m) => self.rows.push(m.values().map(|v| v.to_string()).collect()),
            }
            Ok(())
        }
    }

    fn read_bytes(name: &str, bytes: &[u8]) -> (Format, Result<Collect, ImportError>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let format = detect(&path, name).unwrap();
        let mut c = Collect::default();
        let r = read(&path, format, &mut c).map(|_| c);
        (format, r)
    }

    #[test]
    fn separators_bom_and_blank_lines() {
        let (f, c) = read_bytes("a.csv", b"\xEF\xBB\xBFid;name\r\n1;\"a;b\"\r\n\r\n2;c\r\n");
        assert_eq!(f, Format::Csv(b';'));
        let c = c.unwrap();
        assert_eq!(c.header, ["id", "name"], "the byte-order mark is not part of the first name");
        assert_eq!(c.rows, [vec!["1", "a;b"], vec!["2", "c"]]);
        let (f, _) = read_bytes("b.tsv", b"id\tname\n1\tx\n");
        assert_eq!(f, Format::Csv(b'\t'));
        let (f, c) = read_bytes("c.txt", b"{\"a\": 1}\n\n{\"a\": 2}\n");
        assert_eq!(f, Format::Ndjson);
        assert_eq!(c.unwrap().rows.len(), 2);
    }

    #[test]
    fn an_unclosed_quote_is_an_error_naming_its_line() {
        let (_, c) = read_bytes("q.csv", b"id,name\n1,\"x\n2,y\n3,z\n");
        let msg = c.err().expect("refused").to_string();
        assert!(msg.starts_with("Line 2: a quoted value starts here"), "{msg}");
        // Quotes that close, quotes inside values and quoted line breaks are fine.
        let (_, c) = read_bytes("ok.csv", b"id,name\r\n1,\"a \"\"b\"\"\r\nc\"\r\n2,5\" tall\r\n3,\"\"\r\n");
        assert_eq!(c.unwrap().rows, [vec!["1", "a \"b\"\r\nc"], vec!["2", "5\" tall"], vec!["3", ""]]);
        let (_, c) = read_bytes("end.csv", b"a;b\n1;\"open");
        assert!(c.err().unwrap().to_string().starts_with("Line 2:"));
    }

    #[test]
    fn a_key_twice_in_a_record_is_an_error_naming_record_and_key() {
        for (name, bytes) in [
            ("a.json", &b"[{\"id\": 1}, {\"id\": 2, \"a\": 1, \"a\": 2}]"[..]),
            ("a.ndjson", &b"{\"id\": 1}\n{\"id\": 2, \"a\": 1, \"a\": 2}\n"[..]),
        ] {
            let (_, c) = read_bytes(name, bytes);
            let msg = c.err().expect(name).to_string();
            assert!(msg.starts_with("Row 2: the key “a” appears twice"), "{name}: {msg}");
        }
        let (_, c) = read_bytes("nested.json", b"[{\"id\": 1, \"x\": {\"k\": 1}}]");
        assert_eq!(c.unwrap().rows.len(), 1);
    }

    #[test]
    fn broken_files_name_the_row() {
        let (_, c) = read_bytes("x.ndjson", b"{\"a\": 1}\n{\"a\": \n");
        let msg = c.err().unwrap().to_string();
        assert!(msg.starts_with("Row 2: line 2 is not valid JSON"), "{msg}");
        let (_, c) = read_bytes("x.json", b"[{\"a\": 1}, {\"a\": 2]");
        assert!(c.err().unwrap().to_string().contains("must be a JSON array of objects"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.csv");
        std::fs::write(&path, b"  \n").unwrap();
        assert!(detect(&path, "empty.csv").unwrap_err().to_string().starts_with("The file is empty"));
    }
}
