#!/usr/bin/env bash
# Benchmark of gVisor (the runtime `runsc`) against runc, same image, same
# run, every figure as a ratio runsc / runc:
#   docker run: `docker run --rm -i --runtime R faas/sample-cat cat`, one
#             after another, the two runtimes taking turns
#   compute:  ROUNDS times, the runtimes taking turns, a CPU-bound job and
#             a system-call-heavy one, each in a container of its own:
#             - the sample function `hash` (faas/sample-hash) given 1 MiB,
#               which it reads into one buffer and hashes 20 times in memory;
#               the time of the 20 passes, as it tells it (`--time`), five
#               runs in each container;
#             - in faas/sample-cat, `dd bs=1 count=100000`: 200,000 reads and
#               writes of one byte
#   gateway (GATEWAY=1, the default): a gateway on the docker backend with
#             per-call `cat` functions deployed with "runtime": "runsc" and
#             "runc", each cold (label com.faas.pool=false) and warm:
#             - sync calls, 1 connection, p50/p99, against `docker run`;
#             - throughput at quota 10, 10 connections, warm and cold;
#             - the memory of one idle warm container: the engine's count
#               (its cgroup) and, under runsc, the resident sets of the
#               sandbox's own processes (runsc-sandbox, runsc-gofer).
# GATEWAY=0 runs the first two parts only (no gateway needed).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-20}
rounds=${ROUNDS:-5}
seconds=${SECONDS_PER_RUN:-15}
gateway=${GATEWAY:-1}

scripts/docker-engine.sh >/dev/null
docker info --format '{{json .Runtimes}}' | grep -q '"runsc"' ||
  { echo "the engine has no runtime runsc (scripts/docker-engine.sh registers it)" >&2; exit 1; }
# BUILD=0: use the images and release binaries already built.
if [ "${BUILD:-1}" = 1 ]; then
  scripts/build-images.sh >/dev/null
  [ "$gateway" = 1 ] && cargo build --quiet --release -p faas-gateway -p faas-tests
fi

tmp=$(mktemp -d)
pid=
# SIGKILL: a graceful stop would wait for calls in flight.
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; sleep 1; rm -rf "$tmp"' EXIT

echo "docker run --rm -i, $runs runs of each runtime, taking turns:"
python3 - "$runs" "$tmp/docker-run.json" <<'PY'
import json, subprocess, sys, time
runs = int(sys.argv[1])
times = {"runsc": [], "runc": []}
for _ in range(runs):
    for runtime in times:
        t = time.perf_counter()
        out = subprocess.run(["docker", "run", "--rm", "-i", "--runtime", runtime, "faas/sample-cat", "cat"],
                             input=b"hello", capture_output=True)
        times[runtime].append((time.perf_counter() - t) * 1000)
        assert out.stdout == b"hello", out
result = {}
for runtime, ts in times.items():
    ts.sort()
    pct = lambda p: ts[min(len(ts) - 1, round((len(ts) - 1) * p))]
    result[runtime] = {"p50_ms": pct(0.5), "p99_ms": pct(0.99)}
    print(f"  {runtime}: p50 {pct(0.5):.0f} ms, p99 {pct(0.99):.0f} ms")
print(f"  p50 runsc / runc: {result['runsc']['p50_ms'] / result['runc']['p50_ms']:.2f}")
json.dump(result, open(sys.argv[2], "w"))
PY

