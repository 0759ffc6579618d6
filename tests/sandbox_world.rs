//! The sandbox world served for real: HTTPS with SNI on loopback, fetched with reqwest trusting
//! only the sandbox's public root, every shape, the planted behaviours, mutation.

use std::collections::BTreeSet;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;

use dvc_audit::sandbox::{
    self, Behaviour, CertDefect, GroundTruth, Overrides, Ports, SandboxHandle, ServeOptions, Size,
    World,
};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use unicode_normalization::UnicodeNormalization;

async fn start(size: Size, seed: u64) -> SandboxHandle {
    sandbox::serve(World::new(size, seed), ServeOptions::default())
        .await
        .expect("sandbox starts")
}

fn client_with(h: &SandboxHandle, anchors: &[&str], gzip: bool) -> reqwest::Client {
    dvc_audit::install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    for pem in anchors {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(cert.expect("pem")).expect("root");
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut b = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("sandbox-test/1");
    if !gzip {
        b = b.no_gzip();
    }
    let local = SocketAddr::from(([127, 0, 0, 1], h.https_port()));
    for host in h.world().base_hosts() {
        b = b.resolve(&host.name, local);
    }
    b.build().expect("client")
}

fn client(h: &SandboxHandle) -> reqwest::Client {
    client_with(h, &[h.ca_pem()], true)
}

fn url(h: &SandboxHandle, host: &str, path: &str) -> String {
    format!("https://{host}:{}{path}", h.https_port())
}

async fn get(c: &reqwest::Client, u: &str) -> (u16, String) {
    let r = c.get(u).send().await.expect("response");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

fn service_with<'g>(gt: &'g GroundTruth, defect: &str) -> &'g sandbox::ServiceTruth {
    gt.services
        .iter()
        .find(|s| s.defects.iter().any(|d| d == defect))
        .unwrap_or_else(|| panic!("no service with {defect}"))
}

