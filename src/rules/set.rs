//! [`RuleSet`]: a loaded, validated rule pack with its deployment settings.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use super::digest::rule_set_digest;
use super::model::{Rule, Severity};
use super::reads::Reads;
use crate::diag::{Diagnostic, Diagnostics, DiagnosticsError, SourceFile};

/// The default pack, compiled into the binary so it works from any directory.
/// (`rules/portals/` holds platform profiles, not rules, and is not part of it.)
pub const BUNDLED: &[(&str, &str)] = &[
    (
        "rules/signature.toml",
        include_str!("../../rules/signature.toml"),
    ),
    ("rules/level.toml", include_str!("../../rules/level.toml")),
    ("rules/portal.toml", include_str!("../../rules/portal.toml")),
    ("rules/tls.toml", include_str!("../../rules/tls.toml")),
    ("rules/http.toml", include_str!("../../rules/http.toml")),
    (
        "rules/availability.toml",
        include_str!("../../rules/availability.toml"),
    ),
    ("rules/agency.toml", include_str!("../../rules/agency.toml")),
];

/// Most rule files read from one directory, and largest file (bytes).
pub const MAX_FILES: usize = 200;
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Per-deployment settings (`[rules]` in `audit.toml`): parameter values and severity
/// overrides, e.g. `[rules.params] expiry_warning_days = 14`, `[rules.severity] "TLS-010" = "low"`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSettings {
    #[serde(default)]
    pub params: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub severity: BTreeMap<String, Severity>,
}

/// A problem with [`RuleSettings`], keyed so the config loader can point at the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("unknown rule parameter `{0}`")]
    UnknownParam(String),
    #[error("rule parameter `{name}` must be a {expected}")]
    ParamType { name: String, expected: String },
    #[error("severity override for unknown rule `{0}`")]
    UnknownRule(String),
}

/// A validated rule pack.
#[derive(Debug)]
pub struct RuleSet {
    pub(crate) rules: Vec<Rule>,
    /// Declared defaults, then deployment values.
    pub(crate) params: BTreeMap<String, toml::Value>,
    pub(crate) defaults: BTreeMap<String, toml::Value>,
    pub(crate) severity: BTreeMap<String, Severity>,
    /// What the rules read: evaluation converts only that (see [`Reads`]).
    pub(crate) reads: Reads,
    digest: String,
    settings_digest: String,
}

/// A loaded rule set and the warnings found while loading it.
#[derive(Debug)]
pub struct LoadedRules {
    pub rules: RuleSet,
    pub warnings: Diagnostics,
}

impl RuleSet {
    /// Load rule files already in memory; every problem is collected before failing once.
    pub fn from_sources(files: &[Arc<SourceFile>]) -> Result<LoadedRules, DiagnosticsError> {
        let (rules, params, diags) = super::load::load(files);
        let warnings = diags.into_result()?;
        let digest = rule_set_digest(rules.iter().map(|r| (r.id.as_str(), r.canonical.as_str())));
        let settings_digest = settings_digest(&params, &BTreeMap::new());
        let reads = Reads::of(&rules);
        Ok(LoadedRules {
            rules: RuleSet {
                rules,
                reads,
                defaults: params.clone(),
                params,
                severity: BTreeMap::new(),
                settings_digest,
                digest,
            },
            warnings,
        })
    }

    /// The default pack bundled in the binary.
    pub fn bundled() -> Result<LoadedRules, DiagnosticsError> {
        let files: Vec<Arc<SourceFile>> = BUNDLED
            .iter()
            .map(|(name, text)| SourceFile::new(*name, *text))
            .collect();
        RuleSet::from_sources(&files)
    }

    /// Every `*.toml` directly in `dir` (not subdirectories), in name order.
    pub fn load_dir(dir: &Path) -> Result<LoadedRules, DiagnosticsError> {
        RuleSet::from_sources(&read_dir(dir)?)
    }

