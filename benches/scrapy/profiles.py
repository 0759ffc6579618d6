"""dvc-audit's extraction profiles (rules/portals/*.toml) read in Python, for the Scrapy peer.

The same TOML files drive both crawlers: listing start URLs, pagination, CSS selectors and
JSON pointers, label synonyms, level patterns and signature signals. This module mirrors
the Rust reading (src/profile, src/extract) closely enough that both crawls fetch the same
pages and extract the same facts; it is a benchmark peer, not a second implementation to
maintain (no validation, no diagnostics, no evidence excerpts).
"""

from __future__ import annotations

import json
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from parsel import Selector

FIELDS = ("code", "name", "level", "dossier", "requirements")

# Bounds, as src/extract/mod.rs `limits`.
MAX_LINKS_PER_PAGE = 2000
MAX_CONTAINERS = 1000
MAX_NAME_CHARS = 1000
MAX_CODE_CHARS = 64
MAX_SECTION_CHARS = 50000
MAX_SIBLINGS = 64


def max_chars(f: str) -> int:
    if f == "code":
        return MAX_CODE_CHARS * 4
    if f in ("name", "level"):
        return MAX_NAME_CHARS
    return MAX_SECTION_CHARS


# --- text (src/profile/text.rs) -------------------------------------------------------------

_WS = re.compile(r"\s+")


def clean(text: str) -> str:
    """NFC, whitespace runs collapsed, trimmed."""
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return _WS.sub(" ", text).strip()


def strip_diacritics(text: str) -> str:
    out = [c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c)]
    return "".join(out).replace("đ", "d").replace("Đ", "D")


_NON_ALNUM = re.compile(r"[\W_]+")


def fold(text: str) -> str:
    return _NON_ALNUM.sub(" ", strip_diacritics(text).lower()).strip()


# --- text of an element (src/extract/html.rs) ----------------------------------------------

SKIP = {"script", "style", "noscript", "template", "head"}
BLOCK = {
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "footer",
    "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol", "p", "section", "table",
    "ul", "tr", "td", "th", "tbody", "thead", "option",
}


def _walk(el: Any, out: list[str], depth: int) -> None:
    if depth > 256:
        return
    if el.text:
        out.append(el.text)
    for child in el:
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag and tag not in SKIP:
            block = tag in BLOCK
            if block:
                out.append(" ")
            _walk(child, out, depth + 1)
            if block:
                out.append(" ")
        if child.tail:
            out.append(child.tail)


def element_text(sel: Any, limit: int) -> str:
    """Visible text of a parsel Selector or an lxml element."""
    out: list[str] = []
    _walk(getattr(sel, "root", sel), out, 0)
    text = clean("".join(out))
    return text[:limit]


# --- templates (src/profile/template.rs) ----------------------------------------------------

_TPL = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


def scalar_text(v: Any) -> str | None:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return str(v)
    return None


def pointer(doc: Any, ptr: str) -> Any:
    """RFC 6901 JSON pointer; None when absent."""
    if ptr == "":
        return doc
    cur = doc
    for part in ptr.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(cur, dict):
            if part not in cur:
                return None
            cur = cur[part]
        elif isinstance(cur, list):
            if not part.isdigit() or int(part) >= len(cur):
                return None
            cur = cur[int(part)]
        else:
            return None
    return cur


def render(tpl: str, vars_: dict[str, str], item: Any = None, escape: str = "url") -> str:
    def sub(m: re.Match[str]) -> str:
        whole = m.group(0)
        if whole == "{{":
            return "{"
        if whole == "}}":
            return "}"
        name = m.group(1)
        if name.startswith("/"):
            v = scalar_text(pointer(item, name)) if item is not None else None
            if v is None:
                raise KeyError(name)
            return quote(v, safe="") if escape == "url" else json.dumps(v)[1:-1]
        v = vars_.get(name)
        if v is None:
            raise KeyError(name)
        return json.dumps(v)[1:-1] if escape == "json" else v

    return _TPL.sub(sub, tpl)


def set_param(url: str, name: str, value: str) -> str:
    """Replace (or add, last) query parameter `name`, as src/extract/request.rs does."""
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    kept.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(kept)))


# --- levels (src/profile/level.rs) ----------------------------------------------------------


