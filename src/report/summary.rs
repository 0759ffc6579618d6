//! The first screen of a report: the answers an inspector looks for before anything else.
//!
//! - **Ranking, worst first**, by a documented score ([`SCORE_WEIGHTS`]): the severity-weighted
//!   count of open (failing, unwaived) findings divided by the services read,
//!   `score = (10·critical + 5·high + 2·medium + 1·low) / max(services read, 1)` (info counts 0).
//!   An agency where nothing was read is **not assessed**: it is ranked above every scored one,
//!   in its own red state, never as clean (a score of 0 would read as the best performer).
//!   An agency with no open finding is **clean** only when the run assessed it fully: every
//!   listed service read and no earlier finding left unverified. Otherwise it is **not fully
//!   assessed** ([`fully_assessed`]): its own state, ranked before (worse than) every clean
//!   agency, never as the best performer.
//! - **Shares** are written by [`share_pct`]: rounded down, so "100%" means every service and
//!   "0%" none.
//! - **Ranking by VGCA share** of full-process services (lowest first; no data last).
//! - **What changed** in this run: new, regressed, resolved, unverified, with the same totals as
//!   the report's tables and the agencies they are in.
//! - **Trend charts** of each agency's VGCA share, one per agency on a common scale (0–100 %,
//!   the same date range), with the change since the last run and over 30 / 90 days.
//! - **Heat map** agency × rule of failing counts.
//!
//! Everything here is computed from [`ReportData`] (the same aggregates every output prints)
//! and drawn from numbers; names are cleaned and left to handlebars to escape.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::i18n::{Lang, label, short_date, vn_offset};
use super::model::{AgencyReport, Assessment, ReportData, Severity};
use super::view::clean;

/// Weight of one open finding per severity in the ranking score (critical, high, medium, low,
/// info).
pub const SCORE_WEIGHTS: [(Severity, i64); 5] = [
    (Severity::Critical, 10),
    (Severity::High, 5),
    (Severity::Medium, 2),
    (Severity::Low, 1),
    (Severity::Info, 0),
];

/// At most this many rules as heat-map columns (the most failing ones).
pub const HEAT_MAX_RULES: usize = 24;
/// At most this many agencies named per change line.
pub const CHANGE_MAX_AGENCIES: usize = 8;
/// At most this many agencies in the first-screen lists (a national run: the worst ones; the
/// complete list is in the appendix and the CSV/XLSX).
pub const FIRST_SCREEN_MAX_AGENCIES: usize = 40;

/// Labels of the first screen, `(key, vi, en)`; merged into the report's label table.
pub const LABELS: &[(&str, &str, &str)] = &[
    ("fs_contents", "Mục lục", "Contents"),
    (
        "fs_ranking",
        "Xếp hạng cơ quan (kém nhất trước)",
        "Agencies, worst first",
    ),
    ("fs_score", "Điểm", "Score"),
    (
        "fs_score_note",
        "Điểm = (10 × nghiêm trọng + 5 × cao + 2 × trung bình + 1 × thấp) / số dịch vụ đã đọc; mục thông tin không tính. Cơ quan không đọc được dịch vụ nào được xếp đầu, ở trạng thái “Chưa đánh giá được”, không bao giờ coi là đạt. Cơ quan không có vi phạm nhưng còn vi phạm cũ chưa kiểm tra lại được hoặc chưa đọc hết dịch vụ ở trạng thái “Chưa đánh giá đầy đủ”, xếp trước các cơ quan không có vi phạm.",
        "Score = (10 × critical + 5 × high + 2 × medium + 1 × low) / services read; info items count 0. Agencies where nothing could be read rank first as “Not assessed”, never as clean. Agencies with no open finding but earlier findings not re-checked or services left unread are “Not fully assessed”, ranked before the clean ones.",
    ),
    ("fs_not_assessed", "Chưa đánh giá được", "Not assessed"),
    ("fs_partial", "Chưa đánh giá đầy đủ", "Not fully assessed"),
    (
        "fs_partial_note",
        "Chưa đánh giá đầy đủ: không có vi phạm trong phần đã kiểm tra, nhưng còn vi phạm cũ chưa kiểm tra lại được hoặc chưa đọc hết dịch vụ — không phải là đạt.",
        "Not fully assessed: no findings in what was checked, but earlier findings could not be re-checked or not every service was read — not a clean result.",
    ),
    ("fs_clean", "Không có vi phạm", "No findings"),
    ("fs_open", "Có vi phạm", "Findings open"),
    ("fs_rank", "Hạng", "Rank"),
    (
        "fs_vgca_rank",
        "Tỷ lệ ký số VGCA (thấp nhất trước)",
        "VGCA share, lowest first",
    ),
    (
        "fs_changes",
        "Thay đổi trong lần kiểm tra này",
        "What changed in this run",
    ),
    (
        "fs_trends",
        "Xu hướng tỷ lệ ký số VGCA",
        "VGCA share over time",
    ),
    ("fs_since_last", "so với lần trước", "since last run"),
    (
        "fs_vgca_partial",
        "Một phần hỗ trợ chữ ký số chuyên dùng (VGCA)",
        "Partial-online services with VGCA signature",
    ),
    ("fs_30d", "30 ngày", "30 days"),
    ("fs_90d", "90 ngày", "90 days"),
    (
        "fs_heatmap",
        "Bản đồ nhiệt: vi phạm theo cơ quan × quy tắc",
        "Heat map: findings per agency × rule",
    ),
    (
        "fs_appendix",
        "Phụ lục: chi tiết từng cơ quan",
        "Appendix: each agency in detail",
    ),
    (
        "fs_more_agencies",
        "cơ quan khác trong phụ lục",
        "more agencies in the appendix",
    ),
    ("fs_first_seen", "Phát hiện lần đầu", "First seen"),
    ("fs_open_days", "ngày", "days"),
    ("fs_times_regressed", "Tái phát", "Regressed"),
    (
        "fs_print_rows",
        "Bản in chỉ hiện 3 mục đầu của mỗi quy tắc, không kèm bằng chứng — đầy đủ trong báo cáo HTML, findings.csv và report.xlsx.",
        "The print shows the first 3 items per rule, without evidence — all of them are in the HTML report, findings.csv and report.xlsx.",
    ),
];

