// libFuzzer target: parm::encode_concat_f32 on input-chosen shapes, layouts, k, grids (valid and
// not), unaligned views, data, ISA and threads. A valid call must equal the scalar reference tile
// kernel's result bit for bit (NaN as NaN), and so must the CUDA kernel's per-pixel body (concat_pixel_f32, run
// here on the host); an invalid one must return invalid_argument and leave the output untouched.
#include "../src/common/concat_geometry.h"
#include "fuzz_common.h"

using namespace parm_fuzz;

namespace {

// The documented rule (docs/codec.md), written out here independently of concat_args.cc.
bool valid(std::size_t k, const parm::image_shape& s, parm::grid g) {
  if (g.rows == 0 && g.cols == 0) g = parm::default_grid(k);
  return k >= 1 && g.rows >= 1 && g.cols >= 1 && g.rows <= s.height && g.cols <= s.width && g.rows * g.cols >= k;
}

// Every output element through the CUDA kernel's per-element body, as the kernel's threads do.
std::vector<float> pixels(const float* const* images, std::size_t k, const parm::image_shape& shape,
                                            parm::grid g) {
  std::vector<float> out(shape.channels * shape.height * shape.width);
  for (std::size_t e = 0; e < out.size(); ++e) out[e] = parm::concat_pixel_f32(images, k, shape, g, e);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  FuzzedDataProvider in(bytes, size);
  parm::image_shape shape;
  shape.channels = in.ConsumeIntegralInRange<std::size_t>(1, 4);
  // Mostly small images (every tile geometry; the fuzz build splits from 8192 floats touched, so
  // these reach the pool too); sometimes larger ones.
  const bool large = in.ConsumeIntegralInRange<int>(0, 15) == 15;
  shape.height = in.ConsumeIntegralInRange<std::size_t>(1, large ? 160 : 40);
  shape.width = in.ConsumeIntegralInRange<std::size_t>(1, large ? 160 : 40);
  shape.order = in.ConsumeBool() ? parm::layout::nhwc : parm::layout::nchw;
  const std::size_t k = in.ConsumeIntegralInRange<std::size_t>(0, 17);
  parm::grid g;
  if (in.ConsumeBool()) {  // otherwise {0, 0}: the default grid
    g.rows = in.ConsumeIntegralInRange<std::size_t>(0, shape.height + 1);
    g.cols = in.ConsumeIntegralInRange<std::size_t>(0, shape.width + 1);
  }
  const std::size_t n = shape.channels * shape.height * shape.width;
  if (n * (k + 1) > (std::size_t{1} << 20)) return 0;  // keep one run quick under ASan
  std::vector<view> images;
  std::vector<const float*> ptrs;
  for (std::size_t i = 0; i < k; ++i) {
    images.emplace_back(n, in.ConsumeIntegralInRange<std::size_t>(0, 3));
    fill_data(in, images.back().data(), n);
    ptrs.push_back(images.back().data());
  }
  view out(n, in.ConsumeIntegralInRange<std::size_t>(0, 3));
  out.fill(NAN);
  const bool null_image = k > 0 && in.ConsumeIntegralInRange<int>(0, 15) == 15;
  if (null_image) ptrs[in.ConsumeIntegralInRange<std::size_t>(0, k - 1)] = nullptr;
  pick_isa(in);
  pick_threads(in, n * (k + 1));

  const parm::status s = parm::encode_concat_f32(ptrs.data(), k, shape, g, out.data());
  if (!valid(k, shape, g) || null_image) {
    check(s.code == parm::status_code::invalid_argument && !s.message.empty(), "encode_concat refuses bad arguments");
    for (std::size_t e = 0; e < n; ++e) check(std::isnan(out.data()[e]), "a refused encode_concat wrote its output");
    return 0;
  }
  check(s.ok(), "encode_concat on valid arguments", s.message.c_str());
  check(out.guard_intact(), "encode_concat wrote before its output");
  // The reference: the scalar tile kernel for every image, zeros in the tiles without one.
  const parm::grid used = g.rows == 0 ? parm::default_grid(k) : g;
  std::vector<float> want(n, NAN);
  for (std::size_t t = 0; t < used.rows * used.cols; ++t) {
    if (t < k) {
      parm::encode_concat_tile_f32_ref(ptrs[t], t, shape, used, want.data());
      continue;
    }
    const parm::concat_tile tile = parm::concat_tile_of(t, shape, used);
    for (std::size_t ch = 0; ch < shape.channels; ++ch)
      for (std::size_t y = tile.y0; y < tile.y0 + tile.th; ++y)
        for (std::size_t x = tile.x0; x < tile.x0 + tile.tw; ++x) want[ch * tile.sc + y * tile.sy + x * tile.sx] = 0.0f;
  }
  check_same(out.data(), want.data(), n, "encode_concat vs the reference tile kernel");
  const std::vector<float> pixel = pixels(ptrs.data(), k, shape, used);
  check_same(pixel.data(), want.data(), n, "concat_pixel_f32 (the CUDA kernel body) vs the reference");
  return 0;
}
