#!/usr/bin/env bash
# Builds a static x86_64 binary that runs in a `FROM scratch` image:
#   scripts/build-static.sh                      fwatchdog (default)
#   scripts/build-static.sh faas-gateway gateway the gateway
# Uses the musl target when it is installed, else glibc with crt-static.
# Prints the path of the stripped binary.
set -euo pipefail
cd "$(dirname "$0")/.."
package=${1:-faas-watchdog}
bin=${2:-fwatchdog}
if rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl; then
  target=x86_64-unknown-linux-musl
  flags=""
else
  target=x86_64-unknown-linux-gnu
  flags="-C target-feature=+crt-static"
fi
RUSTFLAGS="${RUSTFLAGS:-} $flags" cargo build --quiet --profile static --target "$target" \
  -p "$package" --bin "$bin" >&2
echo "target/$target/static/$bin"
