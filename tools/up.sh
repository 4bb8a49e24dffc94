#!/usr/bin/env bash
# Installs dependencies, builds tug and starts a one-node cluster on the embedded store.
# Data dir: $TUG_DATA_DIR (default /var/lib/tug). Stop with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
bash tools/build.sh --target tug
DATA_DIR=${TUG_DATA_DIR:-/var/lib/tug}
mkdir -p "$DATA_DIR"
echo "tug: starting the cluster; in another shell run:"
echo "    export KUBECONFIG=$DATA_DIR/admin.kubeconfig"
echo "    kubectl get namespaces"
exec ./build/tug server --data-dir "$DATA_DIR" "$@"
