// Public API of the parm coding kernels (float32): summation encoder, image concatenation encoder,
// subtraction / linear-system decoder and a plain copy used as the bandwidth yardstick.
// Arithmetic is Contract 2 of the project brief; every ISA gives the same bits as the reference.
// Memory is caller-owned; nothing here allocates on the caller's behalf except decode scratch.
#pragma once
#include <cstddef>
#include <vector>

#include "parm/status.h"

namespace parm {

// ---------------------------------------------------------------------------------------------
// Instruction sets. The active one is chosen at startup from cpuid (best available) unless the
// environment variable PARM_ISA=ref|avx2|avx512 or set_isa() says otherwise.
enum class isa : int { ref = 0, avx2 = 1, avx512 = 2 };

const char* isa_name(isa i);
bool parse_isa(const char* name, isa* out);  // "ref", "avx2", "avx512"; false if unknown
bool isa_supported(isa i);                   // compiled in and the CPU has it
isa best_isa();
isa active_isa();
status set_isa(isa i);  // unsupported -> status_code::unsupported, active ISA unchanged

// Worker threads used to split large tensors (1 = caller thread only). Default: hardware
// concurrency, or PARM_THREADS from the environment.
void set_threads(unsigned n);
unsigned threads();

// ---------------------------------------------------------------------------------------------
// Summation encoder: out[e] = w0*x0[e] + w1*x1[e] + ... evaluated left to right in float32
// (Contract 2). weights == nullptr means all ones. k >= 1, n >= 0. out may alias no input.
status encode_sum_f32(const float* const* inputs, const float* weights, std::size_t k,
                      std::size_t n, float* out);

// Image concatenation encoder (Contract 2): k images of channels x height x width are
// area-downsampled into the tiles of a rows x cols grid of one image of the same shape.
enum class layout : int { nchw = 0, nhwc = 1 };
struct image_shape {
  std::size_t channels = 0, height = 0, width = 0;
  layout order = layout::nchw;
};
struct grid {
  std::size_t rows = 0, cols = 0;
};
grid default_grid(std::size_t k);  // rows = floor(sqrt(k)), cols = ceil(k / rows)
// g.rows == 0 means default_grid(k). Requires rows*cols >= k and rows <= height, cols <= width.
status encode_concat_f32(const float* const* images, std::size_t k, const image_shape& shape,
                         grid g, float* out);

// Decoder. parity[r] (r rows) were encoded with coefficients coeff[r*k + j] (row-major r x k;
// nullptr means r == 1 and all ones). data[j] is the j-th data output or nullptr if missing.
// Each array holds n floats. outs receives one pointer per missing index, in increasing index
// order. One missing output and a parity row with coefficient w_i != 0:
//   acc = p; for j ascending, j != i: acc = acc - w_j*F_j; out = acc / w_i   (exact, Contract 2)
// Several missing: the residual of each chosen parity row is computed as above (without the
// division), the m x m system is inverted in double precision, and each output is the float32
// weighted sum of the residuals with the inverse's row (rounded to float32), in row order.
// The parity rows used are the first (lexicographic) m rows whose submatrix is nonsingular: each
// row in order that is independent of the rows taken before it (O(r m^2), never a search over
// subsets). Coefficients must be finite (invalid_argument otherwise).
status decode_f32(const float* const* parity, std::size_t r, const float* const* data,
                  std::size_t k, const float* coeff, std::size_t n, float* const* outs,
                  std::size_t n_outs);

// How decode_f32 (and its CUDA twin) reconstructs: which outputs are missing, which parity rows
// it uses, the weights it subtracts with and, for several missing outputs, the float32 inverse.
struct decode_plan {
  std::vector<std::size_t> missing, present, rows;
  std::vector<std::vector<float>> row_weights;  // per used row: coefficients of `present`
  float divisor = 1.0f;                         // one missing output: its coefficient
  std::vector<float> inverse;                   // several missing: m x m row-major
};
// present[j] says whether data output j is there. n_outs must equal the number missing.
status plan_decode(std::size_t r, const bool* present, std::size_t k, const float* coeff,
                   std::size_t n_outs, decode_plan* plan);

// Plain copy of n floats (the same-run bandwidth yardstick of the benchmark), threaded like the
// kernels above: libc memcpy under the ref ISA, a STREAM-style vector loop under avx2/avx512.
status copy_f32(const float* src, std::size_t n, float* dst);

// Input validation scan: *index = the index of the first NaN or +-Inf among x[0..n), or -1 when
// every element is finite (n == 0 included). Single-threaded (it stops at the first hit; inputs
// checked this way are queries, small). x may be null only when n == 0.
status first_non_finite_f32(const float* x, std::size_t n, std::ptrdiff_t* index);

// ---------------------------------------------------------------------------------------------
// Single-threaded kernels on one range, one per ISA (names <op>_<dtype>_<impl>). The dispatching
// functions above call these; tests call them directly to compare ISAs with the reference.
void encode_sum_f32_ref(const float* const* in, const float* w, std::size_t k, std::size_t n,
                        float* out);
void encode_sum_f32_avx2(const float* const* in, const float* w, std::size_t k, std::size_t n,
                         float* out);
void encode_sum_f32_avx512(const float* const* in, const float* w, std::size_t k, std::size_t n,
                           float* out);
// out = (p - sum_j w[j]*f[j]) / d, left to right; w == nullptr means all ones.
void decode_sub_f32_ref(const float* p, const float* const* f, const float* w, std::size_t m,
                        float d, std::size_t n, float* out);
void decode_sub_f32_avx2(const float* p, const float* const* f, const float* w, std::size_t m,
                         float d, std::size_t n, float* out);
void decode_sub_f32_avx512(const float* p, const float* const* f, const float* w, std::size_t m,
                           float d, std::size_t n, float* out);
void copy_f32_ref(const float* src, std::size_t n, float* dst);  // libc memcpy
// STREAM-style copy loops (vector loads and ordinary stores).
void copy_f32_avx2(const float* src, std::size_t n, float* dst);
void copy_f32_avx512(const float* src, std::size_t n, float* dst);
// Index of the first element whose exponent bits are all ones (NaN, +Inf, -Inf), or -1.
std::ptrdiff_t first_non_finite_f32_ref(const float* x, std::size_t n);
std::ptrdiff_t first_non_finite_f32_avx2(const float* x, std::size_t n);
std::ptrdiff_t first_non_finite_f32_avx512(const float* x, std::size_t n);
// Tiles image `index` of k into out (one tile; other tiles untouched).
void encode_concat_tile_f32_ref(const float* image, std::size_t index, const image_shape& shape,
                                grid g, float* out);
// SIMD versions for tiles that divide the image exactly (H % th == 0, W % tw == 0); any other
// tile is passed to the reference. Bit-exact with it.
void encode_concat_tile_f32_avx2(const float* image, std::size_t index, const image_shape& shape,
                                 grid g, float* out);
void encode_concat_tile_f32_avx512(const float* image, std::size_t index, const image_shape& shape,
                                   grid g, float* out);

}  // namespace parm
