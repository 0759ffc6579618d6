"""Compare a crawl's extracted services with the sandbox world's ground truth.

    python check.py --truth WORLD/ground-truth.json --items OUT/items.jsonl --profiles DIR
    python check.py --truth WORLD/ground-truth.json --sqlite RUN/audit.sqlite

The first form reads the Scrapy peer's items (and applies the site-wide signature marking
of src/extract/signals.rs `mark_site_wide` over each agency's list pages and services: a
post-pass, not part of the measured crawl); the second reads the last run of a dvc-audit
history database (`service_facts`). Both are judged the same way, so the two crawls are
shown to do equal work. Prints one summary line and, with --json, writes the figures.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import profiles as pf  # noqa: E402

# Failure names of either crawler -> the ground truth's `expect` reasons.
REASONS = {
    "DownloadTimeoutError": "timeout",
    "TimeoutError": "timeout",
    "DownloadCancelledError": "too_large",
    "IgnoreRequest": "redirect_loop",
}


def reason(err: str) -> str:
    if err.startswith("http_"):
        return "http_status"
    return REASONS.get(err, err)


def peer_services(items_path: Path, profiles_dir: Path, agencies: dict[str, str]):
    profiles = pf.load_profiles(profiles_dir)
    lists: dict[str, list[list[int]]] = defaultdict(list)
    services: dict[str, list[dict]] = defaultdict(list)
    list_pages = 0
    spa_without_api: set[str] = set()
    with items_path.open(encoding="utf-8") as f:
        for line in f:
            it = json.loads(line)
            if it["t"] == "list":
                list_pages += 1
                if it.get("spa_without_api"):
                    spa_without_api.add(it["agency"])
                if "error" not in it:
                    lists[it["agency"]].append(it["signals"])
            else:
                services[it["agency"]].append(it)
    out = []
    for agency, svcs in services.items():
        p = profiles[agencies[agency]]
        common: set[int] = set()
        if lists[agency]:
            common = set(lists[agency][0])
            for page in lists[agency][1:]:
                common &= set(page)
            for s in svcs:
                if "error" not in s:
                    common &= set(s["signals"])
        for s in svcs:
            if "error" in s:
                out.append({"agency": agency, "url": s["url"], "error": reason(s["error"])})
                continue
            sig = pf.summarise(p, s["signals"], common)
            out.append({**s, "signature": sig})
    return out, list_pages, spa_without_api


def audit_services(db: Path):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    (run,) = con.execute("SELECT MAX(run_id) FROM service_facts").fetchone()
    out = []
    for (text,) in con.execute("SELECT facts_json FROM service_facts WHERE run_id = ?", (run,)):
        f = json.loads(text)
        err = (f.get("fetch") or {}).get("error")
        s = {"agency": f["agency_id"], "url": f["url"]}
        if err:
            s["error"] = err["kind"]
        else:
            s.update(code=f["code"], name=f["name"], level=f["level"],
                     level_label=f["level_label"], signature=f["signature"],
                     national_portal_link=f["national_portal_link"])
        out.append(s)
    spa = {a for (a,) in con.execute(
        "SELECT DISTINCT agency_id FROM findings WHERE run_id = ? AND reason = 'spa_without_api'",
        (run,))} if _has_column(con, "findings", "reason") else set()
    return out, None, spa


def _has_column(con, table, col) -> bool:
    return any(r[1] == col for r in con.execute(f"PRAGMA table_info({table})"))


SIG = ("required", "supported", "providers", "site_wide", "site_wide_providers")


def compare(truth: dict, services: list[dict], spa_agencies: set[str]) -> dict:
    by_key = {(t["agency_id"], t["code"]): t for t in truth["services"]}
    fields = Counter()
    diffs: dict[str, list[str]] = defaultdict(list)
    agree_core = agree_all = read = 0
    errors = Counter()
    matched = set()
    for s in services:
        if "error" in s:
            errors[s["error"]] += 1
            continue
        read += 1
        t = by_key.get((s["agency"], s.get("code", "")))
        if t is None:
            fields["unmatched"] += 1
            if len(diffs["unmatched"]) < 3:
                diffs["unmatched"].append(f"{s['agency']} {s.get('code')!r} {s.get('url')}")
            continue
        matched.add((s["agency"], s["code"]))
        bad = []
        if pf.clean(s.get("name", "")) != pf.clean(t["name"]):
            bad.append("name")
        if s.get("level") != t["level"]:
            bad.append("level")
        ts, ss = t["signature"], s["signature"]
        if bool(ss["supported"]) != bool(ts["supported"]):
            bad.append("signature.supported")
        if sorted(ss["providers"]) != sorted(ts["providers"]):
            bad.append("signature.providers")
        core = not bad
        if pf.clean(s.get("level_label", "")) != pf.clean(t["level_label"]):
            bad.append("level_label")
        for k in ("required", "site_wide"):
            if bool(ss[k]) != bool(ts[k]):
                bad.append(f"signature.{k}")
        if sorted(ss["site_wide_providers"]) != sorted(ts["site_wide_providers"]):
            bad.append("signature.site_wide_providers")
        if bool(s.get("national_portal_link")) != bool(t["national_portal_link"]):
            bad.append("national_portal_link")
        for b in bad:
            fields[b] += 1
            if len(diffs[b]) < 3:
                diffs[b].append(f"{s['agency']} {s['code']}: got {s.get(b.split('.')[0])!r}")
        agree_core += core
        agree_all += not bad
    expected = Counter(t["expect"] for t in truth["services"])
    ok_missing = sum(
        1 for t in truth["services"]
        if t["expect"] == "ok" and (t["agency_id"], t["code"]) not in matched
    )
    spa_services = sum(1 for t in truth["services"] if t["agency_id"] in spa_agencies)
    return {
        "truth_services": len(truth["services"]),
        "truth_expect": dict(expected),
        "services_read": read,
        "services_failed": dict(errors),
        "agree_core": agree_core,
        "agree_all": agree_all,
        "truth_ok_not_read": ok_missing,
        "spa_without_api_agencies": len(spa_agencies),
        "spa_without_api_services": spa_services,
        "mismatches": dict(fields),
        "examples": dict(diffs),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--truth", required=True, type=Path)
    ap.add_argument("--items", type=Path)
    ap.add_argument("--sqlite", type=Path)
    ap.add_argument("--profiles", type=Path,
                    default=Path(__file__).resolve().parent.parent.parent / "rules" / "portals")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--label", default="")
    args = ap.parse_args()
    truth = json.loads(args.truth.read_text(encoding="utf-8"))
    agencies = {a["id"]: a["platform"] for a in truth["agencies"]}
    if args.items:
        services, list_pages, spa = peer_services(args.items, args.profiles, agencies)
    elif args.sqlite:
        services, list_pages, spa = audit_services(args.sqlite)
    else:
        ap.error("give --items or --sqlite")
    r = compare(truth, services, spa)
    r["list_pages"] = list_pages
    failed = sum(r["services_failed"].values())
    print(
        f"{args.label}services read {r['services_read']:,} (+{failed} could not assess: "
        f"{', '.join(f'{k} {v}' for k, v in sorted(r['services_failed'].items())) or 'none'}); "
        f"agree with the ground truth on code, name, level, signature support and providers: "
        f"{r['agree_core']:,}; on every fact compared: {r['agree_all']:,}; "
        f"truth 'ok' services not read: {r['truth_ok_not_read']}"
    )
    if r["mismatches"]:
        print(f"{args.label}mismatches by fact: {r['mismatches']} e.g. {r['examples']}")
    if args.json:
        args.json.write_text(json.dumps(r, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
