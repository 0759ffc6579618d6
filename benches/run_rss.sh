#!/usr/bin/env bash
# Peak RSS of one real `dvc-audit run` (first run, empty database) over a sandbox world, with
# the resident set polled every 100 ms and every stage event of the run's log on the same clock,
# so what holds memory can be placed in a stage (issue 20). Politeness off, as in macro_bench.
#
#   flock /work/bench.lock benches/run_rss.sh                   # nation world, release binary
#   SIZE=demo BIN=target/debug/dvc-audit benches/run_rss.sh
#   PIN=1 ...        # server on CPU 1, the run on CPU 0 (as macro_bench pins)
#   RUNS=2 ...       # also an unchanged re-run on the same database
#   JEMALLOC=dirty_decay_ms:0,muzzy_decay_ms:0   # _RJEM_MALLOC_CONF of the run (allocator retention)
#
# Env: BIN (target/release/dvc-audit), SIZE (nation), SEED (1), PORT (18643), OUT (temp dir),
# IN_FLIGHT (unset: the config's crawl.agencies_in_flight), EXTRA (more `key = value` lines
# for [crawl], `;`-separated, e.g. 'http_version = "http1"').
set -euo pipefail
BIN=$(realpath "${BIN:-target/release/dvc-audit}")
SIZE=${SIZE:-nation}
SEED=${SEED:-1}
PORT=${PORT:-18643}
RUNS=${RUNS:-1}
OUT=${OUT:-$(mktemp -d /tmp/dvc-rss.XXXXXX)}
mkdir -p "$OUT"
server_pid=""
stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
trap stop_server EXIT
# `exec`: a backgrounded function is a subshell; its $! must be the process itself.
on_cpu() { if [ "${PIN:-0}" = 1 ]; then exec taskset -c "$1" "${@:2}"; else exec "${@:2}"; fi; }

rm -rf "$OUT/world"
( on_cpu 1 "$BIN" sandbox serve --size "$SIZE" --seed "$SEED" --https-port "$PORT" \
    --http-port $((PORT + 1)) --out "$OUT/world" ) >"$OUT/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 1500); do
    grep -q "Ctrl-C to stop" "$OUT/serve.log" 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$OUT/serve.log" >&2; exit 1; }
    sleep 0.2
done

python3 - "$OUT/world/audit.toml" "$OUT" "${IN_FLIGHT:-}" "${EXTRA:-}" <<'PY'
import re, sys
src, out, in_flight, extra = sys.argv[1:5]
text = open(src, encoding="utf-8").read()
def setkey(text, key, value):
    text, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text, count=1)
    if n == 0:
        text = text.replace("[crawl]\n", f"[crawl]\n{key} = {value}\n", 1)
    return text
kv = [("per_host_rate", "0.0"), ("respect_robots", "false"),
      ("concurrency", "256"), ("per_host_concurrency", "32")]
if in_flight:
    kv.append(("agencies_in_flight", in_flight))
for line in filter(None, extra.split(";")):
    k, v = line.split("=", 1)
    kv.append((k.strip(), v.strip()))
for k, v in kv:
    text = setkey(text, k, v)
text = re.sub(r'(?m)^sqlite = .*$', f'sqlite = "{out}/audit.sqlite"', text, count=1)
text = re.sub(r'(?m)^dir = "reports"$', f'dir = "{out}/reports"', text, count=1)
open(src.replace("audit.toml", "audit-bench.toml"), "w", encoding="utf-8").write(text)
PY
CFG="$OUT/world/audit-bench.toml"
echo "# $BIN, $SIZE world (seed $SEED), out $OUT, pinned=${PIN:-0}, load: $(cut -d' ' -f1-3 /proc/loadavg)"

for run in $(seq 1 "$RUNS"); do
    log="$OUT/run-$run.log"
    samples="$OUT/rss-$run.tsv"
    t0=$(date +%s.%N)
    ( [ -n "${JEMALLOC:-}" ] && export _RJEM_MALLOC_CONF="$JEMALLOC"
      on_cpu 0 "$BIN" run --no-mail --log-format json -c "$CFG" ) >"$log" 2>&1 &
    pid=$!
    : >"$samples"
    while kill -0 "$pid" 2>/dev/null; do
        if s=$(grep -E '^(VmRSS|VmHWM)' /proc/$pid/status 2>/dev/null); then
            read -r rss hwm < <(echo "$s" | awk '/VmRSS/{r=$2} /VmHWM/{h=$2} END{print r, h}')
            ticks=$(awk '{print $14+$15}' /proc/$pid/stat 2>/dev/null || echo 0)
            printf '%.1f\t%d\t%d\t%d\n' "$(echo "$(date +%s.%N) - $t0" | bc)" "$rss" "$hwm" "$ticks" >>"$samples"
        fi
        sleep 0.1
    done
    wait "$pid" || true
    t1=$(date +%s.%N)
    peak=$(sort -t$'\t' -k3 -n "$samples" | tail -1 | cut -f3)
    cpu=$(tail -1 "$samples" | cut -f4)
    printf 'run %s: wall %.1f s, CPU %.1f s, peak RSS (VmHWM) %d MiB\n' "$run" "$(echo "$t1 - $t0" | bc)" \
        "$(echo "$cpu / 100" | bc -l)" $((peak / 1024))
    # Stage events on the same clock: the RSS when each was logged.
    python3 - "$log" "$samples" "$t0" <<'PY'
import json, sys, datetime
log, samples, t0 = sys.argv[1], sys.argv[2], float(sys.argv[3])
rows = [tuple(float(x) for x in l.split("\t")) for l in open(samples) if l.strip()]
def at(t):
    best = None
    for r in rows:
        if r[0] <= t: best = r
    return best or (rows[0] if rows else (0, 0, 0, 0))
for line in open(log, encoding="utf-8"):
    try: e = json.loads(line)
    except Exception: continue
    msg = e.get("fields", {}).get("message") or e.get("message") or e.get("event")
    ts = e.get("timestamp") or e.get("time")
    if not ts or msg in (None, "crawl progress"): continue
    if "progress" in str(msg) or str(msg).startswith("listing ended"): continue
    t = datetime.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() - t0
    r = at(t)
    print(f"  {t:7.1f} s  RSS {r[1]/1024:6.0f} MiB  HWM {r[2]/1024:6.0f} MiB  {msg}")
# peak moments
if rows:
    peak = max(rows, key=lambda r: r[1])
    print(f"  max VmRSS {peak[1]/1024:.0f} MiB at {peak[0]:.1f} s")
    series, nxt = [], 0.0
    for r in rows:
        if r[0] >= nxt:
            series.append(f"{r[0]:.0f}s:{r[1]/1024:.0f}")
            nxt = r[0] + 10
    print("  VmRSS MiB every 10 s: " + " ".join(series))
PY
    grep -E '"run_finished"' "$log" | head -1 | cut -c1-400 || true
done
