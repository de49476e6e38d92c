#!/usr/bin/env bash
# Benchmark of fwatchdog with fprocess=cat, against the machine's ceiling for
# fork-per-request, both measured in this run.
#   1. spawn-ceiling: `cat` processes/s with piped STDIN/STDOUT from as many
#      threads as cores (no HTTP at all).
#   2. the static fwatchdog under `load`: 16 connections, 10 s.
# Prints both, the ratio, the watchdog's peak RSS and the binary's size.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${SECONDS_PER_RUN:-10}
connections=${CONNECTIONS:-16}

wd=$(scripts/build-static.sh)
cargo build --quiet --release -p faas-tests --bin load --bin spawn-ceiling
load=target/release/load
ceiling_bin=target/release/spawn-ceiling

tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
env -i PATH="$PATH" TMPDIR="$tmp" fprocess=cat port="$port" "$wd" 2>"$tmp/log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/_/health" >/dev/null && break; sleep 0.05; done

ceiling=$("$ceiling_bin" "$seconds")
result=$("$load" --url "http://127.0.0.1:$port/" --connections "$connections" --duration "$seconds" --json)
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
size=$(stat -c %s "$wd")

python3 - "$ceiling" "$result" "$rss_kb" "$size" <<'PY'
import json, sys
ceiling, result = json.loads(sys.argv[1]), json.loads(sys.argv[2])
rss_kb, size = int(sys.argv[3]), int(sys.argv[4])
ratio = result["rps"] / ceiling["per_second"]
print(f"spawn ceiling ({ceiling['threads']} threads): {ceiling['per_second']:.0f} cat/s")
print(f"fwatchdog fprocess=cat: {result['rps']:.0f} req/s, p50 {result['p50_ms']:.2f} ms, "
      f"p99 {result['p99_ms']:.2f} ms, ok {result['ok']} of {result['requests']}, errors {result['errors']}")
print(f"ratio to the ceiling: {ratio:.3f} (goal >= 0.92)")
print(f"peak RSS of fwatchdog: {rss_kb/1024:.1f} MB (goal < 10 MB)")
print(f"stripped static binary: {size/1024/1024:.2f} MB (goal < 2 MB)")
PY
