#!/usr/bin/env bash
# Deploys the sample functions through a gateway's API, as service-mode
# functions (their images run fwatchdog):
#   FAAS_PASSWORD=... scripts/deploy-samples.sh [http://127.0.0.1:8080]
set -euo pipefail
gateway=${1:-http://127.0.0.1:8080}
: "${FAAS_PASSWORD:?set FAAS_PASSWORD to the gateway's admin password}"
deploy() { # name, envProcess
  local body
  body=$(printf '{"service":"%s","image":"faas/sample-%s:latest","envProcess":"%s"}' "$1" "$1" "$2")
  curl -sS --fail-with-body -u "admin:$FAAS_PASSWORD" -X POST "$gateway/system/functions" -d "$body" >/dev/null
  echo "deployed $1"
}
deploy cat cat
deploy wc wc
deploy resizer resizer
