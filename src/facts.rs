//! The plain data every stage shares.
//!
//! Field names here are the vocabulary of the rule language: a rule's expression reads
//! `service.signature.supported` or `host.cert.days_left` exactly as these structs serialise.
//! Renaming a field is a breaking change for every rule file; add fields, do not rename them.
//!
//! Conventions that keep rule expressions simple and typed:
//! - integers are `i64` (CEL `int`), never unsigned, so `x > 0` works without casts;
//! - optional text is an empty string rather than `null` where "absent" and "empty" mean the same;
//! - times are RFC 3339 strings in UTC (`2026-11-27T04:37:00Z`); durations derived for rules
//!   (`days_left`) are precomputed integers;
//! - lists are never `null`, only empty.

use serde::{Deserialize, Serialize};

/// How serious a failed rule is, lowest first (so `>=` reads "at least as serious").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Kind of agency: ministry, province or centrally-run city.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgencyKind {
    Ministry,
    Province,
    City,
}

impl AgencyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AgencyKind::Ministry => "ministry",
            AgencyKind::Province => "province",
            AgencyKind::City => "city",
        }
    }
}

/// The agency as rules see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AgencyFacts {
    pub id: String,
    /// Vietnamese name (the official one).
    pub name: String,
    pub name_en: String,
    /// `ministry`, `province` or `city`.
    pub kind: AgencyKind,
    /// The portal's main URL.
    pub portal: String,
    /// Platform profile id used to read the portal.
    pub platform: String,
    /// Inspection jurisdiction (e.g. a region or inspection team id).
    pub jurisdiction: String,
}

/// Normalised service level (Decree 42/2022/NĐ-CP, with the Decree 43/2011 levels mapped in).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Toàn trình / mức độ 4.
    Full,
    /// Một phần / mức độ 3.
    Partial,
    /// Information only / mức độ 1–2.
    Info,
    /// No level published, or a label no profile rule recognises.
    #[default]
    Unknown,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Full => "full",
            Level::Partial => "partial",
            Level::Info => "info",
            Level::Unknown => "unknown",
        }
    }
}

/// One piece of evidence behind an extracted value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Evidence {
    /// What kind of signal: `script_src`, `js_literal`, `control`, `requirement_text`,
    /// `json_field`, `label_value`, `selector`, ...
    pub kind: String,
    /// The field this evidence supports (`code`, `level`, `signature`, ...).
    pub field: String,
    /// The CSS selector, regex pattern or JSON pointer that matched.
    pub locator: String,
    /// A bounded excerpt of what matched (at most [`EXCERPT_MAX_CHARS`] characters).
    pub excerpt: String,
    /// The page the evidence was read from.
    pub url: String,
    /// Signature provider implied by this signal, if any (`vgca`, `vnpt-ca`, ...).
    pub provider: String,
    /// The signal was present on every page of the portal: platform capability, not a
    /// per-service statement.
    pub site_wide: bool,
}

/// A signature provider's name as inspectors know it (`vnpt-ca` → `VNPT-CA`); `None` for a slug
/// not in `profile::KNOWN_PROVIDERS` (shown as written).
pub fn provider_name(slug: &str) -> Option<&'static str> {
    Some(match slug {
        "vgca" => "VGCA",
        "vnpt-ca" => "VNPT-CA",
        "viettel-ca" => "Viettel-CA",
        "fpt-ca" => "FPT-CA",
        "bkav-ca" => "BkavCA",
        "smartca" => "VNPT SmartCA",
        "mysign" => "Viettel MySign",
        _ => return None,
    })
}

/// An RFC 3339 time as a date in Vietnam time (UTC+07:00, no daylight saving): `dd/mm/yyyy`.
/// `None` when `text` is not RFC 3339.
pub fn vn_date(text: &str) -> Option<String> {
    use time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(text.trim(), &Rfc3339).ok()?;
    let offset = time::UtcOffset::from_hms(7, 0, 0).ok()?;
    t.to_offset(offset)
        .format(time::macros::format_description!("[day]/[month]/[year]"))
        .ok()
}

