// Scalar reference of the image concatenation encoder (Contract 2): area-average downsampling of
// one image into its tile, summing input rows then columns in ascending order.
#include <cstdint>
#include <vector>

#include "parm/codec.h"
#include "../../common/concat_geometry.h"

namespace parm {
namespace {

struct tap {
  std::size_t src;  // input row or column
  std::size_t ov;   // overlap length (integer)
};

// For each output index o in [0, t): the inputs it averages, ascending, with their overlap.
std::vector<std::vector<tap>> taps_for(std::size_t len, std::size_t t) {
  std::vector<std::vector<tap>> taps(t);
  for (std::size_t o = 0; o < t; ++o) {
    const concat_taps range = concat_taps_of(o, len, t);
    for (std::size_t s = range.first; s < range.end; ++s)
      if (const std::size_t ov = concat_overlap(o, s, len, t)) taps[o].push_back({s, ov});
  }
  return taps;
}

}  // namespace

void encode_concat_tile_f32_ref(const float* image, std::size_t index, const image_shape& shape,
                                grid g, float* out) {
  const std::size_t C = shape.channels, H = shape.height, W = shape.width;
  const auto [y0, x0, th, tw, sc, sy, sx] = concat_tile_of(index, shape, g);
  if (th == 0 || tw == 0) return;
  const auto ty = taps_for(H, th), tx = taps_for(W, tw);
  const float denom = static_cast<float>(H * W);
  // Column taps flattened: output column ox uses entries [xb[ox], xb[ox + 1]).
  // Overlap lengths are kept as signed 64-bit so the int->float conversion is one instruction;
  // products are at most H*W, exact in float up to 2^24.
  std::vector<std::size_t> xb(tw + 1), xsrc;
  std::vector<std::int64_t> xov;
  for (std::size_t ox = 0; ox < tw; ++ox) {
    xb[ox] = xsrc.size();
    for (const tap& b : tx[ox]) {
      xsrc.push_back(b.src * sx);
      xov.push_back(static_cast<std::int64_t>(b.ov));
    }
  }
  xb[tw] = xsrc.size();
  // One output row at a time: the accumulators of the row take the input rows in ascending order
  // and, within a row, the columns in ascending order, which is each pixel's Contract 2 order.
  std::vector<float> acc(tw);
  for (std::size_t ch = 0; ch < C; ++ch) {
    for (std::size_t oy = 0; oy < th; ++oy) {
      for (std::size_t ox = 0; ox < tw; ++ox) acc[ox] = 0.0f;
      for (const tap& a : ty[oy]) {
        const float* row = image + ch * sc + a.src * sy;
        const std::int64_t aov = static_cast<std::int64_t>(a.ov);
        for (std::size_t ox = 0; ox < tw; ++ox) {
          float v = acc[ox];
          for (std::size_t t = xb[ox]; t < xb[ox + 1]; ++t)
            v = v + row[xsrc[t]] * static_cast<float>(aov * xov[t]);
          acc[ox] = v;
        }
      }
      float* o = out + ch * sc + (y0 + oy) * sy + x0 * sx;
      for (std::size_t ox = 0; ox < tw; ++ox) o[ox * sx] = acc[ox] / denom;
    }
  }
}

}  // namespace parm