#[derive(Debug, Serialize)]
pub struct RankRow {
    pub rank: usize,
    pub id: String,
    pub name: String,
    /// `not_assessed`, `open`, `partial` (no open finding, but not fully assessed: see
    /// [`fully_assessed`]) or `clean`.
    pub state: &'static str,
    pub state_label: &'static str,
    /// Two decimals; empty when not assessed.
    pub score: String,
    pub critical: i64,
    pub high: i64,
    pub medium: i64,
    pub low: i64,
    pub findings: i64,
    pub services_read: i64,
    pub services_total: i64,
    /// `"12/20 · 60%"` or empty when no full-process service was read.
    pub vgca: String,
    pub vgca_pct: String,
    /// Signed percentage points since the last measured run, empty when unknown.
    pub vgca_delta: String,
    /// Một phần (partial) services supporting VGCA (own page or site-wide, as SIG-002 counts
    /// them), `"3/8"`, and its percentage;
    /// empty when none was read or signatures/levels were not observable.
    pub vgca_partial: String,
    pub vgca_partial_pct: String,
}

#[derive(Debug, Serialize)]
pub struct ChangeAgency {
    pub id: String,
    pub name: String,
    pub count: i64,
}

#[derive(Debug, Serialize)]
pub struct ChangeRow {
    /// `new`, `regressed`, `resolved`, `unverified` or `withdrawn` (the `st-*` badge class).
    pub kind: &'static str,
    pub label: &'static str,
    /// Equal to the report's totals of the same name.
    pub count: i64,
    pub agencies: Vec<ChangeAgency>,
    /// Agencies with a non-zero count not named above.
    pub more: usize,
}

#[derive(Debug, Serialize)]
pub struct TrendCard {
    pub id: String,
    pub name: String,
    /// Drawn from numbers only (inserted raw by the template).
    pub svg: String,
    pub now: String,
    pub since_last: String,
    pub d30: String,
    pub d90: String,
}

#[derive(Debug, Serialize)]
pub struct HeatCell {
    pub count: i64,
    /// 0 (none) to 4 (the most failing cell of the map).
    pub level: u8,
}

#[derive(Debug, Serialize)]
pub struct HeatRow {
    pub id: String,
    pub name: String,
    pub cells: Vec<HeatCell>,
}

#[derive(Debug, Serialize)]
pub struct HeatCol {
    pub rule_id: String,
    pub title: String,
}

#[derive(Debug, Serialize)]
pub struct FirstScreen {
    pub ranking: Vec<RankRow>,
    pub ranking_more: usize,
    pub vgca_ranking: Vec<RankRow>,
    pub changes: Vec<ChangeRow>,
    pub trends: Vec<TrendCard>,
    pub heat_cols: Vec<HeatCol>,
    pub heat_rows: Vec<HeatRow>,
}

