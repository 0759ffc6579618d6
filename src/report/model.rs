//! The report's input: one plain serde structure, built once per run by [`super::build`] and
//! read by every renderer. Its JSON form is the public `report.json` (see `docs/report-json.md`);
//! change it additively and bump [`SCHEMA_VERSION`] on any breaking change.

use serde::{Deserialize, Serialize};

use super::i18n::Lang;
use crate::facts::{AgencyFacts, AssessReason};
use crate::store::{FindingRecord, TrendPoint};

/// Version of the JSON schema (`schema_version` in `report.json`).
pub const SCHEMA_VERSION: u32 = 3;

/// Inspection mode of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Regular,
    Surprise,
    Spot,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "regular" => Some(Mode::Regular),
            "surprise" => Some(Mode::Surprise),
            "spot" => Some(Mode::Spot),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Regular => "regular",
            Mode::Surprise => "surprise",
            Mode::Spot => "spot",
        }
    }

    /// Label key in the translation table (`mode_regular`, ...).
    pub fn label_key(self) -> &'static str {
        match self {
            Mode::Regular => "mode_regular",
            Mode::Surprise => "mode_surprise",
            Mode::Spot => "mode_spot",
        }
    }
}

/// Severity, ordered from least to most severe.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Most severe first, the order reports list them in.
    pub const DESCENDING: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    /// Unknown text reads as `info` (a stored row from a newer rule pack, say).
    pub fn parse(s: &str) -> Severity {
        match s {
            "critical" => Severity::Critical,
            "high" => Severity::High,
            "medium" => Severity::Medium,
            "low" => Severity::Low,
            _ => Severity::Info,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
        }
    }
}

/// Lifecycle state of a failing finding in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingState {
    New,
    Persisting,
    Regressed,
    Resolved,
    /// Open before this run, not re-checked by it (subject not assessed, or the rule could not
    /// assess it): "chưa kiểm tra lại được". Never counted as resolved.
    Unverified,
    /// Open before this run, its service gone from a listing the run read completely:
    /// "không còn trong danh mục" (no longer listed), closed without being seen fixed.
    Withdrawn,
}

impl FindingState {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingState::New => "new",
            FindingState::Persisting => "persisting",
            FindingState::Regressed => "regressed",
            FindingState::Resolved => "resolved",
            FindingState::Unverified => "unverified",
            FindingState::Withdrawn => "withdrawn",
        }
    }
}

/// The run a report describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunInfo {
    pub id: i64,
    pub mode: Mode,
    /// RFC 3339, UTC (as stored).
    pub started_at: String,
    pub ended_at: Option<String>,
    pub seed: Option<i64>,
    pub ruleset_digest: String,
    pub config_digest: String,
    /// The run's chained history digest (the head of the chain when the run completed):
    /// `history verify --head` checks it is still stored. Empty for a run not complete.
    #[serde(default)]
    pub head_digest: String,
    /// `complete`, `incomplete` or `running`.
    pub status: String,
    /// Deployment name (`audit.name`).
    pub deployment: String,
}

/// What the rule pack says about a rule, for titles and remediation in reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RuleInfo {
    pub id: String,
    pub title_vi: String,
    pub title_en: String,
    pub remediation_vi: String,
    pub remediation_en: String,
    pub legal_basis: Vec<String>,
    /// Technical standards (RFCs, CA/B Forum, NIST, ...), shown under their own heading.
    #[serde(default)]
    pub technical_basis: Vec<String>,
    /// The rule's severity (`critical` ... `info`); empty when not known (XLSX rules sheet).
    #[serde(default)]
    pub severity: String,
}

impl RuleInfo {
    /// What reports need of a loaded rule (the run and `dvc-audit report` both use this, so a
    /// re-rendered report says what the original said).
    pub fn from_rule(r: &crate::rules::Rule) -> RuleInfo {
        RuleInfo {
            id: r.id.clone(),
            title_vi: r.title.vi.clone(),
            title_en: r.title.en.clone(),
            remediation_vi: r.remediation.vi.clone(),
            remediation_en: r.remediation.en.clone(),
            legal_basis: r.legal_texts(),
            technical_basis: r.technical_texts(),
            severity: r.severity.as_str().to_string(),
        }
    }

