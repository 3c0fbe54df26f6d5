// Scalar reference of the decoder's subtraction step, out = (p - sum_j w_j f_j) / d (Contract 2):
// the definition the AVX2 / AVX-512 versions must match bit for bit (-ffp-contract=off).
#include "parm/codec.h"

namespace parm {

void decode_sub_f32_ref(const float* p, const float* const* f, const float* w, std::size_t m,
                        float d, std::size_t n, float* out) {
  for (std::size_t e = 0; e < n; ++e) {
    float acc = p[e];
    for (std::size_t j = 0; j < m; ++j) acc = acc - (w ? w[j] * f[j][e] : f[j][e]);
    out[e] = acc / d;
  }
}

}  // namespace parm
