#!/usr/bin/env bash
# Test images without internet: builds OCI images from Debian's busybox-static (busybox and
# its applet links, /etc/passwd and /etc/group with root and nobody), starts a local registry
# (tools/registry.sh), pushes them as docker.io/library/busybox:latest and :1.36, and points
# tug's registry mirror for docker.io at it, so `image: busybox` resolves there.
#
#   tools/test-images.sh [--data-dir D]... [--port P] [--dir DIR] [--archive FILE] [--no-registry]
#
#   --data-dir D     write D/registries.yaml (docker.io -> the local registry); repeatable
#   --port P         registry port (default $TUG_REGISTRY_PORT or 5000)
#   --dir DIR        registry and image build directory (default $TUG_REGISTRY_DIR or /tmp/tug-registry)
#   --archive FILE   also write a `docker save`-style tarball of busybox:latest (for
#                    `tug images import` on an air-gapped node)
#   --no-registry    build the images (and --archive) only
#
# Idempotent: the image is rebuilt only when busybox or this script changed; a running
# registry is reused; pushing again is cheap.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${TUG_REGISTRY_DIR:-/tmp/tug-registry}
PORT=${TUG_REGISTRY_PORT:-}
DATA_DIRS=()
ARCHIVE=
REGISTRY=1
while [ $# -gt 0 ]; do
  case "$1" in
    --data-dir) DATA_DIRS+=("$2"); shift 2 ;;
    --data-dir=*) DATA_DIRS+=("${1#*=}"); shift ;;
    --port) PORT=$2; shift 2 ;;
    --port=*) PORT=${1#*=}; shift ;;
    --dir) DIR=$2; shift 2 ;;
    --dir=*) DIR=${1#*=}; shift ;;
    --archive) ARCHIVE=$2; shift 2 ;;
    --archive=*) ARCHIVE=${1#*=}; shift ;;
    --no-registry) REGISTRY=0; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test-images.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done
PORT=${PORT:-5000}
for tool in umoci skopeo; do
  command -v "$tool" >/dev/null || { echo "test-images.sh: $tool is not installed (apt-get install $tool)" >&2; exit 1; }
done
BUSYBOX=${TUG_BUSYBOX:-/bin/busybox}
if ! "$BUSYBOX" --list-full >/dev/null 2>&1 || ldd "$BUSYBOX" >/dev/null 2>&1; then
  echo "test-images.sh: $BUSYBOX is not a static busybox (apt-get install busybox-static)" >&2
  exit 1
fi
case "$(uname -m)" in
  x86_64) ARCH=amd64 ;; aarch64) ARCH=arm64 ;; armv7l) ARCH=arm ;; *) ARCH=$(uname -m) ;;
esac

mkdir -p "$DIR"
OCI=$DIR/oci
STAMP_WANT="$(sha256sum "$BUSYBOX" | cut -d' ' -f1) $(sha256sum "$0" | cut -d' ' -f1)"
if [ -f "$OCI/.tug-stamp" ] && [ "$(cat "$OCI/.tug-stamp")" = "$STAMP_WANT" ]; then
  echo "images: busybox OCI layout up to date ($OCI)"
else
  echo "images: building busybox from $BUSYBOX into $OCI"
  rm -rf "$OCI" "$DIR/bundle"
  umoci init --layout "$OCI"
  umoci new --image "$OCI:latest"
  ROOTLESS=()
  [ "$(id -u)" = 0 ] || ROOTLESS=(--rootless)
  umoci unpack "${ROOTLESS[@]}" --image "$OCI:latest" "$DIR/bundle" >/dev/null
  R=$DIR/bundle/rootfs
  mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,etc,root,home,tmp,var/www,proc,sys,dev}
  chmod 1777 "$R/tmp"
  chmod 700 "$R/root"
  install -m 0755 "$BUSYBOX" "$R/bin/busybox"
  "$BUSYBOX" --list-full | while read -r applet; do
    [ "$applet" = "bin/busybox" ] && continue
    mkdir -p "$R/$(dirname "$applet")"
    ln -sf /bin/busybox "$R/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$R/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' >"$R/etc/group"
  umoci repack --image "$OCI:latest" "$DIR/bundle"
  umoci config --image "$OCI:latest" --architecture "$ARCH" --os linux \
    --config.cmd sh --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --author tug-test-images --history.comment "busybox-static from Debian"
  umoci tag --image "$OCI:latest" 1.36
  umoci gc --layout "$OCI"
  rm -rf "$DIR/bundle"
  echo "$STAMP_WANT" >"$OCI/.tug-stamp"
  echo "images: built busybox:latest and busybox:1.36 ($(/bin/busybox | head -1 | cut -d' ' -f1-2))"
fi

if [ -n "$ARCHIVE" ]; then
  rm -f "$ARCHIVE"
  skopeo --insecure-policy copy -q "oci:$OCI:latest" "docker-archive:$ARCHIVE:busybox:latest"
  echo "images: wrote $ARCHIVE (load with: tug images import --data-dir D $ARCHIVE)"
fi

if [ "$REGISTRY" = 1 ]; then
  "$HERE/registry.sh" start --dir "$DIR/registry" --port "$PORT"
  PORT=$(cat "$DIR/registry/port")  # an already running registry keeps its port
  for tag in latest 1.36; do
    skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$OCI:$tag" \
      "docker://127.0.0.1:$PORT/library/busybox:$tag"
    echo "images: pushed 127.0.0.1:$PORT/library/busybox:$tag"
  done
  for d in "${DATA_DIRS[@]}"; do
    mkdir -p "$d"
    cat >"$d/registries.yaml" <<YAML
# Written by tools/test-images.sh: docker.io images come from the local test registry.
mirrors:
  docker.io:
    endpoint:
      - "http://127.0.0.1:$PORT"
YAML
    echo "images: wrote $d/registries.yaml (docker.io -> http://127.0.0.1:$PORT)"
  done
  echo "images: stop the registry with: tools/registry.sh stop --dir $DIR/registry"
fi