/// Upper bound of an evidence excerpt, in characters.
pub const EXCERPT_MAX_CHARS: usize = 240;

/// Cut `text` to at most [`EXCERPT_MAX_CHARS`] characters on a character boundary,
/// collapsing whitespace runs, adding `…` when cut.
pub fn excerpt(text: &str) -> String {
    let mut out = String::new();
    let mut count = 0usize;
    let mut last_space = true;
    for ch in text.chars() {
        let ch = if ch.is_whitespace() { ' ' } else { ch };
        if ch == ' ' && last_space {
            continue;
        }
        last_space = ch == ' ';
        if count == EXCERPT_MAX_CHARS {
            let trimmed = out.trim_end().len();
            out.truncate(trimmed);
            out.push('…');
            return out;
        }
        out.push(ch);
        count += 1;
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out
}

/// What the pages say about digital signatures for one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SignatureFacts {
    /// The service's own page states a signed dossier is required.
    pub required: bool,
    /// The service's own page offers signing (plugin call, "Ký số" control, signed upload).
    pub supported: bool,
    /// Providers implied by per-service signals, sorted, deduplicated
    /// (`vgca`, `vnpt-ca`, `viettel-ca`, `fpt-ca`, `bkav-ca`, `smartca`, `mysign`).
    pub providers: Vec<String>,
    /// A signing signal is present on every page of the portal (theme-level plugin).
    pub site_wide: bool,
    /// Providers implied by the site-wide signals.
    pub site_wide_providers: Vec<String>,
    pub evidence: Vec<Evidence>,
}

/// Closed set of reasons why something could not be assessed. An outage is never a verdict.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    PartialOrd,
    Ord,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AssessReason {
    Dns,
    Connect,
    Timeout,
    TlsHandshake,
    HttpStatus,
    RateLimited,
    RobotsDisallowed,
    TooLarge,
    RedirectLoop,
    Decode,
    SpaWithoutApi,
    NoData,
    RuleError,
    /// A service page redirected to a host that is not the agency's (portal, `extra_hosts`)
    /// nor in `crawl.redirect_allow_hosts`: what it shows is not that agency's service.
    RedirectOffsite,
    /// The portal's published interface does not carry this fact at all (the profile has no
    /// source for it, e.g. an API without a level field): nothing to observe, so no verdict.
    Unobservable,
}

impl AssessReason {
    /// The reason named `s` (its `as_str` form), if any.
    pub fn parse(s: &str) -> Option<AssessReason> {
        AssessReason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub const ALL: [AssessReason; 15] = [
        AssessReason::Dns,
        AssessReason::Connect,
        AssessReason::Timeout,
        AssessReason::TlsHandshake,
        AssessReason::HttpStatus,
        AssessReason::RateLimited,
        AssessReason::RobotsDisallowed,
        AssessReason::TooLarge,
        AssessReason::RedirectLoop,
        AssessReason::Decode,
        AssessReason::SpaWithoutApi,
        AssessReason::NoData,
        AssessReason::RuleError,
        AssessReason::RedirectOffsite,
        AssessReason::Unobservable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AssessReason::Dns => "dns",
            AssessReason::Connect => "connect",
            AssessReason::Timeout => "timeout",
            AssessReason::TlsHandshake => "tls_handshake",
            AssessReason::HttpStatus => "http_status",
            AssessReason::RateLimited => "rate_limited",
            AssessReason::RobotsDisallowed => "robots_disallowed",
            AssessReason::TooLarge => "too_large",
            AssessReason::RedirectLoop => "redirect_loop",
            AssessReason::Decode => "decode",
            AssessReason::SpaWithoutApi => "spa_without_api",
            AssessReason::NoData => "no_data",
            AssessReason::RuleError => "rule_error",
            AssessReason::RedirectOffsite => "redirect_offsite",
            AssessReason::Unobservable => "unobservable",
        }
    }
}

