// AVX-512F non-finite scan (compiled with -mavx512f): 64 floats per step, exponent bits compared
// as integers into a mask; the tail uses a masked load (zero-filled lanes are finite).
#include <immintrin.h>

#include "parm/codec.h"

namespace parm {

std::ptrdiff_t first_non_finite_f32_avx512(const float* x, std::size_t n) {
  const __m512i exp = _mm512_set1_epi32(0x7f800000);
  auto hits = [&](__m512i b) { return _mm512_cmpeq_epi32_mask(_mm512_and_si512(b, exp), exp); };
  std::size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    const __mmask16 m0 = hits(_mm512_loadu_si512(x + i)), m1 = hits(_mm512_loadu_si512(x + i + 16));
    const __mmask16 m2 = hits(_mm512_loadu_si512(x + i + 32)), m3 = hits(_mm512_loadu_si512(x + i + 48));
    if (m0 | m1 | m2 | m3) {
      const __mmask16 ms[4] = {m0, m1, m2, m3};
      for (int v = 0; v < 4; ++v)
        if (ms[v]) return static_cast<std::ptrdiff_t>(i + 16 * v + __builtin_ctz(static_cast<unsigned>(ms[v])));
    }
  }
  for (; i < n; i += 16) {
    const std::size_t left = n - i;
    const __mmask16 load = left >= 16 ? static_cast<__mmask16>(0xffff)
                                      : static_cast<__mmask16>((1u << left) - 1u);
    const __mmask16 m = hits(_mm512_maskz_loadu_epi32(load, x + i));
    if (m) return static_cast<std::ptrdiff_t>(i + __builtin_ctz(static_cast<unsigned>(m)));
  }
  return -1;
}

}  // namespace parm
