//! Embedded rule test cases: completing short fact tables into full facts, and running them.
//!
//! A case writes only the fields it cares about (`service = { level = "full" }`); the rest comes
//! from the facts types' `Default` (and, inside an `Option` or a list element, from the
//! vocabulary samples), so cases stay short and survive new fields. A key the facts do not have
//! is an error, as in expressions.

use std::collections::BTreeMap;
use std::ops::Range;

use serde_json::Value as Json;

use super::model::{Expect, RawTest, TestCase};
use super::vocab::{sample_agency, sample_host, sample_service};
use crate::facts::{HostFacts, ServiceFacts};

/// Overlay `user` on `base`, taking missing structure from `sample`. Unknown keys are errors.
fn fill(user: Json, base: &Json, sample: &Json, path: &str, errors: &mut Vec<String>) -> Json {
    match (user, sample) {
        (Json::Object(u), Json::Object(s)) => {
            let mut out = match base {
                Json::Object(b) => b.clone(),
                _ => s.clone(),
            };
            for (k, v) in u {
                let Some(sv) = s.get(&k) else {
                    errors.push(format!("unknown fact field `{path}.{k}`"));
                    continue;
                };
                let bv = out.get(&k).cloned().unwrap_or(Json::Null);
                let filled = fill(v, &bv, sv, &format!("{path}.{k}"), errors);
                out.insert(k, filled);
            }
            Json::Object(out)
        }
        (Json::Array(items), Json::Array(s)) => {
            let elem = s.first().cloned().unwrap_or(Json::Null);
            Json::Array(
                items
                    .into_iter()
                    .map(|i| fill(i, &elem, &elem, &format!("{path}[]"), errors))
                    .collect(),
            )
        }
        (v, _) => v,
    }
}

fn complete<T: serde::de::DeserializeOwned + serde::Serialize>(
    table: Option<&toml::Table>,
    default: &T,
    sample: &T,
    path: &str,
    errors: &mut Vec<String>,
) -> Option<T> {
    let base = serde_json::to_value(default).unwrap_or(Json::Null);
    let Some(table) = table else {
        return serde_json::from_value(base).ok();
    };
    let sample = serde_json::to_value(sample).unwrap_or(Json::Null);
    let user = match serde_json::to_value(table) {
        Ok(v) => v,
        Err(e) => {
            errors.push(format!("{path}: {e}"));
            return None;
        }
    };
    let before = errors.len();
    let filled = fill(user, &base, &sample, path, errors);
    if errors.len() > before {
        return None;
    }
    match serde_json::from_value(filled) {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(format!("{path}: {e}"));
            None
        }
    }
}

pub(crate) fn build_case(
    raw: &RawTest,
    expect: Expect,
    span: Range<usize>,
    declared: &BTreeMap<String, toml::Value>,
) -> Result<TestCase, Vec<String>> {
    let mut errors = Vec::new();
    let service = complete(
        raw.service.as_ref(),
        &ServiceFacts::default(),
        &sample_service(),
        "service",
        &mut errors,
    );
    let host = complete(
        raw.host.as_ref(),
        &HostFacts::default(),
        &sample_host(),
        "host",
        &mut errors,
    );
    let agency = complete(
        raw.agency.as_ref(),
        &sample_agency(),
        &sample_agency(),
        "agency",
        &mut errors,
    );
    let services: Vec<Option<ServiceFacts>> = raw
        .services
        .iter()
        .flatten()
        .map(|t| {
            complete(
                Some(t),
                &ServiceFacts::default(),
                &sample_service(),
                "services[]",
                &mut errors,
            )
        })
        .collect();
    let hosts: Vec<Option<HostFacts>> = raw
        .hosts
        .iter()
        .flatten()
        .map(|t| {
            complete(
                Some(t),
                &HostFacts::default(),
                &sample_host(),
                "hosts[]",
                &mut errors,
            )
        })
        .collect();
    let mut params = BTreeMap::new();
    for (k, v) in raw.params.iter().flatten() {
        match declared.get(k) {
            None => errors.push(format!("unknown parameter `{k}`")),
            Some(d) if std::mem::discriminant(d) != std::mem::discriminant(v) => {
                errors.push(format!(
                    "parameter `{k}` must be a {} like its default",
                    d.type_str()
                ))
            }
            Some(_) => {
                params.insert(k.clone(), v.clone());
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    match (service, host, agency) {
        (Some(service), Some(host), Some(agency)) => Ok(TestCase {
            name: raw.name.clone(),
            service,
            host,
            agency,
            services: services.into_iter().flatten().collect(),
            hosts: hosts.into_iter().flatten().collect(),
            params,
            expect,
            span,
        }),
        _ => Err(vec!["facts do not fit the fact types".into()]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(src: &str) -> RawTest {
        toml::from_str(src).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn short_cases_are_completed_from_defaults() {
        let r = raw(
            "name = 'x'\nexpect = 'pass'\nservice = { level = 'full', signature = { providers = ['vgca'] }, fetch = { error = { kind = 'dns' } } }\n",
        );
        let case = build_case(&r, Expect::Pass, 0..1, &BTreeMap::new());
        let case = case.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(case.service.level, crate::facts::Level::Full);
        assert_eq!(case.service.signature.providers, vec!["vgca".to_string()]);
        assert_eq!(
            case.service.fetch.error.map(|e| e.kind),
            Some(crate::facts::AssessReason::Dns)
        );
        assert!(!case.service.signature.supported);
    }

    #[test]
    fn unknown_fact_fields_are_errors() {
        let r = raw("name = 'x'\nexpect = 'pass'\nservice = { signature = { suported = true } }\n");
        let e = build_case(&r, Expect::Pass, 0..1, &BTreeMap::new()).err();
        assert_eq!(
            e,
            Some(vec![
                "unknown fact field `service.signature.suported`".to_string()
            ])
        );
    }
}
