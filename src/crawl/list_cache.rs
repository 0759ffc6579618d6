//! List pages in the page cache: what a re-run needs to replay an unchanged list page.
//!
//! A list page is remembered like a detail page (URL → validators + `extraction_json`), but its
//! `extraction_json` holds a [`ListScan`] (what the page says, before the chain's memory
//! decides what is new) inside a tagged envelope:
//!
//! ```json
//! {"cache_kind":"list_page","format":1,"fingerprint":"<sha256>","url":"https://…","scan":{…}}
//! ```
//!
//! A detail entry is a bare `ServiceFacts` object, which has no `cache_kind` and lacks every
//! field of `ServiceFacts`, so neither can be read as the other. The fingerprint covers what a
//! scan depends on besides the body: the profile's listing, signals and shell marker, the
//! agency's variables (JSON detail URLs are rendered with them), the entry format and the
//! dvc-audit version (extraction code may change between versions). An entry whose
//! fingerprint, format or URL differs, or that does not decode, is ignored: the page is then
//! fetched unconditionally, so a stale or foreign entry costs one full fetch, never a page.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::extract::{AgencyVars, ListScan, PageRequest};
use crate::profile::Method;
use crate::profile::Profile;
use crate::store::CachedPage;

/// Version of the envelope and of [`ListScan`]'s shape; bump when either changes.
pub const LIST_ENTRY_FORMAT: u32 = 2;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "cache_kind", rename_all = "snake_case")]
enum Entry {
    ListPage {
        format: u32,
        fingerprint: String,
        url: String,
        scan: ListScan,
    },
}

