// ctest suite for the parm coding core: every case of test/cases/codec-cases.json on every ISA
// this CPU has, with 1 and 3 threads, compared bit for bit with an oracle written directly from
// Contract 2 (independent of the reference kernels), plus the error cases of the table.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../src/common/concat_geometry.h"
#include "case_table.h"
#include "parm/codec.h"
#include "parm/cuda.h"

using parm_test::json;

namespace {

int g_failures = 0;
int g_checks = 0;

#define EXPECT(cond, ...)                                   \
  do {                                                      \
    ++g_checks;                                             \
    if (!(cond)) {                                          \
      ++g_failures;                                         \
      std::fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      std::fprintf(stderr, __VA_ARGS__);                    \
      std::fprintf(stderr, "\n");                           \
    }                                                       \
  } while (0)

struct rng {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  float uniform() { return static_cast<float>((next() >> 40) * (1.0 / 16777216.0) * 8.0 - 4.0); }
};

// A buffer whose data starts `offset` floats into its allocation (misaligned views).
struct view {
  std::vector<float> storage;
  float* p;
  view(std::size_t n, std::size_t offset, rng* r) : storage(n + offset + 1, std::nanf("")) {
    p = storage.data() + offset;
    if (r)
      for (std::size_t i = 0; i < n; ++i) p[i] = r->uniform();
  }
};

bool same_bits(const float* a, const float* b, std::size_t n, std::size_t* where) {
  for (std::size_t i = 0; i < n; ++i) {
    if (std::memcmp(a + i, b + i, sizeof(float)) != 0) {
      *where = i;
      return false;
    }
  }
  return true;
}

std::vector<float> coefficient_row(const json& table, const std::string& set, std::size_t row, std::size_t k,
                                   bool* has) {
  const json& rows = table["coefficient_sets"][set];
  *has = !rows.is_null();
  std::vector<float> w(k, 1.0f);
  if (*has)
    for (std::size_t j = 0; j < k; ++j) w[j] = static_cast<float>(rows[row][j].num);
  return w;
}

std::vector<parm::isa> isas() {
  std::vector<parm::isa> v;
  for (parm::isa i : {parm::isa::ref, parm::isa::avx2, parm::isa::avx512})
    if (parm::isa_supported(i)) v.push_back(i);
  return v;
}

// --- oracles, written from Contract 2 -------------------------------------------------------

void oracle_sum(const std::vector<float*>& in, const float* w, std::size_t n, float* out) {
  for (std::size_t e = 0; e < n; ++e) {
    volatile float acc = (w ? w[0] : 1.0f) * in[0][e];
    for (std::size_t i = 1; i < in.size(); ++i) {
      volatile float prod = (w ? w[i] : 1.0f) * in[i][e];
      acc = acc + prod;
    }
    out[e] = acc;
  }
}

std::size_t overlap(std::size_t a0, std::size_t a1, std::size_t b0, std::size_t b1) {
  const std::size_t lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
  return hi > lo ? hi - lo : 0;
}

void oracle_concat(const std::vector<float*>& imgs, std::size_t C, std::size_t H, std::size_t W, bool nhwc,
                   std::size_t R, std::size_t G, float* out) {
  auto at = [&](std::size_t ch, std::size_t y, std::size_t x) {
    return nhwc ? (y * W + x) * C + ch : (ch * H + y) * W + x;
  };
  for (std::size_t t = 0; t < R * G; ++t) {
    const std::size_t r = t / G, c = t % G;
    const std::size_t y0 = r * H / R, y1 = (r + 1) * H / R, x0 = c * W / G, x1 = (c + 1) * W / G;
    const std::size_t th = y1 - y0, tw = x1 - x0;
    for (std::size_t ch = 0; ch < C; ++ch)
      for (std::size_t oy = 0; oy < th; ++oy)
        for (std::size_t ox = 0; ox < tw; ++ox) {
          if (t >= imgs.size()) {
            out[at(ch, y0 + oy, x0 + ox)] = 0.0f;
            continue;
          }
          volatile float acc = 0.0f;
          for (std::size_t y = 0; y < H; ++y) {
            const std::size_t ovy = overlap(oy * H, (oy + 1) * H, y * th, (y + 1) * th);
            if (!ovy) continue;
            for (std::size_t x = 0; x < W; ++x) {
              const std::size_t ovx = overlap(ox * W, (ox + 1) * W, x * tw, (x + 1) * tw);
              if (!ovx) continue;
              volatile float prod = imgs[t][at(ch, y, x)] * static_cast<float>(ovy * ovx);
              acc = acc + prod;
            }
          }
          out[at(ch, y0 + oy, x0 + ox)] = acc / static_cast<float>(H * W);
        }
  }
}

// --- cases ------------------------------------------------------------------------------------

void run_sum(const json& table, const json& c, const char* kind) {
  const bool batched = std::string(kind) == "encode_sum_batched";
  const std::size_t k = c["k"].as_size(), off = c["offset"].as_size();
  const std::size_t n = batched ? c["batch"].as_size() * c["elements"].as_size() : c["n"].as_size();
  rng r{n * 131 + k};
  std::vector<view> ins;
  std::vector<float*> ptrs;
  for (std::size_t i = 0; i < k; ++i) ins.emplace_back(n, (off + i) % 4, &r);
  for (auto& v : ins) ptrs.push_back(v.p);
  bool has_w;
  const auto w = coefficient_row(table, c["weights"].str, 0, k, &has_w);
  view expect(n, 0, nullptr);
  oracle_sum(ptrs, has_w ? w.data() : nullptr, n, expect.p);
  std::vector<const float*> cptrs(ptrs.begin(), ptrs.end());
  for (parm::isa i : isas()) {
    for (unsigned threads : {1u, 3u}) {
      parm::set_isa(i);
      parm::set_threads(threads);
      view out(n, off, nullptr);
      parm::status s = parm::encode_sum_f32(cptrs.data(), has_w ? w.data() : nullptr, k, n, out.p);
      std::size_t where = 0;
      EXPECT(s.ok(), "%s n=%zu k=%zu: %s", kind, n, k, s.message.c_str());
      EXPECT(same_bits(out.p, expect.p, n, &where), "%s n=%zu k=%zu weights=%s isa=%s threads=%u: element %zu is %a, oracle %a",
             kind, n, k, c["weights"].str.c_str(), parm::isa_name(i), threads, where, out.p[where], expect.p[where]);
      EXPECT(std::isnan(out.storage[off + n]), "%s wrote past the end", kind);
    }
  }
}

void run_concat(const json& c) {
  const std::size_t C = c["channels"].as_size(), H = c["height"].as_size(), W = c["width"].as_size();
  const std::size_t k = c["k"].as_size(), off = c["offset"].as_size();
  const bool nhwc = c["layout"].str == "nhwc";
  parm::grid g = c["grid"].is_null() ? parm::default_grid(k) : parm::grid{c["grid"][0].as_size(), c["grid"][1].as_size()};
  const std::size_t n = C * H * W;
  rng r{n * 7 + k};
  std::vector<view> ins;
  std::vector<float*> ptrs;
  for (std::size_t i = 0; i < k; ++i) ins.emplace_back(n, (off + i) % 3, &r);
  for (auto& v : ins) ptrs.push_back(v.p);
  view expect(n, 0, nullptr);
  oracle_concat(ptrs, C, H, W, nhwc, g.rows, g.cols, expect.p);
  std::vector<const float*> cptrs(ptrs.begin(), ptrs.end());
  parm::image_shape shape{C, H, W, nhwc ? parm::layout::nhwc : parm::layout::nchw};
  // The CUDA kernel's per-element body (concat_pixel_f32), run here on the host.
  for (std::size_t e = 0; e < n; ++e) {
    const float got = parm::concat_pixel_f32(cptrs.data(), k, shape, g, e);
    if (std::memcmp(&got, expect.p + e, sizeof got) != 0) {
      EXPECT(false, "concat_pixel_f32 %zux%zux%zu k=%zu %s grid %zux%zu: element %zu is %a, oracle %a", C, H, W, k,
             c["layout"].str.c_str(), g.rows, g.cols, e, got, expect.p[e]);
      break;
    }
  }
  ++g_checks;
  for (parm::isa i : isas()) {
    parm::set_isa(i);
    for (unsigned threads : {1u, 3u}) {
      parm::set_threads(threads);
      view out(n, off, nullptr);
      parm::grid pass = c["grid"].is_null() ? parm::grid{0, 0} : g;
      parm::status s = parm::encode_concat_f32(cptrs.data(), k, shape, pass, out.p);
      std::size_t where = 0;
      EXPECT(s.ok(), "concat: %s", s.message.c_str());
      EXPECT(same_bits(out.p, expect.p, n, &where) && std::isnan(out.storage[off + n]),
             "concat %zux%zux%zu k=%zu %s grid %zux%zu isa=%s threads=%u: element %zu is %a, oracle %a", C, H, W, k,
             c["layout"].str.c_str(), g.rows, g.cols, parm::isa_name(i), threads, where, out.p[where], expect.p[where]);
    }
  }
}

void run_decode(const json& table, const json& c) {
  const std::size_t n = c["n"].as_size(), k = c["k"].as_size(), r = c["r"].as_size(), off = c["offset"].as_size();
  const std::string set = c["coefficients"].str;
  rng g{n * 17 + k * 3 + r};
  std::vector<view> data;
  for (std::size_t j = 0; j < k; ++j) data.emplace_back(n, (off + j) % 2, &g);
  std::vector<float> coeff;
  bool has_c = false;
  for (std::size_t q = 0; q < r; ++q) {
    auto row = coefficient_row(table, set, q, k, &has_c);
    coeff.insert(coeff.end(), row.begin(), row.end());
  }
  // Parity outputs: here exactly the coded combinations of the data outputs.
  std::vector<view> parity;
  std::vector<const float*> pp;
  parm::set_isa(parm::isa::ref);
  for (std::size_t q = 0; q < r; ++q) {
    parity.emplace_back(n, off, nullptr);
    std::vector<const float*> dp;
    for (auto& d : data) dp.push_back(d.p);
    parm::encode_sum_f32(dp.data(), has_c ? coeff.data() + q * k : nullptr, k, n, parity.back().p);
    pp.push_back(parity.back().p);
  }
  std::vector<std::size_t> missing;
  for (const json& m : c["missing"].arr) missing.push_back(m.as_size());
  std::vector<const float*> dptr(k);
  for (std::size_t j = 0; j < k; ++j) dptr[j] = data[j].p;
  for (std::size_t m : missing) dptr[m] = nullptr;

  // Oracle for one missing output (Contract 2): acc = p; acc -= w_j F_j; out = acc / w_i.
  std::vector<float> expect;
  if (missing.size() == 1) {
    const std::size_t i = missing[0];
    std::size_t row = 0;
    while (has_c && coeff[row * k + i] == 0.0f) ++row;
    expect.resize(n);
    for (std::size_t e = 0; e < n; ++e) {
      volatile float acc = pp[row][e];
      for (std::size_t j = 0; j < k; ++j) {
        if (j == i) continue;
        volatile float prod = (has_c ? coeff[row * k + j] : 1.0f) * data[j].p[e];
        acc = acc - prod;
      }
      expect[e] = acc / (has_c ? coeff[row * k + i] : 1.0f);
    }
  }
  std::vector<float> first;  // the reference ISA's result, which the others must equal
  for (parm::isa isa : isas()) {
    for (unsigned threads : {1u, 3u}) {
      parm::set_isa(isa);
      parm::set_threads(threads);
      std::vector<view> outs;
      std::vector<float*> op;
      for (std::size_t m = 0; m < missing.size(); ++m) outs.emplace_back(n, off, nullptr);
      for (auto& o : outs) op.push_back(o.p);
      parm::status s = parm::decode_f32(pp.data(), r, dptr.data(), k, has_c ? coeff.data() : nullptr, n, op.data(), op.size());
      EXPECT(s.ok(), "decode n=%zu k=%zu r=%zu: %s", n, k, r, s.message.c_str());
      if (!s.ok()) continue;
      std::vector<float> got;
      for (auto* o : op) got.insert(got.end(), o, o + n);
      std::size_t where = 0;
      if (!expect.empty())
        EXPECT(same_bits(got.data(), expect.data(), n, &where), "decode n=%zu k=%zu isa=%s threads=%u: element %zu is %a, oracle %a",
               n, k, parm::isa_name(isa), threads, where, got[where], expect[where]);
      if (first.empty()) first = got;
      EXPECT(got.size() == first.size() && same_bits(got.data(), first.data(), got.size(), &where),
             "decode n=%zu k=%zu r=%zu isa=%s threads=%u differs from ref at %zu", n, k, r, parm::isa_name(isa), threads, where);
      // Reconstruction accuracy against the true outputs (the system is solved in float32).
      double worst = 0;
      for (std::size_t m = 0; m < missing.size(); ++m)
        for (std::size_t e = 0; e < n; ++e)
          worst = std::fmax(worst, std::fabs(op[m][e] - data[missing[m]].p[e]) / (1.0 + std::fabs(data[missing[m]].p[e])));
      EXPECT(worst <= table["tolerance"]["reconstruction_rel"].num, "decode n=%zu k=%zu r=%zu: reconstruction error %g", n, k, r, worst);
    }
  }
}

void run_error(const json& table, const json& c) {
  const std::string what_op = c["op"].str;
  parm::status s;
  if (what_op == "encode_sum") {
    float out[1];
    s = parm::encode_sum_f32(nullptr, nullptr, c["k"].as_size(), c["n"].as_size(), out);
    EXPECT(s.code == parm::status_code::invalid_argument, "%s: expected invalid_argument, got %d", c["what"].str.c_str(), int(s.code));
    return;
  }
  if (what_op == "encode_concat") {
    const std::size_t n = c["channels"].as_size() * c["height"].as_size() * c["width"].as_size(), k = c["k"].as_size();
    std::vector<float> img(n, 1.0f), out(n);
    std::vector<const float*> ptrs(k, img.data());
    parm::image_shape shape{c["channels"].as_size(), c["height"].as_size(), c["width"].as_size(), parm::layout::nchw};
    s = parm::encode_concat_f32(ptrs.data(), k, shape, {c["grid"][0].as_size(), c["grid"][1].as_size()}, out.data());
    EXPECT(s.code == parm::status_code::invalid_argument, "%s: expected invalid_argument, got %d", c["what"].str.c_str(), int(s.code));
    return;
  }
  const std::size_t n = c["n"].as_size(), k = c["k"].as_size(), r = c["r"].as_size();
  std::vector<float> buf(n, 1.0f);
  std::vector<const float*> pp(r, buf.data()), dp(k, buf.data());
  for (const json& m : c["missing"].arr) dp[m.as_size()] = nullptr;
  std::vector<float> coeff;
  bool has_c = false;
  for (std::size_t q = 0; q < r; ++q) {
    auto row = coefficient_row(table, c["coefficients"].str, q, k, &has_c);
    coeff.insert(coeff.end(), row.begin(), row.end());
  }
  std::vector<std::vector<float>> outs(c["missing"].size(), std::vector<float>(n));
  std::vector<float*> op;
  for (auto& o : outs) op.push_back(o.data());
  s = parm::decode_f32(pp.data(), r, dp.data(), k, has_c ? coeff.data() : nullptr, n, op.data(), op.size());
  EXPECT(s.code == parm::status_code::singular, "%s: expected singular, got %d (%s)", c["what"].str.c_str(), int(s.code), s.message.c_str());
  EXPECT(!s.message.empty(), "%s: empty message", c["what"].str.c_str());
}

// --- the decoder's choice of parity rows ------------------------------------------------------

// Exact determinant of a small integer matrix (fraction-free Bareiss elimination in int64).
long long exact_det(std::vector<long long> a, std::size_t m) {
  long long sign = 1, prev = 1;
  for (std::size_t col = 0; col < m; ++col) {
    std::size_t piv = col;
    while (piv < m && a[piv * m + col] == 0) ++piv;
    if (piv == m) return 0;
    if (piv != col) {
      for (std::size_t c = 0; c < m; ++c) std::swap(a[piv * m + c], a[col * m + c]);
      sign = -sign;
    }
    for (std::size_t r = col + 1; r < m; ++r) {
      for (std::size_t c = col + 1; c < m; ++c)
        a[r * m + c] = (a[r * m + c] * a[col * m + col] - a[r * m + col] * a[col * m + c]) / prev;
      a[r * m + col] = 0;
    }
    prev = a[col * m + col];
  }
  return sign * a[(m - 1) * m + (m - 1)];
}

// Contract 2 says: the lexicographically first m parity rows whose submatrix on the missing
// columns is nonsingular. Checked against every subset, with exact determinants, on random small
// integer matrices full of zeros and repeated rows (where a wrong choice is likely).
void run_plan_choice() {
  rng g{4242};
  int cases = 0, singular = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    const std::size_t k = 2 + g.next() % 6, r = 2 + g.next() % 7;
    std::vector<float> coeff(r * k);
    for (std::size_t q = 0; q < r; ++q)
      for (std::size_t j = 0; j < k; ++j) {
        const std::uint64_t x = g.next() % 8;
        coeff[q * k + j] = x < 4 ? 0.0f : static_cast<float>(static_cast<int>(x) - 6);  // 0 (half), -2..1
      }
    if (g.next() % 2 && r > 2) std::copy(coeff.begin(), coeff.begin() + k, coeff.begin() + k);  // row 1 = row 0
    std::unique_ptr<bool[]> present(new bool[k]);
    std::vector<std::size_t> missing;
    for (std::size_t j = 0; j < k; ++j) {
      present[j] = g.next() % 2 == 0;
      if (!present[j]) missing.push_back(j);
    }
    const std::size_t m = missing.size();
    if (m < 2 || m > r) continue;
    // Brute force over subsets in lexicographic order.
    std::vector<std::size_t> expect;
    std::vector<std::size_t> sub(m);
    for (std::size_t i = 0; i < m; ++i) sub[i] = i;
    for (;;) {
      std::vector<long long> a(m * m);
      for (std::size_t x = 0; x < m; ++x)
        for (std::size_t y = 0; y < m; ++y) a[x * m + y] = static_cast<long long>(coeff[sub[x] * k + missing[y]]);
      if (exact_det(a, m) != 0) {
        expect = sub;
        break;
      }
      std::size_t i = m;
      while (i > 0 && sub[i - 1] == r - m + i - 1) --i;
      if (i == 0) break;
      ++sub[i - 1];
      for (std::size_t j = i; j < m; ++j) sub[j] = sub[j - 1] + 1;
    }
    parm::decode_plan plan;
    const parm::status s = parm::plan_decode(r, present.get(), k, coeff.data(), m, &plan);
    if (expect.empty()) {
      ++singular;
      EXPECT(s.code == parm::status_code::singular, "plan trial %d (r=%zu k=%zu m=%zu): every subset is singular, got %s",
             trial, r, k, m, s.ok() ? "ok" : s.message.c_str());
    } else {
      EXPECT(s.ok() && plan.rows == expect, "plan trial %d (r=%zu k=%zu m=%zu): rows differ from the first nonsingular subset (%s)",
             trial, r, k, m, s.ok() ? "ok" : s.message.c_str());
    }
    ++cases;
  }
  // Many parity rows, all but the last m useless: a search over subsets would try about C(40, 20)
  // of them (hours); the greedy choice takes the last 20 at once.
  {
    const std::size_t r = 40, k = 40, m = 20;
    std::vector<float> coeff(r * k, 0.0f);
    for (std::size_t i = 0; i < m; ++i) {
      coeff[(m + i) * k + i] = 1.0f;
      for (std::size_t j = m; j < k; ++j) coeff[(m + i) * k + j] = 1.0f;
    }
    std::unique_ptr<bool[]> present(new bool[k]);
    for (std::size_t j = 0; j < k; ++j) present[j] = j >= m;
    parm::decode_plan plan;
    const parm::status s = parm::plan_decode(r, present.get(), k, coeff.data(), m, &plan);
    EXPECT(s.ok() && plan.rows.size() == m && plan.rows.front() == m && plan.rows.back() == r - 1,
           "r=40 m=20 with 20 useless rows: %s", s.ok() ? "wrong rows" : s.message.c_str());
  }
  // Non-finite coefficients are an argument error, not a NaN reconstruction.
  {
    const bool present[] = {true, false, false};
    const float coeff[] = {1, 1, 1, 1, NAN, 3};
    parm::decode_plan plan;
    EXPECT(parm::plan_decode(2, present, 3, coeff, 2, &plan).code == parm::status_code::invalid_argument,
           "a NaN coefficient must be invalid_argument");
  }
  std::printf("plan: %d random choices checked against every subset (%d singular)\n", cases, singular);
}

