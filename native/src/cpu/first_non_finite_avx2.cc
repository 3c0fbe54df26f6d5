// AVX2 non-finite scan (compiled with -mavx2): 32 floats per step, exponent bits compared as
// integers (NaN or +-Inf <=> all exponent bits set); the first hit is located within its block.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "parm/codec.h"

namespace parm {

std::ptrdiff_t first_non_finite_f32_avx2(const float* x, std::size_t n) {
  const __m256i exp = _mm256_set1_epi32(0x7f800000);
  auto hits = [&](const float* p) {
    const __m256i b = _mm256_castps_si256(_mm256_loadu_ps(p));
    return _mm256_cmpeq_epi32(_mm256_and_si256(b, exp), exp);
  };
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i h0 = hits(x + i), h1 = hits(x + i + 8), h2 = hits(x + i + 16), h3 = hits(x + i + 24);
    const __m256i any = _mm256_or_si256(_mm256_or_si256(h0, h1), _mm256_or_si256(h2, h3));
    if (!_mm256_testz_si256(any, any)) {
      const __m256i hs[4] = {h0, h1, h2, h3};
      for (int v = 0; v < 4; ++v) {
        const int m = _mm256_movemask_ps(_mm256_castsi256_ps(hs[v]));
        if (m) return static_cast<std::ptrdiff_t>(i + 8 * v + __builtin_ctz(static_cast<unsigned>(m)));
      }
    }
  }
  for (; i + 8 <= n; i += 8) {
    const int m = _mm256_movemask_ps(_mm256_castsi256_ps(hits(x + i)));
    if (m) return static_cast<std::ptrdiff_t>(i + __builtin_ctz(static_cast<unsigned>(m)));
  }
  for (; i < n; ++i) {
    std::uint32_t b;
    std::memcpy(&b, x + i, sizeof b);
    if ((b & 0x7f800000u) == 0x7f800000u) return static_cast<std::ptrdiff_t>(i);
  }
  return -1;
}

}  // namespace parm
