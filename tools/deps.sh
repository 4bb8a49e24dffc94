#!/usr/bin/env bash
# Installs everything tug needs to build, run and test on Debian 12. Idempotent: packages
# already present are left alone and apt is only asked when one is missing.
set -euo pipefail
PKGS=(
  build-essential cmake ninja-build pkg-config ccache git
  libboost-dev libssl-dev openssl nlohmann-json3-dev libyaml-cpp-dev libsqlite3-dev sqlite3 zlib1g-dev libzstd-dev
  libcurl4-openssl-dev libarchive-dev libjemalloc-dev
  busybox-static umoci skopeo docker-registry
  libgtest-dev libgmock-dev libbenchmark-dev
  runc conmon containernetworking-plugins iptables util-linux
  kubectl curl procps iproute2
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "tug: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# kubectl 1.20 for the compatibility tests (legacy discovery, OpenAPI v2 protobuf validation):
# Debian's kubernetes-client, unpacked next to, not installed over, the current kubectl.
KUBECTL_120=/opt/tug/kubectl-1.20/kubectl
if [ ! -x "$KUBECTL_120" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && chmod 755 . && { apt-get download -qq kubernetes-client 2>/dev/null ||
    { apt-get update -qq && apt-get download -qq kubernetes-client; }; })
  dpkg-deb -x "$tmp"/kubernetes-client_*.deb "$tmp/x"
  install -D -m 0755 "$tmp/x/usr/bin/kubectl" "$KUBECTL_120"
  rm -rf "$tmp"
  echo "tug: kubectl 1.20 unpacked to $KUBECTL_120" >&2
fi
