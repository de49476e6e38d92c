#!/usr/bin/env bash
# Benchmark of the gateway (process backend) against fwatchdog, in one run:
#   1. sync `cat` calls, 16 connections: fwatchdog directly, then the gateway
#      (/function/cat) -> throughput ratio (goal >= 0.9).
#   2. one connection on each -> the p50 latency the gateway adds (goal < 0.5 ms).
#   Steps 1 and 2 take turns ROUNDS times (default 3); the medians count.
#   3. async calls accepted per second, durable (group-committed to SQLite
#      with synchronous=FULL before each 202), 16 connections (goal >= 5,000/s).
#      The target function lets one call run at a time (maxConcurrency 1,
#      `sleep`), so what is measured is acceptance, not execution.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${SECONDS_PER_RUN:-10}
connections=${CONNECTIONS:-16}

# BIN: a directory holding gateway, fwatchdog and load already built (as
# bench/before-after.sh gives); FWATCHDOG: the baseline's binary, when not
# BIN's.
bin=${BIN:-}
if [ -z "$bin" ]; then
  cargo build --quiet --release -p faas-gateway -p faas-watchdog -p faas-tests --bin gateway --bin fwatchdog --bin load
  bin=target/release
fi
load=$bin/load
fwatchdog=${FWATCHDOG:-$bin/fwatchdog}
tmp=$(mktemp -d)
pids=()
# SIGKILL: a gateway drains on SIGTERM, and the parked call would hold it
# (its `sleep 30` then ends on its own).
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
# Both bind port 0 and print the port they got.
source bench/lib.sh

env -i PATH="$PATH" TMPDIR="$tmp" fprocess=cat port=0 "$fwatchdog" 2>"$tmp/wd.log" &
pids+=($!)
wd_port=$(port_in "$tmp/wd.log" '.*listening on :\([0-9]*\).*')
echo bench > "$tmp/password"
# The same environment as the baseline's, so the functions' processes get
# the same variables in both (a LANG in one only makes `cat` load locale
# files there and nowhere else).
env -i PATH="$PATH" FAAS_BASIC_AUTH_PASSWORD_FILE="$tmp/password" FAAS_QUOTA="$connections" FAAS_MAX_QUEUE=100000000 RUST_LOG=warn \
  "$bin/gateway" --backend process --port 0 --data-dir "$tmp/data" >"$tmp/gw.log" 2>&1 &
pids+=($!)
gw_port=$(port_in "$tmp/gw.log" '.*gateway listening on http:\/\/[^ ]*:\([0-9]*\) .*')
for _ in $(seq 200); do
  curl -sf "http://127.0.0.1:$wd_port/_/health" >/dev/null && curl -sf "http://127.0.0.1:$gw_port/healthz" >/dev/null && break
  sleep 0.05
done
admin=(-sf -u admin:bench -o /dev/null -H 'Content-Type: application/json')
curl "${admin[@]}" -X POST "http://127.0.0.1:$gw_port/system/functions" -d '{"service":"cat","image":"x","command":["cat"]}'
curl "${admin[@]}" -X POST "http://127.0.0.1:$gw_port/system/functions" -d '{"service":"parked","image":"x","command":["sleep","30"],"maxConcurrency":1}'

run() { "$load" --url "$1" --connections "$2" --duration "$seconds" --json; }
# The machine is shared and noisy: the two sides take turns, ROUNDS times,
# and each round gives its own ratio; the median is the figure.
rounds=${ROUNDS:-3}
pairs=()
for _ in $(seq "$rounds"); do
  pairs+=("$(run "http://127.0.0.1:$wd_port/" "$connections")")
  pairs+=("$(run "http://127.0.0.1:$gw_port/function/cat" "$connections")")
  pairs+=("$(run "http://127.0.0.1:$wd_port/" 1)")
  pairs+=("$(run "http://127.0.0.1:$gw_port/function/cat" 1)")
done
accepted=$(run "http://127.0.0.1:$gw_port/async-function/parked" "$connections")

python3 - "$accepted" "${pairs[@]}" <<'PY'
import json, statistics, sys
a = json.loads(sys.argv[1])
runs = [json.loads(x) for x in sys.argv[2:]]
rounds = [runs[i:i + 4] for i in range(0, len(runs), 4)]
ok = lambda r: r["ok"] / r["seconds"]
def show(label, r):
    print(f"  {label}: {ok(r):.0f} ok/s, p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms, "
          f"ok {r['ok']} of {r['requests']}, errors {r['errors']}, statuses {r['status']}")
ratios, added = [], []
for n, (d, g, d1, g1) in enumerate(rounds, 1):
    print(f"round {n}:")
    show("fwatchdog cat, 16 conns", d)
    show("gateway /function/cat, 16 conns", g)
    show("fwatchdog cat, 1 conn", d1)
    show("gateway /function/cat, 1 conn", g1)
    ratios.append(ok(g) / ok(d))
    added.append(g1["p50_ms"] - d1["p50_ms"])
    print(f"  throughput ratio {ratios[-1]:.3f}, added p50 {added[-1]:.3f} ms")
print(f"sync throughput ratio gateway/fwatchdog, median of {len(rounds)}: {statistics.median(ratios):.3f} "
      f"(rounds {', '.join(f'{r:.3f}' for r in ratios)}; goal >= 0.9)")
print(f"added p50 latency, median of {len(rounds)}: {statistics.median(added):.3f} ms "
      f"(rounds {', '.join(f'{x:.3f}' for x in added)}; goal < 0.5 ms)")
show("gateway /async-function, 16 conns", a)
print(f"async accepted per second (durable): {ok(a):.0f} (goal >= 5000)")
PY
