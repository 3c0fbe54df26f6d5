// CUDA side of the parm coding kernels: device buffers and the same ops as codec.h on device
// memory, run on one stream. Built with -DPARM_CUDA=ON; otherwise every function returns
// status_code::unsupported ("built without CUDA") from a stub, so callers need no #ifdef.
#pragma once
#include <cstddef>
#include <string>

#include "parm/codec.h"
#include "parm/status.h"

namespace parm::cuda {

struct info {
  bool compiled = false;   // this build has CUDA code
  bool available = false;  // a device can be used now
  int devices = 0;
  std::string reason;      // why not available ("" when available)
  std::string device_name; // device 0
};
info query();

// Device memory for n floats plus a pinned host staging buffer of the same size (allocated on
// first upload/download). Owned by the caller: release with buffer_free exactly once.
struct buffer;
status buffer_alloc(std::size_t n, buffer** out);
void buffer_free(buffer* b);  // nullptr ok; waits for pending work on the stream
std::size_t buffer_size(const buffer* b);
// Host <-> device through the pinned staging buffer; n floats from element offset `at`.
status buffer_upload(buffer* b, const float* host, std::size_t n, std::size_t at);
status buffer_download(const buffer* b, float* host, std::size_t n, std::size_t at);

// Same arithmetic as the CPU ops (no FMA contraction), on the library's stream; they return after
// the stream has finished the work (callers run them off the event loop).
status encode_sum_f32_cuda(const buffer* const* inputs, const float* weights, std::size_t k,
                           buffer* out);
status encode_concat_f32_cuda(const buffer* const* images, std::size_t k,
                              const image_shape& shape, grid g, buffer* out);
// dst = src on the device (the GPU benchmark's bandwidth yardstick); equal lengths.
status copy_f32_cuda(const buffer* src, buffer* dst);
status decode_f32_cuda(const buffer* const* parity, std::size_t r, const buffer* const* data,
                       std::size_t k, const float* coeff, buffer* const* outs,
                       std::size_t n_outs);

}  // namespace parm::cuda
