#!/usr/bin/env bash
# Benchmark of listing functions with their usage: N service functions
# (default 100), one replica each, on the docker backend; the gateway's
# usage cache is warmed (the sampler reads every replica's container stats
# while listing is wanted), then GET /system/functions is timed on one
# keep-alive connection, 0.1 s apart (so the runs include the replica
# lists being read from the engine again). Goal: p99 under 100 ms for 100 functions.
# Everything it creates (functions, their replicas, its network) is removed
# at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${FUNCTIONS:-100}
runs=${RUNS:-50}
network=faas-bench-list

scripts/docker-engine.sh >/dev/null
scripts/build-images.sh >/dev/null
cargo build --quiet --release -p faas-gateway

tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo bench >"$tmp/password"
FAAS_BASIC_AUTH_PASSWORD_FILE="$tmp/password" FAAS_NETWORK=$network FAAS_MAX_REPLICAS=2 \
  target/release/gateway --backend docker --port "$port" --data-dir "$tmp/data" >"$tmp/log" 2>&1 &
pid=$!
url="http://127.0.0.1:$port"
cleanup() {
  for i in $(seq "$n"); do
    curl -s -u admin:bench -H 'Content-Type: application/json' -X DELETE "$url/system/functions" -d "{\"functionName\":\"bench-list-$i\"}" >/dev/null || true
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  docker network rm "$network" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap "exit 1" INT TERM
for _ in $(seq 100); do curl -sf "$url/healthz" >/dev/null && break; sleep 0.1; done

echo "deploying $n service functions (one replica each)…"
for i in $(seq "$n"); do
  curl -sf -u admin:bench -H 'Content-Type: application/json' "$url/system/functions" \
    -d "{\"service\":\"bench-list-$i\",\"image\":\"faas/sample-cat\",\"envProcess\":\"cat\"}" >/dev/null
done

python3 - "$url" "$n" "$runs" <<'PY'
import base64, http.client, json, sys, time, urllib.parse
url, n, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
host = urllib.parse.urlparse(url)
conn = http.client.HTTPConnection(host.hostname, host.port)
auth = {"Authorization": "Basic " + base64.b64encode(b"admin:bench").decode()}
def listing():
    t = time.perf_counter()
    conn.request("GET", "/system/functions", headers=auth)
    r = conn.getresponse()
    body = r.read()
    assert r.status == 200, (r.status, body)
    return (time.perf_counter() - t) * 1000, json.loads(body)
deadline = time.time() + 300
while True:
    _, functions = listing()
    ready = sum(1 for f in functions if f["availableReplicas"] >= 1)
    sampled = sum(1 for f in functions if f.get("usage", {}).get("totalMemoryBytes", 0) > 0)
    if ready == n and sampled == n:
        break
    assert time.time() < deadline, f"{ready} of {n} ready, {sampled} sampled after 300 s"
    time.sleep(1)
def spaced():
    # 0.1 s apart, so the runs span the replica lists' 1 s cache expiring.
    time.sleep(0.1)
    return listing()[0]
times = sorted(spaced() for _ in range(runs))
pct = lambda p: times[min(len(times) - 1, round((len(times) - 1) * p))]
memory = sum(f["usage"]["totalMemoryBytes"] for f in functions) / n / 1e6
print(f"GET /system/functions, {n} service functions with usage, {runs} runs:")
print(f"  p50 {pct(0.5):.1f} ms, p99 {pct(0.99):.1f} ms, max {times[-1]:.1f} ms (goal p99 < 100 ms)")
print(f"  usage sampled for {sampled} of {n}; mean replica memory {memory:.1f} MB")
PY
