//! The fact vocabulary: which member paths a rule expression may read.
//!
//! Derived from the facts types themselves rather than declared by hand: [`sample_service`],
//! [`sample_host`] and [`sample_agency`] build values in which every list holds one element and
//! every `Option` is `Some`, serialise them to JSON and walk the shape. A field added to
//! `src/facts.rs` therefore joins the vocabulary on its own; a unit test fails if a sample leaves
//! a list empty or an option unset (the only way the shape could go stale).

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::facts::{
    AgencyFacts, AgencyKind, AssessReason, CertFacts, ErrorFact, Evidence, FetchFacts, HostFacts,
    HttpFacts, LeafFacts, Level, ServiceCounts, ServiceFacts, SignatureFacts, TlsFacts,
};

/// Values of the fact enums, from their own `as_str` (a test checks serde agrees).
fn level_values() -> Vec<&'static str> {
    [Level::Full, Level::Partial, Level::Info, Level::Unknown]
        .map(Level::as_str)
        .to_vec()
}

fn reason_values() -> Vec<&'static str> {
    AssessReason::ALL.map(AssessReason::as_str).to_vec()
}

fn kind_values() -> Vec<&'static str> {
    [AgencyKind::Ministry, AgencyKind::Province, AgencyKind::City]
        .map(AgencyKind::as_str)
        .to_vec()
}

/// Replace the shape at `path` (a string field) with an enumeration.
fn set_enum(shape: &mut Shape, path: &[&str], values: Vec<&'static str>) {
    let Some((first, rest)) = path.split_first() else {
        *shape = Shape::Enum(values);
        return;
    };
    if let Shape::Record(fields) = shape
        && let Some(f) = fields.get_mut(*first)
    {
        set_enum(&mut f.shape, rest, values);
    }
}

/// The shape of a value in the rule context.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Bool,
    Int,
    Double,
    String,
    List(Box<Shape>),
    /// A record with known fields. `optional` marks fields that may be `null` (Rust `Option`).
    Record(BTreeMap<String, Field>),
    /// A string with a closed set of values (a Rust enum): comparing it with a literal outside
    /// the set is a lint error, since it could never be true.
    Enum(Vec<&'static str>),
    /// Anything (not checked further).
    Any,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub shape: Shape,
    pub optional: bool,
}

impl Shape {
    /// Field names of a record, for "did you mean" help.
    pub fn field_names(&self) -> Vec<&str> {
        match self {
            Shape::Record(fields) => fields.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Shape::Bool => "bool",
            Shape::Int => "int",
            Shape::Double => "double",
            Shape::String | Shape::Enum(_) => "string",
            Shape::List(_) => "list",
            Shape::Record(_) => "record",
            Shape::Any => "any",
        }
    }
}

fn error_fact() -> ErrorFact {
    ErrorFact {
        kind: AssessReason::Timeout,
        message: String::new(),
    }
}

/// A service in which every list has an element and every option is set.
pub fn sample_service() -> ServiceFacts {
    ServiceFacts {
        signature: SignatureFacts {
            providers: vec![String::new()],
            site_wide_providers: vec![String::new()],
            evidence: vec![Evidence::default()],
            ..SignatureFacts::default()
        },
        fetch: FetchFacts {
            error: Some(error_fact()),
            ..FetchFacts::default()
        },
        evidence: vec![Evidence::default()],
        unknown: vec![crate::facts::UnknownFact {
            fact: String::new(),
            kind: AssessReason::Unobservable,
            message: String::new(),
            may_hold: Vec::new(),
        }],
        ..ServiceFacts::default()
    }
}

/// A host in which every list has an element and every option is set.
pub fn sample_host() -> HostFacts {
    HostFacts {
        tls: TlsFacts {
            versions: vec![String::new()],
            weak_ciphers: vec![String::new()],
            weak_classes: vec![String::new()],
            ..TlsFacts::default()
        },
        cert: LeafFacts {
            sans: vec![String::new()],
            trusted_by: vec![String::new()],
            issued_by: vec![String::new()],
            verify_errors: vec![String::new()],
            ..LeafFacts::default()
        },
        chain: vec![CertFacts {
            sans: vec![String::new()],
            ..CertFacts::default()
        }],
        http: HttpFacts::default(),
        error: Some(error_fact()),
        unknown: vec![crate::facts::UnknownFact {
            fact: String::new(),
            kind: AssessReason::Timeout,
            message: String::new(),
            may_hold: Vec::new(),
        }],
        ..HostFacts::default()
    }
}

/// An agency with empty text fields. `AgencyFacts` has no `Default` (its kind has no natural
/// default), so this is also the base that rule test cases fill in.
pub fn sample_agency() -> AgencyFacts {
    AgencyFacts {
        id: String::new(),
        name: String::new(),
        name_en: String::new(),
        kind: AgencyKind::Province,
        portal: String::new(),
        platform: String::new(),
        jurisdiction: String::new(),
    }
}

