// ctest: an allocation failure inside the core becomes status out_of_memory, never an exception
// across codec.h and never std::terminate from a pool thread. This executable replaces the global
// operator new so that, while armed, allocations of at least `g_fail_from` bytes throw bad_alloc.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <vector>

#include "parm/codec.h"

namespace {
std::atomic<std::size_t> g_fail_from{0};  // 0: disarmed
std::atomic<int> g_failed{0};             // allocations refused while armed
int g_failures = 0;

void expect(bool ok, const char* what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what);
  if (!ok) ++g_failures;
}

// Runs fn with allocations of >= bytes failing; returns its status.
template <class Fn>
parm::status with_failing_new(std::size_t bytes, Fn fn) {
  g_failed = 0;
  g_fail_from = bytes;
  parm::status s = fn();
  g_fail_from = 0;
  return s;
}
}  // namespace

void* operator new(std::size_t n) {
  const std::size_t from = g_fail_from.load();
  if (from != 0 && n >= from) {
    ++g_failed;
    throw std::bad_alloc();
  }
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

int main() {
  parm::set_isa(parm::isa::ref);  // the reference concat tile allocates its tap tables
  // Decode with two missing outputs: the residual scratch (2 x n floats) cannot be allocated.
  {
    const std::size_t n = 4096, k = 3, r = 2;
    std::vector<float> a(n, 1.0f), p0(n, 3.0f), p1(n, 6.0f), o0(n), o1(n);
    const float* parity[] = {p0.data(), p1.data()};
    const float* data[] = {a.data(), nullptr, nullptr};
    const float coeff[] = {1, 1, 1, 1, 2, 3};
    float* outs[] = {o0.data(), o1.data()};
    parm::status s = with_failing_new(2 * n * sizeof(float), [&] {
      return parm::decode_f32(parity, r, data, k, coeff, n, outs, 2);
    });
    expect(s.code == parm::status_code::out_of_memory && g_failed > 0, "decode: scratch allocation failure -> out_of_memory");
    expect(parm::decode_f32(parity, r, data, k, coeff, n, outs, 2).ok() && o0[7] == 1.0f && o1[7] == 1.0f,
           "decode: the same call succeeds once memory is available");
  }
  // Concatenation split across pool threads: a tile's tap table (tw entries) fails to allocate on
  // a worker thread, where an escaping exception would be std::terminate.
  for (unsigned threads : {1u, 3u}) {
    parm::set_threads(threads);
    const std::size_t C = 1, H = 64, W = 8192, k = 2, n = C * H * W;
    std::vector<float> img(n, 0.5f), out(n);
    const float* images[] = {img.data(), img.data()};
    const parm::image_shape shape{C, H, W, parm::layout::nchw};
    parm::status s = with_failing_new(16384, [&] {
      return parm::encode_concat_f32(images, k, shape, {1, 2}, out.data());
    });
    std::printf("     (%u threads: %d allocations refused)\n", threads, g_failed.load());
    expect(s.code == parm::status_code::out_of_memory && !s.message.empty(),
           threads == 1 ? "concat, one thread: out_of_memory" : "concat on pool threads: out_of_memory, no terminate");
    expect(parm::encode_concat_f32(images, k, shape, {1, 2}, out.data()).ok() && out[5] == 0.5f,
           "concat: the same call succeeds once memory is available");
  }
  // plan_decode allocates its plan: with every allocation failing it reports, never throws.
  {
    const bool present[] = {true, false, false};
    const float coeff[] = {1, 1, 1, 1, 2, 3};
    parm::decode_plan plan;
    parm::status s = with_failing_new(1, [&] { return parm::plan_decode(2, present, 3, coeff, 2, &plan); });
    expect(s.code == parm::status_code::out_of_memory, "plan_decode: out_of_memory");
  }
  std::printf("%d failures\n", g_failures);
  return g_failures == 0 ? 0 : 1;
}
