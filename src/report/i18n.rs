//! Every label a report shows, in Vietnamese and English, in one table; and the local time
//! format (Asia/Ho_Chi_Minh, a fixed UTC+07:00 since 1975: no daylight saving).
//!
//! Templates never hold literal words: they read `labels.<key>`, filled from [`LABELS`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::{
    OffsetDateTime, UtcOffset, format_description::well_known::Rfc3339, macros::format_description,
};

use crate::facts::AssessReason;

/// Report language.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    #[default]
    Vi,
    En,
}

impl Lang {
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    /// Pick the text for this language.
    pub fn pick<'a>(self, vi: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Vi => vi,
            // English text may be missing in hand-written data: fall back to Vietnamese.
            Lang::En if en.is_empty() => vi,
            Lang::En => en,
        }
    }
}

impl From<crate::config::Lang> for Lang {
    fn from(l: crate::config::Lang) -> Self {
        match l {
            crate::config::Lang::Vi => Lang::Vi,
            crate::config::Lang::En => Lang::En,
        }
    }
}

/// (key, Vietnamese, English).
pub const LABELS: &[(&str, &str, &str)] = &[
    (
        "title",
        "Báo cáo kiểm tra dịch vụ công trực tuyến",
        "Online public service inspection report",
    ),
    ("mode_regular", "Kiểm tra định kỳ", "Regular inspection"),
    ("mode_surprise", "Kiểm tra đột xuất", "Surprise inspection"),
    ("mode_spot", "Kiểm tra nhanh", "Spot check"),
    ("run", "Lần kiểm tra", "Run"),
    ("mode", "Hình thức", "Mode"),
    ("started", "Bắt đầu", "Started"),
    ("ended", "Kết thúc", "Ended"),
    ("status", "Trạng thái", "Status"),
    ("seed", "Mã lấy mẫu", "Sampling seed"),
    ("ruleset", "Bộ quy tắc", "Rule set"),
    ("config_digest", "Cấu hình", "Configuration"),
    ("head_digest", "Mã toàn vẹn lịch sử", "History head digest"),
    (
        "timezone_note",
        "Giờ Việt Nam (UTC+07:00)",
        "Times in Asia/Ho_Chi_Minh (UTC+07:00)",
    ),
    ("summary", "Tổng quan", "Summary"),
    ("agency", "Cơ quan", "Agency"),
    ("agencies", "Cơ quan được kiểm tra", "Agencies inspected"),
    ("agencies_unit", "cơ quan", "agencies"),
    ("not_assessed_short", "Chưa đánh giá được", "Not assessed"),
    ("services", "Dịch vụ công", "Services"),
    (
        "full_services",
        "Dịch vụ toàn trình",
        "Full-process services",
    ),
    (
        "vgca_share",
        "Toàn trình hỗ trợ chữ ký số chuyên dùng (VGCA)",
        "Full-process services with VGCA signature",
    ),
    (
        "level_share",
        "Dịch vụ công bố mức độ",
        "Services publishing their level",
    ),
    ("trend", "Xu hướng vi phạm", "Findings trend"),
    ("findings", "Vi phạm", "Violations"),
    (
        "not_assessed",
        "Chưa đánh giá được: không đọc được dịch vụ nào của cơ quan",
        "Not assessed: none of the agency's services could be read",
    ),
    ("no_findings", "Không có vi phạm.", "No findings."),
    ("severity", "Mức độ", "Severity"),
    ("rule", "Quy tắc", "Rule"),
    ("subject", "Đối tượng", "Subject"),
    ("message", "Nội dung", "Message"),
    ("state", "Tình trạng", "State"),
    ("evidence", "Bằng chứng", "Evidence"),
    ("fetched_at", "Thời điểm tải", "Fetched at"),
    ("http_status", "Mã HTTP", "HTTP status"),
    ("content_hash", "Mã băm nội dung", "Content hash"),
    ("remediation", "Khắc phục", "Remediation"),
    ("legal_basis", "Căn cứ pháp lý", "Legal basis"),
    ("technical_basis", "Cơ sở kỹ thuật", "Technical basis"),
    ("state_new", "Mới", "New"),
    ("state_persisting", "Còn tồn tại", "Persisting"),
    ("state_regressed", "Tái diễn", "Regressed"),
    ("state_resolved", "Đã khắc phục", "Resolved"),
    (
        "state_unverified",
        "Chưa kiểm tra lại được",
        "Not re-checked",
    ),
    (
        "state_withdrawn",
        "Không còn trong danh mục",
        "No longer listed",
    ),
    (
        "not_rechecked",
        "Vi phạm cũ chưa kiểm tra lại được (không coi là đã khắc phục)",
        "Earlier findings not re-checked (not counted as resolved)",
    ),
    (
        "not_rechecked_note",
        "Lần kiểm tra này không đọc được đối tượng nên không xác định được vi phạm đã được khắc phục hay chưa; lần kiểm tra sau sẽ kết luận.",
        "This run could not read these subjects, so it cannot tell whether they were fixed; the next run that reads them decides.",
    ),
    ("coverage", "Phạm vi đã đọc", "Coverage"),
    ("coverage_incomplete", "Chưa đọc đủ", "Incomplete coverage"),
    ("services_read", "dịch vụ đã đọc", "services read"),
    ("services_listed", "liên kết dịch vụ", "service links"),
    ("announced", "cổng công bố", "the portal announces"),
    ("unread", "không đọc được", "not read"),
    ("truncated", "bị cắt bởi giới hạn", "cut by a bound"),
    (
        "excluded",
        "không tính là dịch vụ",
        "not counted as services",
    ),
    (
        "listing_error",
        "danh sách dừng sớm",
        "listing stopped early",
    ),
    ("not_measured", "không đo được", "not measured"),
    (
        "resolved",
        "Đã khắc phục từ lần trước",
        "Resolved since the last run",
    ),
    (
        "withdrawn",
        "Không còn trong danh mục (đã đóng, không phải đã khắc phục)",
        "No longer listed (closed, not fixed)",
    ),
    (
        "withdrawn_note",
        "Dịch vụ không còn trong danh sách thủ tục mà lần kiểm tra này đã đọc đầy đủ: vi phạm cũ được đóng nhưng không được xác nhận là đã khắc phục.",
        "The service is gone from the procedure listing this run read completely: the earlier finding is closed but not confirmed fixed.",
    ),
    (
        "last_seen_failing",
        "lần cuối thấy lỗi",
        "last seen failing",
    ),
    ("could_not_assess", "Không thể đánh giá", "Could not assess"),
    (
        "could_not_assess_note",
        "Không phải kết luận vi phạm hay đạt: hệ thống không đọc được dữ liệu.",
        "Neither a violation nor a pass: the data could not be read.",
    ),
    ("reason", "Lý do", "Reason"),
    ("waived", "Được miễn trừ", "Waived"),
    ("waiver", "Miễn trừ", "Waiver"),
    ("waiver_notes", "Lưu ý về miễn trừ", "Waiver notes"),
    (
        "unverified",
        "Tên miền chưa được xác minh",
        "Host names not verified",
    ),
    ("successor", "Đã hợp nhất vào", "Merged into"),
    ("former_names", "Tên cũ", "Former names"),
    ("portal", "Cổng dịch vụ công", "Portal"),
    ("total", "Tổng", "Total"),
    ("new", "Mới", "New"),
    ("persisting", "Còn tồn tại", "Persisting"),
    ("regressed", "Tái diễn", "Regressed"),
    ("sev_critical", "Nghiêm trọng", "Critical"),
    ("sev_high", "Cao", "High"),
    ("sev_medium", "Trung bình", "Medium"),
    ("sev_low", "Thấp", "Low"),
    ("sev_info", "Thông tin", "Info"),
    ("no_data", "Không có dữ liệu", "No data"),
    (
        "technical_details",
        "Chi tiết kỹ thuật",
        "Technical details",
    ),
    ("matched", "Dấu hiệu khớp", "Matched"),
    (
        "not_modified",
        "Máy chủ trả lời HTTP 304 (không thay đổi): trang giống lần đọc trước, nội dung lấy từ bản đã lưu.",
        "The server answered HTTP 304 (not modified): the page is as last read; its content comes from the stored copy.",
    ),
    (
        "reason_unknown",
        "Không đọc được dữ liệu (xem chi tiết kỹ thuật).",
        "The data could not be read (see the technical details).",
    ),
    ("raw_message", "Thông báo gốc", "Raw message"),
    (
        "generated_by",
        "Tạo bởi dvc-audit",
        "Generated by dvc-audit",
    ),
    ("digest", "Tổng hợp", "Digest"),
    (
        "link_unsafe",
        "(liên kết không an toàn, không mở)",
        "(unsafe link, not opened)",
    ),
    ("expires", "Hết hạn", "Expires"),
    ("approver", "Người phê duyệt", "Approved by"),
    (
        "omitted",
        "Số mục không hiển thị trong thư này (xem báo cáo đầy đủ)",
        "Items not shown in this email (see the full report)",
    ),
    ("more_rows", "Còn", "And"),
    (
        "more_rows_tail",
        "mục khác — xem findings.csv hoặc report.json",
        "more — see findings.csv or report.json",
    ),
    ("status_complete", "Hoàn tất", "Complete"),
    ("status_incomplete", "Chưa hoàn tất", "Incomplete"),
    ("status_running", "Đang chạy", "Running"),
    ("waiver_expired", "Đã hết hạn", "Expired"),
    (
        "waiver_stale",
        "Không khớp phát hiện nào",
        "Matched nothing",
    ),
];