fn severity_counts(a: &AgencyReport) -> BTreeMap<Severity, i64> {
    let mut m = BTreeMap::new();
    for r in &a.rules {
        *m.entry(r.severity).or_insert(0) += r.count;
    }
    m
}

/// Nothing of the agency was read: no service page and no coverage read.
pub fn not_assessed(a: &AgencyReport) -> bool {
    a.services_read == 0 && a.coverage.read == 0
}

/// The run assessed all of the agency: every listed service read (coverage complete) and no
/// earlier finding left unverified. Without it, "no findings" is not a clean result.
pub fn fully_assessed(a: &AgencyReport) -> bool {
    !not_assessed(a)
        && a.assessment == Assessment::Assessed
        && a.coverage.complete()
        && a.counts.unverified == 0
}

/// The agency's state in the ranking: `(state, label key, order among equal scores)`.
fn state_of(a: &AgencyReport) -> (&'static str, &'static str, u8) {
    if not_assessed(a) {
        ("not_assessed", "fs_not_assessed", 0)
    } else if a.counts.violations > 0 {
        // Info items are findings, not violations: "Có vi phạm" only for violations.
        ("open", "fs_open", 1)
    } else if !fully_assessed(a) {
        ("partial", "fs_partial", 2)
    } else {
        ("clean", "fs_clean", 3)
    }
}

/// No open finding, but the run did not assess the agency fully (state `partial`).
pub fn partially_assessed(a: &AgencyReport) -> bool {
    state_of(a).0 == "partial"
}

/// The ranking score of an agency (see the module documentation); `None` when not assessed.
pub fn score(a: &AgencyReport) -> Option<f64> {
    if not_assessed(a) {
        return None;
    }
    let sev = severity_counts(a);
    let weighted: i64 = SCORE_WEIGHTS
        .iter()
        .map(|(s, w)| w * sev.get(s).copied().unwrap_or(0))
        .sum();
    Some(weighted as f64 / a.services_read.max(1) as f64)
}

fn name(lang: Lang, a: &AgencyReport) -> String {
    clean(lang.pick(&a.facts.name, &a.facts.name_en))
}

/// A share in [0, 1] as a percentage with `decimals` decimals, for every place a share is
/// shown (ranking, trend cards, bars, emails, `history`).
///
/// Rounded **down** at the display precision, so "100%" appears only for a share of exactly 1
/// (every service: 1990/2000 is "99%", never "100%", while a threshold of 1.0 fails it), and
/// "0%" only for exactly 0: a positive share below the smallest step is "<1%" ("<0.1%" with
/// one decimal). Out-of-range values are clamped; a non-finite one reads as 0.
pub fn share_pct(x: f64, decimals: usize) -> String {
    let x = if x.is_finite() {
        x.clamp(0.0, 1.0)
    } else {
        0.0
    };
    if x >= 1.0 {
        return format!("{:.decimals$}%", 100.0);
    }
    if x <= 0.0 {
        return format!("{:.decimals$}%", 0.0);
    }
    let scale = 10f64.powi(decimals as i32);
    let step = 1.0 / scale;
    // Floor, forgiving the float error of an exact value (0.29 × 100 = 28.999…).
    let v = ((x * 100.0 * scale + 1e-6).floor() / scale).min(100.0 - step);
    if v <= 0.0 {
        format!("<{step:.decimals$}%")
    } else {
        format!("{v:.decimals$}%")
    }
}

fn pct(x: f64) -> String {
    share_pct(x, 0)
}

fn delta(now: Option<f64>, then: Option<f64>) -> String {
    match (now, then) {
        (Some(n), Some(t)) => {
            let pp = (n - t) * 100.0;
            if pp.abs() < 0.05 {
                "±0".into()
            } else {
                format!("{pp:+.0} pp")
            }
        }
        _ => String::new(),
    }
}

fn parse(t: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(t, &Rfc3339).ok()
}

/// The agency's VGCA share in its latest measured run before `run_id`, and at the oldest
/// measured run within `days` before `at` (the run's start).
fn share_before(a: &AgencyReport, run_id: i64) -> Option<f64> {
    a.trend
        .iter()
        .rev()
        .filter(|p| p.run_id < run_id)
        .find_map(|p| p.signature_share())
}

fn share_within(a: &AgencyReport, run_id: i64, at: OffsetDateTime, days: i64) -> Option<f64> {
    let from = at - time::Duration::days(days);
    a.trend
        .iter()
        .filter(|p| p.run_id < run_id)
        .filter(|p| parse(&p.started_at).is_some_and(|t| t >= from))
        .find_map(|p| p.signature_share())
}

