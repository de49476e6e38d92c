#!/usr/bin/env bash
# The database's bound under anonymous load: async calls (4 KiB header each,
# a function that does nothing) are sent until at least CALLS (100,000) were
# accepted, to a release gateway whose database cap is CAP_BYTES (16 MiB) and
# whose per-function caches are larger, so the global cap is what bounds it.
# Once every call has ended the data directory is measured.
# Goal: at most the cap plus 5 MiB (what the write-ahead log may hold).
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${CALLS:-100000}
cap=${CAP_BYTES:-16777216}

cargo build --quiet --release -p faas-gateway -p faas-tests --bin gateway --bin load
tmp=$(mktemp -d)
pids=()
# SIGKILL: a gateway drains on SIGTERM, waiting for the calls it runs.
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
source bench/lib.sh

echo bench > "$tmp/password"
env -i PATH="$PATH" FAAS_BASIC_AUTH_PASSWORD_FILE="$tmp/password" FAAS_MAX_DB_BYTES="$cap" \
  FAAS_LOG_CACHE_BYTES=100000000000 FAAS_MAX_QUEUE=100000000 RUST_LOG=warn \
  target/release/gateway --backend process --port 0 --data-dir "$tmp/data" >"$tmp/gw.log" 2>&1 &
pids+=($!)
port=$(port_in "$tmp/gw.log" '.*gateway listening on http:\/\/[^ ]*:\([0-9]*\) .*')
base="http://127.0.0.1:$port"
curl -sf -u admin:bench -o /dev/null -H 'Content-Type: application/json' -X POST "$base/system/functions" \
  -d '{"service":"nothing","image":"x","command":["true"]}'

header="X-Large: $(head -c 4096 /dev/zero | tr '\0' 'h')"
sent=0
start=$(date +%s)
while [ "$sent" -lt "$calls" ]; do
  run=$(target/release/load --url "$base/async-function/nothing" --connections 16 --duration 5 \
    -H "$header" --body "" --json)
  sent=$((sent + $(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ok"])' "$run")))
done
for _ in $(seq 1200); do
  status=$(curl -sf -u admin:bench "$base/system/function/nothing/status")
  python3 -c 'import json,sys; c=json.loads(sys.argv[1]); sys.exit(0 if c["Pending"]+c["Running"]==0 else 1)' "$status" && break
  sleep 0.5
done
end=$(date +%s)
used=$(du -sb "$tmp/data" | cut -f1)
python3 - "$sent" "$used" "$cap" "$status" "$((end - start))" <<'PY'
import json, sys
sent, used, cap, status, seconds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4]), int(sys.argv[5])
bound = cap + 5 * 1024 * 1024
print(f"calls accepted: {sent:,} in {seconds} s (all ended); records kept: {status['Total']:,}")
print(f"data dir: {used / 2**20:.1f} MiB; cap {cap / 2**20:.0f} MiB, bound {bound / 2**20:.0f} MiB; ratio used / bound {used / bound:.2f} (goal <= 1)")
PY