// --- CUDA: the same cases on device buffers, bitwise equal to the CPU reference ----------------

struct dev {
  parm::cuda::buffer* b = nullptr;
  dev(const float* host, std::size_t n) {
    parm::status s = parm::cuda::buffer_alloc(n, &b);
    EXPECT(s.ok(), "buffer_alloc(%zu): %s", n, s.message.c_str());
    if (s.ok() && host) {
      s = parm::cuda::buffer_upload(b, host, n, 0);
      EXPECT(s.ok(), "upload: %s", s.message.c_str());
    }
  }
  ~dev() { parm::cuda::buffer_free(b); }
  std::vector<float> get() const {
    std::vector<float> h(parm::cuda::buffer_size(b), std::nanf(""));
    parm::status s = parm::cuda::buffer_download(b, h.data(), h.size(), 0);
    EXPECT(s.ok(), "download: %s", s.message.c_str());
    return h;
  }
};

// k random host arrays of n floats (seeded) and their copies on the device.
struct device_inputs {
  std::vector<std::vector<float>> host;
  std::vector<const float*> host_ptrs;
  std::vector<std::unique_ptr<dev>> bufs;
  std::vector<const parm::cuda::buffer*> dev_ptrs;
  device_inputs(std::size_t k, std::size_t n, std::uint64_t seed) : host(k, std::vector<float>(n)) {
    rng r{seed};
    for (auto& v : host) {
      for (float& x : v) x = r.uniform();
      host_ptrs.push_back(v.data());
      bufs.push_back(std::make_unique<dev>(v.data(), n));
      dev_ptrs.push_back(bufs.back()->b);
    }
  }
};

