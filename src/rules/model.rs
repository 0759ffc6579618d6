//! The rule model: what a validated rule is, and the raw TOML shape it is read from.
//!
//! Raw types are strict (`deny_unknown_fields`) and keep spans (`Spanned`) so the validation pass
//! in [`super::load`] can point at the offending value. Enumerations are read as text and
//! checked there, so one bad severity does not hide the other problems of the file.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_spanned::Spanned;

use super::expr::Expr;
use super::template::Template;
use crate::diag::SourceFile;
use crate::facts::{AgencyFacts, HostFacts, ServiceFacts};

pub use crate::facts::Severity;

/// What a rule judges: one service, one host, or one agency as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Service,
    Host,
    Agency,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Service, Scope::Host, Scope::Agency];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Service => "service",
            Scope::Host => "host",
            Scope::Agency => "agency",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Context variables an expression of this scope sees.
    pub fn variables(self) -> &'static [&'static str] {
        match self {
            Scope::Service => &["service", "agency", "params"],
            Scope::Host => &["host", "agency", "params"],
            Scope::Agency => &["agency", "counts", "services", "hosts", "params"],
        }
    }
}

/// Maturity of a rule (as in ruff): preview rules may change; deprecated ones will go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Stable,
    Preview,
    Deprecated,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Stable => "stable",
            Status::Preview => "preview",
            Status::Deprecated => "deprecated",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [Status::Stable, Status::Preview, Status::Deprecated]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// What a failed `require` means. Availability rules say `could_not_assess`: an outage is
/// recorded with its reason, never as a violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFail {
    Fail,
    CouldNotAssess,
}

/// Text in both languages (Vietnamese first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Text {
    pub vi: String,
    pub en: String,
}

/// One entry of a rule's legal or technical basis: the text a reader sees, and whether a person
/// has verified it against the source. Verification status is metadata for rule maintainers
/// (`rules list --json`, `docs/rules.md`), never part of the text an inspector reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citation {
    pub text: String,
    /// `false`: a maintainer still has to confirm it (e.g. a decree some sources say was replaced).
    pub verified: bool,
    /// Why it is unverified, or where it was checked; for maintainers only.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// Words that hedge a citation ("not verified", "some sources say ..."): they belong in the
/// citation's metadata (`verified = false`, `note`), not in text an inspector reads.
pub const HEDGES: [&str; 8] = [
    "chưa kiểm chứng",
    "chưa xác minh",
    "một số nguồn",
    "được cho là",
    "unverified",
    "some sources",
    "reportedly",
    "allegedly",
];

/// The first hedge found in `text` (case-insensitive).
pub fn hedge_in(text: &str) -> Option<&'static str> {
    let lower = text.to_lowercase();
    HEDGES.into_iter().find(|h| lower.contains(h))
}

/// Expected outcome of an embedded test case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    Pass,
    Fail,
    NotApplicable,
    CouldNotAssess,
}

impl Expect {
    pub fn parse(s: &str) -> Option<Expect> {
        match s {
            "pass" => Some(Expect::Pass),
            "fail" => Some(Expect::Fail),
            "not_applicable" => Some(Expect::NotApplicable),
            "could_not_assess" => Some(Expect::CouldNotAssess),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Pass => "pass",
            Expect::Fail => "fail",
            Expect::NotApplicable => "not_applicable",
            Expect::CouldNotAssess => "could_not_assess",
        }
    }
}

/// An embedded test case with its facts completed from the types' defaults.
#[derive(Debug, Clone)]
pub struct TestCase {
    pub name: String,
    pub service: ServiceFacts,
    pub host: HostFacts,
    pub agency: AgencyFacts,
    pub services: Vec<ServiceFacts>,
    pub hosts: Vec<HostFacts>,
    pub params: BTreeMap<String, toml::Value>,
    pub expect: Expect,
    pub span: Range<usize>,
}

/// Where a rule was written.
#[derive(Debug, Clone)]
pub struct Origin {
    pub file: Arc<SourceFile>,
    pub span: Range<usize>,
}

