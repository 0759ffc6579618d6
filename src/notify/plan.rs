//! Who receives what: recipient selection per mode, the send policy, and the deterministic
//! message id that makes a run's email idempotent.
//!
//! - regular: one message per agency, to its contacts, copied to the inspectors of its
//!   jurisdiction and its own inspectors;
//! - surprise and spot: inspectors only (agencies must not learn of a surprise inspection
//!   from the scanner); agencies sharing the same inspectors are grouped into one message;
//! - a digest of the whole run to the inspection lead, and one per regional lead of the
//!   agencies of its jurisdictions (`[[email.lead.regional]]`);
//! - `on_change`: a message goes out only when its part of the report has something new or
//!   regressed.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{Config, SendPolicy};
use crate::report::{Mode, ReportData};

/// Addresses for one agency.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgencyRecipients {
    pub jurisdiction: String,
    pub contacts: Vec<String>,
    /// Inspectors for this agency in addition to those of its jurisdiction.
    pub inspectors: Vec<String>,
}

/// Every address the notifier may write to, as plain values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientBook {
    pub agencies: BTreeMap<String, AgencyRecipients>,
    /// Inspectors per jurisdiction.
    pub jurisdictions: BTreeMap<String, Vec<String>>,
    /// The inspection lead (whole-run digest).
    pub lead: Vec<String>,
    /// Regional leads: a digest each of their agencies.
    #[serde(default)]
    pub regional: Vec<RegionalRecipients>,
}

/// A regional lead: a digest of the agencies of some jurisdictions (and some listed agencies).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionalRecipients {
    pub to: Vec<String>,
    pub jurisdictions: Vec<String>,
    pub agencies: Vec<String>,
}

impl RecipientBook {
    pub fn from_config(cfg: &Config) -> RecipientBook {
        RecipientBook {
            agencies: cfg
                .agencies
                .iter()
                .map(|a| {
                    (
                        a.id.clone(),
                        AgencyRecipients {
                            jurisdiction: a.jurisdiction.clone(),
                            contacts: a.contacts.clone(),
                            inspectors: a.inspectors.clone(),
                        },
                    )
                })
                .collect(),
            jurisdictions: cfg.inspectors.clone(),
            lead: cfg.email.lead.to.clone(),
            regional: cfg
                .email
                .lead
                .regional
                .iter()
                .map(|r| RegionalRecipients {
                    to: r.to.clone(),
                    jurisdictions: r.jurisdictions.clone(),
                    agencies: r.agencies.clone(),
                })
                .collect(),
        }
    }

    /// Inspectors of an agency: its jurisdiction's plus its own, sorted, deduplicated.
    pub fn inspectors_of(&self, agency: &str) -> Vec<String> {
        let mut out = BTreeSet::new();
        if let Some(a) = self.agencies.get(agency) {
            if let Some(j) = self.jurisdictions.get(&a.jurisdiction) {
                out.extend(j.iter().map(|s| norm(s)));
            }
            out.extend(a.inspectors.iter().map(|s| norm(s)));
        }
        out.retain(|s| !s.is_empty());
        out.into_iter().collect()
    }

    pub fn contacts_of(&self, agency: &str) -> Vec<String> {
        let mut out: BTreeSet<String> = self
            .agencies
            .get(agency)
            .map(|a| a.contacts.iter().map(|s| norm(s)).collect())
            .unwrap_or_default();
        out.retain(|s| !s.is_empty());
        out.into_iter().collect()
    }
}

fn norm(s: &str) -> String {
    s.trim().to_string()
}

/// Who a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// An agency (contacts, inspectors in copy): regular mode.
    Agency,
    /// Inspectors only: surprise and spot modes.
    Inspectors,
    /// The inspection lead: the whole-run digest.
    Lead,
}

impl Audience {
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Agency => "agency",
            Audience::Inspectors => "inspectors",
            Audience::Lead => "lead",
        }
    }
}

/// One message to compose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedMessage {
    /// Deterministic: `run<id>-<audience>-<hash of recipients and agencies>`.
    pub id: String,
    pub audience: Audience,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    /// Agencies this message reports on, sorted.
    pub agencies: Vec<String>,
}