#[tokio::test]
async fn every_shape_serves_lists_and_details() {
    let h = start(Size::Demo, 1).await;
    let c = client(&h);
    let gt = h.ground_truth();

    // accordion (bca): list, then a detail page linked from it.
    let (st, list) = get(
        &c,
        &url(&h, "dvc.bca.sandbox.test", "/bothutuc?page=1&per_page=5"),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(list.matches("class=\"tthc-name\"").count(), 5);
    let bca = gt.agencies.iter().find(|a| a.id == "bca").expect("bca");
    assert!(list.contains(&format!(
        "<span id=\"totalRecord\">{}</span>",
        bca.service_count
    )));
    assert!(list.contains("rel=\"next\" href=\"/bothutuc?page=2&amp;per_page=5\""));
    let first = gt
        .services
        .iter()
        .find(|s| s.agency_id == "bca")
        .expect("bca service");
    assert!(first.url.ends_with("/bothutuc/tthc?matt=26000"));
    let (st, detail) = get(&c, &first.url).await;
    assert_eq!(st, 200);
    assert!(detail.contains(&format!("<h4>{}</h4>", first.name)));
    assert!(detail.contains(&format!("{} </div>", first.code)));
    assert!(detail.contains("<div class=\"tthc-list-item-detail\">"));

    // table (bxd): first page has 10 rows and a next link; a detail has td-1/td-2 rows.
    let (st, list) = get(
        &c,
        &url(
            &h,
            "dvc.bxd.sandbox.test",
            "/web/guest/thu-tuc-hanh-chinh?count=0",
        ),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(list.matches("class=\"ten-thu-tuc\"").count(), 10);
    assert!(list.contains("class=\"next-page\" href=\"/web/guest/thu-tuc-hanh-chinh?count=10\""));
    let svc = gt
        .services
        .iter()
        .find(|s| s.agency_id == "bxd" && s.expect == "ok" && !s.name.contains('<'))
        .expect("bxd service");
    let (st, detail) = get(&c, &svc.url).await;
    assert_eq!(st, 200);
    assert!(detail.contains(&format!(
        "<td class=\"td-1\">Mã thủ tục</td><td class=\"td-2\">{}</td>",
        svc.code
    )));

    // spa (hanoi): the HTML is a shell; the JSON API has the data, cursor-paginated.
    let (st, shell) = get(&c, &url(&h, "dvc.hanoi.sandbox.test", "/")).await;
    assert_eq!(st, 200);
    assert!(shell.contains("<div id=\"app\"></div>"));
    let (st, body) = get(
        &c,
        &url(&h, "api.hanoi.sandbox.test", "/api/v1/procedures?limit=3"),
    )
    .await;
    assert_eq!(st, 200);
    let page: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(page["content"].as_array().map(Vec::len), Some(3));
    assert_eq!(page["last"], false);
    let cursor = page["lastId"].as_str().expect("cursor").to_string();
    let (_, body) = get(
        &c,
        &url(
            &h,
            "api.hanoi.sandbox.test",
            &format!("/api/v1/procedures?limit=3&lastId={cursor}"),
        ),
    )
    .await;
    let next: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_ne!(next["content"][0]["id"], page["content"][0]["id"]);
    let svc = gt
        .services
        .iter()
        .find(|s| s.agency_id == "hanoi" && s.expect == "ok")
        .expect("hanoi service");
    let (st, body) = get(&c, &svc.url).await;
    assert_eq!(st, 200);
    let d: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(d["code"], svc.code.as_str());
    assert_eq!(d["name"], svc.name.as_str());
    assert_eq!(d["requireDigitalSignature"], svc.signature.required);
    assert_eq!(d["nationalPortalSync"], svc.national_portal_link);
    assert_eq!(
        d["digitalSignatureProviders"].as_array().map(Vec::len),
        Some(svc.signature.providers.len())
    );

    // spa-noapi (quangnam): shell only, no API host.
    let (st, shell) = get(
        &c,
        &url(&h, "dvc.quangnam.sandbox.test", "/dich-vu-cong/tthc"),
    )
    .await;
    assert_eq!(st, 200);
    assert!(shell.contains("<div id=\"app\"></div>") && !shell.contains("apiBase"));

    // The request log saw all of it.
    let log = h.request_log();
    for (host, path) in [
        ("dvc.bca.sandbox.test", "/bothutuc?page=1&per_page=5"),
        (
            "dvc.bxd.sandbox.test",
            "/web/guest/thu-tuc-hanh-chinh?count=0",
        ),
        ("api.hanoi.sandbox.test", "/api/v1/procedures?limit=3"),
        ("dvc.quangnam.sandbox.test", "/dich-vu-cong/tthc"),
    ] {
        let rec = log
            .iter()
            .find(|r| r.host == host && r.path == path)
            .unwrap_or_else(|| panic!("{host}{path} not logged"));
        assert_eq!(
            (rec.status, rec.scheme.as_str(), rec.conditional),
            (200, "https", false)
        );
        assert_eq!(rec.user_agent, "sandbox-test/1");
    }
    h.shutdown().await;
}

#[tokio::test]
async fn demo_ground_truth_lists_every_defect_and_is_deterministic() {
    let gt = Overrides::new(World::new(Size::Demo, 1)).ground_truth(Ports {
        https: 8443,
        http: 8080,
    });
    let mut seen = BTreeSet::new();
    gt.agencies
        .iter()
        .for_each(|a| seen.extend(a.defects.iter().cloned()));
    gt.hosts
        .iter()
        .for_each(|h| seen.extend(h.defects.iter().cloned()));
    gt.services
        .iter()
        .for_each(|s| seen.extend(s.defects.iter().cloned()));
    let all: BTreeSet<String> = sandbox::DEFECTS.iter().map(|s| s.to_string()).collect();
    assert_eq!(seen, all);
    assert_eq!(gt.agencies.len(), 12);

    let json = |seed| {
        let o = Overrides::new(World::new(Size::Demo, seed));
        serde_json::to_string(&o.ground_truth(Ports {
            https: 8443,
            http: 8080,
        }))
        .expect("json")
    };
    assert_eq!(json(1), serde_json::to_string(&gt).expect("json"));
    assert_ne!(json(1), json(2));

    // Expected outcomes follow the planted behaviours.
    for (defect, expect) in [
        ("server_error", "http_status"),
        ("hanging_page", "timeout"),
        ("redirect_loop", "redirect_loop"),
        ("oversized_page", "too_large"),
        ("robots_disallow", "robots_disallowed"),
        ("slow_page", "ok"),
        ("rate_limited_429", "ok"),
        ("spa_without_api", "spa_without_api"),
    ] {
        assert_eq!(service_with(&gt, defect).expect, expect, "{defect}");
    }
}

#[tokio::test]
async fn conditional_get_gzip_and_plain_http() {
    let h = start(Size::Demo, 1).await;
    let c = client(&h);
    let u = url(&h, "dvc.bca.sandbox.test", "/bothutuc?page=1");
    let r = c.get(&u).send().await.expect("response");
    let etag = r.headers()["etag"].to_str().expect("etag").to_string();
    let lm = r.headers()["last-modified"]
        .to_str()
        .expect("lm")
        .to_string();
    assert!(r.headers().contains_key("strict-transport-security"));
    let r = c
        .get(&u)
        .header("If-None-Match", &etag)
        .send()
        .await
        .expect("response");
    assert_eq!(r.status().as_u16(), 304);
    let r = c
        .get(&u)
        .header("If-Modified-Since", &lm)
        .send()
        .await
        .expect("response");
    assert_eq!(r.status().as_u16(), 304);
    let logged = h.request_log();
    assert_eq!(
        logged
            .iter()
            .filter(|r| r.conditional && r.status == 304)
            .count(),
        2
    );

    // gzip when asked for.
    let raw = client_with(&h, &[h.ca_pem()], false);
    let r = raw
        .get(&u)
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .expect("response");
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let zipped = r.bytes().await.expect("body");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&zipped[..])
        .read_to_string(&mut text)
        .expect("gunzip");
    assert!(text.contains("class=\"list-tthc\""));

    // Plain HTTP: 301 to https on the same host, unless the host is planted without it.
    let gt = h.ground_truth();
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve(
            "dvc.bca.sandbox.test",
            SocketAddr::from(([127, 0, 0, 1], h.http_port())),
        )
        .build()
        .expect("client");
    let r = plain
        .get(format!(
            "http://dvc.bca.sandbox.test:{}/bothutuc?page=2",
            h.http_port()
        ))
        .send()
        .await
        .expect("response");
    assert_eq!(r.status().as_u16(), 301);
    assert_eq!(
        r.headers()["location"],
        url(&h, "dvc.bca.sandbox.test", "/bothutuc?page=2").as_str()
    );
    let open = gt
        .hosts
        .iter()
        .find(|x| !x.https_redirect)
        .expect("planted");
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve(
            &open.name,
            SocketAddr::from(([127, 0, 0, 1], h.http_port())),
        )
        .build()
        .expect("client");
    let r = plain
        .get(format!("http://{}:{}/", open.name, h.http_port()))
        .send()
        .await
        .expect("response");
    assert_eq!(r.status().as_u16(), 200);
    h.shutdown().await;
}

#[tokio::test]
async fn planted_behaviours_are_served() {
    let h = start(Size::Demo, 1).await;
    let c = client(&h);
    let gt = h.ground_truth();

    // Windows-1258: the header says so, the bytes decode to the ground-truth name.
    let win = service_with(&gt, "windows_1258_page");
    let r = c.get(&win.url).send().await.expect("response");
    assert_eq!(
        r.headers()["content-type"],
        "text/html; charset=windows-1258"
    );
    let bytes = r.bytes().await.expect("body");
    assert!(!bytes.windows(2).any(|w| w == b"&#"));
    assert!(std::str::from_utf8(&bytes).is_err(), "not UTF-8");
    let (decoded, _, errors) = encoding_rs::WINDOWS_1258.decode(&bytes);
    assert!(!errors);
    let nfc: String = decoded.nfc().collect();
    assert!(nfc.contains(&win.name), "{}", win.name);

    // TCVN3: the header and meta say windows-1252, the page names .VnTime, the bytes are
    // TCVN3 and read back to the ground-truth name.
    let vn3 = service_with(&gt, "tcvn3_page");
    let r = c.get(&vn3.url).send().await.expect("response");
    assert_eq!(
        r.headers()["content-type"],
        "text/html; charset=windows-1252"
    );
    let bytes = r.bytes().await.expect("body");
    assert!(std::str::from_utf8(&bytes).is_err(), "not UTF-8");
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(has(b"<meta charset=\"windows-1252\">") && has(b"font-family: .VnTime"));
    // Toned capitals (not in TCVN3) are numeric references.
    let text = dvc_audit::crawl::tcvn3::decode(&bytes);
    let text = regex::Regex::new(r"&#(\d+);").expect("regex").replace_all(
        &text,
        |c: &regex::Captures<'_>| {
            c[1].parse::<u32>()
                .ok()
                .and_then(char::from_u32)
                .map(String::from)
                .unwrap_or_default()
        },
    );
    assert!(text.contains(&vn3.name), "{}", vn3.name);
    assert!(!has(vn3.name.as_bytes()), "not UTF-8 text");

    // Injected markup is escaped in the page; the truth keeps it raw.
    let inj = service_with(&gt, "injected_markup_name");
    assert!(inj.name.contains("<script>alert(1)</script>"));
    let (_, page) = get(&c, &inj.url).await;
    assert!(!page.contains("<script>alert(1)"));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));

    // 500 always; 429 once then 200; a redirect loop.
    let err = service_with(&gt, "server_error");
    assert_eq!(get(&c, &err.url).await.0, 500);
    assert_eq!(get(&c, &err.url).await.0, 500);
    let limited = service_with(&gt, "rate_limited_429");
    let r = c.get(&limited.url).send().await.expect("response");
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(get(&c, &limited.url).await.0, 200);
    let looped = service_with(&gt, "redirect_loop");
    let r = c.get(&looped.url).send().await.expect("response");
    assert_eq!(r.status().as_u16(), 302);
    let hop = r.headers()["location"].to_str().expect("loc").to_string();
    let base = looped
        .url
        .split_once(&looped.host)
        .map(|x| x.0)
        .unwrap_or_default();
    let second = format!("{base}{}:{}{hop}", looped.host, h.https_port());
    let r = c.get(&second).send().await.expect("response");
    assert_eq!(r.status().as_u16(), 302);
    assert!(
        looped
            .url
            .ends_with(r.headers()["location"].to_str().expect("loc"))
    );

    // robots.txt disallows the planted detail URL with a `$` anchor.
    let robots = service_with(&gt, "robots_disallow");
    let host = gt
        .hosts
        .iter()
        .find(|x| x.name == robots.host)
        .expect("host");
    let (_, txt) = get(&c, &url(&h, &robots.host, "/robots.txt")).await;
    let path = host.robots_disallow.first().expect("rule");
    assert!(txt.contains(&format!("Disallow: {path}$")), "{txt}");

    // Pagination loop: the table agency's last page links back to the first.
    let looping = gt
        .agencies
        .iter()
        .find(|a| a.defects.iter().any(|d| d == "pagination_loop"))
        .expect("planted");
    let last = (looping.service_count - 1) / 10 * 10;
    let (_, list) = get(
        &c,
        &url(
            &h,
            &format!("dvc.{}.sandbox.test", looping.id),
            &format!("/web/guest/thu-tuc-hanh-chinh?count={last}"),
        ),
    )
    .await;
    assert!(list.contains("class=\"next-page\" href=\"/web/guest/thu-tuc-hanh-chinh?count=0\""));
    h.shutdown().await;
}

