// See concat_args.h.
#include "concat_args.h"

#include <cstdint>
#include <string>

namespace parm {

status check_concat_args(std::size_t k, const image_shape& shape, grid* g) {
  auto bad = [](std::string msg) { return status::error(status_code::invalid_argument, std::move(msg)); };
  auto grid_text = [&] { return "grid " + std::to_string(g->rows) + "x" + std::to_string(g->cols); };
  if (k == 0) return bad("k must be at least 1 (no images)");
  if (g->rows == 0 && g->cols == 0) *g = default_grid(k);
  if (g->rows == 0 || g->cols == 0) return bad("grid rows and cols must both be at least 1");
  if (shape.channels == 0 || shape.height == 0 || shape.width == 0)
    return bad("shape channels, height and width must be at least 1");
  // The tap arithmetic multiplies a row index by the height (likewise columns): keep it in 64 bits.
  constexpr std::size_t kMaxSide = std::size_t{1} << 31;
  if (shape.height > kMaxSide || shape.width > kMaxSide)
    return bad("shape height and width must be at most 2^31");
  if (shape.channels > SIZE_MAX / shape.height / shape.width)
    return bad("shape channels*height*width overflows the address space");
  if (shape.order != layout::nchw && shape.order != layout::nhwc) return bad("layout must be nchw or nhwc");
  if (g->rows > shape.height || g->cols > shape.width)
    return bad(grid_text() + " is finer than the image (" + std::to_string(shape.height) + "x" +
               std::to_string(shape.width) + ")");
  if (g->rows * g->cols < k) return bad(grid_text() + " has fewer than k=" + std::to_string(k) + " tiles");
  return status::success();
}

}  // namespace parm