impl std::fmt::Display for AssessReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure recorded as a fact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorFact {
    pub kind: AssessReason,
    pub message: String,
}

/// How the page behind a fact was fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FetchFacts {
    pub url: String,
    pub final_url: String,
    /// HTTP status, 0 when no response was received.
    pub status: i64,
    /// RFC 3339, UTC.
    pub fetched_at: String,
    /// Decoded body size in bytes.
    pub bytes: i64,
    /// SHA-256 (hex) of the normalised content.
    pub sha256: String,
    pub error: Option<ErrorFact>,
}

/// Everything known about one service of one agency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ServiceFacts {
    pub agency_id: String,
    /// Procedure code (mã thủ tục), e.g. `1.004222`.
    pub code: String,
    pub name: String,
    pub url: String,
    pub level: Level,
    /// The level as shown on the page, trimmed; empty when none is published.
    pub level_label: String,
    /// A level label was shown and no level pattern of the profile matches it (LVL-002): the
    /// label is known, its level is not (`level` is then an unknown fact, reason `no_data`).
    /// `false` when no label was shown or a pattern matched it.
    #[serde(default)]
    pub level_unrecognised: bool,
    /// The service accepts online submission (levels `full` and `partial`).
    pub online_submission: bool,
    pub signature: SignatureFacts,
    /// The page links to / declares integration with the National Public Service Portal.
    pub national_portal_link: bool,
    pub fetch: FetchFacts,
    /// Evidence for the non-signature fields (code, name, level, national link).
    pub evidence: Vec<Evidence>,
    /// Facts that could not be observed on this service, each with the reason: `level`,
    /// `level_label`, `level_unrecognised`, `online_submission`, `signature`,
    /// `national_portal_link` when the profile has no source for them (reason
    /// `unobservable`). As for `host.unknown`, a rule that reads one of them is
    /// `could_not_assess` with that reason, never pass or fail: a field the portal's interface
    /// does not carry is not "not published". A field the profile can read but the page does
    /// not show is an observed absence, not listed here, except the level: a read page (or
    /// list row) whose level label is missing, matches no level pattern, or says two levels
    /// has `level` and `online_submission` unknown (reason `no_data`), as the service's level
    /// was not observed; the label itself stays known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<UnknownFact>,
}

impl ServiceFacts {
    /// `path` (e.g. `signature.providers`) is covered by one of `unknown`.
    pub fn unknown_fact(&self, path: &str) -> Option<&UnknownFact> {
        self.unknown.iter().find(|u| fact_covers(&u.fact, path))
    }
}

/// The unknown fact `fact` covers `path`: the same path, or `path` lies below it.
pub fn fact_covers(fact: &str, path: &str) -> bool {
    path == fact
        || path
            .strip_prefix(fact)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// Counts over all services of one agency, for agency-scope rules (the `counts` variable).
///
/// Computed once per agency from its services, so an aggregate rule compares two numbers
/// (`double(counts.full_vgca) / double(counts.full)`) instead of filtering the list of
/// services in every expression. Every count except `services` and `unread` is over the
/// services whose page could be read (`fetch.error == null`): what was not seen is not counted
/// either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ServiceCounts {
    /// Every service of the agency, read or not.
    pub services: i64,
    /// Services whose page could be read (`fetch.error == null`).
    pub read: i64,
    /// Services whose page could not be read (`fetch.error != null`).
    pub unread: i64,
    /// Read services by level.
    pub full: i64,
    pub partial: i64,
    pub info: i64,
    pub unknown_level: i64,
    /// Read services that publish a level label (`level_label.trim() != ''`).
    pub level_published: i64,
    /// Read services that offer signing on their own page (`signature.supported`).
    pub signing: i64,
    /// Read services whose page states a signed dossier is required (`signature.required`).
    pub signature_required: i64,
    /// Read services supporting the government signature: `vgca` among
    /// `signature.providers` or `signature.site_wide_providers`.
    pub vgca: i64,
    /// Read full-process services supporting the government signature (as `vgca`).
    pub full_vgca: i64,
    /// Read partial services supporting the government signature (as `vgca`).
    pub partial_vgca: i64,
    /// Read services linking to the National Public Service Portal (`national_portal_link`).
    pub national_portal_link: i64,
    /// Read services whose level is an unknown fact (`level` in `unknown`: the profile has no
    /// source for it, or the page's level label was missing, unrecognised or said two levels).
    /// While this is above 0 the level counts (`full`, `partial`, `info`,
    /// `unknown_level`, `level_published`, `full_vgca`, `partial_vgca`) are unknown too, and
    /// an agency rule reading them is `could_not_assess`.
    #[serde(default)]
    pub level_unobserved: i64,
    /// Read services whose signature facts are unknown (`signature` in `unknown`); above 0,
    /// `signing`, `signature_required`, `vgca`, `full_vgca`, `partial_vgca` are unknown.
    #[serde(default)]
    pub signature_unobserved: i64,
    /// Read services whose national-portal link is unknown (`national_portal_link` in
    /// `unknown`); above 0, `national_portal_link` is unknown.
    #[serde(default)]
    pub national_portal_link_unobserved: i64,
}

