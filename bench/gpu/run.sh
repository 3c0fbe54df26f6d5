#!/usr/bin/env bash
# GPU check for parm's coding kernels, prepared for an H200 host with CUDA 13 and no network:
# builds the CUDA addon and the CUDA ctest suite, checks the addon loads and sees the device,
# runs test/gpu (tap) and the GPU benchmark, and prints a table. Run from anywhere:
#   bench/gpu/run.sh                 # uses `node` from PATH
#   PARM_NODE_TARBALL=/path/node-v20.x-linux-x64.tar.xz bench/gpu/run.sh   # no node installed
# Needs the repository with node_modules/ installed (node-addon-api, cmake-js, typescript, tap),
# cmake, a C++17 compiler and nvcc (PATH, $CUDACXX or /usr/local/cuda/bin). Results and logs go to
# ${PARM_GPU_OUT:-build-gpu-report}/. Exit status: 0 all ran and passed, 3 no CUDA device found
# (after the compile-and-load check), anything else a failure.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
OUT=${PARM_GPU_OUT:-$ROOT/build-gpu-report}
mkdir -p "$OUT"
say() { printf '\n== %s\n' "$*"; }
fail() { printf '\nFAILED: %s\n' "$*"; exit 1; }

say "node"
if ! command -v node >/dev/null 2>&1; then
  tarball=${PARM_NODE_TARBALL:-$(ls "$ROOT"/node-v*-linux-x64.tar.* 2>/dev/null | head -n1)}
  [ -n "$tarball" ] && [ -f "$tarball" ] || fail "no node on PATH; set PARM_NODE_TARBALL to a node-v20-linux-x64 tarball"
  mkdir -p "$ROOT/build-gpu-node"
  tar -xf "$tarball" -C "$ROOT/build-gpu-node" --strip-components=1 || fail "cannot unpack $tarball"
  export PATH="$ROOT/build-gpu-node/bin:$PATH"
fi
node --version
[ -d node_modules/cmake-js ] && [ -d node_modules/node-addon-api ] || fail "node_modules/ missing (copy an installed checkout)"

say "CUDA toolchain"
if [ -z "${CUDACXX:-}" ] && ! command -v nvcc >/dev/null 2>&1; then
  for d in /usr/local/cuda/bin /usr/local/cuda-13*/bin; do [ -x "$d/nvcc" ] && export PATH="$d:$PATH" && break; done
fi
${CUDACXX:-nvcc} --version | tail -n2 || fail "nvcc not found"
device="none"
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >"$OUT/nvidia-smi.txt" 2>&1; then
  device=$(head -n1 "$OUT/nvidia-smi.txt")
fi
echo "device (nvidia-smi): $device"

say "build: CUDA addon (build-cuda/) and CUDA ctest suite (build-cuda-test/)"
node node_modules/cmake-js/bin/cmake-js compile --CDPARM_CUDA=ON --CDPARM_BUILD_TESTS=OFF -O build-cuda \
  >"$OUT/build-addon.log" 2>&1 || { tail -n 30 "$OUT/build-addon.log"; fail "CUDA addon build"; }
{ cmake -S . -B build-cuda-test -DPARM_CUDA=ON -DPARM_BUILD_TESTS=ON && cmake --build build-cuda-test -j"$(nproc)"; } \
  >"$OUT/build-ctest.log" 2>&1 || { tail -n 30 "$OUT/build-ctest.log"; fail "CUDA ctest build"; }
echo "ok"

say "load check"
export PARM_ADDON=$ROOT/build-cuda/Release/parm.node
node -e "const c=require(process.env.PARM_ADDON).capabilities(); console.log(JSON.stringify(c.cuda)); process.exit(c.cuda.compiled?0:1)" \
  | tee "$OUT/capabilities.json" || fail "the CUDA addon did not load or was built without CUDA"
available=$(node -e "process.stdout.write(String(require(process.env.PARM_ADDON).capabilities().cuda.available))")

say "ctest (CPU cases + CUDA cases when a device is present)"
ctest --test-dir build-cuda-test -V >"$OUT/ctest.log" 2>&1; ctest_rc=$?
grep -E "^[0-9]+: (cuda|[0-9]+ checks)|tests passed" "$OUT/ctest.log" || true
[ $ctest_rc -eq 0 ] || { tail -n 40 "$OUT/ctest.log"; fail "ctest"; }

if [ "$available" != "true" ]; then
  reason=$(node -e "process.stdout.write(require(process.env.PARM_ADDON).capabilities().cuda.reason)")
  printf '\n*** NO CUDA DEVICE FOUND: %s\n*** The CUDA build compiled, linked and loaded; GPU tests and the GPU benchmark were NOT run.\n' "$reason"
  exit 3
fi

say "TypeScript build"
# tsc emits even with type errors elsewhere in the tree; only a missing benchmark is fatal.
node node_modules/typescript/bin/tsc -p tsconfig.build.json >"$OUT/tsc.log" 2>&1 || echo "warning: tsc reported errors (see $OUT/tsc.log)"
[ -f dist/bench/codec.bench.js ] || fail "tsc did not produce dist/bench/codec.bench.js"

say "GPU tests (test/gpu)"
node node_modules/tap/dist/esm/run.mjs test/gpu >"$OUT/tap-gpu.log" 2>&1; tap_rc=$?
tail -n 5 "$OUT/tap-gpu.log"
[ $tap_rc -eq 0 ] || fail "test/gpu (see $OUT/tap-gpu.log)"

say "GPU benchmark"
node dist/bench/codec.bench.js --gpu --json >"$OUT/bench-gpu.json" 2>"$OUT/bench-gpu.log" || { tail -n 20 "$OUT/bench-gpu.log"; fail "GPU benchmark"; }
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
console.log("GPU:", r.machine.cuda.deviceName);
const rows = r.results.map(x => [x.op, x.impl, x.size, x.k, (x.seconds_median*1e6).toFixed(1), x.gbps.toFixed(1), x.ratio_to_memcpy.toFixed(2)]);
const head = ["op","impl","size","k","median_us","GB/s","x_copy"];
const w = head.map((h,i) => Math.max(h.length, ...rows.map(r => String(r[i]).length)));
for (const row of [head, ...rows]) console.log(row.map((c,i) => String(c).padEnd(w[i])).join("  "));
' "$OUT/bench-gpu.json" | tee "$OUT/bench-gpu.txt"
echo
echo "all GPU checks passed; report in $OUT/"
