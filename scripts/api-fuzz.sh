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

# What the operations need to reach their logic past a lookup: a deployed
# function (its name and UUID), a call of it that has ended (its id) and a
# function for the removals to remove, all handed to schemathesis.toml's
# [parameters] through the environment.
deployed=$(curl -fsS -u "admin:$password" -X POST "$url/system/functions" \
  -H 'Content-Type: application/json' \
  -d '{"service":"cat","image":"x","command":["cat"]}')
curl -fsS -o /dev/null -u "admin:$password" -X POST "$url/system/functions" \
  -H 'Content-Type: application/json' \
  -d '{"service":"doomed","image":"x","command":["cat"]}'
FAAS_FUZZ_UUID=$(printf '%s' "$deployed" | python3 -c 'import json, sys; print(json.load(sys.stdin)["uuid"])')
FAAS_FUZZ_CALL_ID=$(curl -fsS -X POST "$url/async-function/cat" -H 'Content-Type: text/plain' -d seed \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["CallId"])')
curl -fsS -o /dev/null -u "admin:$password" "$url/output/cat/$FAAS_FUZZ_UUID/$FAAS_FUZZ_CALL_ID/wait"
export FAAS_FUZZ_UUID FAAS_FUZZ_CALL_ID

# Two passes: first every operation but those that change or remove a
# deployed function (schemathesis reuses the names it has seen in answers,
# so a removal would soon remove the function every other operation needs),
# then those two alone.
changes='^(PUT|DELETE) /system/functions$'
# A pass fails on schemathesis's exit code, or on a failure its summary
# counts (a failure found in the stateful phase alone can leave the code 0).
run() {
  "$st" --no-color --config-file tests/schemathesis.toml run "$url/system/openapi.json" \
    --auth "admin:$password" --max-examples "$examples" \
    --generation-deterministic "$@" | tee "$dir/report"
  if tail -n 2 "$dir/report" | grep -Eq '[0-9]+ (failure|error)'; then
    echo "api-fuzz: schemathesis found failures (above)" >&2
    return 1
  fi
}
echo "api-fuzz: schemathesis $version, all checks, $examples examples per operation, against $url"
run --exclude-name-regex "$changes"
echo "api-fuzz: the operations that change and remove functions"
run --include-name-regex "$changes"
