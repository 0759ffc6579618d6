//! One service, derived on demand from `(seed, agency index, service index)`, then the
//! world's planted defect (if any) applied over it. Defects and the expected scanner outcome
//! are computed from the service's fields, so a mutation cannot leave the ground truth stale.

use rand::seq::IndexedRandom;
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

use super::catalog;
use super::plant::Plant;
use super::world::{AgencySpec, LevelScheme, Shape, WorldData, rng_for};
use crate::facts::Level;

const TAG_SERVICE: u64 = 3;

/// How the detail page (or API detail) of a service answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Behaviour {
    #[default]
    Normal,
    /// Answers after the slow delay (~1.5 s): the scanner must wait and succeed.
    Slow,
    /// Answers after the hang delay, far above the read timeout.
    Hang,
    /// Always 500.
    ServerError,
    /// 429 with `Retry-After: 1` on the first request, then 200.
    RateLimited,
    /// 302 between two URLs forever.
    RedirectLoop,
    /// ~8 MB page.
    Oversized,
    /// Served in Windows-1258.
    Windows1258,
    /// The Windows-1258 page (with its `<meta charset="windows-1258">`) served as
    /// `Content-Type: text/html; charset=utf-8`: the header lies, the meta rescues it. Set only
    /// through overrides (no world plants it).
    Windows1258LyingHeader,
    /// A UTF-8 page (no `<meta charset>`) whose service text (name, field, level, dossier) is in
    /// Windows-1258, served as `charset=utf-8`: no single charset reads it. Set only through
    /// overrides (no world plants it).
    MixedCharsets,
    /// Served in TCVN3 as a `.VnTime` site of the 2000s served it: the text in `.VnTime` fonts,
    /// `Content-Type: text/html; charset=windows-1252` and `<meta charset="windows-1252">`
    /// (both lie; toned capitals, not in TCVN3, as `&#...;` references).
    Tcvn3,
    /// The TCVN3 page with no charset anywhere (no header parameter, no `<meta charset>`). Set
    /// only through overrides (no world plants it).
    Tcvn3Undeclared,
}

/// A signature provider with a per-service signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Provider {
    #[serde(rename = "vgca")]
    Vgca,
    #[serde(rename = "vnpt-ca")]
    VnptCa,
    #[serde(rename = "viettel-ca")]
    ViettelCa,
    #[serde(rename = "smartca")]
    SmartCa,
}

impl Provider {
    pub const ALL: [Provider; 4] = [
        Provider::Vgca,
        Provider::VnptCa,
        Provider::ViettelCa,
        Provider::SmartCa,
    ];
    /// Id used in facts and the ground truth.
    pub fn id(self) -> &'static str {
        match self {
            Provider::Vgca => "vgca",
            Provider::VnptCa => "vnpt-ca",
            Provider::ViettelCa => "viettel-ca",
            Provider::SmartCa => "smartca",
        }
    }
    /// Name in the SPA JSON (`digitalSignatureProviders`).
    pub fn json_name(self) -> &'static str {
        match self {
            Provider::Vgca => "VGCA",
            Provider::VnptCa => "VNPT-CA",
            Provider::ViettelCa => "Viettel-CA",
            Provider::SmartCa => "VNPT SmartCA",
        }
    }
}

/// Everything the sandbox serves about one service. Fields are public so a test can change
/// them through [`super::Overrides::service`]; the identity fields (`agency_index`, `index`,
/// `code`) are how the service is found and must be left as they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceSpec {
    /// Identity: index of the agency in the world.
    pub agency_index: usize,
    /// Identity: index of the service in its agency (drives `matt`, `id` and SPA ids).
    pub index: usize,
    /// Identity: procedure code.
    pub code: String,
    pub name: String,
    pub field: String,
    /// The true level; `Unknown` when no label is published.
    pub level: Level,
    /// The label shown; empty = no level row at all.
    pub level_label: String,
    /// The dossier section says a signed dossier is required.
    pub signature_required: bool,
    /// Per-service signing signals on the page (empty = no per-service signing).
    pub providers: Vec<Provider>,
    pub national_portal_link: bool,
    pub behaviour: Behaviour,
    /// robots.txt disallows this service's detail URL (`$`-anchored).
    pub robots_disallowed: bool,
}