void run_cuda(const json& table) {
  parm::set_isa(parm::isa::ref);
  parm::set_threads(1);
  int cases = 0;
  for (const json& c : table["encode_sum"].arr) {
    const std::size_t n = c["n"].as_size(), k = c["k"].as_size();
    const device_inputs in(k, n, n * 131 + k);
    bool has_w;
    const auto w = coefficient_row(table, c["weights"].str, 0, k, &has_w);
    std::vector<float> expect(n);
    parm::encode_sum_f32(in.host_ptrs.data(), has_w ? w.data() : nullptr, k, n, expect.data());
    dev out(nullptr, n);
    parm::status s = parm::cuda::encode_sum_f32_cuda(in.dev_ptrs.data(), has_w ? w.data() : nullptr, k, out.b);
    EXPECT(s.ok(), "cuda encode_sum: %s", s.message.c_str());
    std::size_t where = 0;
    const auto got = out.get();
    EXPECT(same_bits(got.data(), expect.data(), n, &where), "cuda encode_sum n=%zu k=%zu: element %zu", n, k, where);
    ++cases;
  }
  for (const json& c : table["encode_concat"].arr) {
    const std::size_t C = c["channels"].as_size(), H = c["height"].as_size(), W = c["width"].as_size(), k = c["k"].as_size();
    const std::size_t n = C * H * W;
    parm::image_shape shape{C, H, W, c["layout"].str == "nhwc" ? parm::layout::nhwc : parm::layout::nchw};
    parm::grid g = c["grid"].is_null() ? parm::grid{0, 0} : parm::grid{c["grid"][0].as_size(), c["grid"][1].as_size()};
    const device_inputs in(k, n, n * 7 + k);
    std::vector<float> expect(n);
    parm::encode_concat_f32(in.host_ptrs.data(), k, shape, g, expect.data());
    dev out(nullptr, n);
    parm::status s = parm::cuda::encode_concat_f32_cuda(in.dev_ptrs.data(), k, shape, g, out.b);
    EXPECT(s.ok(), "cuda encode_concat: %s", s.message.c_str());
    std::size_t where = 0;
    const auto got = out.get();
    EXPECT(same_bits(got.data(), expect.data(), n, &where), "cuda encode_concat %zux%zux%zu k=%zu: element %zu", C, H, W, k, where);
    ++cases;
  }
  for (const json& c : table["decode"].arr) {
    const std::size_t n = c["n"].as_size(), k = c["k"].as_size(), r = c["r"].as_size();
    rng g{n * 17 + k * 3 + r};
    std::vector<std::vector<float>> data(k, std::vector<float>(n));
    for (auto& v : data)
      for (float& x : v) x = g.uniform();
    std::vector<float> coeff;
    bool has_c = false;
    for (std::size_t q = 0; q < r; ++q) {
      auto row = coefficient_row(table, c["coefficients"].str, q, k, &has_c);
      coeff.insert(coeff.end(), row.begin(), row.end());
    }
    std::vector<const float*> dp;
    for (auto& v : data) dp.push_back(v.data());
    std::vector<std::vector<float>> parity(r, std::vector<float>(n));
    std::vector<const float*> pp;
    for (std::size_t q = 0; q < r; ++q) {
      parm::encode_sum_f32(dp.data(), has_c ? coeff.data() + q * k : nullptr, k, n, parity[q].data());
      pp.push_back(parity[q].data());
    }
    std::vector<std::size_t> missing;
    for (const json& m : c["missing"].arr) missing.push_back(m.as_size());
    for (std::size_t m : missing) dp[m] = nullptr;
    std::vector<std::vector<float>> expect(missing.size(), std::vector<float>(n));
    std::vector<float*> ep;
    for (auto& v : expect) ep.push_back(v.data());
    parm::decode_f32(pp.data(), r, dp.data(), k, has_c ? coeff.data() : nullptr, n, ep.data(), ep.size());
    std::vector<std::unique_ptr<dev>> keep;
    std::vector<const parm::cuda::buffer*> dpar, ddat;
    std::vector<parm::cuda::buffer*> douts;
    for (auto& v : parity) { keep.push_back(std::make_unique<dev>(v.data(), n)); dpar.push_back(keep.back()->b); }
    for (std::size_t j = 0; j < k; ++j) {
      if (!dp[j]) { ddat.push_back(nullptr); continue; }
      keep.push_back(std::make_unique<dev>(data[j].data(), n));
      ddat.push_back(keep.back()->b);
    }
    for (std::size_t i = 0; i < missing.size(); ++i) { keep.push_back(std::make_unique<dev>(nullptr, n)); douts.push_back(keep.back()->b); }
    parm::status s = parm::cuda::decode_f32_cuda(dpar.data(), r, ddat.data(), k, has_c ? coeff.data() : nullptr, douts.data(), douts.size());
    EXPECT(s.ok(), "cuda decode: %s", s.message.c_str());
    for (std::size_t i = 0; i < missing.size(); ++i) {
      std::vector<float> got(n);
      parm::cuda::buffer_download(douts[i], got.data(), n, 0);
      std::size_t where = 0;
      EXPECT(same_bits(got.data(), expect[i].data(), n, &where), "cuda decode n=%zu k=%zu r=%zu out %zu: element %zu", n, k, r, i, where);
    }
    ++cases;
  }
  std::printf("cuda: %d cases compared with the CPU reference\n", cases);
}