    /// Every rule of a set, by id.
    pub fn map(set: &crate::rules::RuleSet) -> std::collections::BTreeMap<String, RuleInfo> {
        set.rules()
            .iter()
            .map(|r| (r.id.clone(), RuleInfo::from_rule(r)))
            .collect()
    }
}

/// One failing (or resolved, or waived) finding with what a reader needs beside the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FindingView {
    pub record: FindingRecord,
    pub severity: Severity,
    pub state: FindingState,
    /// Rule title in the report's language (the rule id when the rule pack has none).
    pub rule_title: String,
    pub remediation: String,
    pub legal_basis: Vec<String>,
    #[serde(default)]
    pub technical_basis: Vec<String>,
    /// How long it has been open (first seen, times regressed), for the rows a report shows;
    /// `None` when the history does not know (a report built from values).
    #[serde(skip)]
    pub age: Option<crate::store::FindingAge>,
}

/// One subject that could not be assessed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UnassessedView {
    pub record: FindingRecord,
    /// The reason from the closed set; `None` when the stored text is not one of them.
    pub reason: Option<AssessReason>,
    /// The reason explained in the report's language.
    pub explanation: String,
    pub rule_title: String,
    /// Every rule that could not be judged for this subject and reason (one row instead of
    /// one per rule: a page that could not be read blocks every service rule at once).
    #[serde(default)]
    pub rules: Vec<String>,
}

/// Compliance shares of one agency; `None` when the denominator is zero.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Shares {
    /// Full-process services with VGCA signature support / full-process services.
    pub vgca: Option<f64>,
    /// Services publishing a recognised level / services.
    pub level_published: Option<f64>,
}

/// Everything a report says about one agency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AgencyReport {
    pub facts: AgencyFacts,
    /// Id of the agency this one merged into, empty if none.
    pub successor: String,
    /// Its name in the report's language (the id when the report does not know the agency).
    #[serde(default)]
    pub successor_name: String,
    pub former_names: Vec<String>,
    /// Host names not verified by a person.
    pub unverified: bool,
    /// Services of the agency (read or not).
    pub services_total: i64,
    /// Services whose page was read: the denominator of the shares.
    #[serde(default)]
    pub services_read: i64,
    pub full_total: i64,
    /// Read full-process services supporting the government signature, on their own page or
    /// site-wide (as SIG-001 and AGY-001 count them; the survey splits the two).
    pub full_with_vgca: i64,
    pub level_published: i64,
    pub shares: Shares,
    /// Complete runs covering this agency, oldest first (bounded to the last [`super::TREND_MAX`]).
    pub trend: Vec<TrendPoint>,
    /// Failing, unwaived findings: most severe first, then rule id, then subject.
    pub findings: Vec<FindingView>,
    pub could_not_assess: Vec<UnassessedView>,
    pub resolved: Vec<FindingView>,
    pub waived: Vec<FindingView>,
    /// Findings open before this run that it could not re-check (state `unverified`, the
    /// record as last seen failing, `record.reason` saying why this run could not check it).
    #[serde(default)]
    pub unverified_findings: Vec<FindingView>,
    /// Findings open before this run whose service left the agency's listing, read completely
    /// by this run (state `withdrawn`, the record as last seen failing): closed, not fixed.
    #[serde(default)]
    pub withdrawn_findings: Vec<FindingView>,
    /// What this run covered of the agency: the denominator of its shares.
    #[serde(default)]
    pub coverage: crate::facts::Coverage,
    /// Entries of the lists above left out of this document: rows past
    /// `report.max_rows_per_rule` per rule, or cut by [`ReportData::capped`] (emails).
    /// `0` in `report.json`, which is complete.
    #[serde(default)]
    pub omitted: i64,
    /// Failing, unwaived findings per rule (counted over the whole run, not over `findings`),
    /// most severe first, then rule id.
    #[serde(default)]
    pub rules: Vec<RuleSummary>,
    /// Exact counts of the whole run for this agency (the lists may hold fewer rows).
    #[serde(default)]
    pub counts: AgencyCounts,
    /// Whether the run could judge this agency (`not_assessed`: no service could be read).
    #[serde(default)]
    pub assessment: Assessment,
}