/// Which level scheme a label belongs to.
pub(crate) fn label_scheme(label: &str) -> Option<LevelScheme> {
    let l = label.to_lowercase();
    if l.is_empty() {
        None
    } else if l.contains("mức độ") {
        Some(LevelScheme::Old)
    } else if l.contains("toàn trình") || l.contains("một phần") {
        Some(LevelScheme::New)
    } else {
        None
    }
}

pub(crate) fn label_for(level: Level, scheme: LevelScheme, rng: &mut impl Rng) -> String {
    let old = rng.random_bool(0.5);
    let scheme = match scheme {
        LevelScheme::Mixed if old => LevelScheme::Old,
        LevelScheme::Mixed => LevelScheme::New,
        s => s,
    };
    let short = rng.random_bool(0.3);
    let s = match (level, scheme, short) {
        (Level::Full, LevelScheme::Old, _) => "Mức độ 4",
        (Level::Partial, LevelScheme::Old, false) => "Mức độ 3",
        (Level::Partial, LevelScheme::Old, true) => "DVC trực tuyến mức độ 3",
        (Level::Full, _, false) => "Dịch vụ công trực tuyến toàn trình",
        (Level::Full, _, true) => "Toàn trình",
        (Level::Partial, _, false) => "Dịch vụ công trực tuyến một phần",
        (Level::Partial, _, true) => "Một phần",
        _ => "Mức độ 2",
    };
    s.to_string()
}

/// The code of the service with global ordinal `ordinal`: `1.` + six digits.
pub(crate) fn code_for(ordinal: usize) -> String {
    format!("1.{:06}", 1000 + ordinal)
}

/// Derive the service (before overrides). `None` if out of range.
pub(crate) fn derive(w: &WorldData, agency_index: usize, index: usize) -> Option<ServiceSpec> {
    let agency = w.agencies.get(agency_index)?;
    if index >= agency.service_count {
        return None;
    }
    let mut rng = rng_for(w.seed, TAG_SERVICE, agency_index as u64, index as u64);
    let verb = pick_verb(&mut rng);
    let object = pick_object(&mut rng);
    let field = catalog::FIELDS
        .choose(&mut rng)
        .copied()
        .unwrap_or("Hộ tịch");
    let level = match rng.random_range(0..10) {
        0..=3 => Level::Full,
        4..=7 => Level::Partial,
        _ => Level::Info,
    };
    let mut level_label = label_for(level, agency.level_scheme, &mut rng);
    // A few portals leave the level row out; the scanner can then only say `unknown`.
    let level = if rng.random_bool(0.03) {
        level_label.clear();
        Level::Unknown
    } else {
        level
    };
    let online = matches!(level, Level::Full | Level::Partial);
    let mut providers = Vec::new();
    if online && rng.random_bool(0.85) {
        let first = rng.random_range(0..10);
        providers.push(match first {
            0..=5 => Provider::Vgca,
            6..=7 => Provider::VnptCa,
            8 => Provider::ViettelCa,
            _ => Provider::SmartCa,
        });
        if rng.random_bool(0.2)
            && let Some(p) = Provider::ALL.choose(&mut rng)
        {
            providers.push(*p);
        }
        providers.sort_unstable();
        providers.dedup();
    }
    let signature_required = online && rng.random_bool(0.4);
    let national_portal_link = rng.random_bool(0.75);
    let mut s = ServiceSpec {
        agency_index,
        index,
        code: code_for(agency.first_ordinal + index),
        name: format!("{verb} {object}"),
        field: field.to_string(),
        level,
        level_label,
        signature_required,
        providers,
        national_portal_link,
        behaviour: Behaviour::Normal,
        robots_disallowed: false,
    };
    if let Some(p) = w.plants.get(&(agency_index, index)) {
        apply(&mut s, *p);
    }
    publish_only(agency.shape, &mut s);
    Some(s)
}

