//! Spans of every key and value in a TOML document, by path, so validation (which works on
//! plain structs) can point at the exact text of a problem.
//!
//! Written by hand because neither `toml` nor `serde_spanned` offers "span of the value at
//! path `agency.3.portal`" for a document deserialised into plain structs; wrapping every field
//! in `Spanned<T>` would leak spans into every consumer of the configuration.

use std::collections::HashMap;
use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// Key and value spans for every path in a document.
#[derive(Debug, Clone, Default)]
pub struct SpanIndex {
    /// path joined with `.` → (key span, value span). Array elements have the element's span
    /// as both.
    entries: HashMap<String, (Range<usize>, Range<usize>)>,
}

impl SpanIndex {
    pub fn build(root: &DeTable<'_>) -> Self {
        let mut index = SpanIndex::default();
        index.walk_table(root, "");
        index
    }

    fn walk_table(&mut self, table: &DeTable<'_>, prefix: &str) {
        for (key, value) in table.iter() {
            let path = if prefix.is_empty() {
                key.get_ref().to_string()
            } else {
                format!("{prefix}.{}", key.get_ref())
            };
            self.entries
                .insert(path.clone(), (key.span(), value.span()));
            self.walk_value(value.get_ref(), &path);
        }
    }

    fn walk_value(&mut self, value: &DeValue<'_>, path: &str) {
        match value {
            DeValue::Table(t) => self.walk_table(t, path),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let p = format!("{path}.{i}");
                    self.entries.insert(p.clone(), (item.span(), item.span()));
                    self.walk_value(item.get_ref(), &p);
                }
            }
            _ => {}
        }
    }

    /// Span of the value at `path` (dot-joined), falling back to the nearest known parent.
    pub fn value(&self, path: &str) -> Option<Range<usize>> {
        self.nearest(path).map(|(_, v)| v)
    }

    /// Span of the key at `path`, falling back to the nearest known parent.
    pub fn key(&self, path: &str) -> Option<Range<usize>> {
        self.nearest(path).map(|(k, _)| k)
    }

    fn nearest(&self, path: &str) -> Option<(Range<usize>, Range<usize>)> {
        let mut p = path;
        loop {
            if let Some(e) = self.entries.get(p) {
                return Some(e.clone());
            }
            match p.rfind('.') {
                Some(i) => p = &p[..i],
                None => return None,
            }
        }
    }
}

/// Turn a `serde_ignored` path into our dot-joined form (`agency.2.nmae`).
pub fn ignored_path(path: &serde_ignored::Path<'_>) -> String {
    fn push(path: &serde_ignored::Path<'_>, out: &mut Vec<String>) {
        use serde_ignored::Path as P;
        match path {
            P::Root => {}
            P::Seq { parent, index } => {
                push(parent, out);
                out.push(index.to_string());
            }
            P::Map { parent, key } => {
                push(parent, out);
                out.push(key.clone());
            }
            P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
                push(parent, out)
            }
        }
    }
    let mut segs = Vec::new();
    push(path, &mut segs);
    segs.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_and_array_spans() {
        let text = "[crawl]\nconcurrency = 4\n[[agency]]\nid = \"a\"\n[[agency]]\nid = \"b\"\n";
        let root = DeTable::parse(text).expect("parse");
        let idx = SpanIndex::build(root.get_ref());
        let v = idx.value("crawl.concurrency").expect("span");
        assert_eq!(&text[v], "4");
        let v = idx.value("agency.1.id").expect("span");
        assert_eq!(&text[v], "\"b\"");
        let k = idx.key("agency.1.id").expect("span");
        assert_eq!(&text[k], "id");
        // Unknown leaf falls back to its parent.
        assert!(idx.value("agency.1.nope").is_some());
    }
}
