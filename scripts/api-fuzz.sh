#!/usr/bin/env bash
# Fuzzes the gateway's HTTP API against its own OpenAPI document
# (/system/openapi.json) with schemathesis, every check, on the process
# backend; fails on any failure. schemathesis comes from PyPI into a venv
# under target/. Settings: tests/schemathesis.toml.
#
#   scripts/api-fuzz.sh [max examples per operation, default 20]
set -euo pipefail
cd "$(dirname "$0")/.."

examples=${1:-20}
version=4.32.5
venv=${FAAS_FUZZ_VENV:-target/schemathesis}
st="$venv/bin/schemathesis"

if ! "$st" --version 2>/dev/null | grep -q "$version"; then
  if ! python3 -m venv "$venv" 2>/dev/null; then
    apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$version"
fi

[ -x target/debug/gateway ] || cargo build -q -p faas-gateway
dir=$(mktemp -d)
gateway_pid=
cleanup() {
  [ -n "$gateway_pid" ] && kill "$gateway_pid" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
printf '%s\n' "$password" >"$dir/password"
chmod 600 "$dir/password"
# Schemathesis's auth checks send wrong credentials on purpose: they must
# not lock its own address out of the operations after them.
FAAS_BASIC_AUTH_PASSWORD_FILE="$dir/password" RUST_LOG=error FAAS_LOGIN_ATTEMPTS=1000000 \
  target/debug/gateway --backend process --port 0 --data-dir "$dir/data" \
  >"$dir/stdout" 2>"$dir/log" &
gateway_pid=$!

url=
for _ in $(seq 100); do
  url=$(sed -n 's|^gateway listening on \(http://[^ ]*\).*|\1|p' "$dir/stdout")
  [ -n "$url" ] && break
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "api-fuzz: the gateway did not start:" >&2
  cat "$dir/log" >&2
  exit 1
fi

# A function for the operations that need one to reach their logic.
curl -fsS -u "admin:$password" -X POST "$url/system/functions" \
  -d '{"service":"cat","image":"x","command":["cat"]}' >/dev/null

echo "api-fuzz: schemathesis $version, all checks, $examples examples per operation, against $url"
"$st" --no-color --config-file tests/schemathesis.toml run "$url/system/openapi.json" \
  --checks all --auth "admin:$password" --max-examples "$examples" \
  --generation-deterministic
