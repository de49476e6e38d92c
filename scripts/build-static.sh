#!/usr/bin/env bash
# Builds a static x86_64 `fwatchdog` that runs in a `FROM scratch` image.
# Uses the musl target when it is installed, else glibc with crt-static.
# Prints the path of the stripped binary.
set -euo pipefail
cd "$(dirname "$0")/.."
if rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl; then
  target=x86_64-unknown-linux-musl
  flags=""
else
  target=x86_64-unknown-linux-gnu
  flags="-C target-feature=+crt-static"
fi
RUSTFLAGS="${RUSTFLAGS:-} $flags" cargo build --quiet --profile static --target "$target" \
  -p faas-watchdog --bin fwatchdog >&2
echo "target/$target/static/fwatchdog"