/// What a platform's public contract carries: facts it has no field for are not published
/// (docs/sandbox-world.md), so the ground truth is what the portal shows.
fn publish_only(shape: Shape, s: &mut ServiceSpec) {
    match shape {
        // The national portal's API: no level field and no signature field were seen.
        Shape::Dvcqg => {
            s.level = Level::Unknown;
            s.level_label.clear();
            s.providers.clear();
            s.signature_required = false;
            s.national_portal_link = false;
        }
        // OpenCPS service info: `maxLevel` (2/3/4) only.
        Shape::Opencps => {
            if !s.level_label.is_empty() {
                s.level_label = match s.level {
                    Level::Full => "4",
                    Level::Partial => "3",
                    _ => "2",
                }
                .to_string();
            }
            s.providers.clear();
            s.signature_required = false;
            s.national_portal_link = false;
        }
        _ => {}
    }
}

fn pick_verb(rng: &mut impl RngCore) -> &'static str {
    catalog::VERBS.choose(rng).copied().unwrap_or("Cấp")
}
fn pick_object(rng: &mut impl RngCore) -> &'static str {
    catalog::OBJECTS
        .choose(rng)
        .copied()
        .unwrap_or("giấy phép xây dựng")
}

fn apply(s: &mut ServiceSpec, p: Plant) {
    match p {
        Plant::FullWithoutSignature => {
            s.level = Level::Full;
            s.level_label = match label_scheme(&s.level_label) {
                Some(LevelScheme::Old) => "Mức độ 4".to_string(),
                _ => "Dịch vụ công trực tuyến toàn trình".to_string(),
            };
            s.providers.clear();
        }
        Plant::NoLevel => {
            s.level = Level::Unknown;
            s.level_label.clear();
        }
        Plant::Robots => s.robots_disallowed = true,
        Plant::Injected => s.name = catalog::INJECTED_NAME.to_string(),
        Plant::Behaviour(b) => s.behaviour = b,
    }
}

