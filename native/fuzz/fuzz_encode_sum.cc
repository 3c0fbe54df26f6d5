// libFuzzer target: parm::encode_sum_f32 (the summation encoder, also the batched encoder, which
// is the same call on query-major batches) on input-chosen k, lengths, unaligned views, weights,
// data, ISA and threads. Valid calls must equal the scalar reference bit for bit (NaN as NaN) and
// write nothing outside the output; invalid ones must return invalid_argument and write nothing.
#include "fuzz_common.h"

using namespace parm_fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  FuzzedDataProvider in(bytes, size);
  const std::size_t k = in.ConsumeIntegralInRange<std::size_t>(1, 12);
  const std::size_t n = pick_length(in, k + 1);
  std::vector<view> inputs;
  std::vector<const float*> ptrs;
  for (std::size_t i = 0; i < k; ++i) {
    inputs.emplace_back(n, in.ConsumeIntegralInRange<std::size_t>(0, 3));
    fill_data(in, inputs.back().data(), n);
  }
  for (auto& v : inputs) ptrs.push_back(v.data());
  // Weights: none (all ones), all exactly 1 (the multiply-skipping path), or input-chosen values.
  std::vector<float> weights(k, 1.0f);
  const int weighting = in.ConsumeIntegralInRange<int>(0, 2);
  if (weighting == 2)
    for (float& w : weights) w = in.ConsumeBool() ? special_float(in) : in.ConsumeFloatingPointInRange<float>(-8, 8);
  const float* w = weighting == 0 ? nullptr : weights.data();

  // Argument errors: k = 0, a null input, a null output (n > 0).
  const int broken = in.ConsumeIntegralInRange<int>(0, 7);
  view out(n, in.ConsumeIntegralInRange<std::size_t>(0, 3));
  out.fill(NAN);
  pick_isa(in);
  pick_threads(in, n * (k + 1));
  if (broken == 1 || broken == 2 || (broken == 3 && n > 0)) {
    std::vector<const float*> bad = ptrs;
    std::size_t bad_k = k;
    float* bad_out = out.data();
    if (broken == 1) bad_k = 0;
    if (broken == 2) bad[in.ConsumeIntegralInRange<std::size_t>(0, k - 1)] = nullptr;
    if (broken == 3) bad_out = nullptr;
    const parm::status s = parm::encode_sum_f32(bad.data(), w, bad_k, n, bad_out);
    // A null input is only an error when there is something to read.
    const bool expect_error = broken != 2 || n > 0;
    if (expect_error) {
      check(s.code == parm::status_code::invalid_argument && !s.message.empty(), "encode_sum refuses bad arguments");
      for (std::size_t e = 0; e < n; ++e) check(std::isnan(out.data()[e]), "a refused encode_sum wrote its output");
    } else {
      check(s.ok(), "encode_sum with n = 0 succeeds");
    }
    return 0;
  }

  const parm::status s = parm::encode_sum_f32(ptrs.data(), w, k, n, out.data());
  check(s.ok(), "encode_sum on valid arguments", s.message.c_str());
  std::vector<float> want(n);
  parm::encode_sum_f32_ref(ptrs.data(), w, k, n, want.data());
  check_same(out.data(), want.data(), n, "encode_sum vs encode_sum_f32_ref");
  check(out.guard_intact(), "encode_sum wrote before its output");
  for (const view& v : inputs) check(v.guard_intact(), "encode_sum wrote into an input's guard");
  return 0;
}