# The CPU-bound job: `hash` times its own passes, so neither the container's
# start nor its own is in the figure, nor the read of its input (given
# apart); five runs in each container, the later ones away from the noise of
# its start, each called by its path (in sh, `hash` is a builtin). Every run
# prints the same digest. The system-call-heavy one: milliseconds from
# /proc/uptime (busybox's date has no %N), far above the clock's 10 ms.
head -c 1048576 /dev/urandom >"$tmp/in"
hash_job='cat >/tmp/in; for i in 1 2 3 4 5; do /usr/bin/hash --time 20 </tmp/in 2>&1; done'
job='
ms() { awk "{printf \"%d\", \$1 * 1000}" /proc/uptime; }
s=$(ms); dd if=/dev/zero of=/dev/null bs=1 count=100000 2>/dev/null; e=$(ms)
echo syscalls $((e - s))
'
echo "compute, $rounds rounds, taking turns, a container per job (ms per job):"
for r in $(seq "$rounds"); do
  for runtime in runsc runc; do
    docker run --rm -i --runtime "$runtime" faas/sample-hash sh -c "$hash_job" <"$tmp/in" | sed "s/^/$runtime hash /"
    docker run --rm --runtime "$runtime" faas/sample-cat sh -c "$job" | sed "s/^/$runtime /"
  done
done >"$tmp/compute"
python3 - "$tmp/compute" <<'PY'
import collections, statistics, sys
t = collections.defaultdict(list)
digests = set()
for line in open(sys.argv[1]):
    runtime, job, *rest = line.split()
    if job == "syscalls":
        t[runtime, job].append(float(rest[0]))
    elif rest[0] == "read":  # read N bytes in X ms, hashed them 20 times in Y ms
        t[runtime, "read"].append(float(rest[4]))
        t[runtime, "cpu"].append(float(rest[-2]))
    else:
        digests.add(rest[0])
assert len(digests) == 1 and len(t["runsc", "cpu"]) == len(t["runc", "cpu"]) > 0, (digests, dict(t))
fmt = lambda ts: "[" + ", ".join(f"{x:.0f}" for x in ts) + "]"
for job, what in (("cpu", "1 MiB hashed 20 times in memory (hash)"),
                  ("read", "hash reading its 1 MiB from a file"), ("syscalls", "dd bs=1 count=100000")):
    s, c = statistics.median(t["runsc", job]), statistics.median(t["runc", job])
    print(f"  {what}: runsc {s:.1f} ms, runc {c:.1f} ms (medians of {len(t['runc', job])};"
          f" runsc {fmt(t['runsc', job])}, runc {fmt(t['runc', job])}); runsc / runc {s / c:.2f}")
PY

[ "$gateway" = 1 ] || exit 0

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo bench >"$tmp/password"
FAAS_BASIC_AUTH_PASSWORD_FILE="$tmp/password" FAAS_QUOTA=10 FAAS_ALLOW_RUNTIMES=runc,runsc \
  target/release/gateway --backend docker --port "$port" --data-dir "$tmp/data" >"$tmp/log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
deploy() {
  curl -sf -u admin:bench -H 'Content-Type: application/json' "http://127.0.0.1:$port/system/functions" -d "$1" >/dev/null ||
    { echo "deploying $1 failed" >&2; exit 1; }
}
for runtime in runsc runc; do
  deploy '{"service":"cat-'$runtime'","image":"faas/sample-cat","command":["cat"],"runtime":"'$runtime'"}'
  deploy '{"service":"coldcat-'$runtime'","image":"faas/sample-cat","command":["cat"],"runtime":"'$runtime'","labels":{"com.faas.pool":"false"}}'
done

# One connection, one call at a time (bench/calls.py).
python3 - "$port" "$runs" "$tmp" <<'PY'
import json, sys
sys.path.insert(0, "bench")
from calls import Calls
port, runs, tmp = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
calls = Calls(port, runs)
result = {}
for runtime in ("runsc", "runc"):
    result[f"cold-{runtime}"] = calls.measure(f"coldcat-{runtime}", False)
    hits = calls.metric("faas_pool_hits_total", f"cat-{runtime}")
    result[f"warm-{runtime}"] = calls.measure(f"cat-{runtime}", True)
    result[f"hits-{runtime}"] = calls.metric("faas_pool_hits_total", f"cat-{runtime}") - hits
json.dump(result, open(f"{tmp}/calls.json", "w"))
PY

