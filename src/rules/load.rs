//! Loading rule files: strict parse, then a validation pass that collects every problem with
//! its `file:line:col` (cargo-deny style), then compile. Nothing is returned if any error.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_spanned::Spanned;

use super::cases::build_case;
use super::expr::{Expr, ExprProblem};
use super::model::{
    Expect, OnFail, Origin, RawFile, RawRule, RawText, Rule, Scope, Severity, Status, Text,
};
use super::span::value_offset;
use super::template::Template;
use super::vocab::{Field, Shape, Vocabulary};
use crate::diag::{Diagnostic, Diagnostics, SourceFile, from_toml_error};

/// Most rules accepted in one rule set, and most test cases per rule.
pub const MAX_RULES: usize = 2000;
pub const MAX_TESTS_PER_RULE: usize = 100;

/// `^[A-Z]{2,5}-\d{3}$`, by hand (ten lines; a regex would do the same).
pub fn valid_id(id: &str) -> bool {
    let Some((prefix, num)) = id.split_once('-') else {
        return false;
    };
    (2..=5).contains(&prefix.len())
        && prefix.bytes().all(|b| b.is_ascii_uppercase())
        && num.len() == 3
        && num.bytes().all(|b| b.is_ascii_digit())
}

/// A problem that does not stop the rule from loading.
fn is_warning(p: &ExprProblem) -> bool {
    p.code == "unguarded-optional"
}

/// Turn expression problems into diagnostics inside the TOML string `value`.
fn expr_diags(
    file: &Arc<SourceFile>,
    value: &Spanned<String>,
    what: &str,
    problems: Vec<ExprProblem>,
    diags: &mut Diagnostics,
) {
    let span = value.span();
    for p in problems {
        let start = value_offset(file, &span, p.span.start);
        let end = value_offset(file, &span, p.span.end).max(start + 1);
        let code = format!("rule::{}", p.code);
        let message = format!("{what}: {}", p.message);
        let d = if is_warning(&p) {
            Diagnostic::warning(code, message)
        } else {
            Diagnostic::error(code, message)
        };
        let mut d = d.at(file, start..end, p.message.clone());
        if let Some(h) = p.help {
            d = d.with_help(h);
        }
        diags.push(d);
    }
}

/// A parsed file, before validation.
pub(crate) struct Parsed {
    pub file: Arc<SourceFile>,
    pub rules: Vec<Spanned<RawRule>>,
}

/// Strict parse of one file.
pub(crate) fn parse(file: &Arc<SourceFile>, diags: &mut Diagnostics) -> Option<Parsed> {
    match toml::from_str::<RawFile>(&file.text) {
        Ok(raw) => Some(Parsed {
            file: Arc::clone(file),
            rules: raw.rule,
        }),
        Err(e) => {
            diags.push(from_toml_error(file, "rule::parse", &e));
            None
        }
    }
}

/// Collect every declared parameter (name → default). Conflicting defaults are errors.
pub(crate) fn collect_params(
    parsed: &[Parsed],
    diags: &mut Diagnostics,
) -> BTreeMap<String, toml::Value> {
    let mut params: BTreeMap<String, (toml::Value, String)> = BTreeMap::new();
    for p in parsed {
        for rule in &p.rules {
            for (name, value) in &rule.get_ref().params {
                let here = {
                    let (l, c) = p.file.line_col(value.span().start);
                    format!("{}:{l}:{c}", p.file.name)
                };
                match params.get(name) {
                    Some((existing, at)) if existing != value.get_ref() => {
                        diags.push(
                            Diagnostic::error(
                                "rule::param-conflict",
                                format!("parameter `{name}` declared with another default"),
                            )
                            .at(&p.file, value.span(), "differs")
                            .with_help(format!("first declared at {at} as {existing}")),
                        );
                    }
                    Some(_) => {}
                    None => {
                        params.insert(name.clone(), (value.get_ref().clone(), here));
                    }
                }
            }
        }
    }
    params.into_iter().map(|(k, (v, _))| (k, v)).collect()
}

fn param_shape(v: &toml::Value) -> Shape {
    match v {
        toml::Value::Integer(_) => Shape::Int,
        toml::Value::Float(_) => Shape::Double,
        toml::Value::Boolean(_) => Shape::Bool,
        toml::Value::String(_) => Shape::String,
        toml::Value::Array(_) => Shape::List(Box::new(Shape::Any)),
        _ => Shape::Any,
    }
}