fn rank_row(lang: Lang, a: &AgencyReport, run_id: i64) -> RankRow {
    let sev = severity_counts(a);
    let n = |s| sev.get(&s).copied().unwrap_or(0);
    let (state, state_key, _) = state_of(a);
    RankRow {
        rank: 0,
        id: clean(&a.facts.id),
        name: name(lang, a),
        state,
        state_label: label(lang, state_key),
        score: score(a).map(|s| format!("{s:.2}")).unwrap_or_default(),
        critical: n(Severity::Critical),
        high: n(Severity::High),
        medium: n(Severity::Medium),
        low: n(Severity::Low),
        // Under the label "Vi phạm": violations, as every other count so labelled.
        findings: a.counts.violations,
        services_read: a.services_read,
        services_total: a.services_total,
        vgca: a
            .shares
            .vgca
            .map(|_| format!("{}/{}", a.full_with_vgca, a.full_total))
            .unwrap_or_default(),
        vgca_pct: a.shares.vgca.map(pct).unwrap_or_default(),
        vgca_delta: delta(a.shares.vgca, share_before(a, run_id)),
        vgca_partial: String::new(),
        vgca_partial_pct: String::new(),
    }
}

/// The VGCA share of an agency's read một phần services, from the survey (the same counts
/// the survey table shows): `(vgca, partial)`; `None` when none was read, or when the
/// agency's levels or signatures could not be observed (its full-process share is then
/// unmeasured too).
fn partial_vgca(data: &ReportData, a: &AgencyReport) -> Option<(i64, i64)> {
    if a.shares.vgca.is_none() && a.full_total > 0 {
        return None;
    }
    let s = data.survey.iter().find(|s| s.agency_id == a.facts.id)?;
    (s.levels.partial > 0).then_some((
        s.vgca.partial_per_service + s.vgca.partial_site_wide,
        s.levels.partial,
    ))
}

/// Agencies worst first: not assessed, then by score descending; among equal scores, open
/// before not fully assessed before clean (a not fully assessed agency never ranks as better
/// than a clean one); then by id.
pub fn ranked(data: &ReportData) -> Vec<&AgencyReport> {
    let mut v: Vec<&AgencyReport> = data.agencies.iter().collect();
    v.sort_by(|a, b| {
        let key = |x: &AgencyReport| (!not_assessed(x), score(x).map(|s| -s), state_of(x).2);
        key(a)
            .partial_cmp(&key(b))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.facts.id.cmp(&b.facts.id))
    });
    v
}

fn changes(data: &ReportData) -> Vec<ChangeRow> {
    let lang = data.lang;
    let t = &data.totals;
    type Count = fn(&AgencyReport) -> i64;
    let kinds: [(&'static str, &'static str, i64, Count); 5] = [
        ("new", "new", t.new, |a| a.counts.new),
        ("regressed", "regressed", t.regressed, |a| {
            a.counts.regressed
        }),
        ("resolved", "state_resolved", t.resolved, |a| {
            a.counts.resolved
        }),
        ("unverified", "state_unverified", t.unverified, |a| {
            a.counts.unverified
        }),
        ("withdrawn", "state_withdrawn", t.withdrawn, |a| {
            a.counts.withdrawn
        }),
    ];
    kinds
        .into_iter()
        .map(|(kind, key, count, of)| {
            let mut agencies: Vec<ChangeAgency> = data
                .agencies
                .iter()
                .filter(|a| of(a) > 0)
                .map(|a| ChangeAgency {
                    id: clean(&a.facts.id),
                    name: name(lang, a),
                    count: of(a),
                })
                .collect();
            agencies.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.id.cmp(&b.id)));
            let more = agencies.len().saturating_sub(CHANGE_MAX_AGENCIES);
            agencies.truncate(CHANGE_MAX_AGENCIES);
            ChangeRow {
                kind,
                label: label(lang, key),
                count,
                agencies,
                more,
            }
        })
        .collect()
}

/// The common time axis of the trend charts: from the oldest trend point shown to the run.
fn time_range(agencies: &[&AgencyReport], run_start: OffsetDateTime) -> (i64, i64) {
    let end = run_start.unix_timestamp();
    let start = agencies
        .iter()
        .flat_map(|a| a.trend.iter())
        .filter_map(|p| parse(&p.started_at))
        .map(|t| t.unix_timestamp())
        .min()
        .unwrap_or(end)
        .min(end);
    (start, end)
}

fn axis_date(lang: Lang, unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.to_offset(vn_offset()).format(&Rfc3339).ok())
        .map(|s| short_date(lang, &s))
        .unwrap_or_default()
}

