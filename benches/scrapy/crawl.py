"""The Scrapy peer of `dvc-audit run`'s crawl: the same sandbox world, the same profiles.

    python crawl.py --world DIR --profiles rules/portals --out DIR

reads DIR/audit.toml (agencies, portals, platforms, [agency.vars], resolve entries), starts
every agency's listing as its profile says (HTML pagination by page index, offset or next
link; JSON APIs by cursor or offset, GET or POST), fetches every detail page (or reads
list-only items), and extracts code, name, level, signature signals and the national-portal
link with the profile's CSS selectors (parsel) and JSON pointers. Items go to
OUT/items.jsonl (one per service, one per list page with its signals for the site-wide
marking), crawl stats to OUT/stats.json. `check.py` compares the items with the world's
ground truth.

Tuned as the Rust benchmark runs (politeness off): no robots.txt, no delay, no autothrottle,
no cookies, no HTTP cache, no dupefilter (each chain remembers what it has seen, as the
Rust walk does), 256 requests at once and 32 per host, HTTP/1.1 keep-alive, epoll reactor,
LOG_LEVEL INFO. Certificates are verified against the world's CA (ca.pem) through
DOWNLOAD_VERIFY_CERTIFICATES and SSL_CERT_FILE. Not part of CI: run by benches/scrapy.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import scrapy  # noqa: E402
from parsel import Selector  # noqa: E402
from scrapy.crawler import CrawlerProcess  # noqa: E402
from scrapy.http import TextResponse  # noqa: E402

import profiles as pf  # noqa: E402
import sandbox_dns  # noqa: E402


def base_value(v: str) -> str:
    """An http(s) value is a base URL: no trailing '/' (src/extract/request.rs)."""
    return v.rstrip("/") if v.lower().startswith(("http://", "https://")) else v


class Chain:
    """Memory of one list chain (src/extract/list.rs `ListState`)."""

    __slots__ = ("agency", "profile", "vars", "seen", "visited", "cursors", "pages")

    def __init__(self, agency: str, profile: pf.Profile, vars_: dict[str, str]):
        self.agency = agency
        self.profile = profile
        self.vars = vars_
        self.seen: set[str] = set()
        self.visited: set[str] = set()
        self.cursors: set[str] = set()
        self.pages = 0


class PortalSpider(scrapy.Spider):
    name = "dvc_peer"

    def __init__(self, world: str, profiles_dir: str, limit: int = 0, **kw: Any):
        super().__init__(**kw)
        self.limit = limit
        self.world = Path(world)
        self.config = tomllib.loads((self.world / "audit.toml").read_text(encoding="utf-8"))
        self.profiles = pf.load_profiles(Path(profiles_dir))

    # --- requests ---------------------------------------------------------------------------

    async def start(self):
        agencies = self.config["agency"]
        for agency in agencies[: self.limit] if self.limit else agencies:
            p = self.profiles[agency["platform"]]
            vars_ = {"portal": base_value(agency["portal"]), "id": agency["id"]}
            for k, v in (agency.get("vars") or {}).items():
                vars_[k] = base_value(v)
            for tpl in p.listing["start"]:
                chain = Chain(agency["id"], p, vars_)
                pag = p.pagination
                counter = pag.get("start", 1 if pag.get("kind") == "page_index" else 0)
                yield self.list_request(chain, pf.render(tpl, vars_), counter, None)

    def list_request(self, chain: Chain, base: str, counter: int, cursor: str | None):
        p = chain.profile
        pag = p.pagination
        kind = pag.get("kind", "none")
        url = base
        pv = {"cursor": cursor or ""}
        if kind in ("page_index", "offset"):
            pv["page" if kind == "page_index" else "offset"] = str(counter)
            if "size" in pag:
                pv["size"] = str(pag["size"])
            if "param" in pag:
                url = pf.set_param(url, pag["param"], str(counter))
            if "size_param" in pag and "size" in pag:
                url = pf.set_param(url, pag["size_param"], str(pag["size"]))
        elif kind == "cursor" and "param" in pag and cursor is not None:
            url = pf.set_param(url, pag["param"], cursor)
        j = p.listing.get("json")
        method, body = "GET", None
        if j is not None:
            method = j.get("method", "GET")
            if "body" in j:
                body = pf.render(j["body"], {**chain.vars, **pv}, escape="json")
        return self._request(
            url, method, body, self.parse_list,
            {"chain": chain, "base": base, "counter": counter},
            priority=0,
        )

    def _request(self, url, method, body, callback, kwargs, priority):
        headers = {"Content-Type": "application/json"} if body is not None else None
        return scrapy.Request(
            url, method=method, body=body, headers=headers, callback=callback,
            errback=self.failed, cb_kwargs=kwargs, priority=priority, dont_filter=True,
        )

    def failed(self, failure):
        """A request that ended without a usable response (after retries)."""
        req = failure.request
        kw = req.cb_kwargs
        reason = type(failure.value).__name__
        if "chain" in kw:  # a list page: its chain stops
            self.crawler.stats.inc_value("peer/list_failed")
            return
        self.crawler.stats.inc_value(f"peer/detail_failed/{reason}")
        yield {"t": "service", "agency": kw["agency"], "url": req.url, "error": reason}

    # --- list pages (src/extract/list.rs) ---------------------------------------------------

    def parse_list(self, response, chain: Chain, base: str, counter: int):
        p = chain.profile
        chain.pages += 1
        chain.visited.add(response.request.url)
        chain.visited.add(response.url)
        self.crawler.stats.inc_value("peer/list_pages")
        if response.status >= 400:
            yield {"t": "list", "agency": chain.agency, "error": f"http_{response.status}"}
            return
        details: list[scrapy.Request] = []
        signals: list[int] = []
        total = None
        more = True
        next_link = None
        cursor_last, cursor = False, None
        paginate = True
        shell_nothing = False
        pag = p.pagination
        kind = pag.get("kind", "none")
        if "html" in p.listing:
            h = p.listing["html"]
            sel = response.selector
            links = sel.css(h["link"])[: pf.MAX_LINKS_PER_PAGE]
            attr = h.get("attr", "href")
            for a in links:
                href = a.attrib.get(attr)
                if href is None:
                    continue
                url = response.urljoin(href.strip()).split("#", 1)[0]
                if not url.startswith(("http://", "https://")):
                    continue
                hint = {"code": "", "name": pf.element_text(a, pf.MAX_NAME_CHARS)}
                self.new_detail(chain, url, "GET", None, hint, details)
            if "total" in h:
                t = sel.css(h["total"])[:1]
                if t:
                    digits = "".join(c for c in pf.element_text(t[0], 100) if c.isdigit())
                    total = int(digits) if digits else None
            signals = pf.detect_html(p.signals, sel, response.text, [])
            if not links and p.shell and sel.css(p.shell)[:1]:
                paginate = False
                shell_nothing = not p.has_api()
            elif kind == "next_link":
                n = sel.css(pag["selector"])[:1]
                href = n[0].attrib.get(pag.get("attr", "href")) if n else None
                if href:
                    next_link = response.urljoin(href.strip()).split("#", 1)[0]
            if "more" in pag and paginate:
                more = bool(sel.css(pag["more"])[:1])
        else:
            j = p.listing["json"]
            try:
                doc = json.loads(response.text)
            except ValueError:
                yield {"t": "list", "agency": chain.agency, "error": "decode"}
                return
            items = pf.pointer(doc, j["items"])
            items = items if isinstance(items, list) else []
            only = "detail_url" not in j
            for item in items[: pf.MAX_LINKS_PER_PAGE]:
                try:
                    url = pf.render(j.get("detail_url") or j["item_url"], chain.vars, item)
                except KeyError:
                    continue
                url = response.urljoin(url)

                def text(key: str, item=item) -> str:
                    if key not in j:
                        return ""
                    v = pf.scalar_text(pf.pointer(item, j[key]))
                    return pf.clean(v) if v is not None else ""

                hint: dict[str, Any] = {"code": text("code"), "name": text("name")}
                if only or j.get("item_facts"):
                    hint["item"] = pf.item_facts(p, item, only)
                if not only and "item_url" in j:
                    try:
                        hint["page_url"] = response.urljoin(pf.render(j["item_url"], chain.vars, item))
                    except KeyError:
                        pass
                body = None
                if not only and "detail_body" in j:
                    try:
                        body = pf.render(j["detail_body"], chain.vars, item, escape="json")
                    except KeyError:
                        body = None
                if only:
                    key = url
                    if key in chain.seen:
                        continue
                    chain.seen.add(key)
                    facts = {"code": "", "name": "", "level": "unknown", "level_label": "",
                             "signals": [], "national_portal_link": False, "url": url}
                    pf.fill(facts, hint)
                    yield {"t": "service", "agency": chain.agency, **facts}
                    self.crawler.stats.inc_value("peer/list_items")
                    details.append(None)  # counts as a new service for pagination
                else:
                    self.new_detail(chain, url, j.get("detail_method", "GET"), body, hint, details)
            if "total" in j:
                t = pf.pointer(doc, j["total"])
                total = t if isinstance(t, int) and not isinstance(t, bool) else None
            signals = pf.detect_json(p.signals, doc, response.text, [])
            if "more" in pag:
                more = bool(pf.pointer(doc, pag["more"]))
            if kind == "cursor":
                cursor_last = "last" in pag and bool(pf.pointer(doc, pag["last"]))
                cursor = pf.scalar_text(pf.pointer(doc, pag["cursor"]))
        yield {"t": "list", "agency": chain.agency, "signals": signals,
               "spa_without_api": shell_nothing}
        new_links = len(details)
        for d in details:
            if d is not None:
                yield d
        if not paginate or chain.pages >= p.listing.get("max_pages", 100000):
            return
        nxt = None
        if kind == "cursor":
            if not cursor_last and cursor and cursor not in chain.cursors and new_links:
                chain.cursors.add(cursor)
                nxt = self.list_request(chain, base, counter, cursor)
        elif kind == "next_link":
            if next_link and next_link not in chain.visited:
                nxt = self._request(next_link, "GET", None, self.parse_list,
                                    {"chain": chain, "base": base, "counter": counter}, 0)
        elif kind in ("page_index", "offset"):
            step = pag.get("step", 1 if kind == "page_index" else pag.get("size"))
            done = total is not None and len(chain.seen) >= total
            if new_links and not done and more:
                nxt = self.list_request(chain, base, counter + step, None)
        if nxt is not None:
            yield nxt

    def new_detail(self, chain: Chain, url, method, body, hint, details) -> None:
        key = f"{url} {body}" if body is not None else url
        if key in chain.seen:
            return
        chain.seen.add(key)
        details.append(
            self._request(url, method, body, self.parse_detail,
                          {"agency": chain.agency, "profile": chain.profile, "hint": hint},
                          priority=1)
        )

    # --- detail pages (src/extract/detail.rs) -----------------------------------------------

    def parse_detail(self, response, agency: str, profile: pf.Profile, hint: dict[str, Any]):
        self.crawler.stats.inc_value("peer/detail_pages")
        if response.status >= 400:
            yield {"t": "service", "agency": agency, "url": response.request.url,
                   "error": f"http_{response.status}"}
            return
        ctype = response.headers.get(b"Content-Type", b"").decode("latin-1").lower()
        is_json = "detail" in profile.raw and "json" in profile.detail and (
            "json" in ctype or ("html" not in ctype and response.text.lstrip()[:1] in ("{", "["))
        )
        if is_json:
            facts = pf.detail_json(profile, response.text)
        else:
            # (Not `a or b`: a parsel Selector's truth value serialises the whole document.)
            sel = response.selector if isinstance(response, TextResponse) else Selector(
                text=response.text
            )
            facts = pf.detail_html(profile, response.text, sel)
        facts["url"] = response.request.url
        if "error" not in facts or facts["error"] in ("no_data",):
            pf.fill(facts, hint)
            if facts.get("code") or facts.get("name") or facts.get("level_label"):
                facts.pop("error", None)
        yield {"t": "service", "agency": agency, **facts}


class TlsSelfTest(scrapy.Spider):
    """One host with a good certificate must answer; one whose certificate the world's CA
    does not vouch for (untrusted issuer, wrong host, expired) must fail the handshake."""

    name = "tls_selftest"

    def __init__(self, good: str, bad: str, **kw: Any):
        super().__init__(**kw)
        self.good, self.bad = good, bad
        self.results: dict[str, str] = {}

    async def start(self):
        for url in (self.good, self.bad):
            yield scrapy.Request(url, callback=self.ok, errback=self.err, dont_filter=True)

    def ok(self, response):
        self.results[response.request.url] = f"HTTP {response.status}"

    def err(self, failure):
        self.results[failure.request.url] = f"failed: {type(failure.value).__name__}"


def tls_hosts(world: Path) -> tuple[str, str]:
    truth = json.loads((world / "ground-truth.json").read_text(encoding="utf-8"))
    port = truth["https_port"]
    good = next(h for h in truth["hosts"] if h["role"] == "portal" and h["cert"] == "good")
    bad = next(h for h in truth["hosts"]
               if h["cert"] in ("cert_untrusted_issuer", "cert_wrong_host", "cert_expired"))
    return f"https://{good['name']}:{port}/", f"https://{bad['name']}:{port}/"


def settings_for(world: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    crawl = tomllib.loads((world / "audit.toml").read_text(encoding="utf-8"))["crawl"]
    for entry in crawl.get("resolve", []):
        host, _port, addr = entry.rsplit(":", 2)
        sandbox_dns.RESOLVE[host] = addr
    # The world's CA is the only trust anchor (ca.pem: root + issuing intermediate).
    os.environ["SSL_CERT_FILE"] = str(world / "ca.pem")
    os.environ.pop("SSL_CERT_DIR", None)
    return {
        "TWISTED_REACTOR": args.reactor,
        "TWISTED_DNS_RESOLVER": "sandbox_dns.SandboxResolver",
        "DOWNLOAD_VERIFY_CERTIFICATES": True,
        "ROBOTSTXT_OBEY": False,
        "DOWNLOAD_DELAY": 0,
        "AUTOTHROTTLE_ENABLED": False,
        "COOKIES_ENABLED": False,
        "HTTPCACHE_ENABLED": False,
        "REFERER_ENABLED": False,
        "METAREFRESH_ENABLED": False,
        "HTTPPROXY_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        "DUPEFILTER_CLASS": "scrapy.dupefilters.BaseDupeFilter",
        "CONCURRENT_REQUESTS": args.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": args.per_host,
        # No item pipelines: an item costs microseconds, while each parallel item slot
        # costs a task or a cooperator iteration per response (Scrapy starts CONCURRENT_ITEMS
        # workers for every callback's output).
        "CONCURRENT_ITEMS": args.concurrent_items,
        "REACTOR_THREADPOOL_MAXSIZE": 4,
        # The same bounds as the world's [crawl]: total timeout, body size, redirects, retries.
        "DOWNLOAD_TIMEOUT": crawl.get("total_timeout_ms", 8000) / 1000,
        "DOWNLOAD_MAXSIZE": crawl.get("max_body_bytes", 2_000_000),
        "DOWNLOAD_WARNSIZE": 0,
        "REDIRECT_MAX_TIMES": crawl.get("max_redirects", 5),
        "RETRY_TIMES": crawl.get("retries", 2),
        "RETRY_HTTP_CODES": [429, 500, 502, 503, 504],
        # Every status reaches the callbacks (a 404 detail is a fact, not a crash).
        "HTTPERROR_ALLOW_ALL": True,
        # Its own user agent, so the sandbox's request log tells the two crawlers apart.
        "USER_AGENT": "dvc-audit-scrapy-peer/1 (+benches/scrapy)",
        "LOG_LEVEL": "INFO",
        "LOGSTATS_INTERVAL": 30.0,
        "FEEDS": {str(out / "items.jsonl"): {"format": "jsonlines", "encoding": "utf8",
                                              "overwrite": True}},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", required=True, help="the sandbox's --out directory")
    ap.add_argument("--profiles", default=str(HERE.parent.parent / "rules" / "portals"))
    ap.add_argument("--out", required=True, help="where items.jsonl and stats.json go")
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--per-host", type=int, default=32)
    ap.add_argument("--concurrent-items", type=int, default=1,
                    help="Scrapy's CONCURRENT_ITEMS (its default is 100)")
    ap.add_argument("--agencies", type=int, default=0, help="only the first N (0: all)")
    ap.add_argument("--reactor", default="twisted.internet.epollreactor.EPollReactor")
    ap.add_argument("--tls-selftest", action="store_true",
                    help="only check that certificates are verified against the world's CA")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    world = Path(args.world).resolve()
    settings = settings_for(world, out, args)
    if args.tls_selftest:
        settings.pop("FEEDS")
        settings["LOG_LEVEL"] = "ERROR"
        settings["RETRY_ENABLED"] = False
        good, bad = tls_hosts(world)
        process = CrawlerProcess(settings)
        crawler = process.create_crawler(TlsSelfTest)
        process.crawl(crawler, good=good, bad=bad)
        process.start()
        r = crawler.spider.results
        print(f"TLS self-test: {good} -> {r.get(good)}; {bad} -> {r.get(bad)}")
        if not (r.get(good, "").startswith("HTTP 200") and r.get(bad, "").startswith("failed")):
            sys.exit("TLS self-test failed: certificates are not verified against ca.pem")
        return
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(PortalSpider)
    process.crawl(crawler, world=str(world), profiles_dir=args.profiles, limit=args.agencies)
    process.start()
    stats = {k: (v.isoformat() if hasattr(v, "isoformat") else v)
             for k, v in crawler.stats.get_stats().items()}
    (out / "stats.json").write_text(json.dumps(stats, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
