// Argument check of the concatenation encoder shared by the CPU and CUDA entry points, so both
// accept and refuse the same calls with the same messages.
#pragma once

#include <cstddef>

#include "parm/codec.h"
#include "parm/status.h"

namespace parm {

// Validates k, the shape and the grid (g->rows == g->cols == 0 becomes default_grid(k)).
// invalid_argument with a message naming the field otherwise.
status check_concat_args(std::size_t k, const image_shape& shape, grid* g);

}  // namespace parm
