#!/usr/bin/env bash
# A Docker Swarm of N nodes (default 2) on this one machine, for the
# multi-node tests and benchmark; the machine's own dockerd and its swarm
# are left alone.
#
#   scripts/swarm-nodes.sh up [N]     # (re)start: N dockerds, node 1 the manager
#   scripts/swarm-nodes.sh env        # the nodes' sockets and addresses, for `.` or eval
#   scripts/swarm-nodes.sh load IMAGE...  # copies images from the machine's engine to every node
#   scripts/swarm-nodes.sh kill I     # node I's dockerd killed (-9); what it started runs on
#   scripts/swarm-nodes.sh lose I     # node I lost, as if powered off: its dockerd and all it ran killed
#   scripts/swarm-nodes.sh down       # removes everything; safe to run again
#
# Node i (1..N) is a dockerd in namespaces of its own:
# - network `faas-node-<i>`: a veth pair to the bridge `faasnodes0`
#   (10.213.0.1/24 on this machine), the node at 10.213.0.(10+i)
#   (10.213.0.11, .12, ...); its own iptables and bridges, so Docker's
#   defaults there; the swarm's overlays from 10.214.0.0/16.
#   Entered with `nsenter --net=/run/netns/<ns>`, not `ip netns exec` (which
#   remounts /sys and leaves the cgroup hierarchy empty);
# - host name (UTS) `faas-node-<i>`, the node's name in the swarm;
# - mounts: the machine's file system, but with /run/faas-node-<i> mounted
#   on /run, so the node's /var/run/docker.sock is its own engine (what a
#   container binding /var/run/docker.sock, like the stack's gateway or the
#   agent, must reach) and its mounts vanish with it.
# Its socket is /run/faas-node-<i>.sock (a link to its /run/docker.sock),
# its data root /var/lib/faas-nodes/node-<i>, exec root
# /run/faas-node-<i>/docker, pid file /run/faas-node-<i>/docker.pid, log
# /var/log/faas-node-<i>.log, cgroup /faas-node-<i> (the daemon, its
# containerd and shims, and its containers: killing a node kills all of it).
#
# Node 1 is the manager, advertising its veth address (a manager advertising
# 127.0.0.1 lets workers join, but cross-node overlay traffic then fails
# silently); the others join as workers. Published ports are reached at the
# node's address (http://10.213.0.11:<port>/). Use a node's engine with
# `docker -H unix:///run/faas-node-1.sock ...`, or DOCKER_HOST from `env`.
#
# `up` copies images from the machine's engine to every node (`docker save`
# | `docker load`): $FAAS_NODES_IMAGES (space-separated), by default every
# local faas/*:latest image. It removes the leftovers of an earlier run first.
# Each node has the runtime `runsc` (gVisor) registered as the machine's
# engine has it, when runsc is installed (scripts/docker-engine.sh installs
# it); `up` says when it is not.
# Needs root, iproute2 (ip), util-linux (nsenter, unshare), iptables and
# dockerd. `FAAS_NODES_NET` (default 10.213.0) picks another /24.
set -euo pipefail

