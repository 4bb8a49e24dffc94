#!/usr/bin/env bash
# Rejects forbidden include edges between components (CONVENTIONS C1, like Kubernetes'
# .import-restrictions). Each rule: a folder, and the include prefixes it may use besides its
# own folder. Only cmd/ may include everything.
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A ALLOWED=(
  [src/base]="base/"
  [src/store]="base/ store/"
  [src/api]="base/ api/"
  [src/client]="base/ api/ client/ apiserver/http.h"
  [src/apiserver]="base/ api/ store/ apiserver/"
  [src/controllers]="base/ api/ client/ controllers/"
  [src/scheduler]="base/ api/ client/ scheduler/"
  [src/kubelet]="base/ api/ client/ kubelet/ runtime/ network/"
  [src/runtime]="base/ runtime/"
  [src/network]="base/ api/ client/ network/"
  [src/simnodes]="base/ api/ client/ simnodes/"
)
fail=0
for dir in "${!ALLOWED[@]}"; do
  [ -d "$dir" ] || continue
  while IFS= read -r line; do
    file=${line%%:*}
    inc=$(sed -E 's/.*#include "([^"]+)".*/\1/' <<<"$line")
    # Tests and test fixtures (testing/ folders) may assemble real components from anywhere.
    [[ "$file" == *_test.cc || "$file" == */testing/* ]] && continue
    # Includes relative to the file's own folder (no slash) are local.
    [[ "$inc" != */* ]] && continue
    ok=0
    for prefix in ${ALLOWED[$dir]}; do
      [[ "$inc" == "$prefix"* ]] && ok=1 && break
    done
    if ((!ok)); then
      echo "forbidden include: $file includes \"$inc\" ($dir may include only: ${ALLOWED[$dir]})"
      fail=1
    fi
  done < <(grep -rn --include='*.h' --include='*.cc' -E '^#include "' "$dir" | sed -E 's/^([^:]+):[0-9]+:/\1:/')
done
if ((fail)); then exit 1; fi
echo "import restrictions: ok"