/// The shape of a serialised value. `null` can only come from an unset option, which the
/// samples avoid; it is read as `Any`.
pub fn shape_of(value: &Json) -> Shape {
    match value {
        Json::Bool(_) => Shape::Bool,
        Json::Number(n) if n.is_i64() || n.is_u64() => Shape::Int,
        Json::Number(_) => Shape::Double,
        Json::String(_) => Shape::String,
        Json::Array(items) => Shape::List(Box::new(items.first().map_or(Shape::Any, shape_of))),
        Json::Object(map) => Shape::Record(
            map.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        Field {
                            shape: shape_of(v),
                            optional: false,
                        },
                    )
                })
                .collect(),
        ),
        Json::Null => Shape::Any,
    }
}

/// Mark the fields that are `null` in the type's `Default` value as optional.
fn mark_optional(shape: &mut Shape, default: &Json) {
    let (Shape::Record(fields), Json::Object(map)) = (shape, default) else {
        return;
    };
    for (name, field) in fields.iter_mut() {
        match map.get(name) {
            Some(Json::Null) => field.optional = true,
            Some(v) => mark_optional(&mut field.shape, v),
            None => {}
        }
    }
}

fn shape_with_optional<T: serde::Serialize>(sample: &T, default: &T) -> Shape {
    let sample = serde_json::to_value(sample).unwrap_or(Json::Null);
    let default = serde_json::to_value(default).unwrap_or(Json::Null);
    let mut shape = shape_of(&sample);
    mark_optional(&mut shape, &default);
    shape
}

/// The vocabulary of every context variable.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    pub service: Shape,
    pub host: Shape,
    pub agency: Shape,
    /// `counts` of agency-scope rules ([`crate::facts::ServiceCounts`]).
    pub counts: Shape,
}

impl Vocabulary {
    pub fn from_facts() -> Self {
        let mut service = shape_with_optional(&sample_service(), &ServiceFacts::default());
        set_enum(&mut service, &["level"], level_values());
        set_enum(&mut service, &["fetch", "error", "kind"], reason_values());
        let mut host = shape_with_optional(&sample_host(), &HostFacts::default());
        set_enum(&mut host, &["error", "kind"], reason_values());
        let mut agency = shape_with_optional(&sample_agency(), &sample_agency());
        set_enum(&mut agency, &["kind"], kind_values());
        let counts = shape_with_optional(&ServiceCounts::default(), &ServiceCounts::default());
        Vocabulary {
            service,
            host,
            agency,
            counts,
        }
    }
}

/// Closest name by edit distance, for "did you mean" help. Hand-written (a dozen lines) rather
/// than a dependency.
pub fn closest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let best = candidates
        .iter()
        .map(|c| (levenshtein(name, c), *c))
        .min_by_key(|(d, _)| *d)?;
    (best.0 <= name.chars().count().div_ceil(3).max(2)).then_some(best.1)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails when a facts type gains a list or option the samples leave empty: the vocabulary
    /// would not know the element's fields.
    fn assert_complete(v: &Json, path: &str) {
        match v {
            Json::Null => panic!("{path} is null in the sample: set it in vocab.rs"),
            Json::Array(items) => {
                assert!(!items.is_empty(), "{path} is empty in the sample");
                for i in items {
                    assert_complete(i, &format!("{path}[]"));
                }
            }
            Json::Object(map) => {
                for (k, v) in map {
                    assert_complete(v, &format!("{path}.{k}"));
                }
            }
            _ => {}
        }
    }

    #[test]
    fn samples_cover_every_list_and_option() {
        assert_complete(
            &serde_json::to_value(sample_service()).unwrap_or_default(),
            "service",
        );
        assert_complete(
            &serde_json::to_value(sample_host()).unwrap_or_default(),
            "host",
        );
        assert_complete(
            &serde_json::to_value(sample_agency()).unwrap_or_default(),
            "agency",
        );
    }

    #[test]
    fn vocabulary_knows_nested_fields_and_options() {
        let v = Vocabulary::from_facts();
        let Shape::Record(service) = &v.service else {
            panic!("service is a record")
        };
        let Some(Field {
            shape: Shape::Record(fetch),
            ..
        }) = service.get("fetch")
        else {
            panic!("fetch")
        };
        assert!(fetch.get("error").is_some_and(|f| f.optional));
        assert_eq!(fetch.get("status").map(|f| &f.shape), Some(&Shape::Int));
        let Some(Field {
            shape: Shape::Record(sig),
            ..
        }) = service.get("signature")
        else {
            panic!("signature")
        };
        assert_eq!(
            sig.get("providers").map(|f| &f.shape),
            Some(&Shape::List(Box::new(Shape::String)))
        );
        assert_eq!(
            closest("suported", &["supported", "required"]),
            Some("supported")
        );
        assert_eq!(closest("zzzzzz", &["supported"]), None);
    }
}
