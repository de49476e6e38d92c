#!/usr/bin/env bash
# Makes a Docker Engine with gVisor available on a Debian machine: installs
# docker.io if dockerd is missing and gVisor's runsc from Debian trixie (see
# below) under /opt/runsc-trixie if that is missing, registers it as the
# engine's runtime `runsc` in its daemon.json (merged into what is there),
# starts dockerd if nothing answers, and makes a running dockerd
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

# Which gVisor. Bookworm's runsc (2022-12-19) breaks a function's outgoing
# calls: with `--network=host` (below) a socket is the host kernel's, which
# the sandbox always opens non-blocking and waits on itself; in that version
# a blocking read() of a TCP socket with nothing received yet returns the
# host's EAGAIN at once instead of waiting, so busybox's wget fails on most
# requests ("error getting response: Resource temporarily unavailable"), as
# does any client that reads its answer with read(). Trixie's (2024-07-29)
# waits. Trixie is another suite of the same archive as the machine's own,
# signed by keys bookworm's debian-archive-keyring has; its runsc is a static
# binary without dependencies. It is fetched with a private apt state (the
# machine's sources, preferences and packages are left as they are) and
# unpacked into a directory of its own; a Debian runsc in /usr/bin stays.
runsc_suite=trixie
runsc_min_version=0.0~20240729
runsc_dir=/opt/runsc-trixie
runsc_path=$runsc_dir/usr/bin/runsc

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
# runtimes JSON (`docker info`'s), at $runsc_path. A runsc entry that already
# has `--network=host` keeps its arguments (so an operator's extra ones, like
# `--host-uds=open` on a Swarm node, stay) and is given $runsc_path; any
# other is replaced.
runtime_json() {
  python3 - "$runsc_path" "$runsc_args" "$@" <<'PY'
import json, os, sys

runsc, args, mode = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
want = {"path": runsc, "runtimeArgs": args}

def networked(entry):
    return isinstance(entry, dict) and "--network=host" in (entry.get("runtimeArgs") or [])

def works(entry):
    return networked(entry) and entry.get("path") == runsc

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
if networked(before):
    want = dict(before, path=runsc)
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

apt_update() {
  [ -n "${apt_updated:-}" ] || { apt-get update -qq; apt_updated=1; }
}

install() {
  say "installing $*"
  export DEBIAN_FRONTEND=noninteractive
  apt_update
  apt-get install -y -qq "$@" >/dev/null
}

# The address of the machine's own Debian archive, as its apt sources name it.
debian_archive() {
  local codename
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  # shellcheck disable=SC2016
  apt-get indextargets --format '$(REPO_URI)' 'Identifier: Packages' 'Origin: Debian' \
    "Codename: $codename" 'Component: main' 2>/dev/null | head -n 1
}

# Fetches runsc from Debian $runsc_suite and unpacks it into $runsc_dir.
install_runsc() {
  say "installing runsc from Debian $runsc_suite into $runsc_dir"
  local archive tmp deb version
  archive=$(debian_archive)
  [ -n "$archive" ] || { apt_update; archive=$(debian_archive); }
  [ -n "$archive" ] || { say "no Debian archive among the machine's apt sources" >&2; exit 1; }
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  mkdir -p "$tmp/sources" "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/deb"
  printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' \
    "$archive" "$runsc_suite" /usr/share/keyrings/debian-archive-keyring.gpg \
    >"$tmp/sources/$runsc_suite.sources"
  local apt=(-qq -o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$tmp/sources"
    -o Dir::Etc::Preferences=/dev/null -o "Dir::Etc::PreferencesParts=$tmp/sources"
    -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache" -o APT::Sandbox::User=root)
  apt-get "${apt[@]}" update
  (cd "$tmp/deb" && apt-get "${apt[@]}" download "runsc/$runsc_suite")
  deb=$(echo "$tmp"/deb/runsc_*.deb)
  version=$(dpkg-deb -f "$deb" Version)
  dpkg --compare-versions "$version" ge "$runsc_min_version" || {
    say "Debian $runsc_suite has runsc $version, older than $runsc_min_version" >&2
    exit 1
  }
  rm -rf "$runsc_dir.new"
  dpkg-deb -x "$deb" "$runsc_dir.new"
  "$runsc_dir.new/usr/bin/runsc" --version >/dev/null
  rm -rf "$runsc_dir"
  mv "$runsc_dir.new" "$runsc_dir"
  rm -rf "$tmp"
  trap - EXIT
  say "installed runsc $version at $runsc_path"
}

if [ "$daemon_json" != "$engine_json" ]; then
  register_runsc
  exit 0
fi

command -v python3 >/dev/null 2>&1 || install python3-minimal
command -v dockerd >/dev/null 2>&1 || install docker.io
[ -x "$runsc_path" ] || install_runsc
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
