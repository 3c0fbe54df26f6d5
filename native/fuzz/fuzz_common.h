// Helpers shared by the libFuzzer targets of the parm core (native/fuzz/*.cc): the fuzz input
// picks the ISA, the thread count, array views at unaligned offsets and float data (seeded random
// values with special values placed where the input says), and the checks compare against the
// scalar reference bit for bit. A failed check aborts, which libFuzzer reports with the input.
#pragma once

#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "parm/codec.h"

namespace parm_fuzz {

// The harness's own per-element loops (filling inputs, comparing outputs) are left out of the
// coverage instrumentation: they teach the fuzzer nothing and, instrumented, cost more than the
// kernels on long arrays.
#define PARM_FUZZ_HARNESS __attribute__((no_sanitize("coverage")))

[[noreturn]] inline void fail(const char* what, const char* detail = "") {
  std::fprintf(stderr, "parm fuzz check failed: %s %s\n", what, detail);
  std::abort();
}

inline void check(bool ok, const char* what, const char* detail = "") {
  if (!ok) fail(what, detail);
}

// The ISA (among those this CPU has) and the thread count (1..3) the dispatcher uses for this input.
inline parm::isa pick_isa(FuzzedDataProvider& in) {
  std::vector<parm::isa> have;
  for (parm::isa i : {parm::isa::ref, parm::isa::avx2, parm::isa::avx512})
    if (parm::isa_supported(i)) have.push_back(i);
  const parm::isa i = have[in.ConsumeIntegralInRange<std::size_t>(0, have.size() - 1)];
  check(parm::set_isa(i).ok(), "set_isa of a supported ISA");
  return i;
}

// Below this many floats touched the dispatcher never uses the pool (codec.cc; the fuzz build
// lowers it to 8192), so the thread count only matters above it; resizing the pool costs thread
// creation, so it is left alone below.
#ifndef PARM_PARALLEL_MIN_FLOATS
#error "the fuzz targets are built with PARM_PARALLEL_MIN_FLOATS (CMake option PARM_FUZZ)"
#endif
constexpr std::size_t kSplitFloats = PARM_PARALLEL_MIN_FLOATS;

// The pool size (1..3) changes on one input in eight only: resizing starts and joins threads, which
// under ASan costs more than most runs.
inline void pick_threads(FuzzedDataProvider& in, std::size_t floats_touched) {
  if (in.ConsumeIntegralInRange<int>(0, 7) != 7) return;
  const unsigned t = in.ConsumeIntegralInRange<unsigned>(1, 3);
  if (floats_touched >= kSplitFloats && parm::threads() != t) parm::set_threads(t);
}

// n floats starting `offset` floats into their own allocation, which ends exactly at the view's end
// (so ASan catches any access past it). The offset floats before the view hold a guard pattern
// that must survive every call.
class view {
 public:
  view(std::size_t n, std::size_t offset) : n_(n), off_(offset), mem_(new float[n + offset]) {
    for (std::size_t i = 0; i < off_; ++i) mem_[i] = kGuard;
  }
  float* data() { return mem_.get() + off_; }
  const float* data() const { return mem_.get() + off_; }
  std::size_t size() const { return n_; }
  PARM_FUZZ_HARNESS void fill(float v) {
    for (std::size_t i = 0; i < n_; ++i) data()[i] = v;
  }
  PARM_FUZZ_HARNESS bool guard_intact() const {
    for (std::size_t i = 0; i < off_; ++i)
      if (std::memcmp(&mem_[i], &kGuard, sizeof kGuard) != 0) return false;
    return true;
  }

 private:
  static constexpr float kGuard = -1.5e-7f;
  std::size_t n_, off_;
  std::unique_ptr<float[]> mem_;
};

// A float the input chooses: one of the values kernels must survive (NaN, infinities, denormals,
// signed zeros, extremes), a small integer, or any bit pattern.
inline float special_float(FuzzedDataProvider& in) {
  static const float kSpecial[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, 2.0f, 3.0f, INFINITY, -INFINITY, NAN,
                                   -NAN, 1e-45f, -1e-45f, 1.17549435e-38f, 3.4028235e38f, -3.4028235e38f,
                                   1e-20f, 1e20f, 16777216.0f, 16777217.0f};
  switch (in.ConsumeIntegralInRange<int>(0, 2)) {
    case 0: return kSpecial[in.ConsumeIntegralInRange<std::size_t>(0, sizeof kSpecial / sizeof kSpecial[0] - 1)];
    case 1: return static_cast<float>(in.ConsumeIntegralInRange<int>(-8, 8));
    default: {
      const std::uint32_t bits = in.ConsumeIntegral<std::uint32_t>();
      float f;
      std::memcpy(&f, &bits, sizeof f);
      return f;
    }
  }
}

// Fills x with seeded random floats in [-4, 4), then places up to `specials` input-chosen values at
// input-chosen positions (the tails of SIMD loops are where kernels differ).
PARM_FUZZ_HARNESS inline void fill_data(FuzzedDataProvider& in, float* x, std::size_t n, unsigned specials = 4) {
  std::uint64_t s = in.ConsumeIntegral<std::uint64_t>() | 1;
  for (std::size_t i = 0; i < n; ++i) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    x[i] = static_cast<float>((s >> 40) * (1.0 / 16777216.0) * 8.0 - 4.0);
  }
  if (n == 0) return;
  const unsigned count = in.ConsumeIntegralInRange<unsigned>(0, specials);
  for (unsigned c = 0; c < count; ++c) x[in.ConsumeIntegralInRange<std::size_t>(0, n - 1)] = special_float(in);
}

// Contract 2 says bit for bit; a NaN's payload is the one thing SIMD and scalar code may order
// differently (x86 keeps the first operand's payload, and a compiler may swap the operands of
// a + b), so two NaNs compare equal here and every other value must have the same bits.
PARM_FUZZ_HARNESS inline bool same_value(float a, float b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  return std::memcmp(&a, &b, sizeof a) == 0;
}

PARM_FUZZ_HARNESS inline void check_same(const float* got, const float* want, std::size_t n, const char* what) {
  for (std::size_t i = 0; i < n; ++i) {
    if (!same_value(got[i], want[i])) {
      char detail[160];
      std::snprintf(detail, sizeof detail, "(isa %s, %u threads): element %zu of %zu is %a, reference %a",
                    parm::isa_name(parm::active_isa()), parm::threads(), i, n, got[i], want[i]);
      fail(what, detail);
    }
  }
}

// Sizes: mostly short (all tail lengths; an exhausted input gives short ones); one in 8 long
// enough that the dispatcher splits the work across the pool (kSplitFloats touched).
inline std::size_t pick_length(FuzzedDataProvider& in, std::size_t arrays, std::size_t small_max = 300) {
  if (in.ConsumeIntegralInRange<int>(0, 7) != 7) return in.ConsumeIntegralInRange<std::size_t>(0, small_max);
  const std::size_t threshold = (kSplitFloats + arrays - 1) / arrays;
  return in.ConsumeIntegralInRange<std::size_t>(threshold > 64 ? threshold - 64 : 0, threshold + 1024);
}

}  // namespace parm_fuzz
