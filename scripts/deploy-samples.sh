#!/bin/sh
# Deploys the sample functions through a gateway's API, as service-mode
# functions (their images run fwatchdog). A sample already deployed is left
# as it is, so running this again is harmless.
#   FAAS_PASSWORD=... scripts/deploy-samples.sh [http://127.0.0.1:8080]
# docker-stack.yml runs it in its `samples` service, with the gateway from
# FAAS_GATEWAY and the password from FAAS_PASSWORD_FILE (the stack's secret).
# Needs a POSIX sh and curl or wget (BusyBox's will do).
set -eu
gateway=${1:-${FAAS_GATEWAY:-http://127.0.0.1:8080}}
if [ -z "${FAAS_PASSWORD:-}" ] && [ -n "${FAAS_PASSWORD_FILE:-}" ]; then
  FAAS_PASSWORD=$(cat "$FAAS_PASSWORD_FILE")
fi
: "${FAAS_PASSWORD:?set FAAS_PASSWORD (or FAAS_PASSWORD_FILE) to the gateway's admin password}"
auth="Authorization: Basic $(printf 'admin:%s' "$FAAS_PASSWORD" | base64 | tr -d '\n')"

if command -v curl >/dev/null 2>&1; then
  get() { curl -sf -o /dev/null -H "$auth" "$1"; }
  post() { curl -sS --fail-with-body -o /dev/null -H "$auth" -H 'Content-Type: application/json' -X POST "$1" -d "$2"; }
else
  get() { wget -q -O /dev/null --header "$auth" "$1"; }
  post() { wget -q -O /dev/null --header "$auth" --header 'Content-Type: application/json' --post-data "$2" "$1"; }
fi

# The gateway may still be starting (in the stack, it starts alongside).
waited=0
until get "$gateway/healthz" 2>/dev/null; do
  waited=$((waited + 1))
  if [ "$waited" -ge "${FAAS_WAIT_SECONDS:-120}" ]; then
    echo "deploy-samples: the gateway at $gateway does not answer" >&2
    exit 1
  fi
  sleep 1
done

# Each image sets its own fprocess; the gateway only needs its name.
deploy() { # name
  if get "$gateway/system/function/$1" 2>/dev/null; then
    echo "deploy-samples: $1 is already deployed"
    return
  fi
  post "$gateway/system/functions" "$(printf '{"service":"%s","image":"faas/sample-%s:latest"}' "$1" "$1")"
  echo "deploy-samples: deployed $1"
}
for sample in cat echo wc resizer; do
  deploy "$sample"
done
