use super::plan::RegionalRecipients;
use super::*;
use crate::report::sample::{sample, sample_input};
use crate::report::{Lang, Renderer, build};

pub(crate) fn book() -> RecipientBook {
    let mut b = RecipientBook::default();
    b.agencies.insert(
        "bca".into(),
        AgencyRecipients {
            jurisdiction: "north".into(),
            contacts: vec!["vanphong@bca.example.vn".into()],
            inspectors: vec!["thanhtra.bca@bcy.example.vn".into()],
        },
    );
    b.agencies.insert(
        "ha-noi".into(),
        AgencyRecipients {
            jurisdiction: "north".into(),
            contacts: vec!["sotttt@hanoi.example.vn".into()],
            inspectors: Vec::new(),
        },
    );
    b.jurisdictions.insert(
        "north".into(),
        vec!["kiemtra.mienbac@bcy.example.vn".into()],
    );
    b.lead = vec!["truongdoan@bcy.example.vn".into()];
    b
}

fn surprise() -> crate::report::ReportData {
    let mut input = sample_input(Lang::Vi);
    if let Some(r) = input.run.as_mut() {
        r.mode = "surprise".into();
        r.seed = Some(42);
    }
    build(input).expect("build")
}

#[test]
fn regular_goes_to_contacts_with_inspectors_in_copy() {
    let msgs = plan(&sample(Lang::Vi), &book(), SendPolicy::Always);
    let bca = msgs
        .iter()
        .find(|m| m.agencies == ["bca"])
        .expect("bca message");
    assert_eq!(bca.audience, Audience::Agency);
    assert_eq!(bca.to, ["vanphong@bca.example.vn"]);
    assert_eq!(
        bca.cc,
        [
            "kiemtra.mienbac@bcy.example.vn",
            "thanhtra.bca@bcy.example.vn"
        ]
    );
    let hn = msgs
        .iter()
        .find(|m| m.agencies == ["ha-noi"])
        .expect("ha-noi message");
    assert_eq!(hn.cc, ["kiemtra.mienbac@bcy.example.vn"]);
    let lead = msgs
        .iter()
        .find(|m| m.audience == Audience::Lead)
        .expect("digest");
    assert_eq!(lead.agencies, ["bca", "ha-noi"]);
    assert_eq!(msgs.len(), 3);
}

#[test]
fn surprise_goes_to_inspectors_only() {
    let msgs = plan(&surprise(), &book(), SendPolicy::Always);
    for m in &msgs {
        for addr in m.to.iter().chain(&m.cc) {
            assert!(addr.contains("@bcy."), "{addr} is not an inspector");
        }
    }
    // bca has an extra inspector, so the two agencies form two groups; plus the digest.
    assert_eq!(msgs.len(), 3);
}

#[test]
fn on_change_sends_only_news() {
    let mut input = sample_input(Lang::Vi);
    // Everything persisting: nothing new, nothing regressed.
    input.diff.persisting.append(&mut input.diff.new);
    input.diff.persisting.append(&mut input.diff.regressed);
    let quiet = build(input).expect("build");
    assert!(plan(&quiet, &book(), SendPolicy::OnChange).is_empty());
    assert_eq!(plan(&quiet, &book(), SendPolicy::Always).len(), 3);
    // In the sample both agencies have news.
    assert_eq!(
        plan(&sample(Lang::Vi), &book(), SendPolicy::OnChange).len(),
        3
    );
}

#[test]
fn ids_are_deterministic_and_distinct() {
    let a = plan(&sample(Lang::Vi), &book(), SendPolicy::Always);
    let b = plan(&sample(Lang::En), &book(), SendPolicy::Always);
    assert_eq!(
        a, b,
        "same run and recipients, same ids, whatever the language"
    );
    let mut ids: Vec<&str> = a.iter().map(|m| m.id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), a.len());
    assert!(ids.iter().all(|id| valid_id(id) && id.starts_with("run3-")));
}

#[test]
fn message_is_encoded_and_identified() {
    let data = sample(Lang::Vi);
    let p = plan(&data, &book(), SendPolicy::Always);
    let r = Renderer::new().expect("renderer");
    let m = compose(
        &r,
        &data,
        &p[0],
        "Đoàn kiểm tra <kiemtra@bcy.example.vn>",
        &BodySettings::default(),
    )
    .expect("compose");
    let raw = String::from_utf8(m.formatted()).expect("ascii headers");
    let headers = raw.split("\r\n\r\n").next().unwrap_or_default();
    assert!(
        headers.is_ascii(),
        "headers must be 7-bit (RFC 2047 encoded)"
    );
    assert!(headers.contains(&format!("Message-ID: <{}@bcy.example.vn>", p[0].id)));
    assert!(headers.contains("Subject: =?utf-8?"));
    assert!(raw.contains("multipart/alternative"));
    assert!(raw.contains("dvc-audit-run3.html"));
    assert!(raw.contains("dvc-audit-run3-findings.csv"));
    assert!(raw.contains("dvc-audit-run3.xlsx"));
    assert!(!raw.contains("dvc-audit-run3.json"), "no JSON unless asked");
    assert!(subject(&data, &p[0]).starts_with("[Kiểm tra định kỳ] "));
    assert!(subject(&surprise(), &p[0]).starts_with("[Kiểm tra đột xuất] "));
}

