//! The survey's table, every run (issue 18): per agency, what the founding survey counted by
//! hand once — services listed and read, read services by level, toàn trình / một phần services
//! with government-signature (VGCA) evidence on their own page or only site-wide, other signature
//! providers seen, links to the National Public Service Portal, and the hosts' TLS health.
//!
//! One set of numbers: a gathered report takes them from the store's aggregates
//! ([`crate::store::Store::survey_counts`], the same table and filters as the report's
//! `service_counts`), a report built from values counts its [`ServiceFacts`] with the same
//! rules ([`counts_of`]); `services_read` and `vgca.full_per_service + vgca.full_site_wide` are
//! the agency's `services_read` and `full_with_vgca`. Every count except `services_listed` is over the
//! services read: a page not read says nothing either way.
//!
//! Rendered as its own block in HTML and text (`reports/templates/survey.*.hbs`, after the
//! summary), as a sheet in the XLSX, and as the `survey` array of `report.json`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::i18n::Lang;
use super::model::{AgencyReport, Severity};
use crate::facts::{HostFacts, Level, ServiceFacts};
use crate::store::FindingRecord;
use crate::store::reading::SurveyCounts;

/// One agency's row of the survey table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AgencySurvey {
    pub agency_id: String,
    /// Services of the agency (read or not): the agency's `services_total`.
    pub services_listed: i64,
    /// Services whose page was read: the agency's `services_read`.
    pub services_read: i64,
    /// Read services by level (they add up to `services_read`).
    pub levels: LevelCounts,
    /// Read toàn trình / một phần services with VGCA signature evidence.
    pub vgca: VgcaCounts,
    /// Signature providers other than VGCA seen on read services (per service or site-wide),
    /// each with the number of read services showing it; sorted by provider.
    pub other_providers: Vec<ProviderCount>,
    /// Read services linking to the National Public Service Portal.
    pub national_link: i64,
    pub tls: TlsHealth,
    /// Why the agency's listing could not be read (then its counts say nothing of its
    /// services: "not assessed", never "0 services, all clean"); `null` when it was read.
    #[serde(default)]
    pub listing_error: Option<crate::facts::AssessReason>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LevelCounts {
    /// Toàn trình (full process online).
    pub full: i64,
    /// Một phần (partly online).
    pub partial: i64,
    /// Information only.
    pub info: i64,
    /// No level published, or one no profile recognises.
    pub unknown: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct VgcaCounts {
    /// Toàn trình services whose own page shows VGCA.
    pub full_per_service: i64,
    /// Toàn trình services with VGCA only from a site-wide signal (theme-level plugin). With
    /// `full_per_service`, the agency's `full_with_vgca` (support as SIG-001 and AGY-001 count
    /// it; SIG-004 reports the site-wide-only ones).
    pub full_site_wide: i64,
    /// Một phần services whose own page shows VGCA.
    pub partial_per_service: i64,
    /// Một phần services with VGCA only site-wide.
    pub partial_site_wide: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProviderCount {
    /// Provider id (`vnpt-ca`, `viettel-ca`, `fpt-ca`, `bkav-ca`, `smartca`, `mysign`, ...).
    pub provider: String,
    pub services: i64,
}

/// What the probe found of the agency's hosts. "Ok" is a fact observed on every host, never
/// the absence of an observation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TlsState {
    /// Every host of the agency was reached and its TLS assessed, and no TLS rule fails.
    Ok,
    /// At least one failing, unwaived TLS rule.
    Failing,
    /// No failing TLS rule seen, but a host (or every host) could not be reached or its TLS
    /// could not be assessed, or the agency has no host: unknown, never "ok".
    #[default]
    NotAssessed,
}

/// The TLS state from what is known: failing as soon as one failing TLS finding is seen; "ok"
/// only when there are hosts and none of them went unreached or unassessed; otherwise not
/// assessed.
pub fn tls_state(hosts: i64, hosts_unknown: i64, failing: i64) -> TlsState {
    if failing > 0 {
        TlsState::Failing
    } else if hosts > 0 && hosts_unknown == 0 {
        TlsState::Ok
    } else {
        TlsState::NotAssessed
    }
}

impl TlsState {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsState::Ok => "ok",
            TlsState::Failing => "failing",
            TlsState::NotAssessed => "not_assessed",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TlsHealth {
    pub state: TlsState,
    /// Severity of the most severe failing TLS finding; `null` when none.
    pub worst: Option<Severity>,
    /// Failing, unwaived `TLS-*` findings.
    pub findings: i64,
    /// Hosts probed for the agency, and those that did not answer at all.
    pub hosts: i64,
    pub hosts_unreachable: i64,
}

/// The survey row of an agency from the store's counts.
pub fn from_counts(agency_id: &str, c: &SurveyCounts) -> AgencySurvey {
    let worst = (!c.tls_worst.is_empty()).then(|| Severity::parse(&c.tls_worst));
    // One host not reached, or that a TLS rule could not assess, is enough for "not
    // assessed": its TLS is unknown. Findings count by host, whichever agency owns them.
    let state = tls_state(c.hosts, c.hosts_tls_unknown, c.tls_findings);
    AgencySurvey {
        agency_id: agency_id.to_string(),
        services_listed: c.services,
        services_read: c.read,
        levels: LevelCounts {
            full: c.full,
            partial: c.partial,
            info: c.info,
            unknown: c.unknown_level,
        },
        vgca: VgcaCounts {
            full_per_service: c.full_vgca_service,
            full_site_wide: c.full_vgca_site_wide,
            partial_per_service: c.partial_vgca_service,
            partial_site_wide: c.partial_vgca_site_wide,
        },
        other_providers: c
            .other_providers
            .iter()
            .map(|(p, n)| ProviderCount {
                provider: p.clone(),
                services: *n,
            })
            .collect(),
        national_link: c.national_link,
        tls: TlsHealth {
            state,
            worst,
            findings: c.tls_findings,
            hosts: c.hosts,
            hosts_unreachable: c.hosts_unreachable,
        },
        listing_error: None,
    }
}

/// The same counts as [`crate::store::Store::survey_counts`], over values (a report built
/// from values): one agency's services and probed hosts, and the run's findings (every
/// agency's, or at least every host finding: a shared host's TLS findings are owned by the
/// first agency that has it).
pub fn counts_of(
    services: &[&ServiceFacts],
    findings: &[&FindingRecord],
    hosts: &[&HostFacts],
) -> SurveyCounts {
    let mut c = SurveyCounts {
        services: services.len() as i64,
        ..SurveyCounts::default()
    };
    for s in services.iter().filter(|s| s.fetch.error.is_none()) {
        c.read += 1;
        match s.level {
            Level::Full => c.full += 1,
            Level::Partial => c.partial += 1,
            Level::Info => c.info += 1,
            Level::Unknown => c.unknown_level += 1,
        }
        let sig = &s.signature;
        let own = sig.providers.iter().any(|p| p == "vgca");
        let site = sig.site_wide_providers.iter().any(|p| p == "vgca");
        match (s.level, own, site) {
            (Level::Full, true, _) => c.full_vgca_service += 1,
            (Level::Full, false, true) => c.full_vgca_site_wide += 1,
            (Level::Partial, true, _) => c.partial_vgca_service += 1,
            (Level::Partial, false, true) => c.partial_vgca_site_wide += 1,
            _ => {}
        }
        if s.national_portal_link {
            c.national_link += 1;
        }
        let mut others: Vec<&String> = sig
            .providers
            .iter()
            .chain(&sig.site_wide_providers)
            .filter(|p| *p != "vgca")
            .collect();
        others.sort();
        others.dedup();
        for p in others {
            *c.other_providers.entry(p.clone()).or_default() += 1;
        }
    }
    c.hosts = hosts.len() as i64;
    c.hosts_unreachable = hosts.iter().filter(|h| h.error.is_some()).count() as i64;
    let subjects: Vec<String> = hosts
        .iter()
        .map(|h| format!("{}:{}", h.name, h.port))
        .collect();
    // The TLS findings on these hosts, whichever agency owns them.
    let on_hosts: Vec<&FindingRecord> = findings
        .iter()
        .copied()
        .filter(|f| {
            f.scope == "host" && f.rule_id.starts_with("TLS-") && subjects.contains(&f.subject)
        })
        .collect();
    c.hosts_tls_unknown = hosts
        .iter()
        .zip(&subjects)
        .filter(|(h, subject)| {
            h.error.is_some()
                || on_hosts
                    .iter()
                    .any(|f| f.subject == **subject && f.outcome == "could_not_assess")
        })
        .count() as i64;
    let tls: Vec<Severity> = on_hosts
        .iter()
        .filter(|f| f.outcome == "fail" && f.waiver.is_empty())
        .map(|f| Severity::parse(&f.severity))
        .collect();
    c.tls_findings = tls.len() as i64;
    c.tls_worst = tls
        .iter()
        .max()
        .map(|s| s.as_str().to_string())
        .unwrap_or_default();
    c
}

/// Totals of survey rows (the table's last line).
pub fn total(rows: &[AgencySurvey]) -> AgencySurvey {
    let mut t = AgencySurvey::default();
    let mut providers: std::collections::BTreeMap<&str, i64> = Default::default();
    for r in rows {
        t.services_listed += r.services_listed;
        t.services_read += r.services_read;
        t.levels.full += r.levels.full;
        t.levels.partial += r.levels.partial;
        t.levels.info += r.levels.info;
        t.levels.unknown += r.levels.unknown;
        t.vgca.full_per_service += r.vgca.full_per_service;
        t.vgca.full_site_wide += r.vgca.full_site_wide;
        t.vgca.partial_per_service += r.vgca.partial_per_service;
        t.vgca.partial_site_wide += r.vgca.partial_site_wide;
        t.national_link += r.national_link;
        t.tls.findings += r.tls.findings;
        t.tls.hosts += r.tls.hosts;
        t.tls.hosts_unreachable += r.tls.hosts_unreachable;
        t.tls.worst = t.tls.worst.max(r.tls.worst);
        for p in &r.other_providers {
            *providers.entry(&p.provider).or_default() += p.services;
        }
    }
    t.other_providers = providers
        .into_iter()
        .map(|(p, n)| ProviderCount {
            provider: p.to_string(),
            services: n,
        })
        .collect();
    // "Ok" only when every agency's row is: one unknown row leaves the total unknown.
    t.tls.state = if t.tls.findings > 0 || rows.iter().any(|r| r.tls.state == TlsState::Failing) {
        TlsState::Failing
    } else if !rows.is_empty() && rows.iter().all(|r| r.tls.state == TlsState::Ok) {
        TlsState::Ok
    } else {
        TlsState::NotAssessed
    };
    t
}

/// Column headers of the survey table (XLSX sheet, HTML and text), in `lang`.
pub fn headers(lang: Lang) -> [&'static str; 14] {
    match lang {
        Lang::Vi => [
            "Mã cơ quan",
            "Cơ quan",
            "Dịch vụ liệt kê",
            "Đã đọc",
            "Toàn trình",
            "Một phần",
            "Chỉ thông tin",
            "Chưa rõ mức độ",
            "Toàn trình có VGCA (từng dịch vụ)",
            "Toàn trình có VGCA (toàn trang)",
            "Một phần có VGCA (từng dịch vụ)",
            "Một phần có VGCA (toàn trang)",
            "Nhà cung cấp khác",
            "Liên kết Cổng DVC quốc gia",
        ],
        Lang::En => [
            "Agency id",
            "Agency",
            "Services listed",
            "Read",
            "Full process",
            "Partial",
            "Information only",
            "Level unknown",
            "Full with VGCA (per service)",
            "Full with VGCA (site-wide)",
            "Partial with VGCA (per service)",
            "Partial with VGCA (site-wide)",
            "Other providers",
            "National portal links",
        ],
    }
}

/// Headers of the TLS columns (after [`headers`]).
pub fn tls_headers(lang: Lang) -> [&'static str; 5] {
    match lang {
        Lang::Vi => [
            "TLS: tình trạng",
            "TLS: mức cao nhất",
            "TLS: vi phạm",
            "Máy chủ",
            "Máy chủ không kết nối được",
        ],
        Lang::En => [
            "TLS: state",
            "TLS: worst",
            "TLS: findings",
            "Hosts",
            "Hosts unreachable",
        ],
    }
}

/// The TLS state in words.
pub fn tls_state_label(lang: Lang, s: TlsState) -> &'static str {
    match (lang, s) {
        (Lang::Vi, TlsState::Ok) => "Đạt",
        (Lang::Vi, TlsState::Failing) => "Có vi phạm",
        (Lang::Vi, TlsState::NotAssessed) => "Không thể đánh giá",
        (Lang::En, TlsState::Ok) => "OK",
        (Lang::En, TlsState::Failing) => "Failing",
        (Lang::En, TlsState::NotAssessed) => "Not assessed",
    }
}

/// Other providers as one cell: `vnpt-ca (3), viettel-ca (1)`.
pub fn providers_cell(p: &[ProviderCount]) -> String {
    p.iter()
        .map(|p| format!("{} ({})", p.provider, p.services))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The agency's name in `lang` (the Vietnamese one when no English name is configured).
pub fn agency_name(lang: Lang, a: &AgencyReport) -> &str {
    match lang {
        Lang::En if !a.facts.name_en.is_empty() => &a.facts.name_en,
        _ => &a.facts.name,
    }
}

/// One cell of the rendered table.
#[derive(Debug, Serialize)]
pub struct SurveyCell {
    pub v: String,
    /// A count (right-aligned in HTML).
    pub num: bool,
    /// A list (providers): kept wide enough to read in HTML.
    pub wide: bool,
}

/// One row of the rendered table, in [`headers`] then [`tls_headers`] order (without the
/// agency id: the name is enough for a reader).
#[derive(Debug, Serialize)]
pub struct SurveyLine {
    pub cells: Vec<SurveyCell>,
    /// The agency's listing could not be read: its row is "not assessed" (shown in red).
    pub not_assessed: bool,
}

/// The context of `reports/templates/survey.*.hbs`.
#[derive(Debug, Serialize)]
pub struct SurveyView {
    pub title: &'static str,
    pub note: &'static str,
    pub headers: Vec<&'static str>,
    pub rows: Vec<SurveyLine>,
    pub total: SurveyLine,
    /// The table as plain text: header, one line per agency, total; cells joined by ` | `.
    pub lines: Vec<String>,
}

fn line(lang: Lang, name: &str, r: &AgencySurvey) -> SurveyLine {
    let n = |x: i64| SurveyCell {
        v: x.to_string(),
        num: true,
        wide: false,
    };
    let t = |v: String| SurveyCell {
        v,
        num: false,
        wide: false,
    };
    let worst = r
        .tls
        .worst
        .map(|s| super::i18n::label(lang, &format!("sev_{}", s.as_str())).to_string())
        .unwrap_or_else(|| "–".into());
    let providers = providers_cell(&r.other_providers);
    let name = match r.listing_error {
        Some(e) => format!(
            "{} — {}: {}",
            super::view::clean(name),
            lang.pick("không đánh giá được", "not assessed"),
            super::i18n::reason_text(lang, e)
        ),
        None => super::view::clean(name),
    };
    SurveyLine {
        not_assessed: r.listing_error.is_some(),
        cells: vec![
            t(name),
            n(r.services_listed),
            n(r.services_read),
            n(r.levels.full),
            n(r.levels.partial),
            n(r.levels.info),
            n(r.levels.unknown),
            n(r.vgca.full_per_service),
            n(r.vgca.full_site_wide),
            n(r.vgca.partial_per_service),
            n(r.vgca.partial_site_wide),
            SurveyCell {
                wide: true,
                ..t(if providers.is_empty() {
                    "–".into()
                } else {
                    super::view::clean(&providers)
                })
            },
            n(r.national_link),
            t(tls_state_label(lang, r.tls.state).to_string()),
            t(worst),
            n(r.tls.findings),
            n(r.tls.hosts),
            n(r.tls.hosts_unreachable),
        ],
    }
}

fn joined(cells: impl Iterator<Item = String>) -> String {
    cells.collect::<Vec<_>>().join(" | ")
}

/// The survey table of a report as its templates read it: one line per agency (report order)
/// and a total line.
pub fn view(data: &super::ReportData) -> SurveyView {
    let lang = data.lang;
    let rows: Vec<SurveyLine> = data
        .survey
        .iter()
        .map(|r| {
            let name = data
                .agencies
                .iter()
                .find(|a| a.facts.id == r.agency_id)
                .map(|a| agency_name(lang, a))
                .unwrap_or(&r.agency_id);
            line(lang, name, r)
        })
        .collect();
    let total = line(lang, lang.pick("Tổng", "Total"), &total(&data.survey));
    let mut headers: Vec<&'static str> = headers(lang)[1..].to_vec();
    headers.extend(tls_headers(lang));
    let mut lines = vec![joined(headers.iter().map(|h| h.to_string()))];
    for l in rows.iter().chain([&total]) {
        lines.push(joined(l.cells.iter().map(|c| c.v.clone())));
    }
    SurveyView {
        title: lang.pick("Bảng khảo sát", "Survey table"),
        note: lang.pick(
            "Mọi số đếm (trừ \"Dịch vụ liệt kê\") tính trên các dịch vụ đã đọc được trang. VGCA \"từng dịch vụ\": trang của dịch vụ có tín hiệu ký số VGCA; \"toàn trang\": chỉ có tín hiệu chung của cổng.",
            "Every count except \"Services listed\" is over the services whose page was read. VGCA \"per service\": the service's own page shows a VGCA signing signal; \"site-wide\": only the portal's common signal does.",
        ),
        headers,
        rows,
        total,
        lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{FetchFacts, SignatureFacts};

    fn svc(level: Level, own: &[&str], site: &[&str], read: bool, national: bool) -> ServiceFacts {
        ServiceFacts {
            agency_id: "a".into(),
            code: format!("{level:?}{own:?}{site:?}{read}{national}"),
            level,
            national_portal_link: national,
            signature: SignatureFacts {
                providers: own.iter().map(|s| s.to_string()).collect(),
                site_wide_providers: site.iter().map(|s| s.to_string()).collect(),
                site_wide: !site.is_empty(),
                ..SignatureFacts::default()
            },
            fetch: FetchFacts {
                error: (!read).then(|| crate::facts::ErrorFact {
                    kind: crate::facts::AssessReason::Timeout,
                    message: "t".into(),
                }),
                ..FetchFacts::default()
            },
            ..ServiceFacts::default()
        }
    }

    #[test]
    fn per_service_and_site_wide_vgca_are_split_and_unread_pages_count_nowhere() {
        let list = [
            svc(Level::Full, &["vgca"], &["vgca"], true, true),
            svc(Level::Full, &[], &["vgca", "vnpt-ca"], true, false),
            svc(Level::Full, &["viettel-ca"], &["vnpt-ca"], true, false),
            svc(Level::Partial, &["vgca", "vnpt-ca"], &[], true, true),
            svc(Level::Partial, &[], &["vgca"], true, false),
            svc(Level::Info, &["vgca"], &[], true, false),
            svc(Level::Unknown, &[], &[], true, false),
            // Not read: listed, nothing else.
            svc(Level::Full, &["vgca"], &["vnpt-ca"], false, true),
        ];
        let refs: Vec<&ServiceFacts> = list.iter().collect();
        let c = counts_of(&refs, &[], &[]);
        let s = from_counts("a", &c);
        assert_eq!((s.services_listed, s.services_read), (8, 7));
        assert_eq!(
            s.levels,
            LevelCounts {
                full: 3,
                partial: 2,
                info: 1,
                unknown: 1
            }
        );
        assert_eq!(
            s.vgca,
            VgcaCounts {
                full_per_service: 1,
                full_site_wide: 1,
                partial_per_service: 1,
                partial_site_wide: 1
            }
        );
        assert_eq!(s.national_link, 2);
        assert_eq!(
            providers_cell(&s.other_providers),
            "viettel-ca (1), vnpt-ca (3)"
        );
        assert_eq!(s.tls.state, TlsState::NotAssessed, "no host probed");
    }

    #[test]
    fn tls_state_is_unknown_without_a_reachable_host() {
        let f = FindingRecord {
            rule_id: "TLS-005".into(),
            severity: "critical".into(),
            outcome: "fail".into(),
            scope: "host".into(),
            subject: "x.gov.vn:443".into(),
            ..FindingRecord::default()
        };
        let low = FindingRecord {
            rule_id: "TLS-003".into(),
            severity: "low".into(),
            ..f.clone()
        };
        let http = FindingRecord {
            rule_id: "HTTP-001".into(),
            ..f.clone()
        };
        let up = HostFacts {
            name: "x.gov.vn".into(),
            port: 443,
            ..HostFacts::default()
        };
        let down = HostFacts {
            name: "y.gov.vn".into(),
            error: Some(crate::facts::ErrorFact {
                kind: crate::facts::AssessReason::Connect,
                message: "refused".into(),
            }),
            ..up.clone()
        };
        let s = from_counts("a", &counts_of(&[], &[&low, &f, &http], &[&up]));
        assert_eq!(s.tls.state, TlsState::Failing);
        assert_eq!((s.tls.findings, s.tls.worst), (2, Some(Severity::Critical)));
        // One of two hosts unreachable: its TLS is unknown, the agency's is not "ok".
        let s = from_counts("a", &counts_of(&[], &[&http], &[&up, &down]));
        assert_eq!(
            (s.tls.state, s.tls.hosts_unreachable),
            (TlsState::NotAssessed, 1)
        );
        assert_eq!(
            total(std::slice::from_ref(&s)).tls.state,
            TlsState::NotAssessed
        );
        let ok = from_counts("a", &counts_of(&[], &[&http], &[&up, &up]));
        assert_eq!(
            ok.tls.state,
            TlsState::Ok,
            "every host reached, none failing"
        );
        assert_eq!(total(std::slice::from_ref(&ok)).tls.state, TlsState::Ok);
        assert_eq!(total(&[ok, s]).tls.state, TlsState::NotAssessed);
        let s = from_counts("a", &counts_of(&[], &[], &[&down]));
        assert_eq!(s.tls.state, TlsState::NotAssessed);
        assert_eq!(total(&[s]).tls.state, TlsState::NotAssessed);
    }

    fn host(name: &str, reached: bool) -> HostFacts {
        HostFacts {
            name: name.into(),
            port: 443,
            reachable: reached,
            error: (!reached).then(|| crate::facts::ErrorFact {
                kind: crate::facts::AssessReason::Timeout,
                message: "t".into(),
            }),
            ..HostFacts::default()
        }
    }

    fn finding(agency: &str, subject: &str, rule: &str, outcome: &str) -> FindingRecord {
        FindingRecord {
            rule_id: rule.into(),
            severity: "high".into(),
            scope: "host".into(),
            agency_id: agency.into(),
            subject: subject.into(),
            outcome: outcome.into(),
            ..FindingRecord::default()
        }
    }

    /// The TLS state the survey shows for an agency with `hosts`, given the run's findings
    /// (through the values' counts, which the store's are compared with below).
    fn tls_state_by_host(hosts: &[&HostFacts], findings: &[&FindingRecord]) -> TlsState {
        from_counts("b", &counts_of(&[], findings, hosts)).tls.state
    }

    #[test]
    fn tls_is_ok_only_when_every_host_was_reached_and_assessed() {
        let (x, y) = (host("x.gov.vn", true), host("y.gov.vn", true));
        let http = finding("a", "x.gov.vn:443", "HTTP-001", "fail");
        let tls_pass = finding("a", "x.gov.vn:443", "TLS-001", "pass");
        // Control: both hosts reached, TLS assessed, nothing failing.
        assert_eq!(
            tls_state_by_host(&[&x, &y], &[&http, &tls_pass]),
            TlsState::Ok
        );
        // (a) A host shared with agency "a" listed first: its failing TLS finding is owned by
        // "a", and still makes agency "b" (which has the host too) failing.
        let shared = finding("a", "y.gov.vn:443", "TLS-005", "fail");
        assert_eq!(tls_state_by_host(&[&y], &[&shared]), TlsState::Failing);
        // ... and a failing finding of another host says nothing of this one.
        assert_eq!(tls_state_by_host(&[&x], &[&shared]), TlsState::Ok);
        // A waived one does not fail it.
        let waived = FindingRecord {
            waiver: "W-1".into(),
            ..shared.clone()
        };
        assert_eq!(tls_state_by_host(&[&y], &[&waived]), TlsState::Ok);
        // (b) One of two hosts unreachable: unknown, never "ok".
        let down = host("z.gov.vn", false);
        assert_eq!(
            tls_state_by_host(&[&x, &down], &[&tls_pass]),
            TlsState::NotAssessed
        );
        // ... unless the reached one fails: that is observed.
        let fail_x = finding("a", "x.gov.vn:443", "TLS-002", "fail");
        assert_eq!(
            tls_state_by_host(&[&x, &down], &[&fail_x]),
            TlsState::Failing
        );
        // (c) The host answered but a TLS rule could not be assessed on it.
        let cna = finding("a", "y.gov.vn:443", "TLS-003", "could_not_assess");
        assert_eq!(
            tls_state_by_host(&[&x, &y], &[&tls_pass, &cna]),
            TlsState::NotAssessed
        );
        // A non-TLS rule that could not be assessed says nothing of TLS.
        let http_cna = finding("a", "y.gov.vn:443", "HTTP-002", "could_not_assess");
        assert_eq!(tls_state_by_host(&[&x, &y], &[&http_cna]), TlsState::Ok);
        // No host at all: not assessed.
        assert_eq!(tls_state_by_host(&[], &[]), TlsState::NotAssessed);
    }

    #[test]
    fn the_store_counts_as_the_values_do() {
        use crate::store::{RunStart, Scope, Store};
        let mut list = vec![
            svc(Level::Full, &["vgca"], &["vgca"], true, true),
            svc(Level::Full, &[], &["vgca", "vnpt-ca"], true, false),
            svc(
                Level::Full,
                &["viettel-ca", "vnpt-ca"],
                &["vnpt-ca"],
                true,
                false,
            ),
            svc(Level::Partial, &["vgca", "vnpt-ca"], &[], true, true),
            svc(Level::Partial, &[], &["vgca"], true, false),
            svc(Level::Info, &["vgca"], &[], true, false),
            svc(Level::Unknown, &[], &[], true, false),
            svc(Level::Full, &["vgca"], &["vnpt-ca"], false, true),
        ];
        let mut other = svc(Level::Full, &["vgca"], &[], true, true);
        other.agency_id = "b".into();
        list.push(other);
        let tls = |sev: &str, fp: &str, waiver: &str| FindingRecord {
            fingerprint: fp.into(),
            rule_id: format!("TLS-{fp}"),
            severity: sev.into(),
            scope: "host".into(),
            agency_id: "a".into(),
            subject: "up:443".into(),
            outcome: "fail".into(),
            waiver: waiver.into(),
            ..FindingRecord::default()
        };
        let findings = vec![
            tls("medium", "002", ""),
            tls("high", "001", ""),
            tls("critical", "005", "W-1"),
        ];
        let up = HostFacts {
            name: "up".into(),
            port: 443,
            ..HostFacts::default()
        };
        let down = HostFacts {
            name: "down".into(),
            error: Some(crate::facts::ErrorFact {
                kind: crate::facts::AssessReason::Dns,
                message: "nx".into(),
            }),
            ..up.clone()
        };
        let mut store = Store::open_in_memory().expect("store");
        let run = store
            .begin_run(&RunStart {
                mode: "regular".into(),
                scope: Scope {
                    agencies: vec!["a".into(), "b".into()],
                    services: None,
                },
                seed: None,
                ruleset_digest: "r".into(),
                config_digest: "c".into(),
            })
            .expect("run");
        store.record_services(run, &list).expect("services");
        store
            .record_hosts(
                run,
                &[
                    ("a".into(), up.clone()),
                    ("a".into(), down.clone()),
                    // `up` is shared: its findings are owned by "a" and count for "b" too.
                    ("b".into(), up.clone()),
                ],
            )
            .expect("hosts");
        store.finish_run(run, &findings).expect("finish");
        let stored = store.survey_counts(run).expect("survey");
        for agency in ["a", "b"] {
            let mine: Vec<&ServiceFacts> = list.iter().filter(|s| s.agency_id == agency).collect();
            // Every agency's findings: a host's count by host, not by owner.
            let f: Vec<&FindingRecord> = findings.iter().collect();
            let h: Vec<&HostFacts> = if agency == "a" {
                vec![&up, &down]
            } else {
                vec![&up]
            };
            let values = counts_of(&mine, &f, &h);
            assert_eq!(stored.get(agency), Some(&values), "{agency}");
        }
        let a = from_counts("a", &stored["a"]);
        assert_eq!(
            (a.tls.findings, a.tls.worst),
            (2, Some(Severity::High)),
            "waived not counted"
        );
        assert_eq!(
            (a.tls.state, a.tls.hosts, a.tls.hosts_unreachable),
            (TlsState::Failing, 2, 1)
        );
        // "b" owns no finding, yet its shared host fails: not "ok".
        let b = from_counts("b", &stored["b"]);
        assert_eq!(
            (b.tls.state, b.tls.findings, b.tls.hosts),
            (TlsState::Failing, 2, 1)
        );
        assert_eq!(
            providers_cell(&a.other_providers),
            "viettel-ca (1), vnpt-ca (3)"
        );
        // The report's own VGCA count is the rules' one: per service or site-wide.
        assert_eq!(
            store.service_counts(run).expect("counts")["a"].full_with_vgca,
            a.vgca.full_per_service + a.vgca.full_site_wide
        );
    }

    #[test]
    fn an_agency_whose_listing_was_not_read_is_not_assessed_in_red() {
        use crate::report::{Renderer, build, sample::sample_input};
        let mut input = sample_input(Lang::En);
        input.coverage.insert(
            "ha-noi".into(),
            crate::facts::Coverage {
                listing_error: Some(crate::facts::AssessReason::SpaWithoutApi),
                ..Default::default()
            },
        );
        let data = build(input).expect("build");
        let hn = data
            .survey
            .iter()
            .find(|s| s.agency_id == "ha-noi")
            .expect("ha-noi");
        assert_eq!(
            hn.listing_error,
            Some(crate::facts::AssessReason::SpaWithoutApi)
        );
        let v = view(&data);
        let row = v
            .rows
            .iter()
            .find(|r| r.not_assessed)
            .expect("a row not assessed");
        assert!(
            row.cells[0].v.contains("not assessed"),
            "{:?}",
            row.cells[0]
        );
        assert_eq!(v.rows.iter().filter(|r| r.not_assessed).count(), 1);
        let html = Renderer::new().and_then(|r| r.html(&data)).expect("html");
        let section = &html[html.find("<section id=\"survey\">").expect("survey")..];
        assert!(section.contains(
            "<tr style=\"color:#9b1c1c;font-weight:600\"><td>Hà Nội City — not assessed"
        ));
    }
}
