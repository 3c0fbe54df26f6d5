// Dispatching entry points of codec.h: argument checks, ISA choice, and splitting large tensors
// across the thread pool in cache-line-aligned chunks.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "parm/codec.h"
#include "thread_pool.h"

namespace parm {
namespace {

// Below this many floats touched (read + written) a call stays on the caller's thread: a pool
// hand-off costs more than it saves.
constexpr std::size_t kParallelMinFloats = std::size_t{1} << 20;
constexpr std::size_t kChunkAlign = 64;  // floats; chunk starts stay 256-byte aligned relative

using sum_fn = void (*)(const float* const*, const float*, std::size_t, std::size_t, float*);
using sub_fn = void (*)(const float*, const float* const*, const float*, std::size_t, float,
                        std::size_t, float*);

sum_fn pick_sum() {
  switch (active_isa()) {
#if defined(PARM_HAVE_X86_SIMD)
    case isa::avx512: return encode_sum_f32_avx512;
    case isa::avx2: return encode_sum_f32_avx2;
#endif
    default: return encode_sum_f32_ref;
  }
}

sub_fn pick_sub() {
  switch (active_isa()) {
#if defined(PARM_HAVE_X86_SIMD)
    case isa::avx512: return decode_sub_f32_avx512;
    case isa::avx2: return decode_sub_f32_avx2;
#endif
    default: return decode_sub_f32_ref;
  }
}

// Calls body(begin, end) over [0, n), in parallel when the work is large enough.
template <class Body>
void split(std::size_t n, std::size_t floats_touched, Body body) {
  thread_pool& pool = global_pool();
  const unsigned t = pool.size();
  if (t <= 1 || floats_touched < kParallelMinFloats || n < 2 * kChunkAlign) {
    body(std::size_t{0}, n);
    return;
  }
  std::size_t per = (n + t - 1) / t;
  per = (per + kChunkAlign - 1) / kChunkAlign * kChunkAlign;
  const std::size_t chunks = (n + per - 1) / per;
  pool.run(chunks, [&](std::size_t c) {
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
  if (k == 0) return bad("k must be at least 1 (no inputs)");
  if (n == 0) return status::success();
  if (!out) return bad("out is null");
  for (std::size_t i = 0; i < k; ++i)
    if (!inputs[i]) return bad("inputs[" + std::to_string(i) + "] is null");
  const sum_fn fn = pick_sum();
  split(n, n * (k + 1), [&](std::size_t b, std::size_t e) {
    if (b == 0) return fn(inputs, weights, k, e, out);
    const auto in = offset(inputs, k, b);
    fn(in.data(), weights, k, e - b, out + b);
  });
  return status::success();
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
  if (k == 0) return bad("k must be at least 1 (no images)");
  if (g.rows == 0 && g.cols == 0) g = default_grid(k);
  if (g.rows == 0 || g.cols == 0) return bad("grid rows and cols must both be at least 1");
  if (g.rows * g.cols < k)
    return bad("grid " + std::to_string(g.rows) + "x" + std::to_string(g.cols) + " has fewer than k=" +
               std::to_string(k) + " tiles");
  if (shape.channels == 0 || shape.height == 0 || shape.width == 0)
    return bad("shape channels, height and width must be at least 1");
  if (g.rows > shape.height || g.cols > shape.width)
    return bad("grid " + std::to_string(g.rows) + "x" + std::to_string(g.cols) +
               " is finer than the image (" + std::to_string(shape.height) + "x" +
               std::to_string(shape.width) + ")");
  for (std::size_t i = 0; i < k; ++i)
    if (!images[i]) return bad("images[" + std::to_string(i) + "] is null");
  const std::size_t tiles = g.rows * g.cols;
  // Tiles with no image are zero; every other output element is written by exactly one tile.
  const std::size_t n = shape.channels * shape.height * shape.width;
  const bool threaded = n * (k + 1) >= kParallelMinFloats;
  void (*tile)(const float*, std::size_t, const image_shape&, grid, float*) = encode_concat_tile_f32_ref;
#if defined(PARM_HAVE_X86_SIMD)
  if (active_isa() == isa::avx512) tile = encode_concat_tile_f32_avx512;
  if (active_isa() == isa::avx2) tile = encode_concat_tile_f32_avx2;
#endif
  auto body = [&](std::size_t t) {
    if (t < k) {
      tile(images[t], t, shape, g, out);
    } else {
      // Empty tile: zero its pixels (the tile function with an all-zero source would be slower).
      const std::size_t r = t / g.cols, c = t % g.cols;
      const std::size_t H = shape.height, W = shape.width, C = shape.channels;
      const std::size_t y0 = r * H / g.rows, y1 = (r + 1) * H / g.rows;
      const std::size_t x0 = c * W / g.cols, x1 = (c + 1) * W / g.cols;
      for (std::size_t ch = 0; ch < C; ++ch)
        for (std::size_t y = y0; y < y1; ++y)
          for (std::size_t x = x0; x < x1; ++x)
            out[shape.order == layout::nhwc ? (y * W + x) * C + ch : (ch * H + y) * W + x] = 0.0f;
    }
  };
  if (threaded) {
    global_pool().run(tiles, body);
  } else {
    for (std::size_t t = 0; t < tiles; ++t) body(t);
  }
  return status::success();
}

status copy_f32(const float* src, std::size_t n, float* dst) {
  if (n == 0) return status::success();
  if (!src || !dst) return bad("copy: null pointer");
  void (*fn)(const float*, std::size_t, float*) = copy_f32_ref;
#if defined(PARM_HAVE_X86_SIMD)
  if (active_isa() == isa::avx512) fn = copy_f32_avx512;
  if (active_isa() == isa::avx2) fn = copy_f32_avx2;
#endif
  split(n, 2 * n, [&](std::size_t b, std::size_t e) { fn(src + b, e - b, dst + b); });
  return status::success();
}

status first_non_finite_f32(const float* x, std::size_t n, std::ptrdiff_t* index) {
  if (!index) return bad("first_non_finite: index is null");
  *index = -1;
  if (n == 0) return status::success();
  if (!x) return bad("first_non_finite: x is null");
  std::ptrdiff_t (*fn)(const float*, std::size_t) = first_non_finite_f32_ref;
#if defined(PARM_HAVE_X86_SIMD)
  if (active_isa() == isa::avx512) fn = first_non_finite_f32_avx512;
  if (active_isa() == isa::avx2) fn = first_non_finite_f32_avx2;
#endif
  *index = fn(x, n);
  return status::success();
}

namespace {

// Inverts the m x m matrix a (row-major, double) in place; false if singular.
bool invert(std::vector<double>& a, std::size_t m) {
  std::vector<double> inv(m * m, 0.0);
  for (std::size_t i = 0; i < m; ++i) inv[i * m + i] = 1.0;
  double scale = 0.0;
  for (double v : a) scale = std::fmax(scale, std::fabs(v));
  if (scale == 0.0) return false;
  for (std::size_t col = 0; col < m; ++col) {
    std::size_t piv = col;
    for (std::size_t r = col + 1; r < m; ++r)
      if (std::fabs(a[r * m + col]) > std::fabs(a[piv * m + col])) piv = r;
    if (std::fabs(a[piv * m + col]) <= 1e-9 * scale) return false;
    if (piv != col)
      for (std::size_t c = 0; c < m; ++c) {
        std::swap(a[piv * m + c], a[col * m + c]);
        std::swap(inv[piv * m + c], inv[col * m + c]);
      }
    const double d = a[col * m + col];
    for (std::size_t c = 0; c < m; ++c) {
      a[col * m + c] /= d;
      inv[col * m + c] /= d;
    }
    for (std::size_t r = 0; r < m; ++r) {
      if (r == col) continue;
      const double f = a[r * m + col];
      if (f == 0.0) continue;
      for (std::size_t c = 0; c < m; ++c) {
        a[r * m + c] -= f * a[col * m + c];
        inv[r * m + c] -= f * inv[col * m + c];
      }
    }
  }
  a = std::move(inv);
  return true;
}

// Next m-combination of [0, r) in lexicographic order; false after the last.
bool next_combination(std::vector<std::size_t>& c, std::size_t r) {
  const std::size_t m = c.size();
  for (std::size_t i = m; i-- > 0;) {
    if (c[i] < r - m + i) {
      ++c[i];
      for (std::size_t j = i + 1; j < m; ++j) c[j] = c[j - 1] + 1;
      return true;
    }
  }
  return false;
}

}  // namespace

status plan_decode(std::size_t r, const bool* present, std::size_t k, const float* coeff,
                   std::size_t n_outs, decode_plan* plan) {
  if (k == 0) return bad("k must be at least 1 (no data outputs)");
  if (r == 0) return bad("at least one parity output is required");
  if (!coeff && r != 1) return bad("coefficients are required when there is more than one parity output");
  decode_plan p;
  for (std::size_t j = 0; j < k; ++j) (present[j] ? p.present : p.missing).push_back(j);
  const std::size_t m = p.missing.size();
  if (n_outs != m)
    return bad("expected " + std::to_string(m) + " output arrays (one per missing output), got " +
               std::to_string(n_outs));
  if (m > r)
    return status::error(status_code::singular,
                         std::to_string(m) + " data outputs are missing but only " +
                             std::to_string(r) + " parity outputs were given");
  auto c = [&](std::size_t row, std::size_t j) { return coeff ? coeff[row * k + j] : 1.0f; };
  if (m == 1) {
    // Contract 2: the first parity row whose coefficient for the missing index is nonzero.
    const std::size_t i = p.missing[0];
    for (std::size_t q = 0; q < r; ++q)
      if (c(q, i) != 0.0f && std::isfinite(c(q, i))) {
        p.rows.push_back(q);
        break;
      }
    if (p.rows.empty())
      return status::error(status_code::singular,
                           "no parity output has a nonzero coefficient for missing output " +
                               std::to_string(i));
    p.divisor = c(p.rows[0], i);
  } else if (m > 1) {
    // The first m parity rows (lexicographic) with a nonsingular submatrix.
    std::vector<std::size_t> rows(m);
    for (std::size_t i = 0; i < m; ++i) rows[i] = i;
    std::vector<double> inv;
    bool found = false;
    do {
      inv.assign(m * m, 0.0);
      for (std::size_t a = 0; a < m; ++a)
        for (std::size_t b = 0; b < m; ++b) inv[a * m + b] = c(rows[a], p.missing[b]);
      if (invert(inv, m)) {
        found = true;
        break;
      }
    } while (next_combination(rows, r));
    if (!found)
      return status::error(status_code::singular,
                           "the coefficient submatrix for the missing outputs is singular for every "
                           "choice of parity outputs");
    p.rows = rows;
    p.inverse.resize(m * m);
    for (std::size_t x = 0; x < m * m; ++x) p.inverse[x] = static_cast<float>(inv[x]);
  }
  for (std::size_t row : p.rows) {
    std::vector<float> w(p.present.size());
    for (std::size_t t = 0; t < p.present.size(); ++t) w[t] = c(row, p.present[t]);
    p.row_weights.push_back(std::move(w));
  }
  *plan = std::move(p);
  return status::success();
}

status decode_f32(const float* const* parity, std::size_t r, const float* const* data,
                  std::size_t k, const float* coeff, std::size_t n, float* const* outs,
                  std::size_t n_outs) {
  for (std::size_t i = 0; i < r; ++i)
    if (!parity[i]) return bad("parityOutputs[" + std::to_string(i) + "] is null");
  std::unique_ptr<bool[]> present(new bool[k]);
  for (std::size_t j = 0; j < k; ++j) present[j] = data[j] != nullptr;
  decode_plan plan;
  status s = plan_decode(r, present.get(), k, coeff, n_outs, &plan);
  if (!s.ok()) return s;
  const std::size_t m = plan.missing.size();
  if (m == 0 || n == 0) return status::success();
  for (std::size_t i = 0; i < m; ++i)
    if (!outs[i]) return bad("output " + std::to_string(i) + " is null");
  std::vector<const float*> f(plan.present.size());
  for (std::size_t i = 0; i < plan.present.size(); ++i) f[i] = data[plan.present[i]];
  const sub_fn sub = pick_sub();
  const std::size_t touched = n * (k + 1);
  if (m == 1) {
    const std::size_t row = plan.rows[0];
    split(n, touched, [&](std::size_t b, std::size_t e) {
      const auto fb = offset(f.data(), f.size(), b);
      sub(parity[row] + b, fb.data(), plan.row_weights[0].data(), fb.size(), plan.divisor, e - b,
          outs[0] + b);
    });
    return status::success();
  }
  // Residuals b_a = p_rows[a] - sum_{j present} c(rows[a], j) F_j, then outs[i] = sum_a inv[i][a] b_a.
  std::vector<float> scratch(m * n);
  std::vector<const float*> res(m);
  for (std::size_t a = 0; a < m; ++a) res[a] = scratch.data() + a * n;
  const sum_fn sum = pick_sum();
  split(n, touched + 2 * m * n, [&](std::size_t b, std::size_t e) {
    const auto fb = offset(f.data(), f.size(), b);
    for (std::size_t a = 0; a < m; ++a)
      sub(parity[plan.rows[a]] + b, fb.data(), plan.row_weights[a].data(), fb.size(), 1.0f, e - b,
          scratch.data() + a * n + b);
    const auto rb = offset(res.data(), m, b);
    for (std::size_t i = 0; i < m; ++i)
      sum(rb.data(), plan.inverse.data() + i * m, m, e - b, outs[i] + b);
  });
  return status::success();
}

}  // namespace parm
