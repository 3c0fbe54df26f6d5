#!/usr/bin/env bash
# Builds the libFuzzer targets of the parm core (clang, -DPARM_FUZZ=ON: ASan + UBSan + coverage)
# into build-fuzz/ and runs each one for a fixed time, starting from the seed corpus in
# native/fuzz/corpus/<target>/ (committed) plus what earlier runs here found
# (build-fuzz/corpus/<target>/, not committed). A crash, a failed check, a leak or an input that
# runs longer than --timeout seconds fails the target; libFuzzer writes the input to
# build-fuzz/artifacts/ and this script prints the command that replays it.
#
#   native/fuzz/run.sh [--seconds N] [--timeout S] [--target NAME]... [--build-only] [--seeds-only]
#   npm run fuzz -- --seconds 600          # the longer run
#
# --seconds: per target (default 60). --seeds-only: replay the seed corpus once, no fuzzing.
# Ends with one line "fuzz: N passed, M failed" (.ci/run counts it); exit 0 only if none failed.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2

seconds=60 timeout=10 build_only=0 seeds_only=0 targets=()
all_targets=(encode_sum encode_concat decode scan_copy)
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --target) targets+=("$2"); shift 2 ;;
    --build-only) build_only=1; shift ;;
    --seeds-only) seeds_only=1; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "fuzz: unknown option $1 (see --help)"; exit 2 ;;
  esac
done
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  [[ " ${all_targets[*]} " == *" $t "* ]] || { echo "fuzz: unknown target $t (one of: ${all_targets[*]})"; exit 2; }
done

CXX=${PARM_FUZZ_CXX:-clang++}
command -v "$CXX" >/dev/null || { echo "fuzz: $CXX not found (apt-get install clang libclang-rt-14-dev)"; exit 2; }
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f build-fuzz/CMakeCache.txt ]; then
  cmake -S . -B build-fuzz "${generator[@]}" -DPARM_FUZZ=ON -DCMAKE_CXX_COMPILER="$CXX" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >build-fuzz.configure.log 2>&1 \
    || { tail -20 build-fuzz.configure.log; echo "fuzz: configure failed"; exit 2; }
  rm -f build-fuzz.configure.log
fi
start=$(date +%s)
if ! cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/#/fuzz_}" >build-fuzz/build.log 2>&1; then
  tail -30 build-fuzz/build.log; echo "fuzz: build failed"; exit 2
fi
echo "fuzz: built ${targets[*]} in $(( $(date +%s) - start )) s"
[ "$build_only" -eq 1 ] && exit 0

passed=0 failed=0
for t in "${targets[@]}"; do
  bin=build-fuzz/fuzz_$t seeds=native/fuzz/corpus/$t work=build-fuzz/corpus/$t art=build-fuzz/artifacts/$t
  mkdir -p "$work" "$art" "$seeds"
  log=build-fuzz/fuzz_$t.log
  # ASan's leak check runs at exit; UBSan findings abort (-fno-sanitize-recover=all).
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
  if [ "$seeds_only" -eq 1 ]; then
    "$bin" -runs=0 -timeout="$timeout" "$seeds" >"$log" 2>&1
  else
    # New inputs go to the first folder (work); the seeds are read, never written.
    "$bin" -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$art/" "$work" "$seeds" >"$log" 2>&1
  fi
  rc=$?
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || true)
  [ -z "$runs" ] && runs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || true)
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1))
    echo "fuzz: ok - fuzz_$t (${runs:-?} runs, coverage ${cov:-?} edges, corpus $(ls "$work" | wc -l) + $(ls "$seeds" | wc -l) seeds)"
  else
    failed=$((failed + 1))
    grep -E 'ERROR|parm fuzz check failed|SUMMARY|Test unit written|timeout' "$log" | head -8
    artifact=$(grep -oE 'Test unit written to [^ ]+' "$log" | tail -1 | sed 's/Test unit written to //')
    echo "fuzz: FAILED - fuzz_$t (exit $rc; log $log)${artifact:+; replay: $bin $artifact}"
  fi
done
echo "fuzz: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