/// A trend chart of one agency's VGCA share: y 0–100 % (gridlines at 0, 50, 100), x the common
/// date range (first and last dates written), one dot per measured run, the last value written.
/// Unmeasured runs leave a gap (never drawn as 0 %).
pub fn trend_chart(
    lang: Lang,
    points: &[(i64, Option<f64>)],
    range: (i64, i64),
    title: &str,
) -> String {
    const W: f64 = 170.0;
    const H: f64 = 66.0;
    const L: f64 = 26.0; // left margin (y labels)
    const R: f64 = 28.0; // right margin (last value)
    const T: f64 = 5.0;
    const B: f64 = 13.0; // bottom margin (x labels)
    let (x0, x1) = range;
    let span = (x1 - x0).max(1) as f64;
    let x = |t: i64| L + (W - L - R) * ((t - x0) as f64 / span).clamp(0.0, 1.0);
    let y = |v: f64| T + (H - T - B) * (1.0 - v.clamp(0.0, 1.0));
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg class="trend" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" aria-label="{t}"><title>{t}</title>"##,
        t = esc(title)
    );
    for (v, lbl) in [(0.0, "0%"), (0.5, "50%"), (1.0, "100%")] {
        let _ = write!(
            s,
            r##"<line x1="{L}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="#e2e8f0"/><text x="{:.1}" y="{:.1}" font-size="8" text-anchor="end" fill="#4a5568">{lbl}</text>"##,
            W - R,
            L - 3.0,
            y(v) + 3.0,
            yy = y(v),
        );
    }
    let _ = write!(
        s,
        r##"<text x="{L}" y="{:.1}" font-size="8" fill="#4a5568">{}</text><text x="{:.1}" y="{:.1}" font-size="8" text-anchor="end" fill="#4a5568">{}</text>"##,
        H - 2.0,
        esc(&axis_date(lang, x0)),
        W - R,
        H - 2.0,
        esc(&axis_date(lang, x1)),
    );
    // Segments between consecutive measured points; a gap where a run was not measured.
    let mut path = String::new();
    let mut pen_down = false;
    for (t, v) in points {
        match v {
            Some(v) if v.is_finite() => {
                let _ = write!(
                    path,
                    "{}{:.1},{:.1} ",
                    if pen_down { "L" } else { "M" },
                    x(*t),
                    y(*v)
                );
                pen_down = true;
            }
            _ => pen_down = false,
        }
    }
    if !path.is_empty() {
        let _ = write!(
            s,
            r##"<path d="{}" fill="none" stroke="#1e3a8a" stroke-width="1.5"/>"##,
            path.trim_end()
        );
    }
    for (t, v) in points {
        if let Some(v) = v.filter(|v| v.is_finite()) {
            let _ = write!(
                s,
                r##"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="#1e3a8a"/>"##,
                x(*t),
                y(v)
            );
        }
    }
    if let Some((t, Some(v))) = points.iter().rev().find(|(_, v)| v.is_some()) {
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="10" font-weight="600" fill="#1a202c">{}</text>"##,
            x(*t) + 4.0,
            y(*v) + 3.0,
            esc(&pct(*v))
        );
    } else {
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle" fill="#718096">{}</text>"##,
            (L + W - R) / 2.0,
            y(0.5) - 4.0,
            esc(label(lang, "no_data"))
        );
    }
    s.push_str("</svg>");
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}

fn trends(data: &ReportData, order: &[&AgencyReport]) -> Vec<TrendCard> {
    let lang = data.lang;
    let run_start = parse(&data.run.started_at).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let range = time_range(order, run_start);
    order
        .iter()
        .map(|a| {
            let mut points: Vec<(i64, Option<f64>)> = a
                .trend
                .iter()
                .filter(|p| p.run_id != data.run.id)
                .filter_map(|p| {
                    parse(&p.started_at).map(|t| (t.unix_timestamp(), p.signature_share()))
                })
                .collect();
            // The run itself, from the report's own numbers (one set of numbers).
            points.push((run_start.unix_timestamp(), a.shares.vgca));
            let nm = name(lang, a);
            let title = format!("{} – {}", label(lang, "fs_trends"), nm);
            TrendCard {
                id: clean(&a.facts.id),
                svg: trend_chart(lang, &points, range, &title),
                name: nm,
                now: a.shares.vgca.map(pct).unwrap_or_default(),
                since_last: delta(a.shares.vgca, share_before(a, data.run.id)),
                d30: delta(a.shares.vgca, share_within(a, data.run.id, run_start, 30)),
                d90: delta(a.shares.vgca, share_within(a, data.run.id, run_start, 90)),
            }
        })
        .collect()
}

