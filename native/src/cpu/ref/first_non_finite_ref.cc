// Scalar reference of the non-finite scan: the definition the AVX2 / AVX-512 versions must match.
// A float is NaN or +-Inf exactly when its 8 exponent bits are all ones.
#include <cstdint>
#include <cstring>

#include "parm/codec.h"

namespace parm {

std::ptrdiff_t first_non_finite_f32_ref(const float* x, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t b;
    std::memcpy(&b, x + i, sizeof b);
    if ((b & 0x7f800000u) == 0x7f800000u) return static_cast<std::ptrdiff_t>(i);
  }
  return -1;
}

}  // namespace parm