/// A public key as found in a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct KeyFacts {
    /// `rsa` (rsaEncryption or RSASSA-PSS), `ec`, `ed25519`, `ed448`, `dsa`, `gost` or
    /// `unknown` (then the host's `cert.key` fact is unknown).
    pub alg: String,
    pub bits: i64,
}

/// One certificate of a served chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CertFacts {
    pub subject: String,
    pub issuer: String,
    pub sans: Vec<String>,
    pub serial: String,
    pub sha256: String,
    pub not_before: String,
    pub not_after: String,
    pub days_left: i64,
    pub validity_days: i64,
    pub key: KeyFacts,
    /// e.g. `sha256WithRSAEncryption`, `ecdsa-with-SHA256`, `sha1WithRSAEncryption`.
    pub sig_alg: String,
    pub self_signed: bool,
    pub is_ca: bool,
}

/// The leaf certificate with the verdicts that concern the whole chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LeafFacts {
    pub subject: String,
    pub issuer: String,
    pub sans: Vec<String>,
    pub not_before: String,
    pub not_after: String,
    pub days_left: i64,
    pub validity_days: i64,
    pub expired: bool,
    pub not_yet_valid: bool,
    pub hostname_ok: bool,
    /// Verified against any anchor set (web roots or a configured anchor).
    pub trusted: bool,
    /// Verified against the public web roots.
    pub publicly_trusted: bool,
    /// Names of the anchor sets that verify the chain: `web` and configured names.
    pub trusted_by: Vec<String>,
    /// Names of the anchor sets under which the leaf was issued: those whose chain verifies
    /// once completed from the known intermediates (anchor files, `intermediates`, an AIA
    /// certificate proven to be the issuer), at a moment inside the leaf's validity. So an
    /// expired, not-yet-valid or incompletely served certificate is still known by its issuer
    /// (who issued it is TLS-003's question; its dates and chain are other rules').
    #[serde(default)]
    pub issued_by: Vec<String>,
    pub chain_complete: bool,
    pub self_signed: bool,
    pub key: KeyFacts,
    pub sig_alg: String,
    /// A certificate below the root in the served chain is signed with SHA-1 or MD5.
    pub weak_sig_in_chain: bool,
    pub has_san: bool,
    /// Why verification failed against each anchor set, `name: reason`.
    pub verify_errors: Vec<String>,
    /// The leaf key is below the minimum (RSA/DSA < 2048 bits, EC < 256 bits).
    #[serde(default)]
    pub weak_key: bool,
    /// Not expired, and expires within the configured warning window.
    #[serde(default)]
    pub expiring_soon: bool,
    /// Why no anchor set verifies the chain, as a closed code for messages (the raw verifier
    /// text stays in `verify_errors`): `unknown_issuer`, `bad_signature`, `weak_signature`,
    /// `expired`, `not_yet_valid`, `revoked`, `key_not_held` (the server's handshake
    /// signature does not verify with the certificate's key), `other`; empty when trusted.
    #[serde(default)]
    pub trust_problem: String,
    /// The served chain stops at a certificate whose issuer was not served and which names
    /// where to fetch it (AIA caIssuers): the URL, else empty.
    #[serde(default)]
    pub missing_issuer_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TlsFacts {
    /// The version rustls negotiated (`TLSv1.3`, `TLSv1.2`), empty if no handshake.
    pub version: String,
    pub cipher: String,
    /// Every version the host accepted (`TLSv1.0` ... `TLSv1.3`).
    pub versions: Vec<String>,
    /// TLS 1.0 or 1.1 accepted.
    pub legacy: bool,
    /// Weak suites accepted (3DES, RC4, NULL, EXPORT), as names.
    pub weak_ciphers: Vec<String>,
    /// Smallest finite-field DHE group accepted, in bits; 0 if none.
    pub dhe_min_bits: i64,
    pub ocsp_stapled: bool,
    /// `good`, `revoked`, `unknown`, or empty when nothing was stapled.
    pub ocsp_status: String,
    /// Classes of the weak suites accepted: `3des`, `rc4`, `null`, `export`, `anon`.
    #[serde(default)]
    pub weak_classes: Vec<String>,
    /// Revocation status of the leaf: `good`, `revoked`, `unknown` (then `host.unknown` says
    /// why), or empty when the certificate names no way to check it and nothing was stapled.
    #[serde(default)]
    pub revocation: String,
    /// Where the revocation status came from: `stapled`, `ocsp`, `crl`, or empty.
    #[serde(default)]
    pub revocation_source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HstsFacts {
    pub present: bool,
    pub max_age: i64,
    pub include_subdomains: bool,
    pub preload: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HttpFacts {
    /// `http://host/` answers with a redirect to `https://` on the same host.
    pub https_redirect: bool,
    /// `http://host/`'s redirect chain reaches `https://` on another host (a merged agency's
    /// new portal, `www.`): the citizen is sent to HTTPS, though not on this name
    /// (`final_url` says where).
    #[serde(default)]
    pub https_redirect_offsite: bool,
    /// Plain HTTP was reachable at all.
    pub http_reachable: bool,
    pub hsts: HstsFacts,
    pub final_url: String,
}

/// Everything known about one host a citizen touches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HostFacts {
    pub name: String,
    pub port: i64,
    /// The address (`ip:port`) the TLS questions were asked of: the first of the name's
    /// addresses (at most 4, in the resolver's order) that answered; empty when none did.
    #[serde(default)]
    pub address: String,
    pub reachable: bool,
    pub tls: TlsFacts,
    pub cert: LeafFacts,
    /// The chain as served, leaf first.
    pub chain: Vec<CertFacts>,
    pub http: HttpFacts,
    /// The host does not offer HTTPS: its TLS port refused the connection (an observed
    /// refusal, not silence or a timeout) on the address plain HTTP answered from. Then no
    /// TLS, certificate or HSTS fact was observed (each is in `unknown`, saying so).
    #[serde(default)]
    pub https_refused: bool,
    pub error: Option<ErrorFact>,
    pub probed_at: String,
    /// Facts the probe could not observe although the host answered, each with the reason.
    /// A rule that reads one of them (in `when` or `require`) is `could_not_assess` with
    /// that reason: an unobserved fact is never read as false or absent.
    #[serde(default)]
    pub unknown: Vec<UnknownFact>,
}

/// A fact that could not be observed: `fact` is its path under its subject (`host`:
/// `http.hsts`, `tls.weak_ciphers`, `cert`, ...; `service`: `level`, `signature`, ...),
/// covering everything below it. For an agency rule the path starts with the variable it
/// belongs to (`counts.full`, `services.level`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnknownFact {
    pub fact: String,
    pub kind: AssessReason,
    pub message: String,
    /// For a list fact observed in part (`tls.weak_classes` when some weak-suite questions got
    /// no answer): the members the unobserved part could add; what was observed is proven.
    /// A rule reading only such facts is judged on every completion (the observed list plus
    /// any subset of these): a verdict they all share stands, else could not assess. Empty:
    /// nothing about the fact is known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub may_hold: Vec<String>,
}

