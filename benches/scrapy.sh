#!/usr/bin/env bash
# The Scrapy peer (issue #20): the same crawl by a well-tuned Scrapy spider and by
# `dvc-audit run`, on the same sandbox world, each pinned to CPU 0 while the sandbox runs
# pinned to CPU 1. Measures user+system CPU seconds, wall time and peak RSS of each
# (/usr/bin/time), counts the requests the sandbox served and checks both crawls' extracted
# services against the world's ground truth, then prints one table.
#
#   benches/scrapy.sh                                   # nation world, release binary
#   SIZE=demo BIN=target/debug/dvc-audit benches/scrapy.sh
#
# Env: BIN (default target/release/dvc-audit), SIZE (nation), SEED (1), PORT (18543; PORT+1
# is plain HTTP), VENV (target/scrapy-venv: created and filled from
# benches/scrapy/requirements.txt), OUT (a fresh temporary directory), LOCK (/work/bench.lock
# when /work exists, else a file in the temporary directory: held for the whole measurement
# so benchmarks on one machine do not overlap). Needs python3 (with venv), taskset, flock,
# /usr/bin/time. Not part of CI: nothing in .ci/run or `cargo test` calls it.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=$(realpath "${BIN:-target/release/dvc-audit}")
SIZE=${SIZE:-nation}
SEED=${SEED:-1}
PORT=${PORT:-18543}
VENV=${VENV:-target/scrapy-venv}
OUT=${OUT:-$(mktemp -d /tmp/dvc-scrapy.XXXXXX)}
if [ -z "${LOCK:-}" ]; then
    if [ -d /work ]; then LOCK=/work/bench.lock; else LOCK=${TMPDIR:-/tmp}/dvc-audit-bench.lock; fi
fi
mkdir -p "$OUT"

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --disable-pip-version-check -r benches/scrapy/requirements.txt
PY="$VENV/bin/python"
echo "# $BIN, $SIZE world (seed $SEED), out $OUT"
echo "# $("$PY" -c 'import platform, scrapy, twisted, parsel, lxml.etree as e; print(f"Python {platform.python_version()}, Scrapy {scrapy.__version__}, Twisted {twisted.__version__}, parsel {parsel.__version__}, lxml {e.__version__}")')"

server_pid=""
stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
trap stop_server EXIT

serve() { # $1 = label: a fresh sandbox (so both crawls meet the same first-request plants)
    local world="$OUT/world-$1"
    rm -rf "$world"
    taskset -c 1 "$BIN" sandbox serve --size "$SIZE" --seed "$SEED" --https-port "$PORT" \
        --http-port $((PORT + 1)) --out "$world" >"$OUT/serve-$1.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 3000); do
        if grep -q "Ctrl-C to stop" "$OUT/serve-$1.log" 2>/dev/null && [ -s "$world/ground-truth.json" ]; then
            return 0
        fi
        if ! kill -0 "$server_pid" 2>/dev/null; then
            cat "$OUT/serve-$1.log" >&2
            return 1
        fi
        sleep 0.2
    done
    echo "the sandbox did not come up" >&2
    return 1
}

served() { # requests the sandbox has logged so far
    wc -l <"$1/requests.jsonl" 2>/dev/null || echo 0
}

bench_config() { # $1 = world dir: its config, politeness off as benches/storage.sh, outputs under it
    python3 - "$1/audit.toml" "$1" <<'PY'
import re, sys
src, out = sys.argv[1], sys.argv[2]
text = open(src, encoding="utf-8").read()
def setkey(text, key, value):
    text, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text, count=1)
    if n == 0:
        text = text.replace("[crawl]\n", f"[crawl]\n{key} = {value}\n", 1)
    return text
for k, v in [("per_host_rate", "0.0"), ("respect_robots", "false"),
             ("concurrency", "256"), ("per_host_concurrency", "32")]:
    text = setkey(text, k, v)
text = re.sub(r'(?m)^sqlite = .*$', f'sqlite = "{out}/audit.sqlite"', text, count=1)
text = re.sub(r'(?m)^dir = "reports"$', f'dir = "{out}/reports"', text, count=1)
open(src.replace("audit.toml", "audit-bench.toml"), "w", encoding="utf-8").write(text)
PY
}

exec 9>"$LOCK"
if ! flock -n 9; then
    echo "# waiting for $LOCK (another benchmark is running)"
    flock 9
fi
echo "# holding $LOCK; load before: $(cut -d' ' -f1-3 /proc/loadavg)"

