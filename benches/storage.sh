#!/usr/bin/env bash
# Storage growth of the history database (issue 20), measured with the real binary:
#   run 1 on day 0, run 2 on day 0 again (unchanged world), then one run per drift day
#   1..DAYS at RATE (a share of services change level / VGCA / markup each day, certificates
#   renew or expire: `dvc-audit sandbox serve --drift-day N`).
# Each run gets a freshly started sandbox on the same ports (the drifted state of its day);
# politeness is off as in macro_bench. Prints one line per run: database bytes (after a WAL
# checkpoint), growth over the previous run, wall seconds, peak RSS of `dvc-audit run`, and
# the largest tables (dbstat).
#
#   benches/storage.sh                       # nation world, 3 drift days at 1%, release binary
#   SIZE=demo DAYS=5 BIN=target/debug/dvc-audit benches/storage.sh
#
# Env: BIN (default target/release/dvc-audit), SERVE_BIN (default BIN), SIZE (nation), SEED (1), DAYS (3),
# RATE (0.01), DRIFT_SEED (1), START (1; a later day resumes the series already in OUT),
# OUT (a fresh temporary directory), PORT (18443; PORT+1 is
# plain HTTP), GC_DAYS (unset: no gc; else `storage.keep_runs_days` and `dvc-audit gc` after
# every run, with run start times as they are: only useful for long simulations),
# KEEP_REPORTS (1: keep every run's report directory; default: only the newest).
set -euo pipefail

BIN=${BIN:-target/release/dvc-audit}
SIZE=${SIZE:-nation}
SEED=${SEED:-1}
DAYS=${DAYS:-3}
RATE=${RATE:-0.01}
DRIFT_SEED=${DRIFT_SEED:-1}
PORT=${PORT:-18443}
OUT=${OUT:-$(mktemp -d /tmp/dvc-storage.XXXXXX)}
BIN=$(realpath "$BIN")
# The sandbox (needs `--drift-day`): by default the same binary; set SERVE_BIN to measure an
# older `dvc-audit run` (BIN) against today's sandbox.
SERVE_BIN=$(realpath "${SERVE_BIN:-$BIN}")
mkdir -p "$OUT"
DB="$OUT/audit.sqlite"
echo "# $BIN, $SIZE world (seed $SEED), drift rate $RATE (seed $DRIFT_SEED), out $OUT"

server_pid=""
stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
trap stop_server EXIT

serve_day() { # $1 = drift day
    local world="$OUT/world"
    rm -rf "$world"
    "$SERVE_BIN" sandbox serve --size "$SIZE" --seed "$SEED" --https-port "$PORT" \
        --http-port $((PORT + 1)) --out "$world" --drift-day "$1" --drift-rate "$RATE" \
        --drift-seed "$DRIFT_SEED" >"$OUT/serve-$1.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 1500); do
        if grep -q "Ctrl-C to stop" "$OUT/serve-$1.log" 2>/dev/null; then
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

bench_config() { # the sandbox's config, politeness off, outputs under $OUT
    python3 - "$OUT/world/audit.toml" "$OUT" <<'PY'
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

db_bytes() {
    sqlite3 "$DB" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
    stat -c %s "$DB"
}

prev=0
last_stats=("" "")
run_day() { # $1 = label, $2 = drift day
    serve_day "$2"
    bench_config
    local cfg="$OUT/world/audit-bench.toml" start end bytes
    start=$(date +%s.%N)
    /usr/bin/time -f "%M" -o "$OUT/rss" "$BIN" run --no-mail -q -c "$cfg" >"$OUT/run-$1.log" 2>&1 || {
        local rc=$?
        # 1/2: findings at or above fail_on; anything else is a failure of the run.
        if [ "$rc" -gt 2 ]; then cat "$OUT/run-$1.log" >&2; exit "$rc"; fi
    }
    end=$(date +%s.%N)
    if [ -n "${GC_DAYS:-}" ]; then
        sed -i "s/^\[storage\]$/[storage]\nkeep_runs_days = $GC_DAYS/" "$cfg"
        "$BIN" gc -q -c "$cfg" >/dev/null
    fi
    stop_server
    bytes=$(db_bytes)
    # Pages per table after this run, for the growth of the last run by table (at the end).
    sqlite3 "$DB" "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name;" >"$OUT/dbstat-$1.txt" 2>/dev/null || true
    last_stats=("${last_stats[@]:1}" "$OUT/dbstat-$1.txt")
    # The run's reports (regenerable with `dvc-audit report --run N`): their size is printed,
    # and unless KEEP_REPORTS=1 only the newest run's are kept, so a long series does not
    # fill the disk (a national run writes ~0.6 GB of reports).
    local reports=0 newest
    newest=$(for d in "$OUT"/reports/run-*; do [ -d "$d" ] && echo "${d##*/run-} $d"; done \
        | sort -n | tail -1 | cut -d' ' -f2-)
    if [ -n "$newest" ]; then reports=$(du -sb "$newest" | cut -f1); fi
    if [ "${KEEP_REPORTS:-0}" != 1 ] && [ -n "$newest" ]; then
        for old in "$OUT"/reports/run-*; do
            if [ "$old" != "$newest" ]; then rm -rf "$old"; fi
        done
    fi
    printf '%-10s day %-4s db %12s B  +%11s B  wall %6.1f s  peak RSS %6s MiB  reports %6s MB\n' \
        "$1" "$2" "$bytes" $((bytes - prev)) "$(echo "$end - $start" | bc)" \
        $(( $(tail -1 "$OUT/rss") / 1024 )) $((reports / 1000000))
    prev=$bytes
}

if [ "${START:-1}" -le 1 ]; then
    run_day first 0
    run_day unchanged 0
else
    # Resume a series in $OUT at drift day $START (the database holds the days before).
    prev=$(db_bytes)
fi
for d in $(seq "${START:-1}" "$DAYS"); do
    run_day "drift-$d" "$d"
done
echo "# largest tables and indexes after the last run (dbstat):"
sqlite3 "$DB" "SELECT printf('%-28s %12d', name, SUM(pgsize)) FROM dbstat GROUP BY name ORDER BY SUM(pgsize) DESC LIMIT 12;" 2>/dev/null || true
if [ -s "${last_stats[0]}" ] && [ -s "${last_stats[1]}" ]; then
    echo "# what the last run added, by table and index (bytes of pages, dbstat; > 16 KB):"
    python3 - "${last_stats[0]}" "${last_stats[1]}" <<'PY'
import sys
def load(p):
    out = {}
    for line in open(p, encoding="utf-8"):
        name, _, size = line.strip().rpartition("|")
        if name:
            out[name] = int(size or 0)
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
rows = sorted(((b.get(k, 0) - a.get(k, 0), k) for k in set(a) | set(b)), reverse=True)
for d, k in rows:
    if abs(d) > 16384:
        print(f"{k:<36} {d:+12d}")
PY
fi
"$BIN" history verify -c "$OUT/world/audit-bench.toml" | tail -1
