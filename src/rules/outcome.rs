//! What evaluation produces: one [`Outcome`] per rule and subject.

use std::sync::Arc;

use serde::Serialize;

use super::digest::fingerprint;
use super::model::{Scope, Severity};
use crate::facts::AssessReason;

/// The verdict of one rule on one subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    NotApplicable,
    /// Not judged: the subject was not seen (fetch/probe error) or the rule could not be
    /// evaluated (`rule_error`). Reports list these apart from findings.
    CouldNotAssess {
        reason: AssessReason,
        detail: String,
    },
}

impl Verdict {
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::NotApplicable => "not_applicable",
            Verdict::CouldNotAssess { .. } => "could_not_assess",
        }
    }
}

/// Who a rule judged.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Subject {
    /// Identified by agency and procedure code; by URL when the page showed no code.
    Service {
        agency_id: String,
        code: String,
        url: String,
    },
    Host {
        name: String,
        port: i64,
    },
    Agency {
        id: String,
    },
}

impl Subject {
    /// The text waivers match against: `bca/1.004222`, `bca/https://...` (no code),
    /// `dvc.bca.gov.vn:443`, `bca`.
    pub fn key(&self) -> String {
        match self {
            Subject::Service {
                agency_id, code, ..
            } if !code.is_empty() => format!("{agency_id}/{code}"),
            Subject::Service { agency_id, url, .. } => format!("{agency_id}/{url}"),
            Subject::Host { name, port } => format!("{name}:{port}"),
            Subject::Agency { id } => id.clone(),
        }
    }

    /// Identity parts in a fixed order, tagged so a code can never collide with a URL.
    pub fn identity_parts(&self) -> Vec<String> {
        match self {
            Subject::Service {
                agency_id, code, ..
            } if !code.is_empty() => vec![agency_id.clone(), format!("code:{code}")],
            Subject::Service { agency_id, url, .. } => {
                vec![agency_id.clone(), format!("url:{url}")]
            }
            Subject::Host { name, port } => vec![name.to_ascii_lowercase(), port.to_string()],
            Subject::Agency { id } => vec![id.clone()],
        }
    }
}

/// A pointer to what a verdict rests on (bounded: at most [`MAX_EVIDENCE`] per outcome).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct EvidenceRef {
    /// `fetch`, `probe`, `portal`, or the extractor's evidence kind (`script_src`, ...).
    pub kind: String,
    pub url: String,
    /// When it was seen (RFC 3339), if known.
    pub at: String,
    /// HTTP status, 0 if none.
    pub status: i64,
    /// Content hash (page) or certificate hash (probe).
    pub sha256: String,
    pub locator: String,
    pub excerpt: String,
}

pub const MAX_EVIDENCE: usize = 16;

/// A waiver that covered a failing outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedWaiver {
    pub pattern: String,
    pub reason: String,
    pub decision: String,
    pub expires: String,
}

/// One rule's verdict on one subject, with what a report needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    #[serde(serialize_with = "ser_arc_str")]
    pub rule_id: Arc<str>,
    pub scope: Scope,
    /// After deployment overrides.
    pub severity: Severity,
    pub subject: Subject,
    /// Serialised flat: `"verdict": "could_not_assess", "reason": "timeout", "detail": ...`.
    #[serde(flatten)]
    pub verdict: Verdict,
    /// Rendered for failures only (empty otherwise).
    pub message_vi: String,
    pub message_en: String,
    /// Attached to failures and could-not-assess outcomes.
    pub evidence: Vec<EvidenceRef>,
    pub waiver: Option<AppliedWaiver>,
}

// serde's `rc` feature is off in this crate; one shared id string per rule is worth three lines.
fn ser_arc_str<S: serde::Serializer>(v: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v)
}

impl Outcome {
    /// Stable fingerprint: SHA-256 over rule id, scope and the subject's identity parts.
    pub fn fingerprint(&self) -> String {
        finding_fingerprint(&self.rule_id, self.scope, &self.subject)
    }

    /// A failure not covered by a waiver.
    pub fn is_finding(&self) -> bool {
        self.verdict == Verdict::Fail && self.waiver.is_none()
    }
}

/// Fingerprint of a (rule, subject) pair, computable without an outcome (e.g. for renamed ids).
pub fn finding_fingerprint(rule_id: &str, scope: Scope, subject: &Subject) -> String {
    let parts = subject.identity_parts();
    let mut all: Vec<&str> = vec![rule_id, scope.as_str()];
    all.extend(parts.iter().map(String::as_str));
    fingerprint(&all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_stable_across_runs_and_machines() {
        let s = Subject::Service {
            agency_id: "bca".into(),
            code: "1.004222".into(),
            url: "https://dichvucong.bocongan.gov.vn/x".into(),
        };
        // Fixed expectation: changing the recipe breaks every stored history, so it must be
        // a deliberate, versioned change.
        assert_eq!(
            finding_fingerprint("SIG-001", Scope::Service, &s),
            "e2b6d7c0eee08e5dd3b698077f23ce0f0dc5c909950f301bf23064c38dc5fe40"
        );
        // The URL does not enter the identity when there is a code.
        let s2 = Subject::Service {
            agency_id: "bca".into(),
            code: "1.004222".into(),
            url: "https://other/".into(),
        };
        assert_eq!(
            finding_fingerprint("SIG-001", Scope::Service, &s),
            finding_fingerprint("SIG-001", Scope::Service, &s2)
        );
        let h = Subject::Host {
            name: "DVC.example.gov.vn".into(),
            port: 443,
        };
        assert_eq!(h.key(), "DVC.example.gov.vn:443");
        let o = Outcome {
            rule_id: Arc::from("TLS-001"),
            scope: Scope::Host,
            severity: Severity::High,
            subject: h.clone(),
            verdict: Verdict::CouldNotAssess {
                reason: AssessReason::Timeout,
                detail: "30 s".into(),
            },
            message_vi: String::new(),
            message_en: String::new(),
            evidence: vec![],
            waiver: None,
        };
        let json = serde_json::to_value(&o).unwrap_or_default();
        assert_eq!(json["verdict"], "could_not_assess");
        assert_eq!(json["reason"], "timeout");
        assert_eq!(json["subject"]["kind"], "host");
        assert_eq!(json["rule_id"], "TLS-001");
        assert_ne!(
            finding_fingerprint("TLS-001", Scope::Host, &h),
            finding_fingerprint("TLS-002", Scope::Host, &h)
        );
    }
}
