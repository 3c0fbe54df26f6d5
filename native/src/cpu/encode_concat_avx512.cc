// AVX-512F concatenation encoder for tiles that divide the image exactly (H % th == 0 and
// W % tw == 0, e.g. 28x28 into 14x14): then every output pixel averages an fy x fx block with one
// weight float(th*tw). 16 output pixels of a row per vector, each lane doing its pixel's Contract 2
// operations in order (acc = 0; rows ascending, columns ascending: acc = acc + img*w; acc / (H*W)),
// separate multiply and add (-ffp-contract=off), so the result equals the reference bit for bit.
// Other tiles fall back to the scalar reference.
#include <immintrin.h>

#include <cstdint>

#include "parm/codec.h"
#include "../common/concat_geometry.h"

namespace parm {

void encode_concat_tile_f32_avx512(const float* image, std::size_t index, const image_shape& shape,
                                   grid g, float* out) {
  const std::size_t C = shape.channels, H = shape.height, W = shape.width;
  const auto [y0, x0, th, tw, sc, sy, sx] = concat_tile_of(index, shape, g);
  if (th == 0 || tw == 0) return;
  // Gather indices are int32 element offsets within one 16-pixel span of a row.
  if (H % th != 0 || W % tw != 0 || 16 * (W / tw) * sx >= (std::size_t{1} << 31))
    return encode_concat_tile_f32_ref(image, index, shape, g, out);
  const std::size_t fy = H / th, fx = W / tw;
  // The reference's weight: float(ovy * ovx) with ovy = th, ovx = tw for every tap.
  const __m512 wv = _mm512_set1_ps(static_cast<float>(static_cast<std::int64_t>(th) * static_cast<std::int64_t>(tw)));
  const __m512 dv = _mm512_set1_ps(static_cast<float>(H * W));
  const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512i in_base = _mm512_mullo_epi32(iota, _mm512_set1_epi32(static_cast<int>(fx * sx)));
  const __m512i out_base = _mm512_mullo_epi32(iota, _mm512_set1_epi32(static_cast<int>(sx)));
  // fx == 2, contiguous columns: two loads and a two-source permute instead of gathers.
  const __m512i even = _mm512_mullo_epi32(iota, _mm512_set1_epi32(2));
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  // fx == 4: 4*(l mod 8), the offset of pixel l's first column within its pair of vectors.
  const __m512i quad = _mm512_set_epi32(28, 24, 20, 16, 12, 8, 4, 0, 28, 24, 20, 16, 12, 8, 4, 0);
  for (std::size_t ch = 0; ch < C; ++ch) {
    for (std::size_t oy = 0; oy < th; ++oy) {
      float* o = out + ch * sc + (y0 + oy) * sy + x0 * sx;
      for (std::size_t ox = 0; ox < tw; ox += 16) {
        const std::size_t lanes = tw - ox < 16 ? tw - ox : 16;
        const __mmask16 m = static_cast<__mmask16>((1u << lanes) - 1u);
        __m512 acc = _mm512_setzero_ps();
        for (std::size_t y = oy * fy; y < (oy + 1) * fy; ++y) {
          const float* row = image + ch * sc + y * sy + ox * fx * sx;
          if (sx == 1 && fx == 1) {
            acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, row), wv));
          } else if (sx == 1 && fx == 2) {
            const std::size_t n = 2 * lanes;
            const __mmask16 m0 = static_cast<__mmask16>(n >= 16 ? 0xffffu : (1u << n) - 1u);
            const __mmask16 m1 = static_cast<__mmask16>(n <= 16 ? 0u : (1u << (n - 16)) - 1u);
            const __m512 a = _mm512_maskz_loadu_ps(m0, row), b = _mm512_maskz_loadu_ps(m1, row + 16);
            acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_permutex2var_ps(a, even, b), wv));
            acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_permutex2var_ps(a, odd, b), wv));
          } else if (sx == 1 && fx == 4) {
            // Four masked loads (64 floats); column j of pixel l is element 4l + j: lanes 0..7
            // come from (a, b), lanes 8..15 from (c, d). Gathers are slower here.
            const std::size_t n = 4 * lanes;
            __m512 q[4];
            for (std::size_t v = 0; v < 4; ++v) {
              const std::size_t have = n > 16 * v ? (n - 16 * v < 16 ? n - 16 * v : 16) : 0;
              q[v] = _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << have) - 1u), row + 16 * v);
            }
            for (int j = 0; j < 4; ++j) {
              const __m512i idx = _mm512_add_epi32(quad, _mm512_set1_epi32(j));
              const __m512 v = _mm512_mask_blend_ps(static_cast<__mmask16>(0xff00u), _mm512_permutex2var_ps(q[0], idx, q[1]),
                                                    _mm512_permutex2var_ps(q[2], idx, q[3]));
              acc = _mm512_add_ps(acc, _mm512_mul_ps(v, wv));
            }
          } else {
            for (std::size_t j = 0; j < fx; ++j) {
              const __m512i idx = _mm512_add_epi32(in_base, _mm512_set1_epi32(static_cast<int>(j * sx)));
              const __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, row, 4);
              acc = _mm512_add_ps(acc, _mm512_mul_ps(v, wv));
            }
          }
        }
        acc = _mm512_div_ps(acc, dv);
        if (sx == 1)
          _mm512_mask_storeu_ps(o + ox, m, acc);
        else
          _mm512_mask_i32scatter_ps(o + ox * sx, m, out_base, acc, 4);
      }
    }
  }
}

}  // namespace parm
