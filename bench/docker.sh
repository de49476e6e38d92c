#!/usr/bin/env bash
# Benchmark of the docker backend's per-call mode, same image, same run:
#   baseline: `docker run --rm -i faas/sample-cat cat`, one after another
#   faas:     sync calls of a per-call `cat` function through the gateway,
#             one connection (latency), then 10 connections at quota 10
#             (throughput).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-30}
seconds=${SECONDS_PER_RUN:-15}

scripts/docker-engine.sh >/dev/null
scripts/build-images.sh >/dev/null
cargo build --quiet --release -p faas-gateway -p faas-tests

tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo bench >"$tmp/password"
FAAS_BASIC_AUTH_PASSWORD_FILE="$tmp/password" FAAS_QUOTA=10 \
  target/release/gateway --backend docker --port "$port" --data-dir "$tmp/data" >"$tmp/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
curl -sf -u admin:bench "http://127.0.0.1:$port/system/functions" \
  -d '{"service":"cat","image":"faas/sample-cat","command":["cat"]}' >/dev/null

echo "docker run --rm -i, $runs runs:"
python3 - "$runs" "$tmp/docker-run.json" <<'PY'
import subprocess, sys, time, json
runs = int(sys.argv[1])
times = []
for _ in range(runs):
    t = time.perf_counter()
    out = subprocess.run(["docker", "run", "--rm", "-i", "faas/sample-cat", "cat"], input=b"hello", capture_output=True)
    times.append((time.perf_counter() - t) * 1000)
    assert out.stdout == b"hello", out
times.sort()
pct = lambda p: times[min(len(times) - 1, round((len(times) - 1) * p))]
json.dump({"p50_ms": pct(0.5), "p99_ms": pct(0.99)}, open(sys.argv[2], "w"))
print(f"  p50 {pct(0.5):.0f} ms, p99 {pct(0.99):.0f} ms")
PY
latency=$(target/release/load --url "http://127.0.0.1:$port/function/cat" --connections 1 --duration "$seconds" --json)
throughput=$(target/release/load --url "http://127.0.0.1:$port/function/cat" --connections 10 --duration "$seconds" --json)
python3 - "$latency" "$throughput" "$tmp/docker-run.json" <<'PY'
import json, sys
base = json.load(open(sys.argv[3]))
lat, thr = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"gateway per-call sync cat, 1 connection: p50 {lat['p50_ms']:.0f} ms, p99 {lat['p99_ms']:.0f} ms, ok {lat['ok']} of {lat['requests']}")
print(f"ratio p50 gateway / docker run: {lat['p50_ms'] / base['p50_ms']:.2f} (goal <= 1.0); p99: {lat['p99_ms'] / base['p99_ms']:.2f}")
print(f"throughput at quota 10, 10 connections: {thr['rps']:.1f} calls/s, p50 {thr['p50_ms']:.0f} ms, ok {thr['ok']} of {thr['requests']}, statuses {thr['status']}")
PY
