// libFuzzer target: parm::decode_f32 (and through it plan_decode) with r >= 1 parity outputs,
// input-chosen k, erasures, coefficient sets (ones, small integers, reals, zeros, repeated rows,
// Vandermonde rows, special values), lengths, unaligned views, ISA and threads. Every call must
// return ok, singular or invalid_argument, as its plan says; a successful one must equal the plan
// applied with the scalar reference kernels bit for bit (NaN as NaN) and, for one erasure,
// Contract 2's formula written out here; outputs of a refused call stay untouched.
#include "fuzz_common.h"

using namespace parm_fuzz;

namespace {

float coefficient(FuzzedDataProvider& in, int style, std::size_t row, std::size_t col) {
  switch (style) {
    case 0: return static_cast<float>(in.ConsumeIntegralInRange<int>(-4, 4));           // small integers, zeros
    case 1: return in.ConsumeFloatingPointInRange<float>(-4, 4);                         // reals
    case 2: return static_cast<float>(std::pow(static_cast<double>(col + 1), static_cast<double>(row)));  // Vandermonde
    case 3: return row % 2 == 0 ? 1.0f : 2.0f;                                           // repeated rows
    default: return special_float(in);                                                   // anything
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  FuzzedDataProvider in(bytes, size);
  const std::size_t k = in.ConsumeIntegralInRange<std::size_t>(1, 32);
  const std::size_t n = pick_length(in, k + 1, 200);
  // Long arrays (the threaded split) with few parity rows, so that one run stays quick.
  const std::size_t r = in.ConsumeIntegralInRange<std::size_t>(1, n > 200 ? 3 : 32);
  // Coefficients: null (r == 1 means all ones) or r x k values of one style.
  const bool ones = r == 1 && in.ConsumeBool();
  const int style = in.ConsumeIntegralInRange<int>(0, 4);
  std::vector<float> coeff(r * k, 1.0f);
  if (!ones)
    for (std::size_t q = 0; q < r; ++q)
      for (std::size_t j = 0; j < k; ++j) coeff[q * k + j] = coefficient(in, style, q, j);
  const float* c = ones ? nullptr : coeff.data();
  auto w = [&](std::size_t q, std::size_t j) { return c ? c[q * k + j] : 1.0f; };

  std::vector<view> data;
  std::vector<const float*> dptr(k);
  for (std::size_t j = 0; j < k; ++j) {
    data.emplace_back(n, in.ConsumeIntegralInRange<std::size_t>(0, 3));
    fill_data(in, data.back().data(), n, 2);
    dptr[j] = data.back().data();
  }
  // Parity rows: the coded combinations of the data (a real decode), or independent data.
  const bool coded = in.ConsumeBool();
  std::vector<view> parity;
  std::vector<const float*> pptr(r);
  for (std::size_t q = 0; q < r; ++q) {
    parity.emplace_back(n, in.ConsumeIntegralInRange<std::size_t>(0, 3));
    if (coded) parm::encode_sum_f32_ref(dptr.data(), c ? c + q * k : nullptr, k, n, parity.back().data());
    else fill_data(in, parity.back().data(), n, 2);
    pptr[q] = parity.back().data();
  }
  std::vector<std::size_t> missing;
  for (std::size_t j = 0; j < k; ++j)
    if (in.ConsumeIntegralInRange<int>(0, 3) == 3) {
      dptr[j] = nullptr;
      missing.push_back(j);
    }
  // The output count the caller passes: right, or (rarely) off by one.
  std::size_t n_outs = missing.size();
  if (in.ConsumeIntegralInRange<int>(0, 15) == 15) n_outs = n_outs == 0 || in.ConsumeBool() ? n_outs + 1 : n_outs - 1;
  std::vector<view> outs;
  std::vector<float*> optr;
  for (std::size_t i = 0; i < n_outs; ++i) {
    outs.emplace_back(n, in.ConsumeIntegralInRange<std::size_t>(0, 3));
    outs.back().fill(NAN);
    optr.push_back(outs.back().data());
  }
  pick_isa(in);
  // decode_f32 touches n*(k+1) floats, plus 2*m*n for several erasures (codec.cc).
  const std::size_t touched = n * (k + 1) + (missing.size() > 1 ? 2 * missing.size() * n : 0);
  pick_threads(in, touched);

  const parm::status s = parm::decode_f32(pptr.data(), r, dptr.data(), k, c, n, optr.data(), n_outs);
  if (n_outs != missing.size()) {
    check(s.code == parm::status_code::invalid_argument, "decode refuses a wrong output count");
  } else {
    check(s.ok() || s.code == parm::status_code::singular || s.code == parm::status_code::invalid_argument,
          "decode returns ok, singular or invalid_argument", s.message.c_str());
  }
  check(s.ok() || !s.message.empty(), "a refused decode says why");
  for (const view& o : outs) check(o.guard_intact(), "decode wrote before an output");
  if (!s.ok()) {
    for (const view& o : outs)
      for (std::size_t e = 0; e < n; ++e) check(std::isnan(o.data()[e]), "a refused decode wrote an output");
  }

  // The reference: the plan, then the scalar kernels over the whole length (Contract 2's
  // composition: residuals with decode_sub, then the inverse's rows with encode_sum).
  std::unique_ptr<bool[]> present(new bool[k]);
  for (std::size_t j = 0; j < k; ++j) present[j] = dptr[j] != nullptr;
  parm::decode_plan plan;
  const parm::status planned = parm::plan_decode(r, present.get(), k, c, n_outs, &plan);
  check(planned.code == s.code, "decode decides as its plan does", planned.message.c_str());
  if (!s.ok()) return 0;
  const std::size_t m = plan.missing.size();
  std::vector<const float*> f;
  for (std::size_t j : plan.present) f.push_back(dptr[j]);
  if (m == 1) {
    std::vector<float> want(n);
    parm::decode_sub_f32_ref(pptr[plan.rows[0]], f.data(), plan.row_weights[0].data(), f.size(), plan.divisor, n,
                             want.data());
    check_same(outs[0].data(), want.data(), n, "decode vs the reference kernels");
  } else if (m > 1) {
    std::vector<std::vector<float>> residual(m, std::vector<float>(n));
    std::vector<const float*> rp;
    for (std::size_t a = 0; a < m; ++a) {
      parm::decode_sub_f32_ref(pptr[plan.rows[a]], f.data(), plan.row_weights[a].data(), f.size(), 1.0f, n,
                               residual[a].data());
      rp.push_back(residual[a].data());
    }
    std::vector<float> want(n);
    for (std::size_t i = 0; i < m; ++i) {
      parm::encode_sum_f32_ref(rp.data(), plan.inverse.data() + i * m, m, n, want.data());
      check_same(outs[i].data(), want.data(), n, "decode vs the reference kernels");
    }
  }

  // One erasure: Contract 2 directly. The first row q with w_qi != 0; acc = p_q; for j != i
  // ascending: acc = acc - w_qj*F_j; out = acc / w_qi.
  if (missing.size() == 1) {
    const std::size_t i = missing[0];
    std::size_t q = 0;
    while (q < r && !(w(q, i) != 0.0f && std::isfinite(w(q, i)))) ++q;
    check(q < r, "decode succeeded without a usable parity row");
    std::vector<float> formula(n);
    for (std::size_t e = 0; e < n; ++e) {
      volatile float acc = pptr[q][e];
      for (std::size_t j = 0; j < k; ++j) {
        if (j == i) continue;
        volatile float prod = w(q, j) * dptr[j][e];
        acc = acc - prod;
      }
      formula[e] = acc / w(q, i);
    }
    check_same(outs[0].data(), formula.data(), n, "one-erasure decode vs Contract 2");
  }
  return 0;
}