@dataclass
class LevelMap:
    rules: list[tuple[str, Any, str]] = field(default_factory=list)

    @classmethod
    def load(cls, entries: list[dict[str, Any]]) -> LevelMap:
        rules = []
        for e in entries:
            if "contains" in e:
                rules.append(("contains", fold(e["contains"]), e["level"]))
            else:
                rules.append(("regex", re.compile(strip_diacritics(e["regex"]), re.I), e["level"]))
        return cls(rules)

    def map(self, label: str) -> tuple[str, str]:
        label = clean(label)
        if not label:
            return "unknown", label
        folded = fold(label)
        for kind, pat, level in self.rules:
            if (kind == "contains" and pat in folded) or (kind == "regex" and pat.search(folded)):
                return level, label
        return "unknown", label


# --- signals (src/extract/signals.rs) -------------------------------------------------------


@dataclass
class Signal:
    index: int
    kind: str
    effect: str
    provider: str
    regex: re.Pattern[str] | None
    selector: str | None
    pointer: str | None


def detect_html(signals: list[Signal], sel: Selector, body: str, sections: list[str]) -> list[int]:
    hits = []
    for s in signals:
        hit = False
        if s.kind == "script_src":
            css = s.selector or "script[src]"
            hit = any(s.regex.search(src) for src in sel.css(css).xpath("@src").getall())
        elif s.kind == "js_literal":
            hit = s.regex.search(body) is not None
        elif s.kind == "control":
            for el in sel.css(s.selector)[:MAX_CONTAINERS]:
                text = element_text(el, 500) or (el.attrib.get("value") or "")
                if s.regex is None or s.regex.search(text):
                    hit = True
                    break
        elif s.kind == "requirement_text":
            hit = any(s.regex.search(t) for t in sections)
        if hit:
            hits.append(s.index)
    return hits


def _json_field(s: Signal, doc: Any) -> bool:
    v = pointer(doc, s.pointer)

    def ok(text: str) -> bool:
        return bool(s.regex.search(clean(text))) if s.regex else bool(text.strip())

    if v is True:
        return True
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v != 0
    if isinstance(v, str):
        return ok(v)
    if isinstance(v, list):
        return any(isinstance(x, str) and ok(x) for x in v) or (s.regex is None and bool(v))
    return False


def detect_json(signals: list[Signal], doc: Any, body: str, sections: list[str]) -> list[int]:
    hits = []
    for s in signals:
        if s.kind == "json_field":
            hit = _json_field(s, doc)
        elif s.kind == "js_literal":
            hit = s.regex.search(body) is not None
        elif s.kind == "requirement_text":
            hit = any(s.regex.search(t) for t in sections)
        else:
            hit = False
        if hit:
            hits.append(s.index)
    return hits


# --- a profile ------------------------------------------------------------------------------


def _rust_regex(text: str) -> re.Pattern[str]:
    # The profiles' patterns use the common subset of Rust's and Python's syntax.
    return re.compile(text)


def _signal_regex(kind: str, text: str) -> re.Pattern[str]:
    """As src/profile/validate: raw-page patterns (script sources, JS literals) as written;
    patterns over page text (controls, requirement text, JSON fields) NFC and
    case-insensitive."""
    if kind in ("script_src", "js_literal"):
        return _rust_regex(text)
    return re.compile(unicodedata.normalize("NFC", text), re.I)