fn heat(data: &ReportData, order: &[&AgencyReport]) -> (Vec<HeatCol>, Vec<HeatRow>) {
    let mut totals: BTreeMap<&str, (i64, Severity, &str)> = BTreeMap::new();
    for a in order {
        for r in &a.rules {
            let e =
                totals
                    .entry(r.rule_id.as_str())
                    .or_insert((0, r.severity, r.rule_title.as_str()));
            e.0 += r.count;
        }
    }
    let mut cols: Vec<(&str, i64, Severity, &str)> = totals
        .into_iter()
        .filter(|(_, (n, _, _))| *n > 0)
        .map(|(id, (n, s, t))| (id, n, s, t))
        .collect();
    cols.sort_by(|a, b| b.2.cmp(&a.2).then(b.1.cmp(&a.1)).then(a.0.cmp(b.0)));
    cols.truncate(HEAT_MAX_RULES);
    let max = order
        .iter()
        .flat_map(|a| a.rules.iter().map(|r| r.count))
        .max()
        .unwrap_or(0)
        .max(1);
    let rows = order
        .iter()
        .map(|a| HeatRow {
            id: clean(&a.facts.id),
            name: name(data.lang, a),
            cells: cols
                .iter()
                .map(|(id, ..)| {
                    let count = a
                        .rules
                        .iter()
                        .filter(|r| r.rule_id == *id)
                        .map(|r| r.count)
                        .sum::<i64>();
                    let level = if count == 0 {
                        0
                    } else {
                        ((count * 4 + max - 1) / max).clamp(1, 4) as u8
                    };
                    HeatCell { count, level }
                })
                .collect(),
        })
        .collect();
    let cols = cols
        .into_iter()
        .map(|(id, _, _, title)| HeatCol {
            rule_id: clean(id),
            title: if title == id {
                String::new()
            } else {
                clean(title)
            },
        })
        .collect();
    (cols, rows)
}