    /// Rule files from several directories (a deployment's own rules beside the default pack);
    /// ids must be unique across all of them.
    pub fn load_dirs(dirs: &[&Path]) -> Result<LoadedRules, DiagnosticsError> {
        let mut files = Vec::new();
        let mut diags = Diagnostics::default();
        for d in dirs {
            match read_dir(d) {
                Ok(f) => files.extend(f),
                Err(e) => diags.extend(e.0),
            }
        }
        if diags.has_errors() {
            return Err(DiagnosticsError(diags));
        }
        RuleSet::from_sources(&files)
    }

    /// Apply deployment settings. All problems are returned together.
    pub fn configure(&mut self, settings: &RuleSettings) -> Result<(), Vec<SettingsError>> {
        let mut errors = Vec::new();
        let mut params = self.defaults.clone();
        for (name, value) in &settings.params {
            match self.defaults.get(name) {
                None => errors.push(SettingsError::UnknownParam(name.clone())),
                Some(d) => match coerce(d, value) {
                    Some(v) => {
                        params.insert(name.clone(), v);
                    }
                    None => errors.push(SettingsError::ParamType {
                        name: name.clone(),
                        expected: d.type_str().to_string(),
                    }),
                },
            }
        }
        for id in settings.severity.keys() {
            if self.rule(id).is_none() {
                errors.push(SettingsError::UnknownRule(id.clone()));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        self.settings_digest = settings_digest(&params, &settings.severity);
        self.params = params;
        self.severity = settings.severity.clone();
        Ok(())
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// The current id of a rule, following `renamed_from` (history continuity).
    pub fn resolve_id(&self, id: &str) -> Option<&str> {
        self.rules
            .iter()
            .find(|r| r.id == id || r.renamed_from.iter().any(|o| o == id))
            .map(|r| r.id.as_str())
    }

    /// SHA-256 (hex) of the whole pack (canonical form, sorted by id). Record it with results.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// SHA-256 (hex) of the parameter values and severity overrides in effect: with
    /// [`RuleSet::digest`] it pins down exactly what judged a run.
    pub fn settings_digest(&self) -> &str {
        &self.settings_digest
    }

    /// Each rule's id with the key of what judges it: SHA-256 (hex) of what decides its
    /// outcome — scope, `when`, `require`, `on_fail`, `assess_unavailable` — and of the values
    /// of the parameters those read. A run records them, so the lifecycle can tell a finding
    /// that became not applicable on new facts from one the operator switched off
    /// (`government_anchor = ""`) or a rule edit changed. Texts, citations, documentation,
    /// tests and severity are left out: rewording a message or adding a test must not keep
    /// the rule's not-applicable findings unverified (an edit of the whole canonical form
    /// would, on every pack upgrade).
    pub fn judgement_keys(&self) -> Vec<(String, String)> {
        self.rules
            .iter()
            .map(|r| {
                let mut reads = r.require.uses();
                if let Some(w) = &r.when {
                    for (k, v) in w.uses() {
                        reads.entry(k).or_default().merge(&v);
                    }
                }
                let mut items = vec![
                    ("scope".to_string(), format!("{:?}", r.scope)),
                    (
                        "when".to_string(),
                        r.when
                            .as_ref()
                            .map(|w| w.source().trim().to_string())
                            .unwrap_or_default(),
                    ),
                    ("require".to_string(), r.require.source().trim().to_string()),
                    ("on_fail".to_string(), format!("{:?}", r.on_fail)),
                    (
                        "assess_unavailable".to_string(),
                        r.assess_unavailable.to_string(),
                    ),
                ];
                if let Some(p) = reads.get("params") {
                    for (name, value) in &self.params {
                        if p.is_whole() || p.field(name).is_some() {
                            items.push((format!("param:{name}"), value.to_string()));
                        }
                    }
                }
                let key = rule_set_digest(items.iter().map(|(a, b)| (a.as_str(), b.as_str())));
                (r.id.clone(), key)
            })
            .collect()
    }

    /// Parameter values in effect (defaults overlaid with settings).
    pub fn params(&self) -> &BTreeMap<String, toml::Value> {
        &self.params
    }

    /// Severity of a rule after deployment overrides.
    pub fn severity_of(&self, rule: &Rule) -> Severity {
        self.severity
            .get(&rule.id)
            .copied()
            .unwrap_or(rule.severity)
    }
}

/// Digest of deployment settings: parameters (TOML text of each value) and overrides, sorted.
fn settings_digest(
    params: &BTreeMap<String, toml::Value>,
    severity: &BTreeMap<String, Severity>,
) -> String {
    let params = params
        .iter()
        .map(|(k, v)| (format!("param:{k}"), v.to_string()));
    let sev = severity
        .iter()
        .map(|(k, v)| (format!("severity:{k}"), v.as_str().to_string()));
    let items: Vec<(String, String)> = params.chain(sev).collect();
    rule_set_digest(items.iter().map(|(a, b)| (a.as_str(), b.as_str())))
}

/// Accept a value of the default's type; an integer where a float is declared is widened.
fn coerce(default: &toml::Value, v: &toml::Value) -> Option<toml::Value> {
    match (default, v) {
        (toml::Value::Float(_), toml::Value::Integer(i)) => Some(toml::Value::Float(*i as f64)),
        (d, v) if std::mem::discriminant(d) == std::mem::discriminant(v) => Some(v.clone()),
        _ => None,
    }
}

/// Read the rule files of a directory (top level only), bounded in count and size.
pub fn read_dir(dir: &Path) -> Result<Vec<Arc<SourceFile>>, DiagnosticsError> {
    let fail = |msg: String| {
        let mut d = Diagnostics::default();
        d.push(Diagnostic::error("rule::io", msg));
        DiagnosticsError(d)
    };
    let entries =
        std::fs::read_dir(dir).map_err(|e| fail(format!("cannot read {}: {e}", dir.display())))?;
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    if paths.len() > MAX_FILES {
        return Err(fail(format!(
            "{}: more than {MAX_FILES} rule files",
            dir.display()
        )));
    }
    let mut files = Vec::new();
    for p in paths {
        let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        if len > MAX_FILE_BYTES {
            return Err(fail(format!(
                "{}: larger than {MAX_FILE_BYTES} bytes",
                p.display()
            )));
        }
        files.push(SourceFile::read(&p)?);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_with(edit: impl Fn(&str) -> String) -> BTreeMap<String, String> {
        let files: Vec<Arc<SourceFile>> = BUNDLED
            .iter()
            .map(|(name, text)| {
                let text = if name.ends_with("signature.toml") {
                    edit(text)
                } else {
                    text.to_string()
                };
                SourceFile::new(*name, text)
            })
            .collect();
        let loaded = RuleSet::from_sources(&files).expect("the edited pack loads");
        loaded.rules.judgement_keys().into_iter().collect()
    }

    #[test]
    fn only_what_decides_an_outcome_changes_a_rules_judgement_key() {
        let same = keys_with(str::to_string);
        // Reworded texts, documentation and a new test case: the same judgement.
        let reworded = keys_with(|t| {
            t.replacen(
                "shows no support for the government signature (VGCA).",
                "shows no sign of the government signature (VGCA).",
                1,
            )
            .replacen(
                "A full-process (toàn trình, level 4) service",
                "A full-process (toàn trình, level 4, Decree 42/2022) service",
                1,
            )
            .replacen(
                "[[rule.test]]\nname = \"full service with vgca on its page\"",
                "[[rule.test]]\nname = \"full service, vgca twice\"\nservice = { level = \"full\", signature = { supported = true, providers = [\"vgca\", \"vgca\"] } }\nexpect = \"pass\"\n\n[[rule.test]]\nname = \"full service with vgca on its page\"",
                1,
            )
        });
        assert_ne!(
            reworded.get("SIG-001"),
            None,
            "the edited pack still has SIG-001"
        );
        // Before: the key hashed the whole canonical rule, so each of these edits changed it.
        assert_eq!(same, reworded);
        // A changed condition is another judgement.
        let stricter = keys_with(|t| {
            t.replacen(
                "when = \"service.level == 'full'\"",
                "when = \"service.level == 'full' || service.level == 'partial'\"",
                1,
            )
        });
        assert_ne!(same.get("SIG-001"), stricter.get("SIG-001"));
        assert_eq!(same.get("SIG-002"), stricter.get("SIG-002"));
    }
}