/// The label table for one language, as a map the templates read.
pub fn labels(lang: Lang) -> BTreeMap<&'static str, &'static str> {
    LABELS
        .iter()
        .chain(super::summary::LABELS)
        .map(|(k, vi, en)| (*k, lang.pick(vi, en)))
        .collect()
}

/// The label for `<prefix>_<value>` (run status, waiver kind, ...), or `value` itself when the
/// table has no such key (stored text from a newer version, say).
pub fn label_or<'a>(lang: Lang, prefix: &str, value: &'a str) -> &'a str {
    let key = format!("{prefix}_{value}");
    LABELS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, vi, en)| lang.pick(vi, en))
        .unwrap_or(value)
}

/// One label; the key itself when unknown (a visible bug, never a panic).
pub fn label(lang: Lang, key: &str) -> &str {
    LABELS
        .iter()
        .chain(super::summary::LABELS)
        .find(|(k, _, _)| *k == key)
        .map(|(_, vi, en)| lang.pick(vi, en))
        .unwrap_or(key)
}

/// Why something could not be assessed, explained for an inspector.
pub fn reason_text(lang: Lang, reason: AssessReason) -> &'static str {
    let (vi, en) = match reason {
        AssessReason::Dns => (
            "Không phân giải được tên miền.",
            "The host name did not resolve.",
        ),
        AssessReason::Connect => (
            "Không kết nối được tới máy chủ.",
            "The server refused or dropped the connection.",
        ),
        AssessReason::Timeout => (
            "Máy chủ không trả lời trong thời gian cho phép.",
            "The server did not answer in time.",
        ),
        AssessReason::TlsHandshake => ("Bắt tay TLS thất bại.", "The TLS handshake failed."),
        AssessReason::HttpStatus => (
            "Máy chủ trả về mã lỗi HTTP.",
            "The server answered with an HTTP error status.",
        ),
        AssessReason::RateLimited => (
            "Máy chủ giới hạn tần suất truy cập.",
            "The server rate-limited the scanner.",
        ),
        AssessReason::RobotsDisallowed => (
            "robots.txt không cho phép truy cập trang này.",
            "robots.txt disallows this page.",
        ),
        AssessReason::TooLarge => (
            "Trang vượt quá kích thước cho phép.",
            "The page exceeded the size limit.",
        ),
        AssessReason::RedirectLoop => (
            "Chuyển hướng vòng lặp hoặc quá nhiều lần.",
            "Too many or looping redirects.",
        ),
        AssessReason::Decode => (
            "Không giải mã được nội dung trang.",
            "The page content could not be decoded.",
        ),
        AssessReason::SpaWithoutApi => (
            "Trang là ứng dụng một trang, không có API dữ liệu đã biết.",
            "Single-page app without a known data API.",
        ),
        AssessReason::NoData => (
            "Hồ sơ cổng không khớp dữ liệu nào trên trang.",
            "The portal profile matched no data on the page.",
        ),
        AssessReason::RuleError => (
            "Quy tắc không đánh giá được trên dữ liệu này.",
            "The rule could not be evaluated on this data.",
        ),
        AssessReason::RedirectOffsite => (
            "Trang dịch vụ chuyển hướng sang máy chủ không thuộc cơ quan.",
            "The service page redirected to a host that is not the agency's.",
        ),
        AssessReason::Unobservable => (
            "Giao diện công bố của cổng không có trường thông tin này.",
            "The portal's published interface does not carry this field.",
        ),
    };
    lang.pick(vi, en)
}