/// A validated, compiled rule.
#[derive(Debug)]
pub struct Rule {
    pub id: String,
    pub title: Text,
    pub message: Text,
    pub remediation: Text,
    /// Severity as written in the rule file (before deployment overrides).
    pub severity: Severity,
    pub scope: Scope,
    pub when: Option<Expr>,
    pub require: Expr,
    /// Vietnamese legal texts the rule rests on.
    pub legal_basis: Vec<Citation>,
    /// Technical standards the rule rests on (RFCs, CA/B Forum, NIST, ...), shown under their
    /// own heading; rules with no Vietnamese legal text carry at least this.
    pub technical_basis: Vec<Citation>,
    pub references: Vec<String>,
    pub status: Status,
    pub since: String,
    pub renamed_from: Vec<String>,
    pub doc: String,
    /// Parameters this rule declares, with their defaults.
    pub params: BTreeMap<String, toml::Value>,
    /// Evaluate even when the subject could not be fetched / probed (availability rules).
    pub assess_unavailable: bool,
    pub on_fail: OnFail,
    /// Evidence `field` values to attach to a finding (empty: all).
    pub evidence_fields: Vec<String>,
    pub tests: Vec<TestCase>,
    pub origin: Origin,
    pub(crate) templates: [Template; 2],
    /// Canonical serialisation (sorted keys), input of the rule-set digest.
    pub(crate) canonical: String,
    /// `id`, shared by every outcome of the rule (one allocation per rule, not per outcome).
    pub(crate) shared_id: Arc<str>,
}

// ---- raw TOML shape ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    #[serde(default)]
    pub rule: Vec<Spanned<RawRule>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawText {
    #[serde(default)]
    pub vi: Option<Spanned<String>>,
    #[serde(default)]
    pub en: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    pub id: Spanned<String>,
    pub title: Spanned<RawText>,
    pub message: Spanned<RawText>,
    pub remediation: Spanned<RawText>,
    pub severity: Spanned<String>,
    pub scope: Spanned<String>,
    #[serde(default)]
    pub when: Option<Spanned<String>>,
    pub require: Spanned<String>,
    #[serde(default)]
    pub legal_basis: Vec<Spanned<RawCitation>>,
    #[serde(default)]
    pub technical_basis: Vec<Spanned<RawCitation>>,
    #[serde(default)]
    pub references: Vec<String>,
    pub status: Spanned<String>,
    pub since: String,
    #[serde(default)]
    pub renamed_from: Vec<String>,
    pub doc: Spanned<String>,
    #[serde(default)]
    pub params: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    pub assess_unavailable: bool,
    #[serde(default)]
    pub on_fail: Option<Spanned<String>>,
    #[serde(default)]
    pub evidence_fields: Vec<String>,
    #[serde(default)]
    pub test: Vec<Spanned<RawTest>>,
}

/// A citation as written: a plain string (verified), or a table
/// `{ text = "...", verified = false, note = "..." }`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub(crate) enum RawCitation {
    Plain(String),
    Table(RawCitationTable),
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCitationTable {
    pub text: String,
    #[serde(default = "yes")]
    pub verified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

fn yes() -> bool {
    true
}

impl RawCitation {
    pub(crate) fn to_citation(&self) -> Citation {
        match self {
            RawCitation::Plain(text) => Citation {
                text: text.clone(),
                verified: true,
                note: String::new(),
            },
            RawCitation::Table(t) => Citation {
                text: t.text.clone(),
                verified: t.verified,
                note: t.note.clone().unwrap_or_default(),
            },
        }
    }
}

impl Rule {
    /// The legal basis as the texts a reader sees.
    pub fn legal_texts(&self) -> Vec<String> {
        self.legal_basis.iter().map(|c| c.text.clone()).collect()
    }

    /// The technical basis as the texts a reader sees.
    pub fn technical_texts(&self) -> Vec<String> {
        self.technical_basis
            .iter()
            .map(|c| c.text.clone())
            .collect()
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTest {
    pub name: String,
    #[serde(default)]
    pub service: Option<toml::Table>,
    #[serde(default)]
    pub host: Option<toml::Table>,
    #[serde(default)]
    pub agency: Option<toml::Table>,
    #[serde(default)]
    pub services: Option<Vec<toml::Table>>,
    #[serde(default)]
    pub hosts: Option<Vec<toml::Table>>,
    #[serde(default)]
    pub params: Option<toml::Table>,
    pub expect: Spanned<String>,
}
