// PARM_HOST_DEVICE marks a helper that both the C++ kernels and the CUDA kernels call: it is
// `__host__ __device__` when nvcc compiles the file and nothing otherwise, so the helper has one
// definition for every backend. fadd_rn / fmul_rn / fdiv_rn are the float32 operations of
// Contract 2, one rounding each: the CUDA intrinsics on the device (never fused, whatever the
// flags), the plain operators on the host (built with -ffp-contract=off).
#pragma once

#if defined(__CUDACC__)
#define PARM_HOST_DEVICE __host__ __device__
#else
#define PARM_HOST_DEVICE
#endif

namespace parm {

PARM_HOST_DEVICE inline float fadd_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

PARM_HOST_DEVICE inline float fmul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

PARM_HOST_DEVICE inline float fdiv_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}

}  // namespace parm
