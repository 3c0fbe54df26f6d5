// Reference copy: libc memcpy, the benchmark's bandwidth yardstick under the ref ISA.
#include <cstring>

#include "parm/codec.h"

namespace parm {

void copy_f32_ref(const float* src, std::size_t n, float* dst) {
  if (n) std::memcpy(dst, src, n * sizeof(float));
}

}  // namespace parm
