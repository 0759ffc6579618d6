//! Waivers (`waivers.toml`): accepted findings, each with a reason, the approving decision and
//! an expiry date.
//!
//! ```toml
//! [[waiver]]
//! rule = "SIG-001"
//! subject = "bca/1.00*"        # glob over the subject key (`*`, `?`), or exact
//! reason = "Nâng cấp cổng đang triển khai"
//! decision = "Quyết định 123/QĐ-BCA ngày 01/10/2026"
//! expires = 2027-01-31
//! ```
//!
//! Expired waivers stop applying and are reported; waivers that matched nothing are reported as
//! stale, so the list does not silently rot (as cargo-deny does for its allow-lists).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Deserialize;
use serde_spanned::Spanned;
use time::Date;

use super::outcome::{AppliedWaiver, Outcome, Verdict};
use super::set::RuleSet;
use crate::diag::{Diagnostic, Diagnostics, DiagnosticsError, SourceFile, from_toml_error};

pub const MAX_WAIVERS: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    waiver: Vec<Spanned<RawWaiver>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWaiver {
    rule: Spanned<String>,
    subject: Spanned<String>,
    reason: Spanned<String>,
    decision: Spanned<String>,
    expires: Spanned<toml::Value>,
}

/// One validated waiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiver {
    pub rule: String,
    pub pattern: String,
    pub reason: String,
    pub decision: String,
    pub expires: Date,
    /// `file:line:col` of the entry.
    pub location: String,
}

/// A waiver named in a report, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaiverNotice {
    pub waiver: Waiver,
    /// Failing outcomes it matched in this run (expired ones match but do not apply).
    pub matched: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WaiverReport {
    /// Past their expiry date: no longer applied.
    pub expired: Vec<WaiverNotice>,
    /// Still valid but matched no failing outcome.
    pub stale: Vec<WaiverNotice>,
}

/// Loaded waivers with per-waiver match counters (atomic, so evaluation may run in parallel).
#[derive(Debug, Default)]
pub struct Waivers {
    entries: Vec<Waiver>,
    hits: Vec<AtomicUsize>,
}

fn parse_date(v: &toml::Value) -> Option<Date> {
    let text = match v {
        toml::Value::Datetime(d) if d.time.is_none() && d.offset.is_none() => d.to_string(),
        toml::Value::String(s) => s.clone(),
        _ => return None,
    };
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(&text, fmt).ok()
}

impl Waivers {
    pub fn load(path: &Path, rules: &RuleSet) -> Result<(Waivers, Diagnostics), DiagnosticsError> {
        Waivers::from_source(&SourceFile::read(path)?, rules)
    }

    /// Parse and validate; every problem is collected before failing once.
    pub fn from_source(
        file: &Arc<SourceFile>,
        rules: &RuleSet,
    ) -> Result<(Waivers, Diagnostics), DiagnosticsError> {
        let mut diags = Diagnostics::default();
        let raw: RawFile = match toml::from_str(&file.text) {
            Ok(r) => r,
            Err(e) => {
                diags.push(from_toml_error(file, "waiver::parse", &e));
                return Err(DiagnosticsError(diags));
            }
        };
        if raw.waiver.len() > MAX_WAIVERS {
            diags.push(
                Diagnostic::error(
                    "waiver::too-many",
                    format!("more than {MAX_WAIVERS} waivers"),
                )
                .in_file(file),
            );
            return Err(DiagnosticsError(diags));
        }
        let mut entries = Vec::new();
        for w in &raw.waiver {
            let r = w.get_ref();
            let before = diags.error_count();
            let id = r.rule.get_ref();
            if rules.rule(id).is_none() {
                let mut d = Diagnostic::error(
                    "waiver::unknown-rule",
                    format!("unknown rule `{id}`"),
                )
                .at(file, r.rule.span(), "no such rule");
                if let Some(now) = rules.resolve_id(id) {
                    d = d.with_help(format!("`{id}` was renamed to `{now}`"));
                }
                diags.push(d);
            }
            for (what, v) in [
                ("subject", &r.subject),
                ("reason", &r.reason),
                ("decision", &r.decision),
            ] {
                if v.get_ref().trim().is_empty() {
                    diags.push(
                        Diagnostic::error("waiver::empty", format!("`{what}` is empty")).at(
                            file,
                            v.span(),
                            "required",
                        ),
                    );
                }
            }
            let expires = parse_date(r.expires.get_ref());
            if expires.is_none() {
                diags.push(
                    Diagnostic::error(
                        "waiver::bad-date",
                        "`expires` must be a date like 2027-01-31",
                    )
                    .at(file, r.expires.span(), "not a date"),
                );
            }
            if let (Some(expires), true) = (expires, diags.error_count() == before) {
                let (l, c) = file.line_col(w.span().start);
                entries.push(Waiver {
                    rule: id.clone(),
                    pattern: r.subject.get_ref().trim().to_string(),
                    reason: r.reason.get_ref().trim().to_string(),
                    decision: r.decision.get_ref().trim().to_string(),
                    expires,
                    location: format!("{}:{l}:{c}", file.name),
                });
            }
        }
        let warnings = diags.into_result()?;
        Ok((Waivers::new(entries), warnings))
    }

    pub fn new(entries: Vec<Waiver>) -> Waivers {
        let hits = entries.iter().map(|_| AtomicUsize::new(0)).collect();
        Waivers { entries, hits }
    }

    pub fn entries(&self) -> &[Waiver] {
        &self.entries
    }

    /// Mark failing outcomes covered by a valid waiver. Waivers past `today` do not apply.
    pub fn apply(&self, outcomes: &mut [Outcome], today: Date) {
        for o in outcomes.iter_mut().filter(|o| o.verdict == Verdict::Fail) {
            let key = o.subject.key();
            let mut expired_match = None;
            for (i, w) in self.entries.iter().enumerate() {
                if *w.rule != *o.rule_id || !glob(&w.pattern, &key) {
                    continue;
                }
                if w.expires < today {
                    expired_match.get_or_insert(i);
                    continue;
                }
                if let Some(h) = self.hits.get(i) {
                    h.fetch_add(1, Ordering::Relaxed);
                }
                o.waiver = Some(AppliedWaiver {
                    pattern: w.pattern.clone(),
                    reason: w.reason.clone(),
                    decision: w.decision.clone(),
                    expires: w.expires.to_string(),
                });
                expired_match = None;
                break;
            }
            if let Some(h) = expired_match.and_then(|i| self.hits.get(i)) {
                h.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Expired and stale waivers after every `apply` of a run.
    pub fn report(&self, today: Date) -> WaiverReport {
        let mut r = WaiverReport::default();
        for (w, h) in self.entries.iter().zip(&self.hits) {
            let notice = WaiverNotice {
                waiver: w.clone(),
                matched: h.load(Ordering::Relaxed),
            };
            if w.expires < today {
                r.expired.push(notice);
            } else if notice.matched == 0 {
                r.stale.push(notice);
            }
        }
        r
    }
}

/// Glob match with `*` (any run) and `?` (one character). Hand-written: a dozen lines with
/// backtracking on the last `*`, no dependency needed.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(c) if *c == '?' || Some(c) == t.get(ti) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|c| *c == '*'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches() {
        assert!(glob("bca/1.00*", "bca/1.004222"));
        assert!(glob("bca/1.004222", "bca/1.004222"));
        assert!(!glob("bca/1.00*", "moj/1.004222"));
        assert!(glob("*.gov.vn:443", "dvc.hanoi.gov.vn:443"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "abbc"));
        assert!(glob("*", ""));
    }
}