# 1. The Scrapy spider.
serve scrapy
W="$OUT/world-scrapy"
"$PY" benches/scrapy/crawl.py --world "$W" --out "$OUT/scrapy" --tls-selftest
sleep 1
before=$(served "$W")
taskset -c 0 /usr/bin/time -f "%U %S %e %M" -o "$OUT/time-scrapy" \
    "$PY" benches/scrapy/crawl.py --world "$W" --out "$OUT/scrapy" >"$OUT/scrapy.log" 2>&1 || {
    tail -30 "$OUT/scrapy.log" >&2
    exit 1
}
sleep 1
echo "$before $(served "$W")" >"$OUT/requests-scrapy"
stop_server
"$PY" benches/scrapy/check.py --truth "$W/ground-truth.json" --items "$OUT/scrapy/items.jsonl" \
    --json "$OUT/check-scrapy.json" --label "scrapy:    "

# 2. dvc-audit run (crawl, TLS probe, rules, SQLite history, reports), politeness off.
serve dvc-audit
W="$OUT/world-dvc-audit"
bench_config "$W"
before=$(served "$W")
rc=0
taskset -c 0 /usr/bin/time -f "%U %S %e %M" -o "$OUT/time-dvc-audit" \
    "$BIN" run --no-mail -q -c "$W/audit-bench.toml" >"$OUT/dvc-audit.log" 2>&1 || rc=$?
# 1/2: findings at or above fail_on; anything else is a failure of the run.
if [ "$rc" -gt 2 ]; then tail -30 "$OUT/dvc-audit.log" >&2; exit "$rc"; fi
sleep 1
echo "$before $(served "$W")" >"$OUT/requests-dvc-audit"
stop_server
"$PY" benches/scrapy/check.py --truth "$W/ground-truth.json" --sqlite "$W/audit.sqlite" \
    --json "$OUT/check-dvc-audit.json" --label "dvc-audit: "
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
flock -u 9

"$PY" - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
rows = {}
split = {}
for name in ("scrapy", "dvc-audit"):
    user, sys_, wall, rss = (out / f"time-{name}").read_text().split()[-4:]
    chk = json.loads((out / f"check-{name}.json").read_text())
    first, last = map(int, (out / f"requests-{name}").read_text().split())
    # Requests to `/` (the probe's HTTPS check, a spa-noapi listing) and over plain HTTP
    # (the probe's redirect check), told apart from the rest in the sandbox's log.
    home = plain = 0
    with open(out / f"world-{name}" / "requests.jsonl", encoding="utf-8") as f:
        for n, line in enumerate(f):
            if first <= n < last:
                r = json.loads(line)
                plain += r["scheme"] == "http"
                home += r["scheme"] == "https" and r["path"] == "/"
    split[name] = (home, plain)
    rows[name] = {
        "requests": last - first,
        "read": chk["services_read"], "failed": sum(chk["services_failed"].values()),
        "agree": chk["agree_all"], "cpu": float(user) + float(sys_),
        "user": float(user), "sys": float(sys_), "wall": float(wall), "rss": int(rss) / 1024,
    }
base = rows["dvc-audit"]
print()
print("| crawler | requests served | services read (+ could not assess) | agree with truth | "
      "CPU-s (user + sys) | CPU-ms / request | wall | peak RSS | CPU ÷ dvc-audit |")
print("|---|---|---|---|---|---|---|---|---|")
for name, r in rows.items():
    print(f"| {name} | {r['requests']:,} | {r['read']:,} (+{r['failed']}) | {r['agree']:,} | "
          f"{r['cpu']:.1f} ({r['user']:.1f} + {r['sys']:.1f}) | "
          f"{1000 * r['cpu'] / max(r['requests'], 1):.3f} | {r['wall']:.1f} s | "
          f"{r['rss']:.0f} MiB | {r['cpu'] / base['cpu']:.1f}× |")
for name, (home, plain) in split.items():
    print(f"{name}: of its requests, {home:,} HTTPS to `/` and {plain:,} plain HTTP")
stats = json.loads((out / "scrapy" / "stats.json").read_text())
print(f"\nscrapy: {stats.get('peer/list_pages', 0):,} list pages, "
      f"{stats.get('peer/detail_pages', 0):,} detail pages, "
      f"{stats.get('peer/list_items', 0):,} list-only items, "
      f"{stats.get('downloader/request_count', 0):,} requests sent "
      f"({stats.get('retry/count', 0)} retries)")
PY