/// A reason in a few words, for lists ("không đọc được: hết thời gian chờ 1").
pub fn reason_short(lang: Lang, reason: AssessReason) -> &'static str {
    let (vi, en) = match reason {
        AssessReason::Dns => ("không phân giải được tên miền", "host name not resolved"),
        AssessReason::Connect => ("không kết nối được", "connection failed"),
        AssessReason::Timeout => ("hết thời gian chờ", "timed out"),
        AssessReason::TlsHandshake => ("bắt tay TLS thất bại", "TLS handshake failed"),
        AssessReason::HttpStatus => ("máy chủ trả về lỗi HTTP", "HTTP error status"),
        AssessReason::RateLimited => ("bị giới hạn tần suất", "rate-limited"),
        AssessReason::RobotsDisallowed => ("robots.txt không cho phép", "disallowed by robots.txt"),
        AssessReason::TooLarge => ("trang quá lớn", "page too large"),
        AssessReason::RedirectLoop => ("chuyển hướng vòng lặp", "redirect loop"),
        AssessReason::Decode => ("không giải mã được nội dung", "content not decodable"),
        AssessReason::SpaWithoutApi => (
            "ứng dụng một trang chưa có API dữ liệu đã biết",
            "single-page app without a known data API",
        ),
        AssessReason::NoData => ("hồ sơ cổng không khớp dữ liệu", "profile matched no data"),
        AssessReason::RuleError => ("quy tắc không đánh giá được", "rule could not be evaluated"),
        AssessReason::RedirectOffsite => (
            "chuyển hướng sang máy chủ ngoài cơ quan",
            "redirected off the agency's hosts",
        ),
        AssessReason::Unobservable => (
            "cổng không công bố trường này",
            "not carried by the portal's interface",
        ),
    };
    lang.pick(vi, en)
}