@dataclass
class Profile:
    id: str
    raw: dict[str, Any]
    levels: LevelMap
    signals: list[Signal]
    code_pattern: re.Pattern[str] | None

    @classmethod
    def load(cls, path: Path) -> Profile:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        signals = []
        for i, s in enumerate(raw.get("signal", [])):
            signals.append(
                Signal(
                    index=i,
                    kind=s["kind"],
                    effect=s.get("effect", "supports"),
                    provider=s.get("provider", ""),
                    regex=_signal_regex(s["kind"], s["regex"]) if "regex" in s else None,
                    selector=s.get("selector"),
                    pointer=s.get("pointer"),
                )
            )
        cp = raw.get("detail", {}).get("code_pattern")
        # Labels are compared folded.
        labels = raw.get("detail", {}).get("labels", {})
        raw.setdefault("detail", {})["_folded_labels"] = {
            f: {fold(x) for x in labels.get(f, [])} for f in FIELDS
        }
        return cls(
            id=raw["id"],
            raw=raw,
            levels=LevelMap.load(raw.get("level", [])),
            signals=signals,
            code_pattern=_rust_regex(cp) if cp else None,
        )

    @property
    def listing(self) -> dict[str, Any]:
        return self.raw["listing"]

    @property
    def pagination(self) -> dict[str, Any]:
        return self.listing.get("pagination", {"kind": "none"})

    @property
    def detail(self) -> dict[str, Any]:
        return self.raw.get("detail", {})

    @property
    def shell(self) -> str | None:
        return self.raw.get("shell", {}).get("marker")

    def has_api(self) -> bool:
        return "json" in self.listing

    def national_link(self) -> tuple[str, str] | None:
        nl = self.raw.get("national_link")
        if not nl:
            return None
        if "selector" in nl:
            return ("css", nl["selector"])
        return ("pointer", nl["pointer"])

    def pick_code(self, text: str) -> str:
        if self.code_pattern is not None:
            m = self.code_pattern.search(text)
            if m:
                return m.group(1) if m.re.groups >= 1 and m.group(1) else m.group(0)
        return text[:MAX_CODE_CHARS]


def load_profiles(directory: Path) -> dict[str, Profile]:
    out = {}
    for p in sorted(directory.glob("*.toml")):
        prof = Profile.load(p)
        out[prof.id] = prof
    return out


# --- detail pages (src/extract/detail.rs) ---------------------------------------------------


def _label_value_pairs(sel: Selector, lv: dict[str, Any], wanted) -> list[tuple[str, str]]:
    """(label, value) pairs of the page, by the profile's `pairs` mode."""
    out = []
    mode = lv.get("pairs", "nested")
    label_css, value_css = lv["label"], lv.get("value")
    for c in sel.css(lv["container"])[:MAX_CONTAINERS]:
        if mode == "nested":
            label_el = c.css(label_css)[:1]
            if not label_el or value_css is None:
                continue
            label = element_text(label_el[0], 300)
            if not wanted(label):
                continue
            value_el = c.css(value_css)[:1]
            if not value_el:
                continue
            out.append((label, element_text(value_el[0], MAX_SECTION_CHARS)))
            continue
        # lxml keeps one proxy per node while it is referenced: these sets hold them.
        labels = c.css(label_css)
        label_els = {e.root for e in labels}
        value_els = {e.root for e in c.css(value_css)} if value_css else set()
        for label_el in labels[:MAX_CONTAINERS]:
            label = element_text(label_el, 300)
            if not wanted(label):
                continue
            parts = []
            n = 0
            for sib in label_el.root.itersiblings():
                if not isinstance(sib.tag, str):
                    continue
                n += 1
                if n > MAX_SIBLINGS or sib in label_els:
                    break
                if sib in value_els:
                    parts.append(element_text(sib, MAX_SECTION_CHARS))
                    if mode == "row":
                        break
            if parts:
                out.append((label, clean(" ".join(parts))))
            if len(out) >= MAX_CONTAINERS:
                return out
    return out


def detail_html(p: Profile, body: str, sel: Selector) -> dict[str, Any]:
    """Facts of an HTML detail page: fields, signal indexes, national link, shell."""
    found: dict[str, str] = {}
    d = p.detail
    for f, css in d.get("direct", {}).items():
        el = sel.css(css)[:1]
        if el:
            text = element_text(el[0], max_chars(f))
            if text:
                found[f] = text
    lv = d.get("label_value")
    if lv:
        folded = d["_folded_labels"]

        def field_of(label: str) -> str | None:
            fl = fold(label)
            for f in FIELDS:
                if fl in folded[f]:
                    return f
            return None

        for label, value in _label_value_pairs(sel, lv, lambda lab: field_of(lab) is not None):
            f = field_of(label)
            if f is not None and f not in found:
                found[f] = value[: max_chars(f)]
    sections = [found[f] for f in ("dossier", "requirements") if f in found]
    signals = detect_html(p.signals, sel, body, sections)
    national = False
    nl = p.national_link()
    if nl and nl[0] == "css":
        national = bool(sel.css(nl[1])[:1])
    shell = bool(p.shell and sel.css(p.shell)[:1])
    return facts_from(p, found, signals, national, shell)


