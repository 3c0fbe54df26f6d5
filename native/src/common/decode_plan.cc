// The decoder's plan (Contract 2): which data outputs are missing, which parity rows rebuild them,
// the weights each row subtracts with and, for several missing outputs, the float32 inverse of the
// rows' submatrix. Shared by the CPU decoder (codec.cc) and the CUDA decoder.
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "no_throw.h"
#include "parm/codec.h"

namespace parm {
namespace {

status bad(std::string msg) { return status::error(status_code::invalid_argument, std::move(msg)); }

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

// The parity rows for m > 1 missing outputs: in order, each row independent (on the missing
// columns) of the rows taken before it, until m are taken. Rows over a field form a matroid, so
// this greedy set is the lexicographically first m rows with a nonsingular submatrix (Contract 2),
// found in O(r m^2) instead of trying up to C(r, m) subsets. A row counts as independent when
// eliminating the taken rows leaves an entry above 1e-9 of the largest coefficient on the missing
// columns (the singularity threshold of invert()). False if fewer than m rows are independent.
template <class Coeff>
bool independent_rows(std::size_t r, const std::vector<std::size_t>& missing, Coeff c,
                      std::vector<std::size_t>* rows) {
  const std::size_t m = missing.size();
  double scale = 0.0;
  for (std::size_t q = 0; q < r; ++q)
    for (std::size_t b = 0; b < m; ++b) scale = std::fmax(scale, std::fabs(static_cast<double>(c(q, missing[b]))));
  if (scale == 0.0) return false;
  std::vector<std::vector<double>> basis;  // taken rows, reduced, each with 1 at its pivot column
  std::vector<std::size_t> pivots;
  std::vector<double> v(m);
  for (std::size_t q = 0; q < r && rows->size() < m; ++q) {
    for (std::size_t b = 0; b < m; ++b) v[b] = c(q, missing[b]);
    for (std::size_t t = 0; t < basis.size(); ++t) {
      const double f = v[pivots[t]];
      if (f != 0.0)
        for (std::size_t b = 0; b < m; ++b) v[b] -= f * basis[t][b];
    }
    std::size_t piv = 0;
    for (std::size_t b = 1; b < m; ++b)
      if (std::fabs(v[b]) > std::fabs(v[piv])) piv = b;
    if (!(std::fabs(v[piv]) > 1e-9 * scale)) continue;  // dependent (or not a number)
    const double d = v[piv];
    for (double& x : v) x /= d;
    basis.push_back(v);
    pivots.push_back(piv);
    rows->push_back(q);
  }
  return rows->size() == m;
}

status plan_decode_unguarded(std::size_t r, const bool* present, std::size_t k, const float* coeff,
                             std::size_t n_outs, decode_plan* plan) {
  if (k == 0) return bad("k must be at least 1 (no data outputs)");
  if (r == 0) return bad("at least one parity output is required");
  if (!coeff && r != 1) return bad("coefficients are required when there is more than one parity output");
  if (coeff)
    for (std::size_t q = 0; q < r; ++q)
      for (std::size_t j = 0; j < k; ++j)
        if (!std::isfinite(coeff[q * k + j]))
          return bad("coefficients[" + std::to_string(q) + "][" + std::to_string(j) + "] is not a finite number");
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
      if (c(q, i) != 0.0f) {
        p.rows.push_back(q);
        break;
      }
    if (p.rows.empty())
      return status::error(status_code::singular,
                           "no parity output has a nonzero coefficient for missing output " +
                               std::to_string(i));
    p.divisor = c(p.rows[0], i);
  } else if (m > 1) {
    // The first m parity rows (lexicographic) with a nonsingular submatrix, then its inverse.
    std::vector<std::size_t> rows;
    std::vector<double> inv;
    bool found = independent_rows(r, p.missing, c, &rows);
    if (found) {
      inv.assign(m * m, 0.0);
      for (std::size_t a = 0; a < m; ++a)
        for (std::size_t b = 0; b < m; ++b) inv[a * m + b] = c(rows[a], p.missing[b]);
      found = invert(inv, m);  // agrees with the elimination above except at the threshold's edge
    }
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

}  // namespace

status plan_decode(std::size_t r, const bool* present, std::size_t k, const float* coeff,
                   std::size_t n_outs, decode_plan* plan) {
  if (!plan) return bad("plan is null");
  if (k > 0 && !present) return bad("present is null");
  return no_throw("plan_decode", [&] { return plan_decode_unguarded(r, present, k, coeff, n_outs, plan); });
}

}  // namespace parm
