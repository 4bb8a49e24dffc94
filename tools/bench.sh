#!/usr/bin/env bash
# Builds and runs every benchmark; prints one line per figure (ratios against baselines
# measured in the same run where a baseline exists).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build.sh
for b in store_bench apiserver_bench; do
  if [ -x "build/bench/$b" ]; then
    echo "== $b"
    "build/bench/$b" "$@"
  fi
done
