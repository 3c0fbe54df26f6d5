// AVX2 STREAM-style copy (vector loads, ordinary stores): the benchmark's bandwidth yardstick
// under the avx2 ISA.
#include <immintrin.h>

#include "parm/codec.h"

namespace parm {

void copy_f32_avx2(const float* src, std::size_t n, float* dst) {
  std::size_t e = 0;
  for (; e + 32 <= n; e += 32) {
    const __m256 a = _mm256_loadu_ps(src + e), b = _mm256_loadu_ps(src + e + 8);
    const __m256 c = _mm256_loadu_ps(src + e + 16), d = _mm256_loadu_ps(src + e + 24);
    _mm256_storeu_ps(dst + e, a);
    _mm256_storeu_ps(dst + e + 8, b);
    _mm256_storeu_ps(dst + e + 16, c);
    _mm256_storeu_ps(dst + e + 24, d);
  }
  for (; e < n; ++e) dst[e] = src[e];
}

}  // namespace parm
