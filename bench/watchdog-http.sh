#!/usr/bin/env bash
# Benchmark of fwatchdog's http mode, in one run, the same connection count
# (CONNECTIONS, default 16) on every side:
#   1. the sample upstream `http-echo` reached directly (the baseline);
#   2. fwatchdog mode=http in front of its own `http-echo`
#      -> ratio to 1 (goal >= 0.95);
#   3. fwatchdog in fork mode with fprocess=cat -> ratio of 2 to 3 (goal >= 5).
# The sides take turns ROUNDS times (default 3, SECONDS_PER_RUN each,
# default 5); each round gives its ratios and the medians are the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${SECONDS_PER_RUN:-5}
connections=${CONNECTIONS:-16}
rounds=${ROUNDS:-3}

cargo build --quiet --release -p faas-watchdog -p faas-tests --bin fwatchdog --bin load --bin http-echo
bin=target/release
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.2; rm -rf "$tmp"' EXIT
source bench/lib.sh
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

direct=$(free_port)
"$bin/http-echo" "127.0.0.1:$direct" 2>"$tmp/direct.log" &
pids+=($!)
upstream=$(free_port)
env -i PATH="$PATH" TMPDIR="$tmp" mode=http upstream_url="http://127.0.0.1:$upstream" \
  fprocess="$bin/http-echo 127.0.0.1:$upstream" port=0 "$bin/fwatchdog" 2>"$tmp/http.log" &
pids+=($!)
http_port=$(port_in "$tmp/http.log" '.*listening on :\([0-9]*\).*')
mkdir "$tmp/fork"
env -i PATH="$PATH" TMPDIR="$tmp/fork" fprocess=cat port=0 "$bin/fwatchdog" 2>"$tmp/fork.log" &
pids+=($!)
fork_port=$(port_in "$tmp/fork.log" '.*listening on :\([0-9]*\).*')
for _ in $(seq 200); do
  curl -sf -o /dev/null -d x "http://127.0.0.1:$direct/" && curl -sf -o /dev/null "http://127.0.0.1:$http_port/_/health" \
    && curl -sf -o /dev/null "http://127.0.0.1:$fork_port/_/health" && break
  sleep 0.05
done

run() { "$bin/load" --url "$1" --connections "$connections" --duration "$seconds" --json; }
results=()
for _ in $(seq "$rounds"); do
  results+=("$(run "http://127.0.0.1:$direct/")")
  results+=("$(run "http://127.0.0.1:$http_port/")")
  results+=("$(run "http://127.0.0.1:$fork_port/")")
done

python3 - "$connections" "${results[@]}" <<'PY'
import json, statistics, sys
connections = sys.argv[1]
runs = [json.loads(x) for x in sys.argv[2:]]
ok = lambda r: r["ok"] / r["seconds"]
def show(label, r):
    print(f"  {label}: {ok(r):.0f} ok/s, p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms, "
          f"ok {r['ok']} of {r['requests']}, errors {r['errors']}")
to_direct, to_fork = [], []
for n in range(0, len(runs), 3):
    d, h, f = runs[n:n + 3]
    print(f"round {n // 3 + 1} ({connections} connections):")
    show("http-echo directly", d)
    show("fwatchdog mode=http, http-echo", h)
    show("fwatchdog fork mode, cat", f)
    to_direct.append(ok(h) / ok(d))
    to_fork.append(ok(h) / ok(f))
    print(f"  http mode / direct {to_direct[-1]:.3f}, http mode / fork mode {to_fork[-1]:.2f}")
fmt = lambda xs, p: ", ".join(f"{x:.{p}f}" for x in xs)
print(f"http mode / upstream directly, median of {len(to_direct)}: {statistics.median(to_direct):.3f} "
      f"(rounds {fmt(to_direct, 3)}; goal >= 0.95)")
print(f"http mode / fork mode with cat, median of {len(to_fork)}: {statistics.median(to_fork):.2f} "
      f"(rounds {fmt(to_fork, 2)}; goal >= 5)")
PY