/// Whether a run could judge an agency at all.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Assessment {
    /// Every listed service was read.
    #[default]
    Assessed,
    /// Some services were read, not all (coverage incomplete).
    Partial,
    /// Nothing of the agency's services could be read: neither clean nor failing, and never
    /// ranked as the best performer ("0 services, 1 violation" must not read as good).
    NotAssessed,
}

impl Assessment {
    pub fn as_str(self) -> &'static str {
        match self {
            Assessment::Assessed => "assessed",
            Assessment::Partial => "partial",
            Assessment::NotAssessed => "not_assessed",
        }
    }

    /// From what a run read of an agency.
    pub fn of(coverage: &crate::facts::Coverage, services_read: i64) -> Assessment {
        if services_read == 0 {
            Assessment::NotAssessed
        } else if coverage.complete() {
            Assessment::Assessed
        } else {
            Assessment::Partial
        }
    }
}

impl AgencyReport {
    /// Something is new or regressed here (the `on_change` email policy reads this).
    pub fn has_change(&self) -> bool {
        self.counts.new + self.counts.regressed > 0
    }
}

/// One rule's failing, unwaived findings in one agency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RuleSummary {
    pub rule_id: String,
    pub severity: Severity,
    /// In the report's language (the rule id when the rule pack has none).
    pub rule_title: String,
    pub remediation: String,
    pub legal_basis: Vec<String>,
    /// Technical standards the rule rests on (shown under "Cơ sở kỹ thuật" / "Technical basis").
    #[serde(default)]
    pub technical_basis: Vec<String>,
    /// Findings of this rule (all states).
    pub count: i64,
    pub new: i64,
    pub persisting: i64,
    pub regressed: i64,
}

/// Exact counts for one agency.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AgencyCounts {
    /// Failing, unwaived, any severity: `violations + info`.
    pub findings: i64,
    /// Failing, unwaived, severity low or above: what reports call "Vi phạm".
    #[serde(default)]
    pub violations: i64,
    /// Failing, unwaived, severity info ("Thông tin"): recorded, never a violation.
    #[serde(default)]
    pub info: i64,
    pub new: i64,
    pub persisting: i64,
    pub regressed: i64,
    /// Lines (one per subject and reason).
    pub could_not_assess: i64,
    pub resolved: i64,
    pub waived: i64,
    /// Open findings this run could not re-check.
    #[serde(default)]
    pub unverified: i64,
    /// Open findings of services no longer in a completely read listing (closed, not fixed).
    #[serde(default)]
    pub withdrawn: i64,
}

/// Where the complete rows of a report are, for the complete formats (JSON, CSV, XLSX).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum RowsAt {
    /// The lists in [`ReportData`] are complete (a report built from values).
    #[default]
    InData,
    /// In a history database: the report's lists hold examples; writers stream every row of
    /// run `run_id` from the file (opened read-only).
    Database {
        path: std::path::PathBuf,
        run_id: i64,
        rules: std::sync::Arc<std::collections::BTreeMap<String, RuleInfo>>,
    },
}

/// A waiver worth a reader's attention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WaiverNote {
    /// Waiver reference (id or approval document).
    pub reference: String,
    /// `expired` (past its expiry) or `stale` (matched no finding).
    pub kind: String,
    pub rule_id: String,
    pub subject: String,
    pub expires: String,
    pub note: String,
}

