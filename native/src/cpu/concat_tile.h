// Where image `index` lands in a concatenation encoding and how the layout strides its elements
// (Contract 2, docs/codec.md): one definition for the reference and every SIMD kernel, so their
// geometry cannot drift apart.
#pragma once

#include <cstddef>

#include "parm/codec.h"

namespace parm {

struct concat_tile {
  std::size_t y0, x0;  // first output row and column of the tile
  std::size_t th, tw;  // tile height and width (0 when the grid leaves this image no pixel)
  std::size_t sc, sy, sx;  // element strides of a channel, a row and a column (nchw or nhwc)
};

inline concat_tile concat_tile_of(std::size_t index, const image_shape& shape, grid g) {
  const std::size_t C = shape.channels, H = shape.height, W = shape.width;
  const std::size_t r = index / g.cols, c = index % g.cols;
  const std::size_t y0 = r * H / g.rows, y1 = (r + 1) * H / g.rows;
  const std::size_t x0 = c * W / g.cols, x1 = (c + 1) * W / g.cols;
  const bool nhwc = shape.order == layout::nhwc;
  return {y0, x0, y1 - y0, x1 - x0, nhwc ? 1 : H * W, nhwc ? W * C : W, nhwc ? C : 1};
}

}  // namespace parm
