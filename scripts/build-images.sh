#!/usr/bin/env bash
# Builds the images faas needs, locally (no registry is needed):
#   faas/fwatchdog:latest        just the static watchdog, at /fwatchdog
#   faas/gateway:latest          the static gateway (for docker-stack.yml)
#   faas/sample-<name>:latest    each sample function (sample-functions/README.md)
# Needs a Docker Engine (scripts/docker-engine.sh) and Debian's busybox-static.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! busybox_path=$(command -v busybox) || ! file_is_static=$(LC_ALL=C ldd "$busybox_path" 2>&1) \
   || [[ "$file_is_static" != *"not a dynamic executable"* ]]; then
  if [ ! -x /bin/busybox ] || ! dpkg -s busybox-static >/dev/null 2>&1; then
    echo "build-images: installing busybox-static"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq busybox-static >/dev/null
  fi
  busybox_path=/bin/busybox
fi

wd=$(scripts/build-static.sh)
echo "build-images: building the static gateway"
gw=$(scripts/build-static.sh faas-gateway gateway)
echo "build-images: building the resizer"
CARGO_TARGET_DIR=target/samples RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --quiet --release --target x86_64-unknown-linux-gnu \
  --manifest-path sample-functions/resizer/Cargo.toml
resizer=target/samples/x86_64-unknown-linux-gnu/release/faas-sample-resizer
echo "build-images: building hash"
hash=$(scripts/build-static.sh faas-tests hash)
echo "build-images: building http-echo"
http_echo=$(scripts/build-static.sh faas-tests http-echo)

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT

build() { # tag, context dir, docker build options
  echo "build-images: $1"
  local tag=$1 dir=$2 log
  shift 2
  if ! log=$(DOCKER_BUILDKIT=0 docker build --quiet -t "$tag" "$@" "$dir" 2>&1); then
    echo "$log" >&2
    return 1
  fi
}

mkdir -p "$ctx/fwatchdog"
cp "$wd" "$ctx/fwatchdog/fwatchdog"
printf 'FROM scratch\nCOPY fwatchdog /fwatchdog\nENTRYPOINT ["/fwatchdog"]\n' >"$ctx/fwatchdog/Dockerfile"
build faas/fwatchdog:latest "$ctx/fwatchdog"

mkdir -p "$ctx/gateway"
cp "$gw" "$ctx/gateway/gateway"
printf 'FROM scratch\nCOPY gateway /gateway\nWORKDIR /\nEXPOSE 8080\nENTRYPOINT ["/gateway"]\n' >"$ctx/gateway/Dockerfile"
build faas/gateway:latest "$ctx/gateway"

sample() { # name, its service command (fprocess), its own program if it has one
  local name=$1 fprocess=$2 program=${3:-}
  mkdir -p "$ctx/$name/bin"
  cp sample-functions/Dockerfile "$ctx/$name/"
  cp "$busybox_path" "$ctx/$name/busybox"
  cp "$wd" "$ctx/$name/bin/fwatchdog"
  [ -z "$program" ] || cp "$program" "$ctx/$name/bin/$name"
  build "faas/sample-$name:latest" "$ctx/$name" --build-arg "fprocess=$fprocess"
}
sample cat cat
sample echo "sh -c 'echo \"\$Http_Method \$Http_Path \$Http_Query\"; cat'"
sample wc wc
sample resizer resizer "$resizer"
sample hash hash "$hash"
sample http-echo http-echo "$http_echo"
mkdir -p "$ctx/http" && cp sample-functions/http.Dockerfile "$ctx/http/Dockerfile"
build faas/sample-http-echo:latest "$ctx/http" --build-arg base=faas/sample-http-echo:latest
echo "build-images: done"