/// The variables of each scope and their shapes.
pub(crate) fn roots(
    vocab: &Vocabulary,
    params: &BTreeMap<String, toml::Value>,
    scope: Scope,
) -> BTreeMap<String, Shape> {
    let params = Shape::Record(
        params
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    Field {
                        shape: param_shape(v),
                        optional: false,
                    },
                )
            })
            .collect(),
    );
    let mut m = BTreeMap::from([
        ("agency".to_string(), vocab.agency.clone()),
        ("params".to_string(), params),
    ]);
    match scope {
        Scope::Service => {
            m.insert("service".into(), vocab.service.clone());
        }
        Scope::Host => {
            m.insert("host".into(), vocab.host.clone());
        }
        Scope::Agency => {
            m.insert(
                "services".into(),
                Shape::List(Box::new(vocab.service.clone())),
            );
            m.insert("hosts".into(), Shape::List(Box::new(vocab.host.clone())));
            m.insert("counts".into(), vocab.counts.clone());
        }
    }
    m
}

fn text(
    file: &Arc<SourceFile>,
    raw: &Spanned<RawText>,
    what: &str,
    diags: &mut Diagnostics,
) -> Text {
    let mut get = |lang: &str, v: &Option<Spanned<String>>| -> String {
        match v {
            Some(s) if !s.get_ref().trim().is_empty() => s.get_ref().clone(),
            Some(s) => {
                diags.push(
                    Diagnostic::error(
                        "rule::missing-translation",
                        format!("`{what}.{lang}` is empty"),
                    )
                    .at(file, s.span(), "empty text"),
                );
                String::new()
            }
            None => {
                diags.push(
                    Diagnostic::error(
                        "rule::missing-translation",
                        format!("`{what}.{lang}` is missing"),
                    )
                    .at(file, raw.span(), format!("no `{lang}` here"))
                    .with_help("every text is written in Vietnamese (vi) and English (en)"),
                );
                String::new()
            }
        }
    };
    let r = raw.get_ref();
    Text {
        vi: get("vi", &r.vi),
        en: get("en", &r.en),
    }
}

fn enum_value<T>(
    file: &Arc<SourceFile>,
    v: &Spanned<String>,
    what: &str,
    allowed: &[&str],
    parse: impl Fn(&str) -> Option<T>,
    diags: &mut Diagnostics,
) -> Option<T> {
    let r = parse(v.get_ref());
    if r.is_none() {
        diags.push(
            Diagnostic::error(
                format!("rule::unknown-{what}"),
                format!("unknown {what} `{}`", v.get_ref()),
            )
            .at(file, v.span(), format!("not a {what}"))
            .with_help(format!("one of: {}", allowed.join(", "))),
        );
    }
    r
}

fn compile_checked(
    file: &Arc<SourceFile>,
    v: &Spanned<String>,
    what: &str,
    roots: &BTreeMap<String, Shape>,
    diags: &mut Diagnostics,
) -> Option<Expr> {
    match Expr::compile(v.get_ref()) {
        Ok(e) => {
            let problems = e.check(roots);
            let fatal = problems.iter().any(|p| !is_warning(p));
            expr_diags(file, v, what, problems, diags);
            (!fatal).then_some(e)
        }
        Err(problems) => {
            expr_diags(file, v, what, problems, diags);
            None
        }
    }
}

fn template(
    file: &Arc<SourceFile>,
    v: &Option<Spanned<String>>,
    what: &str,
    roots: &BTreeMap<String, Shape>,
    diags: &mut Diagnostics,
) -> Option<Template> {
    let v = v.as_ref()?;
    match Template::parse(v.get_ref()) {
        Ok(t) => {
            let t = t.in_english(what.ends_with(".en"));
            let mut problems = Vec::new();
            for (e, off) in t.exprs() {
                problems.extend(
                    e.check(roots)
                        .into_iter()
                        .map(|p| super::template::shift(p, off)),
                );
            }
            let fatal = problems.iter().any(|p| !is_warning(p));
            expr_diags(file, v, what, problems, diags);
            (!fatal).then_some(t)
        }
        Err(problems) => {
            expr_diags(file, v, what, problems, diags);
            None
        }
    }
}

