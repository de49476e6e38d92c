#!/usr/bin/env bash
# The gateway benchmark (bench/gateway.sh) on two builds in one run, taking
# turns, so a change's cost is measured on the same machine at the same
# time: BEFORE and AFTER are directories holding gateway, fwatchdog and load
# (e.g. target/release of two checkouts). Both gateways are compared with
# the same fwatchdog (AFTER's), so the ratios differ only by the gateway.
#   TURNS (default 3) runs of bench/gateway.sh each, one round per run.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BEFORE:?a directory with the earlier build's gateway, fwatchdog and load}"
: "${AFTER:?a directory with the later build's gateway, fwatchdog and load}"
turns=${TURNS:-3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for n in $(seq "$turns"); do
  for side in before after; do
    dir=$BEFORE; [ "$side" = after ] && dir=$AFTER
    BIN=$dir FWATCHDOG=$AFTER/fwatchdog ROUNDS=1 bash bench/gateway.sh > "$out/$side-$n.txt"
    echo "turn $n, $side:"; grep -E "^sync|^added|^async" "$out/$side-$n.txt" | sed 's/^/  /'
  done
done
python3 - "$out" "$turns" <<'PY'
import re, statistics, sys
out, turns = sys.argv[1], int(sys.argv[2])
def figures(side):
    ratio, added, accepted = [], [], []
    for n in range(1, turns + 1):
        text = open(f"{out}/{side}-{n}.txt").read()
        ratio.append(float(re.search(r"^sync throughput ratio .*?: ([0-9.]+)", text, re.M).group(1)))
        added.append(float(re.search(r"^added p50 latency, .*?: (-?[0-9.]+) ms", text, re.M).group(1)))
        accepted.append(float(re.search(r"^async accepted per second \(durable\): ([0-9.]+)", text, re.M).group(1)))
    return statistics.median(ratio), statistics.median(added), statistics.median(accepted)
b, a = figures("before"), figures("after")
print(f"sync throughput ratio, median of {turns}: before {b[0]:.3f}, after {a[0]:.3f} (after/before {a[0]/b[0]:.3f})")
print(f"added p50, median of {turns}: before {b[1]:.3f} ms, after {a[1]:.3f} ms")
print(f"async accepted per second, median of {turns}: before {b[2]:.0f}, after {a[2]:.0f} (after/before {a[2]/b[2]:.3f})")
PY