/// What one agency's walk covered in a run: the honest denominator of every share.
///
/// Shares are computed over `read`; a report prints the denominator beside every share and
/// says when coverage is not complete (listing error, a bound that cut the walk, unread pages).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct Coverage {
    /// The total the portal announces, when its listing shows one.
    pub announced: Option<i64>,
    /// Distinct service links found in the listing (after excluding links that are not
    /// services of this agency, and merging pages that carry the same code).
    pub listed: i64,
    /// Services whose page was read.
    pub read: i64,
    /// Services whose page could not be read, by reason (`AssessReason` names).
    pub unread: std::collections::BTreeMap<String, i64>,
    /// Links a bound cut off: which bound, how many were dropped.
    pub truncated: Vec<Truncation>,
    /// Links not counted in the denominator, by why: `duplicate_code` (another page of the
    /// same service), `robots_disallowed` (a listed service robots.txt forbids us to read:
    /// not observed, so coverage is not complete).
    pub excluded: std::collections::BTreeMap<String, i64>,
    /// Why the listing itself stopped early, if it did.
    pub listing_error: Option<AssessReason>,
}

/// A bound that cut an agency's walk short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct Truncation {
    /// The bound: `crawl.max_pages_per_agency`, `profile.max_pages`, `links_per_page`,
    /// `sample`; or `listing_end_unconfirmed` (the listing ended on a later page with no
    /// service link that the profile cannot tell from a page that is no list).
    pub bound: String,
    /// Links (or pages) not followed because of it; 0 when unknown (pages never fetched).
    pub dropped: i64,
}