impl ServiceSpec {
    /// Defect names on this service (sorted as listed in the contract).
    pub fn defects(&self, agency: &AgencySpec) -> Vec<&'static str> {
        let mut d = Vec::new();
        if self.level == Level::Full && self.providers.is_empty() {
            d.push("full_without_signature");
        }
        if agency.site_wide_plugin && agency.shape.is_html() && self.providers.is_empty() {
            d.push("site_wide_signature_only");
        }
        match label_scheme(&self.level_label) {
            _ if self.level_label.is_empty() => d.push("no_level_label"),
            Some(LevelScheme::Old) => d.push("level_scheme_old"),
            Some(LevelScheme::New) => d.push("level_scheme_new"),
            _ => {}
        }
        if self.robots_disallowed {
            d.push("robots_disallow");
        }
        d.extend(match self.behaviour {
            Behaviour::Normal => None,
            Behaviour::Slow => Some("slow_page"),
            Behaviour::Hang => Some("hanging_page"),
            Behaviour::ServerError => Some("server_error"),
            Behaviour::RateLimited => Some("rate_limited_429"),
            Behaviour::RedirectLoop => Some("redirect_loop"),
            Behaviour::Oversized => Some("oversized_page"),
            Behaviour::Windows1258 => Some("windows_1258_page"),
            Behaviour::Windows1258LyingHeader => Some("windows_1258_lying_header"),
            Behaviour::MixedCharsets => Some("mixed_charsets_page"),
            Behaviour::Tcvn3 => Some("tcvn3_page"),
            Behaviour::Tcvn3Undeclared => Some("tcvn3_undeclared_page"),
        });
        if self.name.contains('<') {
            d.push("injected_markup_name");
        }
        if agency.shape.unreadable() {
            d.push("spa_without_api");
        }
        d
    }

    /// `"ok"` or the `could_not_assess` reason the scanner must record.
    pub fn expect(&self, agency: &AgencySpec) -> &'static str {
        if agency.shape.unreadable() {
            return "spa_without_api";
        }
        if self.robots_disallowed {
            return "robots_disallowed";
        }
        match self.behaviour {
            Behaviour::Hang => "timeout",
            Behaviour::ServerError => "http_status",
            Behaviour::RedirectLoop => "redirect_loop",
            Behaviour::Oversized => "too_large",
            // The SPA shape answers JSON in UTF-8 whatever the behaviour.
            Behaviour::MixedCharsets if agency.shape.is_html() => "decode",
            Behaviour::Normal
            | Behaviour::MixedCharsets
            | Behaviour::Windows1258LyingHeader
            | Behaviour::Slow
            | Behaviour::RateLimited
            | Behaviour::Windows1258
            | Behaviour::Tcvn3
            | Behaviour::Tcvn3Undeclared => "ok",
        }
    }

    /// The path (with query) of the service's detail page on its data host.
    pub fn detail_path(&self, agency: &AgencySpec) -> String {
        match agency.shape {
            Shape::Accordion => format!("/bothutuc/tthc?matt={}", accordion_id(self.index)),
            Shape::Table => format!(
                "/web/guest/thu-tuc-hanh-chinh/chi-tiet?id={}",
                table_id(self.index)
            ),
            Shape::Spa => format!("/api/v1/procedures/{}", spa_id(agency, self.index)),
            Shape::SpaNoapi => format!("/dich-vu-cong/tthc/{}", self.code),
            Shape::Dl => format!("/tthc/chi-tiet?ma={}", dl_id(self.index)),
            Shape::ListApi => format!("/dich-vu-cong/tthc/{}", spa_id(agency, self.index)),
            // The detail is one POST endpoint for every service (the id in the body); the
            // service's address is its page for citizens.
            Shape::Dvcqg => format!("/thu-tuc-hanh-chinh/{}", spa_id(agency, self.index)),
            Shape::Opencps => format!("/o/rest/v2/serviceinfos/{}", opencps_id(self.index)),
            Shape::Liferay => format!(
                "/dich-vu-cong/chi-tiet?p_p_id=dichvucong_WAR_dngdvcportlet&id={}",
                liferay_id(self.index)
            ),
            Shape::Igate => format!("/vi/procedure/detail/{}", spa_id(agency, self.index)),
        }
    }

    /// The host serving the detail page.
    pub fn data_host(&self, agency: &AgencySpec) -> String {
        if agency.shape == Shape::Spa {
            agency.api_host()
        } else {
            agency.portal_host()
        }
    }
}

/// The national portal's list and detail endpoints (POST, JSON bodies).
pub(crate) const DVCQG_LIST: &str =
    "/api/v1/submitting/formality/list-all-public-formality-by-citizen";
pub(crate) const DVCQG_DETAIL: &str = "/api/v1/configuring/formality/get-formality-by-citizen";
/// The list-only API's search endpoint (POST).
pub(crate) const LIST_API_SEARCH: &str = "/api/v2/thu-tuc/tim-kiem";

pub(crate) fn dl_id(index: usize) -> usize {
    500_000 + index
}
pub(crate) fn opencps_id(index: usize) -> usize {
    70_000 + index
}
pub(crate) fn liferay_id(index: usize) -> usize {
    300_000 + index
}

pub(crate) fn accordion_id(index: usize) -> usize {
    26000 + index
}
pub(crate) fn table_id(index: usize) -> usize {
    100_000 + index
}

/// An iGate-like 24-hex id: 8 hex of an agency tag, 16 hex of the index.
pub(crate) fn spa_id(agency: &AgencySpec, index: usize) -> String {
    format!("{:08x}{:016x}", agency.id_tag, index)
}

