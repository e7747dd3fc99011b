#!/usr/bin/env bash
# One idempotent setup for `npm test` and `npm run demo` on a fresh Debian/Ubuntu
# machine: system packages (libtorch, the torchvision test oracle, a compiler,
# Chromium for browser tests), npm packages, the native addon, the TypeScript build.
# Each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_pkgs=()
if [ -z "${LIBTORCH:-}" ] && [ ! -f /usr/include/torch/csrc/api/include/torch/torch.h ]; then apt_pkgs+=(libtorch-dev); fi
# Gloo's headers: c10d's ProcessGroupGloo needs them to build data-parallel training (train --nproc).
if [ -z "${LIBTORCH:-}" ] && [ ! -f /usr/include/gloo/algorithm.h ]; then apt_pkgs+=(libgloo-dev); fi
# oneDNN's headers: inference convolutions call it directly (one cached primitive per shape).
if [ -z "${LIBTORCH:-}" ] && [ ! -f /usr/include/dnnl.hpp ]; then apt_pkgs+=(libdnnl-dev); fi
if ! /usr/bin/python3 -c 'import torchvision' >/dev/null 2>&1; then apt_pkgs+=(python3-torchvision); fi
if ! /usr/bin/python3 -c 'import onnx' >/dev/null 2>&1; then apt_pkgs+=(python3-onnx); fi
if ! command -v g++ >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1; then apt_pkgs+=(g++ make python3); fi
if [ "${CXRTUNE_NO_BROWSER:-}" != 1 ] && [ ! -x /usr/bin/chromium ]; then apt_pkgs+=(chromium); fi
# A real PACS for the PACS-link tests (the tests start their own; the system service stays off).
if [ "${CXRTUNE_NO_ORTHANC:-}" != 1 ] && { [ ! -x /usr/sbin/Orthanc ] || [ ! -e /usr/share/orthanc/plugins/libOrthancDicomWeb.so ]; }; then apt_pkgs+=(orthanc orthanc-dicomweb); fi
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  echo "bootstrap: installing ${apt_pkgs[*]} with apt-get" >&2
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  # policy-rc.d 101: packages (orthanc) must not start system services from here.
  policy_rc=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy_rc=/usr/sbin/policy-rc.d
    trap '$sudo rm -f "$policy_rc"' EXIT # removed even if apt-get fails
    printf '#!/bin/sh\nexit 101\n' | $sudo tee $policy_rc >/dev/null
    $sudo chmod +x $policy_rc
  fi
  $sudo apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" >/dev/null
  if [ -n "$policy_rc" ]; then $sudo rm -f "$policy_rc"; fi
fi

# npm ci only when the lockfile changed since the last install.
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f node_modules/.cxrtune-lock ] || [ "$(cat node_modules/.cxrtune-lock)" != "$lock_hash" ]; then
  echo "bootstrap: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > node_modules/.cxrtune-lock
fi

node scripts/build-native.mjs
echo "bootstrap: compiling TypeScript" >&2
node_modules/.bin/tsc -p tsconfig.json
