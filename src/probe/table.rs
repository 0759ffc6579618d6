//! A readable table of one host's facts with a verdict per line, for `dvc-audit spot`.
//! Verdicts here are the probe's own plain judgements (the rules engine gives the official
//! ones); they make the table scannable: `ok`, `WARN`, `FAIL`, `n/a` (could not assess), or
//! blank for information.

use std::fmt::Write;

use crate::facts::HostFacts;

/// Render `f` as an aligned three-column text table: fact, value, verdict.
pub fn render_table(f: &HostFacts) -> String {
    let mut rows: Vec<(String, String, &'static str)> = Vec::new();
    let mut row =
        |k: &str, v: String, verdict: &'static str| rows.push((k.to_string(), v, verdict));
    let ok = |good: bool| if good { "ok" } else { "FAIL" };
    row("host", format!("{}:{}", f.name, f.port), "");
    row(
        "reachable",
        f.reachable.to_string(),
        if f.reachable { "ok" } else { "n/a" },
    );
    if let Some(e) = &f.error {
        row("error", format!("{}: {}", e.kind, e.message), "n/a");
    }
    let t = &f.tls;
    if !t.versions.is_empty() {
        row("tls.version", format!("{} {}", t.version, t.cipher), "");
        row("tls.versions", t.versions.join(", "), ok(!t.legacy));
        row(
            "tls.weak_ciphers",
            list(&t.weak_ciphers),
            ok(t.weak_ciphers.is_empty()),
        );
        let dhe = if t.dhe_min_bits == 0 {
            "-".to_string()
        } else {
            t.dhe_min_bits.to_string()
        };
        row(
            "tls.dhe_min_bits",
            dhe,
            ok(t.dhe_min_bits == 0 || t.dhe_min_bits >= 2048),
        );
        let ocsp = if t.ocsp_stapled {
            format!("stapled ({})", t.ocsp_status)
        } else {
            "not stapled".into()
        };
        row(
            "tls.ocsp",
            ocsp,
            if t.ocsp_status == "revoked" {
                "FAIL"
            } else {
                ""
            },
        );
    }
    let c = &f.cert;
    if !f.chain.is_empty() {
        row("cert.subject", c.subject.clone(), "");
        row("cert.issuer", c.issuer.clone(), "");
        row("cert.sans", list(&c.sans), ok(c.has_san));
        row(
            "cert.hostname_ok",
            c.hostname_ok.to_string(),
            ok(c.hostname_ok),
        );
        row("cert.trusted_by", list(&c.trusted_by), ok(c.trusted));
        row(
            "cert.publicly_trusted",
            c.publicly_trusted.to_string(),
            if c.publicly_trusted { "ok" } else { "WARN" },
        );
        row(
            "cert.chain_complete",
            c.chain_complete.to_string(),
            ok(c.chain_complete),
        );
        row(
            "cert.self_signed",
            c.self_signed.to_string(),
            ok(!c.self_signed),
        );
        row(
            "cert.not_before",
            c.not_before.clone(),
            ok(!c.not_yet_valid),
        );
        let expiry = if c.expired {
            "FAIL"
        } else if c.expiring_soon {
            "WARN"
        } else {
            "ok"
        };
        row(
            "cert.not_after",
            format!("{} ({} days left)", c.not_after, c.days_left),
            expiry,
        );
        row(
            "cert.validity_days",
            c.validity_days.to_string(),
            if c.validity_days > 398 { "WARN" } else { "ok" },
        );
        row(
            "cert.key",
            format!("{} {}", c.key.alg, c.key.bits),
            ok(!c.weak_key),
        );
        row("cert.sig_alg", c.sig_alg.clone(), ok(!c.weak_sig_in_chain));
        row("cert.chain_length", f.chain.len().to_string(), "");
        for e in &c.verify_errors {
            row("cert.verify_error", e.clone(), "");
        }
    }
    let h = &f.http;
    row("http.reachable", h.http_reachable.to_string(), "");
    // Could-not-assess is not a verdict: no plain HTTP answer, no redirect verdict.
    let redirect_verdict = if h.http_reachable {
        ok(h.https_redirect)
    } else {
        "n/a"
    };
    row(
        "http.https_redirect",
        h.https_redirect.to_string(),
        redirect_verdict,
    );
    row("http.final_url", h.final_url.clone(), "");
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
    let hsts_verdict = if t.versions.is_empty() {
        "n/a"
    } else {
        ok(h.hsts.present)
    };
    row("http.hsts", hsts, hsts_verdict);

    let w = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let v = rows
        .iter()
        .map(|r| r.1.chars().count())
        .max()
        .unwrap_or(0)
        .min(72);
    let mut out = String::new();
    for (k, val, verdict) in rows {
        let line = format!("{k:<w$}  {val:<v$}  {verdict}");
        let _ = writeln!(out, "{}", line.trim_end());
    }
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
    use crate::facts::{AssessReason, ErrorFact};

    #[test]
    fn an_outage_is_not_a_failure() {
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
        assert!(!t.contains("FAIL"), "{t}");
        assert!(t.contains("connect: refused"));
    }

    #[test]
    fn bad_certificate_rows_fail() {
        let mut f = HostFacts::default();
        f.tls.versions = vec!["TLSv1.0".into(), "TLSv1.2".into()];
        f.tls.legacy = true;
        f.chain = vec![Default::default()];
        f.cert.expired = true;
        let t = render_table(&f);
        let row = |name: &str| {
            t.lines()
                .find(|l| l.starts_with(name))
                .unwrap_or_default()
                .to_string()
        };
        assert!(row("tls.versions").ends_with("FAIL"));
        assert!(row("cert.not_after").ends_with("FAIL"));
        assert!(row("http.hsts").ends_with("FAIL"));
    }
}