/// Parse an accordion `matt`, table `id` or SPA id back to a service index.
pub(crate) fn parse_id(agency: &AgencySpec, raw: &str) -> Option<usize> {
    let index = match agency.shape {
        Shape::Accordion => raw.parse::<usize>().ok()?.checked_sub(26000)?,
        Shape::Table => raw.parse::<usize>().ok()?.checked_sub(100_000)?,
        Shape::Dl => raw.parse::<usize>().ok()?.checked_sub(500_000)?,
        Shape::Opencps => raw.parse::<usize>().ok()?.checked_sub(70_000)?,
        Shape::Liferay => raw.parse::<usize>().ok()?.checked_sub(300_000)?,
        Shape::Spa | Shape::ListApi | Shape::Dvcqg | Shape::Igate => {
            if raw.len() != 24 || !raw.is_char_boundary(8) {
                return None;
            }
            let (tag, idx) = raw.split_at(8);
            if u32::from_str_radix(tag, 16).ok()? != agency.id_tag {
                return None;
            }
            usize::try_from(u64::from_str_radix(idx, 16).ok()?).ok()?
        }
        Shape::SpaNoapi => return None,
    };
    (index < agency.service_count).then_some(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::world::{Size, World};

    #[test]
    fn derivation_is_deterministic_and_codes_unique() {
        let w = World::new(Size::Demo, 11);
        let a = derive(&w.data, 0, 5);
        assert_eq!(a, derive(&w.data, 0, 5));
        assert!(derive(&w.data, 0, 10_000).is_none());
        let mut codes = Vec::new();
        for (ai, ag) in w.agencies().iter().enumerate() {
            for si in 0..ag.service_count {
                let s = derive(&w.data, ai, si).expect("in range");
                assert!(s.code.starts_with("1.00"), "{}", s.code);
                codes.push(s.code);
            }
        }
        let n = codes.len();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), n);
    }

    /// Pinned values: ChaCha8 streams are stable across machines, so a change here means the
    /// generator changed (a `rand` upgrade or an edit) and every recorded ground truth moved.
    #[test]
    fn generation_is_pinned() {
        let w = World::new(Size::Demo, 1);
        let s0 = derive(&w.data, 0, 0).expect("service");
        let s1 = derive(&w.data, 0, 1).expect("service");
        assert_eq!(
            (s0.code.as_str(), s0.name.as_str()),
            ("1.001000", "Cấp đổi bằng tốt nghiệp trung học phổ thông")
        );
        assert_eq!(
            (s1.code.as_str(), s1.name.as_str()),
            ("1.001001", "Gia hạn chứng chỉ hành nghề")
        );
        let hanoi = w.agency("hanoi").expect("hanoi");
        assert_eq!(spa_id(hanoi, 14), "f9c093ec000000000000000e");
    }

    #[test]
    fn ids_round_trip_per_shape() {
        let w = World::new(Size::Tiny, 5);
        for ag in w.agencies() {
            let s = derive(&w.data, ag.index, 3).expect("service");
            let path = s.detail_path(ag);
            let raw = path.rsplit(['=', '/']).next().unwrap_or_default();
            let back = parse_id(ag, raw);
            if ag.shape == Shape::SpaNoapi {
                assert_eq!(back, None);
            } else {
                assert_eq!(back, Some(3), "{path}");
            }
        }
    }

    #[test]
    fn labels_carry_their_scheme() {
        assert_eq!(label_scheme("Mức độ 4"), Some(LevelScheme::Old));
        assert_eq!(
            label_scheme("DVC trực tuyến mức độ 3"),
            Some(LevelScheme::Old)
        );
        assert_eq!(label_scheme("Toàn trình"), Some(LevelScheme::New));
        assert_eq!(
            label_scheme("Dịch vụ công trực tuyến một phần"),
            Some(LevelScheme::New)
        );
        assert_eq!(label_scheme(""), None);
    }
}