/// What a list scan depends on besides the page body, as a SHA-256 (hex). Computed once per
/// agency walk.
///
/// Built from the `Debug` text of the compiled listing, signals and shell marker: compiled
/// selectors print their CSS, regexes their pattern, templates their text, and none of these
/// types holds a hash map, so the text is the same in every process for the same profile.
/// Listing the fields by hand instead would silently miss a field added later.
pub fn listing_fingerprint(profile: &Profile, vars: &AgencyVars) -> String {
    let mut h = Sha256::new();
    let parts = [
        LIST_ENTRY_FORMAT.to_string(),
        env!("CARGO_PKG_VERSION").to_string(),
        profile.id.clone(),
        format!("{:?}", profile.listing),
        format!("{:?}", profile.signals),
        format!("{:?}", profile.shell),
        profile.has_api().to_string(),
        // List items can carry facts (`item_facts`) mapped through levels and the code pattern.
        format!("{:?}", profile.levels),
        format!("{:?}", profile.detail.code_pattern),
        format!("{:?}", profile.national_link),
        format!("{vars:?}"),
    ];
    for p in parts {
        // Length-prefixed, so no two different sequences of parts hash alike.
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Which extraction a cached page's facts come from: this build of dvc-audit (version, git
/// commit and build date: extraction code changes between commits of one version), the whole
/// compiled profile (selectors, level patterns, signals, national link, hash rules; see
/// [`listing_fingerprint`] for why its `Debug` text is stable) and the agency's variables.
/// The first 32 bits of a SHA-256, as one SQLite integer per cached URL (4 bytes on disk, 0.8
/// MB over a national run's 200,000 URLs): it tells versions apart (two versions share a key
/// with odds of 1 in 4 billion, and then cost what every run cost before the key existed), it
/// guards nothing against an attacker.
pub fn extraction_key(profile: &Profile, vars: &AgencyVars, max_body_bytes: u64) -> i64 {
    key_of(&[
        crate::version::VERSION.to_string(),
        crate::version::GIT_COMMIT.to_string(),
        crate::version::BUILD_DATE.to_string(),
        format!("{profile:?}"),
        format!("{vars:?}"),
        // A page refused as too large is a verdict stored with its validators.
        max_body_bytes.to_string(),
    ])
}

/// The key of one detail entry: the walk's [`extraction_key`], and what the list row said of
/// the service (its hint: code, name, item facts), which is filled into the facts before they
/// are stored and which a 304 replay does not apply again. A row that changed while its page
/// did not is read again.
pub fn entry_key(walk: i64, hint: &crate::extract::ServiceHint) -> i64 {
    if *hint == crate::extract::ServiceHint::default() {
        return walk;
    }
    key_of(&[walk.to_string(), format!("{hint:?}")])
}

fn key_of(parts: &[String]) -> i64 {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    let digest = h.finalize();
    let mut first = [0u8; 4];
    first.copy_from_slice(&digest[..4]);
    i64::from(i32::from_le_bytes(first))
}

/// List requests the fetcher can send conditionally (it sends validators on GETs only), and
/// whose URL alone identifies them.
pub fn cacheable(req: &PageRequest) -> bool {
    req.method == Method::Get && req.body.is_none()
}

/// The scan stored for `url` under `fingerprint`, if `cached` is such a list entry.
pub fn decode(cached: &CachedPage, fingerprint: &str, url: &str) -> Option<ListScan> {
    match serde_json::from_str::<Entry>(&cached.extraction_json).ok()? {
        Entry::ListPage {
            format,
            fingerprint: f,
            url: u,
            scan,
        } if format == LIST_ENTRY_FORMAT && f == fingerprint && u == url => Some(scan),
        Entry::ListPage { .. } => None,
    }
}

/// The cache entry for a list page read from a `200`, when the server sent validators.
pub fn encode(
    url: &str,
    etag: Option<&str>,
    last_modified: Option<&str>,
    content_hash: String,
    fingerprint: &str,
    scan: ListScan,
) -> Option<(String, CachedPage)> {
    if etag.is_none() && last_modified.is_none() {
        return None;
    }
    let entry = Entry::ListPage {
        format: LIST_ENTRY_FORMAT,
        fingerprint: fingerprint.to_string(),
        url: url.to_string(),
        scan,
    };
    let mut json = serde_json::to_string(&entry).ok()?;
    json.shrink_to_fit(); // held until the walk ends

    Some((
        url.to_string(),
        CachedPage {
            etag: etag.map(str::to_string),
            last_modified: last_modified.map(str::to_string),
            content_hash,
            extraction_json: json,
            extraction_key: None,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::{ListItem, ServiceHint};
    use crate::facts::ServiceFacts;
    use crate::profile::ProfileSet;

    fn scan() -> ListScan {
        ListScan {
            base_url: "https://dvc.a.test/list".into(),
            items: vec![ListItem {
                url: "https://dvc.a.test/d?id=1".into(),
                method: Method::Get,
                body: None,
                hint: ServiceHint {
                    code: "1.001000".into(),
                    name: "Cấp phép".into(),
                    item: None,
                    page_url: String::new(),
                },
            }],
            total: Some(1),
            paginate: true,
            more: true,
            next_link: Some("https://dvc.a.test/list?p=2".into()),
            ..ListScan::default()
        }
    }

    fn profiles() -> ProfileSet {
        ProfileSet::bundled().expect("bundled profiles")
    }

    #[test]
    fn an_entry_round_trips_only_under_its_fingerprint_and_url() {
        let url = "https://dvc.a.test/list";
        let (key, page) =
            encode(url, Some("\"e\""), None, "h".into(), "fp", scan()).expect("entry");
        assert_eq!(key, url);
        assert_eq!(page.etag.as_deref(), Some("\"e\""));
        assert_eq!(decode(&page, "fp", url), Some(scan()));
        assert_eq!(decode(&page, "other", url), None, "another profile or vars");
        assert_eq!(decode(&page, "fp", "https://dvc.a.test/x"), None);
        let older = CachedPage {
            extraction_json: page.extraction_json.replace("\"format\":2", "\"format\":1"),
            extraction_key: None,
            ..page.clone()
        };
        assert_eq!(decode(&older, "fp", url), None, "another format");
    }

    #[test]
    fn no_validators_nothing_to_remember() {
        assert!(encode("https://a.test/", None, None, String::new(), "fp", scan()).is_none());
    }

    #[test]
    fn list_and_detail_entries_are_never_mistaken_for_each_other() {
        let (_, list) = encode(
            "https://a.test/",
            None,
            Some("d"),
            String::new(),
            "fp",
            scan(),
        )
        .expect("entry");
        assert!(serde_json::from_str::<ServiceFacts>(&list.extraction_json).is_err());
        let detail = CachedPage {
            etag: Some("\"e\"".into()),
            last_modified: None,
            content_hash: "h".into(),
            extraction_json: serde_json::to_string(&ServiceFacts::default()).expect("json"),
            extraction_key: None,
        };
        assert_eq!(decode(&detail, "fp", "https://a.test/"), None);
        let garbage = CachedPage {
            extraction_json: "{\"cache_kind\":\"list_page\",\"format\":1".into(),
            extraction_key: None,
            ..detail
        };
        assert_eq!(decode(&garbage, "fp", "https://a.test/"), None);
    }

    #[test]
    fn the_fingerprint_follows_profile_and_vars_and_nothing_else() {
        let set = profiles();
        let ids: Vec<&str> = set.ids().collect();
        let (Some(&a), Some(&b)) = (ids.first(), ids.get(1)) else {
            panic!("at least two bundled profiles");
        };
        let (pa, pb) = (set.get(a).expect("a"), set.get(b).expect("b"));
        let vars = AgencyVars::new("x", "https://dvc.x.test");
        let fp = listing_fingerprint(pa, &vars);
        // Stable for the same inputs (a reload of the same profile included).
        let again = profiles();
        assert_eq!(fp, listing_fingerprint(again.get(a).expect("a"), &vars));
        assert_ne!(fp, listing_fingerprint(pb, &vars));
        assert_ne!(
            fp,
            listing_fingerprint(pa, &vars.clone().with("api", "https://api.x.test"))
        );
        let mut changed = (**pa).clone();
        changed.listing.max_pages = changed.listing.max_pages.saturating_add(1);
        assert_ne!(fp, listing_fingerprint(&changed, &vars));
    }

    #[test]
    fn the_extraction_key_follows_the_whole_profile_and_vars() {
        let set = profiles();
        let vars = AgencyVars::new("x", "https://dvc.x.test");
        let odd = regex::Regex::new("x").expect("regex");
        for id in set.ids() {
            let p = set.get(id).expect("profile");
            let key = extraction_key(p, &vars, 1);
            // The same for a reload of the same profile (no hash-map order in its text).
            let again = profiles();
            assert_eq!(key, extraction_key(again.get(id).expect("again"), &vars, 1));
            // Any part of extraction, not only the listing, moves it.
            let mut levels = (**p).clone();
            levels.levels.rules.push(crate::profile::level::LevelRule {
                pattern: crate::profile::level::LevelPattern::Contains("x".into()),
                level: crate::facts::Level::Info,
            });
            let mut national = (**p).clone();
            national.national_link = Some(crate::profile::Locator::Pointer("/elsewhere".into()));
            let mut volatile = (**p).clone();
            volatile.volatile.clear();
            volatile.volatile.push(odd.clone());
            for (what, changed) in [
                ("levels", levels),
                ("national", national),
                ("volatile", volatile),
            ] {
                assert_ne!(key, extraction_key(&changed, &vars, 1), "{id}: {what}");
            }
            assert_ne!(
                key,
                extraction_key(p, &vars.clone().with("api", "https://api.x.test"), 1)
            );
            assert_ne!(key, extraction_key(p, &vars, 2), "{id}: max_body_bytes");
        }
    }

    #[test]
    fn a_detail_entry_key_follows_its_list_row() {
        use crate::extract::ServiceHint;
        let walk = 12345;
        assert_eq!(entry_key(walk, &ServiceHint::default()), walk);
        let hint = ServiceHint {
            code: "1.000001".into(),
            name: "Cấp phép".into(),
            ..ServiceHint::default()
        };
        let k = entry_key(walk, &hint);
        assert_eq!(k, entry_key(walk, &hint.clone()), "stable");
        assert_ne!(k, entry_key(walk + 1, &hint), "another walk key");
        let renamed = ServiceHint {
            name: "Cấp đổi giấy phép".into(),
            ..hint.clone()
        };
        assert_ne!(k, entry_key(walk, &renamed), "the row changed");
        let item = ServiceHint {
            item: Some(Box::new(crate::extract::ItemFacts {
                level_label: "Toàn trình".into(),
                ..crate::extract::ItemFacts::default()
            })),
            ..hint.clone()
        };
        assert_ne!(k, entry_key(walk, &item), "the row's item facts changed");
    }

    #[test]
    fn only_plain_gets_are_cacheable() {
        let mut req = PageRequest {
            method: Method::Get,
            url: "https://a.test/".into(),
            body: None,
            kind: crate::extract::PageKind::List,
            list: None,
            hint: ServiceHint::default(),
        };
        assert!(cacheable(&req));
        req.body = Some("{}".into());
        assert!(!cacheable(&req));
        req.method = Method::Post;
        assert!(!cacheable(&req));
    }
}
