#!/usr/bin/env bash
# Fetches the official ONNX Runtime CPU shared library from the `onnxruntime` wheel on PyPI
# (pinned version and SHA-256) and unpacks it under .ort/lib. Idempotent. A user's own
# build (e.g. one with the CUDA execution provider) is used instead when ORT_LIB is set.
set -euo pipefail

ORT_VERSION=1.24.1
WHEEL=onnxruntime-${ORT_VERSION}-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl
WHEEL_SHA256=1cabe71ca14dcfbf812d312aab0a704507ac909c137ee6e89e4908755d0fc60e

root=$(cd "$(dirname "$0")/.." && pwd)
dest=$root/.ort
lib=$dest/lib/libonnxruntime.so.$ORT_VERSION

# A user's own library (ORT_LIB pointing elsewhere than the pinned copy) is used as it is.
if [ -n "${ORT_LIB:-}" ] && [ "$ORT_LIB" != "$lib" ]; then
  [ -f "$ORT_LIB" ] || { echo "fetch-ort: ORT_LIB=$ORT_LIB does not exist" >&2; exit 1; }
  exit 0
fi
[ -f "$lib" ] && exit 0

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) echo "fetch-ort: no pinned ONNX Runtime build for $(uname -s)-$(uname -m); set ORT_LIB to your libonnxruntime" >&2; exit 1 ;;
esac

py=$(command -v python3 || true)
[ -n "$py" ] || { echo "fetch-ort: python3 (with pip) is needed to download the onnxruntime wheel" >&2; exit 1; }

mkdir -p "$dest/dl" "$dest/lib"
if [ ! -f "$dest/dl/$WHEEL" ]; then
  "$py" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --python-version 3.11 --implementation cp --abi cp311 \
    --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64 \
    -d "$dest/dl" "onnxruntime==$ORT_VERSION"
fi
echo "$WHEEL_SHA256  $dest/dl/$WHEEL" | sha256sum -c --quiet - || {
  echo "fetch-ort: SHA-256 mismatch for $WHEEL" >&2; rm -f "$dest/dl/$WHEEL"; exit 1; }

"$py" - "$dest/dl/$WHEEL" "$dest/lib" "$ORT_VERSION" <<'PY'
import sys, zipfile, os
wheel, out, ver = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for name in ("libonnxruntime.so." + ver, "libonnxruntime_providers_shared.so"):
        data = z.read("onnxruntime/capi/" + name)
        tmp = os.path.join(out, name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o755)
        os.replace(tmp, os.path.join(out, name))
PY
ln -sf "libonnxruntime.so.$ORT_VERSION" "$dest/lib/libonnxruntime.so"
echo "fetch-ort: ONNX Runtime $ORT_VERSION in $dest/lib"