#[tokio::test]
async fn mutations_change_pages_certificates_and_truth() {
    let h = start(Size::Demo, 1).await;
    let c = client(&h);
    let gt = h.ground_truth();

    // Fix the always-500 page, then reintroduce it.
    let err = service_with(&gt, "server_error").clone();
    h.mutate(|o| {
        if let Some(s) = o.service(&err.code) {
            s.behaviour = Behaviour::Normal;
            s.name = "Thủ tục đã sửa".to_string();
        }
    })
    .expect("mutate");
    let (st, page) = get(&c, &err.url).await;
    assert_eq!(st, 200);
    assert!(page.contains("Thủ tục đã sửa"));
    let fixed = h.ground_truth();
    let now = fixed
        .services
        .iter()
        .find(|s| s.code == err.code)
        .expect("service");
    assert!(!now.defects.iter().any(|d| d == "server_error"));
    assert_eq!(now.expect, "ok");
    h.mutate(|o| o.reset_service(&err.code)).expect("mutate");
    assert_eq!(get(&c, &err.url).await.0, 500);

    // A certificate defect: fixed on the running server, then planted elsewhere.
    let expired = gt
        .hosts
        .iter()
        .find(|x| x.cert == "cert_expired")
        .expect("planted");
    let u = url(&h, &expired.name, "/");
    assert!(
        c.get(&u).send().await.is_err(),
        "expired certificate accepted"
    );
    h.mutate(|o| {
        if let Some(host) = o.host(&expired.name) {
            host.cert = None;
        }
        if let Some(host) = o.host("dvc.bca.sandbox.test") {
            host.cert = Some(CertDefect::UntrustedIssuer);
        }
    })
    .expect("mutate");
    let fresh = client(&h);
    assert_eq!(get(&fresh, &u).await.0, 200);
    assert!(
        fresh
            .get(url(&h, "dvc.bca.sandbox.test", "/"))
            .send()
            .await
            .is_err()
    );
    let truth = h.ground_truth();
    let bca = truth
        .hosts
        .iter()
        .find(|x| x.name == "dvc.bca.sandbox.test")
        .expect("host");
    assert_eq!(bca.cert, "cert_untrusted_issuer");

    // An agency-level defect: plant the site-wide plugin on an HTML portal without it.
    let plain = gt
        .agencies
        .iter()
        .find(|a| {
            // bca's certificate was made untrusted above.
            a.platform == "accordion"
                && a.id != "bca"
                && !a.defects.iter().any(|d| d == "site_wide_signature_only")
        })
        .expect("an accordion portal without the theme plugin");
    let list_url = url(
        &h,
        &format!("dvc.{}.sandbox.test", plain.id),
        "/bothutuc?page=1",
    );
    assert!(!get(&c, &list_url).await.1.contains("vgcaplugin.js"));
    h.mutate(|o| o.set_site_wide_plugin(&plain.id, true))
        .expect("mutate");
    assert!(
        get(&c, &list_url)
            .await
            .1
            .contains("<script src=\"/static/vgcaplugin.js\"></script>")
    );
    let truth = h.ground_truth();
    let agency = truth
        .agencies
        .iter()
        .find(|a| a.id == plain.id)
        .expect("agency");
    assert!(
        agency
            .defects
            .iter()
            .any(|d| d == "site_wide_signature_only")
    );
    assert!(
        truth
            .services
            .iter()
            .filter(|s| s.agency_id == plain.id)
            .all(|s| s.signature.site_wide)
    );

    // The government anchor trusts its own leaves only.
    let gov = gt
        .hosts
        .iter()
        .find(|x| x.cert == "cert_gov_anchor_only")
        .expect("planted");
    let gov_client = client_with(&h, &[h.gov_ca_pem()], true);
    assert_eq!(get(&gov_client, &url(&h, &gov.name, "/")).await.0, 200);
    assert!(c.get(url(&h, &gov.name, "/")).send().await.is_err());
    h.shutdown().await;
}