def detail_json(p: Profile, body: str) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except ValueError as e:
        return {"error": "decode", "message": str(e)}
    found: dict[str, str] = {}
    for f, ptr in p.detail.get("json", {}).items():
        v = scalar_text(pointer(doc, ptr))
        if v is None:
            continue
        v = clean(v)[: max_chars(f)]
        if v:
            found[f] = v
    sections = [found[f] for f in ("dossier", "requirements") if f in found]
    signals = detect_json(p.signals, doc, body, sections)
    national = False
    nl = p.national_link()
    if nl and nl[0] == "pointer":
        v = pointer(doc, nl[1])
        national = v is True or (isinstance(v, str) and v != "")
    return facts_from(p, found, signals, national, False)


def facts_from(p: Profile, found, signals, national, shell) -> dict[str, Any]:
    out: dict[str, Any] = {"code": "", "name": "", "level": "unknown", "level_label": ""}
    if "code" in found:
        out["code"] = p.pick_code(found["code"])
    if "name" in found:
        out["name"] = found["name"]
    if "level" in found:
        out["level"], out["level_label"] = p.levels.map(found["level"])
    out["signals"] = signals
    out["national_portal_link"] = national
    if not (out["code"] or out["name"] or out["level_label"]):
        if shell and not p.has_api():
            out["error"] = "spa_without_api"
        else:
            out["error"] = "no_data"
    return out


def item_facts(p: Profile, item: Any, only: bool) -> dict[str, Any]:
    """A JSON list item's facts (src/extract/item.rs `read_json_item`)."""
    found: dict[str, str] = {}
    for f, ptr in (p.listing["json"].get("item_facts") or {}).items():
        v = scalar_text(pointer(item, ptr))
        if v is None:
            continue
        v = clean(v)[: max_chars(f)]
        if v:
            found[f] = v
    out: dict[str, Any] = {"only": only}
    sections = []
    for f, v in found.items():
        if f == "code":
            out["code"] = p.pick_code(v)
        elif f == "name":
            out["name"] = v
        elif f == "level":
            out["level"], out["level_label"] = p.levels.map(v)
        else:
            sections.append(v)
    # Item signals are `list:` evidence, never site-wide: kept apart by a negative index.
    text = json.dumps(item, ensure_ascii=False, separators=(",", ":"))
    out["signals"] = [-1 - i for i in detect_json(p.signals, item, text, sections)]
    nl = p.national_link()
    if nl and nl[0] == "pointer":
        v = pointer(item, nl[1])
        out["national_portal_link"] = v is True or (isinstance(v, str) and v != "")
    return out


def fill(facts: dict[str, Any], hint: dict[str, Any]) -> None:
    """What the detail page lacks, from the list (src/extract/detail.rs `ServiceHint::fill`)."""
    item = hint.get("item")
    if item:
        if not facts.get("code") and item.get("code"):
            facts["code"] = item["code"]
        if not facts.get("name") and item.get("name"):
            facts["name"] = item["name"]
        if not facts.get("level_label") and item.get("level_label"):
            facts["level"], facts["level_label"] = item["level"], item["level_label"]
        if not facts.get("national_portal_link") and item.get("national_portal_link"):
            facts["national_portal_link"] = True
        for s in item.get("signals", []):
            if s not in facts.setdefault("signals", []):
                facts["signals"].append(s)
    if hint.get("page_url"):
        facts["url"] = hint["page_url"]
    if not facts.get("code") and hint.get("code"):
        facts["code"] = hint["code"]
    if not facts.get("name") and hint.get("name"):
        facts["name"] = hint["name"]


def summarise(p: Profile, signals: list[int], site_wide: set[int]) -> dict[str, Any]:
    """Signature facts from the signals seen on a service's page(s)."""
    sig = {"required": False, "supported": False, "providers": set(), "site_wide": False,
           "site_wide_providers": set()}
    for i in signals:
        s = p.signals[i if i >= 0 else -1 - i]
        if i >= 0 and i in site_wide:
            sig["site_wide"] = True
            if s.provider:
                sig["site_wide_providers"].add(s.provider)
            continue
        if s.effect == "requires":
            sig["required"] = True
        else:
            sig["supported"] = True
        if s.provider:
            sig["providers"].add(s.provider)
    sig["providers"] = sorted(sig["providers"])
    sig["site_wide_providers"] = sorted(sig["site_wide_providers"])
    return sig