// first_non_finite_f32: every ISA's kernel and the dispatcher under every forced ISA, on odd
// lengths and unaligned views, with NaN / +Inf / -Inf / negative NaN at the first, middle, last and
// tail positions (and none: large finite values, denormals, -0 must not count).
void run_first_non_finite() {
  using kernel = std::ptrdiff_t (*)(const float*, std::size_t);
  std::vector<std::pair<parm::isa, kernel>> kernels{{parm::isa::ref, parm::first_non_finite_f32_ref}};
  if (parm::isa_supported(parm::isa::avx2)) kernels.emplace_back(parm::isa::avx2, parm::first_non_finite_f32_avx2);
  if (parm::isa_supported(parm::isa::avx512)) kernels.emplace_back(parm::isa::avx512, parm::first_non_finite_f32_avx512);
  const float bad_values[] = {std::nanf(""), -std::nanf(""), INFINITY, -INFINITY};
  const float finite_edges[] = {3.4028235e38f, -3.4028235e38f, 1e-45f, -0.0f};
  const parm::isa before = parm::active_isa();
  int cases = 0;
  for (std::size_t n : {0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 129, 784, 1000, 4099}) {
    for (std::size_t off : {0, 1, 3}) {
      rng r{n * 31 + off};
      // The storage around the view holds NaN (view's poison): a kernel reading past n would see it.
      view v(n, off, &r);
      for (std::size_t e = 0; e < n && e < 4; ++e) v.p[(e * 37) % n] = finite_edges[e];
      std::vector<std::ptrdiff_t> positions{-1};
      if (n) {
        positions.push_back(0);
        positions.push_back(static_cast<std::ptrdiff_t>(n / 2));
        positions.push_back(static_cast<std::ptrdiff_t>(n - 1));
        positions.push_back(static_cast<std::ptrdiff_t>(n - 1 - (n - 1) % 3));  // in the last partial vector
        if (n > 64) positions.push_back(static_cast<std::ptrdiff_t>(n - n % 16 + (n % 16 ? 0 : -1)));
      }
      for (std::ptrdiff_t pos : positions) {
        for (float bad_value : bad_values) {
          std::vector<float> saved(v.p, v.p + n);
          if (pos >= 0) v.p[pos] = bad_value;
          // A second non-finite value after the first must not change the answer.
          if (pos >= 0 && static_cast<std::size_t>(pos) + 5 < n) v.p[pos + 5] = INFINITY;
          for (auto& [i, fn] : kernels) {
            const std::ptrdiff_t got = fn(v.p, n);
            EXPECT(got == pos, "first_non_finite_f32_%s n=%zu offset=%zu value=%a at %td: got %td", parm::isa_name(i), n,
                   off, bad_value, pos, got);
            parm::set_isa(i);
            std::ptrdiff_t via = -7;
            parm::status s = parm::first_non_finite_f32(v.p, n, &via);
            EXPECT(s.ok() && via == pos, "first_non_finite_f32 (dispatch, isa=%s) n=%zu offset=%zu at %td: got %td",
                   parm::isa_name(i), n, off, pos, via);
          }
          std::copy(saved.begin(), saved.end(), v.p);
          ++cases;
          if (pos < 0) break;  // no value to place
        }
      }
    }
  }
  parm::set_isa(before);
  std::ptrdiff_t idx = 5;
  EXPECT(parm::first_non_finite_f32(nullptr, 0, &idx).ok() && idx == -1, "first_non_finite_f32(null, 0) must give -1");
  EXPECT(parm::first_non_finite_f32(nullptr, 3, &idx).code == parm::status_code::invalid_argument,
         "first_non_finite_f32(null, 3) must be invalid_argument");
  EXPECT(!parm::first_non_finite_f32(nullptr, 0, nullptr).ok(), "a null index must be refused");
  std::printf("first_non_finite: %d cases on %zu ISAs\n", cases, kernels.size());
}

}  // namespace

