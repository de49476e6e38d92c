#!/usr/bin/env bash
# Benchmark of the docker backend's per-call mode, same image, same run:
#   baseline: `docker run --rm -i faas/sample-cat cat`, one after another
#   cold:     sync calls of a per-call `cat` function that opts out of warm
#             containers (label com.faas.pool=false): a new container
#             created and started for each call
#   warm:     sync calls of the same function with warm containers, one
#             connection, each call sent once a warm container is ready
#   throughput: 10 connections at quota 10, warm and cold, for as long as
#             the pool keeps up (warm) or the engine starts containers (cold);
#             a warm call finding none ready waits for one already starting
#   memory:   one warm container, idle, as the engine counts it
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-30}
seconds=${SECONDS_PER_RUN:-15}

scripts/docker-engine.sh >/dev/null
# BUILD=0: use the images and release binaries already built.
if [ "${BUILD:-1}" = 1 ]; then
  scripts/build-images.sh >/dev/null
  cargo build --quiet --release -p faas-gateway -p faas-tests
fi

tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo bench >"$tmp/password"
FAAS_BASIC_AUTH_PASSWORD_FILE="$tmp/password" FAAS_QUOTA=10 \
  target/release/gateway --backend docker --port "$port" --data-dir "$tmp/data" >"$tmp/log" 2>&1 &
pid=$!
# SIGKILL: a graceful stop would wait for calls in flight.
trap 'kill -9 $pid 2>/dev/null || true; sleep 1; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
deploy() {
  curl -sf -u admin:bench -H 'Content-Type: application/json' "http://127.0.0.1:$port/system/functions" -d "$1" >/dev/null
}
deploy '{"service":"cat","image":"faas/sample-cat","command":["cat"]}'
deploy '{"service":"coldcat","image":"faas/sample-cat","command":["cat"],"labels":{"com.faas.pool":"false"}}'

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

# One connection, one call at a time (bench/calls.py).
python3 - "$port" "$runs" "$tmp" <<'PY'
import json, sys
sys.path.insert(0, "bench")
from calls import Calls
port, runs, tmp = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
calls = Calls(port, runs)
result = {"cold": calls.measure("coldcat", False)}
hits = calls.metric("faas_pool_hits_total", "cat")
result["warm"] = calls.measure("cat", True)
result["hits"] = calls.metric("faas_pool_hits_total", "cat") - hits
json.dump(result, open(f"{tmp}/calls.json", "w"))
PY
# One warm container that has waited a while: the engine's count of its
# memory (cgroup) and the launcher's resident set.
sleep 2
idle=$(docker ps -q --filter label=com.faas.pooled=cat --filter status=running | head -n 1)
if [ -n "$idle" ]; then
  memory=$(docker stats --no-stream --format '{{.MemUsage}}' "$idle" | cut -d/ -f1)
  launcher_rss=$(awk '/VmRSS/ {print $2 " " $3}' "/proc/$(docker inspect -f '{{.State.Pid}}' "$idle")/status" 2>/dev/null || echo "?")
else
  memory="none ready" launcher_rss="?"
fi
warm_thr=$(target/release/load --url "http://127.0.0.1:$port/function/cat" --connections 10 --duration "$seconds" --json)
cold_thr=$(target/release/load --url "http://127.0.0.1:$port/function/coldcat" --connections 10 --duration "$seconds" --json)
metrics=$(curl -sf "http://127.0.0.1:$port/metrics" | grep -E '^faas_(pool_(hits|waits|misses)_total|container_start_seconds_(sum|count))\{function_name="cat"\}' || true)
python3 - "$tmp" "$warm_thr" "$cold_thr" "$memory" "$launcher_rss" "$metrics" <<'PY'
import json, sys
tmp, warm_thr, cold_thr, memory, rss, metrics = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
base = json.load(open(f"{tmp}/docker-run.json"))
calls = json.load(open(f"{tmp}/calls.json"))
cold, warm = calls["cold"], calls["warm"]
print(f"cold per-call sync cat, 1 connection: p50 {cold['p50_ms']:.0f} ms, p99 {cold['p99_ms']:.0f} ms; p50 / docker run {cold['p50_ms'] / base['p50_ms']:.2f}")
print(f"warm per-call sync cat, 1 connection: p50 {warm['p50_ms']:.1f} ms, p99 {warm['p99_ms']:.1f} ms ({calls['hits']:.0f} of the calls hit a warm container)")
print(f"ratio p50 warm / docker run: {warm['p50_ms'] / base['p50_ms']:.3f} (goal <= 0.07, and p50 <= 20 ms); warm / cold: {warm['p50_ms'] / cold['p50_ms']:.3f}")
for name, thr in (("warm", warm_thr), ("cold", cold_thr)):
    print(f"throughput at quota 10, 10 connections, {name}: {thr['rps']:.1f} calls/s, p50 {thr['p50_ms']:.0f} ms, ok {thr['ok']} of {thr['requests']}, statuses {thr['status']}")
print(f"one idle warm container: {memory} (engine's count); launcher RSS {rss}")
m = dict(line.split("{", 1)[0:1] + [line.rsplit(" ", 1)[1]] for line in metrics.splitlines())
if m:
    hits, misses = float(m.get("faas_pool_hits_total", 0)), float(m.get("faas_pool_misses_total", 0))
    waits = float(m.get("faas_pool_waits_total", 0))
    count = float(m.get("faas_container_start_seconds_count", 0))
    mean = float(m.get("faas_container_start_seconds_sum", 0)) / count if count else 0
    print(f"pool over the run: {hits:.0f} hits, {waits:.0f} waits, {misses:.0f} misses; {count:.0f} warm containers started, {mean * 1000:.0f} ms each on average")
PY
