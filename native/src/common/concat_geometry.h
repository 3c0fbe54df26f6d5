// Geometry of the image concatenation encoder (Contract 2, docs/codec.md): where image `index`
// lands in the grid, which tile holds an output pixel, how a layout strides its elements, and which
// input rows / columns an output row / column averages with what overlap. One definition for the
// scalar reference, the SIMD kernels and the CUDA kernel (host and device), so they cannot drift.
#pragma once

#include <cstddef>

#include "host_device.h"
#include "parm/codec.h"

namespace parm {

struct concat_tile {
  std::size_t y0, x0;      // first output row and column of the tile
  std::size_t th, tw;      // tile height and width (0 when the grid leaves this image no pixel)
  std::size_t sc, sy, sx;  // element strides of a channel, a row and a column (nchw or nhwc)
};

// Tile (index / cols, index % cols) covers rows [floor(r*H/R), floor((r+1)*H/R)) and likewise
// columns. The strides are those of every image of the group (they share one shape).
PARM_HOST_DEVICE inline concat_tile concat_tile_of(std::size_t index, const image_shape& shape, grid g) {
  const std::size_t C = shape.channels, H = shape.height, W = shape.width;
  const std::size_t r = index / g.cols, c = index % g.cols;
  const std::size_t y0 = r * H / g.rows, y1 = (r + 1) * H / g.rows;
  const std::size_t x0 = c * W / g.cols, x1 = (c + 1) * W / g.cols;
  const bool nhwc = shape.order == layout::nhwc;
  return {y0, x0, y1 - y0, x1 - x0, nhwc ? 1 : H * W, nhwc ? W * C : W, nhwc ? C : 1};
}

// The tile holding output pixel (y, x): the largest r with floor(r*H/R) <= y, i.e.
// r*H < (y+1)*R, is ((y+1)*R - 1) / H (likewise c).
PARM_HOST_DEVICE inline std::size_t concat_tile_at(std::size_t y, std::size_t x, const image_shape& shape,
                                                   grid g) {
  const std::size_t r = ((y + 1) * g.rows - 1) / shape.height;
  const std::size_t c = ((x + 1) * g.cols - 1) / shape.width;
  return r * g.cols + c;
}

// Along one axis of length `len` shrunk into `t` outputs, output o covers [o*len, (o+1)*len) and
// input s covers [s*t, (s+1)*t) (both scaled by len*t). The inputs that can overlap output o are
// [first, end), in ascending order; concat_overlap gives each one's weight (0 at the edges).
struct concat_taps {
  std::size_t first, end;
};

PARM_HOST_DEVICE inline concat_taps concat_taps_of(std::size_t o, std::size_t len, std::size_t t) {
  const std::size_t lo = o * len, hi = (o + 1) * len;
  const std::size_t last = (hi + t - 1) / t;  // the first s with s*t >= hi
  return {lo / t, last < len ? last : len};
}

PARM_HOST_DEVICE inline std::size_t concat_overlap(std::size_t o, std::size_t s, std::size_t len,
                                                   std::size_t t) {
  const std::size_t a = s * t > o * len ? s * t : o * len;
  const std::size_t b = (s + 1) * t < (o + 1) * len ? (s + 1) * t : (o + 1) * len;
  return b > a ? b - a : 0;
}

// Output element `idx` (in the image's layout) of the concatenation of `images`, computed on its
// own in Contract 2 order: acc = 0; input rows ascending, columns ascending (nonzero overlaps):
// acc = acc + img*float(ovy*ovx); then acc / float(H*W). Zero in a tile without an image. The body
// of the CUDA kernel (one thread per element); the ctest runs it on the host against the reference.
PARM_HOST_DEVICE inline float concat_pixel_f32(const float* const* images, std::size_t k,
                                               const image_shape& shape, grid g, std::size_t idx) {
  const std::size_t C = shape.channels, H = shape.height, W = shape.width;
  const bool nhwc = shape.order == layout::nhwc;
  const std::size_t ch = nhwc ? idx % C : idx / (H * W);
  const std::size_t y = nhwc ? idx / (C * W) : (idx / W) % H;
  const std::size_t x = nhwc ? (idx / C) % W : idx % W;
  const std::size_t t = concat_tile_at(y, x, shape, g);
  if (t >= k) return 0.0f;
  const concat_tile tile = concat_tile_of(t, shape, g);
  const std::size_t oy = y - tile.y0, ox = x - tile.x0;
  const concat_taps rows = concat_taps_of(oy, H, tile.th), cols = concat_taps_of(ox, W, tile.tw);
  const float* im = images[t];
  float acc = 0.0f;
  for (std::size_t sy = rows.first; sy < rows.end; ++sy) {
    const std::size_t ovy = concat_overlap(oy, sy, H, tile.th);
    if (!ovy) continue;
    for (std::size_t sx = cols.first; sx < cols.end; ++sx) {
      const std::size_t ovx = concat_overlap(ox, sx, W, tile.tw);
      if (!ovx) continue;
      acc = fadd_rn(acc, fmul_rn(im[ch * tile.sc + sy * tile.sy + sx * tile.sx], static_cast<float>(ovy * ovx)));
    }
  }
  return fdiv_rn(acc, static_cast<float>(H * W));
}

}  // namespace parm
