// The dispatching entry points of codec.h: argument checks, the active ISA's kernel, and large
// tensors split across the thread pool in cache-line-aligned chunks. Nothing here throws.
#include <atomic>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "../common/concat_args.h"
#include "../common/concat_geometry.h"
#include "../common/no_throw.h"
#include "parm/codec.h"
#include "thread_pool.h"

namespace parm {
namespace {

// Below this many floats touched (read + written) a call stays on the caller's thread: a pool
// hand-off costs more than it saves. The fuzz build lowers it (PARM_FUZZ) so that short arrays
// exercise the split too.
#ifndef PARM_PARALLEL_MIN_FLOATS
#define PARM_PARALLEL_MIN_FLOATS (std::size_t{1} << 20)
#endif
constexpr std::size_t kParallelMinFloats = PARM_PARALLEL_MIN_FLOATS;
constexpr std::size_t kChunkAlign = 64;  // floats; chunk starts stay 256-byte aligned relative

// The active ISA's implementation of one op (names <op>_<impl>, see codec.h).
template <class Fn>
Fn by_isa(Fn ref, [[maybe_unused]] Fn avx2, [[maybe_unused]] Fn avx512) {
  switch (active_isa()) {
#if defined(PARM_HAVE_X86_SIMD)
    case isa::avx512: return avx512;
    case isa::avx2: return avx2;
#endif
    default: return ref;
  }
}
#if defined(PARM_HAVE_X86_SIMD)
#define PARM_KERNEL(op) by_isa(op##_ref, op##_avx2, op##_avx512)
#else
#define PARM_KERNEL(op) by_isa(op##_ref, op##_ref, op##_ref)
#endif

// Calls body(i) for i in [0, chunks) on the pool. A chunk that cannot allocate its scratch must
// not throw on a worker thread (thread_pool's contract): the failure is reported instead.
template <class Body>
status run_chunks(const char* op, std::size_t chunks, Body body) {
  std::atomic<bool> out_of_memory{false};
  global_pool().run(chunks, [&](std::size_t c) {
    if (!no_throw(op, [&] { body(c); return status::success(); }).ok()) out_of_memory = true;
  });
  if (out_of_memory) return status::error(status_code::out_of_memory, std::string(op) + ": out of host memory");
  return status::success();
}

// Calls body(begin, end) over [0, n), in parallel when the work is large enough.
template <class Body>
status split(const char* op, std::size_t n, std::size_t floats_touched, Body body) {
  const unsigned t = global_pool().size();
  if (t <= 1 || floats_touched < kParallelMinFloats || n < 2 * kChunkAlign) {
    body(std::size_t{0}, n);
    return status::success();
  }
  std::size_t per = (n + t - 1) / t;
  per = (per + kChunkAlign - 1) / kChunkAlign * kChunkAlign;
  const std::size_t chunks = (n + per - 1) / per;
  return run_chunks(op, chunks, [&](std::size_t c) {
    const std::size_t b = c * per, e = b + per < n ? b + per : n;
    body(b, e);
  });
}

std::vector<const float*> offset(const float* const* p, std::size_t count, std::size_t by) {
  std::vector<const float*> v(count);
  for (std::size_t i = 0; i < count; ++i) v[i] = p[i] + by;
  return v;
}

status bad(std::string msg) { return status::error(status_code::invalid_argument, std::move(msg)); }

}  // namespace

void set_threads(unsigned n) { global_pool().resize(n); }
unsigned threads() { return global_pool().size(); }

status encode_sum_f32(const float* const* inputs, const float* weights, std::size_t k,
                      std::size_t n, float* out) {
  return no_throw("encode_sum", [&] {
    if (k == 0) return bad("k must be at least 1 (no inputs)");
    if (n == 0) return status::success();
    if (!out) return bad("out is null");
    if (!inputs) return bad("inputs is null");
    for (std::size_t i = 0; i < k; ++i)
      if (!inputs[i]) return bad("inputs[" + std::to_string(i) + "] is null");
    const auto fn = PARM_KERNEL(encode_sum_f32);
    return split("encode_sum", n, n * (k + 1), [&](std::size_t b, std::size_t e) {
      if (b == 0) return fn(inputs, weights, k, e, out);
      const auto in = offset(inputs, k, b);
      fn(in.data(), weights, k, e - b, out + b);
    });
  });
}

grid default_grid(std::size_t k) {
  if (k == 0) return {0, 0};
  std::size_t rows = static_cast<std::size_t>(std::sqrt(static_cast<double>(k)));
  while (rows * rows > k) --rows;
  while ((rows + 1) * (rows + 1) <= k) ++rows;
  return {rows, (k + rows - 1) / rows};
}

status encode_concat_f32(const float* const* images, std::size_t k, const image_shape& shape,
                         grid g, float* out) {
  return no_throw("encode_concat", [&] {
    status s = check_concat_args(k, shape, &g);
    if (!s.ok()) return s;
    if (!out) return bad("out is null");
    if (!images) return bad("images is null");
    for (std::size_t i = 0; i < k; ++i)
      if (!images[i]) return bad("images[" + std::to_string(i) + "] is null");
    const std::size_t tiles = g.rows * g.cols;
    // Tiles with no image are zero; every other output element is written by exactly one tile.
    const std::size_t n = shape.channels * shape.height * shape.width;
    const auto tile = PARM_KERNEL(encode_concat_tile_f32);
    auto body = [&](std::size_t t) {
      if (t < k) return tile(images[t], t, shape, g, out);
      // Empty tile: zero its pixels (the tile function with an all-zero source would be slower).
      const auto [y0, x0, th, tw, sc, sy, sx] = concat_tile_of(t, shape, g);
      for (std::size_t ch = 0; ch < shape.channels; ++ch)
        for (std::size_t y = y0; y < y0 + th; ++y)
          for (std::size_t x = x0; x < x0 + tw; ++x) out[ch * sc + y * sy + x * sx] = 0.0f;
    };
    if (n * (k + 1) >= kParallelMinFloats) return run_chunks("encode_concat", tiles, body);
    for (std::size_t t = 0; t < tiles; ++t) body(t);
    return status::success();
  });
}

status copy_f32(const float* src, std::size_t n, float* dst) {
  if (n == 0) return status::success();
  if (!src || !dst) return bad("copy: null pointer");
  const auto fn = PARM_KERNEL(copy_f32);
  return split("copy", n, 2 * n, [&](std::size_t b, std::size_t e) { fn(src + b, e - b, dst + b); });
}

status first_non_finite_f32(const float* x, std::size_t n, std::ptrdiff_t* index) {
  if (!index) return bad("first_non_finite: index is null");
  *index = -1;
  if (n == 0) return status::success();
  if (!x) return bad("first_non_finite: x is null");
  *index = PARM_KERNEL(first_non_finite_f32)(x, n);
  return status::success();
}

status decode_f32(const float* const* parity, std::size_t r, const float* const* data,
                  std::size_t k, const float* coeff, std::size_t n, float* const* outs,
                  std::size_t n_outs) {
  return no_throw("decode", [&] {
    if (r > 0 && !parity) return bad("parityOutputs is null");
    if (k > 0 && !data) return bad("dataOutputs is null");
    for (std::size_t i = 0; i < r; ++i)
      if (!parity[i]) return bad("parityOutputs[" + std::to_string(i) + "] is null");
    std::unique_ptr<bool[]> present(new bool[k]);
    for (std::size_t j = 0; j < k; ++j) present[j] = data[j] != nullptr;
    decode_plan plan;
    status s = plan_decode(r, present.get(), k, coeff, n_outs, &plan);
    if (!s.ok()) return s;
    const std::size_t m = plan.missing.size();
    if (m == 0 || n == 0) return status::success();
    if (!outs) return bad("outs is null");
    for (std::size_t i = 0; i < m; ++i)
      if (!outs[i]) return bad("output " + std::to_string(i) + " is null");
    std::vector<const float*> f(plan.present.size());
    for (std::size_t i = 0; i < plan.present.size(); ++i) f[i] = data[plan.present[i]];
    const auto sub = PARM_KERNEL(decode_sub_f32);
    const std::size_t touched = n * (k + 1);
    if (m == 1) {
      const std::size_t row = plan.rows[0];
      return split("decode", n, touched, [&](std::size_t b, std::size_t e) {
        const auto fb = offset(f.data(), f.size(), b);
        sub(parity[row] + b, fb.data(), plan.row_weights[0].data(), fb.size(), plan.divisor, e - b,
            outs[0] + b);
      });
    }
    // Residuals b_a = p_rows[a] - sum_{j present} c(rows[a], j) F_j, then outs[i] = sum_a inv[i][a] b_a.
    std::vector<float> scratch(m * n);
    std::vector<const float*> res(m);
    for (std::size_t a = 0; a < m; ++a) res[a] = scratch.data() + a * n;
    const auto sum = PARM_KERNEL(encode_sum_f32);
    return split("decode", n, touched + 2 * m * n, [&](std::size_t b, std::size_t e) {
      const auto fb = offset(f.data(), f.size(), b);
      for (std::size_t a = 0; a < m; ++a)
        sub(parity[plan.rows[a]] + b, fb.data(), plan.row_weights[a].data(), fb.size(), 1.0f, e - b,
            scratch.data() + a * n + b);
      const auto rb = offset(res.data(), m, b);
      for (std::size_t i = 0; i < m; ++i)
        sum(rb.data(), plan.inverse.data() + i * m, m, e - b, outs[i] + b);
    });
  });
}

}  // namespace parm
