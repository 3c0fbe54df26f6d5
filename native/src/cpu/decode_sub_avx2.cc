// AVX2 subtraction step of the decoder, out = (p - sum_j w_j f_j) / d (compiled with -mavx2
// -ffp-contract=off): the reference's operations in its order, so it equals decode_sub_f32_ref bit
// for bit. Multiplies by a weight of exactly 1 and a division by exactly 1 are skipped (exact).
#include <immintrin.h>

#include "parm/codec.h"

namespace parm {

void decode_sub_f32_avx2(const float* p, const float* const* f, const float* w, std::size_t m,
                         float d, std::size_t n, float* out) {
  bool ones = true;
  if (w)
    for (std::size_t j = 0; j < m; ++j) ones = ones && w[j] == 1.0f;
  const bool divide = d != 1.0f;
  const __m256 dv = _mm256_set1_ps(d);
  std::size_t e = 0;
  for (; e + 16 <= n; e += 16) {
    __m256 a0 = _mm256_loadu_ps(p + e), a1 = _mm256_loadu_ps(p + e + 8);
    if (ones) {
      for (std::size_t j = 0; j < m; ++j) {
        a0 = _mm256_sub_ps(a0, _mm256_loadu_ps(f[j] + e));
        a1 = _mm256_sub_ps(a1, _mm256_loadu_ps(f[j] + e + 8));
      }
    } else {
      for (std::size_t j = 0; j < m; ++j) {
        const __m256 wj = _mm256_set1_ps(w[j]);
        a0 = _mm256_sub_ps(a0, _mm256_mul_ps(wj, _mm256_loadu_ps(f[j] + e)));
        a1 = _mm256_sub_ps(a1, _mm256_mul_ps(wj, _mm256_loadu_ps(f[j] + e + 8)));
      }
    }
    if (divide) {
      a0 = _mm256_div_ps(a0, dv);
      a1 = _mm256_div_ps(a1, dv);
    }
    _mm256_storeu_ps(out + e, a0);
    _mm256_storeu_ps(out + e + 8, a1);
  }
  for (; e < n; ++e) {
    float acc = p[e];
    for (std::size_t j = 0; j < m; ++j) acc = acc - (w ? w[j] * f[j][e] : f[j][e]);
    out[e] = acc / d;
  }
}

}  // namespace parm
