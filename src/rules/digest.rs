//! Stable hashes: the rule-set digest and finding fingerprints.
//!
//! Both hash fields in a fixed order with explicit separators (never an unordered map, the
//! lesson from nuclei's dedupe), so they are equal across runs, machines and crate versions.

use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use super::model::RawRule;

/// Canonical JSON of a rule as written: keys sorted at every level, no whitespace.
pub(crate) fn canonical_json(rule: &RawRule) -> String {
    let v = serde_json::to_value(rule).unwrap_or(Json::Null);
    let mut out = String::new();
    write_canonical(&v, &mut out);
    out
}

fn write_canonical(v: &Json, out: &mut String) {
    match v {
        Json::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Json::String((*k).clone()).to_string());
                out.push(':');
                if let Some(x) = map.get(*k) {
                    write_canonical(x, out);
                }
            }
            out.push('}');
        }
        Json::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// SHA-256 (hex) over the canonical forms of rules, sorted by id.
pub(crate) fn rule_set_digest<'a>(rules: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut items: Vec<(&str, &str)> = rules.collect();
    items.sort();
    let mut h = Sha256::new();
    h.update(b"dvc-audit/rules/v1\n");
    for (id, canonical) in items {
        h.update(id.as_bytes());
        h.update(b"\n");
        h.update(canonical.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// SHA-256 (hex) over a version tag, then each part followed by a NUL byte.
pub fn fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(b"dvc-audit/finding/v1\0");
    for p in parts {
        h.update(p.as_bytes());
        h.update(b"\0");
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys() {
        let v: Json = serde_json::json!({"b": 1, "a": {"d": [1, {"z": 1, "y": 2}], "c": "x"}});
        let mut out = String::new();
        write_canonical(&v, &mut out);
        assert_eq!(out, r#"{"a":{"c":"x","d":[1,{"y":2,"z":1}]},"b":1}"#);
    }
}