/// Validate and compile one raw rule. Returns `None` when it has errors (all pushed).
pub(crate) fn validate(
    file: &Arc<SourceFile>,
    raw: &Spanned<RawRule>,
    vocab: &Vocabulary,
    params: &BTreeMap<String, toml::Value>,
    diags: &mut Diagnostics,
) -> Option<Rule> {
    let before = diags.error_count();
    let r = raw.get_ref();
    let id = r.id.get_ref().clone();
    if !valid_id(&id) {
        diags.push(
            Diagnostic::error("rule::bad-id", format!("rule id `{id}` has the wrong form"))
                .at(file, r.id.span(), "expected e.g. `SIG-001`")
                .with_help("2 to 5 capital letters, a dash, 3 digits"),
        );
    }
    for old in &r.renamed_from {
        if !valid_id(old) {
            diags.push(
                Diagnostic::error("rule::bad-id", format!("renamed_from `{old}` is not an id")).at(
                    file,
                    raw.span(),
                    "in this rule",
                ),
            );
        }
    }
    let title = text(file, &r.title, "title", diags);
    let message = text(file, &r.message, "message", diags);
    let remediation = text(file, &r.remediation, "remediation", diags);
    let severity = enum_value(
        file,
        &r.severity,
        "severity",
        &["critical", "high", "medium", "low", "info"],
        Severity::parse,
        diags,
    );
    let scope = enum_value(
        file,
        &r.scope,
        "scope",
        &["service", "host", "agency"],
        Scope::parse,
        diags,
    );
    let status = enum_value(
        file,
        &r.status,
        "status",
        &["stable", "preview", "deprecated"],
        Status::parse,
        diags,
    );
    let on_fail = match &r.on_fail {
        None => Some(OnFail::Fail),
        Some(v) => enum_value(
            file,
            v,
            "on_fail",
            &["fail", "could_not_assess"],
            |s| match s {
                "fail" => Some(OnFail::Fail),
                "could_not_assess" => Some(OnFail::CouldNotAssess),
                _ => None,
            },
            diags,
        ),
    };
    if r.doc.get_ref().trim().is_empty() {
        diags.push(Diagnostic::error("rule::missing-doc", "`doc` is empty").at(
            file,
            r.doc.span(),
            "say what the rule checks and why",
        ));
    }
    if r.since.trim().is_empty() {
        diags.push(
            Diagnostic::error("rule::missing-since", "`since` is empty").at(
                file,
                r.id.span(),
                "in this rule",
            ),
        );
    }
    for (key, list) in [
        ("legal_basis", &r.legal_basis),
        ("technical_basis", &r.technical_basis),
    ] {
        for c in list {
            let text = c.get_ref().to_citation().text;
            if text.trim().is_empty() {
                diags.push(
                    Diagnostic::error("rule::empty-citation", format!("empty `{key}` entry")).at(
                        file,
                        c.span(),
                        "cite a text or remove the entry",
                    ),
                );
            } else if let Some(h) = super::model::hedge_in(&text) {
                diags.push(
                    Diagnostic::error(
                        "rule::hedged-citation",
                        format!("`{key}` entry says {h:?}: inspectors would read the doubt"),
                    )
                    .at(file, c.span(), "hedge in the citation text")
                    .with_help(
                        "write the citation plainly and put the doubt in metadata: \
                         { text = \"...\", verified = false, note = \"...\" }",
                    ),
                );
            }
        }
    }
    for url in &r.references {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            diags.push(
                Diagnostic::error(
                    "rule::bad-reference",
                    format!("reference `{url}` is not a URL"),
                )
                .at(file, raw.span(), "in this rule"),
            );
        }
    }
    let scope_v = scope.unwrap_or(Scope::Service);
    let roots = roots(vocab, params, scope_v);
    let when = r
        .when
        .as_ref()
        .map(|w| compile_checked(file, w, "when", &roots, diags));
    let require = compile_checked(file, &r.require, "require", &roots, diags);
    let msg_vi = template(file, &r.message.get_ref().vi, "message.vi", &roots, diags);
    let msg_en = template(file, &r.message.get_ref().en, "message.en", &roots, diags);

    // Embedded test cases.
    if r.test.len() > MAX_TESTS_PER_RULE {
        diags.push(
            Diagnostic::error(
                "rule::too-many-tests",
                format!("more than {MAX_TESTS_PER_RULE} test cases"),
            )
            .at(file, r.id.span(), "in this rule"),
        );
    }
    let mut tests = Vec::new();
    for t in r.test.iter().take(MAX_TESTS_PER_RULE) {
        let raw_test = t.get_ref();
        let given = [
            ("service", raw_test.service.is_some()),
            ("host", raw_test.host.is_some()),
            ("services", raw_test.services.is_some()),
            ("hosts", raw_test.hosts.is_some()),
        ];
        for (name, present) in given {
            if present && !scope_v.variables().contains(&name) {
                diags.push(
                    Diagnostic::warning(
                        "rule::unused-test-facts",
                        format!(
                            "test `{}` sets `{name}`, which a {} rule does not see",
                            raw_test.name,
                            scope_v.as_str()
                        ),
                    )
                    .at(file, t.span(), "in this test case")
                    .with_help(format!(
                        "variables here: {}",
                        scope_v.variables().join(", ")
                    )),
                );
            }
        }
        let expect = enum_value(
            file,
            &t.get_ref().expect,
            "expectation",
            &["pass", "fail", "not_applicable", "could_not_assess"],
            Expect::parse,
            diags,
        );
        match build_case(
            t.get_ref(),
            expect.unwrap_or(Expect::Pass),
            t.span(),
            params,
        ) {
            Ok(case) => tests.push(case),
            Err(errors) => {
                for e in errors {
                    diags.push(
                        Diagnostic::error(
                            "rule::bad-test",
                            format!("test `{}`: {e}", t.get_ref().name),
                        )
                        .at(file, t.span(), "in this test case"),
                    );
                }
            }
        }
    }
    let failing = match on_fail {
        Some(OnFail::CouldNotAssess) => Expect::CouldNotAssess,
        _ => Expect::Fail,
    };
    let has_pass = tests.iter().any(|t| t.expect == Expect::Pass);
    let has_fail = tests.iter().any(|t| t.expect == failing);
    if !(has_pass && has_fail) {
        let msg = format!(
            "rule `{id}` needs at least one `pass` and one `{}` test case",
            failing.as_str()
        );
        let d = if status == Some(Status::Stable) {
            Diagnostic::error("rule::missing-tests", msg)
        } else {
            Diagnostic::warning("rule::missing-tests", msg)
        };
        diags.push(d.at(file, r.id.span(), "in this rule"));
    }

    if diags.error_count() > before {
        return None;
    }
    let canonical = super::digest::canonical_json(r);
    Some(Rule {
        shared_id: Arc::from(id.as_str()),
        id,
        title,
        message,
        remediation,
        severity: severity?,
        scope: scope?,
        when: when.flatten(),
        require: require?,
        legal_basis: r
            .legal_basis
            .iter()
            .map(|c| c.get_ref().to_citation())
            .collect(),
        technical_basis: r
            .technical_basis
            .iter()
            .map(|c| c.get_ref().to_citation())
            .collect(),
        references: r.references.clone(),
        status: status?,
        since: r.since.clone(),
        renamed_from: r.renamed_from.clone(),
        doc: r.doc.get_ref().trim().to_string(),
        params: r
            .params
            .iter()
            .map(|(k, v)| (k.clone(), v.get_ref().clone()))
            .collect(),
        assess_unavailable: r.assess_unavailable,
        on_fail: on_fail?,
        evidence_fields: r.evidence_fields.clone(),
        tests,
        origin: Origin {
            file: Arc::clone(file),
            span: raw.span(),
        },
        templates: [msg_vi?, msg_en?],
        canonical,
    })
}