#[tokio::test]
async fn out_dir_holds_config_certificates_truth_and_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = ServeOptions {
        out_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let h = sandbox::serve(World::new(Size::Tiny, 3), opts)
        .await
        .expect("serve");
    let c = client(&h);
    assert_eq!(get(&c, &url(&h, "dvc.bca.sandbox.test", "/")).await.0, 200);
    let config = std::fs::read_to_string(dir.path().join("audit.toml")).expect("audit.toml");
    assert_eq!(config, h.config_toml());
    assert!(config.contains(&format!(
        "dvc.bca.sandbox.test:{}:127.0.0.1",
        h.https_port()
    )));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("ca.pem")).expect("ca"),
        h.ca_pem()
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("gov-ca.pem")).expect("gov"),
        h.gov_ca_pem()
    );
    let truth: GroundTruth =
        serde_json::from_slice(&std::fs::read(dir.path().join("ground-truth.json")).expect("gt"))
            .expect("json");
    assert_eq!(truth, h.ground_truth());
    h.shutdown().await;
    let log = std::fs::read_to_string(dir.path().join("requests.jsonl")).expect("log");
    let rec: sandbox::RequestRecord =
        serde_json::from_str(log.lines().next().expect("a line")).expect("record");
    assert_eq!(
        (rec.host.as_str(), rec.path.as_str(), rec.status),
        ("dvc.bca.sandbox.test", "/", 200)
    );
}

#[tokio::test]
async fn dropping_the_handle_stops_the_listeners() {
    let h = start(Size::Tiny, 1).await;
    let port = h.https_port();
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
    );
    drop(h);
    // Aborted tasks release their listener when the runtime next polls them: retry a bounded
    // number of times until the port refuses connections.
    let mut refused = false;
    for _ in 0..100 {
        tokio::task::yield_now().await;
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(refused, "port {port} still accepts connections");
}
