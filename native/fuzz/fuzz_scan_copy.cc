// libFuzzer target: the input-validation scan first_non_finite_f32 and the bandwidth copy copy_f32
// on the fuzz input's own bytes taken as floats (any bit pattern: NaN payloads, infinities,
// denormals), at unaligned offsets and every tail length. Every ISA's scan must give the index a
// plain loop gives, through the dispatcher and directly; the copy must reproduce every bit.
#include "fuzz_common.h"

using namespace parm_fuzz;

namespace {

PARM_FUZZ_HARNESS std::ptrdiff_t first_non_finite_plain(const float* x, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) return static_cast<std::ptrdiff_t>(i);
  return -1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  FuzzedDataProvider in(bytes, size);
  pick_isa(in);
  const unsigned threads = in.ConsumeIntegralInRange<unsigned>(1, 3);
  const std::size_t offset = in.ConsumeIntegralInRange<std::size_t>(0, 3);
  const std::size_t dst_offset = in.ConsumeIntegralInRange<std::size_t>(0, 3);
  const bool large = in.ConsumeIntegralInRange<int>(0, 7) == 7;  // long enough for a threaded copy
  const std::vector<std::uint8_t> raw = in.ConsumeRemainingBytes<std::uint8_t>();
  const std::size_t from_input = raw.size() / sizeof(float);
  const std::size_t n = large ? kSplitFloats / 2 + from_input : from_input;  // copy touches 2n
  view x(n, offset);
  if (large) fill_data(in, x.data(), n - from_input, 0);
  if (2 * n >= kSplitFloats && parm::threads() != threads) parm::set_threads(threads);  // copy touches 2n
  if (from_input) std::memcpy(x.data() + (n - from_input), raw.data(), from_input * sizeof(float));

  const std::ptrdiff_t want = first_non_finite_plain(x.data(), n);
  check(parm::first_non_finite_f32_ref(x.data(), n) == want, "first_non_finite_f32_ref vs a plain loop");
  if (parm::isa_supported(parm::isa::avx2))
    check(parm::first_non_finite_f32_avx2(x.data(), n) == want, "first_non_finite_f32_avx2 vs a plain loop");
  if (parm::isa_supported(parm::isa::avx512))
    check(parm::first_non_finite_f32_avx512(x.data(), n) == want, "first_non_finite_f32_avx512 vs a plain loop");
  std::ptrdiff_t got = -7;
  check(parm::first_non_finite_f32(x.data(), n, &got).ok() && got == want, "first_non_finite_f32 (dispatch)");
  check(!parm::first_non_finite_f32(x.data(), n, nullptr).ok(), "a null index is refused");
  if (n > 0) check(parm::first_non_finite_f32(nullptr, n, &got).code == parm::status_code::invalid_argument,
                   "a null input is refused");

  view dst(n, dst_offset);
  check(parm::copy_f32(x.data(), n, dst.data()).ok(), "copy_f32");
  check(n == 0 || std::memcmp(dst.data(), x.data(), n * sizeof(float)) == 0, "copy_f32 reproduces every bit");
  check(dst.guard_intact() && x.guard_intact(), "copy_f32 wrote outside its output");
  if (n > 0) check(parm::copy_f32(nullptr, n, dst.data()).code == parm::status_code::invalid_argument,
                   "copy_f32 refuses a null source");
  return 0;
}
