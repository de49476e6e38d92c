#!/usr/bin/env bash
# Makes a Docker Engine with gVisor available on a Debian machine: installs
# docker.io if dockerd is missing and runsc if gVisor is missing, registers
# runsc as the engine's runtime `runsc` in its daemon.json (merged into what
# is there), starts dockerd if nothing answers, and makes a running dockerd
# take the runtime with SIGHUP (it reloads `runtimes` without a restart; a
# dockerd this script did not start is never restarted). Waits until the
# engine answers. Safe to run again; prints one line per thing it did.
#
# DOCKER_DAEMON_JSON (default /etc/docker/daemon.json) is the file merged
# into. Pointed at any other file, only that file is written: nothing is
# installed, started or signalled.
#
# Logs of a dockerd it starts go to /var/log/faas-dockerd.log.
set -euo pipefail

engine_json=/etc/docker/daemon.json
daemon_json=${DOCKER_DAEMON_JSON:-$engine_json}
runsc_path=/usr/bin/runsc

# Why these arguments. With gVisor's own network stack (its default,
# `--network=sandbox`) every container fails to start on kernels like this
# machine's: "cannot run with network enabled in root network namespace".
# gVisor decides that it is in the machine's root network namespace when
# /proc/sys/net/core/rmem_default exists, and recent kernels show that file
# in every network namespace (`unshare -n ls /proc/sys/net/core/rmem_default`),
# `docker run --network none` included. With `--network=host` the sandbox
# skips that check and hands socket system calls to the host kernel, inside
# the container's own network namespace (a container still gets its bridge
# address, and `--network none` still has no network); files, processes,
# memory and every other system call stay in gVisor's kernel.
# `--platform=ptrace` because the KVM platform does not start a sandbox on
# this kind of machine (its sandbox spins on a CPU at create, for minutes).
runsc_args='["--platform=ptrace", "--network=host"]'

say() { echo "docker-engine: $*"; }

# Sets $version when the engine answers.
answers() { version=$(docker version --format '{{.Server.Version}}' 2>/dev/null); }

# The daemon.json logic, in Python (python3-minimal is Debian's own):
# `merge FILE` registers runsc in FILE, keeping every other key and runtime,
# and prints what it changed; `check JSON` fails unless runsc is among the
# runtimes JSON (`docker info`'s). A runsc entry that already has
# `--network=host` is kept as it is (so an operator's extra arguments, like
# `--host-uds=open` on a Swarm node, stay); any other is replaced.
runtime_json() {
  python3 - "$runsc_path" "$runsc_args" "$@" <<'PY'
import json, os, sys

runsc, args, mode = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
want = {"path": runsc, "runtimeArgs": args}

def works(entry):
    return isinstance(entry, dict) and "--network=host" in (entry.get("runtimeArgs") or [])

if mode == "check":
    try:
        sys.exit(0 if works(json.loads(sys.argv[4]).get("runsc")) else 1)
    except (ValueError, AttributeError):
        sys.exit(1)

path = sys.argv[4]
try:
    with open(path) as f:
        text = f.read()
except FileNotFoundError:
    text = ""
try:
    config = json.loads(text) if text.strip() else {}
except ValueError as err:
    sys.exit(f"docker-engine: {path} is not JSON ({err}); left as it is")
if not isinstance(config, dict) or not isinstance(config.get("runtimes", {}), dict):
    sys.exit(f"docker-engine: {path} is not a daemon.json with a runtimes object; left as it is")
runtimes = config.setdefault("runtimes", {})
before = runtimes.get("runsc")
if works(before):
    sys.exit(0)
runtimes["runsc"] = want
tmp = path + ".faas-tmp"
with open(tmp, "w") as f:
    json.dump(config, f, indent=2)
    f.write("\n")
os.replace(tmp, path)
was = "" if before is None else f" (was {json.dumps(before)})"
print(f"docker-engine: registered runtime runsc {json.dumps(want)} in {path}{was}")
PY
}

register_runsc() {
  mkdir -p "$(dirname "$daemon_json")"
  runtime_json merge "$daemon_json"
}

# The runtimes the engine has, as JSON.
runtimes() { docker info --format '{{json .Runtimes}}' 2>/dev/null; }

# True when the engine has a runsc that works here.
engine_has_runsc() { runtime_json check "$(runtimes)"; }

install() {
  say "installing $*"
  export DEBIAN_FRONTEND=noninteractive
  [ -n "${apt_updated:-}" ] || { apt-get update -qq; apt_updated=1; }
  apt-get install -y -qq "$@" >/dev/null
}

if [ "$daemon_json" != "$engine_json" ]; then
  register_runsc
  exit 0
fi

command -v python3 >/dev/null 2>&1 || install python3-minimal
command -v dockerd >/dev/null 2>&1 || install docker.io
[ -x "$runsc_path" ] || install runsc
register_runsc

if answers; then
  if ! engine_has_runsc; then
    # The engine's own pid file: other dockerds (a test swarm's nodes) may run too.
    pid=$(cat /var/run/docker.pid 2>/dev/null) || true
    [ -n "$pid" ] && [ -d "/proc/$pid" ] || {
      say "the engine answers but has no pid file at /var/run/docker.pid; send its dockerd SIGHUP to load runsc" >&2
      exit 1
    }
    kill -HUP "$pid"
    for _ in $(seq 1 50); do
      engine_has_runsc && break
      sleep 0.1
    done
    engine_has_runsc || {
      say "dockerd ($pid) did not take runsc on SIGHUP; is $daemon_json its configuration file?" >&2
      exit 1
    }
    say "dockerd ($pid) reloaded $daemon_json (SIGHUP): runtimes $(runtimes)"
  fi
  say "the engine answers ($version)"
  exit 0
fi

say "starting dockerd"
# Debian's docker.io ships its own containerd and runc; dockerd starts it.
nohup dockerd >/var/log/faas-dockerd.log 2>&1 &

for _ in $(seq 1 120); do
  if answers; then
    engine_has_runsc || { say "dockerd started without runsc; see /var/log/faas-dockerd.log" >&2; exit 1; }
    say "the engine answers ($version)"
    exit 0
  fi
  sleep 0.5
done
say "dockerd did not answer within 60 s; see /var/log/faas-dockerd.log" >&2
tail -n 20 /var/log/faas-dockerd.log >&2 || true
exit 1