int main() {
  const json table = parm_test::load_json(PARM_CASE_TABLE);
  std::printf("ISAs on this CPU:");
  for (parm::isa i : isas()) std::printf(" %s", parm::isa_name(i));
  std::printf("\n");
  for (const json& c : table["encode_sum"].arr) run_sum(table, c, "encode_sum");
  for (const json& c : table["encode_sum_batched"].arr) run_sum(table, c, "encode_sum_batched");
  for (const json& c : table["encode_concat"].arr) run_concat(c);
  for (const json& c : table["decode"].arr) run_decode(table, c);
  for (const json& c : table["errors"].arr) run_error(table, c);
  run_first_non_finite();
  run_plan_choice();
  // copy_f32 on every ISA (the benchmark's yardstick) copies exactly.
  for (parm::isa i : isas()) {
    parm::set_isa(i);
    rng r{99};
    view src(1000003, 1, &r), dst(1000003, 3, nullptr);
    parm::copy_f32(src.p, 1000003, dst.p);
    std::size_t where = 0;
    EXPECT(same_bits(src.p, dst.p, 1000003, &where) && std::isnan(dst.storage[3 + 1000003]), "copy_f32 isa=%s", parm::isa_name(i));
  }
  // Forcing an ISA the CPU lacks is refused and leaves the active ISA alone.
  for (parm::isa i : {parm::isa::avx2, parm::isa::avx512}) {
    if (parm::isa_supported(i)) continue;
    const parm::isa before = parm::active_isa();
    EXPECT(parm::set_isa(i).code == parm::status_code::unsupported, "set_isa(%s) accepted", parm::isa_name(i));
    EXPECT(parm::active_isa() == before, "set_isa changed the ISA on failure");
  }
  // Every status code has its own name (src/errors.ts holds the table they index).
  {
    std::vector<std::string> names;
    for (int c = 0; c <= static_cast<int>(parm::status_code::out_of_memory); ++c) {
      const std::string name = parm::status_code_name(static_cast<parm::status_code>(c));
      EXPECT(c == 0 ? name == "OK" : name.rfind("PARM_ERR_CODEC_", 0) == 0, "status %d is named %s", c, name.c_str());
      EXPECT(std::find(names.begin(), names.end(), name) == names.end(), "status %d reuses the name %s", c, name.c_str());
      names.push_back(name);
    }
    EXPECT(std::string(parm::status_code_name(parm::status_code::out_of_memory)) == "PARM_ERR_CODEC_OUT_OF_MEMORY",
           "out_of_memory must not be reported as an argument error");
  }
  // CUDA: with or without it compiled in, query() answers and never aborts.
  const parm::cuda::info ci = parm::cuda::query();
  EXPECT(ci.available || !ci.reason.empty(), "CUDA unavailable without a reason");
  std::printf("cuda: compiled=%d available=%d devices=%d reason=%s\n", ci.compiled, ci.available, ci.devices, ci.reason.c_str());
  if (ci.available) {
    run_cuda(table);
  } else {
    std::printf("cuda cases skipped: %s\n", ci.reason.c_str());
    // Without a device every CUDA call reports a status instead of aborting.
    parm::cuda::buffer* b = nullptr;
    parm::status s = parm::cuda::buffer_alloc(16, &b);
    EXPECT(!s.ok() && b == nullptr && !s.message.empty(), "buffer_alloc without a device must fail with a message");
  }
  std::printf("%d checks, %d failures\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
