// ISA selection: cpuid at first use (or PARM_ISA from the environment), overridable by set_isa().
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "parm/codec.h"

namespace parm {
namespace {

bool cpu_has(isa i) {
#if defined(__x86_64__) || defined(__i386__)
  switch (i) {
    case isa::ref: return true;
    case isa::avx2: return __builtin_cpu_supports("avx2");
    case isa::avx512: return __builtin_cpu_supports("avx512f");
  }
  return false;
#else
  return i == isa::ref;
#endif
}

isa initial_isa() {
  isa chosen = best_isa();
  if (const char* env = std::getenv("PARM_ISA")) {
    isa forced;
    if (parse_isa(env, &forced) && isa_supported(forced)) chosen = forced;
  }
  return chosen;
}

std::atomic<int>& active() {
  static std::atomic<int> a{static_cast<int>(initial_isa())};
  return a;
}

}  // namespace

const char* isa_name(isa i) {
  switch (i) {
    case isa::ref: return "ref";
    case isa::avx2: return "avx2";
    case isa::avx512: return "avx512";
  }
  return "ref";
}

bool parse_isa(const char* name, isa* out) {
  for (isa i : {isa::ref, isa::avx2, isa::avx512}) {
    if (name && std::strcmp(name, isa_name(i)) == 0) {
      *out = i;
      return true;
    }
  }
  return false;
}

bool isa_supported(isa i) {
#if defined(PARM_HAVE_X86_SIMD)
  return cpu_has(i);
#else
  return i == isa::ref;
#endif
}

isa best_isa() {
  if (isa_supported(isa::avx512)) return isa::avx512;
  if (isa_supported(isa::avx2)) return isa::avx2;
  return isa::ref;
}

isa active_isa() { return static_cast<isa>(active().load()); }

status set_isa(isa i) {
  if (!isa_supported(i))
    return status::error(status_code::unsupported,
                         std::string("ISA ") + isa_name(i) + " is not available on this CPU/build");
  active().store(static_cast<int>(i));
  return status::success();
}

}  // namespace parm