net=${FAAS_NODES_NET:-10.213.0}
[[ "$net" =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || { echo "swarm-nodes: FAAS_NODES_NET must be the first three numbers of an IPv4 /24, like 10.213.0, not '$net'" >&2; exit 1; }
bridge=faasnodes0
# gVisor where scripts/docker-engine.sh installs it (its comments say why
# not Debian bookworm's /usr/bin/runsc).
runsc=/opt/runsc-trixie/usr/bin/runsc
state=/var/lib/faas-nodes
envfile=/run/faas-nodes.env
mark="faas-nodes"
here=$(cd "$(dirname "$0")" && pwd)

# This machine's iptables rules (tagged "$mark", removed by `down`): Docker
# sets the FORWARD policy to DROP and bridged traffic goes through
# iptables, so the nodes are let through to each other; and they reach out
# as this machine does (NAT), so that their name lookups (a registry's)
# fail as fast as here instead of timing out.
rules=(
  "FORWARD -i $bridge -o $bridge -j ACCEPT"
  "FORWARD -i $bridge ! -o $bridge -j ACCEPT"
  "FORWARD -o $bridge -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
  "POSTROUTING -t nat -s $net.0/24 ! -o $bridge -j MASQUERADE"
)

die() { echo "swarm-nodes: $*" >&2; exit 1; }
say() { echo "swarm-nodes: $*" >&2; }

sock() { echo "/run/faas-node-$1.sock"; }
addr() { echo "$net.$((10 + $1))"; }
node_docker() { local i=$1; shift; docker -H "unix://$(sock "$i")" "$@"; }

# The node numbers that left anything behind: namespaces, sockets, pid
# files, data roots, exec roots, cgroups, veths.
leftovers() {
  {
    ls /run/netns 2>/dev/null | sed -n 's/^faas-node-\([0-9]\+\)$/\1/p'
    ls /run 2>/dev/null | sed -n 's/^faas-node-\([0-9]\+\)\(\.sock\)\?$/\1/p'
    ls "$state" 2>/dev/null | sed -n 's/^node-\([0-9]\+\)$/\1/p'
    ls /sys/fs/cgroup/*/ 2>/dev/null | sed -n 's/^faas-node-\([0-9]\+\)$/\1/p'
    ip -o link show 2>/dev/null | sed -n 's/^[0-9]\+: faasnode\([0-9]\+\)@.*/\1/p'
  } | sort -un
}

# The pids in node i's cgroups (every hierarchy, every level).
node_pids() {
  local i=$1 d
  for d in /sys/fs/cgroup/*/faas-node-"$i"; do
    [ -d "$d" ] && find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null
  done | sort -un
}

# Node i's dockerd, from its pid file, if that process is still it.
daemon_pid() {
  local i=$1 pid
  pid=$(cat "/run/faas-node-$i/docker.pid" 2>/dev/null) || return 0
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--data-root $state/node-$i/data" && echo "$pid"
  return 0
}

# Kills node i's dockerd first, then everything left in its cgroups
# (containerd, shims, containers), until nothing is left.
kill_node() {
  local i=$1 pid pids
  pid=$(daemon_pid "$i")
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    pids=$(node_pids "$i")
    [ -z "$pids" ] && return 0
    # shellcheck disable=SC2086
    kill -9 $pids 2>/dev/null || true
    sleep 0.1
  done
  say "node $i: processes left after 10 s: $(node_pids "$i" | tr '\n' ' ')"
}

# Everything of node i: processes, mounts under its roots, namespace and
# veth, files, cgroups.
remove_node() {
  local i=$1 root="$state/node-$i" exec="/run/faas-node-$i"
  kill_node "$i"
  # Mounts under its roots seen from here (the daemon mounts in its own
  # mount namespace, which goes with it; this is for older leftovers).
  awk -v a="$root" -v b="$exec" '
    $5 == a || $5 == b || index($5, a "/") == 1 || index($5, b "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  ip netns del "faas-node-$i" 2>/dev/null || true
  ip link del "faasnode$i" 2>/dev/null || true
  rm -rf "$root" "$exec" "$(sock "$i")"
  local d
  for d in /sys/fs/cgroup/*/faas-node-"$i"; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  return 0
}

down() {
  local i
  for i in $(leftovers); do remove_node "$i"; done
  local rule
  for rule in "${rules[@]}"; do
    # shellcheck disable=SC2086
    while iptables -D $rule -m comment --comment "$mark" 2>/dev/null; do :; done
  done
  ip link del "$bridge" 2>/dev/null || true
  rm -rf "$state" "$envfile"
  for i in $(leftovers); do say "left behind by node $i (see above)"; done
  return 0
}

# The daemon of node i, in its namespaces and cgroups; waits until it answers.
start_node() {
  local i=$1 root="$state/node-$i" exec="/run/faas-node-$i" ns="faas-node-$i" d
  mkdir -p "$root/data" "$exec"
  echo '{}' >"$root/daemon.json"
  # gVisor as on the machine's engine: the runtime `runsc`, registered by
  # the engine script (its comments say why these arguments).
  if [ -x "$runsc" ]; then
    DOCKER_DAEMON_JSON="$root/daemon.json" "$here/docker-engine.sh" >/dev/null
  fi
  ip netns add "$ns"
  ip link add "faasnode$i" type veth peer name eth0 netns "$ns"
  ip link set "faasnode$i" master "$bridge" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$(addr "$i")/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add default via "$net.1"
  # The daemon's cgroup: its children (containerd, shims) inherit it; its
  # containers go under the same parent.
  for d in /sys/fs/cgroup/*/; do
    [ -f "$d/cgroup.procs" ] && mkdir -p "$d/faas-node-$i/daemon"
  done
  ln -sfn "faas-node-$i/docker.sock" "$(sock "$i")"
  # shellcheck disable=SC2016
  setsid sh -c '
    for d in /sys/fs/cgroup/*/faas-node-'"$i"'/daemon; do echo $$ >"$d/cgroup.procs" 2>/dev/null || true; done
    exec nsenter --net=/run/netns/'"$ns"' unshare --uts --mount --propagation private sh -c "
      hostname '"$ns"' && mount --bind '"$exec"' /run && exec dockerd --config-file '"$root"'/daemon.json \
        --data-root '"$root"'/data --exec-root /run/docker --pidfile /run/docker.pid \
        -H unix:///run/docker.sock --cgroup-parent /faas-node-'"$i"' --log-level warn"
  ' </dev/null >"/var/log/faas-node-$i.log" 2>&1 9>&- &
}

wait_node() {
  local i=$1
  for _ in $(seq 300); do
    node_docker "$i" version --format '{{.Server.Version}}' >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  tail -n 20 "/var/log/faas-node-$i.log" >&2 || true
  die "node $i's dockerd did not answer within 30 s (log: /var/log/faas-node-$i.log)"
}

# Copies images from the machine's engine into every node: one `docker
# save`, loaded in parallel.
load_images() {
  [ $# -gt 0 ] || return 0
  local tar pids=() i n
  n=$(cat "$state/nodes" 2>/dev/null) || die "no nodes: run '$0 up' first"
  tar=$(mktemp /tmp/faas-nodes-images.XXXXXX)
  docker save "$@" >"$tar" || { rm -f "$tar"; die "docker save $* failed (are the images built? scripts/build-images.sh)"; }
  for i in $(seq "$n"); do
    node_docker "$i" load -q -i "$tar" >/dev/null &
    pids+=($!)
  done
  local failed=0
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  rm -f "$tar"
  [ "$failed" = 0 ] || die "docker load into a node failed"
}

up() {
  local n=${1:-2} i token
  [[ "$n" =~ ^[1-9][0-9]?$ && "$n" -le 89 ]] || die "the number of nodes must be 1 to 89, not '$n'"
  [ "$(id -u)" = 0 ] || die "needs root (network namespaces, veths, cgroups)"
  local tool
  for tool in ip nsenter unshare iptables dockerd docker; do
    command -v "$tool" >/dev/null || die "$tool is missing (Debian: apt-get install iproute2 util-linux iptables docker.io)"
  done
  docker version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
    die "the machine's engine does not answer (scripts/docker-engine.sh); the images come from it"
  down
  mkdir -p "$state"
  echo "$n" >"$state/nodes"
  ip link add "$bridge" type bridge
  ip addr add "$net.1/24" dev "$bridge"
  ip link set "$bridge" up
  local rule
  for rule in "${rules[@]}"; do
    # shellcheck disable=SC2086
    iptables -I $rule -m comment --comment "$mark"
  done
  [ -x "$runsc" ] || say "runsc is not installed: the nodes have no gVisor (scripts/docker-engine.sh installs it)"
  for i in $(seq "$n"); do start_node "$i"; done
  for i in $(seq "$n"); do wait_node "$i"; done
  node_docker 1 swarm init --advertise-addr "$(addr 1)" --listen-addr "$(addr 1):2377" \
    --default-addr-pool 10.214.0.0/16 >/dev/null
  token=$(node_docker 1 swarm join-token -q worker)
  local joins=()
  for i in $(seq 2 "$n"); do
    node_docker "$i" swarm join --token "$token" --advertise-addr "$(addr "$i")" \
      --listen-addr "$(addr "$i"):2377" "$(addr 1):2377" >/dev/null &
    joins+=($!)
  done
  local images
  if [ -n "${FAAS_NODES_IMAGES+set}" ]; then
    images=$FAAS_NODES_IMAGES
  else
    images=$(docker images --format '{{.Repository}}:{{.Tag}}' --filter 'reference=faas/*:latest' | sort | tr '\n' ' ')
  fi
  # shellcheck disable=SC2086
  load_images $images
  for pid in "${joins[@]}"; do wait "$pid" || die "a node could not join the swarm"; done
  for _ in $(seq 300); do
    [ "$(node_docker 1 node ls --format '{{.Status}}' | grep -c Ready)" = "$n" ] && break
    sleep 0.1
  done
  [ "$(node_docker 1 node ls --format '{{.Status}}' | grep -c Ready)" = "$n" ] ||
    die "only $(node_docker 1 node ls --format '{{.Status}}' | grep -c Ready) of $n nodes are ready"
  {
    echo "FAAS_NODES=$n"
    echo "FAAS_NODES_MANAGER=unix://$(sock 1)"
    for i in $(seq "$n"); do
      echo "FAAS_NODE_${i}_SOCK=$(sock "$i")"
      echo "FAAS_NODE_${i}_ADDR=$(addr "$i")"
      echo "FAAS_NODE_${i}_NAME=faas-node-$i"
      echo "FAAS_NODE_${i}_ID=$(node_docker "$i" info --format '{{.Swarm.NodeID}}')"
    done
  } >"$envfile"
  say "$n nodes up; manager unix://$(sock 1) at $(addr 1)"
}

lock() {
  exec 9>/run/faas-nodes.lock
  flock 9
}

case "${1:-}" in
  up) lock; up "${2:-2}" ;;
  down) lock; down ;;
  env) [ -f "$envfile" ] || die "no nodes: run '$0 up' first"; cat "$envfile" ;;
  load) shift; load_images "$@" ;;
  kill | lose)
    [[ "${2:-}" =~ ^[0-9]+$ ]] || die "usage: $0 $1 I (the node's number)"
    [ -d "$state/node-$2" ] || die "there is no node $2"
    if [ "$1" = lose ]; then
      kill_node "$2"
    else
      pid=$(daemon_pid "$2")
      [ -n "$pid" ] || die "node $2's dockerd is not running"
      kill -9 "$pid"
    fi
    ;;
  *) die "usage: $0 up [N] | down | env | load IMAGE... | kill I | lose I" ;;
esac
