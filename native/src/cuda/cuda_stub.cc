// The CUDA API of parm/cuda.h in a build without -DPARM_CUDA=ON: every call reports that CUDA was
// not compiled in, so callers need no #ifdef.
#include "parm/cuda.h"

namespace parm::cuda {
namespace {
status off() {
  return status::error(status_code::unsupported,
                       "this addon was built without CUDA (rebuild with -DPARM_CUDA=ON)");
}
}  // namespace

info query() {
  info i;
  i.reason = "built without CUDA (rebuild with -DPARM_CUDA=ON, e.g. npm run build:cuda)";
  return i;
}
struct buffer {};
status buffer_alloc(std::size_t, buffer** out) {
  *out = nullptr;
  return off();
}
void buffer_free(buffer*) {}
std::size_t buffer_size(const buffer*) { return 0; }
status buffer_upload(buffer*, const float*, std::size_t, std::size_t) { return off(); }
status buffer_download(const buffer*, float*, std::size_t, std::size_t) { return off(); }
status encode_sum_f32_cuda(const buffer* const*, const float*, std::size_t, buffer*) { return off(); }
status encode_concat_f32_cuda(const buffer* const*, std::size_t, const image_shape&, grid, buffer*) {
  return off();
}
status copy_f32_cuda(const buffer*, buffer*) { return off(); }
status decode_f32_cuda(const buffer* const*, std::size_t, const buffer* const*, std::size_t,
                       const float*, buffer* const*, std::size_t) {
  return off();
}

}  // namespace parm::cuda
