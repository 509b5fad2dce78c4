#!/usr/bin/env bash
# Installs what building and testing scorelens needs, only where it is missing:
# Go modules, the OpenBLAS development library (the trainer's kernels link it through cgo)
# and the ONNX Runtime shared library (scripts/fetch-ort.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

have_openblas() {
  # The header and the linkable library must both be there.
  { [ -f /usr/include/x86_64-linux-gnu/cblas.h ] || [ -f /usr/include/cblas.h ] || \
    [ -f /usr/include/openblas/cblas.h ] || [ -f /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h ]; } &&
  { ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so ' || [ -e /usr/lib/x86_64-linux-gnu/libopenblas.so ]; }
}

if ! have_openblas; then
  echo "deps: installing libopenblas-dev"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libopenblas-dev >/dev/null
fi

go mod download
scripts/fetch-ort.sh