/// A stored reason id (`timeout`, `duplicate_code`, ...) in a few words; the id itself only for
/// an id this version does not know.
pub fn reason_id_words(lang: Lang, id: &str) -> String {
    if let Some(r) = AssessReason::parse(id) {
        return reason_short(lang, r).to_string();
    }
    match id {
        "duplicate_code" => lang.pick("trùng mã dịch vụ", "duplicate service code"),
        "not_assessed" => lang.pick("không đọc được", "not read"),
        "rule_not_evaluated" => lang.pick("quy tắc không được đánh giá", "rule not evaluated"),
        "rule_changed" => lang.pick("quy tắc/tham số đã thay đổi", "rule or parameters changed"),
        other if other.starts_with("absence_unconfirmed:") => lang.pick(
            "vắng khỏi danh mục, chưa xác nhận đã gỡ",
            "absent from the listing, not confirmed withdrawn",
        ),
        other if other.starts_with("masked_by:") => {
            return format!(
                "{} {}",
                lang.pick("bị che bởi", "masked by"),
                other.trim_start_matches("masked_by:").replace(',', ", ")
            );
        }
        other => other,
    }
    .to_string()
}

/// An HTTP status in words with its code, e.g. "tải được (HTTP 200)"; empty for `0` (no
/// response status recorded: never shown as "HTTP 0").
pub fn http_status_words(lang: Lang, status: i64) -> String {
    let (vi, en) = match status {
        0 => return String::new(),
        200..=299 => ("tải được", "loaded"),
        300..=399 => ("chuyển hướng", "redirected"),
        401 | 403 => ("bị từ chối truy cập", "access denied"),
        404 | 410 => ("không tìm thấy trang", "page not found"),
        429 => ("bị giới hạn tần suất truy cập", "rate-limited"),
        400..=499 => ("máy chủ từ chối yêu cầu", "request refused"),
        500..=599 => ("lỗi máy chủ", "server error"),
        _ => ("mã phản hồi", "response status"),
    };
    format!("{} (HTTP {status})", lang.pick(vi, en))
}

