#!/usr/bin/env bash
# Benchmark of the Swarm deployment, same run:
#   baseline: the sample image's fwatchdog alone (fprocess=cat), port published
#   faas:     sync `cat` calls through the stack's gateway to a 1-replica
#             service (16 connections, 10 s), then the time from 0 replicas
#             to the first answer.
# Needs the images (scripts/build-images.sh); initialises a swarm if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${SECONDS_PER_RUN:-10}
stack=faas-bench
password=bench-password

scripts/docker-engine.sh >/dev/null
cargo build --quiet --release -p faas-tests --bin load
[ "$(docker info --format '{{.Swarm.LocalNodeState}}')" = active ] || docker swarm init --advertise-addr 127.0.0.1 >/dev/null
# The ports the engine published a container's 8080 on (asked for as 0).
published() { docker port "$1" 8080/tcp 2>/dev/null | head -n 1 | sed 's/.*://'; }
cleanup() {
  docker service rm scat cat echo wc resizer >/dev/null 2>&1 || true
  docker stack rm "$stack" >/dev/null 2>&1 || true
  docker rm -f faas-bench-watchdog >/dev/null 2>&1 || true
}
trap cleanup EXIT
docker stack rm "$stack" >/dev/null 2>&1 || true
docker service rm scat cat echo wc resizer >/dev/null 2>&1 || true
# A fresh gateway: no functions from an earlier run.
for _ in $(seq 60); do
  docker volume rm "${stack}_gateway-data" >/dev/null 2>&1 && break
  docker volume ls -q | grep -qx "${stack}_gateway-data" || break
  sleep 0.5
done
docker network rm faas-functions >/dev/null 2>&1 || true
# The stack's functions network is external, made as docs/swarm.md says.
docker network create --driver overlay --attachable faas-functions >/dev/null
docker secret rm faas-basic-auth-password >/dev/null 2>&1 || true
printf '%s' "$password" | docker secret create faas-basic-auth-password - >/dev/null
FAAS_PORT=0 docker stack deploy -c docker-stack.yml "$stack" >/dev/null 2>&1
port=
for _ in $(seq 300); do
  gateway=$(docker ps -q --filter "label=com.docker.swarm.service.name=${stack}_gateway" | head -n 1)
  [ -n "$gateway" ] && port=$(published "$gateway")
  [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.3
done
curl -sf -u "admin:$password" -H 'Content-Type: application/json' "http://127.0.0.1:$port/system/functions" \
  -d '{"service":"scat","image":"faas/sample-cat","envProcess":"cat"}' >/dev/null
for _ in $(seq 300); do
  curl -sf -d x "http://127.0.0.1:$port/function/scat" >/dev/null && break; sleep 0.2
done

docker run -d --name faas-bench-watchdog -p "127.0.0.1::8080" faas/sample-cat >/dev/null
wd_port=$(published faas-bench-watchdog)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$wd_port/_/health" >/dev/null && break; sleep 0.1; done
alone=$(target/release/load --url "http://127.0.0.1:$wd_port/" --connections 16 --duration "$seconds" --json)
docker rm -f faas-bench-watchdog >/dev/null
through=$(target/release/load --url "http://127.0.0.1:$port/function/scat" --connections 16 --duration "$seconds" --json)

curl -sf -u "admin:$password" -H 'Content-Type: application/json' "http://127.0.0.1:$port/system/scale-function/scat" -d '{"serviceName":"scat","replicas":0}' >/dev/null
for _ in $(seq 300); do
  info=$(curl -sf -u "admin:$password" "http://127.0.0.1:$port/system/function/scat")
  if [ -z "$(docker ps -q --filter label=com.docker.swarm.service.name=scat)" ] \
     && [[ "$info" == *'"replicas":0,"availableReplicas":0'* ]]; then
    break
  fi
  sleep 0.2
done
start=$(date +%s.%N)
answer=$(curl -sf -d from-zero "http://127.0.0.1:$port/function/scat")
end=$(date +%s.%N)
[ "$answer" = from-zero ] || { echo "scale from zero failed: $answer" >&2; exit 1; }

python3 - "$alone" "$through" "$start" "$end" <<'PY'
import json, sys
alone, through = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"fwatchdog alone (container, fprocess=cat): {alone['rps']:.0f} req/s, p50 {alone['p50_ms']:.2f} ms, p99 {alone['p99_ms']:.2f} ms")
print(f"stack gateway -> 1 replica: {through['rps']:.0f} req/s, p50 {through['p50_ms']:.2f} ms, p99 {through['p99_ms']:.2f} ms, ok {through['ok']} of {through['requests']}, errors {through['errors']}")
print(f"ratio: {through['rps'] / alone['rps']:.2f}; goal >= 1,000 req/s through the gateway")
print(f"0 replicas to the first answer: {float(sys.argv[4]) - float(sys.argv[3]):.2f} s")
PY
