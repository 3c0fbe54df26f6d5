// AVX-512 STREAM-style copy (vector loads, ordinary stores): the benchmark's bandwidth yardstick
// under the avx512 ISA.
#include <immintrin.h>

#include "parm/codec.h"

namespace parm {

void copy_f32_avx512(const float* src, std::size_t n, float* dst) {
  std::size_t e = 0;
  for (; e + 64 <= n; e += 64) {
    const __m512 a = _mm512_loadu_ps(src + e), b = _mm512_loadu_ps(src + e + 16);
    const __m512 c = _mm512_loadu_ps(src + e + 32), d = _mm512_loadu_ps(src + e + 48);
    _mm512_storeu_ps(dst + e, a);
    _mm512_storeu_ps(dst + e + 16, b);
    _mm512_storeu_ps(dst + e + 32, c);
    _mm512_storeu_ps(dst + e + 48, d);
  }
  for (; e < n; ++e) dst[e] = src[e];
}

}  // namespace parm