/// Counts over the whole report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Totals {
    pub agencies: i64,
    pub services: i64,
    /// Failing, unwaived, any severity: `violations + info`.
    pub findings: i64,
    /// Failing, unwaived, severity low or above ("Vi phạm").
    #[serde(default)]
    pub violations: i64,
    /// Agencies no service of which could be read.
    #[serde(default)]
    pub agencies_not_assessed: i64,
    pub critical: i64,
    pub high: i64,
    pub medium: i64,
    pub low: i64,
    pub info: i64,
    pub new: i64,
    pub persisting: i64,
    pub regressed: i64,
    pub resolved: i64,
    pub could_not_assess: i64,
    pub waived: i64,
    /// Open findings this run could not re-check (not resolved, not known to be fixed).
    #[serde(default)]
    pub unverified: i64,
    /// Open findings of services that left a completely read listing: "no longer listed",
    /// closed without being fixed; not counted as open, nor in the exit code.
    #[serde(default)]
    pub withdrawn: i64,
    /// Services read (the denominator of the shares) and listed.
    #[serde(default)]
    pub services_read: i64,
    /// Agencies whose coverage is not complete (listing error, a bound, unread pages).
    #[serde(default)]
    pub agencies_incomplete: i64,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReportData {
    pub schema_version: u32,
    pub run: RunInfo,
    pub lang: Lang,
    /// Sorted by agency id.
    pub agencies: Vec<AgencyReport>,
    pub totals: Totals,
    pub waiver_notes: Vec<WaiverNote>,
    /// The survey table: one row per agency, in `agencies` order (version 3).
    #[serde(default)]
    pub survey: Vec<super::survey::AgencySurvey>,
    /// The inventory: every service of the agencies, by agency id then service key (version
    /// 3). Complete in `report.json` (streamed from the history database); in memory only for
    /// a report built from values — a gathered report's list is empty until written.
    #[serde(default)]
    pub services: Vec<super::inventory::ServiceRow>,
    /// Where the complete rows are (not part of the JSON).
    #[serde(skip)]
    pub rows: RowsAt,
}

impl ReportData {
    /// Something is new or regressed anywhere in the report.
    pub fn has_change(&self) -> bool {
        self.agencies.iter().any(AgencyReport::has_change)
    }

    /// The same report with each agency's lists cut to `limit` entries (most severe kept:
    /// lists are sorted most severe first); totals stay those of the full report and each
    /// agency's `omitted` counts what was cut. Emails use this so one message stays bounded.
    pub fn capped(&self, limit: usize) -> ReportData {
        let mut out = self.clone();
        for a in &mut out.agencies {
            let mut cut = 0usize;
            cut += a.findings.len().saturating_sub(limit);
            a.findings.truncate(limit);
            cut += a.could_not_assess.len().saturating_sub(limit);
            a.could_not_assess.truncate(limit);
            cut += a.resolved.len().saturating_sub(limit);
            a.resolved.truncate(limit);
            cut += a.waived.len().saturating_sub(limit);
            a.waived.truncate(limit);
            cut += a.unverified_findings.len().saturating_sub(limit);
            a.unverified_findings.truncate(limit);
            cut += a.withdrawn_findings.len().saturating_sub(limit);
            a.withdrawn_findings.truncate(limit);
            a.omitted += cut as i64;
        }
        out
    }

    /// The same report restricted to some agencies (for per-agency emails); totals recomputed.
    pub fn only(&self, agency_ids: &[&str]) -> ReportData {
        let agencies: Vec<AgencyReport> = self
            .agencies
            .iter()
            .filter(|a| agency_ids.contains(&a.facts.id.as_str()))
            .cloned()
            .collect();
        let waiver_notes = self
            .waiver_notes
            .iter()
            .filter(|w| {
                agency_ids
                    .iter()
                    .any(|id| w.subject == *id || w.subject.starts_with(&format!("{id}/")))
            })
            .cloned()
            .collect();
        ReportData {
            schema_version: self.schema_version,
            run: self.run.clone(),
            lang: self.lang,
            totals: super::build::totals(&agencies),
            agencies,
            waiver_notes,
            survey: self
                .survey
                .iter()
                .filter(|s| agency_ids.contains(&s.agency_id.as_str()))
                .cloned()
                .collect(),
            services: self
                .services
                .iter()
                .filter(|s| agency_ids.contains(&s.agency_id.as_str()))
                .cloned()
                .collect(),
            rows: self.rows.clone(),
        }
    }
}