/// The id of a message for a run and a recipient group. Same run, same recipients, same
/// agencies → same id, so a message is never queued or sent twice.
pub fn message_id(
    run: i64,
    audience: Audience,
    to: &[String],
    cc: &[String],
    agencies: &[String],
) -> String {
    let mut h = Sha256::new();
    h.update(b"dvc-audit/message/v1\0");
    for part in [to, cc, agencies] {
        for s in part {
            h.update(s.to_ascii_lowercase().as_bytes());
            h.update(b"\0");
        }
        h.update(b"\x01");
    }
    let hash = hex::encode(h.finalize());
    format!("run{run}-{}-{}", audience.as_str(), &hash[..16])
}

fn planned(
    run: i64,
    audience: Audience,
    to: Vec<String>,
    cc: Vec<String>,
    agencies: Vec<String>,
) -> PlannedMessage {
    PlannedMessage {
        id: message_id(run, audience, &to, &cc, &agencies),
        audience,
        to,
        cc,
        agencies,
    }
}

/// The messages a run sends, sorted by id. Agencies with nobody to write to get no message of
/// their own (the lead's digest still covers them).
pub fn plan(data: &ReportData, book: &RecipientBook, policy: SendPolicy) -> Vec<PlannedMessage> {
    let run = data.run.id;
    let wanted = |ids: &[&str]| match policy {
        SendPolicy::Always => true,
        SendPolicy::OnChange => data
            .agencies
            .iter()
            .filter(|a| ids.contains(&a.facts.id.as_str()))
            .any(|a| a.has_change()),
    };
    let mut out = Vec::new();
    match data.run.mode {
        Mode::Regular => {
            for a in &data.agencies {
                let id = a.facts.id.as_str();
                if !wanted(&[id]) {
                    continue;
                }
                let contacts = book.contacts_of(id);
                let inspectors: Vec<String> = book
                    .inspectors_of(id)
                    .into_iter()
                    .filter(|i| !contacts.iter().any(|c| c.eq_ignore_ascii_case(i)))
                    .collect();
                let (to, cc) = if contacts.is_empty() {
                    (inspectors, Vec::new())
                } else {
                    (contacts, inspectors)
                };
                if !to.is_empty() {
                    out.push(planned(run, Audience::Agency, to, cc, vec![id.to_string()]));
                }
            }
        }
        Mode::Surprise | Mode::Spot => {
            let mut groups: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
            for a in &data.agencies {
                let inspectors = book.inspectors_of(&a.facts.id);
                if !inspectors.is_empty() {
                    groups
                        .entry(inspectors)
                        .or_default()
                        .push(a.facts.id.clone());
                }
            }
            for (to, agencies) in groups {
                let ids: Vec<&str> = agencies.iter().map(String::as_str).collect();
                if wanted(&ids) {
                    out.push(planned(run, Audience::Inspectors, to, Vec::new(), agencies));
                }
            }
        }
    }
    let lead: BTreeSet<String> = book
        .lead
        .iter()
        .map(|s| norm(s))
        .filter(|s| !s.is_empty())
        .collect();
    let all: Vec<&str> = data.agencies.iter().map(|a| a.facts.id.as_str()).collect();
    if !lead.is_empty() && wanted(&all) {
        out.push(planned(
            run,
            Audience::Lead,
            lead.into_iter().collect(),
            Vec::new(),
            all.iter().map(|s| s.to_string()).collect(),
        ));
    }
    // Regional leads: a digest of their jurisdictions' agencies (none when nothing matches).
    for r in &book.regional {
        let to: BTreeSet<String> =
            r.to.iter()
                .map(|s| norm(s))
                .filter(|s| !s.is_empty())
                .collect();
        let mine: Vec<&str> = data
            .agencies
            .iter()
            .filter(|a| {
                r.jurisdictions.contains(&a.facts.jurisdiction) || r.agencies.contains(&a.facts.id)
            })
            .map(|a| a.facts.id.as_str())
            .collect();
        if !to.is_empty() && !mine.is_empty() && wanted(&mine) {
            out.push(planned(
                run,
                Audience::Lead,
                to.into_iter().collect(),
                Vec::new(),
                mine.iter().map(|s| s.to_string()).collect(),
            ));
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out.dedup_by(|a, b| a.id == b.id);
    out
}
