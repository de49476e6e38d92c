#!/usr/bin/env bash
# Makes a Docker Engine available on a Debian machine: installs docker.io if
# dockerd is missing, starts dockerd if nothing answers, and waits until the
# engine answers. Safe to run again. Logs of a dockerd it starts go to
# /var/log/faas-dockerd.log.
set -euo pipefail

# Sets $version when the engine answers.
answers() { version=$(docker version --format '{{.Server.Version}}' 2>/dev/null); }

if answers; then
  echo "docker-engine: the engine answers ($version)"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  echo "docker-engine: installing docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi

if ! answers; then
  echo "docker-engine: starting dockerd"
  # Debian's docker.io ships its own containerd and runc; dockerd starts it.
  nohup dockerd >/var/log/faas-dockerd.log 2>&1 &
fi

for _ in $(seq 1 120); do
  if answers; then
    echo "docker-engine: the engine answers ($version)"
    exit 0
  fi
  sleep 0.5
done
echo "docker-engine: dockerd did not answer within 60 s; see /var/log/faas-dockerd.log" >&2
tail -n 20 /var/log/faas-dockerd.log >&2 || true
exit 1