# One warm container of each runtime that has waited a while: the engine's
# count (cgroup) and the resident sets of the processes that hold it (under
# runsc the sandbox and its gofer, whose command lines name the container;
# most of their RSS is the runsc binary's pages, shared, so the anonymous
# part is given too).
sleep 2
memory() {
  local c pids
  c=$(docker ps -q --no-trunc --filter "label=com.faas.pooled=cat-$1" --filter status=running | head -n 1)
  [ -n "$c" ] || { echo "none ready"; return; }
  pids=$(pgrep -f "runsc-(sandbox|gofer).*$c" | tr '\n' ' ')
  [ -n "$pids" ] || pids=$(docker inspect -f '{{.State.Pid}}' "$c")
  # shellcheck disable=SC2086
  sum() { for p in $pids; do awk -v k="$1:" '$1 == k {print $2}' "/proc/$p/status" 2>/dev/null; done | awk '{s += $1} END {printf "%.1f MiB", s / 1024}'; }
  echo "$(docker stats --no-stream --format '{{.MemUsage}}' "$c" | cut -d/ -f1 | xargs) (engine), RSS $(sum VmRSS), anonymous $(sum RssAnon)" \
    "($(for p in $pids; do tr '\0' ' ' <"/proc/$p/cmdline" | cut -d' ' -f1; done | sort | uniq -c | xargs))"
}
mem_runsc=$(memory runsc)
mem_runc=$(memory runc)
thr=()
for runtime in runsc runc; do
  for kind in cat coldcat; do
    thr+=("$(target/release/load --url "http://127.0.0.1:$port/function/$kind-$runtime" --connections 10 --duration "$seconds" --json)")
  done
done
python3 - "$tmp" "$mem_runsc" "$mem_runc" "${thr[@]}" <<'PY'
import json, sys
tmp, mem_runsc, mem_runc = sys.argv[1:4]
thr = [json.loads(x) for x in sys.argv[4:]]
base = json.load(open(f"{tmp}/docker-run.json"))
calls = json.load(open(f"{tmp}/calls.json"))
for runtime in ("runsc", "runc"):
    cold, warm, run = calls[f"cold-{runtime}"], calls[f"warm-{runtime}"], base[runtime]
    print(f"{runtime}: cold per-call sync cat, 1 connection: p50 {cold['p50_ms']:.0f} ms, p99 {cold['p99_ms']:.0f} ms;"
          f" p50 / docker run --runtime {runtime} {cold['p50_ms'] / run['p50_ms']:.2f}")
    print(f"{runtime}: warm: p50 {warm['p50_ms']:.1f} ms, p99 {warm['p99_ms']:.1f} ms"
          f" ({calls[f'hits-{runtime}']:.0f} of the calls hit a warm container);"
          f" p50 / docker run --runtime {runtime} {warm['p50_ms'] / run['p50_ms']:.3f}")
ws, wc = calls["warm-runsc"]["p50_ms"], calls["warm-runc"]["p50_ms"]
print(f"warm p50 runsc {ws:.1f} ms (goal <= 25 ms), runsc / docker run --runtime runsc"
      f" {ws / base['runsc']['p50_ms']:.3f} (goal <= 0.05), warm runsc / warm runc {ws / wc:.2f} (goal <= 1.3)")
print(f"cold p50 runsc / runc {calls['cold-runsc']['p50_ms'] / calls['cold-runc']['p50_ms']:.2f}")
labels = [("runsc", "warm"), ("runsc", "cold"), ("runc", "warm"), ("runc", "cold")]
rps = {}
for (runtime, kind), t in zip(labels, thr):
    rps[runtime, kind] = t["rps"]
    print(f"throughput at quota 10, 10 connections, {runtime} {kind}: {t['rps']:.1f} calls/s, p50 {t['p50_ms']:.0f} ms,"
          f" ok {t['ok']} of {t['requests']}, statuses {t['status']}")
for kind in ("warm", "cold"):
    print(f"throughput {kind} runsc / runc: {rps['runsc', kind] / rps['runc', kind]:.2f}")
print(f"one idle warm container, runsc: {mem_runsc}")
print(f"one idle warm container, runc: {mem_runc}")
PY