/// The [`Coverage::excluded`] key of listed service pages robots.txt disallows.
pub const ROBOTS_DISALLOWED: &str = "robots_disallowed";

impl Coverage {
    /// Services not read, whatever the reason.
    pub fn unread_total(&self) -> i64 {
        self.unread.values().sum()
    }

    /// The listing was read to its end, no bound cut it, every listed service was read (a
    /// service page robots.txt forbids us to read is a listed service not observed: it is
    /// `excluded` from the denominator of shares, which stay over services read, but the
    /// agency is not fully assessed), and the listing holds as many services as the portal
    /// announces (when it announces a total: fewer means the listing stopped early without
    /// saying so, e.g. a later list page that was a maintenance page).
    pub fn complete(&self) -> bool {
        self.listing_error.is_none()
            && self.truncated.is_empty()
            && self.unread_total() == 0
            && self.excluded.get(ROBOTS_DISALLOWED).is_none_or(|n| *n == 0)
            && self.listed > 0
            && self
                .announced
                .is_none_or(|a| self.listed + self.excluded.values().sum::<i64>() >= a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_robots_disallowed_service_leaves_coverage_incomplete_a_repeated_code_does_not() {
        let mut c = Coverage {
            listed: 4,
            read: 4,
            ..Coverage::default()
        };
        c.excluded.insert("duplicate_code".into(), 2);
        assert!(c.complete());
        c.excluded.insert(ROBOTS_DISALLOWED.into(), 1);
        assert!(!c.complete());
    }

    #[test]
    fn excerpt_is_bounded_and_collapses_whitespace() {
        assert_eq!(excerpt("  a \n\t b  "), "a b");
        let long = "ký số ".repeat(200);
        let e = excerpt(&long);
        assert!(e.chars().count() <= EXCERPT_MAX_CHARS + 1);
        assert!(e.ends_with('…'));
    }

    #[test]
    fn reasons_serialise_as_snake_case() {
        for r in AssessReason::ALL {
            let json = serde_json::to_string(&r).expect("serialise");
            assert_eq!(json, format!("\"{}\"", r.as_str()));
        }
    }
}
