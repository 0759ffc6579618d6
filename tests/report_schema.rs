//! `report.json` has a JSON Schema generated from its types (`docs/report-json.schema.json`):
//! the committed file is what the types generate, and reports validate against it.

use dvc_audit::report::{Lang, json, sample::sample};

const SCHEMA_FILE: &str = "docs/report-json.schema.json";

fn validator() -> jsonschema::Validator {
    let schema: serde_json::Value =
        serde_json::from_str(&json::schema()).expect("the generated schema is JSON");
    jsonschema::validator_for(&schema).expect("a valid JSON Schema")
}

#[test]
fn committed_schema_is_current() {
    let generated = json::schema();
    if std::env::var_os("DVC_AUDIT_BLESS").is_some() {
        std::fs::write(SCHEMA_FILE, &generated).expect("write the schema");
    }
    let committed = std::fs::read_to_string(SCHEMA_FILE).unwrap_or_default();
    assert!(
        committed == generated,
        "{SCHEMA_FILE} is stale: run `DVC_AUDIT_BLESS=1 cargo test --test report_schema`"
    );
}

#[test]
fn sample_reports_validate_and_a_broken_one_does_not() {
    let v = validator();
    for lang in [Lang::Vi, Lang::En] {
        let mut out = Vec::new();
        json::write(&sample(lang), &mut out).expect("write");
        let doc: serde_json::Value = serde_json::from_slice(&out).expect("parse");
        let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{lang:?}: {errors:?}");
        assert_eq!(doc["schema_version"], 3);
        assert!(!doc["services"].as_array().expect("services").is_empty());
        assert_eq!(
            doc["survey"].as_array().map(Vec::len),
            doc["agencies"].as_array().map(Vec::len)
        );
        // The schema is not vacuous: a wrong type or a missing key is caught.
        let mut bad = doc.clone();
        bad["services"][0]["signature_supported"] = "yes".into();
        assert!(!v.is_valid(&bad), "a string where a bool|null belongs");
        let mut bad = doc.clone();
        if let Some(o) = bad["survey"][0].as_object_mut() {
            o.remove("levels");
        }
        assert!(!v.is_valid(&bad), "a survey row without levels");
    }
}
