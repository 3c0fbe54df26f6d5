// AVX2 summation encoder (compiled with -mavx2 -ffp-contract=off): separate multiply and add
// instructions in the reference's order, so the result equals encode_sum_f32_ref bit for bit.
// Multiplies by a weight of exactly 1 are skipped (x*1 == x).
#include <immintrin.h>

#include "parm/codec.h"

namespace parm {

void encode_sum_f32_avx2(const float* const* in, const float* w, std::size_t k, std::size_t n,
                         float* out) {
  bool ones = true;
  if (w)
    for (std::size_t i = 0; i < k; ++i) ones = ones && w[i] == 1.0f;
  std::size_t e = 0;
  if (ones) {
    for (; e + 32 <= n; e += 32) {
      __m256 a0 = _mm256_loadu_ps(in[0] + e), a1 = _mm256_loadu_ps(in[0] + e + 8);
      __m256 a2 = _mm256_loadu_ps(in[0] + e + 16), a3 = _mm256_loadu_ps(in[0] + e + 24);
      for (std::size_t i = 1; i < k; ++i) {
        const float* p = in[i] + e;
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p));
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(p + 8));
        a2 = _mm256_add_ps(a2, _mm256_loadu_ps(p + 16));
        a3 = _mm256_add_ps(a3, _mm256_loadu_ps(p + 24));
      }
      _mm256_storeu_ps(out + e, a0);
      _mm256_storeu_ps(out + e + 8, a1);
      _mm256_storeu_ps(out + e + 16, a2);
      _mm256_storeu_ps(out + e + 24, a3);
    }
    for (; e + 8 <= n; e += 8) {
      __m256 a = _mm256_loadu_ps(in[0] + e);
      for (std::size_t i = 1; i < k; ++i) a = _mm256_add_ps(a, _mm256_loadu_ps(in[i] + e));
      _mm256_storeu_ps(out + e, a);
    }
  } else {
    for (; e + 32 <= n; e += 32) {
      const __m256 w0 = _mm256_set1_ps(w[0]);
      __m256 a0 = _mm256_mul_ps(w0, _mm256_loadu_ps(in[0] + e));
      __m256 a1 = _mm256_mul_ps(w0, _mm256_loadu_ps(in[0] + e + 8));
      __m256 a2 = _mm256_mul_ps(w0, _mm256_loadu_ps(in[0] + e + 16));
      __m256 a3 = _mm256_mul_ps(w0, _mm256_loadu_ps(in[0] + e + 24));
      for (std::size_t i = 1; i < k; ++i) {
        const float* p = in[i] + e;
        const __m256 wi = _mm256_set1_ps(w[i]);
        a0 = _mm256_add_ps(a0, _mm256_mul_ps(wi, _mm256_loadu_ps(p)));
        a1 = _mm256_add_ps(a1, _mm256_mul_ps(wi, _mm256_loadu_ps(p + 8)));
        a2 = _mm256_add_ps(a2, _mm256_mul_ps(wi, _mm256_loadu_ps(p + 16)));
        a3 = _mm256_add_ps(a3, _mm256_mul_ps(wi, _mm256_loadu_ps(p + 24)));
      }
      _mm256_storeu_ps(out + e, a0);
      _mm256_storeu_ps(out + e + 8, a1);
      _mm256_storeu_ps(out + e + 16, a2);
      _mm256_storeu_ps(out + e + 24, a3);
    }
    for (; e + 8 <= n; e += 8) {
      __m256 a = _mm256_mul_ps(_mm256_set1_ps(w[0]), _mm256_loadu_ps(in[0] + e));
      for (std::size_t i = 1; i < k; ++i)
        a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_set1_ps(w[i]), _mm256_loadu_ps(in[i] + e)));
      _mm256_storeu_ps(out + e, a);
    }
  }
  for (; e < n; ++e) {
    float acc = w ? w[0] * in[0][e] : in[0][e];
    for (std::size_t i = 1; i < k; ++i) acc = acc + (w ? w[i] * in[i][e] : in[i][e]);
    out[e] = acc;
  }
}

}  // namespace parm
