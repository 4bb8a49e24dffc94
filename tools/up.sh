#!/usr/bin/env bash
# The one-command cluster: installs dependencies, builds tug, builds the test images from
# Debian's busybox-static into a local registry on 127.0.0.1 (so `image: busybox` works with no
# internet), and starts `tug server` — control plane plus the node agent for this machine —
# then prints how to use kubectl. Ctrl-C stops the server (containers keep running; the next
# start adopts them).
#
#   sudo bash tools/up.sh [tug server flags...]      e.g. --port 7443
#
# Environment: TUG_DATA_DIR (default /var/lib/tug), TUG_REGISTRY_DIR (default
# $TUG_DATA_DIR/registry), TUG_REGISTRY_PORT (default: the port used last time, else 5000, else
# the next free one), TUG_SKIP_DEPS=1 (do not check packages), TUG_SKIP_BUILD=1 (use the existing
# binary), BUILD_DIR (default build).
# Idempotent: a second run reuses the packages, the build, the images, the registry and the
# cluster's data; if the cluster is already running it only prints how to use it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD_DIR=${BUILD_DIR:-build}
export BUILD_DIR
DATA_DIR=${TUG_DATA_DIR:-/var/lib/tug}
REG_DIR=${TUG_REGISTRY_DIR:-$DATA_DIR/registry}
KUBECONFIG_PATH=$DATA_DIR/admin.kubeconfig
LOG=$DATA_DIR/tug.log

step() { echo "==> $*"; }

usage_banner() {
  # The API port is the one in admin.kubeconfig's server URL (--port may have changed it).
  local api_port
  api_port=$(awk '$1 == "server:" {n = split($2, a, ":"); print a[n]; exit}' "$KUBECONFIG_PATH" 2>/dev/null)
  cat <<EOF

tug is running (node $(hostname | tr 'A-Z' 'a-z'), data in $DATA_DIR, log $LOG).
In another shell:

    export KUBECONFIG=$KUBECONFIG_PATH
    kubectl get nodes -o wide
    kubectl run b --image=busybox -- sleep 3600
    kubectl get pods -o wide

Images: docker.io (busybox) comes from the local registry http://127.0.0.1:$(cat "$REG_DIR/registry/port" 2>/dev/null)
(mirror config: $DATA_DIR/agent/registries.yaml). Join more machines with:

    tug agent --server https://$(hostname -I 2>/dev/null | awk '{print $1}'):${api_port:-6443} --token \$(sudo cat $DATA_DIR/agent-token)
EOF
}

if [ "$(id -u)" != 0 ]; then
  echo "up.sh: run as root (sudo bash tools/up.sh): the node agent mounts filesystems and runs containers" >&2
  exit 1
fi

if [ "${TUG_SKIP_DEPS:-0}" != 1 ]; then
  step "checking packages (tools/deps.sh)"
  bash tools/deps.sh
fi
if [ "${TUG_SKIP_BUILD:-0}" != 1 ]; then
  step "building tug (tools/build.sh; the first build takes a while)"
  bash tools/build.sh --target tug
fi
case "$BUILD_DIR" in /*) TUG_BIN="$BUILD_DIR/tug" ;; *) TUG_BIN="$ROOT/$BUILD_DIR/tug" ;; esac
[ -x "$TUG_BIN" ] || { echo "up.sh: $TUG_BIN is missing" >&2; exit 1; }
mkdir -p "$DATA_DIR/agent"
chmod 700 "$DATA_DIR"

# The registry port: the one this registry used before, else 5000, else the next free one
# (another registry may already hold 5000 on this machine).
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=${TUG_REGISTRY_PORT:-}
if [ -z "$PORT" ]; then
  if bash tools/registry.sh status --dir "$REG_DIR/registry" >/dev/null 2>&1; then
    PORT=$(cat "$REG_DIR/registry/port")
  else
    PORT=$(cat "$REG_DIR/registry/port" 2>/dev/null || echo 5000)
    while listening "$PORT"; do PORT=$((PORT + 1)); done
  fi
fi
step "test images and local registry (tools/test-images.sh)"
bash tools/test-images.sh --data-dir "$DATA_DIR/agent" --dir "$REG_DIR" --port "$PORT"

# Already running on this data dir? (tug server holds an flock on tug.lock.)
if [ -f "$DATA_DIR/tug.lock" ] && ! flock -n "$DATA_DIR/tug.lock" true; then
  step "tug is already running on $DATA_DIR (pid $(cat "$DATA_DIR/tug.lock" 2>/dev/null))"
  usage_banner
  exit 0
fi

step "starting tug server (log: $LOG)"
"$TUG_BIN" server --data-dir "$DATA_DIR" "$@" >>"$LOG" 2>&1 &
PID=$!
stop() {
  echo
  step "stopping tug (pid $PID); containers keep running and are adopted at the next start"
  kill -TERM "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  exit 0
}
trap stop INT TERM

KC=(kubectl --kubeconfig "$KUBECONFIG_PATH" --request-timeout=5s)
ready=0
for _ in $(seq 1 240); do
  if ! kill -0 "$PID" 2>/dev/null; then
    echo "up.sh: tug server exited; last log lines:" >&2
    tail -20 "$LOG" >&2
    wait "$PID" || exit $?
    exit 1
  fi
  if [ -f "$KUBECONFIG_PATH" ] && "${KC[@]}" get nodes --no-headers 2>/dev/null | awk '$2 == "Ready" {f=1} END {exit !f}'; then
    ready=1
    break
  fi
  sleep 0.5
done
if [ "$ready" != 1 ]; then
  echo "up.sh: the node did not become Ready within 2 minutes; see $LOG" >&2
else
  # Pods need the namespace's default ServiceAccount (the controllers create it).
  for _ in $(seq 1 40); do
    "${KC[@]}" get serviceaccount default >/dev/null 2>&1 && break
    sleep 0.5
  done
  step "cluster ready"
  usage_banner
fi
echo
echo "(Ctrl-C stops the cluster)"
wait "$PID"