/// Validate a whole set of files: ids unique across files, every rule valid.
pub(crate) fn load(
    files: &[Arc<SourceFile>],
) -> (Vec<Rule>, BTreeMap<String, toml::Value>, Diagnostics) {
    let mut diags = Diagnostics::default();
    let parsed: Vec<Parsed> = files.iter().filter_map(|f| parse(f, &mut diags)).collect();
    let total: usize = parsed.iter().map(|p| p.rules.len()).sum();
    if total > MAX_RULES {
        diags.push(Diagnostic::error(
            "rule::too-many",
            format!("{total} rules: more than {MAX_RULES}"),
        ));
        return (Vec::new(), BTreeMap::new(), diags);
    }
    let params = collect_params(&parsed, &mut diags);
    let vocab = Vocabulary::from_facts();
    // Duplicate ids (and renamed ids that collide with a live id), pointing at both places.
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for p in &parsed {
        for rule in &p.rules {
            let id = rule.get_ref().id.get_ref();
            let (l, c) = p.file.line_col(rule.get_ref().id.span().start);
            let here = format!("{}:{l}:{c}", p.file.name);
            if let Some(first) = seen.get(id) {
                diags.push(
                    Diagnostic::error("rule::duplicate-id", format!("duplicate rule id `{id}`"))
                        .at(&p.file, rule.get_ref().id.span(), "defined again here")
                        .with_help(format!("first defined at {first}")),
                );
            } else {
                seen.insert(id.clone(), here);
            }
        }
    }
    for p in &parsed {
        for rule in &p.rules {
            for old in &rule.get_ref().renamed_from {
                if let Some(at) = seen.get(old) {
                    diags.push(
                        Diagnostic::error(
                            "rule::duplicate-id",
                            format!("renamed_from `{old}` is still a live rule id"),
                        )
                        .at(&p.file, rule.get_ref().id.span(), "in this rule")
                        .with_help(format!("live rule at {at}")),
                    );
                }
            }
        }
    }
    let mut rules = Vec::new();
    for p in &parsed {
        for raw in &p.rules {
            if let Some(rule) = validate(&p.file, raw, &vocab, &params, &mut diags) {
                rules.push(rule);
            }
        }
    }
    rules.sort_by(|a, b| a.id.cmp(&b.id));
    (rules, params, diags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_pattern() {
        assert!(valid_id("SIG-001"));
        assert!(valid_id("TLSX-123"));
        assert!(!valid_id("sig-001"));
        assert!(!valid_id("S-001"));
        assert!(!valid_id("SIG-01"));
        assert!(!valid_id("SIG_001"));
    }
}