/// The first screen of `data`.
pub fn first_screen(data: &ReportData) -> FirstScreen {
    let lang = data.lang;
    let order = ranked(data);
    let shown: Vec<&AgencyReport> = order
        .iter()
        .take(FIRST_SCREEN_MAX_AGENCIES)
        .copied()
        .collect();
    let ranking: Vec<RankRow> = shown
        .iter()
        .enumerate()
        .map(|(i, a)| RankRow {
            rank: i + 1,
            ..rank_row(lang, a, data.run.id)
        })
        .collect();
    let mut by_vgca: Vec<&AgencyReport> = data.agencies.iter().collect();
    by_vgca.sort_by(|a, b| {
        let key = |x: &AgencyReport| (x.shares.vgca.is_none(), x.shares.vgca.unwrap_or(0.0));
        key(a)
            .partial_cmp(&key(b))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.facts.id.cmp(&b.facts.id))
    });
    let vgca_ranking = by_vgca
        .iter()
        .take(FIRST_SCREEN_MAX_AGENCIES)
        .enumerate()
        .map(|(i, a)| {
            let (vgca_partial, vgca_partial_pct) = match partial_vgca(data, a) {
                Some((v, n)) => (format!("{v}/{n}"), pct(v as f64 / n as f64)),
                None => Default::default(),
            };
            RankRow {
                rank: i + 1,
                vgca_partial,
                vgca_partial_pct,
                ..rank_row(lang, a, data.run.id)
            }
        })
        .collect();
    let (heat_cols, heat_rows) = heat(data, &shown);
    FirstScreen {
        ranking,
        ranking_more: order.len().saturating_sub(FIRST_SCREEN_MAX_AGENCIES),
        vgca_ranking,
        changes: changes(data),
        trends: trends(data, &shown),
        heat_cols,
        heat_rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{build, sample::sample_input};

    #[test]
    fn labels_are_unique_and_translated() {
        let mut seen = std::collections::HashSet::new();
        for (k, vi, en) in LABELS.iter().chain(super::super::i18n::LABELS) {
            assert!(seen.insert(*k), "duplicate label key {k}");
            assert!(!vi.is_empty() && !en.is_empty(), "{k}");
        }
    }

    #[test]
    fn not_assessed_ranks_first_and_counts_match_totals() {
        let mut data = build(sample_input(Lang::Vi)).expect("build");
        let last = data.agencies.len() - 1;
        let a = &mut data.agencies[last];
        a.services_read = 0;
        a.coverage.read = 0;
        let id = a.facts.id.clone();
        let fs = first_screen(&data);
        assert_eq!(fs.ranking[0].id, id);
        assert_eq!(fs.ranking[0].state, "not_assessed");
        assert!(fs.ranking[0].score.is_empty());
        // Scored agencies follow, worst (highest score) first.
        let scores: Vec<f64> = fs.ranking[1..]
            .iter()
            .map(|r| r.score.parse().expect("score"))
            .collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
        let t = &data.totals;
        let by = |k: &str| fs.changes.iter().find(|c| c.kind == k).expect(k).count;
        assert_eq!(
            (by("new"), by("regressed"), by("resolved"), by("unverified")),
            (t.new, t.regressed, t.resolved, t.unverified)
        );
        for c in &fs.changes {
            let listed: i64 = c.agencies.iter().map(|a| a.count).sum();
            assert_eq!(listed, c.count, "{}: per-agency counts add up", c.kind);
        }
        let heat: i64 = fs
            .heat_rows
            .iter()
            .flat_map(|r| r.cells.iter().map(|c| c.count))
            .sum();
        assert!(heat <= t.findings && heat > 0, "{heat} vs {}", t.findings);
    }

    #[test]
    fn shares_round_down_and_say_100_or_0_only_when_exact() {
        let p = |n: f64, d: f64, dec| share_pct(n / d, dec);
        assert_eq!(p(1990.0, 2000.0, 0), "99%");
        assert_ne!(p(1999.0, 2000.0, 0), "100%");
        assert_eq!(p(1999.0, 2000.0, 1), "99.9%");
        assert_eq!(p(19999.0, 20000.0, 1), "99.9%");
        assert_eq!(p(2000.0, 2000.0, 0), "100%");
        assert_eq!(p(2000.0, 2000.0, 1), "100.0%");
        assert_eq!(p(1.0, 2000.0, 0), "<1%");
        assert_eq!(p(1.0, 20000.0, 1), "<0.1%");
        assert_eq!(p(0.0, 2000.0, 0), "0%");
        assert_eq!(p(0.0, 2000.0, 1), "0.0%");
        // Exact values are not floored below themselves by float error (0.29 × 100 < 29).
        assert_eq!(share_pct(0.29, 0), "29%");
        assert_eq!(share_pct(0.5, 1), "50.0%");
        assert_eq!(p(2.0, 3.0, 0), "66%");
        assert_eq!(share_pct(7.0, 0), "100%");
        assert_eq!(share_pct(f64::NAN, 0), "0%");
        // Every share of a small denominator: 100% and 0% only at the ends.
        for d in 1..=300 {
            for n in 0..=d {
                let s = share_pct(n as f64 / d as f64, 0);
                assert_eq!(s == "100%", n == d, "{n}/{d}: {s}");
                assert_eq!(s == "0%", n == 0, "{n}/{d}: {s}");
            }
        }
    }

    #[test]
    fn ranking_and_trend_never_show_100_below_every_service() {
        let mut data = build(sample_input(Lang::Vi)).expect("build");
        let a = &mut data.agencies[0];
        a.full_with_vgca = 1990;
        a.full_total = 2000;
        a.shares.vgca = Some(1990.0 / 2000.0);
        let id = a.facts.id.clone();
        let fs = first_screen(&data);
        let row = fs.ranking.iter().find(|r| r.id == id).expect("ranked");
        assert_eq!(row.vgca_pct, "99%");
        let row = fs.vgca_ranking.iter().find(|r| r.id == id).expect("ranked");
        assert_eq!(row.vgca_pct, "99%");
        let card = fs.trends.iter().find(|t| t.id == id).expect("trend");
        assert_eq!(card.now, "99%");
        assert!(!card.svg.contains(">100%</text><circle"), "{}", card.svg);
        assert!(card.svg.contains(">99%<"), "{}", card.svg);
    }

    /// Make every agency fully assessed (coverage complete, nothing unverified) and without
    /// findings: clean.
    fn fully_assessed_without_violations(data: &mut ReportData) {
        for a in &mut data.agencies {
            a.rules.clear();
            a.counts.findings = 0;
            a.counts.violations = 0;
            a.counts.info = 0;
            a.counts.unverified = 0;
            a.services_read = a.services_read.max(1);
            a.coverage.listed = a.coverage.listed.max(1);
            a.coverage.read = a.coverage.listed;
            a.coverage.listing_error = None;
            a.coverage.truncated.clear();
            a.coverage.unread.clear();
            a.assessment = Assessment::Assessed;
        }
    }

    /// Info items are findings, not violations: an agency with only info items is not "Có vi
    /// phạm", and the ranking's "Vi phạm" column counts violations like every other place.
    #[test]
    fn info_items_alone_are_no_violations() {
        let mut data = build(sample_input(Lang::Vi)).expect("build");
        fully_assessed_without_violations(&mut data);
        for a in &mut data.agencies {
            a.counts.findings = 3;
            a.counts.info = 3;
        }
        let fs = first_screen(&data);
        assert!(!fs.ranking.is_empty());
        for r in &fs.ranking {
            assert_eq!((r.state, r.findings), ("clean", 0), "{}", r.id);
        }
        let a = &mut data.agencies[0];
        a.counts.violations = 2;
        a.counts.findings = 5;
        let id = a.facts.id.clone();
        let fs = first_screen(&data);
        let row = fs.ranking.iter().find(|r| r.id == id).expect("ranked");
        assert_eq!((row.state, row.findings), ("open", 2));
    }

    /// An agency whose failing findings are all unverified (pages timed out) or whose services
    /// were not all read has no open finding, yet is not clean.
    #[test]
    fn unverified_or_partial_coverage_is_not_clean_and_never_ranks_best() {
        let mut data = build(sample_input(Lang::Vi)).expect("build");
        fully_assessed_without_violations(&mut data);
        assert!(data.agencies.len() >= 2);
        for a in &data.agencies {
            assert!(a.coverage.complete(), "{:?}", a.coverage);
        }
        let fs = first_screen(&data);
        assert!(fs.ranking.iter().all(|r| r.state == "clean"), "all clean");
        // The agency that would rank last (best): 30 earlier critical findings unverified.
        let best = fs.ranking.last().expect("row").id.clone();
        let a = data
            .agencies
            .iter_mut()
            .find(|a| a.facts.id == best)
            .expect("agency");
        a.counts.unverified = 30;
        assert_eq!(a.counts.findings, 0);
        assert!(!fully_assessed(a) && partially_assessed(a));
        let fs = first_screen(&data);
        let row = fs.ranking.iter().find(|r| r.id == best).expect("ranked");
        assert_ne!(row.state, "clean");
        assert_eq!(row.state, "partial");
        assert_eq!(row.state_label, "Chưa đánh giá đầy đủ");
        assert_ne!(
            fs.ranking.last().expect("row").id,
            best,
            "never ranked best"
        );
        assert_eq!(fs.ranking[0].id, best, "before every clean agency");
        // Half the pages unread, nothing unverified: not clean either.
        let a = data
            .agencies
            .iter_mut()
            .find(|a| a.facts.id == best)
            .expect("agency");
        a.counts.unverified = 0;
        a.coverage.listed = 2;
        a.coverage.read = 1;
        a.coverage.unread.insert("timeout".into(), 1);
        a.assessment = Assessment::Partial;
        let fs = first_screen(&data);
        let row = fs.ranking.iter().find(|r| r.id == best).expect("ranked");
        assert_eq!(row.state, "partial");
        assert_ne!(fs.ranking.last().expect("row").id, best);
        // English label.
        data.lang = Lang::En;
        let fs = first_screen(&data);
        let row = fs.ranking.iter().find(|r| r.id == best).expect("ranked");
        assert_eq!(row.state_label, "Not fully assessed");
    }

    /// The HTML and text reports say a not fully assessed agency is not clean.
    #[test]
    fn reports_mark_a_not_fully_assessed_agency() {
        for lang in [Lang::Vi, Lang::En] {
            let mut data = build(sample_input(lang)).expect("build");
            fully_assessed_without_violations(&mut data);
            data.agencies[0].counts.unverified = 30;
            let r = crate::report::Renderer::new().expect("renderer");
            let note = label(lang, "fs_partial_note");
            let state = label(lang, "fs_partial");
            let html = r.html(&data).expect("html");
            assert!(html.contains("class=\"badge st-partial\""), "ranking badge");
            assert!(html.contains(state) && html.contains(note));
            let text = r.text(&data).expect("text");
            assert!(text.contains(note), "{text}");
        }
    }

    #[test]
    fn trend_chart_has_axes_values_and_gaps() {
        let day = 86_400;
        let svg = trend_chart(
            Lang::Vi,
            &[(0, Some(0.5)), (day, None), (2 * day, Some(0.75))],
            (0, 2 * day),
            "t <x>",
        );
        assert!(svg.contains(">0%<") && svg.contains(">50%<") && svg.contains(">100%<"));
        assert!(svg.contains(">75%<"), "last value written: {svg}");
        assert!(svg.contains(">01/01<") && svg.contains(">03/01<"), "{svg}");
        assert!(!svg.contains("<x>"));
        // The unmeasured middle run breaks the line: two moves, no line-to.
        assert_eq!(svg.matches('M').count(), 2, "{svg}");
        assert!(!svg.contains(" L"), "{svg}");
    }
}