/// Asia/Ho_Chi_Minh: UTC+07:00 all year.
pub fn vn_offset() -> UtcOffset {
    // 7 hours is always a valid offset; the fallback is unreachable but keeps this panic-free.
    UtcOffset::from_hms(7, 0, 0).unwrap_or(UtcOffset::UTC)
}

/// Show an RFC 3339 time in Vietnam time: `dd/mm/yyyy HH:MM` (vi) or `yyyy-mm-dd HH:MM` (en).
/// Text that is not RFC 3339 is returned as is (it is still escaped by the renderer).
pub fn local_time(lang: Lang, rfc3339: &str) -> String {
    let Ok(t) = OffsetDateTime::parse(rfc3339, &Rfc3339) else {
        return rfc3339.to_string();
    };
    let t = t.to_offset(vn_offset());
    let formatted = match lang {
        Lang::Vi => t.format(format_description!("[day]/[month]/[year] [hour]:[minute]")),
        Lang::En => t.format(format_description!("[year]-[month]-[day] [hour]:[minute]")),
    };
    formatted.unwrap_or_else(|_| rfc3339.to_string())
}

/// Short date for chart axes: `dd/mm` (vi) or `mm-dd` (en).
pub fn short_date(lang: Lang, rfc3339: &str) -> String {
    let Ok(t) = OffsetDateTime::parse(rfc3339, &Rfc3339) else {
        return String::new();
    };
    let t = t.to_offset(vn_offset());
    let formatted = match lang {
        Lang::Vi => t.format(format_description!("[day]/[month]")),
        Lang::En => t.format(format_description!("[month]-[day]")),
    };
    formatted.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_translated() {
        let mut seen = std::collections::HashSet::new();
        for (k, vi, en) in LABELS {
            assert!(seen.insert(*k), "duplicate label key {k}");
            assert!(
                !vi.is_empty() && !en.is_empty(),
                "label {k} lacks a translation"
            );
        }
    }

    #[test]
    fn every_reason_is_explained_in_both_languages() {
        for r in AssessReason::ALL {
            assert_ne!(reason_text(Lang::Vi, r), reason_text(Lang::En, r));
        }
    }

    #[test]
    fn statuses_and_reasons_are_words() {
        assert_eq!(http_status_words(Lang::Vi, 0), "");
        assert_eq!(http_status_words(Lang::Vi, 200), "tải được (HTTP 200)");
        assert_eq!(http_status_words(Lang::En, 503), "server error (HTTP 503)");
        assert_eq!(
            http_status_words(Lang::Vi, 404),
            "không tìm thấy trang (HTTP 404)"
        );
        for r in AssessReason::ALL {
            let (vi, en) = (reason_short(Lang::Vi, r), reason_short(Lang::En, r));
            assert_ne!(vi, en);
            assert!(!vi.contains('_') && !en.contains('_'), "{r:?}");
            assert_eq!(reason_id_words(Lang::Vi, r.as_str()), vi);
        }
        assert_eq!(
            reason_id_words(Lang::Vi, "duplicate_code"),
            "trùng mã dịch vụ"
        );
    }

    #[test]
    fn times_are_shown_in_vietnam_time() {
        assert_eq!(
            local_time(Lang::Vi, "2026-11-27T20:05:00Z"),
            "28/11/2026 03:05"
        );
        assert_eq!(
            local_time(Lang::En, "2026-11-27T20:05:00Z"),
            "2026-11-28 03:05"
        );
        assert_eq!(local_time(Lang::Vi, "not a time"), "not a time");
        assert_eq!(short_date(Lang::Vi, "2026-01-31T18:00:00+01:00"), "01/02");
    }
}
