#!/usr/bin/env bash
# GPU check (run on a CUDA machine with a pip `torch` 2.x): builds the addon
# against that libtorch with g++ directly (no node-gyp) and runs scripts/cuda-check.mjs.
# Expects .device/node.xz (a Node 20 binary) and .device/include (N-API headers).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p /tmp/nodebin && xz -dc .device/node.xz > /tmp/nodebin/node && chmod +x /tmp/nodebin/node
export PATH=/tmp/nodebin:$PATH
PY=$(command -v ${PYTHON:-python3})
export LIBTORCH=$($PY -c 'import torch, os; print(os.path.dirname(torch.__file__))')
echo "libtorch: $LIBTORCH ($($PY -c 'import torch; print(torch.__version__, torch.version.cuda)'))"
inc=$(node scripts/torch-config.mjs includes); defs=$(node scripts/torch-config.mjs defines); libs=$(node scripts/torch-config.mjs libs)
mkdir -p native/build/Release
t0=$(date +%s)
objs=()
for f in native/src/*.cc; do
  o=/tmp/$(basename "$f" .cc).o; objs+=("$o")
  g++ -c -fPIC -std=c++17 -O2 -fexceptions -frtti -Wno-deprecated-declarations -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS -DBUILDING_NODE_EXTENSION \
    $(for d in $defs; do echo -D$d; done) -I.device/include -Inode_modules/node-addon-api $(for i in $inc; do echo -I$i; done) "$f" -o "$o" &
done
wait
g++ -shared -o native/build/Release/cxrtune.node "${objs[@]}" $libs
echo "build: $(( $(date +%s) - t0 )) s"
export CXRTUNE_PYTHON=$PY
node scripts/cuda-check.mjs "$@" || status=$?
# The CPU golden and engine tests, compiled, against this libtorch and its torchvision.
if [ "${SKIP_TESTS:-}" != 1 ]; then node --test --test-concurrency=1 dist/test/engine/golden.test.js dist/test/engine/model.test.js; fi
exit ${status:-0}