#[test]
fn bad_address_is_an_error_not_a_panic() {
    let data = sample(Lang::Vi);
    let mut p = plan(&data, &book(), SendPolicy::Always).remove(0);
    p.to = vec!["not an address\r\nBcc: x@y".into()];
    let r = Renderer::new().expect("renderer");
    assert!(matches!(
        compose(&r, &data, &p, "a@b.example", &BodySettings::default()),
        Err(NotifyError::Address(..))
    ));
}

#[test]
fn the_subject_says_when_coverage_is_incomplete_or_findings_unverified() {
    let data = sample(Lang::Vi);
    let p = plan(&data, &book(), SendPolicy::Always);
    let full = subject(&data, &p[0]);
    assert!(!full.contains("Phạm vi đã đọc"), "{full}");
    let mut partial = data.clone();
    partial.totals.agencies_incomplete = 1;
    partial.totals.services_read = 3;
    partial.totals.services = 5;
    partial.totals.unverified = 2;
    let s = subject(&partial, &p[0]);
    assert!(s.contains("Phạm vi đã đọc 3/5 (1 chưa đọc đủ)"), "{s}");
    assert!(s.contains("Chưa kiểm tra lại được 2"), "{s}");
    assert!(s.starts_with("[Kiểm tra định kỳ] "));
}

#[test]
fn regional_leads_get_a_digest_of_their_jurisdictions() {
    let mut data = sample(Lang::Vi);
    for a in &mut data.agencies {
        a.facts.jurisdiction = if a.facts.id == "bca" {
            "north"
        } else {
            "south"
        }
        .into();
    }
    let mut b = book();
    b.regional = vec![
        RegionalRecipients {
            to: vec!["lead.north@bcy.example.vn".into()],
            jurisdictions: vec!["north".into()],
            agencies: Vec::new(),
        },
        RegionalRecipients {
            to: vec!["lead.nowhere@bcy.example.vn".into()],
            jurisdictions: vec!["nowhere".into()],
            agencies: Vec::new(),
        },
    ];
    let msgs = plan(&data, &b, SendPolicy::Always);
    let north: Vec<&PlannedMessage> = msgs
        .iter()
        .filter(|m| m.to == ["lead.north@bcy.example.vn"])
        .collect();
    assert_eq!(north.len(), 1);
    assert_eq!(north[0].audience, Audience::Lead);
    assert_eq!(north[0].agencies, ["bca"]);
    assert!(
        msgs.iter().all(|m| m.to != ["lead.nowhere@bcy.example.vn"]),
        "no digest of nothing"
    );
    // The national lead's digest still covers every agency.
    let lead = msgs
        .iter()
        .find(|m| m.to == ["truongdoan@bcy.example.vn"])
        .expect("lead digest");
    assert_eq!(lead.agencies.len(), data.agencies.len());
}

#[test]
fn body_groups_actions_and_dates_the_reply() {
    let data = sample(Lang::Vi);
    let p = plan(&data, &book(), SendPolicy::Always);
    let bca = p.iter().find(|m| m.agencies == ["bca"]).expect("bca");
    let r = Renderer::new().expect("renderer");
    let settings = BodySettings {
        reply_by_days: 10,
        contact: "Đoàn kiểm tra <script>x</script>".into(),
        attach_json: true,
    };
    let m = compose(&r, &data, bca, "a@b.example", &settings).expect("compose");
    let raw = String::from_utf8_lossy(&m.formatted()).into_owned();
    assert!(raw.contains("dvc-audit-run3.json"), "JSON when asked");
    let parsed = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .expect("parses");
    let text = parsed.body_text(0).expect("text").to_string();
    let html = parsed.body_html(0).expect("html").to_string();
    let expected = reply_by(&data.run.started_at, 10);
    assert!(!expected.is_empty());
    assert!(text.contains(&format!("trước ngày {expected}.")), "{text}");
    assert!(
        text.contains("1. [Nghiêm trọng] một lần sửa xử lý 1 vi phạm (SIG-001)"),
        "{text}"
    );
    assert!(
        html.contains("Đoàn kiểm tra &lt;script&gt;"),
        "contact escaped: {html}"
    );
    assert!(!html.contains("<script>"));
}
