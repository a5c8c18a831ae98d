#!/usr/bin/env bash
# Installs what FedSim needs from Debian, only when missing (idempotent).
#   libsodium-dev  — CSPRNG now; secure aggregation crypto (X25519, Ed25519, ChaCha20) later
#   pkg-config     — how SwiftPM finds libsodium
#   openmpi-bin    — mpirun, one of the cluster launchers
set -euo pipefail
missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
# mpirun: `fedsim run --hosts` / runtime.cluster.launcher: mpirun, and its test (docs/cluster.md)
command -v mpirun >/dev/null 2>&1 || missing+=(openmpi-bin)
if ! pkg-config --exists libsodium 2>/dev/null; then missing+=(libsodium-dev); fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: libsodium $(pkg-config --modversion libsodium), pkg-config and mpirun present"
  exit 0
fi
echo "setup: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "setup: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
pkg-config --exists libsodium || { echo "setup: libsodium still not found by pkg-config" >&2; exit 1; }
echo "setup: libsodium $(pkg-config --modversion libsodium) installed"
