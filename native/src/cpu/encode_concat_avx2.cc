// AVX2 concatenation encoder for tiles that divide the image exactly (H % th == 0 and
// W % tw == 0): every output pixel averages an fy x fx block with one weight float(th*tw).
// 8 output pixels of a row per vector, each lane doing its pixel's Contract 2 operations in order
// (acc = 0; rows ascending, columns ascending: acc = acc + img*w; then acc / (H*W)), separate
// multiply and add (-ffp-contract=off): bit-exact with the reference. Other tiles use the reference.
#include <immintrin.h>

#include <cstdint>

#include "parm/codec.h"
#include "../common/concat_geometry.h"

namespace parm {

void encode_concat_tile_f32_avx2(const float* image, std::size_t index, const image_shape& shape,
                                 grid g, float* out) {
  const std::size_t C = shape.channels, H = shape.height, W = shape.width;
  const auto [y0, x0, th, tw, sc, sy, sx] = concat_tile_of(index, shape, g);
  if (th == 0 || tw == 0) return;
  if (H % th != 0 || W % tw != 0 || 8 * (W / tw) * sx >= (std::size_t{1} << 31))
    return encode_concat_tile_f32_ref(image, index, shape, g, out);
  const std::size_t fy = H / th, fx = W / tw;
  const __m256 wv = _mm256_set1_ps(static_cast<float>(static_cast<std::int64_t>(th) * static_cast<std::int64_t>(tw)));
  const __m256 dv = _mm256_set1_ps(static_cast<float>(H * W));
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i in_base = _mm256_mullo_epi32(iota, _mm256_set1_epi32(static_cast<int>(fx * sx)));
  alignas(32) float tmp[8];
  for (std::size_t ch = 0; ch < C; ++ch) {
    for (std::size_t oy = 0; oy < th; ++oy) {
      float* o = out + ch * sc + (y0 + oy) * sy + x0 * sx;
      for (std::size_t ox = 0; ox < tw; ox += 8) {
        const std::size_t lanes = tw - ox < 8 ? tw - ox : 8;
        const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(lanes)), iota);
        __m256 acc = _mm256_setzero_ps();
        for (std::size_t y = oy * fy; y < (oy + 1) * fy; ++y) {
          const float* row = image + ch * sc + y * sy + ox * fx * sx;
          if (sx == 1 && fx == 1) {
            acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_maskload_ps(row, m), wv));
          } else if (sx == 1 && fx == 2) {
            // Masked loads of the 2*lanes floats, then even / odd columns (in pixel order).
            const int n = static_cast<int>(2 * lanes);
            const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), iota);
            const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - 8), iota);
            const __m256 a = _mm256_maskload_ps(row, m0), b = _mm256_maskload_ps(row + 8, m1);
            const __m256 ev = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
            const __m256 od = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
            acc = _mm256_add_ps(acc, _mm256_mul_ps(ev, wv));
            acc = _mm256_add_ps(acc, _mm256_mul_ps(od, wv));
          } else {
            for (std::size_t j = 0; j < fx; ++j) {
              const __m256i idx = _mm256_add_epi32(in_base, _mm256_set1_epi32(static_cast<int>(j * sx)));
              const __m256 v = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), row, idx, _mm256_castsi256_ps(m), 4);
              acc = _mm256_add_ps(acc, _mm256_mul_ps(v, wv));
            }
          }
        }
        acc = _mm256_div_ps(acc, dv);
        if (sx == 1) {
          _mm256_maskstore_ps(o + ox, m, acc);
        } else {
          _mm256_store_ps(tmp, acc);
          for (std::size_t l = 0; l < lanes; ++l) o[(ox + l) * sx] = tmp[l];
        }
      }
    }
  }
}

}  // namespace parm
