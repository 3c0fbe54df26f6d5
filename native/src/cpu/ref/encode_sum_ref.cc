// Scalar reference of the summation encoder: the definition of Contract 2 that every other ISA
// must match bit for bit. Built with -ffp-contract=off so no product and sum fuse into an FMA.
#include "parm/codec.h"

namespace parm {

void encode_sum_f32_ref(const float* const* in, const float* w, std::size_t k, std::size_t n,
                        float* out) {
  for (std::size_t e = 0; e < n; ++e) {
    float acc = w ? w[0] * in[0][e] : in[0][e];
    for (std::size_t i = 1; i < k; ++i) acc = acc + (w ? w[i] * in[i][e] : in[i][e]);
    out[e] = acc;
  }
}

}  // namespace parm
