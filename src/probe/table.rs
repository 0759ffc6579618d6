//! A readable table of one host's facts, then the verdicts of the host rules, for
//! `dvc-audit spot`.
//!
//! The table makes no judgement of its own: verdicts come only from the rules engine (the same
//! host rules `run` evaluates), printed under the facts by [`render_outcomes`]. A fact the probe
//! could not observe is shown as `unknown (reason: …)`, never as a value.

use std::fmt::Write;

use crate::facts::HostFacts;
use crate::rules::{Outcome, Verdict};

/// Render `f` as an aligned two-column text table: fact, value.
pub fn render_table(f: &HostFacts) -> String {
    let mut rows: Vec<(String, String)> = Vec::new();
    // The value of `fact`, or `unknown (...)` when the probe could not observe it.
    let unknown = |fact: &str| {
        f.unknown
            .iter()
            .find(|u| fact == u.fact || fact.starts_with(&format!("{}.", u.fact)))
            .map(|u| format!("unknown ({}: {})", u.kind, u.message))
    };
    let mut row = |k: &str, v: String| {
        let v = unknown(k).unwrap_or(v);
        rows.push((k.to_string(), v));
    };
    row("host", format!("{}:{}", f.name, f.port));
    if !f.address.is_empty() {
        row("address", f.address.clone());
    }
    row("reachable", f.reachable.to_string());
    if let Some(e) = &f.error {
        row("error", format!("{}: {}", e.kind, e.message));
    }
    if f.https_refused {
        row(
            "https",
            "not offered (the TLS port refused the connection; plain HTTP answered)".into(),
        );
    }
    let t = &f.tls;
    if !t.versions.is_empty() {
        row("tls.version", format!("{} {}", t.version, t.cipher));
        row("tls.versions", t.versions.join(", "));
        row("tls.legacy", t.legacy.to_string());
        row("tls.weak_ciphers", list(&t.weak_ciphers));
        row("tls.weak_classes", list(&t.weak_classes));
        let dhe = if t.dhe_min_bits == 0 {
            "-".to_string()
        } else {
            t.dhe_min_bits.to_string()
        };
        row("tls.dhe_min_bits", dhe);
        let ocsp = if t.ocsp_stapled {
            format!("stapled ({})", t.ocsp_status)
        } else {
            "not stapled".into()
        };
        row("tls.ocsp", ocsp);
        let revocation = if t.revocation.is_empty() {
            "not checkable (no status source)".to_string()
        } else {
            format!("{} ({})", t.revocation, t.revocation_source)
        };
        row("tls.revocation", revocation);
    }
    let c = &f.cert;
    if !f.chain.is_empty() {
        row("cert.subject", c.subject.clone());
        row("cert.issuer", c.issuer.clone());
        row("cert.sans", list(&c.sans));
        row("cert.hostname_ok", c.hostname_ok.to_string());
        row("cert.trusted_by", list(&c.trusted_by));
        row("cert.publicly_trusted", c.publicly_trusted.to_string());
        if !c.trust_problem.is_empty() {
            row("cert.trust_problem", c.trust_problem.clone());
        }
        row("cert.chain_complete", c.chain_complete.to_string());
        if !c.missing_issuer_url.is_empty() {
            row("cert.missing_issuer_url", c.missing_issuer_url.clone());
        }
        row("cert.self_signed", c.self_signed.to_string());
        row("cert.not_before", c.not_before.clone());
        row(
            "cert.not_after",
            format!("{} ({} days left)", c.not_after, c.days_left),
        );
        row("cert.validity_days", c.validity_days.to_string());
        row("cert.key", format!("{} {}", c.key.alg, c.key.bits));
        row("cert.sig_alg", c.sig_alg.clone());
        row("cert.weak_sig_in_chain", c.weak_sig_in_chain.to_string());
        row("cert.chain_length", f.chain.len().to_string());
        for e in &c.verify_errors {
            row("cert.verify_error", e.clone());
        }
    } else if f.error.is_none() {
        row("cert", String::new());
    }
    let h = &f.http;
    row("http.http_reachable", h.http_reachable.to_string());
    row("http.https_redirect", h.https_redirect.to_string());
    if h.https_redirect_offsite {
        row(
            "http.https_redirect_offsite",
            "true (to HTTPS on another host)".into(),
        );
    }
    row("http.final_url", h.final_url.clone());
    let hsts = if h.hsts.present {
        format!(
            "max-age={}{}{}",
            h.hsts.max_age,
            if h.hsts.include_subdomains {
                "; includeSubDomains"
            } else {
                ""
            },
            if h.hsts.preload { "; preload" } else { "" }
        )
    } else {
        "absent".into()
    };
    row("http.hsts", hsts);

    let w = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, val) in rows {
        let line = format!("{k:<w$}  {val}");
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

/// The host rules' verdicts, worst first: failures (`[severity] RULE message`), then
/// could-not-assess (`[could not assess] RULE reason: detail`); passes and not-applicable
/// are counted only.
pub fn render_outcomes(outcomes: &[Outcome], english: bool) -> String {
    let mut out = String::new();
    let mut fails: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| matches!(o.verdict, Verdict::Fail))
        .collect();
    fails.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.rule_id.cmp(&b.rule_id)));
    let _ = writeln!(out, "verdicts (host rules):");
    for o in &fails {
        let msg = if english {
            &o.message_en
        } else {
            &o.message_vi
        };
        match &o.waiver {
            Some(w) => {
                let _ = writeln!(
                    out,
                    "  [{}, waived until {}] {} {} ({})",
                    o.severity, w.expires, o.rule_id, msg, w.decision
                );
            }
            None => {
                let _ = writeln!(out, "  [{}] {} {}", o.severity, o.rule_id, msg);
            }
        }
    }
    for o in outcomes {
        if let Verdict::CouldNotAssess { reason, detail } = &o.verdict {
            let _ = writeln!(
                out,
                "  [could not assess] {} {}: {}",
                o.rule_id,
                reason,
                crate::facts::excerpt(detail)
            );
        }
    }
    let count = |v: &str| outcomes.iter().filter(|o| o.verdict.as_str() == v).count();
    let _ = writeln!(
        out,
        "  {} fail, {} could not assess, {} pass, {} not applicable",
        fails.len(),
        count("could_not_assess"),
        count("pass"),
        count("not_applicable")
    );
    out
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        v.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{AssessReason, ErrorFact, UnknownFact};

    #[test]
    fn an_outage_is_shown_as_such() {
        let f = HostFacts {
            name: "dvc.x.gov.vn".into(),
            port: 443,
            error: Some(ErrorFact {
                kind: AssessReason::Connect,
                message: "refused".into(),
            }),
            ..HostFacts::default()
        };
        let t = render_table(&f);
        assert!(t.contains("connect: refused"), "{t}");
        assert!(
            !t.contains("FAIL") && !t.contains(" ok"),
            "no verdicts: {t}"
        );
    }

    #[test]
    fn an_unknown_fact_is_not_shown_as_a_value() {
        let mut f = HostFacts::default();
        f.tls.versions = vec!["TLSv1.0".into()];
        f.unknown.push(UnknownFact {
            fact: "http.hsts".into(),
            kind: AssessReason::TlsHandshake,
            message: "legacy TLS only".into(),
            may_hold: Vec::new(),
        });
        let t = render_table(&f);
        let row = t.lines().find(|l| l.starts_with("http.hsts")).unwrap_or("");
        assert!(row.contains("unknown (tls_handshake"), "{row}");
        assert!(!row.contains("absent"), "{row}");
    }
}
